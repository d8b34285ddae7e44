//! The catalog: the platform's Delta tables under one object-store root.
//!
//! [`Catalog`] lists tables, loads them (latest or as of a version or time), reports
//! their history and commits new versions. A commit is one Delta transaction carrying
//! the [`SubmissionRecord`]: a `snapshot` commit replaces the whole table, a
//! `period(P)` commit replaces only the rows of period P (the table is partitioned by
//! `_period`). Every stored row carries `_submission_id`. Concurrent commits are
//! serialised optimistically: the loser reloads the table and redoes its write, so no
//! commit is lost and none is applied on a stale view.
//!
//! Storage layout: `<root>/tables/<schema>/<table>/` holds one Delta table
//! (`_delta_log/` and Parquet files).

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use arrow::array::{ArrayRef, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use chrono::{DateTime, Utc};
use deltalake::datafusion::execution::object_store::ObjectStoreUrl;
use deltalake::datafusion::prelude::{col, lit};
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties, TransactionError};
use deltalake::operations::write::SchemaMode;
use deltalake::protocol::DeltaOperation;
use deltalake::protocol::SaveMode;
use deltalake::table::state::DeltaTableState;
use deltalake::{DeltaTable, DeltaTableBuilder, DeltaTableError};
use object_store::ObjectStore;
use object_store::path::Path;
use parquet::file::properties::WriterProperties;
use url::Url;

use crate::data_files;
use crate::error::{CatalogError, Result, one_line};
use crate::history::{CommitCache, MODE_KEY, TableVersion, read_history};
use crate::local_listing;
use crate::location::DataLocation;
use crate::mapped_files::MappedFiles;
use crate::snapshots::{SnapshotCache, commit_version};
use crate::submission::{CommitMode, SUBMISSION_KEY, SubmissionRecord};
use crate::table_name::TableName;

/// Column every stored row carries: the submission that produced it.
pub const SUBMISSION_ID_COLUMN: &str = "_submission_id";
/// Partition column of period tables: the period (`YYYY-MM`) a row belongs to.
pub const PERIOD_COLUMN: &str = "_period";

/// How many times a commit that loses a race is redone before giving up.
const MAX_COMMIT_ATTEMPTS: usize = 20;

/// Which version of a table to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableAt {
    /// The latest version.
    Latest,
    /// A version number.
    Version(u64),
    /// The latest version committed at or before a moment.
    Time(DateTime<Utc>),
}

/// What a commit produced.
#[derive(Debug, Clone)]
pub struct CommitOutcome {
    /// The table written.
    pub table: TableName,
    /// The new version.
    pub version: u64,
    /// Rows stored by the commit.
    pub rows: u64,
    /// How many attempts it took (more than 1 when racing other writers).
    pub attempts: usize,
}

/// A table's current state, for `sannong tables` and `sys.tables`.
#[derive(Debug, Clone)]
pub struct TableSummary {
    /// The table.
    pub table: TableName,
    /// Current version.
    pub version: u64,
    /// Rows in the current version.
    pub rows: u64,
    /// Data files in the current version.
    pub files: u64,
    /// Bytes of data in the current version.
    pub bytes: u64,
    /// `period` if partitioned by period, else `snapshot`.
    pub mode: &'static str,
    /// The Arrow schema, including system columns.
    pub schema: SchemaRef,
}

/// The platform's tables under one data location.
#[derive(Debug)]
pub struct Catalog {
    location: DataLocation,
    /// Object store whose `/` is the root of the storage system (filesystem root or bucket).
    root_store: Arc<dyn ObjectStore>,
    /// Path of the data root inside `root_store`.
    root_path: Path,
    /// Set when the object store was supplied by the caller (tests inject faults this way).
    custom_store: bool,
    /// The store SQL sessions read data files from: for a local directory, one that
    /// hands out ranges of the files from memory maps ([`MappedFiles`]).
    data_files_store: Arc<dyn ObjectStore>,
    /// Where SQL sessions find `data_files_store`: a name of this catalog's own, so that
    /// catalogs over different stores never share one.
    store_url: ObjectStoreUrl,
    commits: CommitCache,
    snapshots: SnapshotCache,
}

