//! The audit log: an append-only, hash-chained record of every upload, plugin change,
//! token change and query — who, when, what, how many rows.
//!
//! Each entry is one JSON object at `<root>/system/audit/<seq, 20 digits>.json`,
//! written with create-only semantics (`PutMode::Create`: a conditional PUT on S3), so
//! two servers appending at once never both write the same sequence number; the loser
//! reads the new head and tries the next one. Each entry holds the hash of the one
//! before it and its own hash over its fields (sha256, hex); [`AuditLog::verify`] walks
//! the chain from the first entry and reports the first entry whose hash or link does
//! not hold, or a gap in the sequence.

use std::sync::Mutex;

use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{CatalogError, Result};
use crate::records;
use crate::tables::Catalog;

/// The hash before the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// How many times an append is retried when other writers take the next number.
const MAX_APPEND_ATTEMPTS: usize = 50;

/// What is being recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// Who: a token's name and role, or the CLI user.
    pub actor: String,
    /// The role acted in, e.g. `analyst`, `department:post`, `cli`.
    pub role: String,
    /// What: `upload`, `plugin.install`, `plugin.remove`, `token.create`,
    /// `token.revoke`, `query`.
    pub action: String,
    /// On what: a duty, plugin id, token id, or the SQL text.
    pub target: String,
    /// The outcome: `accepted`, `refused`, `ok`, `denied`, `failed`…
    pub outcome: String,
    /// Rows concerned (stored, returned), if any.
    pub rows: Option<u64>,
    /// Anything else, as JSON (submission id, version, error message…).
    pub detail: serde_json::Value,
}

/// One entry of the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Position in the chain, from 0.
    pub seq: u64,
    /// When it was recorded.
    pub at: DateTime<Utc>,
    /// What happened.
    #[serde(flatten)]
    pub event: AuditEvent,
    /// The hash of the entry before (for the first: [`GENESIS`]).
    pub prev_hash: String,
    /// The hash of this entry's other fields.
    pub hash: String,
}

impl AuditEntry {
    /// The hash this entry should have: sha256 over its fields but `hash`, as JSON.
    pub fn expected_hash(&self) -> String {
        let fields = serde_json::json!({
            "seq": self.seq,
            "at": self.at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            "event": self.event,
            "prev_hash": self.prev_hash,
        });
        hex::encode(Sha256::digest(fields.to_string().as_bytes()))
    }
}

/// Where the chain breaks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BrokenLink {
    /// The first entry that does not hold.
    pub seq: u64,
    /// Why.
    pub reason: String,
}

/// The outcome of [`AuditLog::verify`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verification {
    /// Entries checked.
    pub entries: u64,
    /// The first broken link, if any.
    pub broken: Option<BrokenLink>,
}

/// The audit log of one data location.
#[derive(Debug, Default)]
pub struct AuditLog {
    /// The last entry known here (sequence and hash), to append without listing.
    head: Mutex<Option<(u64, String)>>,
}

fn prefix(catalog: &Catalog) -> Path {
    catalog.root_store().1.clone().join("system").join("audit")
}

fn entry_path(catalog: &Catalog, seq: u64) -> Path {
    prefix(catalog).join(format!("{seq:020}.json"))
}

fn seq_of(path: &Path) -> Option<u64> {
    path.filename()?.strip_suffix(".json")?.parse().ok()
}

/// The entry at `path`, if there is one; `None` too for one that does not parse (the
/// chain's verification then reports it).
async fn read_entry(store: &dyn ObjectStore, path: &Path) -> Result<Option<AuditEntry>> {
    Ok(records::read_bytes(store, path)
        .await?
        .and_then(|bytes| serde_json::from_slice(&bytes).ok()))
}

impl AuditLog {
    /// A log whose head is found on first append.
    pub fn new() -> Self {
        AuditLog::default()
    }

    /// The sequence numbers stored, in order.
    async fn stored(&self, catalog: &Catalog) -> Result<Vec<(u64, Path)>> {
        let (store, _) = catalog.root_store();
        let prefix = prefix(catalog);
        let mut found: Vec<(u64, Path)> = store
            .list(Some(&prefix))
            .map_ok(|meta| meta.location)
            .try_collect::<Vec<_>>()
            .await
            .map_err(|e| CatalogError::storage(format!("listing {prefix}"), e))?
            .into_iter()
            .filter_map(|p| seq_of(&p).map(|s| (s, p)))
            .collect();
        found.sort_by_key(|(s, _)| *s);
        Ok(found)
    }

