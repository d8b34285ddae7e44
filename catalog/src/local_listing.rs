//! Tables and their latest versions, listed straight from a local data directory.
//!
//! Every query lists the tables and reads which version of each is the latest. Through
//! object_store a local listing stats and canonicalises each entry it returns, in a
//! blocking task per directory: for a county's thirteen tables, some four hundred
//! `statx` calls and two dozen thread hand-offs, most of a small query's time. Here the
//! directories are read for their names only (the kernel tells directories from files
//! without a stat), all in one blocking task. Remote stores are still listed through
//! object_store.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use crate::snapshots::commit_version;

/// Each `<schema>/<table>` directory under `tables_dir` with the latest version in its
/// `_delta_log/` (`None`: no commit yet), in no particular order. A missing directory
/// has no tables.
pub(crate) fn latest_versions(
    tables_dir: &Path,
) -> std::io::Result<Vec<(String, String, Option<u64>)>> {
    let mut found = Vec::new();
    for (schema, schema_dir) in subdirectories(tables_dir)? {
        for (table, table_dir) in subdirectories(&schema_dir)? {
            let latest = latest_version(&table_dir)?;
            found.push((schema.clone(), table, latest));
        }
    }
    Ok(found)
}

/// The latest version in `table_dir/_delta_log/` (`None`: no commit, or no such table).
pub(crate) fn latest_version(table_dir: &Path) -> std::io::Result<Option<u64>> {
    let entries = match std::fs::read_dir(table_dir.join("_delta_log")) {
        Ok(entries) => entries,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut latest = None;
    for entry in entries {
        let name = entry?.file_name();
        if let Some(version) = name.to_str().and_then(commit_version) {
            latest = latest.max(Some(version));
        }
    }
    Ok(latest)
}

/// The directories in `dir` by name (none when `dir` does not exist).
fn subdirectories(dir: &Path) -> std::io::Result<Vec<(String, PathBuf)>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut dirs = Vec::new();
    for entry in entries {
        let entry = entry?;
        if !entry.file_type()?.is_dir() {
            continue;
        }
        if let Ok(name) = entry.file_name().into_string() {
            dirs.push((name, entry.path()));
        }
    }
    Ok(dirs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_found_with_their_latest_commit() -> std::io::Result<()> {
        let root = tempfile::tempdir()?;
        let tables = root.path().join("tables");
        let log = tables.join("logistics/parcels/_delta_log");
        std::fs::create_dir_all(&log)?;
        for file in [
            "00000000000000000000.json",
            "00000000000000000001.json",
            "00000000000000000002.json",
            "00000000000000000001.checkpoint.parquet",
            "_last_checkpoint",
        ] {
            std::fs::write(log.join(file), "")?;
        }
        std::fs::create_dir_all(tables.join("admin/villages/_delta_log"))?;
        std::fs::write(tables.join("admin/stray-file"), "")?;
        let mut found = latest_versions(&tables)?;
        found.sort();
        assert_eq!(
            found,
            vec![
                ("admin".into(), "villages".into(), None),
                ("logistics".into(), "parcels".into(), Some(2)),
            ]
        );
        assert_eq!(latest_versions(&root.path().join("nowhere"))?, vec![]);
        assert_eq!(latest_version(&tables.join("admin/missing"))?, None);
        Ok(())
    }
}
