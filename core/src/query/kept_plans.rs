//! Optimised plans of statements over tables kept in memory, kept for their next run.
//!
//! A dashboard or an analyst's tool asks the same statements again and again, and
//! parsing, analysing and optimising one costs a millisecond or more — more than running
//! it over a table kept decoded in memory. So the optimised plan of a statement is kept,
//! by its text, when:
//!
//! - every table it scans is a version kept decoded in memory (see
//!   [`sannong_catalog::sql::DecodedTable`]), and
//! - it calls no function whose answer depends on when it runs (`now()`,
//!   `current_date`, `random()`: those are folded into the plan) and has no parameters.
//!
//! A kept plan is used again only while each table it scans still resolves, in the new
//! session, to the very table it was planned over (the same decoded version, by
//! identity): after a commit, or once the version has left memory, the statement is
//! planned afresh and its new plan kept. Kept plans hold no data: their scans are unbound
//! while kept and bound to the session's tables at each run, so a kept plan never keeps
//! a table version in memory.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::TableProvider;
use datafusion::common::TableReference;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::datasource::{provider_as_source, source_as_provider};
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{Expr, LogicalPlan, TableSource, Volatility};
use datafusion::prelude::SessionContext;
use sannong_catalog::sql::DecodedTable;

/// Statements kept at most; past that the least recently used goes.
const KEPT_PLANS: usize = 64;

/// A statement's optimised plan, ready to run.
#[derive(Debug, Clone)]
pub struct ReadyPlan {
    /// The optimised plan, its scans bound to the session's tables.
    pub plan: LogicalPlan,
    /// The statement's result schema.
    pub schema: SchemaRef,
    /// Whether it runs in one partition (see [`super::few_rows`]).
    pub one_partition: bool,
}

/// The plans a query service keeps, by statement text.
#[derive(Debug, Default)]
pub struct KeptPlans {
    plans: Mutex<Plans>,
}

#[derive(Debug, Default)]
struct Plans {
    by_statement: HashMap<String, Kept>,
    /// Counts uses, to find the least recently used plan.
    clock: u64,
}

#[derive(Debug)]
struct Kept {
    /// The plan, its scans unbound.
    unbound: ReadyPlan,
    /// Each table scanned, and the decoded version the plan was made over (held weakly:
    /// only its identity is compared).
    tables: Vec<(TableReference, Weak<dyn TableProvider>)>,
    last_used: u64,
}

impl KeptPlans {
    /// The kept plan of `sql`, bound to `ctx`'s tables, if every table it scans is still
    /// the version it was made over.
    pub async fn reuse(&self, sql: &str, ctx: &SessionContext) -> Option<ReadyPlan> {
        let (unbound, tables) = {
            let mut plans = self.plans.lock().ok()?;
            plans.clock += 1;
            let now = plans.clock;
            let kept = plans.by_statement.get_mut(sql)?;
            kept.last_used = now;
            (kept.unbound.clone(), kept.tables.clone())
        };
        let mut current = HashMap::with_capacity(tables.len());
        for (name, planned_over) in tables {
            let table = ctx.table_provider(name.clone()).await.ok()?;
            if !std::ptr::addr_eq(Arc::as_ptr(&table), planned_over.as_ptr()) {
                return None;
            }
            current.insert(name, table);
        }
        Some(ReadyPlan {
            plan: bind_scans(unbound.plan, |name, _| {
                current
                    .get(name)
                    .map(|table| provider_as_source(table.clone()))
            })
            .ok()?,
            ..unbound
        })
    }

    /// Keeps `ready` as the plan of `sql`, made from `unoptimised`, if it may be used
    /// again (see the module's header).
    pub fn keep(&self, sql: &str, unoptimised: &LogicalPlan, ready: &ReadyPlan) {
        if !may_be_kept(unoptimised) {
            return;
        }
        let Some(tables) = decoded_tables(&ready.plan) else {
            return;
        };
        let Ok(plan) = bind_scans(ready.plan.clone(), |_, source| {
            Some(Arc::new(Unbound(source.schema())) as Arc<dyn TableSource>)
        }) else {
            return;
        };
        let Ok(mut plans) = self.plans.lock() else {
            return;
        };
        if plans.by_statement.len() >= KEPT_PLANS && !plans.by_statement.contains_key(sql) {
            let oldest = plans
                .by_statement
                .iter()
                .min_by_key(|(_, kept)| kept.last_used)
                .map(|(statement, _)| statement.clone());
            if let Some(oldest) = oldest {
                plans.by_statement.remove(&oldest);
            }
        }
        let last_used = plans.clock;
        plans.by_statement.insert(
            sql.to_owned(),
            Kept {
                unbound: ReadyPlan {
                    plan,
                    ..ready.clone()
                },
                tables,
                last_used,
            },
        );
    }

