//! The service layer shared by the CLI and (later) the server: one [`Platform`] per data
//! location, holding the catalog and the query service.
//!
//! Commands call methods here, never the catalog or DataFusion directly, so the CLI and
//! the HTTP API do the same thing the same way.

use std::sync::Arc;

use sannong_catalog::{Catalog, DataLocation, TableName};

use crate::error::Result;
use crate::query::{QueryLimits, QueryResult, QueryService};

/// The platform over one data location.
#[derive(Debug, Clone)]
pub struct Platform {
    catalog: Arc<Catalog>,
    query: QueryService,
}

impl Platform {
    /// Opens the data location (a path or URL) with the given query limits.
    pub async fn open(data: &str, limits: QueryLimits) -> Result<Self> {
        let location = DataLocation::parse(data)?;
        let catalog = Arc::new(Catalog::open(location).await?);
        Ok(Self::with_catalog(catalog, limits))
    }

    /// A platform over an already opened catalog.
    pub fn with_catalog(catalog: Arc<Catalog>, limits: QueryLimits) -> Self {
        Platform {
            query: QueryService::new(catalog.clone(), limits),
            catalog,
        }
    }

    /// The catalog.
    pub fn catalog(&self) -> &Arc<Catalog> {
        &self.catalog
    }

    /// The query service.
    pub fn query_service(&self) -> &QueryService {
        &self.query
    }

    /// Runs read-only SQL.
    pub async fn sql(&self, sql: &str) -> Result<QueryResult> {
        self.query.query(sql).await
    }

    /// Every table with its current version and size (`sys.tables`).
    pub async fn tables(&self) -> Result<QueryResult> {
        self.sql(
            "SELECT table_name, mode, version, \"rows\", files, bytes, last_committed_at \
             FROM sys.tables ORDER BY table_name",
        )
        .await
    }

    /// Every version of one table with the submission that produced it.
    pub async fn history(&self, table: &str) -> Result<QueryResult> {
        let name: TableName = table.parse()?;
        // Fails with "table … does not exist" rather than printing an empty history.
        self.catalog.history(&name).await?;
        self.sql(&format!(
            "SELECT version, committed_at, operation, mode, period, submission_id, duty, \
             department, uploader, file_name, \"rows\" \
             FROM sys.table_versions WHERE table_name = '{name}' ORDER BY version"
        ))
        .await
    }
}
