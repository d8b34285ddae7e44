//! The `sys` schema: system tables computed when a query reads them.
//!
//! A [`SystemTable`] has a fixed schema and produces its rows on demand. This module
//! defines the catalog's own: `sys.tables`, `sys.table_versions` and `sys.submissions`,
//! all derived from the Delta commit history (the single source of truth). Other crates
//! add theirs (duties, KPIs, plugins, audit log) through [`super::register_catalog`].

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, Date32Array, Float64Array, Int64Array, RecordBatch, StringArray, TimestampSecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use datafusion::catalog::{SchemaProvider, TableProvider};
use datafusion::datasource::MemTable;
use datafusion::error::{DataFusionError, Result};

use super::{to_beijing, to_datafusion};
use crate::history::TableVersion;
use crate::tables::Catalog;

/// A table of the `sys` schema.
#[async_trait]
pub trait SystemTable: Send + Sync + Debug {
    /// Name within `sys`, e.g. `tables`.
    fn name(&self) -> &str;
    /// The fixed schema of its rows.
    fn schema(&self) -> SchemaRef;
    /// The rows, computed now.
    async fn rows(&self) -> Result<RecordBatch>;
}

/// The `sys` schema over a set of system tables.
#[derive(Debug)]
pub struct SystemSchemaProvider {
    tables: BTreeMap<String, Arc<dyn SystemTable>>,
}

impl SystemSchemaProvider {
    /// A schema with these tables (a later table of the same name wins).
    pub fn new(tables: Vec<Arc<dyn SystemTable>>) -> Self {
        SystemSchemaProvider {
            tables: tables
                .into_iter()
                .map(|t| (t.name().to_owned(), t))
                .collect(),
        }
    }
}

#[async_trait]
impl SchemaProvider for SystemSchemaProvider {
    fn table_names(&self) -> Vec<String> {
        self.tables.keys().cloned().collect()
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        let Some(table) = self.tables.get(name) else {
            return Ok(None);
        };
        let batch = table.rows().await?;
        let mem = MemTable::try_new(table.schema(), vec![vec![batch]])?;
        Ok(Some(Arc::new(mem)))
    }

    fn table_exist(&self, name: &str) -> bool {
        self.tables.contains_key(name)
    }
}

/// The system tables the catalog itself provides.
pub fn catalog_system_tables(catalog: Arc<Catalog>) -> Vec<Arc<dyn SystemTable>> {
    vec![
        Arc::new(TablesTable(catalog.clone())),
        Arc::new(TableVersionsTable(catalog.clone())),
        Arc::new(SubmissionsTable(catalog.clone())),
        Arc::new(CountiesTable(catalog)),
    ]
}

/// Builds a `RecordBatch` column by column; keeps system tables short and uniform.
#[derive(Default)]
pub struct BatchBuilder {
    fields: Vec<Field>,
    columns: Vec<ArrayRef>,
}

impl BatchBuilder {
    /// A text column.
    pub fn text<S: AsRef<str>>(
        mut self,
        name: &str,
        values: impl IntoIterator<Item = Option<S>>,
    ) -> Self {
        self.fields.push(Field::new(name, DataType::Utf8, true));
        self.columns.push(Arc::new(StringArray::from_iter(values)));
        self
    }

    /// A 64-bit integer column.
    pub fn int(mut self, name: &str, values: impl IntoIterator<Item = Option<i64>>) -> Self {
        self.fields.push(Field::new(name, DataType::Int64, true));
        self.columns.push(Arc::new(Int64Array::from_iter(values)));
        self
    }

    /// A timestamp column, shown in Beijing time.
    pub fn time(
        mut self,
        name: &str,
        values: impl IntoIterator<Item = Option<DateTime<Utc>>>,
    ) -> Self {
        self.fields.push(Field::new(
            name,
            DataType::Timestamp(TimeUnit::Second, None),
            true,
        ));
        let seconds = values
            .into_iter()
            .map(|v| v.map(|t| to_beijing(t).and_utc().timestamp()));
        self.columns
            .push(Arc::new(TimestampSecondArray::from_iter(seconds)));
        self
    }

    /// A 64-bit float column.
    pub fn float(mut self, name: &str, values: impl IntoIterator<Item = Option<f64>>) -> Self {
        self.fields.push(Field::new(name, DataType::Float64, true));
        self.columns.push(Arc::new(Float64Array::from_iter(values)));
        self
    }

    /// A date column.
    pub fn date(mut self, name: &str, values: impl IntoIterator<Item = Option<NaiveDate>>) -> Self {
        self.fields.push(Field::new(name, DataType::Date32, true));
        let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
        let days = values
            .into_iter()
            .map(|v| v.map(|d| (d - epoch).num_days() as i32));
        self.columns.push(Arc::new(Date32Array::from_iter(days)));
        self
    }

