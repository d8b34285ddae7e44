//! The query service: read-only SQL over the platform's tables, with limits.
//!
//! Each query gets a fresh DataFusion session over the catalog (so it sees the latest
//! committed versions), with a memory pool capped at [`QueryLimits::memory_bytes`] and a
//! wall-clock limit of [`QueryLimits::timeout`], on a runtime of its own
//! ([`query_runtime`]). Statements are checked by
//! [`read_only::check_read_only`] before planning and planned with DDL, DML and
//! statements disallowed.

mod aggregate_before_join;
pub mod few_rows;
mod kept_plans;
mod naive_time;
pub mod pg_catalog;
pub mod read_only;
mod wall_clock_dates;

pub use read_only::check_read_only;

use std::sync::Arc;
use std::time::Duration;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use datafusion::catalog::CatalogProvider;
use datafusion::error::DataFusionError;
use datafusion::execution::SessionState;
use datafusion::execution::cache::cache_manager::{
    CacheManagerConfig, CachedFileMetadataEntry, DEFAULT_METADATA_CACHE_LIMIT, FileMetadataCache,
};
use datafusion::execution::cache::default_cache::DefaultCache;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::object_store::path::Path;
use datafusion::prelude::{SQLOptions, SessionConfig, SessionContext};
use sannong_catalog::sql::{
    ALL_COUNTIES_SCHEMA, AllCountiesSchema, DEFAULT_SCHEMA, KeepWhen, SQL_CATALOG, SystemTable,
    register_catalog, sql_catalog,
};
use sannong_catalog::{Catalog, TableAt};

use crate::error::{Error, Result};
use kept_plans::{KeptPlans, ReadyPlan};

/// Limits applied to every query.
#[derive(Debug, Clone, Copy)]
pub struct QueryLimits {
    /// Wall-clock limit.
    pub timeout: Duration,
    /// Memory the query's operators may reserve (joins, sorts, aggregations).
    pub memory_bytes: usize,
}

impl Default for QueryLimits {
    fn default() -> Self {
        QueryLimits {
            timeout: Duration::from_secs(60),
            memory_bytes: 2 << 30,
        }
    }
}

/// The rows of a query and their schema.
#[derive(Debug, Clone)]
pub struct QueryResult {
    /// The result schema (also when there are no rows).
    pub schema: SchemaRef,
    /// The rows.
    pub batches: Vec<RecordBatch>,
}

impl QueryResult {
    /// Number of rows.
    pub fn row_count(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }
}

/// Which runtime a service's queries execute on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryPool {
    /// The platform's own queries: uploads' cross-checks, plugins' lookups, KPIs.
    Platform,
    /// Analysts' queries, which may be as heavy as they like without holding up the
    /// platform's.
    Analysis,
}

/// Runs read-only SQL over a catalog.
#[derive(Debug, Clone)]
pub struct QueryService {
    catalog: Arc<Catalog>,
    limits: QueryLimits,
    system_tables: Vec<Arc<dyn SystemTable>>,
    pool: QueryPool,
    postgres_catalog: Option<pg_catalog::SharedPgCatalog>,
    counties: Vec<(String, QueryService)>,
    /// Plans of statements over tables kept in memory, for their next run. A builder
    /// that changes what the service's sessions see starts with none.
    kept_plans: Arc<KeptPlans>,
}

impl QueryService {
    /// A service over `catalog` with the given limits.
    pub fn new(catalog: Arc<Catalog>, limits: QueryLimits) -> Self {
        QueryService {
            catalog,
            limits,
            system_tables: Vec::new(),
            pool: QueryPool::Platform,
            postgres_catalog: None,
            counties: Vec::new(),
            kept_plans: Arc::default(),
        }
    }

    /// The same service, its sessions also carrying PostgreSQL's `pg_catalog` tables
    /// and functions, which tools connecting over the wire protocol read.
    pub fn with_postgres_catalog(mut self) -> Self {
        self.postgres_catalog = Some(pg_catalog::SharedPgCatalog::default());
        self.kept_plans = Arc::default();
        self
    }

    /// The same service, executing on `pool`.
    pub fn on(mut self, pool: QueryPool) -> Self {
        self.pool = pool;
        self
    }

    /// The same service, its sessions also carrying each county's tables (as the county's
    /// own services show them) as a SQL catalog named by the county, and all of them
    /// side by side in `all_counties` (see [`AllCountiesSchema`]).
    pub fn with_counties(mut self, counties: Vec<(String, QueryService)>) -> Self {
        self.counties = counties;
        self.kept_plans = Arc::default();
        self
    }

