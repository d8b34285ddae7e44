//! Aggregating a join's large side before the join, where that gives the same rows.
//!
//! Analysts count facts by attributes of a dimension: parcels by month, *town* and
//! courier, where the town is the village's. Planned as written, every parcel row is
//! joined to its village, carries the town's text through the join, and is then hashed
//! on three keys. A planning rule ([`AggregateBeforeJoin`]) first aggregates the parcels
//! by the month, the courier and the join key (the village code), which leaves a few
//! thousand rows, joins those to the villages and adds their counts up by town.
//!
//! That is exact for `count`, for `min` and `max`, and for `sum` of whole numbers and
//! decimals (a sum of sums); the rule leaves any other aggregate, a `DISTINCT`, a
//! filtered aggregate, an outer or non-equi join alone. It applies only where the first
//! aggregation surely shrinks the rows, by what the tables say of themselves: the side
//! it aggregates holds many times the rows of the other (a fact table and its
//! dimension) and many times the groups its keys can make (the columns' distinct values
//! as the table estimates them; days, months, years of its times). Grouping parcels by
//! their own id, it would cost four times the plain plan.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::common::tree_node::Transformed;
use datafusion::common::{Column, DFSchema, NullEquality, ScalarValue, Statistics};
use datafusion::datasource::source_as_provider;
use datafusion::error::Result;
use datafusion::functions::core::expr_fn::coalesce;
use datafusion::functions_aggregate::expr_fn::{max, min, sum};
use datafusion::logical_expr::expr::{AggregateFunction, Cast};
use datafusion::logical_expr::{
    Aggregate, Expr, ExprSchemable, Join, JoinType, LogicalPlan, Projection, lit,
};
use datafusion::optimizer::optimizer::ApplyOrder;
use datafusion::optimizer::{OptimizerConfig, OptimizerRule};

/// How many times the other side's rows the aggregated side must hold, and how many
/// times its estimated groups.
const FACT_ROWS_PER_DIMENSION_ROW: usize = 16;

/// The planning rule that aggregates a fact table before joining it to a dimension.
#[derive(Debug, Default)]
pub struct AggregateBeforeJoin;

impl OptimizerRule for AggregateBeforeJoin {
    fn name(&self) -> &str {
        "aggregate_before_join"
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        Some(ApplyOrder::TopDown)
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        _config: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        let LogicalPlan::Aggregate(aggregate) = &plan else {
            return Ok(Transformed::no(plan));
        };
        // Anything the rule cannot build, or that would not keep the aggregate's output,
        // leaves the plan as it was: this is an optimisation, never a reason to fail.
        match aggregated_before_join(aggregate) {
            Some(rewritten)
                if rewritten
                    .schema()
                    .logically_equivalent_names_and_types(plan.schema()) =>
            {
                Ok(Transformed::yes(rewritten))
            }
            _ => Ok(Transformed::no(plan)),
        }
    }
}

/// One aggregate of the query, and how its partial results are combined.
struct Partial {
    /// The aggregate as written, without its alias.
    function: Expr,
    /// Combines the per-group results of the first aggregation.
    combine: fn(Expr) -> Expr,
    /// Whether the aggregate is a count (never null).
    is_count: bool,
}