impl Catalog {
    /// Opens the data location; for remote stores, checks it can be reached.
    pub async fn open(location: DataLocation) -> Result<Self> {
        register_object_store_schemes();
        let log_store = DeltaTableBuilder::from_url(location.root().clone())
            .and_then(|b| {
                b.with_storage_options(location.storage_options().clone())
                    .build_storage()
            })
            .map_err(|e| CatalogError::InvalidLocation {
                location: location.display().to_owned(),
                reason: one_line(&e.to_string()),
            })?;
        let root_store = log_store.root_object_store(None);
        let data_files_store: Arc<dyn ObjectStore> = if location.is_local() {
            Arc::new(MappedFiles::over(root_store.clone()))
        } else {
            root_store.clone()
        };
        let catalog = Catalog {
            root_path: root_path_of(&location),
            root_store,
            location,
            custom_store: false,
            data_files_store,
            store_url: own_store_url(),
            commits: CommitCache::default(),
            snapshots: SnapshotCache::default(),
        };
        if !catalog.location.is_local() {
            catalog.check_reachable().await?;
        }
        Ok(catalog)
    }

    /// Opens a location through a caller-supplied object store whose `/` is the storage
    /// root (the filesystem root for `file://` locations). Used to inject faults in tests.
    pub fn with_object_store(location: DataLocation, root_store: Arc<dyn ObjectStore>) -> Self {
        register_object_store_schemes();
        Catalog {
            root_path: root_path_of(&location),
            data_files_store: root_store.clone(),
            root_store,
            location,
            custom_store: true,
            store_url: own_store_url(),
            commits: CommitCache::default(),
            snapshots: SnapshotCache::default(),
        }
    }

    /// The data location.
    pub fn location(&self) -> &DataLocation {
        &self.location
    }

    /// The object store holding the data root, and the root's path in it.
    pub fn root_store(&self) -> (&Arc<dyn ObjectStore>, &Path) {
        (&self.root_store, &self.root_path)
    }

    /// Where a table's data files are: the store (and the name SQL sessions find it by)
    /// and the table's directory in it.
    pub(crate) fn table_files(
        &self,
        name: &TableName,
    ) -> (ObjectStoreUrl, Arc<dyn ObjectStore>, Path) {
        (
            self.store_url.clone(),
            self.data_files_store.clone(),
            self.table_path(name),
        )
    }

