//! Rows of the CQL tables, borrowed from an enriched item: the names of the fields are the
//! bind markers of [`super::schema::insert_cql`], matched by name when a row is bound.

use redstream_schemas::{ContentState, EnrichedComment, EnrichedPost};
use scylla::value::{CqlDate, CqlTimestamp};
use scylla::SerializeRow;

/// The CQL `date` of a Unix time: days since the epoch, offset by 2^31 as the protocol wants.
pub fn day_of(created_utc: i64) -> CqlDate {
    let days = created_utc.div_euclid(86_400);
    CqlDate(((1i64 << 31) + days).clamp(0, u32::MAX as i64) as u32)
}

pub fn state_name(state: ContentState) -> &'static str {
    match state {
        ContentState::Present => "PRESENT",
        ContentState::Deleted => "DELETED",
        ContentState::Removed => "REMOVED",
    }
}

#[derive(Debug, SerializeRow)]
pub struct PostRow<'a> {
    fullname: &'a str,
    id: &'a str,
    subreddit: &'a str,
    day: CqlDate,
    subreddit_id: Option<&'a str>,
    author: Option<&'a str>,
    author_fullname: Option<&'a str>,
    title: &'a str,
    selftext: &'a str,
    url: Option<&'a str>,
    domain: Option<&'a str>,
    permalink: Option<&'a str>,
    is_self: bool,
    over_18: bool,
    link_flair_text: Option<&'a str>,
    num_comments: i64,
    upvote_ratio: Option<f64>,
    crosspost_parent: Option<&'a str>,
    score: i64,
    distinguished: Option<&'a str>,
    stickied: bool,
    created_utc: i64,
    edited_utc: Option<i64>,
    state: &'static str,
    retrieved_utc: i64,
    version: i64,
    language: Option<&'a str>,
    language_confidence: f64,
    sentiment: f64,
    links: &'a [String],
    domains: &'a [String],
    text: &'a str,
    word_count: i64,
    created_at: CqlTimestamp,
    write_ts: i64,
}

impl<'a> PostRow<'a> {
    pub fn new(item: &'a EnrichedPost) -> Self {
        let p = &item.post;
        let e = &item.enrichment;
        Self {
            fullname: &p.fullname,
            id: &p.id,
            subreddit: &p.subreddit,
            day: day_of(p.created_utc),
            subreddit_id: p.subreddit_id.as_deref(),
            author: p.author.as_deref(),
            author_fullname: p.author_fullname.as_deref(),
            title: &p.title,
            selftext: &p.selftext,
            url: p.url.as_deref(),
            domain: p.domain.as_deref(),
            permalink: p.permalink.as_deref(),
            is_self: p.is_self,
            over_18: p.over_18,
            link_flair_text: p.link_flair_text.as_deref(),
            num_comments: p.num_comments,
            upvote_ratio: p.upvote_ratio,
            crosspost_parent: p.crosspost_parent.as_deref(),
            score: p.score,
            distinguished: p.distinguished.as_deref(),
            stickied: p.stickied,
            created_utc: p.created_utc,
            edited_utc: p.edited_utc,
            state: state_name(p.state),
            retrieved_utc: p.retrieved_utc,
            version: p.version,
            language: e.language.as_deref(),
            language_confidence: e.language_confidence,
            sentiment: e.sentiment,
            links: &e.links,
            domains: &e.domains,
            text: &e.text,
            word_count: e.word_count,
            created_at: CqlTimestamp(e.created_at),
            write_ts: p.version,
        }
    }
}

#[derive(Debug, SerializeRow)]
pub struct CommentRow<'a> {
    fullname: &'a str,
    id: &'a str,
    subreddit: &'a str,
    day: CqlDate,
    subreddit_id: Option<&'a str>,
    author: Option<&'a str>,
    author_fullname: Option<&'a str>,
    body: &'a str,
    link_id: &'a str,
    parent_id: &'a str,
    is_submitter: Option<bool>,
    controversiality: Option<i32>,
    score: i64,
    distinguished: Option<&'a str>,
    stickied: bool,
    created_utc: i64,
    edited_utc: Option<i64>,
    state: &'static str,
    retrieved_utc: i64,
    version: i64,
    language: Option<&'a str>,
    language_confidence: f64,
    sentiment: f64,
    links: &'a [String],
    domains: &'a [String],
    text: &'a str,
    word_count: i64,
    created_at: CqlTimestamp,
    write_ts: i64,
}

impl<'a> CommentRow<'a> {
    pub fn new(item: &'a EnrichedComment) -> Self {
        let c = &item.comment;
        let e = &item.enrichment;
        Self {
            fullname: &c.fullname,
            id: &c.id,
            subreddit: &c.subreddit,
            day: day_of(c.created_utc),
            subreddit_id: c.subreddit_id.as_deref(),
            author: c.author.as_deref(),
            author_fullname: c.author_fullname.as_deref(),
            body: &c.body,
            link_id: &c.link_id,
            parent_id: &c.parent_id,
            is_submitter: c.is_submitter,
            controversiality: c.controversiality,
            score: c.score,
            distinguished: c.distinguished.as_deref(),
            stickied: c.stickied,
            created_utc: c.created_utc,
            edited_utc: c.edited_utc,
            state: state_name(c.state),
            retrieved_utc: c.retrieved_utc,
            version: c.version,
            language: e.language.as_deref(),
            language_confidence: e.language_confidence,
            sentiment: e.sentiment,
            links: &e.links,
            domains: &e.domains,
            text: &e.text,
            word_count: e.word_count,
            created_at: CqlTimestamp(e.created_at),
            write_ts: c.version,
        }
    }
}

/// Rough size of the mutation an item makes (its text, twice: two tables), to refuse items no
/// node would ever accept before sending them.
pub fn approx_bytes(post_or_comment_text: &[&str], lists: &[&[String]]) -> usize {
    let text: usize = post_or_comment_text.iter().map(|s| s.len()).sum();
    let list: usize = lists.iter().flat_map(|l| l.iter()).map(String::len).sum();
    2 * (text + list) + 512
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_bucket_is_the_utc_date() {
        // 2015-01-01T00:00:00Z and one second before.
        assert_eq!(day_of(1_420_070_400).0, (1u32 << 31) + 16_436);
        assert_eq!(day_of(1_420_070_399).0, (1u32 << 31) + 16_435);
        assert_eq!(day_of(0).0, 1u32 << 31);
        assert_eq!(day_of(-1).0, (1u32 << 31) - 1);
    }
}