/// The aggregate over the join, rewritten; `None` when the rule does not apply.
fn aggregated_before_join(aggregate: &Aggregate) -> Option<LogicalPlan> {
    let join = join_below(&aggregate.input)?;
    if join.join_type != JoinType::Inner
        || join.filter.is_some()
        || join.null_aware
        || join.null_equality != NullEquality::NullEqualsNothing
        || join.on.is_empty()
        || join
            .on
            .iter()
            .any(|(l, r)| !matches!((l, r), (Expr::Column(_), Expr::Column(_))))
        || aggregate
            .group_expr
            .iter()
            .any(|e| matches!(e, Expr::GroupingSet(_)))
    {
        return None;
    }
    let partials = aggregate
        .aggr_expr
        .iter()
        .map(|e| partial(e, &join.schema))
        .collect::<Option<Vec<_>>>()?;
    let (left_table, right_table) = (
        table_statistics(&join.left)?,
        table_statistics(&join.right)?,
    );
    let (left_rows, right_rows) = (rows(&left_table)?, rows(&right_table)?);
    let fact_is_left = if left_rows >= right_rows.saturating_mul(FACT_ROWS_PER_DIMENSION_ROW) {
        true
    } else if right_rows >= left_rows.saturating_mul(FACT_ROWS_PER_DIMENSION_ROW) {
        false
    } else {
        return None;
    };
    let (fact, dimension, fact_table, fact_rows) = if fact_is_left {
        (&join.left, &join.right, &left_table, left_rows)
    } else {
        (&join.right, &join.left, &right_table, right_rows)
    };
    let on_fact = |e: &Expr| e.column_refs().iter().all(|c| fact.schema().has_column(c));
    let on_dimension = |e: &Expr| {
        e.column_refs()
            .iter()
            .all(|c| dimension.schema().has_column(c))
    };
    // Every aggregate reads the fact side only; every group key reads one side only.
    if !partials.iter().all(|p| on_fact(&p.function))
        || !aggregate
            .group_expr
            .iter()
            .all(|e| on_fact(e) || on_dimension(e))
    {
        return None;
    }

    // First: the fact side by its own group keys and its join keys.
    let mut first_groups: Vec<Expr> = aggregate
        .group_expr
        .iter()
        .filter(|e| !e.column_refs().is_empty() && on_fact(e))
        .cloned()
        .collect();
    for (l, r) in &join.on {
        let key = if fact_is_left { l } else { r };
        if !first_groups.contains(key) {
            first_groups.push(key.clone());
        }
    }
    if !groups_shrink_the_rows(&first_groups, fact_table, fact_rows) {
        return None;
    }
    let first_aggregates = partials
        .iter()
        .enumerate()
        .map(|(i, p)| p.function.clone().alias(partial_name(i)))
        .collect();
    let first = LogicalPlan::Aggregate(
        Aggregate::try_new(fact.clone(), first_groups.clone(), first_aggregates).ok()?,
    );

    // Then the join, with the first aggregation in the fact side's place.
    let (left, right) = if fact_is_left {
        (Arc::new(first), dimension.clone())
    } else {
        (dimension.clone(), Arc::new(first))
    };
    let joined = LogicalPlan::Join(
        Join::try_new(
            left,
            right,
            join.on.clone(),
            None,
            JoinType::Inner,
            join.join_constraint,
            join.null_equality,
            false,
        )
        .ok()?,
    );

    // Last: the query's groups over the join, combining the partial results.
    let groups = aggregate
        .group_expr
        .iter()
        .map(|e| {
            // A column keeps its name through the first aggregation; an expression is
            // computed there and read back by its name.
            if matches!(e, Expr::Column(_)) || !first_groups.contains(e) {
                e.clone()
            } else {
                Expr::Column(Column::new_unqualified(e.schema_name().to_string()))
            }
        })
        .collect();
    let combined = partials
        .iter()
        .enumerate()
        .map(|(i, p)| (p.combine)(Expr::Column(Column::new_unqualified(partial_name(i)))))
        .collect();
    let last = LogicalPlan::Aggregate(Aggregate::try_new(Arc::new(joined), groups, combined).ok()?);
    named_as(last, aggregate, &partials)
}

/// The join an aggregate reads, directly or through a projection of plain columns.
fn join_below(input: &LogicalPlan) -> Option<&Join> {
    match input {
        LogicalPlan::Join(join) => Some(join),
        LogicalPlan::Projection(projection)
            if projection.expr.iter().all(|e| matches!(e, Expr::Column(_))) =>
        {
            join_below(&projection.input)
        }
        _ => None,
    }
}

