//! A Delta table version scanned straight from its Parquet files.
//!
//! The version's log names its files, their sizes and their periods. This provider hands
//! those files to DataFusion's own Parquet scan — as a listing table would, but only the
//! files of this version — and leaves out, before the scan, the files of periods a
//! query's filters exclude ([`PeriodFilter`]). deltalake's provider does the same work
//! less directly: every scan replays the version's file list through the Delta kernel
//! and rebuilds each batch through it, appending the partition value row by row (an
//! eighth of the scorecard's time over the scale-100 county, docs/performance.md).
//!
//! Only versions whose files are plain Parquet are read this way: a table using deletion
//! vectors or column mapping (sannong writes neither) is read through deltalake's
//! provider ([`ParquetFilesTable::of`] says which).

use std::collections::HashSet;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::DateTime;
use datafusion::arrow::datatypes::{FieldRef, Schema, SchemaRef};
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::stats::Precision;
use datafusion::common::{ColumnStatistics, ScalarValue, Statistics};
use datafusion::datasource::TableType;
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder};
use datafusion::datasource::table_schema::TableSchema;
use datafusion::error::Result;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::empty::EmptyExec;
use deltalake::DeltaTable;
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStore};

use super::period_filter::{self, PeriodFilter};
use crate::tables::PERIOD_COLUMN;

/// Reader features of a Delta table under which its data files are plain Parquet whose
/// rows are all live and whose columns carry their logical names.
const PLAIN_PARQUET_READER_FEATURES: [&str; 3] =
    ["timestampNtz", "v2Checkpoint", "vacuumProtocolCheck"];

/// One data file of the version.
#[derive(Debug, Clone)]
struct DataFile {
    meta: ObjectMeta,
    /// The file's rows, as its log entry's statistics say.
    rows: Option<usize>,
    /// The file's partition value, of the table's `_period` type.
    period: Option<ScalarValue>,
}

/// A table version whose scans read its Parquet files with DataFusion's Parquet scan.
#[derive(Debug)]
pub(crate) struct ParquetFilesTable {
    /// The table's columns as deltalake's provider gives them (text as views, the period
    /// dictionary-encoded), the period last.
    schema: SchemaRef,
    /// The columns stored in the files (all but the period).
    file_schema: SchemaRef,
    /// The period column, for a table partitioned by period.
    period_field: Option<FieldRef>,
    files: Vec<DataFile>,
    /// The files' periods, when the table is partitioned by period.
    periods: Option<PeriodFilter>,
    /// Where the session finds the store holding the files.
    store_url: ObjectStoreUrl,
    store: Arc<dyn ObjectStore>,
}

impl ParquetFilesTable {
    /// The version of `table` (whose files live under `table_dir` in `store`, which
    /// sessions find at `store_url`) with the columns of `schema` (deltalake's provider's),
    /// or `None` when its files are not plain Parquet or its columns are not laid out as
    /// a partitioned Parquet scan returns them.
    pub(crate) fn of(
        table: &DeltaTable,
        schema: SchemaRef,
        store_url: ObjectStoreUrl,
        store: Arc<dyn ObjectStore>,
        table_dir: &Path,
    ) -> Option<Self> {
        let state = table.snapshot().ok()?;
        if !files_are_plain_parquet(state.snapshot().protocol()) {
            return None;
        }
        let partitions: Vec<String> = state.snapshot().metadata().partition_columns().to_vec();
        let period_field = match partitions.as_slice() {
            [] => None,
            [period] if period == PERIOD_COLUMN => {
                let last = schema.fields().last()?;
                if last.name() != PERIOD_COLUMN {
                    return None;
                }
                Some(last.clone())
            }
            _ => return None,
        };
        let stored = schema.fields().len() - usize::from(period_field.is_some());
        let file_schema = Arc::new(Schema::new(schema.fields()[..stored].to_vec()));
        let mut files = Vec::new();
        let mut period_texts = Vec::new();
        for file in state.log_data().iter() {
            if file.deletion_vector_descriptor().is_some() {
                return None;
            }
            let period = match &period_field {
                Some(field) => {
                    let text = file.partition_values_map().remove(PERIOD_COLUMN).flatten();
                    let value = ScalarValue::Utf8(text.clone()).cast_to(field.data_type());
                    period_texts.push(text);
                    Some(value.ok()?)
                }
                None => None,
            };
            let location = file
                .object_store_path()
                .parts()
                .fold(table_dir.clone(), |path, part| path.join(part));
            let meta = ObjectMeta {
                location,
                last_modified: DateTime::from_timestamp_millis(file.modification_time())
                    .unwrap_or_default(),
                size: u64::try_from(file.size()).ok()?,
                e_tag: None,
                version: None,
            };
            let rows = file.num_records();
            files.push(DataFile { meta, rows, period });
        }
        let periods = match &period_field {
            Some(field) => Some(PeriodFilter::new(
                period_texts.iter().map(Option::as_deref),
                field,
            )?),
            None => None,
        };
        Some(ParquetFilesTable {
            schema,
            file_schema,
            period_field,
            files,
            periods,
            store_url,
            store,
        })
    }

