//! Uploads: a department's file to one validated, atomic table version — or a refusal
//! naming every problem, in Chinese and English.
//!
//! The steps, in order (see [`upload`]):
//! 1. find the duty's plugin; check the period; recognise a file already accepted;
//! 2. read the file ([`source`], [`text`]) and parse it by the template ([`typed`]) —
//!    a large CSV file on every core ([`parallel`]), a block at a time ([`body`]);
//! 3. the template's checks ([`checks`]);
//! 4. the plugin's `validate`, on the rows that passed (WASM);
//! 5. checks against committed tables ([`cross`]);
//! 6. the plugin's `transform`, then one atomic commit with the submission record.
//!
//! A large CSV file goes through steps 2–6 a block at a time, its rows written ahead as
//! data files while no error is found, so that its memory is the block's, whatever the
//! file's size. No version lists those files before the one commit of step 6, and they
//! are deleted when the upload is refused. Every outcome but a duplicate is recorded in
//! the upload log ([`log`]); a refused upload leaves only that record.

// A file that cannot be read is refused with one `Problem`, returned once per upload:
// its size on the error path costs nothing worth boxing it for.
#![allow(clippy::result_large_err)]

pub mod body;
pub mod cell;
pub mod checks;
pub mod cross;
pub mod log;
pub mod parallel;
pub mod problems;
pub mod source;
pub mod template;
pub mod text;
pub mod typed;
pub mod unique;

use std::collections::HashSet;
use std::sync::Arc;

use ahash::RandomState;
use arrow::array::{BooleanArray, RecordBatch};
use chrono::{DateTime, Utc};
use sannong_catalog::{CommitInParts, CommitMode, Period, PluginRef, SubmissionRecord};
use serde::Serialize;

use self::body::{BlocksAhead, UploadBody};
use self::log::LogEntry;
use self::problems::{Problem, shown_value};
use self::source::{FileFormat, ReadOptions};
use self::text::Encoding;
use self::typed::TypedRows;
use self::unique::UniqueKeys;
use crate::error::{Error, Result};
use crate::platform::Platform;
use crate::plugin::manifest::{DutyMode, DutySpec};
use crate::plugin::registry::{self, InstalledPlugin};
use crate::plugin::{LoadedPlugin, PluginDiagnostic, PluginRuntime};

/// Problems held in memory per upload (the counts stay exact beyond it).
const PROBLEMS_HELD: usize = 10_000;

/// One upload.
#[derive(Debug)]
pub struct UploadRequest {
    /// The duty, e.g. `parcels`.
    pub duty: String,
    /// The period `YYYY-MM`, for period duties.
    pub period: Option<String>,
    /// Who uploads.
    pub uploader: String,
    /// The file's name as the department has it.
    pub file_name: String,
    /// The file.
    pub body: UploadBody,
    /// How to read it.
    pub read: ReadOptions,
    /// Check everything but write nothing.
    pub dry_run: bool,
    /// When the department sent the file, if earlier than now: for entering reports
    /// that arrived by e-mail before the platform existed (timeliness counts from it).
    pub received_at: Option<DateTime<Utc>>,
}

/// What became of an upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UploadStatus {
    /// Stored as a new table version.
    Accepted,
    /// Refused whole; nothing written.
    Refused,
    /// This very file was already accepted for this duty and period; nothing written.
    AlreadyAccepted,
    /// A dry run that found no error; nothing written.
    WouldBeAccepted,
}

/// The outcome of an upload.
#[derive(Debug, Clone, Serialize)]
pub struct UploadOutcome {
    /// What became of it.
    pub status: UploadStatus,
    /// The submission id (for a duplicate: the earlier submission's).
    pub submission_id: String,
    /// The duty.
    pub duty: String,
    /// The department owing it.
    pub department: String,
    /// The table.
    pub table: String,
    /// The period.
    pub period: Option<String>,
    /// The version written (or, for a duplicate, holding the file).
    pub version: Option<u64>,
    /// Data rows read from the file.
    pub rows_read: u64,
    /// Rows stored.
    pub rows_stored: u64,
    /// Errors found.
    pub errors: u64,
    /// Warnings found.
    pub warnings: u64,
    /// The problems: errors first, then warnings, in row order (at most 10,000).
    pub problems: Vec<Problem>,
}