    /// The last entry stored: (its sequence number, its hash), or none; `known` is an
    /// entry known to exist (else the search starts at entry 0).
    ///
    /// Entries are numbered from 0 without gaps, so the last one is found by asking
    /// whether numbers past a known one exist — doubling the step until one does not,
    /// then halving the interval — in about 2·log₂(n) existence checks, however long the
    /// log has grown or however far another process has taken it; listing every entry
    /// (one request per thousand entries on S3, one `stat` per entry on a disk) made
    /// each process's first append slower as the log grew. A log whose entry 0 is
    /// missing is not a chain the search can trust: it is listed instead.
    async fn find_head(
        &self,
        catalog: &Catalog,
        known: Option<u64>,
    ) -> Result<Option<(u64, String)>> {
        let (store, _) = catalog.root_store();
        let exists = |seq: u64| {
            let path = entry_path(catalog, seq);
            async move {
                match store.head(&path).await {
                    Ok(_) => Ok(true),
                    Err(object_store::Error::NotFound { .. }) => Ok(false),
                    Err(e) => Err(CatalogError::storage(format!("looking for {path}"), e)),
                }
            }
        };
        let start = match known {
            Some(seq) => Some(seq),
            None => exists(0).await?.then_some(0),
        };
        let last = if let Some(start) = start {
            // Invariant: entry `present` exists, entry `absent` does not.
            let (mut present, mut step) = (start, 1u64);
            let mut absent = loop {
                let probe = present.saturating_add(step);
                if probe == present || !exists(probe).await? {
                    break probe;
                }
                present = probe;
                step = step.saturating_mul(2);
            };
            while absent - present > 1 {
                let middle = present + (absent - present) / 2;
                if exists(middle).await? {
                    present = middle;
                } else {
                    absent = middle;
                }
            }
            entry_path(catalog, present)
        } else {
            match self.stored(catalog).await?.pop() {
                Some((_, path)) => path,
                None => return Ok(None),
            }
        };
        let entry = read_entry(store.as_ref(), &last).await?.ok_or_else(|| {
            CatalogError::Internal(format!("the last audit entry {last} cannot be read"))
        })?;
        Ok(Some((entry.seq, entry.hash)))
    }

    /// Appends an event; returns the entry written.
    pub async fn append(&self, catalog: &Catalog, event: AuditEvent) -> Result<AuditEntry> {
        let (store, _) = catalog.root_store();
        let mut head = match self.head.lock().ok().and_then(|h| h.clone()) {
            Some(head) => Some(head),
            None => self.find_head(catalog, None).await?,
        };
        for _ in 0..MAX_APPEND_ATTEMPTS {
            let (seq, prev_hash) = match &head {
                Some((seq, hash)) => (seq + 1, hash.clone()),
                None => (0, GENESIS.to_owned()),
            };
            let mut entry = AuditEntry {
                seq,
                at: Utc::now(),
                event: event.clone(),
                prev_hash,
                hash: String::new(),
            };
            entry.hash = entry.expected_hash();
            let path = entry_path(catalog, seq);
            if records::create(store.as_ref(), &path, &entry).await? {
                if let Ok(mut known) = self.head.lock() {
                    *known = Some((entry.seq, entry.hash.clone()));
                }
                return Ok(entry);
            }
            // Another writer took this number, and maybe many after it: find the end
            // of the chain from there.
            head = self.find_head(catalog, Some(seq)).await?;
        }
        Err(CatalogError::CommitConflict {
            table: "system/audit".into(),
            attempts: MAX_APPEND_ATTEMPTS,
        })
    }

    /// Every entry, in order (unreadable entries are skipped; [`Self::verify`] names them).
    pub async fn entries(&self, catalog: &Catalog) -> Result<Vec<AuditEntry>> {
        let (store, _) = catalog.root_store();
        let mut entries = Vec::new();
        for (_, path) in self.stored(catalog).await? {
            if let Some(entry) = read_entry(store.as_ref(), &path).await? {
                entries.push(entry);
            }
        }
        Ok(entries)
    }

    /// Walks the chain and reports the first broken link.
    pub async fn verify(&self, catalog: &Catalog) -> Result<Verification> {
        let (store, _) = catalog.root_store();
        let mut previous = GENESIS.to_owned();
        let mut checked = 0;
        for (expected_seq, (seq, path)) in self.stored(catalog).await?.into_iter().enumerate() {
            let expected_seq = expected_seq as u64;
            let broken = |reason: String| {
                Ok(Verification {
                    entries: checked,
                    broken: Some(BrokenLink {
                        seq: expected_seq,
                        reason,
                    }),
                })
            };
            if seq != expected_seq {
                return broken(format!(
                    "entry {expected_seq} is missing (the next stored is {seq})"
                ));
            }
            let Some(entry) = read_entry(store.as_ref(), &path).await? else {
                return broken(format!(
                    "entry {seq} ({path}) is not a readable audit entry"
                ));
            };
            if entry.seq != seq {
                return broken(format!("entry {seq} says it is entry {}", entry.seq));
            }
            if entry.prev_hash != previous {
                return broken(format!(
                    "entry {seq} does not link to the entry before it (prev_hash {} ≠ {})",
                    short(&entry.prev_hash),
                    short(&previous)
                ));
            }
            if entry.hash != entry.expected_hash() {
                return broken(format!(
                    "entry {seq} was changed after it was written (its hash {} ≠ {} computed)",
                    short(&entry.hash),
                    short(&entry.expected_hash())
                ));
            }
            previous = entry.hash;
            checked += 1;
        }
        Ok(Verification {
            entries: checked,
            broken: None,
        })
    }
}

fn short(hash: &str) -> &str {
    &hash[..hash.len().min(12)]
}
