//! Reading a table's history from its Delta commit log.
//!
//! Each commit file `_delta_log/NNNN.json` is read once and summarised as a
//! [`TableVersion`]: when, which operation, the submission record it carries, rows and
//! files added and removed. Commit files are immutable, so summaries are cached for the
//! life of the process; a history call costs one LIST plus one GET per new commit.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use object_store::ObjectStore;
use object_store::ObjectStoreExt;
use object_store::path::Path;
use serde_json::Value;

use crate::error::{CatalogError, Result};
use crate::submission::{CommitMode, SUBMISSION_KEY, SubmissionRecord};
use crate::table_name::TableName;

/// One version of a table, as its commit recorded it.
#[derive(Debug, Clone)]
pub struct TableVersion {
    /// The table.
    pub table: TableName,
    /// The Delta version number (0 = first commit).
    pub version: u64,
    /// When the commit was made.
    pub committed_at: Option<DateTime<Utc>>,
    /// Delta operation name, e.g. `WRITE`.
    pub operation: String,
    /// The replace mode of the commit, when written by sannong.
    pub mode: Option<CommitMode>,
    /// The submission that produced this version, when written by sannong.
    pub submission: Option<SubmissionRecord>,
    /// Rows added by the commit (from file statistics).
    pub rows_added: u64,
    /// Data files added.
    pub files_added: u64,
    /// Data files removed (replaced).
    pub files_removed: u64,
}

/// Key under which sannong stores the commit mode in `commitInfo`.
pub const MODE_KEY: &str = "sannongMode";

/// Process-wide cache of commit summaries, keyed by commit file location.
#[derive(Debug, Default)]
pub struct CommitCache {
    entries: Mutex<HashMap<Path, Arc<TableVersion>>>,
}

impl CommitCache {
    fn get(&self, path: &Path) -> Option<Arc<TableVersion>> {
        self.entries.lock().ok()?.get(path).cloned()
    }

    fn insert(&self, path: Path, version: Arc<TableVersion>) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.insert(path, version);
        }
    }
}

/// Reads all versions of a table, oldest first.
pub async fn read_history(
    store: &Arc<dyn ObjectStore>,
    table_root: &Path,
    table: &TableName,
    cache: &CommitCache,
) -> Result<Vec<TableVersion>> {
    let log_dir = table_root.clone().join("_delta_log");
    let listed: Vec<_> = store
        .list(Some(&log_dir))
        .try_collect()
        .await
        .map_err(|e| CatalogError::storage(format!("listing the history of {table}"), e))?;
    let mut commits: Vec<(u64, Path)> = listed
        .into_iter()
        .filter_map(|meta| {
            let name = meta.location.filename()?;
            let version = name.strip_suffix(".json")?;
            (version.len() == 20)
                .then(|| version.parse::<u64>().ok())
                .flatten()
                .map(|v| (v, meta.location.clone()))
        })
        .collect();
    commits.sort_by_key(|(v, _)| *v);
    let versions = futures::stream::iter(commits)
        .map(|(version, path)| async move {
            if let Some(hit) = cache.get(&path) {
                return Ok(hit);
            }
            let bytes = store
                .get(&path)
                .await
                .map_err(|e| {
                    CatalogError::storage(format!("reading {table} version {version}"), e)
                })?
                .bytes()
                .await
                .map_err(|e| {
                    CatalogError::storage(format!("reading {table} version {version}"), e)
                })?;
            let summary = Arc::new(summarise_commit(table, version, &bytes)?);
            cache.insert(path, summary.clone());
            Ok(summary)
        })
        .buffered(16)
        .try_collect::<Vec<_>>()
        .await?;
    Ok(versions.into_iter().map(|v| (*v).clone()).collect())
}

/// Summarises one newline-delimited JSON commit file.
fn summarise_commit(table: &TableName, version: u64, bytes: &[u8]) -> Result<TableVersion> {
    let mut summary = TableVersion {
        table: table.clone(),
        version,
        committed_at: None,
        operation: String::new(),
        mode: None,
        submission: None,
        rows_added: 0,
        files_added: 0,
        files_removed: 0,
    };
    for line in bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        let action: Value = serde_json::from_slice(line).map_err(|e| {
            CatalogError::storage(format!("{table} version {version} has a corrupt commit"), e)
        })?;
        if let Some(info) = action.get("commitInfo") {
            summary.committed_at = info
                .get("timestamp")
                .and_then(Value::as_i64)
                .and_then(DateTime::from_timestamp_millis);
            summary.operation = info
                .get("operation")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            summary.submission = info
                .get(SUBMISSION_KEY)
                .and_then(|v| serde_json::from_value(v.clone()).ok());
            summary.mode = info
                .get(MODE_KEY)
                .and_then(|v| serde_json::from_value(v.clone()).ok());
        } else if let Some(add) = action.get("add") {
            summary.files_added += 1;
            summary.rows_added += add
                .get("stats")
                .and_then(Value::as_str)
                .and_then(|s| serde_json::from_str::<Value>(s).ok())
                .and_then(|stats| stats.get("numRecords").and_then(Value::as_u64))
                .unwrap_or(0);
        } else if action.get("remove").is_some() {
            summary.files_removed += 1;
        }
    }
    Ok(summary)
}