/// Told how far the upload got.
pub trait Progress: Send + Sync {
    /// Rows read so far.
    fn rows_read(&self, rows: usize);
    /// A step started.
    fn step(&self, name: &str);
}

/// No progress reporting.
pub struct Silent;

impl Progress for Silent {
    fn rows_read(&self, _: usize) {}
    fn step(&self, _: &str) {}
}

/// Problems found so far, with exact counts.
#[derive(Debug, Default)]
struct Found {
    problems: Vec<Problem>,
    errors: u64,
    warnings: u64,
}

impl Found {
    fn extend(&mut self, problems: impl IntoIterator<Item = Problem>) {
        for problem in problems {
            if problem.is_error() {
                self.errors += 1;
            } else {
                self.warnings += 1;
            }
            if self.problems.len() < PROBLEMS_HELD {
                self.problems.push(problem);
            }
        }
    }

    /// Errors first, then by row, then in the template's column order.
    fn sorted(mut self, duty: &DutySpec) -> Self {
        let position = |p: &Problem| {
            p.column
                .as_deref()
                .and_then(|k| duty.columns.iter().position(|c| c.key == k))
                .unwrap_or(0)
        };
        self.problems
            .sort_by_key(|p| (!p.is_error(), p.row.unwrap_or(0), position(p)));
        self
    }
}

/// The duty's plugin and the duty, checking the period against the duty's mode.
async fn resolve(
    platform: &Platform,
    request: &UploadRequest,
) -> Result<(InstalledPlugin, DutySpec, CommitMode)> {
    let (plugin, duty) = match registry::for_duty(platform.catalog(), &request.duty).await {
        Ok(found) => found,
        Err(Error::PluginNotFound(_)) => {
            let known: Vec<String> = platform
                .plugins()
                .await?
                .iter()
                .flat_map(|p| p.manifest.duties.iter().map(|d| d.id.clone()))
                .collect();
            return Err(Error::InvalidArgument(format!(
                "unknown duty '{}'; the duties served are: {}",
                request.duty,
                if known.is_empty() {
                    "none (no plugin is installed)".to_owned()
                } else {
                    known.join(", ")
                }
            )));
        }
        Err(e) => return Err(e),
    };
    let mode = match (duty.mode, &request.period) {
        (DutyMode::Period, Some(period)) => CommitMode::Period(period.parse::<Period>()?),
        (DutyMode::Period, None) => {
            return Err(Error::InvalidArgument(format!(
                "duty {} is reported by month: give the period, e.g. --period 2021-03",
                duty.id
            )));
        }
        (DutyMode::Snapshot, None) => CommitMode::Snapshot,
        (DutyMode::Snapshot, Some(_)) => {
            return Err(Error::InvalidArgument(format!(
                "duty {} is a snapshot (each upload replaces the whole table): it takes no period",
                duty.id
            )));
        }
    };
    Ok((plugin, duty, mode))
}

/// The submission whose rows are current for this duty and period, if it came from
/// the very same file.
async fn same_file_current(
    platform: &Platform,
    duty: &DutySpec,
    mode: CommitMode,
    sha256: &str,
) -> Result<Option<(String, u64)>> {
    let table = duty.table_name()?;
    if !platform.catalog().exists(&table).await? {
        return Ok(None);
    }
    let history = platform.catalog().history(&table).await?;
    let current = history.iter().rev().find(|v| match mode {
        CommitMode::Period(p) => v.mode.and_then(|m| m.period()) == Some(p),
        _ => true,
    });
    Ok(current.and_then(|v| {
        let s = v.submission.as_ref()?;
        (s.file_sha256.as_deref() == Some(sha256) && s.duty.as_deref() == Some(duty.id.as_str()))
            .then(|| (s.submission_id.clone(), v.version))
    }))
}

