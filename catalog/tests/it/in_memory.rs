//! Tables kept decoded in memory: later queries scan memory (the first already, in a
//! session that reads its tables many times), and every commit is seen.

use std::sync::Arc;

use sannong_catalog::sql::{KeepWhen, table_memory_use};
use sannong_catalog::{Catalog, TableName};

use crate::support::{
    PARCELS_BY_PERIOD, commit_period, pretty, scalar, session, session_keeping, temp_catalog, text,
};

/// A catalog whose `logistics.parcels` holds January (3 rows) and February (2 rows).
async fn january_and_february() -> (tempfile::TempDir, Arc<Catalog>, TableName) {
    let (dir, catalog) = temp_catalog().await;
    let t = "logistics.parcels".parse::<TableName>().unwrap();
    commit_period(&catalog, &t, "2021-01", ("jan", 3), "S1").await;
    commit_period(&catalog, &t, "2021-02", ("feb", 2), "S2").await;
    (dir, catalog, t)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_table_read_again_is_scanned_from_memory_and_a_commit_is_seen_at_once() {
    let (_dir, catalog, t) = january_and_february().await;
    let before = table_memory_use();
    // The first read of a version reads its files; the second decodes and keeps it.
    let plan = text(&catalog, "EXPLAIN SELECT id FROM logistics.parcels").await;
    assert!(!plan.contains("partition_sizes"), "{plan}");
    assert_eq!(
        scalar(&catalog, "SELECT count(*) FROM logistics.parcels").await,
        "5"
    );
    let plan = text(
        &catalog,
        "EXPLAIN SELECT id FROM logistics.parcels WHERE _period = '2021-02'",
    )
    .await;
    assert!(
        plan.contains("partition_sizes"),
        "the third query scans the decoded arrays, not the files: {plan}"
    );
    let after = table_memory_use();
    assert!(
        after.loads > before.loads && after.hits > before.hits,
        "{before:?} → {after:?}"
    );
    assert_eq!(
        scalar(&catalog, "SELECT string_agg(id, ',' ORDER BY id) FROM logistics.parcels WHERE _period = '2021-02'").await,
        "feb0,feb1"
    );

    // A corrected January replaces January: the next query reads the new version.
    commit_period(&catalog, &t, "2021-01", ("jan-fixed", 1), "S3").await;
    // Read twice: from the new version's files, then from memory.
    for _ in 0..2 {
        let rows = text(&catalog, PARCELS_BY_PERIOD).await;
        assert!(rows.contains("| 2021-01 | 1 | jan-fixed0 | S3 |"), "{rows}");
        assert!(rows.contains("| 2021-02 | 2 | feb0       | S2 |"), "{rows}");
    }
    // Earlier versions are still read from their files.
    let earlier = "SELECT min(id) FROM table_at('logistics.parcels', 1)";
    assert_eq!(scalar(&catalog, earlier).await, "feb0");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_session_that_reads_its_tables_many_times_decodes_them_at_the_first_read() {
    let (_dir, catalog, t) = january_and_february().await;
    let query = "EXPLAIN SELECT id FROM logistics.parcels";
    let explain = |ctx: datafusion::prelude::SessionContext| async move {
        pretty(&ctx.sql(query).await.unwrap().collect().await.unwrap())
    };
    // The first read of a version in such a session already scans memory…
    let plan = explain(session_keeping(&catalog, KeepWhen::FirstRead).await).await;
    assert!(plan.contains("partition_sizes"), "{plan}");
    // …and later sessions find it there, whatever they ask for.
    let plan = explain(session(&catalog).await).await;
    assert!(plan.contains("partition_sizes"), "{plan}");
    // A new version is read from its files by an ordinary session, first.
    commit_period(&catalog, &t, "2021-03", ("mar", 1), "S3").await;
    let plan = explain(session(&catalog).await).await;
    assert!(!plan.contains("partition_sizes"), "{plan}");
    let rows = pretty(
        &session_keeping(&catalog, KeepWhen::FirstRead)
            .await
            .sql("SELECT count(*) AS n FROM logistics.parcels")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap(),
    );
    assert!(rows.contains("| 6 |"), "{rows}");
}

#[tokio::test(flavor = "multi_thread")]
async fn filters_on_columns_read_from_files_skip_files_but_are_not_evaluated_inside_the_decoder() {
    let (_dir, catalog, _t) = january_and_february().await;
    // A first read (an ordinary session) reads the files.
    let query = "SELECT id FROM logistics.parcels WHERE id >= 'feb1'";
    let plan = text(&catalog, &format!("EXPLAIN ANALYZE {query}")).await;
    let line = |operator: &str| {
        plan.lines()
            .find(|line| line.contains(operator))
            .unwrap_or_else(|| panic!("no {operator} in {plan}"))
            .to_owned()
    };
    let decoded = line("DataSourceExec");
    assert!(
        decoded.contains("output_rows=5,") && decoded.contains("pushdown_rows_pruned=0,"),
        "the Parquet decoder returns every row of the files it reads: {decoded}"
    );
    assert!(
        line("FilterExec").contains("output_rows=4,"),
        "the filter after the scan keeps the rows asked for: {plan}"
    );
    assert_eq!(
        scalar(
            &catalog,
            "SELECT count(*) FROM logistics.parcels WHERE id >= 'feb1'"
        )
        .await,
        "4"
    );
}
