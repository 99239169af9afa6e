//! The keyspace and the four tables, created at start when missing (`IF NOT EXISTS`, so that
//! several sink processes can start at once and an existing schema is never touched).
//!
//! - `posts` and `comments`: one row per item, by fullname (look-ups by id);
//! - `posts_by_subreddit`: partition `(subreddit, day)` so that one busy subreddit does not
//!   grow one unbounded partition, newest first inside a day;
//! - `comments_by_post`: partition `link_id`, oldest first (a thread in reading order).
//!
//! Every table holds every column, so each query is served by one table. Lists are `frozen`:
//! a frozen list is one cell, so "the higher write timestamp wins" applies to it as a whole,
//! where a non-frozen list would merge elements of an older and a newer version.

use anyhow::Context;
use scylla::client::session::Session;

/// Columns of the post tables, in CQL types. `day` is the `created_utc` date (UTC).
pub const POST_COLUMNS: &[(&str, &str)] = &[
    ("fullname", "text"),
    ("id", "text"),
    ("subreddit", "text"),
    ("day", "date"),
    ("subreddit_id", "text"),
    ("author", "text"),
    ("author_fullname", "text"),
    ("title", "text"),
    ("selftext", "text"),
    ("url", "text"),
    ("domain", "text"),
    ("permalink", "text"),
    ("is_self", "boolean"),
    ("over_18", "boolean"),
    ("link_flair_text", "text"),
    ("num_comments", "bigint"),
    ("upvote_ratio", "double"),
    ("crosspost_parent", "text"),
    ("score", "bigint"),
    ("distinguished", "text"),
    ("stickied", "boolean"),
    ("created_utc", "bigint"),
    ("edited_utc", "bigint"),
    ("state", "text"),
    ("retrieved_utc", "bigint"),
    ("version", "bigint"),
    ("language", "text"),
    ("language_confidence", "double"),
    ("sentiment", "double"),
    ("links", "frozen<list<text>>"),
    ("domains", "frozen<list<text>>"),
    ("text", "text"),
    ("word_count", "bigint"),
    ("created_at", "timestamp"),
];

/// Columns of the comment tables, in CQL types.
pub const COMMENT_COLUMNS: &[(&str, &str)] = &[
    ("fullname", "text"),
    ("id", "text"),
    ("subreddit", "text"),
    ("day", "date"),
    ("subreddit_id", "text"),
    ("author", "text"),
    ("author_fullname", "text"),
    ("body", "text"),
    ("link_id", "text"),
    ("parent_id", "text"),
    ("is_submitter", "boolean"),
    ("controversiality", "int"),
    ("score", "bigint"),
    ("distinguished", "text"),
    ("stickied", "boolean"),
    ("created_utc", "bigint"),
    ("edited_utc", "bigint"),
    ("state", "text"),
    ("retrieved_utc", "bigint"),
    ("version", "bigint"),
    ("language", "text"),
    ("language_confidence", "double"),
    ("sentiment", "double"),
    ("links", "frozen<list<text>>"),
    ("domains", "frozen<list<text>>"),
    ("text", "text"),
    ("word_count", "bigint"),
    ("created_at", "timestamp"),
];

/// One table: its name, columns and the tail of its `CREATE TABLE` (keys and options).
pub struct Table {
    pub name: &'static str,
    pub columns: &'static [(&'static str, &'static str)],
    pub keys: &'static str,
}

pub const TABLES: [Table; 4] = [
    Table {
        name: "posts",
        columns: POST_COLUMNS,
        keys: "PRIMARY KEY (fullname))",
    },
    Table {
        name: "posts_by_subreddit",
        columns: POST_COLUMNS,
        keys: "PRIMARY KEY ((subreddit, day), created_utc, fullname)) \
               WITH CLUSTERING ORDER BY (created_utc DESC, fullname ASC)",
    },
    Table {
        name: "comments",
        columns: COMMENT_COLUMNS,
        keys: "PRIMARY KEY (fullname))",
    },
    Table {
        name: "comments_by_post",
        columns: COMMENT_COLUMNS,
        keys: "PRIMARY KEY (link_id, created_utc, fullname)) \
               WITH CLUSTERING ORDER BY (created_utc ASC, fullname ASC)",
    },
];