    /// One cheap request that fails quickly and clearly when the store is unreachable.
    async fn check_reachable(&self) -> Result<()> {
        let probe = self.root_store.list_with_delimiter(Some(&self.root_path));
        match tokio::time::timeout(Duration::from_secs(20), probe).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => {
                let mut detail = one_line(&e.to_string());
                if detail.contains("credentials") || detail.contains("169.254.169.254") {
                    detail.push_str(
                        " (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, and AWS_ENDPOINT_URL for an S3-compatible store)",
                    );
                }
                Err(CatalogError::Unreachable {
                    location: self.location.display().to_owned(),
                    detail,
                })
            }
            Err(_) => Err(CatalogError::Unreachable {
                location: self.location.display().to_owned(),
                detail: "no answer within 20 s".into(),
            }),
        }
    }

    /// A table's directory relative to the data root: `tables/<schema>/<table>` or, for
    /// internal tables, `system/<table>`.
    fn table_dir(name: &TableName) -> String {
        if name.is_system() {
            format!("system/{}", name.table())
        } else {
            format!("tables/{}/{}", name.schema(), name.table())
        }
    }

    fn table_path(&self, name: &TableName) -> Path {
        Self::table_dir(name)
            .split('/')
            .fold(self.root_path.clone(), |path, part| path.join(part))
    }

    /// The URL of a table's directory.
    pub fn table_url(&self, name: &TableName) -> Result<Url> {
        self.location.join(&format!("{}/", Self::table_dir(name)))
    }

    fn builder(&self, name: &TableName) -> Result<DeltaTableBuilder> {
        let mut builder = DeltaTableBuilder::from_url(self.table_url(name)?)
            .map_err(|e| CatalogError::storage(format!("opening {name}"), e))?
            .with_storage_options(self.location.storage_options().clone());
        if self.custom_store || !self.location.is_local() {
            builder = builder.with_storage_backend(self.root_store.clone(), self.table_url(name)?);
        }
        Ok(builder)
    }

    /// Lists the tables that have at least one committed version, sorted by name.
    pub async fn list_tables(&self) -> Result<Vec<TableName>> {
        Ok(self
            .latest_versions()
            .await?
            .into_iter()
            .map(|(name, _)| name)
            .collect())
    }

    /// Every table that has a committed version, with its latest version, sorted by name.
    ///
    /// The schemas' directories, then the tables' logs, are listed concurrently: on an
    /// object store each listing is a round trip.
    pub async fn latest_versions(&self) -> Result<Vec<(TableName, u64)>> {
        let found = match self.plain_local_dir() {
            Some(root) => {
                let tables_dir = root.join("tables");
                on_local_disk("listing tables", move || {
                    local_listing::latest_versions(&tables_dir)
                })
                .await?
                .into_iter()
                .filter_map(|(schema, table, latest)| {
                    Some((TableName::new(&schema, &table).ok()?, latest))
                })
                .collect()
            }
            None => self.listed_latest_versions().await?,
        };
        let mut tables: Vec<(TableName, u64)> = found
            .into_iter()
            .filter_map(|(name, latest)| Some((name, latest?)))
            .collect();
        tables.sort();
        Ok(tables)
    }

    /// Every table directory with the latest version in its log, listed through the
    /// object store.
    async fn listed_latest_versions(&self) -> Result<Vec<(TableName, Option<u64>)>> {
        let tables_dir = self.root_path.clone().join("tables");
        let schema_dirs = self.list_dirs(&tables_dir).await?;
        let table_dirs =
            futures::future::try_join_all(schema_dirs.iter().map(|dir| self.list_dirs(dir)))
                .await?;
        let candidates: Vec<TableName> = schema_dirs
            .iter()
            .zip(&table_dirs)
            .flat_map(|(schema_dir, tables)| {
                tables.iter().filter_map(move |table_dir| {
                    let schema = schema_dir.parts().next_back()?;
                    let table = table_dir.parts().next_back()?;
                    TableName::new(schema.as_ref(), table.as_ref()).ok()
                })
            })
            .collect();
        let latest =
            futures::future::try_join_all(candidates.iter().map(|name| self.latest_version(name)))
                .await?;
        Ok(candidates.into_iter().zip(latest).collect())
    }

    /// The local directory of the data, when it is read through the operating system's
    /// own filesystem calls (not a caller-supplied object store).
    fn plain_local_dir(&self) -> Option<std::path::PathBuf> {
        if self.custom_store {
            return None;
        }
        self.location.local_dir()
    }

    async fn list_dirs(&self, dir: &Path) -> Result<Vec<Path>> {
        match self.root_store.list_with_delimiter(Some(dir)).await {
            Ok(listing) => Ok(listing.common_prefixes),
            Err(object_store::Error::NotFound { .. }) => Ok(Vec::new()),
            Err(e) => Err(CatalogError::storage(format!("listing {dir}"), e)),
        }
    }

    /// Whether the table has a committed version (its `_delta_log/` holds a commit).
    pub async fn exists(&self, name: &TableName) -> Result<bool> {
        self.has_commit(name).await
    }

    async fn has_commit(&self, name: &TableName) -> Result<bool> {
        Ok(self.latest_version(name).await?.is_some())
    }

    /// The latest version in a table's log (`None`: no commit yet), from one listing.
    async fn latest_version(&self, name: &TableName) -> Result<Option<u64>> {
        if let Some(root) = self.plain_local_dir() {
            let table_dir = root.join(Self::table_dir(name));
            return on_local_disk(format!("listing {name}"), move || {
                local_listing::latest_version(&table_dir)
            })
            .await;
        }
        let log = self.table_path(name).join("_delta_log");
        match self.root_store.list_with_delimiter(Some(&log)).await {
            Ok(listing) => Ok(listing
                .objects
                .iter()
                .filter_map(|o| o.location.filename().and_then(commit_version))
                .max()),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(CatalogError::storage(format!("listing {name}"), e)),
        }
    }

    /// Loads a table at a version.
    ///
    /// The latest version is found by listing the log each time; a version already in
    /// memory is not read again.
    pub async fn load(&self, name: &TableName, at: TableAt) -> Result<DeltaTable> {
        let version = match at {
            TableAt::Latest => {
                self.latest_version(name)
                    .await?
                    .ok_or_else(|| CatalogError::TableNotFound {
                        table: name.to_string(),
                    })?
            }
            TableAt::Version(v) => v,
            TableAt::Time(t) => self.version_at(name, t).await?,
        };
        if let Some(table) = self.snapshots.get(name, version) {
            return Ok(table);
        }
        match self.builder(name)?.with_version(version).load().await {
            Ok(table) => {
                self.snapshots.put(name, version, &table);
                Ok(table)
            }
            Err(DeltaTableError::NotATable(_)) => Err(CatalogError::TableNotFound {
                table: name.to_string(),
            }),
            Err(e) if at != TableAt::Latest => {
                let hint = match self.history(name).await {
                    Ok(h) if h.is_empty() => String::new(),
                    Ok(h) => describe_versions(&h),
                    Err(CatalogError::TableNotFound { .. }) => {
                        return Err(CatalogError::TableNotFound {
                            table: name.to_string(),
                        });
                    }
                    Err(_) => format!(" ({})", one_line(&e.to_string())),
                };
                Err(CatalogError::VersionNotFound {
                    table: name.to_string(),
                    version: version.to_string(),
                    hint,
                })
            }
            Err(e) => Err(CatalogError::storage(format!("loading {name}"), e)),
        }
    }

    /// The latest version committed at or before `at`. Times shown to users have whole
    /// seconds, so a commit counts as made at the start of its second: the time printed
    /// by `history` selects that very version.
    pub async fn version_at(&self, name: &TableName, at: DateTime<Utc>) -> Result<u64> {
        let history = self.history(name).await?;
        history
            .iter()
            .filter(|v| {
                v.committed_at
                    .is_some_and(|t| t.timestamp() <= at.timestamp())
            })
            .map(|v| v.version)
            .max()
            .ok_or_else(|| CatalogError::VersionNotFound {
                table: name.to_string(),
                version: format!(
                    "as of {} (Beijing time)",
                    crate::sql::to_beijing(at).format("%Y-%m-%d %H:%M:%S")
                ),
                hint: describe_versions(&history),
            })
    }

    /// All versions of a table, oldest first.
    pub async fn history(&self, name: &TableName) -> Result<Vec<TableVersion>> {
        let versions = read_history(
            &self.root_store,
            &self.table_path(name),
            name,
            &self.commits,
        )
        .await?;
        if versions.is_empty() {
            return Err(CatalogError::TableNotFound {
                table: name.to_string(),
            });
        }
        Ok(versions)
    }

    /// Every row of a table's latest version (for small internal tables).
    pub async fn read_all(&self, name: &TableName) -> Result<Vec<RecordBatch>> {
        let table = self.load(name, TableAt::Latest).await?;
        let provider = table
            .table_provider()
            .await
            .map_err(|e| CatalogError::storage(format!("reading {name}"), e))?;
        let ctx = deltalake::datafusion::prelude::SessionContext::new();
        ctx.read_table(provider)
            .map_err(|e| CatalogError::storage(format!("reading {name}"), e))?
            .collect()
            .await
            .map_err(|e| CatalogError::storage(format!("reading {name}"), e))
    }

    /// The current state of a table.
    pub async fn summary(&self, name: &TableName) -> Result<TableSummary> {
        let table = self.load(name, TableAt::Latest).await?;
        summarise(name, &table)
    }

    /// Commits `batches` to a table as one new version, creating the table on first use.
    ///
    /// `batches` must all have `schema` (the business columns); the catalog adds
    /// `_submission_id` and, for period commits, `_period`. A new nullable column is added
    /// to an existing table (schema evolution); any other difference is refused.
    pub async fn commit(
        &self,
        name: &TableName,
        schema: SchemaRef,
        batches: Vec<RecordBatch>,
        mode: CommitMode,
        submission: &SubmissionRecord,
    ) -> Result<CommitOutcome> {
        let stored = with_system_columns(name, &schema, batches, mode, &submission.submission_id)?;
        let rows: u64 = stored.iter().map(|b| b.num_rows() as u64).sum();
        let properties = data_files::properties(&stored[0]);
        self.commit_stored(name, &stored, rows, mode, properties, None, submission)
            .await
    }

    /// Commits `stored` (rows with their system columns), or — given `written` — the
    /// data files already written for `rows` rows, of which `stored` then only gives
    /// the schema: such files cannot be written again, so a concurrent change of the
    /// table's file schema refuses the commit instead of rewriting them.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn commit_stored(
        &self,
        name: &TableName,
        stored: &[RecordBatch],
        rows: u64,
        mode: CommitMode,
        properties: WriterProperties,
        mut written: Option<data_files::WrittenFiles>,
        submission: &SubmissionRecord,
    ) -> Result<CommitOutcome> {
        let rewritable = written.is_none();
        let mut submission = submission.clone();
        submission.rows = rows;
        let metadata = commit_metadata(&submission, mode)?;
        let commit_properties = CommitProperties::default()
            .with_metadata(metadata)
            .with_max_retries(0)
            .with_cleanup_expired_logs(Some(false));
        // Data files written for an attempt (or before it) are reused by the next while
        // the table's file schema stays the same; deleted if the commit fails.
        let committed = self
            .commit_attempts(
                name,
                stored,
                mode,
                properties,
                commit_properties,
                &mut written,
                rewritable,
            )
            .await;
        if committed.is_err()
            && let Some(files) = written
        {
            self.discard_unless_committed(name, files).await;
        }
        let (version, attempts) = committed?;
        Ok(CommitOutcome {
            table: name.clone(),
            version,
            rows,
            attempts,
        })
    }

    /// Commits `stored` as the next version, redoing the commit when another writer
    /// committed first; the version and the attempts it took.
    #[allow(clippy::too_many_arguments)]
    async fn commit_attempts(
        &self,
        name: &TableName,
        stored: &[RecordBatch],
        mode: CommitMode,
        properties: WriterProperties,
        commit_properties: CommitProperties,
        written: &mut Option<data_files::WrittenFiles>,
        rewritable: bool,
    ) -> Result<(u64, usize)> {
        for attempt in 1..=MAX_COMMIT_ATTEMPTS {
            let table = match self.load(name, TableAt::Latest).await {
                Ok(table) => Some(table),
                Err(CatalogError::TableNotFound { .. }) => None,
                Err(e) => return Err(e),
            };
            let schema_mode = match &table {
                Some(t) => schema_change(name, t, &stored[0].schema())?,
                None => None,
            };
            let own_files = table.as_ref().and_then(|table| {
                own_files_state(table, &schema_mode, mode)
                    .map(|state| (table, state, data_files::file_schema(state)))
            });
            let usable = |files: &data_files::WrittenFiles| {
                own_files.as_ref().map(|(_, _, schema)| schema) == Some(&files.file_schema)
            };
            if let Some(stale) = written.take_if(|files| !usable(files)) {
                stale.delete().await;
                if !rewritable {
                    return Err(CatalogError::CommitConflict {
                        table: name.to_string(),
                        attempts: attempt,
                    });
                }
            }
            let committed = match own_files {
                Some((table, state, file_schema)) => {
                    let files = match written.take() {
                        Some(files) => files,
                        None => {
                            data_files::write(
                                name,
                                table,
                                state,
                                file_schema,
                                stored,
                                mode,
                                properties.clone(),
                            )
                            .await?
                        }
                    };
                    let committed = self
                        .commit_files(table, state, &files, mode, commit_properties.clone())
                        .await;
                    *written = Some(files);
                    committed
                }
                None => {
                    let target = match table {
                        Some(t) => t,
                        None => self
                            .builder(name)?
                            .build()
                            .map_err(|e| CatalogError::storage(format!("creating {name}"), e))?,
                    };
                    write_with_deltalake(
                        target,
                        schema_mode,
                        stored,
                        mode,
                        properties.clone(),
                        commit_properties.clone(),
                    )
                    .await
                }
            };
            match committed {
                Ok(table) => {
                    let version = table.version().ok_or_else(|| {
                        CatalogError::Internal(format!("{name} has no version after a commit"))
                    })?;
                    self.snapshots.put(name, version, &table);
                    return Ok((version, attempt));
                }
                Err(e) if lost_race(&e) => {
                    tracing::info!(table = %name, attempt, "commit lost a race; redoing it");
                    tokio::time::sleep(Duration::from_millis(5 * attempt as u64)).await;
                }
                Err(e) => return Err(CatalogError::storage(format!("committing to {name}"), e)),
            }
        }
        Err(CatalogError::CommitConflict {
            table: name.to_string(),
            attempts: MAX_COMMIT_ATTEMPTS,
        })
    }
}

