//! Normalization against every real dump line in /work/shared/data/reddit, exact values for
//! hand-picked lines of each era, and hand-written malformed lines.

use std::io::{BufRead, BufReader};

use super::*;
use crate::item::{ContentState, RawComment, RawPost};

const DUMPS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/data/reddit/dumps"
);
const API: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data/reddit/api");

/// What a replay would assume for lines without `retrieved_on`.
const FALLBACK: i64 = 1_700_000_000;

fn origin(line_no: u64) -> SnapshotOrigin {
    SnapshotOrigin {
        fallback_retrieved_utc: FALLBACK,
        line_no,
    }
}

fn lines(file: &str) -> Vec<String> {
    let path = format!("{DUMPS}/{file}");
    let reader = BufReader::new(
        std::fs::File::open(&path).unwrap_or_else(|e| panic!("cannot open {path}: {e}")),
    );
    reader
        .lines()
        .map(|l| l.expect("dump files are UTF-8"))
        .collect()
}

/// Line `n` (1-based) of a dump file, normalized as a replay would.
fn item_at(file: &str, n: usize) -> Item {
    let all = lines(file);
    normalize_line(all[n - 1].as_bytes(), &origin(n as u64))
        .unwrap_or_else(|e| panic!("{file}:{n}: {e}"))
}

fn comment_at(file: &str, n: usize) -> RawComment {
    match item_at(file, n) {
        Item::Comment(c) => c,
        Item::Post(p) => panic!("{file}:{n} should be a comment, got post {}", p.fullname),
    }
}

fn post_at(file: &str, n: usize) -> RawPost {
    match item_at(file, n) {
        Item::Post(p) => p,
        Item::Comment(c) => panic!("{file}:{n} should be a post, got comment {}", c.fullname),
    }
}

fn err(line: &str) -> NormalizeError {
    match normalize_line(line.as_bytes(), &origin(1)) {
        Ok(item) => panic!("{line:?} should not normalize, got {item:?}"),
        Err(e) => e,
    }
}

#[test]
fn every_dump_line_normalizes() {
    let expected = [
        ("pushshift_multi_era_comments.ndjson", 27, 27, 0),
        ("pushshift_multi_era_submissions.ndjson", 31, 0, 31),
        ("pushshift_RC_2015-01_sample.ndjson", 3355, 3355, 0),
        ("api_comments.ndjson", 2310, 2310, 0),
        ("api_submissions.ndjson", 1197, 0, 1197),
    ];
    let codec = crate::Codec::new().expect("schemas parse");
    let mut buf = Vec::new();
    for (file, count, comments, posts) in expected {
        let all = lines(file);
        assert_eq!(all.len(), count, "{file}: line count");

        let mut seen = (0, 0);
        for (i, line) in all.iter().enumerate() {
            let n = i as u64 + 1;
            let item = normalize_line(line.as_bytes(), &origin(n))
                .unwrap_or_else(|e| panic!("{file}:{n} [{}]: {e}", e.kind()));
            match &item {
                Item::Comment(c) => {
                    seen.0 += 1;
                    assert!(c.fullname == format!("t1_{}", c.id), "{file}:{n}");
                    assert!(c.link_id.starts_with("t3_"), "{file}:{n}");
                }
                Item::Post(p) => {
                    seen.1 += 1;
                    assert!(p.fullname == format!("t3_{}", p.id), "{file}:{n}");
                }
            }
            assert_eq!(
                item.version() % 1_000_000,
                n as i64,
                "{file}:{n}: version tiebreak"
            );
            assert!(
                item.created_utc() > 1_100_000_000,
                "{file}:{n}: created_utc"
            );

            buf.clear();
            codec.encode_item(&item, &mut buf).expect("encodes");
            assert_eq!(
                codec.decode_item(&buf).expect("decodes"),
                item,
                "{file}:{n}"
            );
        }
        assert_eq!(seen, (comments, posts), "{file}: comments and posts");
    }
}

