//! Table versions kept decoded in memory between queries.
//!
//! A programme's tables are small next to the memory of the machine serving them (a
//! county-year is about a hundred thousand rows), and the dashboard and analysts ask
//! of them again and again. Opening and decoding every Parquet file of a table for each
//! query costs far more than the query itself, so the latest version of each table that
//! fits the budget is decoded once, on its second query, and later queries of that
//! version scan its Arrow arrays in memory. The first query of a version reads its files
//! as before (only the columns and periods it needs): a version that is read once — as
//! each upload's checks read the version before it — is not worth decoding whole.
//!
//! A version never changes once committed, so an entry is always exact: a commit makes
//! a new version, which is kept from its own second query; the older one leaves memory
//! then. Entries are keyed by the table's location, so counties and data locations
//! served by one process never share one. When the budget is full the least recently
//! used tables leave first; a table too large for half the budget is never kept and is
//! read from its files as before. The budget is the process's
//! ([`set_table_memory_budget`]; 0 turns the cache off).
//!
//! A session that will scan each of its tables many times — the scorecard's sixteen KPIs
//! reference ten tables seventy times — asks for its tables to be decoded at their first
//! read ([`KeepWhen::FirstRead`]): one whole read of a table costs less than its files
//! opened, planned and decoded again for every reference.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use arrow::array::RecordBatch;
use datafusion::catalog::TableProvider;
use datafusion::error::Result;
use datafusion::prelude::SessionContext;
use deltalake::DeltaTable;

use super::decoded_table::DecodedTable;
use super::delta_schema::files_provider;
use super::to_datafusion;
use crate::table_name::TableName;
use crate::tables::{Catalog, TableAt};

/// The budget when none is set: 1 GiB.
pub const DEFAULT_TABLE_MEMORY_BYTES: usize = 1 << 30;

/// How many bytes of Arrow arrays one compressed Parquet byte becomes, at least, when
/// deciding before reading whether a table could fit (the programme's tables decode to
/// 3–8 times their file size).
const DECODED_PER_STORED_BYTE: usize = 3;

static BUDGET: AtomicUsize = AtomicUsize::new(DEFAULT_TABLE_MEMORY_BYTES);

/// Sets how many bytes of decoded tables the process keeps (0: none).
pub fn set_table_memory_budget(bytes: usize) {
    BUDGET.store(bytes, Ordering::Relaxed);
    tables().shrink_to(bytes);
}

/// What the cache holds now: tables and bytes kept, and how often queries found them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TableMemoryUse {
    /// Table versions kept.
    pub tables: usize,
    /// Bytes of Arrow arrays kept.
    pub bytes: usize,
    /// Queries that found their table version in memory.
    pub hits: u64,
    /// Queries that decoded their table version (and kept it, if it fit).
    pub loads: u64,
}

/// What the process's cache holds now.
pub fn table_memory_use() -> TableMemoryUse {
    tables().usage()
}

/// When a table version not yet in memory is decoded and kept.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum KeepWhen {
    /// At its second read: a version read once (as an upload's checks read the version
    /// before it) is not worth decoding whole.
    #[default]
    ReadAgain,
    /// At its first read: the session scans each table many times.
    FirstRead,
}

/// The table `name` at `version` as a provider: its decoded arrays when they are in
/// memory (then its log is not even looked at) or are worth decoding now (see
/// [`KeepWhen`]), otherwise a provider over its files ([`files_provider`]).
pub(crate) async fn provider(
    catalog: &Catalog,
    name: &TableName,
    version: u64,
    keep: KeepWhen,
) -> Result<Arc<dyn TableProvider>> {
    let key = catalog.table_url(name).map_err(to_datafusion)?.to_string();
    let cache = tables();
    if let Some(hit) = cache.get(&key, version) {
        return Ok(hit);
    }
    let table = catalog
        .load(name, TableAt::Version(version))
        .await
        .map_err(to_datafusion)?;
    let budget = BUDGET.load(Ordering::Relaxed);
    let stored = stored_bytes(&table);
    let files = files_provider(catalog, name, table).await?;
    if budget == 0
        || stored.saturating_mul(DECODED_PER_STORED_BYTE) > budget / 2
        || (cache.first_read(&key, version) && keep == KeepWhen::ReadAgain)
    {
        return Ok(files);
    }
    let batches = SessionContext::new()
        .read_table(files.clone())?
        .collect()
        .await?;
    let bytes: usize = batches.iter().map(RecordBatch::get_array_memory_size).sum();
    let decoded = Arc::new(DecodedTable::new(files.schema(), batches));
    cache.put(key, version, decoded.clone(), bytes, budget);
    Ok(decoded)
}

/// Bytes of the table's data files.
fn stored_bytes(table: &DeltaTable) -> usize {
    table.snapshot().map_or(usize::MAX, |state| {
        state
            .log_data()
            .iter()
            .map(|file| usize::try_from(file.size()).unwrap_or(usize::MAX))
            .fold(0usize, usize::saturating_add)
    })
}

fn tables() -> &'static DecodedTables {
    static TABLES: OnceLock<DecodedTables> = OnceLock::new();
    TABLES.get_or_init(DecodedTables::default)
}

/// The decoded table versions of the process, least recently used first out.
#[derive(Debug, Default)]
struct DecodedTables {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// By table location: the version kept.
    entries: HashMap<String, Entry>,
    /// By table location: the version read once from its files.
    read_once: HashMap<String, u64>,
    clock: u64,
    hits: u64,
    loads: u64,
}

