//! Deletion events. Reddit requires that content its users deleted (or that moderators
//! removed) disappears from copies too. An item whose `state` is `DELETED` or `REMOVED` is
//! written stripped of its text, author and links, with the fixed version [`DELETION_VERSION`]:
//! Cassandra's `USING TIMESTAMP` and Elasticsearch's external version then make it final, so
//! an older snapshot that arrives after it (a replayed dump, a late re-fetch) cannot bring the
//! text back. docs/live.md lists what is kept.

use redstream_schemas::{ContentState, EnrichedItem, Enrichment};

/// The version of every deletion event: above any real version (`retrieved_utc * 10^6 + n`
/// stays below 2^62 until the year 148 000), within Elasticsearch's and Cassandra's range.
pub const DELETION_VERSION: i64 = 1 << 62;

/// Returns the item unchanged unless it is deleted or removed; then strips it and gives it the
/// final version.
pub fn finalize(item: EnrichedItem) -> EnrichedItem {
    match item {
        EnrichedItem::Post(mut p) if p.post.state != ContentState::Present => {
            let post = &mut p.post;
            post.title.clear();
            post.selftext.clear();
            post.author = None;
            post.author_fullname = None;
            post.url = None;
            post.domain = None;
            post.link_flair_text = None;
            post.permalink = None;
            post.version = DELETION_VERSION;
            strip(&mut p.enrichment);
            EnrichedItem::Post(p)
        }
        EnrichedItem::Comment(mut c) if c.comment.state != ContentState::Present => {
            let comment = &mut c.comment;
            comment.body.clear();
            comment.author = None;
            comment.author_fullname = None;
            comment.version = DELETION_VERSION;
            strip(&mut c.enrichment);
            EnrichedItem::Comment(c)
        }
        other => other,
    }
}

fn strip(e: &mut Enrichment) {
    e.language = None;
    e.language_confidence = 0.0;
    e.sentiment = 0.0;
    e.links.clear();
    e.domains.clear();
    e.text.clear();
    e.word_count = 0;
}

#[cfg(test)]
mod tests {
    use super::*;
    use redstream_schemas::{EnrichedComment, RawComment};

    fn comment(state: ContentState) -> EnrichedItem {
        EnrichedItem::Comment(EnrichedComment {
            comment: RawComment {
                fullname: "t1_abc".into(),
                id: "abc".into(),
                subreddit: "rust".into(),
                subreddit_id: None,
                author: Some("someone".into()),
                author_fullname: Some("t2_x".into()),
                body: "see https://example.org".into(),
                link_id: "t3_p".into(),
                parent_id: "t3_p".into(),
                is_submitter: None,
                controversiality: None,
                score: 5,
                distinguished: None,
                stickied: false,
                created_utc: 1_700_000_000,
                edited_utc: None,
                state,
                retrieved_utc: 1_700_000_100,
                version: 1_700_000_100_000_001,
            },
            enrichment: Enrichment {
                language: Some("en".into()),
                language_confidence: 0.9,
                sentiment: 0.1,
                links: vec!["https://example.org".into()],
                domains: vec!["example.org".into()],
                text: "see https://example.org".into(),
                word_count: 2,
                created_at: 0,
            },
        })
    }

    #[test]
    fn present_items_pass_unchanged() {
        let item = comment(ContentState::Present);
        assert_eq!(finalize(item.clone()), item);
    }

    #[test]
    fn deleted_and_removed_items_are_stripped_and_final() {
        for state in [ContentState::Deleted, ContentState::Removed] {
            let EnrichedItem::Comment(c) = finalize(comment(state)) else {
                panic!("still a comment");
            };
            assert_eq!(c.comment.body, "");
            assert_eq!(c.comment.author, None);
            assert_eq!(c.comment.author_fullname, None);
            assert_eq!(c.comment.version, DELETION_VERSION);
            assert_eq!(c.comment.score, 5, "counts are kept");
            assert!(c.enrichment.links.is_empty() && c.enrichment.text.is_empty());
        }
    }
}