impl Catalog {
    /// Commits data files written by [`data_files::write`] as the next version of `table`,
    /// replacing what `mode` replaces.
    async fn commit_files(
        &self,
        table: &DeltaTable,
        state: &DeltaTableState,
        files: &data_files::WrittenFiles,
        mode: CommitMode,
        commit_properties: CommitProperties,
    ) -> std::result::Result<DeltaTable, DeltaTableError> {
        let partition_columns = state.metadata().partition_columns().to_vec();
        let operation = DeltaOperation::Write {
            mode: match mode {
                CommitMode::Append => SaveMode::Append,
                CommitMode::Period(_) | CommitMode::Snapshot => SaveMode::Overwrite,
            },
            partition_by: (!partition_columns.is_empty()).then_some(partition_columns),
            predicate: mode
                .period()
                .map(|period| format!("{PERIOD_COLUMN} = '{period}'")),
        };
        let commit = CommitBuilder::from(commit_properties)
            .with_actions(data_files::actions(state, files, mode))
            .build(Some(state), table.log_store(), operation)
            .await?;
        let mut committed = table.clone();
        committed.state = Some(commit.snapshot());
        Ok(committed)
    }

    /// Deletes the files of a commit that failed, unless the table's latest version lists
    /// one of them (the commit was written after all, whatever its error said) or the
    /// table cannot be read to tell: a file no version lists is never read, a file a
    /// version lists must stay.
    pub(crate) async fn discard_unless_committed(
        &self,
        name: &TableName,
        files: data_files::WrittenFiles,
    ) {
        let Ok(table) = self.load(name, TableAt::Latest).await else {
            return;
        };
        let Ok(state) = table.snapshot() else {
            return;
        };
        let ours: HashSet<&str> = files.adds.iter().map(|add| add.path.as_str()).collect();
        if !state
            .log_data()
            .iter()
            .any(|file| ours.contains(file.path().as_ref()))
        {
            files.delete().await;
        }
    }
}

