//! Real-shaped items for unit tests.

use redstream_schemas::{ContentState, RawComment, RawPost};

pub fn comment(fullname: &str, body: &str, score: i64) -> RawComment {
    RawComment {
        fullname: fullname.into(),
        id: fullname.trim_start_matches("t1_").into(),
        subreddit: "AskReddit".into(),
        subreddit_id: Some("t5_2qh1i".into()),
        author: Some("user_3f9a1c0b2d".into()),
        author_fullname: Some("t2_8e1f0a9c3b".into()),
        body: body.into(),
        link_id: "t3_hlrjn9".into(),
        parent_id: "t3_hlrjn9".into(),
        is_submitter: Some(false),
        controversiality: Some(0),
        score,
        distinguished: None,
        stickied: false,
        created_utc: 1_593_955_200,
        edited_utc: None,
        state: ContentState::Present,
        retrieved_utc: 1_593_960_000,
        version: 1_593_960_000_000_001,
    }
}

pub fn post(fullname: &str, title: &str, selftext: &str, url: Option<&str>) -> RawPost {
    RawPost {
        fullname: fullname.into(),
        id: fullname.trim_start_matches("t3_").into(),
        subreddit: "redditdev".into(),
        subreddit_id: Some("t5_2qizd".into()),
        author: Some("user_10739b4bdd".into()),
        author_fullname: Some("t2_1a2b3c4d5e".into()),
        title: title.into(),
        selftext: selftext.into(),
        url: url.map(Into::into),
        domain: None,
        permalink: Some(format!("/r/redditdev/comments/{}/", fullname)),
        is_self: url.is_none(),
        over_18: false,
        link_flair_text: None,
        num_comments: 3,
        upvote_ratio: Some(0.97),
        crosspost_parent: None,
        score: 12,
        distinguished: None,
        stickied: false,
        created_utc: 1_593_955_200,
        edited_utc: None,
        state: ContentState::Present,
        retrieved_utc: 1_593_960_000,
        version: 1_593_960_000_000_001,
    }
}
