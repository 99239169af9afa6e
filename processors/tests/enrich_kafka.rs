//! The enrich binary against the local Kafka (`scripts/stack up`): a real comment, a link post
//! and a deleted comment go into `{prefix}.unique` with an undecodable message; the enriched
//! items must come out on `{prefix}.enriched` with the fields a reader expects, and the garbage
//! must land in `{prefix}.dlq.enrich` with a reason.
//!
//! Set `REDSTREAM_SKIP_STACK_TESTS=1` to skip when no stack is running.

mod support;

use std::time::Duration;

use rdkafka::message::Message;
use redstream_common::topics::{delete_topics, ensure_topics};
use redstream_common::TopicNames;
use redstream_schemas::{
    normalize_line, Codec, ContentState, EnrichedItem, Item, RawComment, RawPost, SnapshotOrigin,
};
use support::{
    header, kafka, key, produce, stack_is_up, topics_config, unique_prefix, wait_for_messages,
    wait_until_caught_up, Record, StageProcess,
};

const BINARY: &str = env!("CARGO_BIN_EXE_redstream-enrich");
const API_COMMENTS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/data/reddit/dumps/api_comments.ndjson"
);

/// A real English comment with a markdown link in it.
fn real_comment_with_link() -> RawComment {
    let content = std::fs::read_to_string(API_COMMENTS)
        .unwrap_or_else(|e| panic!("cannot read {API_COMMENTS}: {e}"));
    for (i, line) in content.lines().enumerate() {
        let origin = SnapshotOrigin {
            fallback_retrieved_utc: 1_700_000_000,
            line_no: i as u64 + 1,
        };
        if let Ok(Item::Comment(c)) = normalize_line(line.as_bytes(), &origin) {
            if c.state == ContentState::Present
                && c.body.contains("](https://")
                && c.body.len() > 200
                && c.body.is_ascii()
            {
                return c;
            }
        }
    }
    panic!("no comment with a markdown link in {API_COMMENTS}");
}

fn link_post() -> RawPost {
    RawPost {
        fullname: "t3_hsu9vy".into(),
        id: "hsu9vy".into(),
        subreddit: "rust".into(),
        subreddit_id: Some("t5_2s7lj".into()),
        author: Some("user_0a1b2c3d4e".into()),
        author_fullname: Some("t2_0a1b2c3d4e".into()),
        title: "Announcing Rust 1.45.0 &amp; it is **great**".into(),
        selftext: String::new(),
        url: Some("https://blog.rust-lang.org/2020/07/16/Rust-1.45.0.html".into()),
        domain: Some("blog.rust-lang.org".into()),
        permalink: Some("/r/rust/comments/hsu9vy/announcing_rust_1450/".into()),
        is_self: false,
        over_18: false,
        link_flair_text: None,
        num_comments: 101,
        upvote_ratio: Some(0.99),
        crosspost_parent: None,
        score: 812,
        distinguished: None,
        stickied: false,
        created_utc: 1_594_915_200,
        edited_utc: None,
        state: ContentState::Present,
        retrieved_utc: 1_594_920_000,
        version: 1_594_920_000_000_003,
    }
}