#[test]
fn submission_of_2005_with_two_character_id_and_no_retrieved_on() {
    let post = post_at("pushshift_multi_era_submissions.ndjson", 11);
    assert_eq!(
        post,
        RawPost {
            fullname: "t3_87".into(),
            id: "87".into(),
            subreddit: "reddit.com".into(),
            subreddit_id: Some("t5_6".into()),
            author: Some("user_374906b686".into()),
            author_fullname: None,
            title: "The Downing Street Memo".into(),
            selftext: String::new(),
            url: post.url.clone(),
            domain: post.domain.clone(),
            permalink: Some("/r/reddit.com/comments/87/the_downing_street_memo/".into()),
            is_self: false,
            over_18: false,
            link_flair_text: None,
            num_comments: post.num_comments,
            upvote_ratio: None,
            crosspost_parent: None,
            score: 183,
            distinguished: None,
            stickied: false,
            created_utc: 1_119_552_233,
            edited_utc: None,
            state: ContentState::Present,
            retrieved_utc: FALLBACK,
            version: FALLBACK * 1_000_000 + 11,
        }
    );
    assert!(post.url.as_deref().is_some_and(|u| u.starts_with("http")));
}

#[test]
fn title_of_2007_is_unescaped() {
    let post = post_at("pushshift_multi_era_submissions.ndjson", 16);
    assert_eq!(post.title, "NUMBERS & WEB SITES");
    assert_eq!(post.fullname, "t3_1v3sg");
    assert_eq!(post.retrieved_utc, 1_522_519_885);
}

#[test]
fn comment_of_2015_is_unescaped() {
    let c = comment_at("pushshift_RC_2015-01_sample.ndjson", 621);
    assert_eq!(
        c,
        RawComment {
            fullname: "t1_cnas9km".into(),
            id: "cnas9km".into(),
            subreddit: "jailbreak".into(),
            subreddit_id: Some("t5_2r8c5".into()),
            author: Some("user_123e368ad6".into()),
            author_fullname: None,
            body: "> my computer is acting up and it would be a pain to get pangu working again"
                .into(),
            link_id: "t3_2qy8hn".into(),
            parent_id: "t1_cnan5ni".into(),
            is_submitter: None,
            controversiality: Some(0),
            score: 1,
            distinguished: None,
            stickied: false,
            created_utc: 1_420_070_437,
            edited_utc: None,
            state: ContentState::Present,
            retrieved_utc: 1_425_124_276,
            version: 1_425_124_276_000_621,
        }
    );

    let link = comment_at("pushshift_RC_2015-01_sample.ndjson", 466);
    assert!(
        link.body
            .ends_with("tradeoffer/new/?partner=66236835&token=WM7tryKx"),
        "{}",
        link.body
    );
}

#[test]
fn edited_int_timestamp_of_2015() {
    let c = comment_at("pushshift_RC_2015-01_sample.ndjson", 228);
    assert_eq!(c.fullname, "t1_cnas97d");
    assert_eq!(c.created_utc, 1_420_070_415);
    assert_eq!(c.edited_utc, Some(1_420_071_474));
    assert_eq!(c.body, "Happy new Yearz UK\n\nEdit: And EU");
}

#[test]
fn edited_float_timestamp_and_retrieved_utc_of_2020() {
    let post = post_at("pushshift_multi_era_submissions.ndjson", 26);
    assert_eq!(post.fullname, "t3_j08bcm");
    assert_eq!(post.created_utc, 1_606_780_808);
    assert_eq!(post.edited_utc, Some(1_606_781_062));
    assert_eq!(post.retrieved_utc, 1_623_001_372);
    assert_eq!(post.version, 1_623_001_372_000_026);
    assert_eq!(post.author_fullname.as_deref(), Some("t2_90b431f91a"));
}

#[test]
fn arctic_shift_line_of_2024() {
    let c = comment_at("pushshift_multi_era_comments.ndjson", 1);
    assert_eq!(
        c,
        RawComment {
            fullname: "t1_kod0bkd".into(),
            id: "kod0bkd".into(),
            subreddit: "woodworking".into(),
            subreddit_id: Some("t5_2qlqp".into()),
            author: Some("user_d62827df8b".into()),
            author_fullname: Some("t2_20097ac63d".into()),
            body: "Absolutely stunning. Really love this, perfect finish IMO as well.".into(),
            link_id: "t3_1afjd7n".into(),
            parent_id: "t3_1afjd7n".into(),
            is_submitter: Some(false),
            controversiality: Some(0),
            score: 2,
            distinguished: None,
            stickied: false,
            created_utc: 1_706_745_600,
            edited_utc: None,
            state: ContentState::Present,
            retrieved_utc: 1_706_745_615,
            version: 1_706_745_615_000_001,
        }
    );
}