/// Reads and parses a file held whole; a file that cannot be read is one file problem.
fn parse_file(
    file_name: &str,
    bytes: &[u8],
    read: &ReadOptions,
    duty: &DutySpec,
    found: &mut Found,
    progress: &dyn Progress,
) -> Option<TypedRows> {
    if let Some(csv) = parallel::parse_csv(file_name, bytes, read, duty, progress) {
        found.extend(csv.problems);
        return Some(csv.rows);
    }
    let table = match source::read(file_name, bytes, read) {
        Ok(table) => table,
        Err(problem) => {
            found.extend([problem]);
            return None;
        }
    };
    let map = match typed::map_header(&table.header, duty) {
        Ok(map) => map,
        Err(problems) => {
            found.extend(problems);
            return None;
        }
    };
    let max_rows = read.max_rows;
    let rows = table.rows.enumerate().map(move |(index, row)| {
        if index < max_rows {
            row
        } else {
            Err(Problem::file(
                "too-many-rows",
                format!("文件超过 {max_rows} 行数据的上限，请分开上报"),
                format!("the file has more than the limit of {max_rows} data rows; split it"),
            ))
        }
    });
    let mut problems = Vec::new();
    let parsed = typed::parse_rows(rows, &map, duty, &mut problems, |n| progress.rows_read(n));
    found.extend(problems);
    match parsed {
        Ok(rows) => Some(rows),
        Err(problem) => {
            found.extend([problem]);
            None
        }
    }
}

/// The plugin's diagnostics as problems, with file rows and column headers.
fn diagnostics_to_problems(
    duty: &DutySpec,
    kept: &[usize],
    rows: &TypedRows,
    diagnostics: Vec<PluginDiagnostic>,
) -> Vec<Problem> {
    diagnostics
        .into_iter()
        .map(|d| {
            let column = d.column.as_deref().and_then(|k| duty.column(k));
            let row = d
                .row
                .and_then(|r| kept.get(r as usize))
                .map(|&index| rows.row_numbers[index]);
            Problem {
                row,
                column: d.column.clone(),
                column_zh: column.map(|c| c.header_zh.clone()),
                value: d
                    .value
                    .as_deref()
                    .map(|v| shown_value(v, column.is_some_and(|c| c.personal))),
                rule: d.rule,
                message_zh: d.message_zh,
                message_en: d.message_en,
                severity: d.severity,
            }
        })
        .collect()
}

/// Runs a plugin call on a blocking thread.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Internal(format!("a plugin call was lost: {e}")))?
}

/// The rows (as indexes) without an error so far, and the batches holding only them.
fn rows_without_errors(rows: &TypedRows, found: &Found) -> Result<PluginRows> {
    let bad: HashSet<u32, RandomState> = found
        .problems
        .iter()
        .filter(|p| p.is_error())
        .filter_map(|p| p.row)
        .collect();
    if bad.is_empty() {
        return Ok(PluginRows {
            kept: (0..rows.len()).collect(),
            batches: rows.batches.clone(),
        });
    }
    let mut kept = Vec::new();
    let mut batches = Vec::new();
    let mut index = 0;
    for batch in &rows.batches {
        let mask: Vec<bool> = (0..batch.num_rows())
            .map(|i| {
                let keep = !bad.contains(&rows.row_numbers[index + i]);
                if keep {
                    kept.push(index + i);
                }
                keep
            })
            .collect();
        index += batch.num_rows();
        batches.push(
            arrow::compute::filter_record_batch(batch, &BooleanArray::from(mask))
                .map_err(|e| Error::Internal(e.to_string()))?,
        );
    }
    Ok(PluginRows { kept, batches })
}

/// The rows that passed the template: their indexes among all rows, and batches of them.
struct PluginRows {
    kept: Vec<usize>,
    batches: Vec<RecordBatch>,
}

/// Runs `validate` over the rows that passed the template; its problems.
async fn validate_with_plugin(
    runtime: &PluginRuntime,
    plugin: &Arc<LoadedPlugin>,
    duty: &DutySpec,
    period: Option<String>,
    rows: &TypedRows,
    passed: PluginRows,
) -> Result<Vec<Problem>> {
    let PluginRows { kept, batches } = passed;
    let (runtime, plugin, duty_id) = (runtime.clone(), plugin.clone(), duty.id.clone());
    let diagnostics =
        blocking(move || runtime.validate(&plugin, &duty_id, period.as_deref(), &batches)).await?;
    Ok(diagnostics_to_problems(duty, &kept, rows, diagnostics))
}

