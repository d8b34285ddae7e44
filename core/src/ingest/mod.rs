//! Uploads: a department's file to one validated, atomic table version — or a refusal
//! naming every problem, in Chinese and English.
//!
//! The steps, in order (see [`upload`]):
//! 1. find the duty's plugin; check the period; recognise a file already accepted;
//! 2. read the file ([`source`], [`text`]) and parse it by the template ([`typed`]) —
//!    a large CSV file on every core ([`parallel`]);
//! 3. the template's checks ([`checks`]);
//! 4. the plugin's `validate`, on the rows that passed (WASM);
//! 5. checks against committed tables ([`cross`]);
//! 6. the plugin's `transform`, then one atomic commit with the submission record.
//!
//! Nothing is written before step 6. Every outcome but a duplicate is recorded in the
//! upload log ([`log`]); a refused upload leaves only that record.

// A file that cannot be read is refused with one `Problem`, returned once per upload:
// its size on the error path costs nothing worth boxing it for.
#![allow(clippy::result_large_err)]

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

use std::collections::HashSet;
use std::sync::Arc;

use ahash::RandomState;
use arrow::array::{BooleanArray, RecordBatch};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use sannong_catalog::{CommitMode, Period, PluginRef, SubmissionRecord};
use serde::Serialize;

use self::log::LogEntry;
use self::problems::{Problem, shown_value};
use self::source::ReadOptions;
use self::typed::TypedRows;
use crate::error::{Error, Result};
use crate::platform::Platform;
use crate::plugin::manifest::{DutyMode, DutySpec};
use crate::plugin::registry::{self, InstalledPlugin};
use crate::plugin::{LoadedPlugin, PluginDiagnostic, PluginRuntime};

/// Problems held in memory per upload (the counts stay exact beyond it).
const PROBLEMS_HELD: usize = 10_000;

/// One upload.
#[derive(Debug, Clone)]
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
    pub bytes: Bytes,
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

/// Reads and parses the file; a file that cannot be read is one file problem.
fn parse_file(
    request: &UploadRequest,
    duty: &DutySpec,
    found: &mut Found,
    progress: &dyn Progress,
) -> Option<TypedRows> {
    if let Some((rows, problems)) = parallel::parse_csv(
        &request.file_name,
        &request.bytes,
        &request.read,
        duty,
        progress,
    ) {
        found.extend(problems);
        return Some(rows);
    }
    let table = match source::read(&request.file_name, &request.bytes, &request.read) {
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
    let max_rows = request.read.max_rows;
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

/// Uploads a file: accepted whole, or refused whole with its problems.
pub async fn upload(
    platform: &Platform,
    mut request: UploadRequest,
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
    };
    let duty = &context.duty;

    // The file's digest is one thread's work over all its bytes: it is taken while the
    // file is read on the other threads, and compared once both are done.
    progress.step("reading");
    let mut found = Found::default();
    let (sha256, parsed) = std::thread::scope(|scope| {
        let digest = scope.spawn(|| crate::plugin::engine::sha256_hex(&request.bytes));
        let parsed = parse_file(&request, duty, &mut found, progress);
        let sha256 = digest
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (sha256, parsed)
    });
    // The file is in the rows now: its memory goes back before the checks take theirs.
    drop(std::mem::take(&mut request.bytes));
    if let Some((submission_id, version)) = same_file_current(platform, duty, mode, &sha256).await?
    {
        return Ok(context.outcome(
            UploadStatus::AlreadyAccepted,
            submission_id,
            Some(version),
            0,
            0,
            Found::default(),
        ));
    }

    let mut record = SubmissionRecord::new(&request.uploader, 0);
    if let Some(at) = request.received_at {
        record.received_at = at;
    }
    record.duty = Some(duty.id.clone());
    record.department = Some(context.department.clone());
    record.file_name = Some(request.file_name.clone());
    record.file_sha256 = Some(sha256);
    record.plugin = Some(PluginRef {
        id: installed.event.plugin_id.clone(),
        version: installed.event.version.clone(),
        sha256: installed.event.sha256.clone(),
    });

    let Some(rows) = parsed else {
        return context.refuse(found, 0, record).await;
    };
    let rows_read = rows.len() as u64;
    if rows.is_empty() && duty.mode == DutyMode::Snapshot {
        found.extend([Problem::file(
            "empty-snapshot",
            "文件只有表头没有数据：快照上报会替换整张表，空文件会清空它，因此拒绝",
            "the file has a header but no rows: a snapshot upload replaces the whole table, so an empty one would erase it",
        )]);
        return context.refuse(found, 0, record).await;
    }

    progress.step("checking the template");
    let mut template_problems = Vec::new();
    checks::check_template(duty, &rows, mode.period(), &mut template_problems);
    found.extend(template_problems);

    // The plugin (WASM, one core) and the checks against committed tables (queries)
    // need only the rows and the template's problems: they run side by side.
    progress.step("running the plugin and checking against committed tables");
    let runtime = platform.plugin_runtime()?;
    let loaded = platform.load_plugin(&installed).await?;
    let plugin_rows = (!rows.is_empty()).then(|| rows_without_errors(&rows, &found));
    let plugin_period = context.period.clone();
    let plugin_check = async {
        match plugin_rows {
            Some(passed) => {
                validate_with_plugin(&runtime, &loaded, duty, plugin_period, &rows, passed?).await
            }
            None => Ok(Vec::new()),
        }
    };
    let committed_check = async {
        let mut problems = Vec::new();
        cross::check_committed(
            platform.query_service(),
            duty,
            &rows,
            mode.period(),
            &mut problems,
        )
        .await
        .map(|()| problems)
    };
    let (plugin_checked, committed_checked) = tokio::join!(plugin_check, committed_check);
    match plugin_checked {
        Ok(problems) => found.extend(problems),
        Err(e) => plugin_failure(e, &mut found)?,
    }
    found.extend(committed_checked?);
    if found.errors > 0 {
        return context.refuse(found, rows_read, record).await;
    }

    let stored = match rows_to_store(&runtime, &loaded, duty, context.period.clone(), &rows).await {
        Ok(stored) => stored,
        Err(e) => {
            plugin_failure(e, &mut found)?;
            return context.refuse(found, rows_read, record).await;
        }
    };
    let rows_stored: u64 = stored.iter().map(|b| b.num_rows() as u64).sum();
    let found = found.sorted(duty);
    let submission_id = record.submission_id.clone();
    if request.dry_run {
        return Ok(context.outcome(
            UploadStatus::WouldBeAccepted,
            submission_id,
            None,
            rows_read,
            rows_stored,
            found,
        ));
    }

    progress.step("committing");
    record.rows = rows_stored;
    let committed = platform
        .catalog()
        .commit(&context.table, duty.stored_schema(), stored, mode, &record)
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
        rows_read,
        rows_stored,
        found,
    ))
}
