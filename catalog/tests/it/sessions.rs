//! One session, many queries at once (as the scorecard plans its KPIs): each table's
//! log is read once for all of them, and all see the same version.
//!
//! Each phase opens the data location afresh, as a one-shot command does, so no table
//! version is in memory yet.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use sannong_catalog::{Catalog, DataLocation, TableName};

use crate::faults::FailingStore;
use crate::support::{commit_period, pretty, session};

#[tokio::test(flavor = "multi_thread")]
async fn queries_of_one_session_asking_at_once_load_each_table_once() {
    let dir = tempfile::tempdir().unwrap();
    let location = DataLocation::parse(dir.path().to_str().unwrap()).unwrap();
    let store = Arc::new(FailingStore::new(false, false));
    let fresh = || Arc::new(Catalog::with_object_store(location.clone(), store.clone()));
    let catalog = fresh();
    let t = "logistics.parcels".parse::<TableName>().unwrap();
    for (month, id) in [("2021-01", "S1"), ("2021-02", "S2"), ("2021-03", "S3")] {
        commit_period(&catalog, &t, month, (month, 2), id).await;
    }

    // One query alone: what loading the table once reads of its log.
    let alone = session(&fresh()).await;
    let before = store.commit_reads.load(Ordering::SeqCst);
    alone
        .sql("SELECT count(*) FROM logistics.parcels")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let one_load = store.commit_reads.load(Ordering::SeqCst) - before;
    assert!(one_load > 0, "loading the table reads its log");

    // Eight queries of one session at once.
    let ctx = session(&fresh()).await;
    let before = store.commit_reads.load(Ordering::SeqCst);
    let answers = futures::future::join_all((0..8).map(|i| {
        let ctx = ctx.clone();
        async move {
            let query = format!("SELECT count(*) + {i} - {i} AS n FROM logistics.parcels");
            ctx.sql(&query).await.unwrap().collect().await.unwrap()
        }
    }))
    .await;
    let reads = store.commit_reads.load(Ordering::SeqCst) - before;
    assert_eq!(
        reads, one_load,
        "eight queries at once read the log as often as one query"
    );
    for answer in answers {
        assert!(pretty(&answer).contains("| 6 |"), "{}", pretty(&answer));
    }
}
