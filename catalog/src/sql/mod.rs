//! The catalog as DataFusion sees it: one SQL catalog `sannong` with a schema per domain.
//!
//! [`register_catalog`] installs into a `SessionContext`:
//! - every Delta table as `schema.table` (loaded lazily on first reference, then pinned
//!   for the session so a query sees one version of each table);
//! - the `sys` schema of [`SystemTable`]s derived from the catalog ([`system`]) plus any
//!   that other crates add (programme definitions, plugins, audit log);
//! - the table function `table_at('schema.table', version | 'YYYY-MM-DD HH:MM:SS')` for
//!   time travel ([`time_travel`]).

mod all_counties;
mod decoded_table;
mod delta_schema;
mod in_memory;
mod parquet_files;
mod period_filter;
pub mod system;
mod time_travel;

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, FixedOffset, NaiveDateTime, TimeZone, Utc};
use datafusion::catalog::{CatalogProvider, MemoryCatalogProvider, MemorySchemaProvider};
use datafusion::error::DataFusionError;
use datafusion::prelude::SessionContext;

pub use all_counties::{ALL_COUNTIES_SCHEMA, AllCountiesSchema, COUNTY_COLUMN};
pub use decoded_table::DecodedTable;
pub use delta_schema::DeltaSchemaProvider;
pub use in_memory::{
    DEFAULT_TABLE_MEMORY_BYTES, KeepWhen, TableMemoryUse, set_table_memory_budget, table_memory_use,
};
pub use system::{SystemSchemaProvider, SystemTable};
pub use time_travel::{TableAtFunction, parse_time};

use crate::error::{CatalogError, Result};
use crate::tables::{Catalog, TableAt};

/// Name of the SQL catalog holding the platform's schemas.
pub const SQL_CATALOG: &str = "sannong";
/// Schema for unqualified names; holds no tables.
pub const DEFAULT_SCHEMA: &str = "public";
/// Schema of the system tables.
pub const SYSTEM_SCHEMA: &str = "sys";

/// Registers the platform's tables (read at `at`: the latest versions, or those current
/// at a moment; the latest kept decoded in memory as `keep` says), the `sys` schema (the
/// catalog's own system tables plus `extra_system_tables`) and `table_at` into `ctx`,
/// whose default catalog must be [`SQL_CATALOG`]. Returns the SQL catalog registered.
pub async fn register_catalog(
    ctx: &SessionContext,
    catalog: Arc<Catalog>,
    extra_system_tables: Vec<Arc<dyn SystemTable>>,
    at: TableAt,
    keep: KeepWhen,
) -> Result<Arc<MemoryCatalogProvider>> {
    let sql_catalog = sql_catalog(catalog.clone(), extra_system_tables, at, keep).await?;
    ctx.register_catalog(SQL_CATALOG, sql_catalog.clone());
    ctx.register_udtf("table_at", Arc::new(TableAtFunction::new(catalog)));
    Ok(sql_catalog)
}

/// The catalog's tables and `sys` schema as one SQL catalog (see [`register_catalog`]).
pub async fn sql_catalog(
    catalog: Arc<Catalog>,
    extra_system_tables: Vec<Arc<dyn SystemTable>>,
    at: TableAt,
    keep: KeepWhen,
) -> Result<Arc<MemoryCatalogProvider>> {
    let sql_catalog = Arc::new(MemoryCatalogProvider::new());
    let mut by_schema: BTreeMap<String, Vec<(String, u64)>> = BTreeMap::new();
    for (name, version) in catalog.latest_versions().await? {
        by_schema
            .entry(name.schema().to_owned())
            .or_default()
            .push((name.table().to_owned(), version));
    }
    let register = |name: &str, schema: Arc<dyn datafusion::catalog::SchemaProvider>| {
        sql_catalog
            .register_schema(name, schema)
            .map(|_| ())
            .map_err(|e| CatalogError::Internal(format!("registering schema {name}: {e}")))
    };
    register(DEFAULT_SCHEMA, Arc::new(MemorySchemaProvider::new()))?;
    for (schema, tables) in by_schema {
        let provider = DeltaSchemaProvider::new(catalog.clone(), &schema, tables, at, keep);
        register(&schema, Arc::new(provider))?;
    }
    let mut system_tables = system::catalog_system_tables(catalog);
    system_tables.extend(extra_system_tables);
    register(
        SYSTEM_SCHEMA,
        Arc::new(SystemSchemaProvider::new(system_tables)),
    )?;
    Ok(sql_catalog)
}

/// Beijing time (UTC+8): the programme's data and the times shown to users are local.
pub fn beijing() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset")
}

/// A UTC instant as Beijing wall-clock time (how `Timestamp(second)` columns store it).
pub fn to_beijing(at: DateTime<Utc>) -> NaiveDateTime {
    at.with_timezone(&beijing()).naive_local()
}

/// A Beijing wall-clock time as a UTC instant.
pub fn from_beijing(local: NaiveDateTime) -> DateTime<Utc> {
    match beijing().from_local_datetime(&local).single() {
        Some(t) => t.with_timezone(&Utc),
        None => local.and_utc(),
    }
}

/// Wraps a catalog error for DataFusion, keeping its message.
pub(crate) fn to_datafusion(e: CatalogError) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}