    /// What the log says of `files` together: their rows (exactly, when every file's
    /// entry counts them) and bytes; nothing of the columns. The planner needs the rows
    /// to put the smaller side of a join in memory.
    fn statistics_of(&self, files: &[&DataFile]) -> Statistics {
        let rows: Option<usize> = files.iter().map(|f| f.rows).sum();
        let bytes: u64 = files.iter().map(|f| f.meta.size).sum();
        Statistics {
            num_rows: rows.map_or(Precision::Absent, Precision::Exact),
            total_byte_size: Precision::Inexact(usize::try_from(bytes).unwrap_or(usize::MAX)),
            column_statistics: vec![ColumnStatistics::new_unknown(); self.schema.fields().len()],
        }
    }
}

/// Whether a table under `protocol` has data files that are plain Parquet: no deletion
/// vectors, no column mapping, nothing else a reader must apply.
fn files_are_plain_parquet(protocol: &deltalake::kernel::Protocol) -> bool {
    let Ok(protocol) = serde_json::to_value(protocol) else {
        return false;
    };
    let allowed: HashSet<&str> = PLAIN_PARQUET_READER_FEATURES.into();
    match protocol["minReaderVersion"].as_u64() {
        Some(1) => true,
        Some(3) => protocol["readerFeatures"]
            .as_array()
            .is_some_and(|features| {
                features
                    .iter()
                    .all(|f| f.as_str().is_some_and(|f| allowed.contains(f)))
            }),
        _ => false,
    }
}

#[async_trait]
impl TableProvider for ParquetFilesTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        Ok(period_filter::pushdown(self.periods.as_ref(), filters))
    }

    /// The rows, for planning rules that weigh a join's sides before any scan.
    fn statistics(&self) -> Option<Statistics> {
        Some(self.statistics_of(&self.files.iter().collect::<Vec<_>>()))
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let selected = period_filter::select(self.periods.as_ref(), state, filters, &self.files)?;
        if selected.is_empty() {
            let schema = match projection {
                Some(columns) => Arc::new(self.schema.project(columns)?),
                None => self.schema.clone(),
            };
            return Ok(Arc::new(EmptyExec::new(schema)));
        }
        let url: &url::Url = self.store_url.as_ref();
        state
            .runtime_env()
            .register_object_store(url, self.store.clone());
        let table_schema = TableSchema::builder(self.file_schema.clone())
            .with_table_partition_cols(self.period_field.iter().cloned().collect::<Vec<_>>())
            .build();
        let format = ParquetFormat::default().with_options(state.table_options().parquet.clone());
        let statistics = self.statistics_of(&selected);
        let files = selected
            .into_iter()
            .map(|file| {
                let partitioned = PartitionedFile::new_from_meta(file.meta.clone());
                match &file.period {
                    Some(period) => partitioned.with_partition_values(vec![period.clone()]),
                    None => partitioned,
                }
            })
            .collect();
        let partitions = state.config_options().execution.target_partitions.max(1);
        let config =
            FileScanConfigBuilder::new(self.store_url.clone(), format.file_source(table_schema))
                .with_file_groups(FileGroup::new(files).split_files(partitions))
                .with_statistics(statistics)
                .with_projection_indices(projection.cloned())?
                .with_limit(limit)
                .build();
        format.create_physical_plan(state, config).await
    }
}