/// Commits `stored` to `target` through deltalake's write, which also creates the table
/// on first use and changes its schema.
async fn write_with_deltalake(
    target: DeltaTable,
    schema_mode: Option<SchemaMode>,
    stored: &[RecordBatch],
    mode: CommitMode,
    properties: WriterProperties,
    commit_properties: CommitProperties,
) -> std::result::Result<DeltaTable, DeltaTableError> {
    let mut write = target
        .write(stored.to_vec())
        .with_save_mode(SaveMode::Overwrite)
        .with_configuration(TABLE_PROPERTIES.iter().map(|(k, v)| (*k, Some(*v))))
        .with_writer_properties(properties)
        .with_commit_properties(commit_properties);
    if let Some(schema_mode) = schema_mode {
        write = write.with_schema_mode(schema_mode);
    }
    match mode {
        CommitMode::Period(period) => {
            write = write
                .with_partition_columns([PERIOD_COLUMN])
                .with_replace_where(col(PERIOD_COLUMN).eq(lit(period.to_string())));
        }
        CommitMode::Append => write = write.with_save_mode(SaveMode::Append),
        CommitMode::Snapshot => {}
    }
    write.await
}

/// Table properties: every version stays readable (the platform's history is its audit
/// trail, so logs and replaced files are retained for ten years), and a checkpoint is
/// written every ten commits, so that loading a table reads at most nine commit files
/// after it — not up to 99, Delta's default, which the upload log (a commit per upload)
/// reached within weeks.
const TABLE_PROPERTIES: &[(&str, &str)] = &[
    ("delta.logRetentionDuration", "interval 3650 days"),
    ("delta.deletedFileRetentionDuration", "interval 3650 days"),
    ("delta.checkpointInterval", "10"),
];

