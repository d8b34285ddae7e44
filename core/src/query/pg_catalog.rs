//! PostgreSQL's `pg_catalog` in the query sessions, for tools connecting over the wire
//! protocol (`\dt`, `\d`, DBeaver's and Metabase's catalog queries).
//!
//! Tools look a table up in one query and read its columns by object id in the next,
//! each in a fresh session; datafusion-pg-catalog hands out object ids as it meets
//! tables, so one `pg_catalog` schema is kept per query service and shared by all its
//! sessions, its ids stable for the life of the server. Its view of the tables is the
//! latest session's.

use std::sync::{Arc, OnceLock, RwLock};

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::CatalogProviderList;
use datafusion::datasource::TableType;
use datafusion::error::DataFusionError;
use datafusion::prelude::SessionContext;
use datafusion_postgres::datafusion_pg_catalog::pg_catalog::catalog_info::CatalogInfo;
use datafusion_postgres::datafusion_pg_catalog::pg_catalog::context::EmptyContextProvider;
use datafusion_postgres::datafusion_pg_catalog::pg_catalog::{
    PgCatalogSchemaProvider, PgCatalogStaticTables,
};
use datafusion_postgres::datafusion_pg_catalog::setup_pg_catalog;
use sannong_catalog::sql::SQL_CATALOG;

use crate::error::{Error, Result};

/// One `pg_catalog` shared by a service's sessions, made when the first is.
#[derive(Debug, Clone, Default)]
pub struct SharedPgCatalog(Arc<OnceLock<std::result::Result<PgCatalog, String>>>);

type PgCatalog = (
    LatestTables,
    Arc<PgCatalogSchemaProvider<LatestTables, EmptyContextProvider>>,
);

impl SharedPgCatalog {
    /// Adds `pg_catalog` and PostgreSQL's functions to `ctx`, showing its tables.
    pub fn register(&self, ctx: &SessionContext) -> Result<()> {
        let (tables, schema) = self
            .0
            .get_or_init(|| {
                let tables = LatestTables::default();
                let statics = PgCatalogStaticTables::try_new().map_err(|e| e.to_string())?;
                let schema = PgCatalogSchemaProvider::try_new(
                    tables.clone(),
                    Arc::new(statics),
                    EmptyContextProvider,
                )
                .map_err(|e| e.to_string())?;
                Ok((tables, Arc::new(schema)))
            })
            .as_ref()
            .map_err(|e| Error::Internal(format!("cannot set up pg_catalog: {e}")))?;
        setup_pg_catalog(ctx, SQL_CATALOG, EmptyContextProvider).map_err(|e| fail(*e))?;
        if let Ok(mut latest) = tables.0.write() {
            *latest = Some(ctx.state().catalog_list().clone());
        }
        ctx.catalog(SQL_CATALOG)
            .ok_or_else(|| Error::Internal(format!("no catalog {SQL_CATALOG}")))?
            .register_schema("pg_catalog", schema.clone())
            .map_err(fail)?;
        Ok(())
    }
}

fn fail(e: DataFusionError) -> Error {
    Error::Internal(format!("cannot set up pg_catalog: {e}"))
}

/// The tables of the latest session registered.
#[derive(Debug, Clone, Default)]
struct LatestTables(Arc<RwLock<Option<Arc<dyn CatalogProviderList>>>>);

impl LatestTables {
    fn list(&self) -> Option<Arc<dyn CatalogProviderList>> {
        self.0.read().ok().and_then(|l| l.clone())
    }
}

#[async_trait]
impl CatalogInfo for LatestTables {
    async fn catalog_names(&self) -> Result<Vec<String>, DataFusionError> {
        match self.list() {
            Some(list) => CatalogInfo::catalog_names(&list).await,
            None => Ok(Vec::new()),
        }
    }

    async fn schema_names(&self, catalog: &str) -> Result<Option<Vec<String>>, DataFusionError> {
        match self.list() {
            Some(list) => CatalogInfo::schema_names(&list, catalog).await,
            None => Ok(None),
        }
    }

    async fn table_names(
        &self,
        catalog: &str,
        schema: &str,
    ) -> Result<Option<Vec<String>>, DataFusionError> {
        match self.list() {
            Some(list) => CatalogInfo::table_names(&list, catalog, schema).await,
            None => Ok(None),
        }
    }

    async fn table_schema(
        &self,
        catalog: &str,
        schema: &str,
        table: &str,
    ) -> Result<Option<SchemaRef>, DataFusionError> {
        match self.list() {
            Some(list) => CatalogInfo::table_schema(&list, catalog, schema, table).await,
            None => Ok(None),
        }
    }

    async fn table_type(
        &self,
        catalog: &str,
        schema: &str,
        table: &str,
    ) -> Result<Option<TableType>, DataFusionError> {
        match self.list() {
            Some(list) => CatalogInfo::table_type(&list, catalog, schema, table).await,
            None => Ok(None),
        }
    }
}
