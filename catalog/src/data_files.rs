//! Writes a commit's rows as Parquet data files on every core and gives the Delta
//! actions that add them and remove the files they replace.
//!
//! deltalake's own write sends all the rows of one partition through one Parquet writer.
//! An upload puts all its rows in one period, so that one writer, on one core, was most
//! of a large upload's commit. Here the rows are cut into one contiguous run per core and
//! each run is written by its own deltalake [`PartitionWriter`] on a blocking thread. The
//! writer gives each file's `add` action with the statistics deltalake's write records,
//! so readers prune and count these files as they do any other.
//!
//! Used for commits to an existing table whose schema the rows already have; creating a
//! table and changing its schema stay with deltalake's write. How every data file is
//! encoded ([`properties`]) is decided here for both.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Schema, SchemaRef};
use delta_kernel::expressions::Scalar;
use deltalake::DeltaTable;
use deltalake::datafile::writer::{PartitionWriter, PartitionWriterConfig};
use deltalake::kernel::{Action, Add};
use deltalake::operations::write::WriterStatsConfig;
use deltalake::table::state::DeltaTableState;
use indexmap::IndexMap;
use object_store::ObjectStore;
use object_store::ObjectStoreExt;
use object_store::path::Path;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;

use crate::error::{CatalogError, Result};
use crate::submission::CommitMode;
use crate::table_name::TableName;
use crate::tables::{PERIOD_COLUMN, is_text};

/// Rows per row group of a data file (DuckDB writes 122,880). A writer holds a row
/// group's encoded pages until the group is complete, so this bounds what it holds
/// whatever the file's size; each group's statistics also let a query skip it.
const ROW_GROUP_ROWS: usize = 128 * 1024;

/// Rows of a commit's first batch looked at to tell whether a text column repeats.
const DICTIONARY_SAMPLE_ROWS: usize = 4096;

/// How the data files of a commit whose first batch is `sample` are written: pages
/// compressed with LZ4 (raw), which reads back faster than Snappy at about the same
/// size; row groups of [`ROW_GROUP_ROWS`]; dictionaries for text that repeats (codes,
/// names, directions), while numbers, times and text of mostly distinct values (ids) are
/// stored plainly: they decode fastest, and a dictionary of ids would be built only to
/// be given up once it outgrew its page. Times are also left uncompressed: they are
/// nearly distinct microsecond counts that LZ4 shrinks by less than a tenth, while every
/// read of them would pay to decompress them (a sixth of the scorecard's CPU).
pub(crate) fn properties(sample: &RecordBatch) -> WriterProperties {
    let builder = WriterProperties::builder()
        .set_compression(Compression::LZ4_RAW)
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS));
    sample
        .schema()
        .fields()
        .iter()
        .zip(sample.columns())
        .fold(builder, |builder, (field, column)| {
            let path = ColumnPath::from(field.name().as_str());
            let builder = if !is_text(field.data_type()) || mostly_distinct(column) {
                builder.set_column_dictionary_enabled(path.clone(), false)
            } else {
                builder
            };
            match field.data_type() {
                DataType::Timestamp(..) => {
                    builder.set_column_compression(path, Compression::UNCOMPRESSED)
                }
                _ => builder,
            }
        })
        .build()
}

/// Whether more than half of the first [`DICTIONARY_SAMPLE_ROWS`] values of a text
/// column are distinct. A column of a few rows is said to repeat: too few to tell.
fn mostly_distinct(column: &ArrayRef) -> bool {
    const TOO_FEW_TO_TELL: usize = 64;
    let rows = column.len().min(DICTIONARY_SAMPLE_ROWS);
    if rows < TOO_FEW_TO_TELL {
        return false;
    }
    let Ok(texts) = cast(&column.slice(0, rows), &DataType::Utf8) else {
        return false;
    };
    let distinct: HashSet<&str> = texts.as_string::<i32>().iter().flatten().collect();
    distinct.len() * 2 > rows
}

/// Fewest rows worth a data file of their own: smaller commits are written as one file.
const MIN_ROWS_PER_FILE: usize = 128 * 1024;

/// Data files written for a commit but not yet committed.
#[derive(Debug)]
pub(crate) struct WrittenFiles {
    /// The schema the files were written with (the table's, without partition columns).
    pub(crate) file_schema: SchemaRef,
    /// One `add` action per file.
    pub(crate) adds: Vec<Add>,
    /// The table's store, where the files are.
    store: Arc<dyn ObjectStore>,
}

impl WrittenFiles {
    /// These files and `more`, written with the same file schema to the same store.
    pub(crate) fn extend(&mut self, more: WrittenFiles) {
        self.adds.extend(more.adds);
    }