    /// The schema of the columns added so far.
    pub fn schema(&self) -> SchemaRef {
        Arc::new(Schema::new(self.fields.clone()))
    }

    /// The finished batch.
    pub fn build(self) -> Result<RecordBatch> {
        let schema = self.schema();
        Ok(RecordBatch::try_new(schema, self.columns)?)
    }
}

fn int(v: u64) -> Option<i64> {
    i64::try_from(v).ok()
}

/// `sys.counties`: the counties of a deployment serving several (empty for one county).
#[derive(Debug)]
struct CountiesTable(Arc<Catalog>);

impl CountiesTable {
    fn columns(rows: &[crate::CountyRecord]) -> BatchBuilder {
        BatchBuilder::default()
            .text("id", rows.iter().map(|c| Some(&c.id)))
            .text("name_zh", rows.iter().map(|c| Some(&c.name_zh)))
            .text("name_en", rows.iter().map(|c| Some(&c.name_en)))
            .text("created_by", rows.iter().map(|c| Some(&c.created_by)))
            .time("created_at", rows.iter().map(|c| Some(c.created_at)))
    }
}

#[async_trait]
impl SystemTable for CountiesTable {
    fn name(&self) -> &str {
        "counties"
    }

    fn schema(&self) -> SchemaRef {
        Self::columns(&[]).schema()
    }

    async fn rows(&self) -> Result<RecordBatch> {
        Self::columns(&self.0.counties().await.map_err(to_datafusion)?).build()
    }
}

/// `sys.tables`: every table with its current version, rows, files and bytes.
#[derive(Debug)]
struct TablesTable(Arc<Catalog>);

impl TablesTable {
    fn columns(rows: &[(crate::tables::TableSummary, Option<DateTime<Utc>>)]) -> BatchBuilder {
        BatchBuilder::default()
            .text(
                "table_name",
                rows.iter().map(|(s, _)| Some(s.table.to_string())),
            )
            .text(
                "schema_name",
                rows.iter().map(|(s, _)| Some(s.table.schema())),
            )
            .text("table", rows.iter().map(|(s, _)| Some(s.table.table())))
            .text("mode", rows.iter().map(|(s, _)| Some(s.mode)))
            .int("version", rows.iter().map(|(s, _)| int(s.version)))
            .int("rows", rows.iter().map(|(s, _)| int(s.rows)))
            .int("files", rows.iter().map(|(s, _)| int(s.files)))
            .int("bytes", rows.iter().map(|(s, _)| int(s.bytes)))
            .int(
                "columns",
                rows.iter()
                    .map(|(s, _)| int(s.schema.fields().len() as u64)),
            )
            .time("last_committed_at", rows.iter().map(|(_, t)| *t))
    }
}

#[async_trait]
impl SystemTable for TablesTable {
    fn name(&self) -> &str {
        "tables"
    }

    fn schema(&self) -> SchemaRef {
        Self::columns(&[]).schema()
    }

    async fn rows(&self) -> Result<RecordBatch> {
        let mut rows = Vec::new();
        for name in self.0.list_tables().await.map_err(to_datafusion)? {
            let summary = self.0.summary(&name).await.map_err(to_datafusion)?;
            let history = self.0.history(&name).await.map_err(to_datafusion)?;
            let last = history.last().and_then(|v| v.committed_at);
            rows.push((summary, last));
        }
        Self::columns(&rows).build()
    }
}

async fn all_versions(catalog: &Catalog) -> Result<Vec<TableVersion>> {
    let mut versions = Vec::new();
    for name in catalog.list_tables().await.map_err(to_datafusion)? {
        versions.extend(catalog.history(&name).await.map_err(to_datafusion)?);
    }
    Ok(versions)
}

/// `sys.table_versions`: every version of every table, with its submission.
#[derive(Debug)]
struct TableVersionsTable(Arc<Catalog>);

impl TableVersionsTable {
    fn columns(v: &[TableVersion]) -> BatchBuilder {
        let sub = |f: fn(&crate::SubmissionRecord) -> Option<String>| {
            v.iter()
                .map(move |v| v.submission.as_ref().and_then(f))
                .collect::<Vec<_>>()
        };
        BatchBuilder::default()
            .text("table_name", v.iter().map(|v| Some(v.table.to_string())))
            .int("version", v.iter().map(|v| int(v.version)))
            .time("committed_at", v.iter().map(|v| v.committed_at))
            .text("operation", v.iter().map(|v| Some(v.operation.clone())))
            .text("mode", v.iter().map(|v| v.mode.map(|m| m.name())))
            .text(
                "period",
                v.iter()
                    .map(|v| v.mode.and_then(|m| m.period()).map(|p| p.to_string())),
            )
            .text("submission_id", sub(|s| Some(s.submission_id.clone())))
            .text("duty", sub(|s| s.duty.clone()))
            .text("department", sub(|s| s.department.clone()))
            .text("uploader", sub(|s| Some(s.uploader.clone())))
            .text("file_name", sub(|s| s.file_name.clone()))
            .int("rows", v.iter().map(|v| int(v.rows_added)))
            .int("files_added", v.iter().map(|v| int(v.files_added)))
            .int("files_removed", v.iter().map(|v| int(v.files_removed)))
    }
}

