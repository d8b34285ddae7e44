//! Snapshot and period replace semantics, history, time travel, schema evolution.

use std::sync::Arc;

use arrow::array::{Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use sannong_catalog::{CatalogError, CommitMode, TableAt, TableName};

use crate::support::*;

fn name(s: &str) -> TableName {
    s.parse().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn snapshot_commits_replace_the_whole_table_and_keep_history() {
    let (_dir, catalog) = temp_catalog().await;
    let t = name("admin.villages");
    let first = catalog
        .commit(
            &t,
            schema(),
            vec![batch("a", 3)],
            CommitMode::Snapshot,
            &submission("S1"),
        )
        .await
        .unwrap();
    assert_eq!((first.version, first.rows), (0, 3));
    let second = catalog
        .commit(
            &t,
            schema(),
            vec![batch("b", 2)],
            CommitMode::Snapshot,
            &submission("S2"),
        )
        .await
        .unwrap();
    assert_eq!((second.version, second.rows), (1, 2));

    assert_eq!(
        scalar(&catalog, "SELECT count(*) FROM admin.villages").await,
        "2"
    );
    assert_eq!(
        scalar(&catalog, "SELECT min(id) FROM admin.villages").await,
        "b0",
        "only the second snapshot's rows are current"
    );
    assert_eq!(
        scalar(
            &catalog,
            "SELECT count(*) FROM table_at('admin.villages', 0)"
        )
        .await,
        "3",
        "version 0 stays readable"
    );
    assert_eq!(
        scalar(
            &catalog,
            "SELECT DISTINCT _submission_id FROM admin.villages"
        )
        .await,
        "S2"
    );

    let history = catalog.history(&t).await.unwrap();
    let ids: Vec<_> = history
        .iter()
        .map(|v| v.submission.as_ref().unwrap().submission_id.clone())
        .collect();
    assert_eq!(ids, ["S1", "S2"]);
    assert_eq!(history[1].rows_added, 2);
    assert_eq!(history[1].mode, Some(CommitMode::Snapshot));

    let summary = catalog.summary(&t).await.unwrap();
    assert_eq!(
        (summary.version, summary.rows, summary.mode),
        (1, 2, "snapshot")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn period_commits_replace_only_their_period() {
    let (_dir, catalog) = temp_catalog().await;
    let t = name("logistics.parcels");
    let period = |p: &str| CommitMode::Period(p.parse().unwrap());
    catalog
        .commit(
            &t,
            schema(),
            vec![batch("jan", 3)],
            period("2021-01"),
            &submission("S1"),
        )
        .await
        .unwrap();
    catalog
        .commit(
            &t,
            schema(),
            vec![batch("feb", 2)],
            period("2021-02"),
            &submission("S2"),
        )
        .await
        .unwrap();
    // A corrected January file replaces January only.
    catalog
        .commit(
            &t,
            schema(),
            vec![batch("jan-fixed", 1)],
            period("2021-01"),
            &submission("S3"),
        )
        .await
        .unwrap();
    let rows = sql(
        &catalog,
        "SELECT _period, count(*) AS n, min(id) AS first FROM logistics.parcels GROUP BY _period ORDER BY _period",
    )
    .await;
    let text = pretty(&rows);
    assert!(text.contains("| 2021-01 | 1 | jan-fixed0 |"), "{text}");
    assert!(text.contains("| 2021-02 | 2 | feb0       |"), "{text}");
    assert_eq!(
        scalar(
            &catalog,
            "SELECT count(*) FROM table_at('logistics.parcels', 1)"
        )
        .await,
        "5"
    );
    // An empty upload for a period (no activity) clears that period.
    catalog
        .commit(&t, schema(), vec![], period("2021-02"), &submission("S4"))
        .await
        .unwrap();
    assert_eq!(
        scalar(&catalog, "SELECT count(*) FROM logistics.parcels").await,
        "1"
    );
    assert_eq!(catalog.summary(&t).await.unwrap().mode, "period");
}

#[tokio::test(flavor = "multi_thread")]
async fn loading_missing_tables_and_versions_is_a_clear_error() {
    let (_dir, catalog) = temp_catalog().await;
    let t = name("admin.villages");
    match catalog.load(&t, TableAt::Latest).await {
        Err(CatalogError::TableNotFound { table }) => assert_eq!(table, "admin.villages"),
        other => panic!("expected TableNotFound, got {other:?}"),
    }
    catalog
        .commit(
            &t,
            schema(),
            vec![batch("a", 1)],
            CommitMode::Snapshot,
            &submission("S1"),
        )
        .await
        .unwrap();
    let err = catalog.load(&t, TableAt::Version(7)).await.unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("admin.villages has no version 7"),
        "{message}"
    );
    assert!(message.contains("versions 0"), "{message}");
}

#[tokio::test(flavor = "multi_thread")]
async fn schema_evolution_adds_nullable_columns_only() {
    let (_dir, catalog) = temp_catalog().await;
    let t = name("finance.budget");
    catalog
        .commit(
            &t,
            schema(),
            vec![batch("a", 2)],
            CommitMode::Snapshot,
            &submission("S1"),
        )
        .await
        .unwrap();
    let wider = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("amount", DataType::Int64, true),
        Field::new("note", DataType::Utf8, true),
    ]));
    let batch = RecordBatch::try_new(
        wider.clone(),
        vec![
            Arc::new(StringArray::from(vec!["x"])),
            Arc::new(Int64Array::from(vec![1])),
            Arc::new(StringArray::from(vec!["new"])),
        ],
    )
    .unwrap();
    catalog
        .commit(
            &t,
            wider,
            vec![batch],
            CommitMode::Snapshot,
            &submission("S2"),
        )
        .await
        .unwrap();
    assert_eq!(
        scalar(&catalog, "SELECT note FROM finance.budget").await,
        "new"
    );
    assert_eq!(
        scalar(
            &catalog,
            "SELECT count(*) FROM table_at('finance.budget', 0)"
        )
        .await,
        "2"
    );

    let retyped = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("amount", DataType::Utf8, true),
        Field::new("note", DataType::Utf8, true),
    ]));
    let batch = RecordBatch::try_new(
        retyped.clone(),
        vec![
            Arc::new(StringArray::from(vec!["x"])),
            Arc::new(StringArray::from(vec!["1"])),
            Arc::new(StringArray::from(vec!["n"])),
        ],
    )
    .unwrap();
    let err = catalog
        .commit(
            &t,
            retyped,
            vec![batch],
            CommitMode::Snapshot,
            &submission("S3"),
        )
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("column 'amount' is Int64 in the table but Utf8"),
        "{err}"
    );
    assert_eq!(
        catalog.summary(&t).await.unwrap().version,
        1,
        "nothing was written"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn tables_are_listed_by_name() {
    let (_dir, catalog) = temp_catalog().await;
    for t in ["logistics.stations", "admin.villages", "logistics.parcels"] {
        catalog
            .commit(
                &name(t),
                schema(),
                vec![batch("a", 1)],
                CommitMode::Snapshot,
                &submission(t),
            )
            .await
            .unwrap();
    }
    let names: Vec<String> = catalog
        .list_tables()
        .await
        .unwrap()
        .iter()
        .map(|t| t.to_string())
        .collect();
    assert_eq!(
        names,
        ["admin.villages", "logistics.parcels", "logistics.stations"]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_large_commit_is_written_one_file_per_core_with_statistics() {
    let (dir, catalog) = temp_catalog().await;
    let t = name("logistics.parcels");
    let period = |p: &str| CommitMode::Period(p.parse().unwrap());
    commit_period(&catalog, &t, "2021-01", ("jan", 3), "S1").await;
    // 300,000 rows in five batches, each with ids of its own.
    let february: Vec<RecordBatch> = (0..5).map(|b| batch(&format!("feb{b}-"), 60_000)).collect();
    catalog
        .commit(&t, schema(), february, period("2021-02"), &submission("S2"))
        .await
        .unwrap();
    let cores = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(2) as u64;

    let summary = catalog.summary(&t).await.unwrap();
    assert_eq!(summary.rows, 300_003);
    assert_eq!(summary.files, 1 + cores);
    let history = catalog.history(&t).await.unwrap();
    let last = history.last().unwrap();
    assert_eq!(last.operation, "WRITE");
    assert_eq!(
        last.rows_added, 300_000,
        "the files' statistics count their rows"
    );
    assert_eq!((last.files_added, last.files_removed), (cores, 0));
    // A writer holds one row group's pages at a time: groups of at most 131,072 rows.
    let groups = row_group_rows(&dir.path().join("tables/logistics/parcels/_period=2021-02"));
    assert_eq!(groups.iter().sum::<i64>(), 300_000);
    assert!(
        groups.len() as u64 > cores && groups.iter().all(|&rows| rows <= 131_072),
        "{groups:?}"
    );
    assert_eq!(
        last.submission
            .as_ref()
            .map(|s| (s.submission_id.as_str(), s.rows)),
        Some(("S2", 300_000))
    );
    assert_eq!(
        text(
            &catalog,
            "SELECT _period, count(*) AS n, count(DISTINCT id) AS ids, min(amount) AS lo, \
             max(amount) AS hi, min(_submission_id) AS s FROM logistics.parcels \
             GROUP BY _period ORDER BY _period"
        )
        .await,
        "+---------+--------+--------+----+-------+----+\n\
         | _period | n      | ids    | lo | hi    | s  |\n\
         +---------+--------+--------+----+-------+----+\n\
         | 2021-01 | 3      | 3      | 0  | 2     | S1 |\n\
         | 2021-02 | 300000 | 300000 | 0  | 59999 | S2 |\n\
         +---------+--------+--------+----+-------+----+"
    );

    // A corrected February replaces every file February was written as, and only those.
    commit_period(&catalog, &t, "2021-02", ("feb-fixed", 1), "S3").await;
    let last = catalog.history(&t).await.unwrap().pop().unwrap();
    assert_eq!((last.files_added, last.files_removed), (1, cores));
    assert_eq!(
        text(&catalog, PARCELS_BY_PERIOD).await,
        "+---------+---+------------+----+\n\
         | _period | n | first      | s  |\n\
         +---------+---+------------+----+\n\
         | 2021-01 | 3 | jan0       | S1 |\n\
         | 2021-02 | 1 | feb-fixed0 | S3 |\n\
         +---------+---+------------+----+"
    );
    assert_eq!(
        scalar(
            &catalog,
            "SELECT count(*) FROM table_at('logistics.parcels', 1)"
        )
        .await,
        "300003"
    );
}

/// The rows of each row group of each data file in `dir`.
fn row_group_rows(dir: &std::path::Path) -> Vec<i64> {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "parquet"))
        .flat_map(|path| {
            let reader = SerializedFileReader::new(std::fs::File::open(path).unwrap()).unwrap();
            let metadata = reader.metadata();
            (0..metadata.num_row_groups())
                .map(|g| metadata.row_group(g).num_rows())
                .collect::<Vec<_>>()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_checkpoint_is_written_every_ten_commits() {
    let (dir, catalog) = temp_catalog().await;
    let t = name("logistics.events");
    let log = dir.path().join("tables/logistics/events/_delta_log");
    for i in 0..12 {
        catalog
            .commit(
                &t,
                schema(),
                vec![batch(&format!("u{i}-"), 1)],
                CommitMode::Append,
                &submission(&format!("S{i}")),
            )
            .await
            .unwrap();
    }
    let checkpoints: Vec<String> = std::fs::read_dir(&log)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|f| f.contains("checkpoint.parquet"))
        .collect();
    assert_eq!(checkpoints, ["00000000000000000009.checkpoint.parquet"]);
    // Read from the checkpoint and the two commits after it, by a fresh catalog too.
    let reopened = open(dir.path()).await;
    assert_eq!(
        scalar(&reopened, "SELECT count(*) FROM logistics.events").await,
        "12"
    );
    assert_eq!(reopened.history(&t).await.unwrap().len(), 12);
}

/// The data files in `dir` (none when it does not exist).
fn parquet_files(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |entries| {
        entries
            .filter(|entry| {
                let path = entry.as_ref().unwrap().path();
                path.extension().is_some_and(|e| e == "parquet")
            })
            .count()
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn a_commit_in_parts_is_read_only_once_committed_and_gone_when_discarded() {
    let (dir, catalog) = temp_catalog().await;
    let t = name("logistics.parcels");
    let period = |p: &str| CommitMode::Period(p.parse().unwrap());
    let files_of = |p: &str| {
        parquet_files(
            &dir.path()
                .join(format!("tables/logistics/parcels/_period={p}")),
        )
    };
    commit_period(&catalog, &t, "2021-01", ("jan", 3), "S1").await;

    // Written part by part, read by nobody until committed.
    let mut february = catalog
        .begin_commit(&t, schema(), period("2021-02"), "S2")
        .await
        .unwrap();
    assert!(february.writes_ahead());
    february.write(vec![batch("feb", 2)]).await.unwrap();
    february.write(vec![]).await.unwrap();
    february
        .write(vec![batch("feb-b", 3), batch("feb-c", 1)])
        .await
        .unwrap();
    assert_eq!(february.rows(), 6);
    assert_eq!(files_of("2021-02"), 2, "one file per part with rows");
    assert_eq!(
        scalar(&catalog, "SELECT count(*) FROM logistics.parcels").await,
        "3"
    );
    assert_eq!(catalog.history(&t).await.unwrap().len(), 1);
    // Another writer commits first; the parts are committed after it, as written.
    commit_period(&catalog, &t, "2021-03", ("mar", 4), "S3").await;
    let committed = catalog
        .commit_parts(february, &submission("S2"))
        .await
        .unwrap();
    assert_eq!(
        (committed.version, committed.rows, committed.attempts),
        (2, 6, 1)
    );
    assert_eq!(
        text(&catalog, PARCELS_BY_PERIOD).await,
        "+---------+---+--------+----+\n\
         | _period | n | first  | s  |\n\
         +---------+---+--------+----+\n\
         | 2021-01 | 3 | jan0   | S1 |\n\
         | 2021-02 | 6 | feb-b0 | S2 |\n\
         | 2021-03 | 4 | mar0   | S3 |\n\
         +---------+---+--------+----+"
    );
    let last = catalog.history(&t).await.unwrap().pop().unwrap();
    assert_eq!(
        last.submission
            .as_ref()
            .map(|s| (s.submission_id.as_str(), s.rows)),
        Some(("S2", 6))
    );

    // Discarded: the files are gone, the table as it was.
    let mut april = catalog
        .begin_commit(&t, schema(), period("2021-04"), "S4")
        .await
        .unwrap();
    april.write(vec![batch("apr", 5)]).await.unwrap();
    assert_eq!(files_of("2021-04"), 1);
    catalog.discard_parts(april).await;
    assert_eq!(files_of("2021-04"), 0);
    // Committed under another submission than it was begun for: refused, files gone.
    let mut april = catalog
        .begin_commit(&t, schema(), period("2021-04"), "S5")
        .await
        .unwrap();
    april.write(vec![batch("apr", 5)]).await.unwrap();
    let refused = catalog.commit_parts(april, &submission("S6")).await;
    assert!(
        matches!(&refused, Err(CatalogError::Internal(m)) if m.contains("S5")),
        "{refused:?}"
    );
    assert_eq!(files_of("2021-04"), 0);
    assert_eq!(
        scalar(&catalog, "SELECT count(*) FROM logistics.parcels").await,
        "13"
    );
    assert_eq!(catalog.history(&t).await.unwrap().len(), 3);

    // A table that does not exist yet: the parts are held; the commit creates it.
    let towns = name("admin.towns");
    let mut first = catalog
        .begin_commit(&towns, schema(), CommitMode::Snapshot, "S7")
        .await
        .unwrap();
    assert!(!first.writes_ahead());
    first.write(vec![batch("t", 2)]).await.unwrap();
    first.write(vec![batch("u", 1)]).await.unwrap();
    assert!(!dir.path().join("tables/admin/towns").exists());
    let committed = catalog
        .commit_parts(first, &submission("S7"))
        .await
        .unwrap();
    assert_eq!((committed.version, committed.rows), (0, 3));
    assert_eq!(
        scalar(&catalog, "SELECT count(*) FROM admin.towns").await,
        "3"
    );
}