    /// Deletes the files: they will not be committed (best effort: a file left behind is
    /// never read, as no version lists it).
    pub(crate) async fn delete(self) {
        let store = self.store.as_ref();
        futures::future::join_all(self.adds.iter().map(|add| async move {
            if let Err(e) = store.delete(&Path::from(add.path.as_str())).await {
                tracing::warn!(file = %add.path, error = %e, "could not delete an uncommitted data file");
            }
        }))
        .await;
    }
}

/// Whether the rows of a `mode` commit to `table` can be written here: the table's
/// partition columns are the ones `mode` writes (`_period` for a period commit, none
/// otherwise). The caller has checked that the table's schema needs no change.
pub(crate) fn can_write(state: &DeltaTableState, mode: CommitMode) -> bool {
    let partition_columns = state.metadata().partition_columns();
    match mode {
        CommitMode::Period(_) => {
            partition_columns.len() == 1 && partition_columns[0] == PERIOD_COLUMN
        }
        CommitMode::Snapshot | CommitMode::Append => partition_columns.is_empty(),
    }
}

/// The schema of `state`'s data files: its columns without the partition columns.
pub(crate) fn file_schema(state: &DeltaTableState) -> SchemaRef {
    let table_schema = state.snapshot().arrow_schema();
    let partition_columns = state.metadata().partition_columns();
    let fields = table_schema
        .fields()
        .iter()
        .filter(|field| !partition_columns.contains(field.name()))
        .cloned()
        .collect::<Vec<_>>();
    Arc::new(Schema::new(fields))
}

