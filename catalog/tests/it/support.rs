//! Helpers: a catalog in a temporary directory, sample batches, SQL over the catalog.

use std::sync::Arc;

use arrow::array::{Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::prelude::{SessionConfig, SessionContext};
use sannong_catalog::sql::{DEFAULT_SCHEMA, KeepWhen, SQL_CATALOG, register_catalog};
use sannong_catalog::{Catalog, CommitMode, DataLocation, SubmissionRecord, TableName};

pub async fn temp_catalog() -> (tempfile::TempDir, Arc<Catalog>) {
    let dir = tempfile::tempdir().unwrap();
    let catalog = open(dir.path()).await;
    (dir, catalog)
}

pub async fn open(dir: &std::path::Path) -> Arc<Catalog> {
    let location = DataLocation::parse(dir.to_str().unwrap()).unwrap();
    Arc::new(Catalog::open(location).await.unwrap())
}

pub fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("amount", DataType::Int64, true),
    ]))
}

/// A batch with ids `{prefix}{i}` and amounts `i`.
pub fn batch(prefix: &str, rows: usize) -> RecordBatch {
    RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(StringArray::from_iter_values(
                (0..rows).map(|i| format!("{prefix}{i}")),
            )),
            Arc::new(Int64Array::from_iter_values(0..rows as i64)),
        ],
    )
    .unwrap()
}

pub fn submission(id: &str) -> SubmissionRecord {
    let mut s = SubmissionRecord::new("tester", 0);
    s.submission_id = id.to_owned();
    s.duty = Some("test-duty".into());
    s.department = Some("test-dept".into());
    s
}

/// A session over the catalog's latest tables, as the platform opens one per query.
pub async fn session(catalog: &Arc<Catalog>) -> SessionContext {
    session_keeping(catalog, KeepWhen::ReadAgain).await
}

/// A session over the catalog's latest tables, kept decoded in memory as `keep` says.
pub async fn session_keeping(catalog: &Arc<Catalog>, keep: KeepWhen) -> SessionContext {
    let config = SessionConfig::new()
        .with_default_catalog_and_schema(SQL_CATALOG, DEFAULT_SCHEMA)
        .with_create_default_catalog_and_schema(false);
    let ctx = SessionContext::new_with_config(config);
    register_catalog(
        &ctx,
        catalog.clone(),
        vec![],
        sannong_catalog::TableAt::Latest,
        keep,
    )
    .await
    .unwrap();
    ctx
}

pub async fn sql(catalog: &Arc<Catalog>, query: &str) -> Vec<RecordBatch> {
    let ctx = session(catalog).await;
    ctx.sql(query).await.unwrap().collect().await.unwrap()
}

/// Each period of `logistics.parcels`: its rows, first id and submission.
pub const PARCELS_BY_PERIOD: &str = "SELECT _period, count(*) AS n, min(id) AS first, \
     min(_submission_id) AS s FROM logistics.parcels GROUP BY _period ORDER BY _period";

/// The rows of `query` over the catalog's latest tables, as a text table.
pub async fn text(catalog: &Arc<Catalog>, query: &str) -> String {
    pretty(&sql(catalog, query).await)
}

/// The single value of a one-row, one-column query, as text.
pub async fn scalar(catalog: &Arc<Catalog>, query: &str) -> String {
    let batches = sql(catalog, query).await;
    let batch = batches.iter().find(|b| b.num_rows() > 0).expect("a row");
    arrow::util::display::array_value_to_string(batch.column(0), 0).unwrap()
}

/// Commits `rows` rows with ids `{prefix}{i}` as period `period` of `table`, by submission `id`.
pub async fn commit_period(
    catalog: &Arc<Catalog>,
    table: &TableName,
    period: &str,
    (prefix, rows): (&str, usize),
    id: &str,
) {
    catalog
        .commit(
            table,
            schema(),
            vec![batch(prefix, rows)],
            CommitMode::Period(period.parse().unwrap()),
            &submission(id),
        )
        .await
        .unwrap();
}

/// Rows as a text table.
pub fn pretty(batches: &[RecordBatch]) -> String {
    arrow::util::pretty::pretty_format_batches(batches)
        .unwrap()
        .to_string()
}