/// How `expr` (an aggregate of the query) is computed in two steps, if it can be.
fn partial(expr: &Expr, schema: &DFSchema) -> Option<Partial> {
    let Expr::AggregateFunction(AggregateFunction { func, params }) = expr else {
        return None;
    };
    if params.distinct
        || params.filter.is_some()
        || !params.order_by.is_empty()
        || params.null_treatment.is_some()
    {
        return None;
    }
    let (combine, is_count): (fn(Expr) -> Expr, bool) = match func.name() {
        "count" => (sum, true),
        "min" => (min, false),
        "max" => (max, false),
        "sum"
            if params.args.len() == 1 && {
                let data_type = params.args[0].get_type(schema).ok()?;
                data_type.is_integer() || data_type.is_decimal()
            } =>
        {
            (sum, false)
        }
        _ => return None,
    };
    Some(Partial {
        function: expr.clone(),
        combine,
        is_count,
    })
}

/// The name of the `i`th partial result.
fn partial_name(i: usize) -> String {
    format!("__before_join_{i}")
}

/// What the table a plan reads says of itself, through aliases, projections and filters
/// (which can only make its rows fewer); `None` unless the table says.
fn table_statistics(plan: &LogicalPlan) -> Option<(Statistics, SchemaRef)> {
    match plan {
        LogicalPlan::TableScan(scan) => {
            let table = source_as_provider(&scan.source).ok()?;
            Some((table.statistics()?, table.schema()))
        }
        LogicalPlan::SubqueryAlias(_) | LogicalPlan::Projection(_) | LogicalPlan::Filter(_) => {
            table_statistics(plan.inputs().first()?)
        }
        _ => None,
    }
}

/// The rows of a table, if it counts them.
fn rows((statistics, _): &(Statistics, SchemaRef)) -> Option<usize> {
    statistics.num_rows.get_value().copied()
}

/// Whether aggregating the fact table by `groups` leaves at most a sixteenth of its rows,
/// by the distinct values the table estimates for its columns. A group key that is not
/// a column must be a date or a truncation of a time to a day or longer — a handful of
/// values per year, not counted; anything else the rule cannot weigh, and declines.
fn groups_shrink_the_rows(
    groups: &[Expr],
    (statistics, schema): &(Statistics, SchemaRef),
    rows: usize,
) -> bool {
    let mut groups_at_most: usize = 1;
    for group in groups {
        match group {
            Expr::Column(column) => {
                let distinct = schema
                    .index_of(&column.name)
                    .ok()
                    .and_then(|i| statistics.column_statistics.get(i))
                    .and_then(|c| c.distinct_count.get_value().copied());
                match distinct {
                    Some(distinct) => groups_at_most = groups_at_most.saturating_mul(distinct),
                    None => return false,
                }
            }
            other if is_a_day_or_longer(other) => {}
            _ => return false,
        }
    }
    groups_at_most.saturating_mul(FACT_ROWS_PER_DIMENSION_ROW) <= rows
}

/// Whether `expr` is a date of a time column, or a time column truncated to a day or a
/// longer unit (as `CAST(date_trunc('month', t) AS DATE)`).
fn is_a_day_or_longer(expr: &Expr) -> bool {
    let of_a_column_or_coarse = |e: &Expr| matches!(e, Expr::Column(_)) || is_a_day_or_longer(e);
    match expr {
        Expr::Alias(alias) => is_a_day_or_longer(&alias.expr),
        Expr::Cast(cast) => {
            matches!(cast.field.data_type(), DataType::Date32 | DataType::Date64)
                && of_a_column_or_coarse(&cast.expr)
        }
        Expr::ScalarFunction(function) => match (function.name(), function.args.as_slice()) {
            ("wall_clock_date", [argument]) => of_a_column_or_coarse(argument),
            (
                "date_trunc",
                [
                    Expr::Literal(ScalarValue::Utf8(Some(unit)), _),
                    Expr::Column(_),
                ],
            ) => ["year", "quarter", "month", "week", "day"]
                .contains(&unit.to_ascii_lowercase().as_str()),
            _ => false,
        },
        _ => false,
    }
}