    /// How many plans are kept.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.plans.lock().map_or(0, |p| p.by_statement.len())
    }
}

/// Whether a plan's answer depends only on its tables: no parameters, no EXPLAIN, no
/// function that is not immutable.
fn may_be_kept(plan: &LogicalPlan) -> bool {
    if matches!(plan, LogicalPlan::Explain(_) | LogicalPlan::Analyze(_)) {
        return false;
    }
    let mut keep = true;
    let visited = plan.apply_with_subqueries(|node| {
        node.apply_expressions(|expr| {
            expr.apply(|e| {
                let volatility = match e {
                    Expr::ScalarFunction(f) => Some(f.func.signature().volatility),
                    Expr::AggregateFunction(f) => Some(f.func.signature().volatility),
                    Expr::Placeholder(_) => Some(Volatility::Volatile),
                    _ => None,
                };
                if volatility.is_some_and(|v| v != Volatility::Immutable) {
                    keep = false;
                    return Ok(TreeNodeRecursion::Stop);
                }
                Ok(TreeNodeRecursion::Continue)
            })
        })
    });
    visited.is_ok() && keep
}

/// The tables `plan` scans, each once, if all are decoded versions kept in memory.
fn decoded_tables(plan: &LogicalPlan) -> Option<Vec<(TableReference, Weak<dyn TableProvider>)>> {
    let mut tables: Vec<(TableReference, Weak<dyn TableProvider>)> = Vec::new();
    let mut all_decoded = true;
    let visited = plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node {
            match source_as_provider(&scan.source) {
                Ok(table) if table.is::<DecodedTable>() => {
                    if !tables.iter().any(|(name, _)| *name == scan.table_name) {
                        tables.push((scan.table_name.clone(), Arc::downgrade(&table)));
                    }
                }
                _ => {
                    all_decoded = false;
                    return Ok(TreeNodeRecursion::Stop);
                }
            }
        }
        Ok(TreeNodeRecursion::Continue)
    });
    (visited.is_ok() && all_decoded).then_some(tables)
}

/// `plan` with each scan's source replaced by `source(name, current source)`; an error
/// if that gives none.
fn bind_scans(
    plan: LogicalPlan,
    source: impl Fn(&TableReference, &Arc<dyn TableSource>) -> Option<Arc<dyn TableSource>>,
) -> Result<LogicalPlan> {
    plan.transform_up_with_subqueries(|node| match node {
        LogicalPlan::TableScan(mut scan) => {
            scan.source = source(&scan.table_name, &scan.source).ok_or_else(|| {
                DataFusionError::Plan(format!("table {} is not bound", scan.table_name))
            })?;
            Ok(Transformed::yes(LogicalPlan::TableScan(scan)))
        }
        other => Ok(Transformed::no(other)),
    })
    .map(|transformed| transformed.data)
}

/// A scan's source while its plan is kept: only the schema, no data. Planning a scan
/// of it fails, so an unbound plan can never run.
struct Unbound(SchemaRef);