/// The rows to store: the plugin's `transform`, or the validated rows on the stored schema.
async fn rows_to_store(
    runtime: &PluginRuntime,
    plugin: &Arc<LoadedPlugin>,
    duty: &DutySpec,
    period: Option<String>,
    rows: &TypedRows,
) -> Result<Vec<RecordBatch>> {
    let stored = duty.stored_schema();
    let batches: Vec<RecordBatch> = rows
        .batches
        .iter()
        .filter(|b| b.num_rows() > 0)
        .cloned()
        .collect();
    if !duty.transforms {
        return batches
            .into_iter()
            .map(|b| {
                RecordBatch::try_new(stored.clone(), b.columns().to_vec())
                    .map_err(|e| Error::Internal(format!("storing rows: {e}")))
            })
            .collect();
    }
    let (runtime, plugin, duty_id) = (runtime.clone(), plugin.clone(), duty.id.clone());
    blocking(move || runtime.transform(&plugin, &duty_id, period.as_deref(), &batches)).await
}

/// What every step of one upload needs to know.
struct Context<'a> {
    platform: &'a Platform,
    dry_run: bool,
    duty: DutySpec,
    mode: CommitMode,
    department: String,
    table: sannong_catalog::TableName,
    period: Option<String>,
}

impl Context<'_> {
    #[allow(clippy::too_many_arguments)]
    fn outcome(
        &self,
        status: UploadStatus,
        submission_id: String,
        version: Option<u64>,
        rows_read: u64,
        rows_stored: u64,
        found: Found,
    ) -> UploadOutcome {
        UploadOutcome {
            status,
            submission_id,
            duty: self.duty.id.clone(),
            department: self.department.clone(),
            table: self.table.to_string(),
            period: self.period.clone(),
            version,
            rows_read,
            rows_stored,
            errors: found.errors,
            warnings: found.warnings,
            problems: found.problems,
        }
    }

    /// Records an upload's outcome in the log (not for dry runs).
    async fn log(
        &self,
        record: SubmissionRecord,
        status: &'static str,
        version: Option<u64>,
        found: &Found,
    ) -> Result<()> {
        if self.dry_run {
            return Ok(());
        }
        let entry = LogEntry {
            record,
            status,
            period: self.period.clone(),
            table: self.table.to_string(),
            version,
            errors: found.errors,
            warnings: found.warnings,
            problems: found.problems.clone(),
            finished_at: Utc::now(),
        };
        log::record(self.platform.catalog(), &entry).await
    }

    /// Refuses the upload: records the refusal, writes nothing else.
    async fn refuse(
        &self,
        found: Found,
        rows_read: u64,
        mut record: SubmissionRecord,
    ) -> Result<UploadOutcome> {
        let found = found.sorted(&self.duty);
        record.rows = rows_read;
        let submission_id = record.submission_id.clone();
        self.log(record, "refused", None, &found).await?;
        Ok(self.outcome(
            UploadStatus::Refused,
            submission_id,
            None,
            rows_read,
            0,
            found,
        ))
    }
}

/// A plugin failure becomes a problem of the upload (the department sees it, the
/// refusal is recorded); any other error stays an error.
fn plugin_failure(e: Error, found: &mut Found) -> Result<()> {
    match &e {
        Error::PluginFailed { reason, .. } => {
            found.extend([Problem::file(
                "plugin-failed",
                format!("本职责的插件出错：{reason}（请联系平台管理员）"),
                format!("the duty's plugin failed: {reason} (tell the platform's administrators)"),
            )]);
            Ok(())
        }
        _ => Err(e),
    }
}

/// An upload's rows checked a part at a time — the template's checks, the plugin's
/// `validate`, the checks against committed tables — and, while no error is found,
/// transformed and written ahead as data files of the one commit that takes them all.
struct Checking<'a> {
    context: &'a Context<'a>,
    runtime: PluginRuntime,
    plugin: Arc<LoadedPlugin>,
    record: SubmissionRecord,
    found: Found,
    unique: UniqueKeys,
    /// Referenced values found by the blocks checked so far.
    known_keys: cross::KnownKeys,
    rows_read: u64,
    rows_stored: u64,
    /// The commit being written: none for a dry run, none once an error is found.
    commit: Option<CommitInParts>,
}