    /// Adds system tables beyond the catalog's own (programme, plugins, audit).
    pub fn with_system_tables(mut self, tables: Vec<Arc<dyn SystemTable>>) -> Self {
        self.system_tables.extend(tables);
        self.kept_plans = Arc::default();
        self
    }

    /// The catalog queried.
    pub fn catalog(&self) -> &Arc<Catalog> {
        &self.catalog
    }

    /// The limits in force.
    pub fn limits(&self) -> QueryLimits {
        self.limits
    }

    /// A fresh session over the current versions of all tables.
    pub async fn session(&self) -> Result<SessionContext> {
        self.session_at(TableAt::Latest).await
    }

    /// A fresh session over the tables as they were at `at` (a table created later is
    /// not found); the `sys` tables are current.
    pub async fn session_at(&self, at: TableAt) -> Result<SessionContext> {
        self.session_keeping(at, KeepWhen::ReadAgain).await
    }

    /// A fresh session over the tables as they were at `at`, whose latest versions are
    /// kept decoded in memory as `keep` says (the process's table memory permitting).
    pub async fn session_keeping(&self, at: TableAt, keep: KeepWhen) -> Result<SessionContext> {
        let runtime = RuntimeEnvBuilder::new()
            .with_memory_limit(self.limits.memory_bytes, 1.0)
            .with_cache_manager(
                CacheManagerConfig::default().with_file_metadata_cache(Some(parquet_footers())),
            )
            .build_arc()
            .map_err(|e| Error::Internal(format!("cannot set up the query runtime: {e}")))?;
        let config = SessionConfig::new()
            .with_default_catalog_and_schema(SQL_CATALOG, DEFAULT_SCHEMA)
            .with_create_default_catalog_and_schema(false)
            .with_information_schema(true);
        let ctx = SessionContext::new_with_config_rt(config, runtime);
        ctx.register_udf(naive_time::date_part());
        ctx.add_optimizer_rule(Arc::new(wall_clock_dates::WallClockDates));
        ctx.add_optimizer_rule(Arc::new(aggregate_before_join::AggregateBeforeJoin));
        let own = register_catalog(
            &ctx,
            self.catalog.clone(),
            self.system_tables.clone(),
            at,
            keep,
        )
        .await?;
        if !self.counties.is_empty() {
            // Each county's tables listed concurrently: on an object store each listing
            // is a round trip.
            let listed = futures::future::try_join_all(self.counties.iter().map(|(_, service)| {
                sql_catalog(
                    service.catalog.clone(),
                    service.system_tables.clone(),
                    at,
                    keep,
                )
            }))
            .await?;
            let mut catalogs: Vec<(String, Arc<dyn CatalogProvider>)> = Vec::new();
            for ((county, _), tables) in self.counties.iter().zip(listed) {
                ctx.register_catalog(county.as_str(), tables.clone());
                catalogs.push((county.clone(), tables));
            }
            own.register_schema(
                ALL_COUNTIES_SCHEMA,
                Arc::new(AllCountiesSchema::new(catalogs)),
            )
            .map_err(|e| Error::Internal(format!("registering all_counties: {e}")))?;
        }
        if let Some(pg_catalog) = &self.postgres_catalog {
            pg_catalog.register(&ctx)?;
        }
        Ok(ctx)
    }

    /// Runs one read-only statement and collects its rows, on the query runtime (see
    /// [`query_runtime`]); past the time limit the query is cancelled.
    pub async fn query(&self, sql: &str) -> Result<QueryResult> {
        read_only::check_read_only(sql)?;
        let seconds = self.limits.timeout.as_secs();
        let service = self.clone();
        let sql = sql.to_owned();
        let task = query_runtime(self.pool)?.spawn(async move { service.run(&sql).await });
        let abort = task.abort_handle();
        match tokio::time::timeout(self.limits.timeout, task).await {
            Ok(Ok(result)) => result,
            Ok(Err(e)) => Err(Error::Internal(format!("the query task failed: {e}"))),
            Err(_) => {
                abort.abort();
                Err(Error::Timeout { seconds })
            }
        }
    }

    /// Plans (or finds the kept plan of, see [`kept_plans`]) and runs one statement (on
    /// the query runtime).
    async fn run(&self, sql: &str) -> Result<QueryResult> {
        let ctx = self.session().await?;
        let mut state = ctx.state();
        let ready = match self.kept_plans.reuse(sql, &ctx).await {
            Some(ready) => {
                if ready.one_partition {
                    few_rows::in_one_partition(&mut state);
                }
                ready
            }
            None => self.plan(sql, &mut state).await?,
        };
        let executed = async {
            let physical = state
                .query_planner()
                .create_physical_plan(&ready.plan, &state)
                .await?;
            datafusion::physical_plan::collect(physical, state.task_ctx()).await
        };
        let batches = executed.await.map_err(|e| self.classify(e, false))?;
        Ok(QueryResult {
            schema: ready.schema,
            batches,
        })
    }

