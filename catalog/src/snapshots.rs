//! Loaded table versions kept between queries.
//!
//! Every load still lists the table's log, so the latest version — committed through
//! this server or any other sharing the storage — is always the one read; only when it
//! is the version already in memory is the log not read and replayed again.

use std::collections::HashMap;
use std::sync::Mutex;

use deltalake::DeltaTable;

use crate::table_name::TableName;

/// The last loaded version of each table.
#[derive(Debug, Default)]
pub(crate) struct SnapshotCache {
    tables: Mutex<HashMap<TableName, (u64, DeltaTable)>>,
}

impl SnapshotCache {
    /// The table at `version`, if that is the version in memory.
    pub(crate) fn get(&self, name: &TableName, version: u64) -> Option<DeltaTable> {
        let tables = self.tables.lock().ok()?;
        let (cached, table) = tables.get(name)?;
        (*cached == version).then(|| table.clone())
    }

    /// Keeps `table`, loaded at `version`, in place of the table's earlier one.
    pub(crate) fn put(&self, name: &TableName, version: u64, table: &DeltaTable) {
        if let Ok(mut tables) = self.tables.lock() {
            tables.insert(name.clone(), (version, table.clone()));
        }
    }
}

/// The version a Delta log file commits (`00000000000000000012.json` → 12), if it is a
/// commit file.
pub(crate) fn commit_version(file_name: &str) -> Option<u64> {
    let digits = file_name.strip_suffix(".json")?;
    (digits.len() == 20 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_commit_files_have_versions() {
        assert_eq!(commit_version("00000000000000000012.json"), Some(12));
        assert_eq!(
            commit_version("00000000000000000012.checkpoint.parquet"),
            None
        );
        assert_eq!(commit_version("_last_checkpoint"), None);
        assert_eq!(commit_version("12.json"), None);
    }
}