impl<'a> Checking<'a> {
    async fn new(
        context: &'a Context<'a>,
        installed: &InstalledPlugin,
        request: &UploadRequest,
    ) -> Result<Checking<'a>> {
        let platform = context.platform;
        let mut record = SubmissionRecord::new(&request.uploader, 0);
        if let Some(at) = request.received_at {
            record.received_at = at;
        }
        record.duty = Some(context.duty.id.clone());
        record.department = Some(context.department.clone());
        record.file_name = Some(request.file_name.clone());
        record.plugin = Some(PluginRef {
            id: installed.event.plugin_id.clone(),
            version: installed.event.version.clone(),
            sha256: installed.event.sha256.clone(),
        });
        let commit = if context.dry_run {
            None
        } else {
            Some(
                platform
                    .catalog()
                    .begin_commit(
                        &context.table,
                        context.duty.stored_schema(),
                        context.mode,
                        &record.submission_id,
                    )
                    .await?,
            )
        };
        Ok(Checking {
            context,
            runtime: platform.plugin_runtime()?,
            plugin: platform.load_plugin(installed).await?,
            record,
            found: Found::default(),
            unique: UniqueKeys::new(&context.duty),
            known_keys: cross::KnownKeys::default(),
            rows_read: 0,
            rows_stored: 0,
            commit,
        })
    }

    /// Deletes what was written ahead: nothing of this upload is to be committed.
    async fn discard(&mut self) {
        if let Some(commit) = self.commit.take() {
            self.context.platform.catalog().discard_parts(commit).await;
        }
    }

    /// Checks rows of the upload (all of them, or the next part), then writes them ahead
    /// unless an error was found in them or before.
    async fn check(&mut self, rows: TypedRows, progress: &dyn Progress) -> Result<()> {
        let context = self.context;
        let (duty, mode) = (&context.duty, context.mode);
        self.rows_read += rows.len() as u64;
        progress.step("checking the template");
        let mut template_problems = Vec::new();
        checks::check_template(duty, &rows, mode.period(), &mut template_problems);
        self.found.extend(template_problems);

        // The plugin (WASM, one core), the checks against committed tables (queries) and
        // the recording of keys unique in the file need only the rows and the template's
        // problems: they run side by side.
        let mut unique = std::mem::replace(&mut self.unique, UniqueKeys::new(duty));
        let keyed_rows = rows.clone();
        let record_keys = blocking(move || unique.record(&keyed_rows).map(|()| unique));
        progress.step("running the plugin and checking against committed tables");
        let plugin_rows = (!rows.is_empty()).then(|| rows_without_errors(&rows, &self.found));
        let (runtime, plugin, known) = (&self.runtime, &self.plugin, &mut self.known_keys);
        let plugin_check = async {
            match plugin_rows {
                Some(passed) => {
                    let period = context.period.clone();
                    validate_with_plugin(runtime, plugin, duty, period, &rows, passed?).await
                }
                None => Ok(Vec::new()),
            }
        };
        let committed_check = async {
            let mut problems = Vec::new();
            let query = context.platform.query_service();
            cross::check_committed(query, duty, &rows, mode.period(), known, &mut problems)
                .await
                .map(|()| problems)
        };
        let (plugin_checked, committed_checked, recorded) =
            tokio::join!(plugin_check, committed_check, record_keys);
        self.unique = recorded?;
        match plugin_checked {
            Ok(problems) => self.found.extend(problems),
            Err(e) => plugin_failure(e, &mut self.found)?,
        }
        self.found.extend(committed_checked?);
        if self.found.errors > 0 {
            self.discard().await;
            return Ok(());
        }

        let period = context.period.clone();
        let stored = match rows_to_store(&self.runtime, &self.plugin, duty, period, &rows).await {
            Ok(stored) => stored,
            Err(e) => {
                plugin_failure(e, &mut self.found)?;
                self.discard().await;
                return Ok(());
            }
        };
        drop(rows);
        self.rows_stored += stored.iter().map(|b| b.num_rows() as u64).sum::<u64>();
        if let Some(commit) = &mut self.commit {
            progress.step("writing");
            if let Err(e) = commit.write(stored).await {
                self.discard().await;
                return Err(e.into());
            }
        }
        Ok(())
    }

    /// The earlier submission's outcome when this very file (of digest `sha256`) is the
    /// one current for the duty and period: then nothing of this upload is kept.
    async fn already_accepted(&mut self, sha256: String) -> Result<Option<UploadOutcome>> {
        let context = self.context;
        let current =
            same_file_current(context.platform, &context.duty, context.mode, &sha256).await?;
        let Some((submission_id, version)) = current else {
            self.record.file_sha256 = Some(sha256);
            return Ok(None);
        };
        self.discard().await;
        Ok(Some(context.outcome(
            UploadStatus::AlreadyAccepted,
            submission_id,
            Some(version),
            0,
            0,
            Found::default(),
        )))
    }

    /// Once every row is checked: the commit, or the refusal with every problem.
    async fn finish(mut self, progress: &dyn Progress) -> Result<UploadOutcome> {
        let context = self.context;
        let duty = &context.duty;
        let unique = std::mem::replace(&mut self.unique, UniqueKeys::new(duty));
        self.found.extend(unique.duplicates(duty)?);
        if self.rows_read == 0 && self.found.errors == 0 && duty.mode == DutyMode::Snapshot {
            self.found.extend([Problem::file(
                "empty-snapshot",
                "文件只有表头没有数据：快照上报会替换整张表，空文件会清空它，因此拒绝",
                "the file has a header but no rows: a snapshot upload replaces the whole table, so an empty one would erase it",
            )]);
        }
        let found = std::mem::take(&mut self.found);
        if found.errors > 0 {
            self.discard().await;
            return context.refuse(found, self.rows_read, self.record).await;
        }
        let found = found.sorted(duty);
        let submission_id = self.record.submission_id.clone();
        let Some(commit) = self.commit.take() else {
            return Ok(context.outcome(
                UploadStatus::WouldBeAccepted,
                submission_id,
                None,
                self.rows_read,
                self.rows_stored,
                found,
            ));
        };

        progress.step("committing");
        let mut record = self.record;
        record.rows = self.rows_stored;
        let committed = context
            .platform
            .catalog()
            .commit_parts(commit, &record)
            .await?;
        if let Err(e) = context
            .log(record, "accepted", Some(committed.version), &found)
            .await
        {
            // The data is committed with its submission record; only the warnings' copy is lost.
            tracing::error!(submission = %submission_id, "cannot record an accepted upload in the upload log: {e}");
        }
        Ok(context.outcome(
            UploadStatus::Accepted,
            submission_id,
            Some(committed.version),
            self.rows_read,
            self.rows_stored,
            found,
        ))
    }
}

