//! Two writers committing to the same table at once: both land, in some order, and
//! neither is lost or applied on a stale view.

use sannong_catalog::{CommitMode, TableName};

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_period_commits_both_land() {
    let dir = tempfile::tempdir().unwrap();
    // Two catalogs on the same directory, as two processes would be.
    let first = open(dir.path()).await;
    let second = open(dir.path()).await;
    let t: TableName = "logistics.parcels".parse().unwrap();
    let mut tasks = Vec::new();
    for (i, catalog) in [first.clone(), second.clone()].into_iter().enumerate() {
        let t = t.clone();
        tasks.push(tokio::spawn(async move {
            let mut outcomes = Vec::new();
            for month in 1..=4 {
                let period = format!("2021-{:02}", month * 2 - 1 + i as u32)
                    .parse()
                    .unwrap();
                let id = format!("S{i}-{month}");
                outcomes.push(
                    catalog
                        .commit(
                            &t,
                            schema(),
                            vec![batch(&id, 10)],
                            CommitMode::Period(period),
                            &submission(&id),
                        )
                        .await
                        .unwrap(),
                );
            }
            outcomes
        }));
    }
    let mut versions = Vec::new();
    for task in tasks {
        versions.extend(task.await.unwrap().into_iter().map(|o| o.version));
    }
    versions.sort();
    assert_eq!(
        versions,
        (0..8).collect::<Vec<u64>>(),
        "every commit has its own version"
    );
    assert_eq!(
        scalar(&first, "SELECT count(*) FROM logistics.parcels").await,
        "80"
    );
    assert_eq!(
        scalar(
            &first,
            "SELECT count(DISTINCT _period) FROM logistics.parcels"
        )
        .await,
        "8"
    );
    assert_eq!(first.history(&t).await.unwrap().len(), 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_snapshot_commits_never_mix() {
    let dir = tempfile::tempdir().unwrap();
    let t: TableName = "admin.villages".parse().unwrap();
    let catalogs = [
        open(dir.path()).await,
        open(dir.path()).await,
        open(dir.path()).await,
    ];
    let mut tasks = Vec::new();
    for (i, catalog) in catalogs.iter().cloned().enumerate() {
        let t = t.clone();
        tasks.push(tokio::spawn(async move {
            let id = format!("W{i}");
            catalog
                .commit(
                    &t,
                    schema(),
                    vec![batch(&id, 5 + i)],
                    CommitMode::Snapshot,
                    &submission(&id),
                )
                .await
                .unwrap()
        }));
    }
    let mut last = None;
    for task in tasks {
        let outcome = task.await.unwrap();
        if last.as_ref().is_none_or(|(v, _)| outcome.version > *v) {
            last = Some((outcome.version, outcome.rows));
        }
    }
    let (last_version, last_rows) = last.unwrap();
    assert_eq!(last_version, 2, "three commits, three versions");
    // The table holds exactly the last snapshot: one submission's rows, all of them.
    let reader = open(dir.path()).await;
    assert_eq!(
        scalar(
            &reader,
            "SELECT count(DISTINCT _submission_id) FROM admin.villages"
        )
        .await,
        "1"
    );
    assert_eq!(
        scalar(&reader, "SELECT count(*) FROM admin.villages").await,
        last_rows.to_string()
    );
    for version in 0..3 {
        let rows = scalar(
            &reader,
            &format!(
                "SELECT count(DISTINCT _submission_id) FROM table_at('admin.villages', {version})"
            ),
        )
        .await;
        assert_eq!(rows, "1", "version {version} holds one snapshot");
    }
}
