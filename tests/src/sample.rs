//! A seeded generator of Reddit-shaped dump lines, written for redstream: the default input of
//! `make demo` and of the benchmarks. Same seed, same lines, on every machine.
//!
//! The lines mimic Pushshift dumps of several eras (created_utc as string or number, edited as
//! false or a timestamp, HTML-escaped text, `[deleted]`/`[removed]`) and include what a real
//! backfill throws at a pipeline: exact repeats, updated snapshots (new score, edited text,
//! deletion), an older snapshot arriving after a newer one, and malformed lines.

use std::collections::BTreeSet;

use serde_json::{json, Value};

/// A small, fast, deterministic PRNG (SplitMix64); good enough for test data.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

const SUBREDDITS: [&str; 8] = [
    "rustlang_demo",
    "gardening_demo",
    "cooking_demo",
    "bikes_demo",
    "astronomy_demo",
    "boardgames_demo",
    "woodworking_demo",
    "birding_demo",
];

const OPENERS: [&str; 10] = [
    "I think",
    "Honestly",
    "Does anyone know if",
    "Quick question:",
    "In my experience",
    "Not sure, but",
    "Great point, and",
    "I disagree because",
    "Funny enough,",
    "Update:",
];

const MIDDLES: [&str; 12] = [
    "the new release is much faster than the old one",
    "my tomatoes finally ripened after a terrible summer",
    "this recipe needs twice the garlic it says",
    "the chain keeps slipping on the steep hills",
    "Jupiter was bright and clear last night",
    "the expansion makes the game far too long",
    "oak is harder to plane than I expected",
    "a heron stood in the river for an hour",
    "the documentation is confusing and wrong in places",
    "I love how friendly this community is",
    "the price went up again, which is awful",
    "it works fine & I'm happy with it",
];

const CLOSERS: [&str; 8] = [
    ".",
    "!",
    "?",
    " :)",
    ". Thanks for the help.",
    ". Worst purchase ever.",
    ". See https://example.org/guide for details.",
    ". More at http://www.example.com/a?b=1&c=2",
];

/// What a generated sample holds, for checking a run against it.
#[derive(Debug, Default, Clone)]
pub struct SampleStats {
    pub lines: usize,
    pub malformed: usize,
    pub distinct_posts: usize,
    pub distinct_comments: usize,
}

