//! `CAST(t AS DATE)` of timestamps without a zone by integer arithmetic.
//!
//! The programme's times carry no time zone (Beijing wall-clock time), so a timestamp's
//! date is its count of whole days since the epoch. Arrow's cast turns every value into
//! a calendar date and time first, which made it a fifth of the parcels-by-month query
//! and of the same-day KPI. A planning rule ([`WallClockDates`]) replaces these casts in
//! query sessions by [`wall_clock_date`], which gives the same dates; a value no
//! calendar date holds is handed to Arrow's cast, which reports it as before.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Date32Array, PrimitiveArray};
use arrow::compute::{cast, max, min};
use arrow::datatypes::{
    ArrowTimestampType, DataType, Date32Type, TimeUnit, TimestampMicrosecondType,
    TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType,
};
use chrono::NaiveDate;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{DFSchema, ScalarValue};
use datafusion::error::Result;
use datafusion::logical_expr::expr::{Cast, ScalarFunction};
use datafusion::logical_expr::expr_rewriter::NamePreserver;
use datafusion::logical_expr::sort_properties::{ExprProperties, SortProperties};
use datafusion::logical_expr::utils::merge_schema;
use datafusion::logical_expr::{
    ColumnarValue, Expr, ExprSchemable, LogicalPlan, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl,
    Signature, Volatility,
};
use datafusion::optimizer::optimizer::ApplyOrder;
use datafusion::optimizer::{OptimizerConfig, OptimizerRule};

/// The planning rule that computes the dates of timestamps without a zone directly.
#[derive(Debug, Default)]
pub struct WallClockDates;

impl OptimizerRule for WallClockDates {
    fn name(&self) -> &str {
        "wall_clock_dates"
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        Some(ApplyOrder::BottomUp)
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        _config: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        // A scan's filters stay as they were written: the table reads them to skip files
        // and row groups, which it cannot do through a function it does not know. A node
        // without a cast to a date is left before its inputs' schemas are merged: this
        // rule sees every node of every query, a few times over.
        let mut cast_found = false;
        plan.apply_expressions(|e| {
            cast_found = casts_to_a_date(e);
            Ok(if cast_found {
                TreeNodeRecursion::Stop
            } else {
                TreeNodeRecursion::Continue
            })
        })?;
        if plan.inputs().is_empty() || !cast_found {
            return Ok(Transformed::no(plan));
        }
        let schema = merge_schema(&plan.inputs());
        let names = NamePreserver::new(&plan);
        plan.map_expressions(|expr| {
            let name = names.save(&expr);
            let rewritten = expr.transform_up(|e| Ok(date_of_timestamp(e, &schema)))?;
            Ok(rewritten.update_data(|e| name.restore(e)))
        })
    }
}

/// Whether `expr` casts anything to a date.
fn casts_to_a_date(expr: &Expr) -> bool {
    expr.exists(|e| {
        Ok(matches!(e, Expr::Cast(cast) if cast.field.data_type() == &DataType::Date32))
    })
    .unwrap_or(false)
}

/// `expr` with a cast of a zone-less timestamp to a date replaced by [`wall_clock_date`].
fn date_of_timestamp(expr: Expr, schema: &DFSchema) -> Transformed<Expr> {
    match expr {
        Expr::Cast(Cast {
            expr: timestamp,
            field,
        }) if field.data_type() == &DataType::Date32
            && matches!(timestamp.get_type(schema), Ok(DataType::Timestamp(_, None))) =>
        {
            let call = ScalarFunction::new_udf(wall_clock_date(), vec![*timestamp]);
            Transformed::yes(Expr::ScalarFunction(call))
        }
        other => Transformed::no(other),
    }
}

