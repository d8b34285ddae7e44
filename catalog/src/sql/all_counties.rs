//! `all_counties`: every county's tables side by side, for provincial analysts.
//!
//! In a deployment of several counties each county's tables are a SQL catalog named by
//! the county (`xinfeng.logistics.parcels`); the schema `all_counties` of the default
//! catalog holds, for every `schema.table` any county has, the table
//! `all_counties.<schema>_<table>`: the rows of every county that has it, with a first
//! column `county` (the county id). `sys` tables are included, so
//! `all_counties.sys_kpis` is every county's scorecard. Counties whose table has other
//! columns than the first county's are refused with both named.

use std::collections::BTreeSet;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use async_trait::async_trait;
use datafusion::catalog::{CatalogProvider, SchemaProvider, Session, TableProvider};
use datafusion::datasource::TableType;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::{Column, Literal};
use datafusion::physical_expr::projection::ProjectionExpr;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::union::UnionExec;
use datafusion::scalar::ScalarValue;

use super::DEFAULT_SCHEMA;

/// The schema's name.
pub const ALL_COUNTIES_SCHEMA: &str = "all_counties";
/// The column naming each row's county.
pub const COUNTY_COLUMN: &str = "county";

/// The `all_counties` schema over the counties' SQL catalogs.
#[derive(Debug)]
pub struct AllCountiesSchema {
    counties: Vec<(String, Arc<dyn CatalogProvider>)>,
}

impl AllCountiesSchema {
    /// Over `(county id, its SQL catalog)`.
    pub fn new(counties: Vec<(String, Arc<dyn CatalogProvider>)>) -> Self {
        AllCountiesSchema { counties }
    }

    /// The county's schema and table behind `<schema>_<table>`, if it has it.
    fn part(
        catalog: &Arc<dyn CatalogProvider>,
        name: &str,
    ) -> Option<(Arc<dyn SchemaProvider>, String)> {
        domain_schemas(catalog).find_map(|(schema, provider)| {
            let table = name.strip_prefix(&format!("{schema}_"))?;
            provider
                .table_exist(table)
                .then(|| (provider, table.to_owned()))
        })
    }
}

/// A county's schemas holding tables (not the empty default one), with their names.
fn domain_schemas(
    catalog: &Arc<dyn CatalogProvider>,
) -> impl Iterator<Item = (String, Arc<dyn SchemaProvider>)> + '_ {
    catalog
        .schema_names()
        .into_iter()
        .filter(|schema| schema != DEFAULT_SCHEMA)
        .filter_map(|schema| catalog.schema(&schema).map(|provider| (schema, provider)))
}

#[async_trait]
impl SchemaProvider for AllCountiesSchema {
    fn table_names(&self) -> Vec<String> {
        let names: BTreeSet<String> = self
            .counties
            .iter()
            .flat_map(|(_, catalog)| domain_schemas(catalog))
            .flat_map(|(schema, provider)| {
                provider
                    .table_names()
                    .into_iter()
                    .map(move |table| format!("{schema}_{table}"))
            })
            .collect();
        names.into_iter().collect()
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        let mut parts = Vec::new();
        for (county, catalog) in &self.counties {
            let Some((schema, table)) = Self::part(catalog, name) else {
                continue;
            };
            if let Some(provider) = schema.table(&table).await? {
                parts.push((county.clone(), provider));
            }
        }
        if parts.is_empty() {
            return Ok(None);
        }
        Ok(Some(Arc::new(CountiesTable::try_new(name, parts)?)))
    }

    fn table_exist(&self, name: &str) -> bool {
        self.counties
            .iter()
            .any(|(_, catalog)| Self::part(catalog, name).is_some())
    }
}

/// One table of `all_counties`: the union of the counties' tables with their id first.
#[derive(Debug)]
struct CountiesTable {
    schema: SchemaRef,
    parts: Vec<(String, Arc<dyn TableProvider>)>,
}

impl CountiesTable {
    fn try_new(name: &str, parts: Vec<(String, Arc<dyn TableProvider>)>) -> Result<Self> {
        let (first_county, first) = &parts[0];
        let columns = |schema: &SchemaRef| {
            schema
                .fields()
                .iter()
                .map(|f| format!("{} {}", f.name(), f.data_type()))
                .collect::<Vec<_>>()
        };
        let expected = columns(&first.schema());
        for (county, part) in &parts[1..] {
            let found = columns(&part.schema());
            if found != expected {
                return Err(DataFusionError::Plan(format!(
                    "all_counties.{name}: county {county}'s table has the columns ({}) but county {first_county}'s has ({}); query each county's catalog instead, e.g. {county}.…",
                    found.join(", "),
                    expected.join(", ")
                )));
            }
        }
        let mut fields = vec![Arc::new(Field::new(COUNTY_COLUMN, DataType::Utf8, false))];
        for (i, field) in first.schema().fields().iter().enumerate() {
            let nullable = parts.iter().any(|(_, p)| p.schema().field(i).is_nullable());
            fields.push(Arc::new(field.as_ref().clone().with_nullable(nullable)));
        }
        Ok(CountiesTable {
            schema: Arc::new(Schema::new(fields)),
            parts,
        })
    }
}

/// Whether a filter mentions the county column (it cannot be handed to a county's table).
fn mentions_county(filter: &Expr) -> bool {
    filter.column_refs().iter().any(|c| c.name == COUNTY_COLUMN)
}

#[async_trait]
impl TableProvider for CountiesTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        // Handed on to each county's table for pruning; DataFusion still applies them.
        Ok(filters
            .iter()
            .map(|f| {
                if mentions_county(f) {
                    TableProviderFilterPushDown::Unsupported
                } else {
                    TableProviderFilterPushDown::Inexact
                }
            })
            .collect())
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let wanted: Vec<usize> = match projection {
            Some(p) => p.clone(),
            None => (0..self.schema.fields().len()).collect(),
        };
        // The county's own columns read, in the order they are wanted (county is 0).
        let part_columns: Vec<usize> = wanted.iter().filter(|&&i| i > 0).map(|i| i - 1).collect();
        // `filters` are those this table accepted: none mentions the county.
        let filter_refs: Vec<&Expr> = filters.iter().collect();
        let mut inputs = Vec::with_capacity(self.parts.len());
        for (county, part) in &self.parts {
            let usable: Vec<Expr> = part
                .supports_filters_pushdown(&filter_refs)?
                .into_iter()
                .zip(filters)
                .filter(|(pushdown, _)| *pushdown != TableProviderFilterPushDown::Unsupported)
                .map(|(_, filter)| filter.clone())
                .collect();
            let scan = part
                .scan(state, Some(&part_columns), &usable, limit)
                .await?;
            // Each wanted column: the county's id, or the next column the part read.
            let mut read = 0;
            let exprs = wanted
                .iter()
                .map(|&i| {
                    let name = self.schema.field(i).name().clone();
                    let expr: Arc<dyn PhysicalExpr> = if i == 0 {
                        Arc::new(Literal::new(ScalarValue::Utf8(Some(county.clone()))))
                    } else {
                        read += 1;
                        Arc::new(Column::new(&name, read - 1))
                    };
                    ProjectionExpr::new(expr, name)
                })
                .collect::<Vec<_>>();
            inputs.push(Arc::new(ProjectionExec::try_new(exprs, scan)?) as Arc<dyn ExecutionPlan>);
        }
        UnionExec::try_new(inputs)
    }
}