#[async_trait]
impl SystemTable for TableVersionsTable {
    fn name(&self) -> &str {
        "table_versions"
    }

    fn schema(&self) -> SchemaRef {
        Self::columns(&[]).schema()
    }

    async fn rows(&self) -> Result<RecordBatch> {
        Self::columns(&all_versions(&self.0).await?).build()
    }
}

/// One row of `sys.submissions`: an accepted submission (from a table's commit) or a
/// refused one (from the upload log kept by the engine).
#[derive(Debug, Clone)]
pub struct SubmissionRow {
    /// The submission record.
    pub record: crate::SubmissionRecord,
    /// `accepted` or `refused`.
    pub status: &'static str,
    /// The upload's period.
    pub period: Option<String>,
    /// The table written (or that would have been).
    pub table: Option<String>,
    /// The version it produced (accepted only).
    pub version: Option<u64>,
    /// Errors found (refused only).
    pub errors: u64,
    /// Warnings found.
    pub warnings: u64,
    /// When it was committed or refused.
    pub finished_at: Option<DateTime<Utc>>,
}

/// Every accepted submission, from the commit history of every table.
pub async fn accepted_submissions(catalog: &Catalog) -> Result<Vec<SubmissionRow>> {
    Ok(all_versions(catalog)
        .await?
        .into_iter()
        .filter_map(|v| {
            let record = v.submission?;
            Some(SubmissionRow {
                status: "accepted",
                period: v.mode.and_then(|m| m.period()).map(|p| p.to_string()),
                table: Some(v.table.to_string()),
                version: Some(v.version),
                errors: 0,
                warnings: 0,
                finished_at: v.committed_at,
                record,
            })
        })
        .collect())
}

/// The columns of `sys.submissions`, sorted by time received.
pub fn submissions_batch(rows: &mut [SubmissionRow]) -> BatchBuilder {
    rows.sort_by_key(|r| r.record.received_at);
    let v = &*rows;
    BatchBuilder::default()
        .text(
            "submission_id",
            v.iter().map(|r| Some(r.record.submission_id.as_str())),
        )
        .text("status", v.iter().map(|r| Some(r.status)))
        .text("duty", v.iter().map(|r| r.record.duty.as_deref()))
        .text(
            "department",
            v.iter().map(|r| r.record.department.as_deref()),
        )
        .text("period", v.iter().map(|r| r.period.as_deref()))
        .text("table_name", v.iter().map(|r| r.table.as_deref()))
        .int("version", v.iter().map(|r| r.version.and_then(int)))
        .text(
            "uploader",
            v.iter().map(|r| Some(r.record.uploader.as_str())),
        )
        .text("file_name", v.iter().map(|r| r.record.file_name.as_deref()))
        .text(
            "file_sha256",
            v.iter().map(|r| r.record.file_sha256.as_deref()),
        )
        .int("rows", v.iter().map(|r| int(r.record.rows)))
        .int("errors", v.iter().map(|r| int(r.errors)))
        .int("warnings", v.iter().map(|r| int(r.warnings)))
        .time("received_at", v.iter().map(|r| Some(r.record.received_at)))
        .time("finished_at", v.iter().map(|r| r.finished_at))
        .text(
            "plugin_id",
            v.iter()
                .map(|r| r.record.plugin.as_ref().map(|p| p.id.as_str())),
        )
        .text(
            "plugin_version",
            v.iter()
                .map(|r| r.record.plugin.as_ref().map(|p| p.version.as_str())),
        )
        .text(
            "plugin_sha256",
            v.iter()
                .map(|r| r.record.plugin.as_ref().map(|p| p.sha256.as_str())),
        )
}

/// `sys.submissions` of the catalog alone: the accepted submissions.
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

    async fn rows(&self) -> Result<RecordBatch> {
        submissions_batch(&mut accepted_submissions(&self.0).await?).build()
    }
}

/// Wraps an error from building rows.
pub fn system_table_error(table: &str, e: impl std::fmt::Display) -> DataFusionError {
    DataFusionError::Execution(format!("cannot compute sys.{table}: {e}"))
}