impl TableSource for Unbound {
    fn schema(&self) -> SchemaRef {
        self.0.clone()
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{Int64Array, RecordBatch};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::datasource::MemTable;

    use super::*;

    fn batch(values: Vec<i64>) -> (SchemaRef, RecordBatch) {
        let schema = Arc::new(Schema::new(vec![Field::new("v", DataType::Int64, false)]));
        let batch =
            RecordBatch::try_new(schema.clone(), vec![Arc::new(Int64Array::from(values))]).unwrap();
        (schema, batch)
    }

    fn decoded(values: Vec<i64>) -> Arc<DecodedTable> {
        let (schema, batch) = batch(values);
        Arc::new(DecodedTable::new(schema, vec![batch]))
    }

    fn session(t: Arc<dyn TableProvider>) -> SessionContext {
        let ctx = SessionContext::new();
        ctx.register_table("t", t).unwrap();
        ctx
    }

    /// Plans `sql` in `ctx` as the query service does, keeping the plan if it may be.
    async fn plan_and_keep(kept: &KeptPlans, ctx: &SessionContext, sql: &str) -> ReadyPlan {
        let state = ctx.state();
        let unoptimised = state.create_logical_plan(sql).await.unwrap();
        let ready = ReadyPlan {
            plan: state.optimize(&unoptimised).unwrap(),
            schema: Arc::new(unoptimised.schema().as_arrow().clone()),
            one_partition: false,
        };
        kept.keep(sql, &unoptimised, &ready);
        ready
    }

    async fn run(ctx: &SessionContext, ready: ReadyPlan) -> Vec<i64> {
        let state = ctx.state();
        let physical = state
            .query_planner()
            .create_physical_plan(&ready.plan, &state)
            .await
            .unwrap();
        let batches = datafusion::physical_plan::collect(physical, state.task_ctx())
            .await
            .unwrap();
        batches
            .iter()
            .flat_map(|b| {
                b.column(0)
                    .as_any()
                    .downcast_ref::<Int64Array>()
                    .unwrap()
                    .values()
                    .to_vec()
            })
            .collect()
    }

    const SUM: &str = "SELECT sum(v) FROM t WHERE v > 1";

    #[tokio::test]
    async fn a_plan_is_used_again_over_the_same_decoded_version_only() {
        let kept = KeptPlans::default();
        let version_1 = decoded(vec![1, 2, 3]);
        let ctx = session(version_1.clone());
        let first = plan_and_keep(&kept, &ctx, SUM).await;
        assert_eq!(run(&ctx, first).await, vec![5]);
        assert_eq!(kept.len(), 1);

        // A new session over the same version: the kept plan, bound to it, runs.
        let again = session(version_1.clone());
        let reused = kept.reuse(SUM, &again).await.expect("the plan is reused");
        assert_eq!(run(&again, reused).await, vec![5]);
        assert!(kept.reuse("SELECT count(*) FROM t", &again).await.is_none());

        // A new version of the table (same rows even): planned afresh.
        let version_2 = decoded(vec![1, 2, 3, 10]);
        let after_commit = session(version_2.clone());
        assert!(kept.reuse(SUM, &after_commit).await.is_none());
        let replanned = plan_and_keep(&kept, &after_commit, SUM).await;
        assert_eq!(run(&after_commit, replanned).await, vec![15]);
        assert_eq!(kept.len(), 1, "the statement's plan was replaced");
        let reused = kept.reuse(SUM, &session(version_2)).await.unwrap();
        assert_eq!(run(&after_commit, reused).await, vec![15]);
    }

    #[tokio::test]
    async fn a_kept_plan_holds_no_table() {
        let kept = KeptPlans::default();
        let table = decoded(vec![4, 5]);
        let ctx = session(table.clone());
        plan_and_keep(&kept, &ctx, SUM).await;
        drop(ctx);
        assert_eq!(
            Arc::strong_count(&table),
            1,
            "only the test holds the table"
        );
    }

    #[tokio::test]
    async fn plans_that_depend_on_the_moment_or_on_files_are_not_kept() {
        let kept = KeptPlans::default();
        let ctx = session(decoded(vec![1, 2]));
        for sql in [
            "SELECT sum(v) FROM t WHERE now() > TIMESTAMP '2020-01-01 00:00:00'",
            "SELECT v FROM t WHERE random() < 2",
            "SELECT CAST(current_date AS VARCHAR) FROM t",
            "EXPLAIN SELECT v FROM t",
        ] {
            plan_and_keep(&kept, &ctx, sql).await;
            assert_eq!(kept.len(), 0, "{sql} was kept");
        }
        let (schema, batch) = batch(vec![1, 2]);
        let files_like = session(Arc::new(
            MemTable::try_new(schema, vec![vec![batch]]).unwrap(),
        ));
        plan_and_keep(&kept, &files_like, SUM).await;
        assert_eq!(
            kept.len(),
            0,
            "a table not kept in memory is planned at each run"
        );
    }

    #[tokio::test]
    async fn an_unbound_plan_cannot_run() {
        let kept = KeptPlans::default();
        let ctx = session(decoded(vec![1]));
        plan_and_keep(&kept, &ctx, SUM).await;
        let unbound = kept
            .plans
            .lock()
            .unwrap()
            .by_statement
            .get(SUM)
            .unwrap()
            .unbound
            .plan
            .clone();
        let state = ctx.state();
        assert!(
            state
                .query_planner()
                .create_physical_plan(&unbound, &state)
                .await
                .is_err()
        );
    }
}