/// Whether a column of type `t` holds text (plain, as views, or dictionary-encoded as
/// deltalake returns partition values).
pub(crate) fn is_text(t: &DataType) -> bool {
    match t {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => true,
        DataType::Dictionary(_, values) => is_text(values),
        _ => false,
    }
}

/// A store name no other catalog of the process has.
fn own_store_url() -> ObjectStoreUrl {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    ObjectStoreUrl::parse(format!("sannong-catalog://{n}"))
        .expect("a scheme and a number make a URL")
}

fn register_object_store_schemes() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| deltalake::aws::register_handlers(None));
}

/// Runs blocking filesystem calls (`what` names them in errors) off the async workers.
async fn on_local_disk<T: Send + 'static>(
    what: impl Into<String>,
    calls: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> Result<T> {
    let what = what.into();
    match tokio::task::spawn_blocking(calls).await {
        Ok(result) => result.map_err(|e| CatalogError::storage(what, e)),
        Err(e) => Err(CatalogError::Internal(format!("{what}: {e}"))),
    }
}

fn root_path_of(location: &DataLocation) -> Path {
    Path::from_url_path(location.root().path()).unwrap_or_default()
}

fn lost_race(e: &DeltaTableError) -> bool {
    matches!(
        e,
        DeltaTableError::VersionAlreadyExists(_)
            | DeltaTableError::Transaction {
                source: TransactionError::MaxCommitAttempts(_)
                    | TransactionError::CommitConflict(_)
                    | TransactionError::VersionAlreadyExists(_)
            }
    )
}

