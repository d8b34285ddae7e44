//! A table version decoded in memory, its rows grouped by period, so that a scan skips
//! the periods its filters exclude — as a scan of the files skips their files.
//!
//! A period table's files each hold one `_period`, and the programme's queries almost
//! always bound it. Without the groups a scan of the decoded table would read every
//! period and compare each row's period as text; with them, a filter on the period alone
//! is decided once per group ([`PeriodFilter`]).

use std::collections::HashSet;
use std::sync::{Arc, OnceLock};

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::compute::kernels::partition::partition;
use arrow::compute::{cast, concat};
use arrow::datatypes::{DataType, SchemaRef};
use arrow::row::{RowConverter, SortField};
use async_trait::async_trait;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::Statistics;
use datafusion::common::stats::Precision;
use datafusion::datasource::TableType;
use datafusion::datasource::memory::{DataSourceExec, MemorySourceConfig};
use datafusion::error::Result;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;

use super::period_filter::{self, PeriodFilter};
use crate::tables::PERIOD_COLUMN;

/// The rows of one period (or of the whole table, for a table without periods).
#[derive(Debug)]
struct Group {
    /// The period; `None` for a table without periods or rows without one.
    period: Option<String>,
    batches: Vec<RecordBatch>,
}

/// A decoded table version whose scans skip the periods their filters exclude.
#[derive(Debug)]
pub struct DecodedTable {
    schema: SchemaRef,
    groups: Vec<Group>,
    /// The groups' periods; `None` when the rows are not grouped.
    periods: Option<PeriodFilter>,
    /// Rows and distinct values, estimated when first asked for.
    statistics: OnceLock<Statistics>,
}

/// Rows sampled, spread over the batches, to estimate a column's distinct values.
const SAMPLE_ROWS: usize = 64 * 1024;

/// The table's rows, exactly, and each column's distinct values as estimated from a
/// sample: the values met when they are fewer than half the sample (the sample has
/// seen most of them), else the same share of all the rows.
fn estimated_statistics(schema: &SchemaRef, groups: &[Group], rows: usize) -> Statistics {
    let batches: Vec<&RecordBatch> = groups.iter().flat_map(|g| &g.batches).collect();
    let per_batch = (SAMPLE_ROWS / batches.len().max(1)).max(1);
    let mut statistics = Statistics::new_unknown(schema).with_num_rows(Precision::Exact(rows));
    for (column, column_statistics) in statistics.column_statistics.iter_mut().enumerate() {
        let sample: Vec<ArrayRef> = batches
            .iter()
            .map(|b| b.column(column).slice(0, b.num_rows().min(per_batch)))
            .collect();
        if let Some(distinct) = distinct_in(&sample) {
            let sampled: usize = sample.iter().map(|a| a.len()).sum();
            let estimate = if distinct * 2 < sampled {
                distinct
            } else {
                rows.saturating_mul(distinct) / sampled.max(1)
            };
            column_statistics.distinct_count = Precision::Inexact(estimate.min(rows));
        }
    }
    statistics
}

/// The distinct values (nulls included, as one) in the arrays of one column.
fn distinct_in(arrays: &[ArrayRef]) -> Option<usize> {
    let refs: Vec<&dyn Array> = arrays.iter().map(AsRef::as_ref).collect();
    let sample = concat(&refs).ok()?;
    let converter = RowConverter::new(vec![SortField::new(sample.data_type().clone())]).ok()?;
    let rows = converter.convert_columns(&[sample]).ok()?;
    Some(
        rows.iter()
            .map(|row| row.data())
            .collect::<HashSet<_>>()
            .len(),
    )
}

impl DecodedTable {
    /// The table of `batches` (with `schema`).
    pub fn new(schema: SchemaRef, batches: Vec<RecordBatch>) -> Self {
        let grouped = schema
            .field_with_name(PERIOD_COLUMN)
            .ok()
            .and_then(|field| {
                let groups = group_by_period(&batches)?;
                let periods = PeriodFilter::new(groups.iter().map(|g| g.period.as_deref()), field)?;
                Some((groups, periods))
            });
        // A table whose periods cannot be read as text is one group, scanned whole.
        let (groups, periods) = match grouped {
            Some((groups, periods)) => (groups, Some(periods)),
            None => {
                let whole = Group {
                    period: None,
                    batches,
                };
                (vec![whole], None)
            }
        };
        DecodedTable {
            schema,
            groups,
            periods,
            statistics: OnceLock::new(),
        }
    }

