//! The upload log: every upload's outcome, kept in an append-only internal table
//! (`system/upload_log`), and the system tables built on it.
//!
//! Accepted uploads are recorded twice on purpose: the table's commit carries the
//! submission record (the source of truth for what is stored), and the log keeps its
//! warnings. Refused uploads exist only here, with their problems, so a department can
//! look up why a file was refused and the programme office can count refusals.
//! `sys.submissions` joins both; `sys.submission_problems` lists the problems.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, Int64Array, RecordBatch, StringArray, TimestampMillisecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sannong_catalog::sql::SystemTable;
use sannong_catalog::sql::system::{
    BatchBuilder, SubmissionRow, accepted_submissions, submissions_batch, system_table_error,
};
use sannong_catalog::{Catalog, CommitMode, PluginRef, SubmissionRecord, TableName};

use super::problems::Problem;
use crate::error::{Error, Result};
use crate::plugin::Severity;

const LOG_TABLE: &str = "upload_log";
/// Problems kept per upload in the log (the count is always exact).
pub const PROBLEMS_KEPT: usize = 1000;

/// One upload's outcome.
#[derive(Debug, Clone)]
pub struct LogEntry {
    /// The submission (id, duty, uploader, file, rows, plugin).
    pub record: SubmissionRecord,
    /// `accepted` or `refused`.
    pub status: &'static str,
    /// The period.
    pub period: Option<String>,
    /// The table.
    pub table: String,
    /// The version produced, if accepted.
    pub version: Option<u64>,
    /// Errors found.
    pub errors: u64,
    /// Warnings found.
    pub warnings: u64,
    /// The first problems (at most [`PROBLEMS_KEPT`]).
    pub problems: Vec<Problem>,
    /// When the outcome was decided.
    pub finished_at: DateTime<Utc>,
}

fn schema() -> SchemaRef {
    let text = |name: &str, nullable: bool| Field::new(name, DataType::Utf8, nullable);
    let int = |name: &str| Field::new(name, DataType::Int64, true);
    let time =
        |name: &str| Field::new(name, DataType::Timestamp(TimeUnit::Millisecond, None), true);
    Arc::new(Schema::new(vec![
        text("submission_id", false),
        text("status", false),
        text("duty", true),
        text("department", true),
        text("period", true),
        text("table_name", true),
        int("version"),
        text("uploader", false),
        text("file_name", true),
        text("file_sha256", true),
        int("rows"),
        int("errors"),
        int("warnings"),
        text("problems_json", false),
        time("received_at"),
        time("finished_at"),
        text("plugin_id", true),
        text("plugin_version", true),
        text("plugin_sha256", true),
    ]))
}

fn log_table() -> Result<TableName> {
    Ok(TableName::system(LOG_TABLE)?)
}

fn text(value: Option<&str>) -> ArrayRef {
    Arc::new(StringArray::from(vec![value]))
}

fn int(value: Option<u64>) -> ArrayRef {
    Arc::new(Int64Array::from(vec![
        value.and_then(|v| i64::try_from(v).ok()),
    ]))
}

fn time(value: DateTime<Utc>) -> ArrayRef {
    Arc::new(TimestampMillisecondArray::from(vec![
        value.timestamp_millis(),
    ]))
}

/// Appends an upload's outcome to the log.
pub async fn record(catalog: &Catalog, entry: &LogEntry) -> Result<()> {
    let r = &entry.record;
    let problems = serde_json::to_string(
        &entry
            .problems
            .iter()
            .take(PROBLEMS_KEPT)
            .collect::<Vec<_>>(),
    )
    .map_err(|e| Error::Internal(e.to_string()))?;
    let plugin = r.plugin.as_ref();
    let batch = RecordBatch::try_new(
        schema(),
        vec![
            text(Some(&r.submission_id)),
            text(Some(entry.status)),
            text(r.duty.as_deref()),
            text(r.department.as_deref()),
            text(entry.period.as_deref()),
            text(Some(&entry.table)),
            int(entry.version),
            text(Some(&r.uploader)),
            text(r.file_name.as_deref()),
            text(r.file_sha256.as_deref()),
            int(Some(r.rows)),
            int(Some(entry.errors)),
            int(Some(entry.warnings)),
            text(Some(&problems)),
            time(r.received_at),
            time(entry.finished_at),
            text(plugin.map(|p| p.id.as_str())),
            text(plugin.map(|p| p.version.as_str())),
            text(plugin.map(|p| p.sha256.as_str())),
        ],
    )
    .map_err(|e| Error::Internal(format!("building an upload log entry: {e}")))?;
    let mut log_record = SubmissionRecord::new(&r.uploader, 1);
    log_record.submission_id = r.submission_id.clone();
    catalog
        .commit(
            &log_table()?,
            schema(),
            vec![batch],
            CommitMode::Append,
            &log_record,
        )
        .await?;
    Ok(())
}