fn describe_versions(history: &[TableVersion]) -> String {
    let first = history.first();
    let last = history.last();
    match (first, last) {
        (Some(first), Some(last)) => {
            let when = |v: &TableVersion| {
                v.committed_at
                    .map(|t| {
                        crate::sql::to_beijing(t)
                            .format(" (%Y-%m-%d %H:%M:%S)")
                            .to_string()
                    })
                    .unwrap_or_default()
            };
            format!(
                "; it has versions {}{} to {}{}",
                first.version,
                when(first),
                last.version,
                when(last)
            )
        }
        _ => String::new(),
    }
}

fn commit_metadata(
    submission: &SubmissionRecord,
    mode: CommitMode,
) -> Result<Vec<(String, serde_json::Value)>> {
    let to_json = |v: serde_json::Result<serde_json::Value>| {
        v.map_err(|e| CatalogError::Internal(format!("cannot serialise the submission: {e}")))
    };
    Ok(vec![
        (
            SUBMISSION_KEY.to_owned(),
            to_json(serde_json::to_value(submission))?,
        ),
        (MODE_KEY.to_owned(), to_json(serde_json::to_value(mode))?),
    ])
}

/// Adds `_submission_id` (and `_period` for period commits) to every batch; checks the
/// batches have the declared schema and refuses business columns that shadow system ones.
pub(crate) fn with_system_columns(
    name: &TableName,
    schema: &SchemaRef,
    batches: Vec<RecordBatch>,
    mode: CommitMode,
    submission_id: &str,
) -> Result<Vec<RecordBatch>> {
    if let Some(field) = schema.fields().iter().find(|f| f.name().starts_with('_')) {
        return Err(CatalogError::SchemaMismatch {
            table: name.to_string(),
            detail: format!(
                "column '{}' starts with '_', which is reserved for system columns",
                field.name()
            ),
        });
    }
    let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    fields.push(Field::new(SUBMISSION_ID_COLUMN, DataType::Utf8, false));
    if mode.period().is_some() {
        fields.push(Field::new(PERIOD_COLUMN, DataType::Utf8, false));
    }
    let stored_schema = Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()));
    let mut batches = batches;
    if batches.is_empty() {
        batches.push(RecordBatch::new_empty(schema.clone()));
    }
    batches
        .into_iter()
        .map(|batch| {
            if batch.schema().fields() != schema.fields() {
                return Err(CatalogError::SchemaMismatch {
                    table: name.to_string(),
                    detail: format!(
                        "a batch has columns {:?}, the declared schema has {:?}",
                        batch
                            .schema()
                            .fields()
                            .iter()
                            .map(|f| f.to_string())
                            .collect::<Vec<_>>(),
                        schema
                            .fields()
                            .iter()
                            .map(|f| f.to_string())
                            .collect::<Vec<_>>()
                    ),
                });
            }
            let rows = batch.num_rows();
            let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
            columns.push(Arc::new(StringArray::from_iter_values(
                std::iter::repeat_n(submission_id, rows),
            )));
            if let Some(period) = mode.period() {
                let period = period.to_string();
                columns.push(Arc::new(StringArray::from_iter_values(
                    std::iter::repeat_n(period.as_str(), rows),
                )));
            }
            RecordBatch::try_new(stored_schema.clone(), columns).map_err(|e| {
                CatalogError::SchemaMismatch {
                    table: name.to_string(),
                    detail: e.to_string(),
                }
            })
        })
        .collect()
}