/// An error reading the bytes of the uploaded file `file_name` (what they hold is for
/// problems to say).
fn unreadable(file_name: &str) -> impl Fn(std::io::Error) -> Error + '_ {
    move |e| Error::Internal(format!("cannot read the uploaded file {file_name}: {e}"))
}

/// Reads a large CSV file a block at a time into `checking`, each block read on every
/// core while the block before it is checked; the file's sha256, or `None` when a
/// block cannot be read on every core — a quoted cell, a ragged row, a cell too long,
/// too many rows — and the file must be read whole, line by line, which says where.
async fn check_in_blocks(
    checking: &mut Checking<'_>,
    request: &UploadRequest,
    progress: &dyn Progress,
) -> Result<Option<String>> {
    let unreadable = unreadable(&request.file_name);
    let reader = request.body.owned_reader().map_err(&unreadable)?;
    let mut blocks = BlocksAhead::start(reader, request.read.block_bytes);
    let duty = Arc::new(checking.context.duty.clone());
    let mut read = request.read.clone();
    let mut reading = read_next_block(&mut blocks, &mut read, &duty)
        .await
        .map_err(&unreadable)?;
    let mut records_before = 0u32;
    while let Some(block_read) = reading {
        progress.step("reading");
        let (block, csv) = block_read
            .await
            .map_err(|e| Error::Internal(format!("reading {} was lost: {e}", request.file_name)))?;
        blocks.recycle(block);
        let Some(csv) = csv else {
            return Ok(None);
        };
        reading = read_next_block(&mut blocks, &mut read, &duty)
            .await
            .map_err(&unreadable)?;
        let csv = csv.renumbered(records_before);
        records_before += csv.records;
        let rows_read = checking.rows_read as usize + csv.rows.len();
        if rows_read > read.max_rows {
            return Ok(None);
        }
        progress.rows_read(rows_read);
        checking.found.extend(csv.problems);
        checking.check(csv.rows, progress).await?;
    }
    blocks.finish().map_err(&unreadable)
}

