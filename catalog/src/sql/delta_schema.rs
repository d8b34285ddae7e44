//! A SQL schema whose tables are Delta tables of the catalog, loaded on first use.
//!
//! The first reference to a table in a session loads its version (the latest — the one
//! listed when the session opened, so its log is not listed again — or the one current
//! at a moment, for reproducing an earlier state) and builds its provider — the latest
//! version's decoded arrays kept in memory when they fit ([`in_memory`]), otherwise
//! deltalake's provider over its files; later references in the same session reuse it, so one query never
//! mixes two versions of a table. A table that did not exist yet at that moment is
//! not found.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use datafusion::catalog::{SchemaProvider, TableProvider};
use datafusion::error::{DataFusionError, Result};
use deltalake::DeltaTable;

use super::{in_memory, to_datafusion};
use crate::error::CatalogError;
use crate::table_name::TableName;
use crate::tables::{Catalog, TableAt};

/// One domain schema (e.g. `logistics`) of the catalog.
#[derive(Debug)]
pub struct DeltaSchemaProvider {
    catalog: Arc<Catalog>,
    schema: String,
    /// Each table's name and its latest version when listed.
    tables: Vec<(String, u64)>,
    at: TableAt,
    loaded: Mutex<HashMap<String, Arc<dyn TableProvider>>>,
}

impl DeltaSchemaProvider {
    /// A schema with the given tables and their latest versions (as listed from storage),
    /// read at `at`.
    pub fn new(
        catalog: Arc<Catalog>,
        schema: &str,
        tables: Vec<(String, u64)>,
        at: TableAt,
    ) -> Self {
        DeltaSchemaProvider {
            catalog,
            schema: schema.to_owned(),
            tables,
            at,
            loaded: Mutex::new(HashMap::new()),
        }
    }
}

/// Loads a table at a version and wraps it as a DataFusion table provider.
pub(crate) async fn delta_provider(
    catalog: &Catalog,
    name: &TableName,
    at: TableAt,
) -> Result<Arc<dyn TableProvider>> {
    let table = catalog.load(name, at).await.map_err(to_datafusion)?;
    files_provider(name, table).await
}

/// deltalake's provider, which reads the table's Parquet files at each scan.
pub(crate) async fn files_provider(
    name: &TableName,
    table: DeltaTable,
) -> Result<Arc<dyn TableProvider>> {
    table
        .table_provider()
        .await
        .map_err(|e| DataFusionError::Execution(format!("cannot read {name}: {e}")))
}

#[async_trait]
impl SchemaProvider for DeltaSchemaProvider {
    fn table_names(&self) -> Vec<String> {
        self.tables.iter().map(|(name, _)| name.clone()).collect()
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        let Some(&(_, listed)) = self.tables.iter().find(|(table, _)| table == name) else {
            return Ok(None);
        };
        if let Some(hit) = self.loaded.lock().ok().and_then(|l| l.get(name).cloned()) {
            return Ok(Some(hit));
        }
        let table_name = TableName::new(&self.schema, name).map_err(to_datafusion)?;
        let provider = match self.at {
            TableAt::Latest => in_memory::provider(&self.catalog, &table_name, listed).await?,
            // An earlier state (`at` a version or a moment) is read from its files.
            at => match self.catalog.load(&table_name, at).await {
                Ok(table) => files_provider(&table_name, table).await?,
                Err(CatalogError::VersionNotFound { .. }) if matches!(at, TableAt::Time(_)) => {
                    return Ok(None);
                }
                Err(e) => return Err(to_datafusion(e)),
            },
        };
        if let Ok(mut loaded) = self.loaded.lock() {
            let provider = loaded.entry(name.to_owned()).or_insert(provider).clone();
            return Ok(Some(provider));
        }
        Ok(Some(provider))
    }

    fn table_exist(&self, name: &str) -> bool {
        self.tables.iter().any(|(table, _)| table == name)
    }
}
