//! Statements that read few rows are planned for one partition.
//!
//! Spreading a few thousand rows over every core costs more than it saves: the planner
//! adds repartitions, merges and a second aggregation step, each a plan node to optimise
//! and a task to run, for work that takes microseconds on one core. A statement whose
//! tables together hold at most [`FEW_ROWS`] rows, by their own statistics, runs in one
//! partition; any table that does not count its rows keeps the session's partitions.

use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::dataframe::DataFrame;
use datafusion::datasource::source_as_provider;
use datafusion::error::Result;
use datafusion::execution::SessionState;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::{SQLOptions, SessionContext};
use sannong_catalog::sql::DecodedTable;

/// Up to this many rows read in all (every scan of every table counted), a statement
/// runs in one partition.
pub const FEW_ROWS: usize = 1 << 16;

/// Plans `sql` as `options` allow; a query reading at most [`FEW_ROWS`] rows is planned
/// for one partition. Statements other than queries go through the session as usual.
pub async fn plan_sql(ctx: &SessionContext, sql: &str, options: SQLOptions) -> Result<DataFrame> {
    let mut state = ctx.state();
    let (plan, _) = logical_plan(&mut state, sql, options).await?;
    if matches!(plan, LogicalPlan::Ddl(_) | LogicalPlan::Statement(_)) {
        return ctx.execute_logical_plan(plan).await;
    }
    Ok(DataFrame::new(state, plan))
}

/// The unoptimised plan of `sql` as `options` allow, and whether it reads at most
/// [`FEW_ROWS`] rows — in which case `state` is set to plan it for one partition.
pub async fn logical_plan(
    state: &mut SessionState,
    sql: &str,
    options: SQLOptions,
) -> Result<(LogicalPlan, bool)> {
    let plan = state.create_logical_plan(sql).await?;
    options.verify_plan(&plan)?;
    let few = rows_read(&plan).is_some_and(|rows| rows <= FEW_ROWS);
    if few {
        in_one_partition(state);
    }
    Ok((plan, few))
}

/// Sets `state` to plan and run in one partition.
pub fn in_one_partition(state: &mut SessionState) {
    state.config_mut().options_mut().execution.target_partitions = 1;
}

/// The rows of every table `plan` scans (subqueries included), summed; `None` when a
/// table does not count them.
fn rows_read(plan: &LogicalPlan) -> Option<usize> {
    let mut total = Some(0usize);
    let visited = plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node {
            let rows = source_as_provider(&scan.source).ok().and_then(|table| {
                match table.downcast_ref::<DecodedTable>() {
                    // Counted without the distinct values its statistics estimate.
                    Some(decoded) => Some(decoded.num_rows()),
                    None => table.statistics()?.num_rows.get_value().copied(),
                }
            });
            total = total.zip(rows).map(|(sum, rows)| sum.saturating_add(rows));
            if total.is_none() {
                return Ok(TreeNodeRecursion::Stop);
            }
        }
        Ok(TreeNodeRecursion::Continue)
    });
    visited.ok().and(total)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{Int64Array, RecordBatch};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::physical_plan::displayable;

    use super::*;

    /// A session with target_partitions 4 and a decoded table `t` of `rows` rows in
    /// four batches.
    fn session_with_rows(rows: usize) -> SessionContext {
        let ctx = SessionContext::new_with_config(
            datafusion::prelude::SessionConfig::new().with_target_partitions(4),
        );
        let schema = Arc::new(Schema::new(vec![
            Field::new("k", DataType::Int64, false),
            Field::new("v", DataType::Int64, false),
        ]));
        let quarter = (rows / 4) as i64;
        let batches: Vec<RecordBatch> = (0..4)
            .map(|b| {
                let values: Vec<i64> = (b * quarter..(b + 1) * quarter).collect();
                RecordBatch::try_new(
                    schema.clone(),
                    vec![
                        Arc::new(Int64Array::from_iter_values(values.iter().map(|v| v % 7))),
                        Arc::new(Int64Array::from(values)),
                    ],
                )
                .unwrap()
            })
            .collect();
        ctx.register_table("t", Arc::new(DecodedTable::new(schema, batches)))
            .unwrap();
        ctx
    }

    const SQL: &str = "SELECT a.k, sum(a.v) AS s FROM t a JOIN (SELECT k FROM t WHERE v < 100) b \
                       ON a.k = b.k GROUP BY a.k ORDER BY a.k";

    async fn plan_and_rows(ctx: &SessionContext) -> (String, Vec<RecordBatch>) {
        let frame = plan_sql(ctx, SQL, SQLOptions::new()).await.unwrap();
        let plan = frame.clone().create_physical_plan().await.unwrap();
        let text = displayable(plan.as_ref()).indent(false).to_string();
        (text, frame.collect().await.unwrap())
    }

    #[tokio::test]
    async fn a_small_query_runs_in_one_partition_and_gives_the_same_rows() {
        let ctx = session_with_rows(4_000);
        assert_eq!(
            rows_read(&ctx.state().create_logical_plan(SQL).await.unwrap()),
            Some(8_000),
            "both scans of t are counted"
        );
        let (plan, rows) = plan_and_rows(&ctx).await;
        assert!(!plan.contains("RepartitionExec"), "{plan}");
        let spread = ctx.sql(SQL).await.unwrap();
        let spread_plan = spread.clone().create_physical_plan().await.unwrap();
        assert!(
            displayable(spread_plan.as_ref())
                .indent(false)
                .to_string()
                .contains("RepartitionExec"),
            "the session's own plan spreads the rows"
        );
        assert_eq!(
            datafusion::arrow::util::pretty::pretty_format_batches(&rows)
                .unwrap()
                .to_string(),
            datafusion::arrow::util::pretty::pretty_format_batches(
                &spread.collect().await.unwrap()
            )
            .unwrap()
            .to_string()
        );
    }

    #[tokio::test]
    async fn a_query_over_many_rows_keeps_the_sessions_partitions() {
        let ctx = session_with_rows(2 * FEW_ROWS);
        let (plan, _) = plan_and_rows(&ctx).await;
        assert!(plan.contains("RepartitionExec"), "{plan}");
    }

    #[tokio::test]
    async fn statements_are_left_to_the_session() {
        let ctx = session_with_rows(8);
        plan_sql(
            &ctx,
            "SET datafusion.execution.target_partitions = 3",
            SQLOptions::new(),
        )
        .await
        .unwrap();
        assert_eq!(ctx.state().config().target_partitions(), 3);
        let refused = plan_sql(
            &ctx,
            "CREATE TABLE u AS SELECT 1",
            SQLOptions::new().with_allow_ddl(false),
        )
        .await;
        assert!(refused.is_err());
    }
}
