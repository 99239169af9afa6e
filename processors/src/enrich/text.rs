//! Plain text out of Reddit markdown: what a reader sees, without the syntax.
//!
//! Handles what Reddit bodies actually contain: HTML entities (old dumps escape `>` as `&gt;`,
//! and `&#x200B;` fills empty paragraphs), quotes, headers, lists, code fences, tables, links,
//! images, emphasis, strikethrough, superscript, spoilers and backslash escapes. It is a
//! stripper, not a renderer: unbalanced syntax stays as typed.

/// Decodes HTML entities, then strips markdown and collapses whitespace to single spaces.
pub fn plain_text(markdown: &str) -> String {
    let decoded = decode_entities(markdown);
    let mut out = String::with_capacity(decoded.len());
    let mut in_fence = false;
    for line in decoded.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            in_fence = !in_fence;
            continue;
        }
        if in_fence {
            // Code is content: keep it, untouched by the inline rules.
            out.push_str(line);
            out.push('\n');
            continue;
        }
        let body = strip_block_markers(trimmed);
        if body.is_empty() || is_rule_or_table_separator(body) {
            continue;
        }
        strip_inline(body, &mut out);
        out.push('\n');
    }
    collapse_whitespace(&out)
}

/// Decodes entities twice: dump files HTML-escape the markdown (`&amp;#x200B;`), and the
/// markdown itself may hold entities (`&#x200B;`, `&nbsp;`) that Reddit renders.
pub fn decode_entities(text: &str) -> String {
    let once = html_escape::decode_html_entities(text);
    if once.contains('&') {
        html_escape::decode_html_entities(&once).into_owned()
    } else {
        once.into_owned()
    }
}

/// Words: whitespace-separated runs that hold at least one letter or digit.
pub fn word_count(plain: &str) -> usize {
    plain
        .split_whitespace()
        .filter(|w| w.chars().any(char::is_alphanumeric))
        .count()
}

/// Removes quote markers (`>`, nested `> >`), header hashes, and list bullets or numbers.
fn strip_block_markers(mut line: &str) -> &str {
    // A spoiler `>!text!<` starts with `>` but is inline syntax.
    while let Some(rest) = line.strip_prefix('>').filter(|r| !r.starts_with('!')) {
        line = rest.trim_start();
    }

    loop {
        let hashes = line.bytes().take_while(|b| *b == b'#').count();
        let rest = &line[hashes..];
        if (1..=6).contains(&hashes) && (rest.is_empty() || rest.starts_with(char::is_whitespace)) {
            line = rest.trim_start().trim_end_matches('#').trim_end();
        } else {
            break;
        }
    }

    for bullet in ["* ", "- ", "+ "] {
        if let Some(rest) = line.strip_prefix(bullet) {
            return rest.trim_start();
        }
    }
    let digits = line.bytes().take_while(u8::is_ascii_digit).count();
    if (1..=9).contains(&digits) {
        let rest = &line[digits..];
        if let Some(rest) = rest.strip_prefix(". ").or_else(|| rest.strip_prefix(") ")) {
            return rest.trim_start();
        }
    }
    line
}

/// `---`, `***`, `___` rules and table separator rows like `|:--|--:|` carry no text.
fn is_rule_or_table_separator(line: &str) -> bool {
    let compact: String = line.chars().filter(|c| !c.is_whitespace()).collect();
    if compact.len() >= 3 {
        for rule in ['-', '*', '_'] {
            if compact.chars().all(|c| c == rule) {
                return true;
            }
        }
    }
    compact.contains('-') && compact.chars().all(|c| matches!(c, '|' | '-' | ':'))
}

/// Strips inline syntax from one line, appending the text to `out`.
fn strip_inline(line: &str, out: &mut String) {
    let chars: Vec<char> = line.chars().collect();
    inline(&chars, out);
}