/// A block being read on every core: the block (to recycle) and what it read as.
type BlockRead = tokio::task::JoinHandle<(Vec<u8>, Option<parallel::CsvRead>)>;

/// Starts reading the next block of `blocks` on every core, or `None` after the last.
/// `read`'s encoding is told by the first block that is not plain ASCII (the same in
/// both), as reading the whole file would tell it.
async fn read_next_block(
    blocks: &mut BlocksAhead,
    read: &mut ReadOptions,
    duty: &Arc<DutySpec>,
) -> std::io::Result<Option<BlockRead>> {
    let Some(block) = blocks.next().await? else {
        return Ok(None);
    };
    if read.encoding == Encoding::Auto && !block.is_ascii() {
        read.encoding = match std::str::from_utf8(&block) {
            Ok(_) => Encoding::Utf8,
            Err(_) => Encoding::Gbk,
        };
    }
    let (read, duty) = (read.clone(), Arc::clone(duty));
    Ok(Some(tokio::task::spawn_blocking(move || {
        let csv = parallel::parse_csv_text(&block, &read, &duty, &Silent);
        (block, csv)
    })))
}

/// Uploads a file: accepted whole, or refused whole with its problems.
pub async fn upload(
    platform: &Platform,
    request: UploadRequest,
    progress: &dyn Progress,
) -> Result<UploadOutcome> {
    if let Some(at) = request.received_at.filter(|at| *at > Utc::now()) {
        return Err(Error::InvalidArgument(format!(
            "the file cannot have been received at {} (Beijing time), which is in the future",
            sannong_catalog::sql::to_beijing(at).format("%Y-%m-%d %H:%M:%S")
        )));
    }
    let (installed, duty, mode) = resolve(platform, &request).await?;
    let context = Context {
        platform,
        dry_run: request.dry_run,
        table: duty.table_name()?,
        period: mode.period().map(|p| p.to_string()),
        department: installed.manifest.department.id.clone(),
        duty,
        mode,
    };
    let unreadable = unreadable(&request.file_name);

    progress.step("reading");
    let size = request.body.size().map_err(&unreadable)?;
    let format = match request.read.format {
        Some(format) => format,
        None => FileFormat::detect(
            &request.file_name,
            &request.body.head(4096).map_err(&unreadable)?,
        ),
    };
    if parallel::read_on_every_core(format, size) {
        let mut checking = Checking::new(&context, &installed, &request).await?;
        match check_in_blocks(&mut checking, &request, progress).await {
            Ok(Some(sha256)) => {
                if let Some(outcome) = checking.already_accepted(sha256).await? {
                    return Ok(outcome);
                }
                return checking.finish(progress).await;
            }
            Ok(None) => checking.discard().await,
            Err(e) => {
                checking.discard().await;
                return Err(e);
            }
        }
    }

    // Held whole: its digest is one thread's work over all its bytes, taken while the
    // file is read on the other threads.
    let mut checking = Checking::new(&context, &installed, &request).await?;
    let bytes = request.body.into_bytes().map_err(&unreadable)?;
    let found = &mut checking.found;
    let (sha256, parsed) = std::thread::scope(|scope| {
        let digest = scope.spawn(|| crate::plugin::engine::sha256_hex(&bytes));
        let parsed = parse_file(
            &request.file_name,
            &bytes,
            &request.read,
            &context.duty,
            found,
            progress,
        );
        let sha256 = digest
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (sha256, parsed)
    });
    // The file is in the rows now: its memory goes back before the checks take theirs.
    drop(bytes);
    if let Some(outcome) = checking.already_accepted(sha256).await? {
        return Ok(outcome);
    }
    if let Some(rows) = parsed {
        checking.check(rows, progress).await?;
    }
    checking.finish(progress).await
}
