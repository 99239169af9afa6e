//! The enrichers over every real comment body and post text of the shared Reddit data: they
//! must never panic, and their output must look like what a reader would expect.

use std::path::PathBuf;

use super::{language, links, sentiment, text};

fn data(file: &str) -> Option<String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/data/reddit/dumps")
        .join(file);
    match std::fs::read_to_string(&path) {
        Ok(s) => Some(s),
        Err(e) => {
            eprintln!("SKIPPED: cannot read {}: {e}", path.display());
            None
        }
    }
}

/// Text fields of every line, as the API or the dump has them.
fn texts(file: &str, fields: &[&str]) -> Vec<String> {
    let Some(content) = data(file) else {
        return Vec::new();
    };
    content
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .map(|v| {
            fields
                .iter()
                .filter_map(|f| v.get(*f).and_then(|x| x.as_str()))
                .collect::<Vec<_>>()
                .join("\n")
        })
        .collect()
}

#[test]
fn enrichers_survive_every_real_text() {
    let detector = language::LanguageDetector::new();
    let mut all = texts("api_comments.ndjson", &["body"]);
    all.extend(texts("pushshift_RC_2015-01_sample.ndjson", &["body"]));
    all.extend(texts("api_submissions.ndjson", &["title", "selftext"]));
    if all.is_empty() {
        return;
    }

    let (mut with_language, mut long_enough, mut with_links, mut positive, mut negative) =
        (0, 0, 0, 0, 0);
    for raw in &all {
        let plain = text::plain_text(raw);
        assert!(!plain.contains("  ") && !plain.contains('\n'), "{plain:?}");
        assert!(!plain.contains("](http"), "link syntax left in {plain:?}");
        assert!(
            !plain.contains("&gt;") && !plain.contains("&amp;"),
            "{plain:?}"
        );
        let _ = text::word_count(&plain);

        if plain.chars().count() >= 60 {
            long_enough += 1;
            if language::detect(&detector, &plain).is_some() {
                with_language += 1;
            }
        }
        let score = sentiment::score(&plain);
        assert!((-1.0..=1.0).contains(&score));
        if score > 0.05 {
            positive += 1;
        } else if score < -0.05 {
            negative += 1;
        }
        let found = links::links(None, &text::decode_entities(raw));
        if !found.is_empty() {
            with_links += 1;
            assert!(!links::domains(&found).is_empty());
        }
    }
    eprintln!(
        "{} texts: {with_language}/{long_enough} of >=60 chars with a reliable language, \
         {with_links} with links, {positive} positive, {negative} negative",
        all.len()
    );
    // Most texts of a paragraph or more get a language, and sentiment is not one-sided.
    assert!(
        with_language * 10 >= long_enough * 7,
        "{with_language}/{long_enough}"
    );
    assert!(positive > 100 && negative > 100, "{positive} / {negative}");
    assert!(with_links > 50, "{with_links}");
}