/// Base36, as Reddit writes ids.
fn base36(mut n: u64) -> String {
    const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

fn sentence(rng: &mut Rng) -> String {
    format!(
        "{} {}{}",
        rng.pick(&OPENERS),
        rng.pick(&MIDDLES),
        rng.pick(&CLOSERS)
    )
}

/// Generates `posts` posts with about `comments_per_post` comments each, plus repeats, updates,
/// stale snapshots and two malformed lines. Returns the lines and what they hold.
pub fn generate(seed: u64, posts: usize, comments_per_post: usize) -> (Vec<String>, SampleStats) {
    let mut rng = Rng::new(seed);
    let mut lines: Vec<String> = Vec::new();
    let mut post_ids = BTreeSet::new();
    let mut comment_ids = BTreeSet::new();
    let base_time: i64 = 1_420_070_400;
    let mut next_id: u64 = 36u64.pow(5) + seed % 1000 * 36u64.pow(3);

    for p in 0..posts {
        next_id += 1 + rng.below(5);
        let post_id = base36(next_id);
        let subreddit = *rng.pick(&SUBREDDITS);
        let created = base_time + (p as i64) * 97 + rng.below(60) as i64;
        let retrieved = created + 86_400;
        let is_self = rng.chance(60);
        let mut post = json!({
            "id": post_id,
            "name": format!("t3_{post_id}"),
            "subreddit": subreddit,
            "subreddit_id": format!("t5_{}", base36(1000 + subreddit.len() as u64)),
            "author": format!("demo_user_{}", rng.below(50)),
            "title": sentence(&mut rng),
            "selftext": if is_self { format!("{} {}", sentence(&mut rng), sentence(&mut rng)) } else { String::new() },
            "url": if is_self { format!("https://www.reddit.com/r/{subreddit}/comments/{post_id}/") } else { format!("https://news.example.net/story/{}", rng.below(10_000)) },
            "is_self": is_self,
            "over_18": false,
            "score": rng.below(500) as i64 - 20,
            "num_comments": comments_per_post,
            // Older dumps carry created_utc as a string; newer ones as a number.
            "created_utc": if p % 2 == 0 { Value::from(created.to_string()) } else { Value::from(created) },
            "retrieved_on": retrieved,
            "edited": false,
        });
        post_ids.insert(post_id.clone());
        lines.push(post.to_string());

        // An exact repeat, as overlapping dumps produce.
        if rng.chance(20) {
            lines.push(post.to_string());
        }
        // A later snapshot with a new score, and sometimes the stale one again afterwards.
        if rng.chance(15) {
            let stale = post.to_string();
            post["score"] = Value::from(post["score"].as_i64().unwrap_or(0) + 42);
            post["retrieved_on"] = Value::from(retrieved + 3_600);
            lines.push(post.to_string());
            if rng.chance(50) {
                lines.push(stale);
            }
        }

        for _ in 0..comments_per_post {
            next_id += 1 + rng.below(3);
            let comment_id = base36(next_id + 36u64.pow(6));
            let c_created = created + 60 + rng.below(3_600) as i64;
            let deleted = rng.chance(5);
            let removed = !deleted && rng.chance(3);
            let body = if deleted {
                "[deleted]".to_string()
            } else if removed {
                "[removed]".to_string()
            } else {
                // The 2015 dumps escape HTML entities; keep that quirk in part of the sample.
                let text = format!("{} {}", sentence(&mut rng), sentence(&mut rng));
                if rng.chance(30) {
                    text.replace('&', "&amp;").replace('>', "&gt;")
                } else {
                    text
                }
            };
            let mut comment = json!({
                "id": comment_id,
                "name": format!("t1_{comment_id}"),
                "link_id": format!("t3_{post_id}"),
                "parent_id": format!("t3_{post_id}"),
                "subreddit": subreddit,
                "author": if deleted || removed { "[deleted]".to_string() } else { format!("demo_user_{}", rng.below(50)) },
                "body": body,
                "score": rng.below(100) as i64 - 5,
                "created_utc": c_created.to_string(),
                "retrieved_on": c_created + 86_400,
                "edited": false,
                "controversiality": 0,
            });
            comment_ids.insert(comment_id);
            lines.push(comment.to_string());
            if rng.chance(10) {
                lines.push(comment.to_string());
            }
            // An edit seen in a later snapshot.
            if !deleted && !removed && rng.chance(8) {
                comment["body"] = Value::from(format!(
                    "{} (edit: fixed a typo)",
                    comment["body"].as_str().unwrap_or("")
                ));
                comment["edited"] = Value::from(c_created + 600);
                comment["retrieved_on"] = Value::from(c_created + 90_000);
                lines.push(comment.to_string());
            }
        }
    }

    // Malformed lines: the replay must dead-letter them with their line numbers, and go on.
    let mut malformed = 0;
    if posts > 0 {
        lines.insert(
            lines.len() / 3,
            "{\"id\": \"broken\", \"body\": \"truncated".to_string(),
        );
        lines.insert(
            lines.len() * 2 / 3,
            "{\"kind\": \"t5\", \"data\": {\"display_name\": \"not_an_item\"}}".to_string(),
        );
        malformed = 2;
    }

    let stats = SampleStats {
        lines: lines.len(),
        malformed,
        distinct_posts: post_ids.len(),
        distinct_comments: comment_ids.len(),
    };
    (lines, stats)
}

/// [`generate`], with every item line widened to the field set of the real dumps in
/// `shared/data/reddit/dumps` (the 2015 comment dumps carry 21 fields, submissions 40 and
/// more): the extra fields are ones the pipeline ignores, so this changes what the producer
/// parses and what kcat moves, not what lands in the stores. Same seed, same lines.
pub fn generate_dump_shaped(
    seed: u64,
    posts: usize,
    comments_per_post: usize,
) -> (Vec<String>, SampleStats) {
    let (lines, stats) = generate(seed, posts, comments_per_post);
    let lines = lines
        .into_iter()
        .map(|line| match serde_json::from_str::<Value>(&line) {
            Ok(Value::Object(mut fields)) if fields.contains_key("id") => {
                let score = fields.get("score").cloned().unwrap_or(Value::from(0));
                let is_post = fields.contains_key("title");
                let common = json!({
                    "archived": true,
                    "author_flair_css_class": null,
                    "author_flair_text": null,
                    "distinguished": null,
                    "downs": 0,
                    "gilded": 0,
                    "score_hidden": false,
                    "ups": score,
                });
                if let Value::Object(extra) = common {
                    fields.extend(extra);
                }
                if is_post {
                    let id = fields
                        .get("id")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string();
                    let subreddit = fields
                        .get("subreddit")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string();
                    let extra = json!({
                        "domain": format!("self.{subreddit}"),
                        "permalink": format!("/r/{subreddit}/comments/{id}/"),
                        "thumbnail": "self",
                        "thumbnail_height": null,
                        "thumbnail_width": null,
                        "hide_score": false,
                        "link_flair_css_class": null,
                        "link_flair_text": null,
                        "media": null,
                        "media_embed": {},
                        "secure_media": null,
                        "secure_media_embed": {},
                        "stickied": false,
                        "locked": false,
                        "spoiler": false,
                        "contest_mode": false,
                        "quarantine": false,
                        "num_crossposts": 0,
                        "subreddit_type": "public",
                        "subreddit_name_prefixed": format!("r/{subreddit}"),
                        "whitelist_status": "all_ads",
                        "author_flair_richtext": [],
                        "link_flair_richtext": [],
                    });
                    if let Value::Object(extra) = extra {
                        fields.extend(extra);
                    }
                }
                Value::Object(fields).to_string()
            }
            _ => line,
        })
        .collect();
    (lines, stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_lines() {
        let (a, sa) = generate(7, 20, 3);
        let (b, _) = generate(7, 20, 3);
        assert_eq!(a, b);
        assert_eq!(sa.distinct_posts, 20);
        assert_eq!(sa.distinct_comments, 60);
        assert_eq!(sa.malformed, 2);
        assert!(sa.lines > 20 + 60 + 2, "repeats and updates are present");
    }

    #[test]
    fn dump_shaped_lines_are_wider_and_still_items() {
        let (plain, _) = generate(7, 20, 3);
        let (wide, stats) = generate_dump_shaped(7, 20, 3);
        assert_eq!(plain.len(), wide.len());
        let bytes = |v: &[String]| v.iter().map(String::len).sum::<usize>();
        assert!(bytes(&wide) > bytes(&plain) * 3 / 2, "wider lines");
        let origin = redstream_schemas::SnapshotOrigin {
            fallback_retrieved_utc: 1,
            line_no: 1,
        };
        let items = wide
            .iter()
            .filter(|l| redstream_schemas::normalize_line(l.as_bytes(), &origin).is_ok())
            .count();
        assert_eq!(items, stats.lines - stats.malformed);
    }

    #[test]
    fn base36_matches_reddit_ids() {
        assert_eq!(base36(0), "0");
        assert_eq!(base36(35), "z");
        assert_eq!(base36(36), "10");
    }
}