    /// The table's rows, counted without estimating anything else.
    pub fn num_rows(&self) -> usize {
        self.groups
            .iter()
            .flat_map(|g| &g.batches)
            .map(RecordBatch::num_rows)
            .sum()
    }
}

/// The batches' rows grouped by period, in the order met; `None` if a batch's periods
/// cannot be read as text. Each Parquet file holds one period, so a batch is nearly
/// always one run of a single period; a batch that holds several is cut (without
/// copying) where the period changes.
fn group_by_period(batches: &[RecordBatch]) -> Option<Vec<Group>> {
    let mut groups: Vec<Group> = Vec::new();
    for batch in batches {
        let periods = batch.column_by_name(PERIOD_COLUMN)?;
        for run in partition(std::slice::from_ref(periods)).ok()?.ranges() {
            let first = cast(&periods.slice(run.start, 1), &DataType::Utf8).ok()?;
            let first = first.as_string_opt::<i32>()?;
            let period = first.is_valid(0).then(|| first.value(0).to_owned());
            let rows = batch.slice(run.start, run.end - run.start);
            match groups.iter_mut().find(|g| g.period == period) {
                Some(group) => group.batches.push(rows),
                None => groups.push(Group {
                    period,
                    batches: vec![rows],
                }),
            }
        }
    }
    Some(groups)
}

#[async_trait]
impl TableProvider for DecodedTable {
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