/// Every entry of the log.
pub async fn entries(catalog: &Catalog) -> Result<Vec<LogEntry>> {
    let table = log_table()?;
    if !catalog.exists(&table).await? {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for batch in catalog.read_all(&table).await? {
        out.extend(entries_of(&batch)?);
    }
    Ok(out)
}

fn entries_of(batch: &RecordBatch) -> Result<Vec<LogEntry>> {
    let column = |name: &str, to: &DataType| -> Result<ArrayRef> {
        let c = batch
            .column_by_name(name)
            .ok_or_else(|| Error::Internal(format!("the upload log has no column {name}")))?;
        arrow::compute::cast(c, to).map_err(|e| Error::Internal(e.to_string()))
    };
    let texts: HashMap<&str, ArrayRef> = [
        "submission_id",
        "status",
        "duty",
        "department",
        "period",
        "table_name",
        "uploader",
        "file_name",
        "file_sha256",
        "problems_json",
        "plugin_id",
        "plugin_version",
        "plugin_sha256",
    ]
    .into_iter()
    .map(|n| column(n, &DataType::Utf8).map(|c| (n, c)))
    .collect::<Result<_>>()?;
    let ints: HashMap<&str, ArrayRef> = ["version", "rows", "errors", "warnings"]
        .into_iter()
        .map(|n| column(n, &DataType::Int64).map(|c| (n, c)))
        .collect::<Result<_>>()?;
    let times: HashMap<&str, ArrayRef> = ["received_at", "finished_at"]
        .into_iter()
        .map(|n| column(n, &DataType::Timestamp(TimeUnit::Millisecond, None)).map(|c| (n, c)))
        .collect::<Result<_>>()?;
    let t = |name: &str, i: usize| -> Option<String> {
        let a = texts[name].as_string::<i32>();
        a.is_valid(i).then(|| a.value(i).to_owned())
    };
    let n = |name: &str, i: usize| -> Option<u64> {
        let a = ints[name].as_primitive::<arrow::datatypes::Int64Type>();
        a.is_valid(i).then(|| a.value(i).max(0) as u64)
    };
    let at = |name: &str, i: usize| -> DateTime<Utc> {
        let a = times[name].as_primitive::<arrow::datatypes::TimestampMillisecondType>();
        DateTime::from_timestamp_millis(a.value(i)).unwrap_or_default()
    };
    (0..batch.num_rows())
        .map(|i| {
            let plugin = match (
                t("plugin_id", i),
                t("plugin_version", i),
                t("plugin_sha256", i),
            ) {
                (Some(id), Some(version), Some(sha256)) => Some(PluginRef {
                    id,
                    version,
                    sha256,
                }),
                _ => None,
            };
            Ok(LogEntry {
                record: SubmissionRecord {
                    submission_id: t("submission_id", i).unwrap_or_default(),
                    duty: t("duty", i),
                    department: t("department", i),
                    uploader: t("uploader", i).unwrap_or_default(),
                    file_name: t("file_name", i),
                    file_sha256: t("file_sha256", i),
                    rows: n("rows", i).unwrap_or(0),
                    received_at: at("received_at", i),
                    plugin,
                },
                status: if t("status", i).as_deref() == Some("accepted") {
                    "accepted"
                } else {
                    "refused"
                },
                period: t("period", i),
                table: t("table_name", i).unwrap_or_default(),
                version: n("version", i),
                errors: n("errors", i).unwrap_or(0),
                warnings: n("warnings", i).unwrap_or(0),
                problems: serde_json::from_str(&t("problems_json", i).unwrap_or_default())
                    .unwrap_or_default(),
                finished_at: at("finished_at", i),
            })
        })
        .collect()
}

/// Every submission: accepted ones from the tables' commits (with warnings counted from
/// the log), refused ones from the log.
pub async fn submissions(catalog: &Catalog) -> Result<Vec<SubmissionRow>> {
    let log = entries(catalog).await?;
    let warnings: HashMap<&str, u64> = log
        .iter()
        .filter(|e| e.status == "accepted")
        .map(|e| (e.record.submission_id.as_str(), e.warnings))
        .collect();
    let mut rows = accepted_submissions(catalog)
        .await
        .map_err(|e| Error::Execution(e.to_string()))?;
    for row in &mut rows {
        row.warnings = warnings
            .get(row.record.submission_id.as_str())
            .copied()
            .unwrap_or(0);
    }
    rows.extend(
        log.iter()
            .filter(|e| e.status == "refused")
            .map(|e| SubmissionRow {
                record: e.record.clone(),
                status: "refused",
                period: e.period.clone(),
                table: Some(e.table.clone()),
                version: None,
                errors: e.errors,
                warnings: e.warnings,
                finished_at: Some(e.finished_at),
            }),
    );
    Ok(rows)
}

/// The system tables of the upload log.
pub fn system_tables(catalog: Arc<Catalog>) -> Vec<Arc<dyn SystemTable>> {
    vec![
        Arc::new(SubmissionsTable(catalog.clone())),
        Arc::new(ProblemsTable(catalog)),
    ]
}

/// `sys.submissions`, accepted and refused.
#[derive(Debug)]
struct SubmissionsTable(Arc<Catalog>);

#[async_trait]
impl SystemTable for SubmissionsTable {
    fn name(&self) -> &str {
        "submissions"
    }

    fn schema(&self) -> SchemaRef {
        submissions_batch(&mut []).schema()
    }

    async fn rows(&self) -> datafusion::error::Result<RecordBatch> {
        let mut rows = submissions(&self.0)
            .await
            .map_err(|e| system_table_error("submissions", e))?;
        submissions_batch(&mut rows).build()
    }
}

/// `sys.submission_problems`: the problems kept for each upload.
#[derive(Debug)]
struct ProblemsTable(Arc<Catalog>);

impl ProblemsTable {
    fn columns(p: &[(&LogEntry, &Problem)]) -> BatchBuilder {
        BatchBuilder::default()
            .text(
                "submission_id",
                p.iter().map(|(e, _)| Some(e.record.submission_id.as_str())),
            )
            .text("duty", p.iter().map(|(e, _)| e.record.duty.as_deref()))
            .text(
                "department",
                p.iter().map(|(e, _)| e.record.department.as_deref()),
            )
            .text("status", p.iter().map(|(e, _)| Some(e.status)))
            .text(
                "severity",
                p.iter().map(|(_, p)| {
                    Some(match p.severity {
                        Severity::Error => "error",
                        Severity::Warning => "warning",
                    })
                }),
            )
            .int("row", p.iter().map(|(_, p)| p.row.map(i64::from)))
            .text("column_key", p.iter().map(|(_, p)| p.column.as_deref()))
            .text("column_zh", p.iter().map(|(_, p)| p.column_zh.as_deref()))
            .text("value", p.iter().map(|(_, p)| p.value.as_deref()))
            .text("rule", p.iter().map(|(_, p)| Some(p.rule.as_str())))
            .text(
                "message_zh",
                p.iter().map(|(_, p)| Some(p.message_zh.as_str())),
            )
            .text(
                "message_en",
                p.iter().map(|(_, p)| Some(p.message_en.as_str())),
            )
    }
}

#[async_trait]
impl SystemTable for ProblemsTable {
    fn name(&self) -> &str {
        "submission_problems"
    }

    fn schema(&self) -> SchemaRef {
        Self::columns(&[]).schema()
    }

    async fn rows(&self) -> datafusion::error::Result<RecordBatch> {
        let log = entries(&self.0)
            .await
            .map_err(|e| system_table_error("submission_problems", e))?;
        let problems: Vec<_> = log
            .iter()
            .flat_map(|e| e.problems.iter().map(move |p| (e, p)))
            .collect();
        Self::columns(&problems).build()
    }
}
