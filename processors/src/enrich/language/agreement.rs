//! The fast path against whatlang on every comment and post of the shared Reddit data
//! (`shared/data/reddit`: the NDJSON dumps and the t1/t3 objects of the recorded API
//! responses), each distinct plain text once.
//!
//! whatlang is the reference where it calls itself reliable; elsewhere it has no answer to
//! compare with. The test prints what it measured (`cargo test -p redstream-processors --lib
//! agreement -- --nocapture`) and fails when the fast path disagrees with reliable whatlang
//! on more than 1% of the texts it answers, answers too few texts to be worth it, or drops
//! too many of whatlang's reliable answers.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path as FsPath, PathBuf};

use serde_json::Value;

use super::{LanguageDetector, Path, MIN_CHARS};
use crate::enrich::text;

fn shared_reddit() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/reddit")
}

/// The markdown the enricher reads: a comment's body, a post's title and text.
fn markdown(kind: &str, data: &Value) -> Option<String> {
    let field = |name: &str| data.get(name).and_then(Value::as_str);
    let gone = |s: &str| s == "[deleted]" || s == "[removed]";
    match kind {
        "t1" => field("body").filter(|b| !gone(b)).map(str::to_owned),
        "t3" => {
            let selftext = field("selftext").unwrap_or("");
            (!gone(selftext)).then(|| format!("{}\n{selftext}", field("title").unwrap_or("")))
        }
        _ => None,
    }
}

/// Every `{"kind": "t1"|"t3", "data": {...}}` object anywhere in a recorded response.
fn walk(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let (Some(kind), Some(data)) =
                (map.get("kind").and_then(Value::as_str), map.get("data"))
            {
                out.extend(markdown(kind, data));
            }
            map.values().for_each(|v| walk(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
        _ => {}
    }
}

fn files(dir: &FsPath, extension: &str) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == extension))
        .collect();
    found.sort();
    found
}

/// Distinct plain texts of every item of the dumps and the API recordings.
fn reddit_texts(root: &FsPath) -> Vec<String> {
    let mut markdowns = Vec::new();
    for path in files(&root.join("dumps"), "ndjson") {
        let content = std::fs::read_to_string(&path).expect("dump file");
        for line in content.lines() {
            let Ok(item) = serde_json::from_str::<Value>(line) else {
                continue;
            };
            let kind = if item.get("body").is_some() {
                "t1"
            } else {
                "t3"
            };
            markdowns.extend(markdown(kind, &item));
        }
    }
    for path in files(&root.join("api"), "json") {
        let content = std::fs::read_to_string(&path).expect("recorded response");
        let recording: Value = serde_json::from_str(&content).expect("recording is JSON");
        walk(&recording["response"]["body"], &mut markdowns);
    }
    let mut seen = HashSet::new();
    markdowns
        .iter()
        .map(|m| text::plain_text(m))
        .filter(|plain| seen.insert(plain.clone()))
        .collect()
}

#[test]
fn fast_path_agrees_with_reliable_whatlang_on_real_reddit_text() {
    let root = shared_reddit();
    if !root.join("dumps").is_dir() {
        eprintln!("SKIPPED: no shared Reddit data at {}", root.display());
        return;
    }
    let texts = reddit_texts(&root);
    let detector = LanguageDetector::new();

    let mut paths: BTreeMap<&str, usize> = BTreeMap::new();
    let mut fast_by_language: BTreeMap<&str, usize> = BTreeMap::new();
    let (mut long_enough, mut reliable, mut both, mut agree) = (0, 0, 0, 0);
    let (mut fast_only, mut fast_only_same_guess, mut lost) = (0, 0, 0);
    let mut differences = Vec::new();
    let mut lost_examples = Vec::new();
    let mut other_guesses = Vec::new();
    for plain in &texts {
        let (answer, path) = detector.detect_traced(plain);
        *paths.entry(path_name(path)).or_default() += 1;
        if path == Path::TooShort {
            continue;
        }
        long_enough += 1;
        let reference = detector.whatlang(plain);
        if reference.is_some() {
            reliable += 1;
            if answer.is_none() {
                lost += 1;
                lost_examples.push(plain.as_str());
            }
        }
        let Some((code, _)) = answer.filter(|_| path == Path::FunctionWords) else {
            continue;
        };
        *fast_by_language.entry(code).or_default() += 1;
        match reference {
            Some((expected, _)) => {
                both += 1;
                if code == expected {
                    agree += 1;
                } else {
                    differences.push(format!("fast {code}, whatlang {expected}: {plain}"));
                }
            }
            None => {
                fast_only += 1;
                match detector.whatlang.detect(plain) {
                    Some(info) if info.lang().code() == code => fast_only_same_guess += 1,
                    guess => other_guesses.push(format!(
                        "fast {code}, whatlang guess {:?}: {plain}",
                        guess.map(|info| info.lang().code())
                    )),
                }
            }
        }
    }

    let fast: usize = fast_by_language.values().sum();
    let asked_whatlang = paths.get("whatlang").copied().unwrap_or(0);
    let pct = |n: usize, of: usize| 100.0 * n as f64 / of.max(1) as f64;
    eprintln!(
        "{} distinct texts, {long_enough} of >= {MIN_CHARS} non-blank chars; paths {paths:?}",
        texts.len()
    );
    eprintln!(
        "fast path answered {fast} ({:.1}% of those), by language {fast_by_language:?}; \
         whatlang asked for {asked_whatlang} ({:.1}%)",
        pct(fast, long_enough),
        pct(asked_whatlang, long_enough)
    );
    eprintln!(
        "where whatlang is reliable and the fast path answers: {agree}/{both} agree ({:.2}%)",
        pct(agree, both)
    );
    eprintln!(
        "fast-path answers where whatlang is not reliable: {fast_only} (whatlang's unreliable \
         guess is the same language for {fast_only_same_guess})"
    );
    eprintln!(
        "whatlang reliable ({reliable} texts) but no answer now: {lost} ({:.2}%)",
        pct(lost, reliable)
    );
    for line in differences.iter().take(10) {
        eprintln!("  differs: {}", truncate(line));
    }
    for line in other_guesses.iter().step_by(other_guesses.len() / 10 + 1) {
        eprintln!(
            "  unreliable whatlang guesses otherwise: {}",
            truncate(line)
        );
    }
    for plain in lost_examples.iter().take(10) {
        eprintln!("  lost: {}", truncate(plain));
    }

    assert!(both >= 1000, "too few texts to judge agreement: {both}");
    assert!(
        agree * 100 >= both * 99,
        "fast path agrees with reliable whatlang on only {agree}/{both}: {differences:#?}"
    );
    // Cost: the fast path must answer most texts and leave little to whatlang.
    assert!(fast * 100 >= long_enough * 85, "{fast}/{long_enough}");
    assert!(
        asked_whatlang * 100 <= long_enough * 10,
        "{asked_whatlang}/{long_enough}"
    );
    // Skipping whatlang on short undecided text must lose few of its reliable answers.
    assert!(
        lost * 100 <= reliable,
        "{lost}/{reliable}: {lost_examples:#?}"
    );
}

fn path_name(path: Path) -> &'static str {
    match path {
        Path::TooShort => "too short",
        Path::FunctionWords => "function words",
        Path::Undecided => "undecided",
        Path::Whatlang => "whatlang",
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(140).collect()
}