pub fn create_keyspace_cql(keyspace: &str, replication_factor: u32) -> String {
    format!(
        "CREATE KEYSPACE IF NOT EXISTS {keyspace} WITH replication = \
         {{'class': 'SimpleStrategy', 'replication_factor': {replication_factor}}}"
    )
}

pub fn create_table_cql(keyspace: &str, table: &Table) -> String {
    let columns: Vec<String> = table
        .columns
        .iter()
        .map(|(name, ty)| format!("{name} {ty}"))
        .collect();
    format!(
        "CREATE TABLE IF NOT EXISTS {keyspace}.{} ({}, {}",
        table.name,
        columns.join(", "),
        table.keys
    )
}

/// The insert of one row, every column bound by name, the write timestamp last. The
/// timestamp is the item's version: Cassandra keeps, cell by cell, the value written with the
/// highest timestamp, so an older version can never replace a newer one, and writing the same
/// version again changes nothing.
pub fn insert_cql(keyspace: &str, table: &Table) -> String {
    let names: Vec<&str> = table.columns.iter().map(|(name, _)| *name).collect();
    let markers: Vec<String> = names.iter().map(|n| format!(":{n}")).collect();
    format!(
        "INSERT INTO {keyspace}.{} ({}) VALUES ({}) USING TIMESTAMP :write_ts",
        table.name,
        names.join(", "),
        markers.join(", ")
    )
}

/// Creates the keyspace and the tables that are missing, then waits until every node agrees
/// on the schema (inserts prepared before that may fail on a node that lags).
pub async fn ensure_schema(
    session: &Session,
    keyspace: &str,
    replication_factor: u32,
    nodes: &str,
) -> anyhow::Result<()> {
    session
        .query_unpaged(create_keyspace_cql(keyspace, replication_factor), ())
        .await
        .with_context(|| {
            format!(
                "cannot create keyspace {keyspace} on {nodes}; create it by hand or grant \
                 CREATE on ALL KEYSPACES to the sink's user"
            )
        })?;
    for table in &TABLES {
        session
            .query_unpaged(create_table_cql(keyspace, table), ())
            .await
            .with_context(|| {
                format!(
                    "cannot create table {keyspace}.{} on {nodes}; if it exists with other \
                     columns, drop it or use another scylla.keyspace",
                    table.name
                )
            })?;
    }
    session.await_schema_agreement().await.with_context(|| {
        format!("the nodes at {nodes} do not agree on the schema of keyspace {keyspace}")
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cql_names_the_keyspace_and_binds_the_timestamp() {
        let insert = insert_cql("ks", &TABLES[1]);
        assert!(insert.starts_with("INSERT INTO ks.posts_by_subreddit (fullname, id,"));
        assert!(insert.ends_with("USING TIMESTAMP :write_ts"));
        assert_eq!(
            insert.matches(':').count(),
            POST_COLUMNS.len() + 1,
            "{insert}"
        );

        let create = create_table_cql("ks", &TABLES[3]);
        assert!(create.contains("links frozen<list<text>>"), "{create}");
        assert!(create.contains("PRIMARY KEY (link_id, created_utc, fullname))"));
    }

    #[test]
    fn both_item_kinds_share_the_snapshot_and_enrichment_columns() {
        for name in [
            "version",
            "retrieved_utc",
            "created_at",
            "links",
            "language",
            "day",
        ] {
            assert!(POST_COLUMNS.iter().any(|(n, _)| *n == name), "{name}");
            assert!(COMMENT_COLUMNS.iter().any(|(n, _)| *n == name), "{name}");
        }
    }
}