/// The date of a timestamp without a zone, as `CAST(t AS DATE)` gives it.
pub fn wall_clock_date() -> Arc<ScalarUDF> {
    static FUNCTION: std::sync::OnceLock<Arc<ScalarUDF>> = std::sync::OnceLock::new();
    FUNCTION
        .get_or_init(|| Arc::new(ScalarUDF::new_from_impl(WallClockDate::default())))
        .clone()
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct WallClockDate {
    signature: Signature,
}

impl Default for WallClockDate {
    fn default() -> Self {
        WallClockDate {
            signature: Signature::any(1, Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for WallClockDate {
    fn name(&self) -> &str {
        "wall_clock_date"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Date32)
    }

    fn output_ordering(&self, inputs: &[ExprProperties]) -> Result<SortProperties> {
        // A later time never has an earlier date.
        Ok(inputs
            .first()
            .map(|input| input.sort_properties)
            .unwrap_or(SortProperties::Unordered))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        match args.args.first() {
            Some(ColumnarValue::Array(array)) => Ok(ColumnarValue::Array(dates(array)?)),
            Some(ColumnarValue::Scalar(value)) => {
                let dates = dates(&value.to_array_of_size(1)?)?;
                Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(
                    &dates, 0,
                )?))
            }
            None => datafusion::common::exec_err!("wall_clock_date takes one timestamp"),
        }
    }
}

/// The dates of `array`'s timestamps; Arrow's cast for anything but timestamps without a
/// zone whose dates a calendar holds.
fn dates(array: &ArrayRef) -> Result<ArrayRef> {
    let DataType::Timestamp(unit, None) = array.data_type() else {
        return Ok(cast(array, &DataType::Date32)?);
    };
    // The divisors are constants in each arm, so the division compiles to a multiplication.
    let days = match unit {
        TimeUnit::Second => days(array.as_primitive::<TimestampSecondType>(), 86_400),
        TimeUnit::Millisecond => days(array.as_primitive::<TimestampMillisecondType>(), 86_400_000),
        TimeUnit::Microsecond => days(
            array.as_primitive::<TimestampMicrosecondType>(),
            86_400_000_000,
        ),
        TimeUnit::Nanosecond => days(
            array.as_primitive::<TimestampNanosecondType>(),
            86_400_000_000_000,
        ),
    };
    match days {
        Some(days) => Ok(Arc::new(days)),
        None => Ok(cast(array, &DataType::Date32)?),
    }
}

/// The whole days since the epoch of each of `timestamps` (`per_day` of their unit to a
/// day), or `None` when one of them is beyond the dates a calendar holds.
#[inline(always)]
fn days<T: ArrowTimestampType>(
    timestamps: &PrimitiveArray<T>,
    per_day: i64,
) -> Option<Date32Array> {
    let first = Date32Type::from_naive_date(NaiveDate::MIN) as i64;
    let last = Date32Type::from_naive_date(NaiveDate::MAX) as i64;
    let held = |t: i64| (first..=last).contains(&t.div_euclid(per_day));
    let (earliest, latest) = (min(timestamps), max(timestamps));
    if !earliest.is_none_or(held) || !latest.is_none_or(held) {
        return None;
    }
    Some(timestamps.unary(|t| t.div_euclid(per_day) as i32))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{
        RecordBatch, TimestampMicrosecondArray, TimestampNanosecondArray, TimestampSecondArray,
    };
    use arrow::datatypes::{Field, Schema};
    use datafusion::prelude::SessionContext;

    /// A session over table `t` (column `at`), with the rule or without.
    fn session(at: ArrayRef, ours: bool) -> SessionContext {
        let ctx = SessionContext::new();
        if ours {
            ctx.add_optimizer_rule(Arc::new(WallClockDates));
        }
        let schema = Arc::new(Schema::new(vec![Field::new(
            "at",
            at.data_type().clone(),
            true,
        )]));
        ctx.register_batch("t", RecordBatch::try_new(schema, vec![at]).unwrap())
            .unwrap();
        ctx
    }

    /// The rows and the plan of `sql` over table `t` (column `at`), with the rule or
    /// without.
    async fn run(sql: &str, at: ArrayRef, ours: bool) -> (String, String) {
        let ctx = session(at, ours);
        let frame = ctx.sql(sql).await.unwrap();
        let plan = frame
            .clone()
            .into_optimized_plan()
            .unwrap()
            .display_indent()
            .to_string();
        let batches = frame.collect().await.unwrap();
        let rows = arrow::util::pretty::pretty_format_batches(&batches)
            .unwrap()
            .to_string();
        (rows, plan)
    }

    fn microseconds() -> ArrayRef {
        let day = 86_400_000_000i64;
        Arc::new(TimestampMicrosecondArray::from(vec![
            Some(0),
            Some(-1),
            Some(day - 1),
            Some(day),
            Some(-day),
            Some(-day - 1),
            None,
            Some(1_640_995_199_999_999),
            Some(18_993 * day + 14 * 3_600_000_000),
        ]))
    }

    #[tokio::test]
    async fn dates_are_arrows_own_through_selects_filters_and_groups() {
        let seconds: ArrayRef = Arc::new(TimestampSecondArray::from(vec![
            Some(-86_401),
            Some(86_399),
            None,
            Some(1_609_459_199),
        ]));
        let nanoseconds: ArrayRef = Arc::new(TimestampNanosecondArray::from(vec![
            Some(-9_000_000_000_000_000_000),
            Some(9_000_000_000_000_000_000),
            Some(-1),
        ]));
        for at in [microseconds(), seconds, nanoseconds] {
            for sql in [
                "SELECT at, CAST(at AS DATE) AS d FROM t",
                "SELECT CAST(at AS DATE) FROM t",
                "SELECT CAST(at AS DATE), count(*) AS n FROM t GROUP BY CAST(at AS DATE) ORDER BY 1",
                "SELECT count(*) AS n FROM t WHERE CAST(at AS DATE) = CAST(at + INTERVAL '1 second' AS DATE)",
                "SELECT CAST(date_trunc('month', at) AS DATE) AS m, count(*) FROM t GROUP BY 1 ORDER BY 1",
            ] {
                let (ours, plan) = run(sql, at.clone(), true).await;
                let (theirs, _) = run(sql, at.clone(), false).await;
                assert_eq!(ours, theirs, "{sql}");
                assert!(ours.lines().count() > 4, "{ours}");
                assert!(plan.contains("wall_clock_date("), "{plan}");
            }
        }
    }

    #[tokio::test]
    async fn a_date_beyond_the_calendar_is_refused_as_arrow_refuses_it() {
        let far: ArrayRef = Arc::new(TimestampSecondArray::from(vec![
            Some(0),
            Some(i64::MAX / 2),
        ]));
        let error = session(far, true)
            .sql("SELECT CAST(at AS DATE) FROM t")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap_err();
        assert!(error.to_string().contains("Cannot convert"), "{error}");
    }

    #[test]
    fn zoned_timestamps_and_dates_are_left_to_arrow() {
        let zoned: ArrayRef = Arc::new(
            TimestampMicrosecondArray::from(vec![Some(-1), Some(20 * 3_600_000_000)])
                .with_timezone("+08:00"),
        );
        assert_eq!(
            dates(&zoned).unwrap().as_ref(),
            cast(&zoned, &DataType::Date32).unwrap().as_ref()
        );
        let schema = DFSchema::try_from(Schema::new(vec![Field::new(
            "at",
            zoned.data_type().clone(),
            true,
        )]))
        .unwrap();
        let zoned_cast =
            datafusion::prelude::cast(datafusion::prelude::col("at"), DataType::Date32);
        assert!(!date_of_timestamp(zoned_cast, &schema).transformed);
    }
}