/// Writes `batches` (the stored columns, system ones included) to `table` as new data
/// files of `file_schema` (see [`file_schema`]), one per core for large commits, and
/// returns them uncommitted. On failure no file written here is left behind.
pub(crate) async fn write(
    name: &TableName,
    table: &DeltaTable,
    state: &DeltaTableState,
    file_schema: SchemaRef,
    batches: &[RecordBatch],
    mode: CommitMode,
    properties: WriterProperties,
) -> Result<WrittenFiles> {
    let conformed = batches
        .iter()
        .map(|batch| conform(name, batch, &file_schema))
        .collect::<Result<Vec<_>>>()?;
    let partition_values: IndexMap<String, Scalar> = match mode {
        CommitMode::Period(period) => {
            IndexMap::from([(PERIOD_COLUMN.to_owned(), Scalar::String(period.to_string()))])
        }
        CommitMode::Snapshot | CommitMode::Append => IndexMap::new(),
    };
    let config = PartitionWriterConfig::try_new(
        file_schema.clone(),
        partition_values,
        Some(properties),
        None,
        None,
        None,
        None,
    )
    .map_err(|e| CatalogError::storage(format!("preparing the data files of {name}"), e))?;
    let stats = WriterStatsConfig::from_config(state.snapshot().table_configuration());
    let store = table.log_store().object_store(None);
    let runtime = tokio::runtime::Handle::current();
    let writes = runs(conformed, files_for(batches)).into_iter().map(|run| {
        let writer = PartitionWriter::try_with_config(
            store.clone(),
            config.clone(),
            stats.num_indexed_cols,
            stats.stats_columns.clone(),
        );
        let runtime = runtime.clone();
        async move {
            let mut writer = writer?;
            let written = tokio::task::spawn_blocking(move || {
                runtime.block_on(async move {
                    for batch in &run {
                        if let Err(e) = writer.write(batch).await {
                            let _ = writer.abort().await;
                            return Err(e);
                        }
                    }
                    writer.close().await
                })
            })
            .await;
            match written {
                Ok(result) => result,
                Err(e) => Err(deltalake::DeltaTableError::Generic(e.to_string())),
            }
        }
    });
    let results = futures::future::join_all(writes).await;
    let mut adds = Vec::new();
    let mut first_error = None;
    for result in results {
        match result {
            Ok(run_adds) => adds.extend(run_adds),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    let files = WrittenFiles {
        file_schema,
        adds,
        store,
    };
    if let Some(e) = first_error {
        files.delete().await;
        return Err(CatalogError::storage(
            format!("committing to {name} (writing its data files)"),
            e,
        ));
    }
    Ok(files)
}

/// The actions of a commit of `files` in `mode` over `state`: the files' `add` actions
/// and a `remove` for every file the commit replaces (the period's files for a period
/// commit, all files for a snapshot, none for an append).
pub(crate) fn actions(
    state: &DeltaTableState,
    files: &WrittenFiles,
    mode: CommitMode,
) -> Vec<Action> {
    let period = mode.period().map(|period| period.to_string());
    let replaced = |partition_values: &HashMap<String, Option<String>>| match mode {
        CommitMode::Period(_) => partition_values.get(PERIOD_COLUMN) == Some(&period),
        CommitMode::Snapshot => true,
        CommitMode::Append => false,
    };
    let log_data = state.log_data();
    let removes = log_data
        .iter()
        .filter(|file| replaced(&file.partition_values_map()))
        .map(|file| Action::Remove(file.remove_action(true)));
    removes
        .chain(files.adds.iter().cloned().map(Action::Add))
        .collect()
}

/// `batch` with exactly `file_schema`'s columns, in its order and types (Delta stores
/// timestamps in microseconds, for one).
fn conform(name: &TableName, batch: &RecordBatch, file_schema: &SchemaRef) -> Result<RecordBatch> {
    let mismatch = |detail: String| CatalogError::SchemaMismatch {
        table: name.to_string(),
        detail,
    };
    let columns = file_schema
        .fields()
        .iter()
        .map(|field| {
            let column = batch.column_by_name(field.name()).ok_or_else(|| {
                mismatch(format!(
                    "column '{}' of the table is missing from the new data",
                    field.name()
                ))
            })?;
            if column.data_type() == field.data_type() {
                return Ok(column.clone());
            }
            cast(column, field.data_type()).map_err(|e| {
                mismatch(format!(
                    "column '{}' cannot be stored as {}: {e}",
                    field.name(),
                    field.data_type()
                ))
            })
        })
        .collect::<Result<Vec<ArrayRef>>>()?;
    RecordBatch::try_new(file_schema.clone(), columns).map_err(|e| mismatch(e.to_string()))
}

/// How many data files `batches` are written as: one per core, but none under
/// [`MIN_ROWS_PER_FILE`] rows.
fn files_for(batches: &[RecordBatch]) -> usize {
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (rows / MIN_ROWS_PER_FILE).clamp(1, cores)
}

/// Cuts `batches` into `count` contiguous runs of about the same number of rows, in
/// order (slices share the batches' memory).
fn runs(batches: Vec<RecordBatch>, count: usize) -> Vec<Vec<RecordBatch>> {
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    let per_run = rows.div_ceil(count.max(1)).max(1);
    let mut runs = vec![Vec::new()];
    let mut in_run = 0;
    for batch in batches {
        let mut offset = 0;
        while offset < batch.num_rows() {
            if in_run == per_run {
                runs.push(Vec::new());
                in_run = 0;
            }
            let length = (batch.num_rows() - offset).min(per_run - in_run);
            runs.last_mut()
                .expect("runs starts with one")
                .push(batch.slice(offset, length));
            offset += length;
            in_run += length;
        }
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, StringArray, StringViewArray};
    use arrow::datatypes::Field;

    #[test]
    fn text_is_mostly_distinct_when_over_half_its_sampled_values_differ() {
        let texts = |n: usize, distinct: usize| -> ArrayRef {
            Arc::new(StringArray::from_iter_values(
                (0..n).map(|i| format!("v{}", i % distinct)),
            ))
        };
        assert!(mostly_distinct(&texts(10_000, 10_000)));
        assert!(mostly_distinct(&texts(100, 51)));
        assert!(!mostly_distinct(&texts(100, 50)));
        assert!(
            !mostly_distinct(&texts(10_000, 300)),
            "station codes repeat"
        );
        assert!(!mostly_distinct(&texts(63, 63)), "too few to tell");
        // Only the first 4,096 values are looked at.
        let repeating_then_distinct: ArrayRef =
            Arc::new(StringViewArray::from_iter_values((0..100_000).map(|i| {
                if i < 4_096 {
                    "same".to_owned()
                } else {
                    i.to_string()
                }
            })));
        assert!(!mostly_distinct(&repeating_then_distinct));
    }

    fn batch(values: std::ops::Range<i64>) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)]));
        RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from_iter_values(values))])
            .expect("one column")
    }

    fn values(run: &[RecordBatch]) -> Vec<i64> {
        run.iter()
            .flat_map(|b| {
                b.column(0)
                    .as_any()
                    .downcast_ref::<Int64Array>()
                    .expect("Int64")
                    .values()
                    .to_vec()
            })
            .collect()
    }

    #[test]
    fn runs_keep_every_row_once_in_order_and_about_even() {
        let batches = vec![batch(0..5), batch(5..12), batch(12..13), batch(13..20)];
        for count in 1..=4 {
            let runs = runs(batches.clone(), count);
            assert_eq!(runs.len(), count, "{count} runs");
            let all: Vec<i64> = runs.iter().flat_map(|r| values(r)).collect();
            assert_eq!(all, (0..20).collect::<Vec<_>>(), "{count} runs");
            let sizes: Vec<usize> = runs.iter().map(|r| values(r).len()).collect();
            assert!(
                sizes.iter().max().unwrap() - sizes.iter().min().unwrap()
                    <= 20usize.div_ceil(count),
                "{count} runs: {sizes:?}"
            );
        }
    }

    #[test]
    fn small_commits_are_one_file() {
        assert_eq!(files_for(&[batch(0..1000)]), 1);
        assert_eq!(files_for(&[]), 1);
    }
}
