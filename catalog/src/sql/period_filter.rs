//! Deciding a query's filters on `_period` once per period instead of once per row.
//!
//! A period table's rows come in runs of one period — one Parquet file each, one group
//! of decoded batches each — and the programme's queries almost always bound the period
//! (`_period >= '2021-01' AND _period <= '2021-12'`). A filter that reads nothing but
//! `_period` is evaluated here against one row per run; the runs it rejects are not read
//! at all, and DataFusion, told the filter is exact, does not evaluate it again.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StringArray};
use arrow::compute::cast;
use arrow::datatypes::{Field, Schema};
use datafusion::catalog::Session;
use datafusion::common::DFSchema;
use datafusion::error::Result;
use datafusion::logical_expr::utils::conjunction;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};

use crate::tables::{PERIOD_COLUMN, is_text};

/// The periods of a table's runs of rows, one row per run.
#[derive(Debug)]
pub(crate) struct PeriodFilter {
    /// A one-column `_period` batch of the table's own type (which filters are planned
    /// against).
    periods: RecordBatch,
}

impl PeriodFilter {
    /// The filter for runs whose periods are `periods` (`None`: a run without one), of
    /// the type of `field`; `None` when that type is not text, so periods cannot be told.
    pub(crate) fn new<'a>(
        periods: impl IntoIterator<Item = Option<&'a str>>,
        field: &Field,
    ) -> Option<Self> {
        if !is_text(field.data_type()) {
            return None;
        }
        let text: ArrayRef = Arc::new(StringArray::from_iter(periods));
        let schema = Arc::new(Schema::new(vec![field.clone().with_nullable(true)]));
        let column = cast(&text, field.data_type()).ok()?;
        let periods = RecordBatch::try_new(schema, vec![column]).ok()?;
        Some(PeriodFilter { periods })
    }

    /// Whether `filter` reads nothing but the period, so it is decided per run.
    pub(crate) fn decides(filter: &Expr) -> bool {
        let columns = filter.column_refs();
        !columns.is_empty()
            && columns.iter().all(|c| c.name == PERIOD_COLUMN)
            && !filter.is_volatile()
    }

    /// For each run, whether its period passes every filter on the period in `filters`
    /// (the others are left to the caller).
    pub(crate) fn kept(&self, state: &dyn Session, filters: &[Expr]) -> Result<Vec<bool>> {
        let runs = self.periods.num_rows();
        let on_period = filters.iter().filter(|f| Self::decides(f)).cloned();
        let Some(predicate) = conjunction(on_period) else {
            return Ok(vec![true; runs]);
        };
        let schema = DFSchema::try_from(self.periods.schema().as_ref().clone())?;
        let predicate = state.create_physical_expr(predicate, &schema)?;
        let passed = predicate.evaluate(&self.periods)?.into_array(runs)?;
        let passed = passed.as_boolean();
        Ok((0..runs)
            .map(|i| passed.is_valid(i) && passed.value(i))
            .collect())
    }
}

/// The runs (of a table whose runs' periods are `periods`, when it has periods) that
/// pass every filter on the period in `filters`.
pub(crate) fn select<'t, T>(
    periods: Option<&PeriodFilter>,
    state: &dyn Session,
    filters: &[Expr],
    runs: &'t [T],
) -> Result<Vec<&'t T>> {
    let Some(periods) = periods else {
        return Ok(runs.iter().collect());
    };
    let kept = periods.kept(state, filters)?;
    Ok(runs
        .iter()
        .zip(kept)
        .filter_map(|(run, kept)| kept.then_some(run))
        .collect())
}

/// How a table that can decide its period filters per run (`periods` is set) takes each
/// of `filters`: exactly if on the period alone, otherwise not at all (DataFusion filters
/// the rows after the scan).
pub(crate) fn pushdown(
    periods: Option<&PeriodFilter>,
    filters: &[&Expr],
) -> Vec<TableProviderFilterPushDown> {
    filters
        .iter()
        .map(|f| {
            if periods.is_some() && PeriodFilter::decides(f) {
                TableProviderFilterPushDown::Exact
            } else {
                TableProviderFilterPushDown::Unsupported
            }
        })
        .collect()
}
