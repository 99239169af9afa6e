//! Links an item points to, and the sites they are on.

use linkify::{LinkFinder, LinkKind};
use url::Url;

/// The http(s) links of an item, in order of appearance and without repeats: the post's own
/// `url` first (for link posts), then every URL in the text. `text` should already have its
/// HTML entities decoded (`&amp;` in a URL is `&`).
pub fn links(post_url: Option<&str>, text: &str) -> Vec<String> {
    let mut finder = LinkFinder::new();
    finder.kinds(&[LinkKind::Url]);

    let mut out: Vec<String> = Vec::new();
    let candidates = post_url
        .into_iter()
        .chain(finder.links(text).map(|l| l.as_str()));
    for candidate in candidates {
        let candidate = candidate.trim();
        if is_web_url(candidate) && !out.iter().any(|seen| seen == candidate) {
            out.push(candidate.to_string());
        }
    }
    out
}

/// Lower-cased hosts of `links` without a leading `www.`, in order, without repeats.
pub fn domains(links: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for link in links {
        let Ok(url) = Url::parse(link) else { continue };
        let Some(host) = url.host_str() else { continue };
        let host = host.to_ascii_lowercase();
        let host = host.strip_prefix("www.").unwrap_or(&host).to_string();
        if !host.is_empty() && !out.contains(&host) {
            out.push(host);
        }
    }
    out
}

fn is_web_url(candidate: &str) -> bool {
    Url::parse(candidate)
        .map(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_links_in_markdown_and_bare_text_in_order() {
        let text = "Docs: [PRAW](https://praw.readthedocs.io/en/latest/). Also see \
                    https://www.reddit.com/dev/api and https://praw.readthedocs.io/en/latest/ again.";
        assert_eq!(
            links(None, text),
            vec![
                "https://praw.readthedocs.io/en/latest/",
                "https://www.reddit.com/dev/api",
            ]
        );
    }

    #[test]
    fn post_url_comes_first_and_only_http_counts() {
        let found = links(
            Some("https://i.imgur.com/AbC123.jpg"),
            "mirror: http://example.org/x, ftp://files.example.org/y, mailto:a@b.c",
        );
        assert_eq!(
            found,
            vec!["https://i.imgur.com/AbC123.jpg", "http://example.org/x"]
        );
        assert!(links(Some("/r/redditdev/comments/abc/"), "").is_empty());
    }

    #[test]
    fn parenthesised_wikipedia_links_survive() {
        let found = links(
            None,
            "[Rust](https://en.wikipedia.org/wiki/Rust_(programming_language)) rocks",
        );
        assert_eq!(
            found,
            vec!["https://en.wikipedia.org/wiki/Rust_(programming_language)"]
        );
    }

    #[test]
    fn domains_are_lower_case_without_www_and_unique() {
        let found = vec![
            "https://WWW.YouTube.com/watch?v=dQw4w9WgXcQ".to_string(),
            "https://youtube.com/shorts/x".to_string(),
            "http://en.wikipedia.org/wiki/Reddit".to_string(),
            "https://www2.example.org/".to_string(),
        ];
        assert_eq!(
            domains(&found),
            vec!["youtube.com", "en.wikipedia.org", "www2.example.org"]
        );
    }
}