    /// Plans and optimises one read-only statement, keeping the plan if it may be used
    /// again.
    async fn plan(&self, sql: &str, state: &mut SessionState) -> Result<ReadyPlan> {
        let options = SQLOptions::new()
            .with_allow_ddl(false)
            .with_allow_dml(false)
            .with_allow_statements(false);
        let (unoptimised, one_partition) = few_rows::logical_plan(state, sql, options)
            .await
            .map_err(|e| self.classify(e, true))?;
        let ready = ReadyPlan {
            plan: state
                .optimize(&unoptimised)
                .map_err(|e| self.classify(e, false))?,
            schema: Arc::new(unoptimised.schema().as_arrow().clone()),
            one_partition,
        };
        self.kept_plans.keep(sql, &unoptimised, &ready);
        Ok(ready)
    }

    /// Turns a DataFusion error into the engine's error, keeping catalog errors whole.
    fn classify(&self, e: DataFusionError, planning: bool) -> Error {
        match e.find_root() {
            DataFusionError::ResourcesExhausted(detail) => Error::MemoryLimit {
                limit_mb: (self.limits.memory_bytes >> 20) as u64,
                detail: first_line(
                    detail
                        .split(" with top memory consumers")
                        .next()
                        .unwrap_or(detail),
                ),
            },
            DataFusionError::External(inner) if planning => {
                Error::InvalidQuery(first_line(&inner.to_string()))
            }
            DataFusionError::External(inner) => Error::Execution(first_line(&inner.to_string())),
            root if planning => Error::InvalidQuery(first_line(&strip_prefixes(&root.to_string()))),
            root => Error::Execution(first_line(&strip_prefixes(&root.to_string()))),
        }
    }
}

/// Parquet footers read by any query, kept for the next ones (up to 50 MB, least recently
/// used first out). Data files are never rewritten in place — a new version writes new
/// files — and an entry is checked against the file's size and time before use, so a
/// cached footer is always the file's own.
fn parquet_footers() -> Arc<FileMetadataCache> {
    static FOOTERS: std::sync::OnceLock<Arc<FileMetadataCache>> = std::sync::OnceLock::new();
    FOOTERS
        .get_or_init(|| {
            Arc::new(DefaultCache::<Path, CachedFileMetadataEntry>::new(
                DEFAULT_METADATA_CACHE_LIMIT,
            ))
        })
        .clone()
}

/// The runtime a pool's queries execute on, apart from the one serving requests:
/// DataFusion's operators keep their threads busy for as long as a query runs, and on
/// the serving runtime one heavy query would hold up every other request (uploads,
/// health checks, the timer that cancels it); on the platform's own pool it would hold
/// up uploads' checks.
pub fn query_runtime(pool: QueryPool) -> Result<&'static tokio::runtime::Runtime> {
    type Slot = std::sync::OnceLock<std::io::Result<tokio::runtime::Runtime>>;
    static PLATFORM: Slot = std::sync::OnceLock::new();
    static ANALYSIS: Slot = std::sync::OnceLock::new();
    let (slot, name) = match pool {
        QueryPool::Platform => (&PLATFORM, "sannong-query"),
        QueryPool::Analysis => (&ANALYSIS, "sannong-analysis"),
    };
    slot.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .thread_name(name)
            .enable_all()
            .build()
    })
    .as_ref()
    .map_err(|e| Error::Internal(format!("cannot start the query runtime: {e}")))
}

/// Whether planning failed because a table does not exist (yet): nobody has reported it.
pub fn is_missing_table(e: &DataFusionError) -> bool {
    matches!(e.find_root(), DataFusionError::Plan(message) if message.contains("not found"))
}

/// DataFusion prefixes messages with the error's origin ("Error during planning: …");
/// users need the message, not the origin.
fn strip_prefixes(message: &str) -> String {
    let mut message = message;
    for prefix in [
        "Error during planning: ",
        "Schema error: ",
        "SQL error: ",
        "This feature is not implemented: ",
        "Execution error: ",
        "Arrow error: ",
    ] {
        if let Some(rest) = message.strip_prefix(prefix) {
            message = rest;
        }
    }
    message.to_owned()
}

fn first_line(message: &str) -> String {
    sannong_catalog::one_line(message)
}