/// The state of `table` when the catalog writes a `mode` commit's data files itself
/// ([`data_files`]): the rows need no schema change (`schema_mode`) and the table is
/// partitioned as `mode` writes.
pub(crate) fn own_files_state<'a>(
    table: &'a DeltaTable,
    schema_mode: &Option<SchemaMode>,
    mode: CommitMode,
) -> Option<&'a DeltaTableState> {
    let state = table.snapshot().ok()?;
    (schema_mode.is_none() && data_files::can_write(state, mode)).then_some(state)
}

/// Decides how a write's schema relates to the table's: same (no schema mode), new
/// nullable columns (merge), or incompatible (refused, naming the column).
pub(crate) fn schema_change(
    name: &TableName,
    table: &DeltaTable,
    incoming: &SchemaRef,
) -> Result<Option<SchemaMode>> {
    let current = table
        .snapshot()
        .map_err(|e| CatalogError::storage(format!("reading the schema of {name}"), e))?
        .snapshot()
        .arrow_schema();
    let mismatch = |detail: String| CatalogError::SchemaMismatch {
        table: name.to_string(),
        detail,
    };
    let mut added = false;
    for field in incoming.fields() {
        match current.field_with_name(field.name()) {
            Ok(existing) if stored_type(existing.data_type()) == stored_type(field.data_type()) => {
            }
            Ok(existing) => {
                return Err(mismatch(format!(
                    "column '{}' is {} in the table but {} in the new data",
                    field.name(),
                    existing.data_type(),
                    field.data_type()
                )));
            }
            Err(_) if field.is_nullable() => added = true,
            Err(_) => {
                return Err(mismatch(format!(
                    "new column '{}' must be nullable: earlier versions have no value for it",
                    field.name()
                )));
            }
        }
    }
    if let Some(missing) = current
        .fields()
        .iter()
        .find(|f| incoming.field_with_name(f.name()).is_err())
    {
        return Err(mismatch(format!(
            "column '{}' of the table is missing from the new data",
            missing.name()
        )));
    }
    Ok(added.then_some(SchemaMode::Merge))
}

/// The type a column has once stored: Delta keeps timestamps in microseconds, so a
/// `Timestamp(second)` column reads back as `Timestamp(microsecond)` with the same values.
fn stored_type(data_type: &DataType) -> DataType {
    match data_type {
        DataType::Timestamp(_, tz) => {
            DataType::Timestamp(arrow::datatypes::TimeUnit::Microsecond, tz.clone())
        }
        other => other.clone(),
    }
}

fn summarise(name: &TableName, table: &DeltaTable) -> Result<TableSummary> {
    let state = table
        .snapshot()
        .map_err(|e| CatalogError::storage(format!("reading {name}"), e))?;
    let snapshot = state.snapshot();
    let mut rows = 0u64;
    let mut files = 0u64;
    let mut bytes = 0u64;
    for file in state.log_data().iter() {
        files += 1;
        rows += file.num_records().unwrap_or(0) as u64;
        bytes += file.size().max(0) as u64;
    }
    let partitioned_by_period = snapshot
        .metadata()
        .partition_columns()
        .iter()
        .any(|c| c == PERIOD_COLUMN);
    Ok(TableSummary {
        table: name.clone(),
        version: state.version(),
        rows,
        files,
        bytes,
        mode: if partitioned_by_period {
            "period"
        } else {
            "snapshot"
        },
        schema: snapshot.arrow_schema(),
    })
}