/// `last` under a projection that gives each column the original aggregate's name and
/// type: a count stays a count (never null), a sum of decimal sums its original scale.
fn named_as(last: LogicalPlan, original: &Aggregate, partials: &[Partial]) -> Option<LogicalPlan> {
    let groups = original.group_expr.len();
    let mut columns = Vec::with_capacity(original.schema.fields().len());
    for (i, (qualifier, field)) in original.schema.iter().enumerate() {
        let (last_qualifier, last_field) = last.schema().qualified_field(i);
        let mut expr = Expr::Column(Column::from((last_qualifier, last_field)));
        if let Some(partial) = i.checked_sub(groups).and_then(|a| partials.get(a)) {
            if partial.is_count {
                expr = coalesce(vec![expr, lit(0i64)]);
            }
            if last_field.data_type() != field.data_type() {
                expr = Expr::Cast(Cast::new(Box::new(expr), field.data_type().clone()));
            }
        }
        let same_name = last_qualifier == qualifier && last_field.name() == field.name();
        columns.push(if same_name && matches!(expr, Expr::Column(_)) {
            expr
        } else {
            expr.alias_qualified(qualifier.cloned(), field.name())
        });
    }
    Projection::try_new(columns, Arc::new(last))
        .ok()
        .map(LogicalPlan::Projection)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{
        ArrayRef, Decimal128Array, Float64Array, RecordBatch, StringArray, TimestampSecondArray,
    };
    use arrow::datatypes::{DataType, Field, Schema};
    use datafusion::prelude::SessionContext;
    use sannong_catalog::sql::DecodedTable;

    /// A table of `columns` that says how many rows it holds, as the platform's do.
    fn table(columns: Vec<(&str, ArrayRef)>) -> Arc<DecodedTable> {
        let schema = Arc::new(Schema::new(
            columns
                .iter()
                .map(|(name, array)| Field::new(*name, array.data_type().clone(), true))
                .collect::<Vec<_>>(),
        ));
        let batch =
            RecordBatch::try_new(schema.clone(), columns.into_iter().map(|c| c.1).collect())
                .unwrap();
        Arc::new(DecodedTable::new(schema, vec![batch]))
    }

    /// Facts `f` (2,000 parcels; some of villages the dimension lacks, some without a
    /// courier or weight) and dimension `d` (villages by town; one village twice).
    fn session(ours: bool) -> SessionContext {
        let ctx = SessionContext::new();
        if ours {
            ctx.add_optimizer_rule(Arc::new(AggregateBeforeJoin));
        }
        let n = 2_000i64;
        let code = |i: i64| format!("V{}", if i % 13 == 12 { 99 } else { i % 9 });
        let facts = table(vec![
            (
                "code",
                Arc::new(StringArray::from_iter_values((0..n).map(code))),
            ),
            (
                "courier",
                Arc::new(StringArray::from_iter((0..n).map(|i| {
                    (i % 7 != 0).then(|| ["邮政", "韵达", "中通"][(i % 3) as usize])
                }))),
            ),
            (
                "at",
                Arc::new(TimestampSecondArray::from_iter_values(
                    (0..n).map(|i| 1_640_995_200 + i * 37_003),
                )),
            ),
            (
                "fee",
                Arc::new(
                    Decimal128Array::from_iter_values((0..n).map(|i| i128::from(500 + i % 250)))
                        .with_precision_and_scale(10, 2)
                        .unwrap(),
                ),
            ),
            (
                "weight",
                Arc::new(Float64Array::from_iter(
                    (0..n).map(|i| (i % 11 != 0).then_some(0.25 * (i % 17) as f64)),
                )),
            ),
        ]);
        let villages: Vec<String> = (0..9)
            .map(|i| format!("V{i}"))
            .chain(["V3".into()])
            .collect();
        let towns: Vec<String> = (0..10).map(|i| format!("T{}", i % 3)).collect();
        let dimension = table(vec![
            ("code", Arc::new(StringArray::from_iter_values(villages))),
            ("town", Arc::new(StringArray::from_iter_values(towns))),
        ]);
        ctx.register_table("f", facts).unwrap();
        ctx.register_table("d", dimension).unwrap();
        ctx
    }

    /// The rows of `sql`, with the rule and without, and whether the rule changed the plan.
    async fn both(sql: &str) -> (String, String, bool) {
        let mut answers = Vec::new();
        let mut rewritten = false;
        for ours in [true, false] {
            let frame = session(ours).sql(sql).await.unwrap();
            let plan = frame.clone().into_optimized_plan().unwrap();
            rewritten |= plan.display_indent().to_string().contains("__before_join_");
            let batches = frame.collect().await.unwrap();
            answers.push(
                arrow::util::pretty::pretty_format_batches(&batches)
                    .unwrap()
                    .to_string(),
            );
        }
        let without = answers.pop().unwrap();
        (answers.pop().unwrap(), without, rewritten)
    }

    #[tokio::test]
    async fn counts_sums_minima_and_maxima_by_dimension_attributes_are_the_same() {
        for sql in [
            "SELECT CAST(date_trunc('month', f.at) AS DATE) AS month, d.town, f.courier, count(*) AS n \
             FROM f JOIN d ON f.code = d.code GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
            "SELECT d.town, sum(f.fee) AS fees, min(f.at), max(f.weight), count(f.weight), count(f.courier) \
             FROM f JOIN d ON f.code = d.code GROUP BY d.town ORDER BY 1",
            "SELECT d.town, count(*) FROM d JOIN f ON d.code = f.code GROUP BY d.town ORDER BY 1",
            "SELECT f.courier, count(*), sum(f.fee) FROM f JOIN d ON f.code = d.code \
             WHERE f.weight > 1 GROUP BY f.courier ORDER BY 1",
            "SELECT d.town, f.code, count(*) FROM f JOIN d ON f.code = d.code GROUP BY d.town, f.code ORDER BY 1, 2",
        ] {
            let (with, without, rewritten) = both(sql).await;
            assert!(rewritten, "the rule should apply to {sql}");
            assert_eq!(with, without, "{sql}");
        }
        let schema = session(true)
            .sql("SELECT d.town, sum(f.fee) AS fees, count(*) AS n FROM f JOIN d ON f.code = d.code GROUP BY d.town")
            .await
            .unwrap()
            .schema()
            .as_arrow()
            .clone();
        assert_eq!(schema.field(1).data_type(), &DataType::Decimal128(20, 2));
        assert!(!schema.field(2).is_nullable(), "a count is never null");
    }

    #[tokio::test]
    async fn what_two_steps_would_change_is_left_as_written() {
        for sql in [
            "SELECT d.town, avg(f.weight) FROM f JOIN d ON f.code = d.code GROUP BY d.town ORDER BY 1",
            "SELECT d.town, sum(f.weight) FROM f JOIN d ON f.code = d.code GROUP BY d.town ORDER BY 1",
            "SELECT d.town, count(DISTINCT f.courier) FROM f JOIN d ON f.code = d.code GROUP BY d.town ORDER BY 1",
            "SELECT d.town, count(f.courier) FROM f LEFT JOIN d ON f.code = d.code GROUP BY d.town ORDER BY 1",
            "SELECT a.courier, count(*) FROM f a JOIN f b ON a.code = b.code GROUP BY a.courier ORDER BY 1",
            "SELECT d.town, count(*) FROM f JOIN d ON f.code = d.code AND f.courier <> d.town GROUP BY d.town ORDER BY 1",
            "SELECT f.at, d.town, count(*) FROM f JOIN d ON f.code = d.code GROUP BY f.at, d.town ORDER BY 1, 2",
            "SELECT date_trunc('minute', f.at), d.town, count(*) FROM f JOIN d ON f.code = d.code GROUP BY 1, 2 ORDER BY 1, 2",
        ] {
            let (with, without, rewritten) = both(sql).await;
            assert!(!rewritten, "the rule should not apply to {sql}");
            assert_eq!(with, without, "{sql}");
        }
    }
}