fn encode(codec: &Codec, item: Item, change: &str) -> Record {
    let mut buf = Vec::new();
    codec.encode_item(&item, &mut buf).expect("encodes");
    let mut record = Record::keyed(item.fullname(), buf);
    record
        .headers
        .push(("redstream.change".into(), change.into()));
    record
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enriches_items_and_dead_letters_garbage() {
    let kafka = kafka();
    if !stack_is_up("enrich_kafka", &kafka) {
        return;
    }
    let prefix = unique_prefix("enrich");
    let topics = topics_config(&prefix);
    let names = TopicNames::new(&prefix);
    ensure_topics(&kafka, &topics).await.expect("topics");
    let codec = Codec::new().expect("schemas");

    let comment = real_comment_with_link();
    let post = link_post();
    let mut deleted = comment.clone();
    deleted.fullname = "t1_d7ltvl0".into();
    deleted.id = "d7ltvl0".into();
    deleted.body = "[deleted]".into();
    deleted.author = None;
    deleted.author_fullname = None;
    deleted.state = ContentState::Deleted;

    let input = vec![
        encode(&codec, Item::Comment(comment.clone()), "new"),
        encode(&codec, Item::Post(post.clone()), "update"),
        encode(&codec, Item::Comment(deleted.clone()), "update"),
        Record::keyed(
            "t3_garbage",
            vec![0xC3, 0x01, 9, 9, 9, 9, 9, 9, 9, 9, 1, 2, 3],
        ),
    ];
    produce(&kafka, &names.unique, &input).await;

    let mut stage = StageProcess::start(BINARY, "enrich", &kafka, &prefix, &[]);
    let enriched = wait_for_messages(&kafka, &names.enriched, 3, Duration::from_secs(90));
    stage.assert_running();
    wait_until_caught_up(
        &kafka,
        &format!("{prefix}.enrich"),
        &names.unique,
        Duration::from_secs(60),
    );
    assert_eq!(enriched.len(), 3);

    let find = |fullname: &str| {
        let m = enriched
            .iter()
            .find(|m| key(m) == fullname)
            .unwrap_or_else(|| panic!("{fullname} is not on {}", names.enriched));
        let item = codec
            .decode_enriched(m.payload().unwrap_or_default())
            .expect("enriched Avro");
        (item, header(m, "redstream.change"))
    };

    // The real comment: markdown gone, its links found, English, created_at in millis.
    let (item, change) = find(&comment.fullname);
    assert_eq!(change.as_deref(), Some("new"));
    let EnrichedItem::Comment(out) = &item else {
        panic!("a comment stays a comment")
    };
    assert_eq!(out.comment, comment, "the raw item is carried unchanged");
    let e = &out.enrichment;
    assert!(
        !e.text.is_empty() && !e.text.contains("](http"),
        "{}",
        e.text
    );
    assert!(
        !e.text.contains('\n') && !e.text.contains("  "),
        "{}",
        e.text
    );
    assert!(e.word_count > 20, "{}", e.word_count);
    assert!(!e.links.is_empty(), "{}", comment.body);
    assert!(e.links.iter().all(|l| comment.body.contains(l.as_str())));
    assert!(e.links.iter().all(|l| l.starts_with("http")));
    assert!(!e.domains.is_empty());
    for domain in &e.domains {
        assert!(!domain.starts_with("www.") && domain.to_lowercase() == *domain);
        assert!(e
            .links
            .iter()
            .any(|l| l.to_lowercase().contains(domain.as_str())));
    }
    assert_eq!(e.language.as_deref(), Some("eng"), "{}", e.text);
    assert!((-1.0..=1.0).contains(&e.sentiment));
    assert_eq!(e.created_at, comment.created_utc * 1000);

    // The link post: exact fields.
    let (item, change) = find(&post.fullname);
    assert_eq!(change.as_deref(), Some("update"));
    let e = item.enrichment();
    assert_eq!(e.text, "Announcing Rust 1.45.0 & it is great");
    assert_eq!(e.word_count, 6, "'&' is not a word");
    assert_eq!(
        e.links,
        vec!["https://blog.rust-lang.org/2020/07/16/Rust-1.45.0.html"]
    );
    assert_eq!(e.domains, vec!["blog.rust-lang.org"]);
    assert!(e.sentiment > 0.0, "'great' is positive: {}", e.sentiment);
    assert_eq!(e.created_at, 1_594_915_200_000);

    // The deleted comment: nothing to read, nothing to link.
    let (item, _) = find(&deleted.fullname);
    let e = item.enrichment();
    assert_eq!(e.text, "");
    assert_eq!(e.word_count, 0);
    assert!(e.links.is_empty() && e.domains.is_empty());
    assert_eq!(e.language, None);

    // The garbage: dead-lettered with its reason and origin, bytes unchanged.
    let dlq = wait_for_messages(&kafka, &names.dlq("enrich"), 1, Duration::from_secs(30));
    assert_eq!(dlq.len(), 1);
    assert_eq!(key(&dlq[0]), "t3_garbage");
    assert_eq!(
        header(&dlq[0], "redstream.reason.kind").as_deref(),
        Some("unknown_schema")
    );
    assert!(header(&dlq[0], "redstream.reason")
        .unwrap_or_default()
        .contains("unknown schema"));
    assert_eq!(
        header(&dlq[0], "redstream.source.topic").as_deref(),
        Some(names.unique.as_str())
    );
    assert_eq!(dlq[0].payload(), Some(&input[3].payload[..]));

    let status = stage.stop();
    assert!(status.success(), "graceful stop exits 0, got {status}");
    delete_topics(&kafka, &topics).await.expect("cleanup");
}