    /// The rows, and each column's distinct values estimated from a sample, for planning
    /// rules that weigh a join's sides before any scan.
    fn statistics(&self) -> Option<Statistics> {
        Some(
            self.statistics
                .get_or_init(|| estimated_statistics(&self.schema, &self.groups, self.num_rows()))
                .clone(),
        )
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        // The selected groups' batches dealt round-robin over the session's partitions,
        // so a scan uses every core.
        let n = state.config_options().execution.target_partitions.max(1);
        let mut partitions: Vec<Vec<RecordBatch>> = vec![Vec::new(); n];
        let batches = period_filter::select(self.periods.as_ref(), state, filters, &self.groups)?
            .into_iter()
            .flat_map(|g| g.batches.iter().cloned());
        for (i, batch) in batches.enumerate() {
            partitions[i % n].push(batch);
        }
        let source = MemorySourceConfig::try_new(&partitions, self.schema(), projection.cloned())?
            .with_show_sizes(state.config_options().explain.show_sizes);
        Ok(DataSourceExec::from_data_source(source))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{ArrayRef, Int64Array, StringArray};
    use arrow::datatypes::{Field, Schema};
    use datafusion::prelude::{SessionConfig, SessionContext};

    /// Dictionary-encoded, as deltalake returns partition values.
    fn dictionary() -> DataType {
        DataType::Dictionary(Box::new(DataType::UInt16), Box::new(DataType::Utf8))
    }

    fn batch(schema: &SchemaRef, periods: &[&str], values: &[i64]) -> RecordBatch {
        let periods: ArrayRef = Arc::new(StringArray::from(periods.to_vec()));
        let periods = cast(&periods, schema.field(1).data_type()).unwrap();
        RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(Int64Array::from(values.to_vec())), periods],
        )
        .unwrap()
    }

    #[test]
    fn rows_are_counted_and_distinct_values_estimated_from_a_sample() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("kind", DataType::Utf8, true),
        ]));
        let batches = (0..4i64)
            .map(|b| {
                let ids = (b * 50_000)..((b + 1) * 50_000);
                RecordBatch::try_new(
                    schema.clone(),
                    vec![
                        Arc::new(Int64Array::from_iter_values(ids.clone())),
                        Arc::new(StringArray::from_iter(
                            ids.map(|i| (i % 8 != 0).then(|| format!("k{}", i % 6))),
                        )),
                    ],
                )
                .unwrap()
            })
            .collect();
        let statistics = DecodedTable::new(schema, batches).statistics().unwrap();
        assert_eq!(statistics.num_rows, Precision::Exact(200_000));
        let distinct: Vec<_> = statistics
            .column_statistics
            .iter()
            .map(|c| c.distinct_count)
            .collect();
        // Every sampled id differs: as many ids as rows. Six kinds and the null.
        assert_eq!(
            distinct,
            [Precision::Inexact(200_000), Precision::Inexact(7)]
        );
    }

    fn table(period_type: DataType) -> DecodedTable {
        let schema = Arc::new(Schema::new(vec![
            Field::new("n", DataType::Int64, false),
            Field::new(PERIOD_COLUMN, period_type, true),
        ]));
        DecodedTable::new(
            schema.clone(),
            vec![
                batch(&schema, &["2021-01", "2021-01"], &[1, 2]),
                // A batch holding two periods is cut where the period changes.
                batch(&schema, &["2021-02", "2021-03", "2021-03"], &[3, 4, 5]),
                batch(&schema, &["2021-01"], &[6]),
            ],
        )
    }

    /// The rows and the plan of `sql` over the table `t`, periods of `period_type`.
    async fn answer(period_type: DataType, sql: &str) -> (String, String) {
        let ctx = SessionContext::new_with_config(SessionConfig::new().with_target_partitions(2));
        ctx.register_table("t", Arc::new(table(period_type)))
            .unwrap();
        let text = |b: &[RecordBatch]| {
            arrow::util::pretty::pretty_format_batches(b)
                .unwrap()
                .to_string()
        };
        let rows = ctx.sql(sql).await.unwrap().collect().await.unwrap();
        let explain = format!("EXPLAIN {sql}");
        let plan = ctx.sql(&explain).await.unwrap().collect().await.unwrap();
        (text(&rows), text(&plan))
    }

    #[test]
    fn rows_are_grouped_by_period_in_the_order_met() {
        for period_type in [DataType::Utf8, dictionary()] {
            let t = table(period_type);
            let periods: Vec<_> = t.groups.iter().map(|g| g.period.as_deref()).collect();
            assert_eq!(periods, [Some("2021-01"), Some("2021-02"), Some("2021-03")]);
            let rows: Vec<usize> = t
                .groups
                .iter()
                .map(|g| g.batches.iter().map(RecordBatch::num_rows).sum())
                .collect();
            assert_eq!(rows, [3, 1, 2]);
        }
    }

    #[tokio::test]
    async fn a_scan_reads_only_the_periods_its_filters_keep() {
        let sql = "SELECT sum(n) AS s FROM t WHERE _period >= '2021-02' AND _period <= '2021-03'";
        for period_type in [DataType::Utf8, dictionary()] {
            let (rows, plan) = answer(period_type, sql).await;
            assert!(rows.contains("| 12 |"), "{rows}");
            // Two batches remain of four (one per period kept), and the period filter is
            // not applied again.
            assert!(plan.contains("partition_sizes=[1, 1]"), "{plan}");
            assert!(!plan.contains("FilterExec"), "{plan}");
        }
    }

    #[tokio::test]
    async fn filters_on_other_columns_still_apply_row_by_row() {
        for period_type in [DataType::Utf8, dictionary()] {
            let sql = "SELECT sum(n) AS s FROM t WHERE _period = '2021-01' AND n > 1";
            let (rows, plan) = answer(period_type.clone(), sql).await;
            assert!(rows.contains("| 8 |"), "{rows}");
            assert!(plan.contains("FilterExec"), "{plan}");
            let sql = "SELECT count(*) AS c FROM t WHERE _period = '2021-01' OR n = 4";
            let (rows, _) = answer(period_type, sql).await;
            assert!(rows.contains("| 4 |"), "{rows}");
        }
    }

    #[tokio::test]
    async fn a_period_no_group_holds_leaves_no_rows() {
        let sql = "SELECT count(*) AS c FROM t WHERE _period = '2030-01'";
        let (rows, _) = answer(dictionary(), sql).await;
        assert!(rows.contains("| 0 |"), "{rows}");
        let sql = "SELECT n FROM t WHERE _period = '2030-01'";
        let (_, plan) = answer(dictionary(), sql).await;
        assert!(plan.contains("partition_sizes=[0, 0]"), "{plan}");
        let (_, plan) = answer(dictionary(), "SELECT n FROM t").await;
        assert!(plan.contains("partition_sizes=[2, 2]"), "{plan}");
    }

    #[test]
    fn periods_that_are_not_text_leave_one_group_and_no_pruning() {
        let t = table(DataType::Float64);
        assert_eq!(t.groups.len(), 1);
        assert!(t.periods.is_none());
    }
}
