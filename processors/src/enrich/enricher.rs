//! Puts the enrichers together: one raw item in, one enriched item out.

use std::borrow::Cow;

use redstream_schemas::{
    ContentState, EnrichedComment, EnrichedItem, EnrichedPost, Enrichment, Item,
};

use super::language::{self, LanguageDetector};
use super::{links, sentiment, text};
use crate::config::EnrichersConfig;

/// The enrichers a stage runs, configured once.
pub struct Enricher {
    enabled: EnrichersConfig,
    language: LanguageDetector,
}

impl Enricher {
    pub fn new(enabled: EnrichersConfig) -> Self {
        Self {
            enabled,
            language: LanguageDetector::new(),
        }
    }

    pub fn enrich(&self, item: Item) -> EnrichedItem {
        let enrichment = self.enrichment(&item);
        match item {
            Item::Post(post) => EnrichedItem::Post(EnrichedPost { post, enrichment }),
            Item::Comment(comment) => EnrichedItem::Comment(EnrichedComment {
                comment,
                enrichment,
            }),
        }
    }

    /// What the enrichers say about one item. Deleted and removed items have no text (what
    /// is left is a `[deleted]` placeholder), hence no links, language or sentiment either.
    pub fn enrichment(&self, item: &Item) -> Enrichment {
        let mut enrichment = Enrichment {
            language: None,
            language_confidence: 0.0,
            sentiment: 0.0,
            links: Vec::new(),
            domains: Vec::new(),
            text: String::new(),
            word_count: 0,
            created_at: item.created_utc().saturating_mul(1000),
        };
        if item.state() != ContentState::Present {
            return enrichment;
        }
        let on = self.enabled;

        // A comment's body is enriched in place; only a post needs its title and text joined.
        let (markdown, post_url): (Cow<'_, str>, _) = match item {
            Item::Post(p) => (
                Cow::Owned(format!("{}\n{}", p.title, p.selftext)),
                p.url.as_deref().filter(|_| !p.is_self),
            ),
            Item::Comment(c) => (Cow::Borrowed(c.body.as_str()), None),
        };

        if on.links {
            let decoded = text::decode_entities(&markdown);
            enrichment.links = links::links(post_url, &decoded);
            enrichment.domains = links::domains(&enrichment.links);
        }

        if !(on.text || on.language || on.sentiment) {
            return enrichment;
        }
        let plain = text::plain_text(&markdown);
        if on.language {
            if let Some((code, confidence)) = language::detect(&self.language, &plain) {
                enrichment.language = Some(code.to_string());
                enrichment.language_confidence = confidence;
            }
        }
        if on.sentiment {
            enrichment.sentiment = sentiment::score(&plain);
        }
        if on.text {
            enrichment.word_count = text::word_count(&plain) as i64;
            enrichment.text = plain;
        }
        enrichment
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_items::{comment, post};

    #[test]
    fn enriches_a_comment() {
        let enricher = Enricher::new(EnrichersConfig::default());
        let c = comment(
            "t1_fx1hmwb",
            "This is **really** helpful, thanks! The [wiki](https://www.reddit.com/r/redditdev/wiki/index) explains it well.",
            4,
        );
        let e = enricher.enrichment(&Item::Comment(c));

        assert_eq!(
            e.text,
            "This is really helpful, thanks! The wiki explains it well."
        );
        assert_eq!(e.word_count, 10);
        assert_eq!(
            e.links,
            vec!["https://www.reddit.com/r/redditdev/wiki/index"]
        );
        assert_eq!(e.domains, vec!["reddit.com"]);
        assert_eq!(e.language.as_deref(), Some("eng"));
        assert!(e.sentiment > 0.3, "{}", e.sentiment);
        assert_eq!(e.created_at, 1_593_955_200_000);
    }

    #[test]
    fn link_post_counts_its_url_and_title() {
        let enricher = Enricher::new(EnrichersConfig::default());
        let p = post(
            "t3_hmkfoy",
            "Rust 1.45 released &amp; it is great",
            "",
            Some("https://blog.rust-lang.org/2020/07/16/Rust-1.45.0.html"),
        );
        let e = enricher.enrichment(&Item::Post(p));
        assert_eq!(e.text, "Rust 1.45 released & it is great");
        assert_eq!(
            e.links,
            vec!["https://blog.rust-lang.org/2020/07/16/Rust-1.45.0.html"]
        );
        assert_eq!(e.domains, vec!["blog.rust-lang.org"]);
    }

    #[test]
    fn self_post_url_is_not_a_link() {
        let enricher = Enricher::new(EnrichersConfig::default());
        let mut p = post(
            "t3_2gmzqe",
            "Question about OAuth",
            "How do I refresh a token?",
            None,
        );
        p.url = Some("https://www.reddit.com/r/redditdev/comments/2gmzqe/question/".into());
        p.is_self = true;
        let e = enricher.enrichment(&Item::Post(p));
        assert!(e.links.is_empty(), "{:?}", e.links);
        assert_eq!(e.text, "Question about OAuth How do I refresh a token?");
    }

    #[test]
    fn deleted_and_removed_items_have_no_text_or_links() {
        let enricher = Enricher::new(EnrichersConfig::default());
        for (state, body) in [
            (ContentState::Deleted, "[deleted]"),
            (ContentState::Removed, "[removed]"),
        ] {
            let mut c = comment("t1_d7ltvl0", body, 1);
            c.state = state;
            let e = enricher.enrichment(&Item::Comment(c));
            assert_eq!(e.text, "");
            assert_eq!(e.word_count, 0);
            assert!(e.links.is_empty());
            assert_eq!(e.language, None);
            assert_eq!(e.sentiment, 0.0);
            assert_eq!(e.created_at, 1_593_955_200_000);
        }
    }

    #[test]
    fn switched_off_enrichers_leave_their_fields_empty() {
        let enricher = Enricher::new(EnrichersConfig::all_off());
        let c = comment(
            "t1_abc",
            "I love this, see https://example.org for the details of it all",
            1,
        );
        let e = enricher.enrichment(&Item::Comment(c));
        assert_eq!(e.text, "");
        assert!(e.links.is_empty() && e.domains.is_empty());
        assert_eq!(e.language, None);
        assert_eq!(e.sentiment, 0.0);
        assert_eq!(e.created_at, 1_593_955_200_000);

        let only_language = Enricher::new(EnrichersConfig {
            language: true,
            ..EnrichersConfig::all_off()
        });
        let c = comment(
            "t1_abc",
            "I love this library, it is the best thing I have used",
            1,
        );
        let e = only_language.enrichment(&Item::Comment(c));
        assert_eq!(e.language.as_deref(), Some("eng"));
        assert_eq!(e.text, "");
    }
}