#[test]
fn comment_of_2005_with_three_character_id_and_no_name() {
    let c = comment_at("pushshift_multi_era_comments.ndjson", 16);
    assert_eq!(c.fullname, "t1_c13");
    assert_eq!(c.id, "c13");
    assert_eq!(c.created_utc, 1_134_365_188);
    assert_eq!(c.link_id, "t3_17863");
}

#[test]
fn string_created_utc_of_2009() {
    let c = comment_at("pushshift_multi_era_comments.ndjson", 11);
    assert_eq!(c.fullname, "t1_c0cmuol");
    assert_eq!(c.created_utc, 1_251_763_200);
    assert_eq!(c.retrieved_utc, 1_426_033_654);
}

#[test]
fn deleted_removed_and_orphaned_comments() {
    let deleted = comment_at("pushshift_multi_era_comments.ndjson", 13);
    assert_eq!(deleted.fullname, "t1_c0cmuon");
    assert_eq!(deleted.state, ContentState::Deleted);
    assert_eq!(deleted.author, None);
    assert_eq!(deleted.body, "[deleted]");

    let removed = comment_at("pushshift_multi_era_comments.ndjson", 7);
    assert_eq!(removed.fullname, "t1_kod0bkj");
    assert_eq!(removed.state, ContentState::Removed);
    assert_eq!(removed.author, None);
    assert_eq!(removed.author_fullname, None);

    // The account is gone but the text stayed.
    let orphan = comment_at("pushshift_multi_era_comments.ndjson", 18);
    assert_eq!(orphan.fullname, "t1_c15");
    assert_eq!(orphan.state, ContentState::Present);
    assert_eq!(orphan.author, None);
    assert!(orphan.body.starts_with("Jython related topics"));
}

#[test]
fn removed_selftext_and_removed_link_posts() {
    let removed = post_at("pushshift_multi_era_submissions.ndjson", 31);
    assert_eq!(removed.fullname, "t3_abdn5a");
    assert_eq!(removed.state, ContentState::Removed);
    assert_eq!(removed.author.as_deref(), Some("user_339fe04277"));

    // A link post has no text to replace: removed_by_category says it was taken down.
    let all = lines("api_submissions.ndjson");
    let (n, line) = all
        .iter()
        .enumerate()
        .find(|(_, l)| l.contains("\"removed_by_category\":\"moderator\""))
        .expect("a moderator-removed post in api_submissions.ndjson");
    let post = match normalize_line(line.as_bytes(), &origin(n as u64 + 1)) {
        Ok(Item::Post(p)) => p,
        other => panic!("line {}: {other:?}", n + 1),
    };
    assert_eq!(post.state, ContentState::Removed);
}

#[test]
fn api_object_with_banned_by_true_and_float_times() {
    let all = lines("api_comments.ndjson");
    let line = &all[1627 - 1];
    assert!(line.contains("\"banned_by\":true"));
    let c = comment_at("api_comments.ndjson", 1627);
    assert_eq!(c.fullname, "t1_fchdmrc");
    assert_eq!(c.retrieved_utc, FALLBACK);
    assert_eq!(c.state, ContentState::Present);
}

#[test]
fn api_thing_wrapped_in_kind_and_data() {
    let all = lines("api_comments.ndjson");
    let wrapped = format!("{{\"kind\":\"t1\",\"data\":{}}}", all[0]);
    let item = normalize_line(wrapped.as_bytes(), &origin(1)).expect("wrapped t1");
    assert_eq!(item, item_at("api_comments.ndjson", 1));
    assert_eq!(item.fullname(), "t1_c2392");

    let all = lines("api_submissions.ndjson");
    let wrapped = format!("{{\"kind\": \"t3\", \"data\": {}}}", all[0]);
    let item = normalize_line(wrapped.as_bytes(), &origin(1)).expect("wrapped t3");
    assert_eq!(item.fullname(), "t3_150");
}

/// The `response.body` of a recorded API interaction.
fn api_body(file: &str) -> serde_json::Value {
    let path = format!("{API}/{file}");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut value: serde_json::Value = serde_json::from_str(&text).expect("api file is JSON");
    value["response"]["body"].take()
}