#[derive(Debug)]
struct Entry {
    version: u64,
    table: Arc<DecodedTable>,
    bytes: usize,
    last_used: u64,
}

impl DecodedTables {
    fn get(&self, key: &str, version: u64) -> Option<Arc<dyn TableProvider>> {
        let mut state = self.state.lock().ok()?;
        let now = state.clock + 1;
        let entry = state
            .entries
            .get_mut(key)
            .filter(|e| e.version == version)?;
        entry.last_used = now;
        let table = entry.table.clone();
        state.clock = now;
        state.hits += 1;
        Some(table)
    }

    /// Whether this is the first read of the version (which is then remembered).
    fn first_read(&self, key: &str, version: u64) -> bool {
        let Ok(mut state) = self.state.lock() else {
            return true;
        };
        let earlier = state.read_once.insert(key.to_owned(), version);
        earlier != Some(version)
    }

    /// Keeps a decoded version in place of the table's earlier one, if it fits in half
    /// the budget, making room by dropping the least recently used tables.
    fn put(
        &self,
        key: String,
        version: u64,
        table: Arc<DecodedTable>,
        bytes: usize,
        budget: usize,
    ) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        state.loads += 1;
        state.entries.remove(&key);
        if bytes > budget / 2 {
            return;
        }
        state.evict_until(budget - bytes);
        state.clock += 1;
        let last_used = state.clock;
        state.entries.insert(
            key,
            Entry {
                version,
                table,
                bytes,
                last_used,
            },
        );
    }

    fn shrink_to(&self, budget: usize) {
        if let Ok(mut state) = self.state.lock() {
            state.evict_until(budget);
        }
    }

    fn usage(&self) -> TableMemoryUse {
        self.state
            .lock()
            .map(|state| TableMemoryUse {
                tables: state.entries.len(),
                bytes: state.bytes(),
                hits: state.hits,
                loads: state.loads,
            })
            .unwrap_or_default()
    }
}

impl State {
    /// Bytes of the entries kept.
    fn bytes(&self) -> usize {
        self.entries.values().map(|e| e.bytes).sum()
    }

    /// Drops the least recently used entries until at most `bytes` are kept.
    fn evict_until(&mut self, bytes: usize) {
        while self.bytes() > bytes {
            let Some(oldest) = self
                .entries
                .iter()
                .min_by_key(|(_, e)| e.last_used)
                .map(|(k, _)| k.clone())
            else {
                return;
            };
            self.entries.remove(&oldest);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Int32Array;
    use arrow::datatypes::{DataType, Field, Schema};

    fn table(rows: i32) -> (Arc<DecodedTable>, usize) {
        let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int32, false)]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(Int32Array::from_iter_values(0..rows))],
        )
        .unwrap();
        let bytes = batch.get_array_memory_size();
        (Arc::new(DecodedTable::new(schema, vec![batch])), bytes)
    }

    #[test]
    fn a_table_is_found_only_at_the_version_kept() {
        let cache = DecodedTables::default();
        let (t, bytes) = table(10);
        cache.put("a".into(), 3, t, bytes, 1 << 20);
        assert!(cache.get("a", 3).is_some());
        assert!(cache.get("a", 4).is_none());
        assert!(cache.get("b", 3).is_none());
        let (t, bytes) = table(10);
        cache.put("a".into(), 4, t, bytes, 1 << 20);
        assert!(cache.get("a", 3).is_none(), "the newer version replaces it");
        assert!(cache.get("a", 4).is_some());
        let usage = cache.usage();
        assert_eq!(
            (usage.tables, usage.bytes, usage.hits, usage.loads),
            (1, bytes, 2, 2)
        );
    }

    #[test]
    fn a_version_is_worth_decoding_from_its_second_read() {
        let cache = DecodedTables::default();
        assert!(cache.first_read("a", 1));
        assert!(!cache.first_read("a", 1));
        assert!(cache.first_read("a", 2), "a new version starts again");
        assert!(cache.first_read("b", 2));
    }

    #[test]
    fn the_least_recently_used_table_leaves_when_the_budget_is_full() {
        let cache = DecodedTables::default();
        let (a, bytes) = table(1000);
        let budget = bytes * 5 / 2;
        cache.put("a".into(), 1, a, bytes, budget);
        let (b, _) = table(1000);
        cache.put("b".into(), 1, b, bytes, budget);
        assert!(
            cache.get("a", 1).is_some(),
            "a is now the more recently used"
        );
        let (c, _) = table(1000);
        cache.put("c".into(), 1, c, bytes, budget);
        assert!(cache.get("b", 1).is_none(), "b was the least recently used");
        assert!(cache.get("a", 1).is_some());
        assert!(cache.get("c", 1).is_some());
        assert!(cache.usage().bytes <= budget);
    }

    #[test]
    fn a_table_larger_than_half_the_budget_is_not_kept() {
        let cache = DecodedTables::default();
        let (t, bytes) = table(1000);
        cache.put("a".into(), 1, t, bytes, bytes * 2 - 1);
        assert!(cache.get("a", 1).is_none());
        assert_eq!(cache.usage().bytes, 0);
        cache.shrink_to(0);
        assert_eq!(cache.usage().tables, 0);
    }
}