fn inline(chars: &[char], out: &mut String) {
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let prev = i.checked_sub(1).map(|j| chars[j]);
        let next = chars.get(i + 1).copied();
        match c {
            // `\*` is a literal star.
            '\\' if next.is_some_and(|n| n.is_ascii_punctuation()) => {
                out.extend(next);
                i += 2;
            }
            // `![alt](url)` and `[text](url)` keep only what a reader sees.
            '!' if next == Some('[') => match link_at(chars, i + 1) {
                Some((text, end)) => {
                    inline(text, out);
                    i = end;
                }
                None => {
                    out.push(c);
                    i += 1;
                }
            },
            '[' => match link_at(chars, i) {
                Some((text, end)) => {
                    inline(text, out);
                    i = end;
                }
                None => {
                    out.push(c);
                    i += 1;
                }
            },
            // Inline code: keep the code, drop the backticks.
            '`' => {
                let run = chars[i..].iter().take_while(|c| **c == '`').count();
                i += run;
            }
            // Strikethrough `~~` and spoilers `>!…!<`.
            '~' if next == Some('~') => i += 2,
            '>' if next == Some('!') => i += 2,
            '!' if next == Some('<') => i += 2,
            // Superscript `^word` and `^(a few words)`.
            '^' => {
                if next == Some('(') {
                    if let Some(close) = matching(chars, i + 1, '(', ')') {
                        inline(&chars[i + 2..close], out);
                        i = close + 1;
                        continue;
                    }
                }
                i += 1;
            }
            // Tables: cells become words separated by spaces.
            '|' => {
                out.push(' ');
                i += 1;
            }
            '*' | '_' => {
                let run = chars[i..].iter().take_while(|x| **x == c).count();
                let before = prev;
                let after = chars.get(i + run).copied();
                if is_emphasis(c, before, after) {
                    i += run;
                } else {
                    out.extend(std::iter::repeat_n(c, run));
                    i += run;
                }
            }
            '<' => match autolink_at(chars, i) {
                Some((url, end)) => {
                    out.extend(url);
                    i = end;
                }
                None => {
                    out.push(c);
                    i += 1;
                }
            },
            '\u{200B}' | '\u{FEFF}' => i += 1,
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
}

/// A run of `*` or `_` is emphasis when it opens before a word or closes after one; `_`
/// inside a word (`snake_case`) and a lone `*` between spaces (`2 * 3`) are literal.
fn is_emphasis(c: char, before: Option<char>, after: Option<char>) -> bool {
    let word = |x: Option<char>| x.is_some_and(char::is_alphanumeric);
    let space = |x: Option<char>| x.is_none_or(char::is_whitespace);
    if c == '_' && word(before) && word(after) {
        return false;
    }
    let opens = !space(after);
    let closes = !space(before);
    opens || closes
}

/// `[text](target)` starting at `open` (the `[`): the text and the index after the `)`.
fn link_at(chars: &[char], open: usize) -> Option<(&[char], usize)> {
    let close = matching(chars, open, '[', ']')?;
    if chars.get(close + 1) != Some(&'(') {
        return None;
    }
    // Bots write destinations like `Welfare_(financial_aid\\))`, which only balance when the
    // escaped paren is ignored: then the first unescaped `)` ends the link, as on Reddit.
    let end =
        matching(chars, close + 1, '(', ')').or_else(|| first_unescaped(chars, close + 2, ')'))?;
    Some((&chars[open + 1..close], end + 1))
}

fn first_unescaped(chars: &[char], from: usize, wanted: char) -> Option<usize> {
    let mut i = from;
    while i < chars.len() {
        match chars[i] {
            '\\' => i += 1,
            c if c == wanted => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

/// `<https://…>`: the URL and the index after the `>`.
fn autolink_at(chars: &[char], open: usize) -> Option<(&[char], usize)> {
    let len = chars[open + 1..].iter().position(|c| *c == '>')?;
    let inner = &chars[open + 1..open + 1 + len];
    let text: String = inner.iter().collect();
    let is_url = (text.starts_with("http://") || text.starts_with("https://"))
        && !text.contains(char::is_whitespace);
    is_url.then_some((inner, open + len + 2))
}

/// Index of the bracket that closes the one at `open`, counting nesting.
fn matching(chars: &[char], open: usize, left: char, right: char) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = open;
    while i < chars.len() {
        match chars[i] {
            '\\' => i += 1,
            c if c == left => depth += 1,
            c if c == right => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// Every run of whitespace (newlines and non-breaking spaces included) becomes one space.
pub fn collapse_whitespace(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_keep_their_text_and_images_their_alt() {
        assert_eq!(
            plain_text("See [the docs](https://praw.readthedocs.io/en/latest/) for more."),
            "See the docs for more."
        );
        assert_eq!(
            plain_text("![screenshot](https://i.redd.it/abc.png) is attached"),
            "screenshot is attached"
        );
        assert_eq!(
            plain_text(
                "[link with (parens)](https://en.wikipedia.org/wiki/Rust_(programming_language))"
            ),
            "link with (parens)"
        );
        assert_eq!(plain_text("[not a link] here"), "[not a link] here");
        // As a 2015 wiki bot wrote it: the escaped paren must not swallow the sentence.
        assert_eq!(
            plain_text(
                r"excessive [welfare](https://en.wikipedia.org/wiki/Welfare_(financial_aid\)) payments"
            ),
            "excessive welfare payments"
        );
    }

    #[test]
    fn emphasis_goes_but_snake_case_and_arithmetic_stay() {
        assert_eq!(
            plain_text("This is **really** *important* and ~~wrong~~ right"),
            "This is really important and wrong right"
        );
        assert_eq!(plain_text("__bold__ and _it_"), "bold and it");
        assert_eq!(
            plain_text("set `max_items` or some_var"),
            "set max_items or some_var"
        );
        assert_eq!(plain_text("2 * 3 = 6"), "2 * 3 = 6");
        assert_eq!(
            plain_text(r"a literal \*star\* here"),
            "a literal *star* here"
        );
    }

    #[test]
    fn quotes_headers_lists_and_rules() {
        let body = "> I think this is wrong.\n>> nested\n\n# Heading #\n## Sub\n\n* one\n- two\n1. three\n\n---\n\nEnd.";
        assert_eq!(
            plain_text(body),
            "I think this is wrong. nested Heading Sub one two three End."
        );
        // Hashtags are not headers.
        assert_eq!(plain_text("#hashtag stays"), "#hashtag stays");
    }

    #[test]
    fn html_entities_of_old_dumps_are_decoded_before_stripping() {
        // As in the 2015 Pushshift sample: quote markers and ampersands arrive escaped.
        let body = "&gt; you can&#39;t do that\n\nYes you can &amp; you should&#x200B;";
        assert_eq!(
            plain_text(body),
            "you can't do that Yes you can & you should"
        );
        // Escaped once by the dump, once by the author's markdown.
        assert_eq!(plain_text("a&amp;#x200B;b &amp;#009;c"), "ab c");
    }

    #[test]
    fn code_fences_keep_code_without_fences() {
        let body =
            "Try this:\n\n```python\nreddit = praw.Reddit(client_id=\"x\")\n```\n\nthen run it";
        assert_eq!(
            plain_text(body),
            "Try this: reddit = praw.Reddit(client_id=\"x\") then run it"
        );
    }

    #[test]
    fn tables_become_cells_separated_by_spaces() {
        let body = "|Name|Score|\n|:--|--:|\n|foo|12|\n|bar|7|";
        assert_eq!(plain_text(body), "Name Score foo 12 bar 7");
    }

    #[test]
    fn spoilers_superscript_and_autolinks() {
        assert_eq!(plain_text(">!Snape kills!< spoiler"), "Snape kills spoiler");
        assert_eq!(plain_text("^(tiny text) and ^up"), "tiny text and up");
        assert_eq!(
            plain_text("source: <https://example.org/a>"),
            "source: https://example.org/a"
        );
    }

    #[test]
    fn whitespace_collapses_including_crlf_and_nbsp() {
        assert_eq!(plain_text("a\r\n\r\nb\u{a0}\u{a0}c\t d  "), "a b c d");
        assert_eq!(plain_text("&nbsp;\n\n&#x200B;\n"), "");
    }

    #[test]
    fn non_latin_text_and_emoji_pass_through() {
        assert_eq!(
            plain_text("**Привет**, мир 👀 日本語"),
            "Привет, мир 👀 日本語"
        );
    }

    #[test]
    fn word_count_skips_punctuation_only_tokens() {
        assert_eq!(word_count("Hello, world - it's 2020 !"), 4);
        assert_eq!(word_count(""), 0);
    }
}