#[test]
fn subreddits_and_more_stubs_are_not_items() {
    let subreddit = api_body("66_item_subreddit_about_redditdev.json");
    let e = normalize_value(&subreddit, &origin(1)).expect_err("t5 thing");
    assert_eq!(e.kind(), "not_an_item");
    assert_eq!(
        e.to_string(),
        "not a post or comment: a subreddit (kind `t5`)"
    );

    let bare = normalize_value(&subreddit["data"], &origin(1)).expect_err("bare t5 data");
    assert_eq!(
        bare.to_string(),
        "not a post or comment: a subreddit (name `t5_2qizd`)"
    );

    let thread = api_body("55_item_thread_with_more.json");
    let children = thread[1]["data"]["children"]
        .as_array()
        .expect("comment listing");
    let more = children
        .iter()
        .find(|c| c["kind"] == "more")
        .expect("a more stub");
    for value in [more, &more["data"]] {
        let e = normalize_value(value, &origin(1)).expect_err("more stub");
        assert_eq!(e.kind(), "not_an_item");
        assert!(e.to_string().contains("`more` stub"), "{e}");
    }
    let e = normalize_value(&thread[1], &origin(1)).expect_err("listing");
    assert!(e.to_string().contains("Listing"), "{e}");
}

#[test]
fn malformed_lines_say_why() {
    let truncated = err(r#"{"id":"abc","body":"hello","subreddit":"x","#);
    assert_eq!(truncated.kind(), "parse");
    assert!(truncated.to_string().contains("EOF"), "{truncated}");

    let t5 = err(r#"{"kind":"t5","data":{"display_name":"rust","name":"t5_2s7lj"}}"#);
    assert_eq!(t5.kind(), "not_an_item");
    assert!(t5.to_string().contains("subreddit"), "{t5}");

    let no_id = err(
        r#"{"body":"hi","subreddit":"rust","link_id":"t3_a","parent_id":"t3_a","created_utc":1}"#,
    );
    assert_eq!(no_id.kind(), "missing_field");
    assert_eq!(
        no_id.to_string(),
        "comment has no `id` (missing, null or empty); it is required"
    );

    let bad_time = err(
        r#"{"id":"abc","body":"hi","subreddit":"rust","link_id":"t3_a","parent_id":"t3_a","created_utc":"abc"}"#,
    );
    assert_eq!(bad_time.kind(), "bad_field");
    assert!(
        bad_time
            .to_string()
            .contains("`created_utc` is string \"abc\""),
        "{bad_time}"
    );

    let no_subreddit =
        err(r#"{"id":"abc","body":"hi","link_id":"t3_a","parent_id":"t3_a","created_utc":1}"#);
    assert_eq!(no_subreddit.kind(), "missing_field");
    assert!(no_subreddit.to_string().contains("`subreddit`"));

    let millis = err(r#"{"id":"abc","title":"t","subreddit":"rust","created_utc":1585325428313}"#);
    assert_eq!(millis.kind(), "bad_field");

    let mismatch = err(
        r#"{"id":"abc","name":"t1_abd","body":"hi","subreddit":"r","link_id":"t3_a","parent_id":"t3_a","created_utc":1}"#,
    );
    assert_eq!(mismatch.kind(), "bad_field");

    assert_eq!(err("").kind(), "empty");
    assert_eq!(err("   \r").kind(), "empty");
    assert_eq!(
        err("[1, 2]").to_string(),
        "not a Reddit item: the line holds a JSON array, expected an object"
    );
    assert_eq!(err("\"text\"").kind(), "not_an_item");
    assert_eq!(err(r#"{"a":1,"b":2}"#).kind(), "not_an_item");
    assert_eq!(
        err(r#"{"name":"t4_x","body":"hi","subject":"s"}"#).kind(),
        "not_an_item"
    );
    assert!(err(r#"{"was_comment":true,"name":"t1_x","body":"hi"}"#)
        .to_string()
        .contains("inbox message"));
}

#[test]
fn numbers_as_strings_and_null_fields_are_read() {
    let line = r#"{"id":87,"title":"&lt;b&gt; title","subreddit":"reddit.com","created_utc":"1119552233.0",
        "score":"12","num_comments":null,"edited":"1119552300","retrieved_on":"1420070400",
        "stickied":null,"over_18":0,"upvote_ratio":"0.5","author":null,"selftext":null}"#
        .replace('\n', "");
    let post = match normalize_line(line.as_bytes(), &origin(7)) {
        Ok(Item::Post(p)) => p,
        other => panic!("{other:?}"),
    };
    assert_eq!(post.fullname, "t3_87");
    assert_eq!(post.title, "<b> title");
    assert_eq!(post.created_utc, 1_119_552_233);
    assert_eq!(post.score, 12);
    assert_eq!(post.num_comments, 0);
    assert_eq!(post.edited_utc, Some(1_119_552_300));
    assert_eq!(post.version, 1_420_070_400_000_007);
    assert_eq!(post.upvote_ratio, Some(0.5));
    assert_eq!(post.author, None);
    assert_eq!(post.selftext, "");
    assert_eq!(post.state, ContentState::Present);
}

#[test]
fn api_text_without_entities_is_unchanged() {
    let all = lines("api_comments.ndjson");
    for (i, line) in all.iter().enumerate() {
        let raw: serde_json::Value = serde_json::from_str(line).expect("json");
        let body = raw["body"].as_str().expect("body");
        if body.contains('&') {
            continue;
        }
        match normalize_line(line.as_bytes(), &origin(i as u64 + 1)) {
            Ok(Item::Comment(c)) => assert_eq!(c.body, body, "line {}", i + 1),
            other => panic!("line {}: {other:?}", i + 1),
        }
    }
}

/// What `normalize_line` did before it parsed into borrowed fields: a whole `Value` first.
fn via_value(line: &[u8], origin: &SnapshotOrigin) -> Result<Item, NormalizeError> {
    if line.iter().all(u8::is_ascii_whitespace) {
        return Err(NormalizeError::Empty);
    }
    let value: serde_json::Value = serde_json::from_slice(line)?;
    normalize_value(&value, origin)
}

/// `normalize_line` and the `Value` route agree on `line`: the same item, or the same error
/// class and message.
fn assert_same_as_value(line: &[u8], what: &str) {
    let fast = normalize_line(line, &origin(3));
    let slow = via_value(line, &origin(3));
    match (&fast, &slow) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "{what}"),
        (Err(a), Err(b)) => assert_eq!(
            (a.kind(), a.to_string()),
            (b.kind(), b.to_string()),
            "{what}"
        ),
        _ => panic!(
            "{what}: normalize_line gave {fast:?}, the Value route {slow:?} for {:?}",
            String::from_utf8_lossy(line)
        ),
    }
}

#[test]
fn every_dump_line_is_read_as_a_value_would_be() {
    for file in [
        "pushshift_multi_era_comments.ndjson",
        "pushshift_multi_era_submissions.ndjson",
        "pushshift_RC_2015-01_sample.ndjson",
        "api_comments.ndjson",
        "api_submissions.ndjson",
    ] {
        for (i, line) in lines(file).iter().enumerate() {
            assert_same_as_value(line.as_bytes(), &format!("{file}:{}", i + 1));
        }
    }
}

#[test]
fn broken_dump_lines_fail_as_a_value_parse_would() {
    // Lines of each era and shape, cut short and with a byte broken at many places: the parse
    // error (message, line and column) must be the one the `Value` parse gave.
    let picks = [
        ("pushshift_multi_era_comments.ndjson", 1),
        ("pushshift_multi_era_comments.ndjson", 16),
        ("pushshift_multi_era_submissions.ndjson", 26),
        ("pushshift_RC_2015-01_sample.ndjson", 621),
        ("api_comments.ndjson", 1627),
        ("api_submissions.ndjson", 1),
    ];
    let mut broken = 0;
    for (file, n) in picks {
        let line = lines(file)[n - 1].clone().into_bytes();
        for cut in (0..line.len()).step_by(7) {
            assert_same_as_value(&line[..cut], &format!("{file}:{n} cut at {cut}"));
            for bad in [b'"', b'\\', b'{', b']', b',', 0x01, 0xff] {
                let mut copy = line.clone();
                copy[cut] = bad;
                assert_same_as_value(&copy, &format!("{file}:{n} byte {cut} = {bad:#x}"));
                broken += 1;
            }
        }
    }
    assert!(broken > 5000, "only {broken} broken lines tried");
}

/// A comment line with `extra` spliced in after the fields every comment needs.
fn comment_with(extra: &str) -> String {
    format!(
        r#"{{"id":"abc","body":"hi","subreddit":"rust","link_id":"t3_a","parent_id":"t3_a","created_utc":1{extra}}}"#
    )
}

fn comment_of(line: &str) -> RawComment {
    assert_same_as_value(line.as_bytes(), line);
    match normalize_line(line.as_bytes(), &origin(3)) {
        Ok(Item::Comment(c)) => c,
        other => panic!("{line}: {other:?}"),
    }
}

#[test]
fn repeated_keys_keep_their_last_value() {
    let c = comment_of(&comment_with(
        r#","score":1,"author":"a","score":"7","author":"b""#,
    ));
    assert_eq!(c.score, 7);
    assert_eq!(c.author.as_deref(), Some("b"));

    // The type may change between repeats; the last one is read, the first forgotten.
    let c = comment_of(&comment_with(r#","created_utc":"1420070400""#));
    assert_eq!(c.created_utc, 1_420_070_400);
    let e = err(&comment_with(r#","body":null"#));
    assert_eq!(e.kind(), "missing_field");
    assert_same_as_value(comment_with(r#","body":null"#).as_bytes(), "null body");

    // A second `data` replaces the first, object or not.
    let api = lines("api_comments.ndjson");
    let wrapped = format!(r#"{{"kind":"t1","data":{{"x":1}},"data":{}}}"#, api[0]);
    assert_same_as_value(wrapped.as_bytes(), "data twice");
    assert_eq!(
        normalize_line(wrapped.as_bytes(), &origin(1))
            .expect("the second data is the comment")
            .fullname(),
        "t1_c2392"
    );
    let unwrapped = format!(r#"{{"kind":"t1","data":{},"data":5}}"#, api[0]);
    assert_same_as_value(unwrapped.as_bytes(), "data replaced by a number");
    assert_eq!(
        err(&unwrapped).to_string(),
        "not a post or comment: an object with neither `body`/`link_id` (comment) nor `title` \
         (post); its keys: data, kind"
    );
}

#[test]
fn escaped_strings_and_keys_are_unescaped() {
    let c = comment_of(&comment_with(
        r#","body":"line\none \"quoted\" caf\u00e9 \ud83d\ude00","auth\u006fr":"user_\u0031""#,
    ));
    assert_eq!(c.body, "line\none \"quoted\" café 😀");
    assert_eq!(c.author.as_deref(), Some("user_1"));

    // Escapes and entities together, as some 2015 lines have them.
    let c = comment_of(&comment_with(r#","body":"a &amp;\tb""#));
    assert_eq!(c.body, "a &\tb");
}

#[test]
fn fields_that_are_not_read_are_still_checked_as_a_value_parse_would() {
    // Each of these is in a field normalization never reads; each made the `Value` parse fail,
    // so the line must still fail, and with the same message.
    let cases: [(&[u8], &str); 5] = [
        (br#","x":"\ud800""#, "hex escape"),
        (br#","x":1e400"#, "number out of range"),
        (br#","x":"caf"#, "EOF"),
        (br#","x":tru"#, "expected ident"),
        (br#","x":"a"b"#, "expected `,` or `}`"),
    ];
    for (extra, message) in cases {
        let line = comment_with(std::str::from_utf8(extra).expect("ascii"));
        assert_same_as_value(line.as_bytes(), &line);
        let e = err(&line);
        assert_eq!(e.kind(), "parse", "{line}");
        assert!(e.to_string().contains(message), "{line}: {e}");
    }

    // Invalid UTF-8 inside an unread string.
    let mut line = comment_with(r#","x":"caf?""#).into_bytes();
    let at = line.iter().position(|b| *b == b'?').expect("marker");
    line[at] = 0xe9;
    assert_same_as_value(&line, "latin-1 byte in an unread field");
    let e = normalize_line(&line, &origin(1)).expect_err("not UTF-8");
    assert_eq!(e.kind(), "parse");
    assert!(e.to_string().contains("invalid unicode code point"), "{e}");

    // Nesting deeper than serde_json's limit of 128, in an unread field.
    let deep = comment_with(&format!(r#","x":{}1{}"#, "[".repeat(200), "]".repeat(200)));
    assert_same_as_value(deep.as_bytes(), "deep nesting");
    assert!(err(&deep).to_string().contains("recursion limit exceeded"));

    // Nesting that the limit allows is fine, as it was.
    let nested = comment_with(&format!(r#","x":{}1{}"#, "[".repeat(100), "]".repeat(100)));
    assert_eq!(comment_of(&nested).fullname, "t1_abc");
}

#[test]
fn arctic_shift_meta_and_unread_objects_are_skipped() {
    let c = comment_of(&comment_with(
        r#","_meta":{"retrieved_2nd_on":1707000000,"removal_type":"deleted","note":"caf\u00e9"},"all_awardings":[{"id":"x","count":1}],"edited":1706745700.5"#,
    ));
    assert_eq!(c.edited_utc, Some(1_706_745_700));
    assert_eq!(c.retrieved_utc, FALLBACK);
}

#[test]
fn what_is_not_an_object_is_named_by_its_type() {
    for (line, found) in [
        ("5", "number"),
        ("-1.5", "number"),
        ("null", "null"),
        ("true", "boolean"),
        ("\"t1_abc\"", "string"),
        ("[{\"id\":\"abc\"}]", "array"),
    ] {
        assert_same_as_value(line.as_bytes(), line);
        assert_eq!(
            err(line).to_string(),
            format!("not a Reddit item: the line holds a JSON {found}, expected an object")
        );
    }
}

#[test]
fn fields_of_the_wrong_type_are_shown_as_json() {
    for (extra, found) in [
        (r#","subreddit":["rust"]"#, r#"array ["rust"]"#),
        (
            r#","subreddit":{"b":1,"a":"x"}"#,
            r#"object {"a":"x","b":1}"#,
        ),
        (r#","score":"many""#, r#"string "many""#),
        (r#","stickied":2"#, "number 2"),
        (r#","subreddit":true"#, "boolean true"),
    ] {
        let line = comment_with(extra);
        assert_same_as_value(line.as_bytes(), &line);
        let e = err(&line);
        assert_eq!(e.kind(), "bad_field", "{line}");
        assert!(
            e.to_string().contains(&format!("is {found};")),
            "{line}: {e}"
        );
    }
}

#[test]
fn things_that_are_not_items_are_told_apart_on_lines_too() {
    for line in [
        r#"{"kind":"more","data":{"count":3,"children":["a","b","c"],"name":"t1_x"}}"#,
        r#"{"count":3,"children":["a","b"],"name":"t1_x","id":"x","parent_id":"t3_a"}"#,
        r#"{"kind":"Listing","data":{"children":[]}}"#,
        r#"{"kind":"t5","data":{"display_name":"rust"}}"#,
        r#"{"kind":"t1","data":{"dest":null,"name":"t1_x","body":"hi"}}"#,
        r#"{"kind":7,"data":{"name":"t3_x","title":"t"}}"#,
        r#"{"display_name":"rust","subscribers":1}"#,
        r#"{"z":1,"y":2,"x":3,"w":4,"v":5,"u":6,"t":7,"s":8,"r":9,"q":0}"#,
        r#"{"name":"t2_abc"}"#,
        r#"{}"#,
    ] {
        assert_same_as_value(line.as_bytes(), line);
        assert_eq!(err(line).kind(), "not_an_item", "{line}");
    }
    // `data` that is no object makes no thing: the line is read as a bare post.
    let bare = r#"{"kind":"t1","data":null,"name":"t3_x"}"#;
    assert_same_as_value(bare.as_bytes(), bare);
    assert_eq!(
        err(bare).to_string(),
        "post has no `created_utc` (missing, null or empty); it is required"
    );
    assert!(
        err(r#"{"kind":"more","data":{"count":3,"children":["a","b","c"]}}"#)
            .to_string()
            .contains("placeholder for 3 unloaded comments")
    );
    assert!(
        err(r#"{"z":1,"y":2,"x":3,"w":4,"v":5,"u":6,"t":7,"s":8,"r":9,"q":0}"#)
            .to_string()
            .ends_with("its keys: q, r, s, t, u, v, w, x, …")
    );
}
