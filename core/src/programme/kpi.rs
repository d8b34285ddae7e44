//! The KPI engine: every KPI of the programme evaluated for a year, with its baseline,
//! against its target; month by month for the trend; as of an earlier date by time
//! travel; and explained (its SQL and the submissions it aggregated).
//!
//! A KPI's SQL comes from the programme (`kpis.toml`) with its parameters filled in
//! for the year ([`Window`]). A KPI without data is `no_data` with a null value —
//! never 0, and never an error for the whole scorecard.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Array, AsArray, Float64Array, RecordBatch};
use arrow::datatypes::{DataType, Float64Type};
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use datafusion::prelude::{SQLOptions, SessionContext};
use sannong_catalog::programme::{KpiDefinition, Programme};
use sannong_catalog::sql::KeepWhen;
use sannong_catalog::{Period, TableAt};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::query::few_rows::plan_sql;
use crate::query::{QueryResult, QueryService};

/// The first and last day (exclusive) of the implementation window of T9, T10, T15.
const IMPLEMENTATION: (&str, &str) = ("2020-07-01", "2022-01-01");

/// The stretch of time a KPI is evaluated over: the year `year` up to and including
/// the month `through` (December for the year's scorecard, earlier for a trend point).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// The year.
    pub year: i32,
    /// The last month included.
    pub through: u32,
}

impl Window {
    /// The whole year.
    pub fn year(year: i32) -> Self {
        Window { year, through: 12 }
    }

    fn day(year: i32, month: u32) -> NaiveDate {
        let (year, month) = if month > 12 {
            (year + 1, month - 12)
        } else {
            (year, month)
        };
        NaiveDate::from_ymd_opt(year, month, 1).unwrap_or_default()
    }

    /// The values of the SQL parameters.
    pub fn parameters(&self) -> HashMap<&'static str, String> {
        let (y, b, m) = (self.year, self.year - 1, self.through);
        let y_end = Self::day(y, m + 1);
        let impl_end = IMPLEMENTATION
            .1
            .to_owned()
            .min(y_end.format("%Y-%m-%d").to_string());
        HashMap::from([
            ("y_start", format!("{y:04}-01-01")),
            ("y_end", y_end.format("%Y-%m-%d").to_string()),
            ("b_start", format!("{b:04}-01-01")),
            ("b_end", Self::day(b, m + 1).format("%Y-%m-%d").to_string()),
            ("y_first_period", format!("{y:04}-01")),
            ("y_last_period", format!("{y:04}-{m:02}")),
            ("b_first_period", format!("{b:04}-01")),
            ("b_last_period", format!("{b:04}-{m:02}")),
            ("impl_start", IMPLEMENTATION.0.to_owned()),
            ("impl_end", impl_end),
        ])
    }

    /// `sql` with its parameters filled in.
    pub fn fill(&self, sql: &str) -> String {
        self.parameters()
            .iter()
            .fold(sql.to_owned(), |sql, (name, value)| {
                sql.replace(&format!("{{{name}}}"), value)
            })
    }
}

/// One KPI evaluated.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct KpiValue {
    /// Id, e.g. `T4`.
    pub id: String,
    /// Chinese name.
    pub name_zh: String,
    /// English name.
    pub name_en: String,
    /// The value (ratios and growths as fractions); null without data.
    pub value: Option<f64>,
    /// The baseline measure (growths: the year before; T13: the reference price).
    pub baseline: Option<f64>,
    /// The current measure the value compares with the baseline.
    pub current: Option<f64>,
    /// Ratios: what is counted.
    pub numerator: Option<f64>,
    /// Ratios: out of what.
    pub denominator: Option<f64>,
    /// The target.
    pub target: f64,
    /// How the value compares with the target.
    pub op: String,
    /// `met`, `not_met` or `no_data`.
    pub status: &'static str,
    /// ratio, growth, person-times, m2…
    pub unit: String,
    /// The department that owns it.
    pub department: String,
    /// The year evaluated.
    pub year: i32,
    /// Why there is no value, when there is none.
    pub note: Option<String>,
}

/// Whether `value op target` holds (equality to a billionth).
pub fn meets(value: f64, op: &str, target: f64) -> bool {
    match op {
        ">" => value > target,
        ">=" => value >= target - 1e-9,
        "<" => value < target,
        "<=" => value <= target + 1e-9,
        _ => (value - target).abs() <= 1e-9,
    }
}

fn column(batch: &RecordBatch, name: &str) -> Option<f64> {
    at(&floats(batch, name), 0)
}

/// A column as floats, if the batch has it.
fn floats(batch: &RecordBatch, name: &str) -> Option<Float64Array> {
    let array = batch.column_by_name(name)?;
    let floats = arrow::compute::cast(array, &DataType::Float64).ok()?;
    Some(floats.as_primitive::<Float64Type>().clone())
}

/// The value at `row`, if there is one.
fn at(floats: &Option<Float64Array>, row: usize) -> Option<f64> {
    floats
        .as_ref()
        .filter(|f| row < f.len() && f.is_valid(row))
        .map(|f| f.value(row))
}

/// Runs `sql`; a table nobody has reported yet gives no rows rather than an error.
async fn rows_unless_unreported(
    ctx: &SessionContext,
    sql: &str,
) -> datafusion::error::Result<QueryResult> {
    match plan_sql(ctx, sql, SQLOptions::new()).await {
        Ok(frame) => {
            let schema = Arc::new(frame.schema().as_arrow().clone());
            Ok(QueryResult {
                schema,
                batches: frame.collect().await?,
            })
        }
        Err(e) if crate::query::is_missing_table(&e) => Ok(QueryResult {
            schema: Arc::new(arrow::datatypes::Schema::empty()),
            batches: Vec::new(),
        }),
        Err(e) => Err(e),
    }
}

/// The session KPIs run in: the latest versions, or those current at `as_of`. The KPIs
/// reference each table many times, so the latest versions are decoded into memory at
/// their first read (see [`KeepWhen`]) when the process keeps tables.
async fn session(query: &QueryService, as_of: Option<DateTime<Utc>>) -> Result<SessionContext> {
    query
        .session_keeping(
            as_of.map_or(TableAt::Latest, TableAt::Time),
            KeepWhen::FirstRead,
        )
        .await
}

async fn evaluate_one(ctx: &SessionContext, kpi: &KpiDefinition, window: Window) -> KpiValue {
    let outcome = async {
        let frame = plan_sql(ctx, &window.fill(&kpi.sql), SQLOptions::new()).await?;
        frame.collect().await
    }
    .await;
    let (batch, note) = match outcome {
        Ok(batches) => (batches.into_iter().find(|b| b.num_rows() > 0), None),
        Err(e) => (None, Some(sannong_catalog::one_line(&e.to_string()))),
    };
    let get = |name: &str| batch.as_ref().and_then(|b| column(b, name));
    let value = get("value");
    let status = status_of(value, kpi);
    KpiValue {
        id: kpi.id.clone(),
        name_zh: kpi.name_zh.clone(),
        name_en: kpi.name_en.clone(),
        value,
        baseline: get("baseline"),
        current: get("current"),
        numerator: get("numerator"),
        denominator: get("denominator"),
        target: kpi.target,
        op: kpi.op.clone(),
        status,
        unit: kpi.unit.clone(),
        department: kpi.department.clone(),
        year: window.year,
        note: note.filter(|_| value.is_none()),
    }
}

/// Every KPI for `year` (baseline `year − 1`), as the tables stand now or at `as_of`.
pub async fn scorecard(
    query: &QueryService,
    programme: &Programme,
    year: i32,
    as_of: Option<DateTime<Utc>>,
) -> Result<Vec<KpiValue>> {
    let ctx = session(query, as_of).await?;
    let window = Window::year(year);
    evaluate_all(&ctx, programme.kpis.iter().map(|kpi| (kpi, window))).await
}

/// Evaluates each (KPI, window) at once over one session, each as its own task: one KPI
/// is planned while another's scan waits on storage, each table is loaded once for all
/// of them, and their planning and the parts of their plans that are not split into
/// partitions run on every core rather than on the one polling them all.
async fn evaluate_all<'a>(
    ctx: &SessionContext,
    jobs: impl IntoIterator<Item = (&'a KpiDefinition, Window)>,
) -> Result<Vec<KpiValue>> {
    let tasks = jobs.into_iter().map(|(kpi, window)| {
        let ctx = ctx.clone();
        let kpi = kpi.clone();
        tokio::spawn(async move { evaluate_one(&ctx, &kpi, window).await })
    });
    futures::future::join_all(tasks)
        .await
        .into_iter()
        .map(|done| done.map_err(|e| Error::Internal(format!("a KPI's evaluation failed: {e}"))))
        .collect()
}

/// A KPI in one town.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TownValue {
    /// The town.
    pub town: String,
    /// The KPI's value there (`None`: no data).
    pub value: Option<f64>,
    /// `met`, `not_met` or `no_data`, against the county's target.
    pub status: &'static str,
    /// The year's figure, for growths.
    pub current: Option<f64>,
    /// The baseline year's figure, for growths.
    pub baseline: Option<f64>,
    /// Numerator, for ratios.
    pub numerator: Option<f64>,
    /// Denominator, for ratios.
    pub denominator: Option<f64>,
}

/// A KPI town by town.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct KpiByTown {
    /// Id.
    pub id: String,
    /// One entry per town, in the order of the towns' names.
    pub towns: Vec<TownValue>,
}

/// Every KPI that has a town breakdown, town by town, for `year`.
pub async fn by_town(
    query: &QueryService,
    programme: &Programme,
    year: i32,
    as_of: Option<DateTime<Utc>>,
) -> Result<Vec<KpiByTown>> {
    let ctx = session(query, as_of).await?;
    let window = Window::year(year);
    let mut breakdowns = Vec::new();
    for kpi in &programme.kpis {
        let Some(sql) = &kpi.by_town else { continue };
        let rows = rows_unless_unreported(&ctx, &window.fill(sql))
            .await
            .map_err(|e| Error::Execution(format!("{} by town: {e}", kpi.id)))?;
        let mut towns = Vec::new();
        for batch in &rows.batches {
            let names = arrow::compute::cast(
                batch.column_by_name("town").ok_or_else(|| {
                    Error::Programme(format!(
                        "kpis.toml: by_town of {} has no `town` column",
                        kpi.id
                    ))
                })?,
                &DataType::Utf8,
            )
            .map_err(|e| Error::Internal(e.to_string()))?;
            let names = names.as_string::<i32>();
            let [value, current, baseline, numerator, denominator] =
                ["value", "current", "baseline", "numerator", "denominator"]
                    .map(|name| floats(batch, name));
            for row in 0..batch.num_rows() {
                let value = at(&value, row);
                towns.push(TownValue {
                    town: names.value(row).to_owned(),
                    value,
                    status: status_of(value, kpi),
                    current: at(&current, row),
                    baseline: at(&baseline, row),
                    numerator: at(&numerator, row),
                    denominator: at(&denominator, row),
                });
            }
        }
        breakdowns.push(KpiByTown {
            id: kpi.id.clone(),
            towns,
        });
    }
    Ok(breakdowns)
}

fn status_of(value: Option<f64>, kpi: &KpiDefinition) -> &'static str {
    match value {
        None => "no_data",
        Some(v) if meets(v, &kpi.op, kpi.target) => "met",
        Some(_) => "not_met",
    }
}

/// One point of a KPI's monthly trend.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TrendPoint {
    /// The month, `YYYY-MM`.
    pub month: String,
    /// The KPI's value through that month (year to date, cumulative or as it stood).
    pub value: Option<f64>,
    /// `met`, `not_met` or `no_data`.
    pub status: &'static str,
}

/// A KPI month by month through the year.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct KpiTrend {
    /// Id.
    pub id: String,
    /// How to read it: `ytd`, `cumulative` or `state`.
    pub trend: String,
    /// Twelve points, January to December.
    pub points: Vec<TrendPoint>,
}

/// Every KPI month by month through `year`.
pub async fn trend(
    query: &QueryService,
    programme: &Programme,
    year: i32,
    as_of: Option<DateTime<Utc>>,
) -> Result<Vec<KpiTrend>> {
    let ctx = session(query, as_of).await?;
    let mut trends = Vec::new();
    for kpi in &programme.kpis {
        // The twelve months at once, as in [`scorecard`].
        let windows = (1..=12).map(|month| {
            let window = Window {
                year,
                through: month,
            };
            (kpi, window)
        });
        let points = evaluate_all(&ctx, windows)
            .await?
            .into_iter()
            .zip(1..=12)
            .map(|(value, month)| TrendPoint {
                month: format!("{year:04}-{month:02}"),
                value: value.value,
                status: value.status,
            })
            .collect();
        trends.push(KpiTrend {
            id: kpi.id.clone(),
            trend: kpi.trend.clone(),
            points,
        });
    }
    Ok(trends)
}

/// How a KPI was computed.
#[derive(Debug, Clone)]
pub struct Explanation {
    /// The KPI evaluated.
    pub value: KpiValue,
    /// Its SQL with the parameters filled in.
    pub sql: String,
    /// For each source table: the submissions whose rows it aggregated.
    pub lineage: Vec<(String, QueryResult)>,
}

/// A KPI's SQL, value and lineage.
pub async fn explain(
    query: &QueryService,
    programme: &Programme,
    id: &str,
    year: i32,
    as_of: Option<DateTime<Utc>>,
) -> Result<Explanation> {
    let kpi = programme.kpi(id).ok_or_else(|| {
        Error::InvalidArgument(format!(
            "no KPI '{id}'; the KPIs are {}",
            programme
                .kpis
                .iter()
                .map(|k| k.id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })?;
    let ctx = session(query, as_of).await?;
    let window = Window::year(year);
    let value = evaluate_one(&ctx, kpi, window).await;
    let mut lineage = Vec::new();
    for source in &kpi.sources {
        let sql = format!(
            "SELECT s.submission_id, s.duty, s.period, s.file_name, s.uploader, s.received_at, u.rows_used \
             FROM (SELECT _submission_id, count(*) AS rows_used FROM {} WHERE {} GROUP BY _submission_id) u \
             LEFT JOIN sys.submissions s ON s.submission_id = u._submission_id ORDER BY s.period, s.submission_id",
            source.table,
            window.fill(&source.filter)
        );
        let result = rows_unless_unreported(&ctx, &sql).await.map_err(|e| {
            Error::Execution(format!(
                "tracing the rows of {} in {}: {e}",
                kpi.id, source.table
            ))
        })?;
        lineage.push((source.table.clone(), result));
    }
    Ok(Explanation {
        value,
        sql: window.fill(&kpi.sql),
        lineage,
    })
}

/// Checks that every KPI's SQL plans against the tables' declared schemas (an empty
/// table stands in for each one not yet loaded); the error names the KPI.
pub async fn check_plans(
    programme: &Programme,
    tables: &[(String, arrow::datatypes::SchemaRef)],
) -> Result<()> {
    let ctx = SessionContext::new();
    for (name, schema) in tables {
        let (schema_name, table) = name.split_once('.').unwrap_or(("public", name));
        let empty = datafusion::datasource::MemTable::try_new(schema.clone(), vec![vec![]])
            .map_err(|e| Error::Internal(e.to_string()))?;
        ctx.register_catalog_list_entry(schema_name, table, Arc::new(empty))?;
    }
    let known: Vec<&str> = tables.iter().map(|(n, _)| n.as_str()).collect();
    for kpi in &programme.kpis {
        let uses_unknown = kpi
            .sources
            .iter()
            .any(|s| !known.contains(&s.table.as_str()));
        if uses_unknown {
            continue;
        }
        let queries = std::iter::once(("SQL", &kpi.sql))
            .chain(kpi.by_town.iter().map(|s| ("by_town SQL", s)));
        for (what, sql) in queries {
            let sql = Window::year(2021).fill(sql);
            if let Err(e) = ctx.state().create_logical_plan(&sql).await {
                return Err(Error::Programme(format!(
                    "kpis.toml: the {what} of KPI '{}' does not plan: {}",
                    kpi.id,
                    sannong_catalog::one_line(&e.to_string())
                )));
            }
        }
    }
    Ok(())
}

trait RegisterEntry {
    fn register_catalog_list_entry(
        &self,
        schema: &str,
        table: &str,
        provider: Arc<dyn datafusion::catalog::TableProvider>,
    ) -> Result<()>;
}

impl RegisterEntry for SessionContext {
    fn register_catalog_list_entry(
        &self,
        schema: &str,
        table: &str,
        provider: Arc<dyn datafusion::catalog::TableProvider>,
    ) -> Result<()> {
        let catalog = self
            .catalog("datafusion")
            .ok_or_else(|| Error::Internal("no default catalog".into()))?;
        if catalog.schema(schema).is_none() {
            catalog
                .register_schema(
                    schema,
                    Arc::new(datafusion::catalog::MemorySchemaProvider::new()),
                )
                .map_err(|e| Error::Internal(e.to_string()))?;
        }
        let schema = catalog
            .schema(schema)
            .ok_or_else(|| Error::Internal("schema".into()))?;
        schema
            .register_table(table.to_owned(), provider)
            .map_err(|e| Error::Internal(e.to_string()))?;
        Ok(())
    }
}

/// The period of a Beijing date (for callers turning `--as-of` into a month).
pub fn period_of(date: NaiveDate) -> Period {
    Period::of_date(NaiveDate::from_ymd_opt(date.year(), date.month(), 1).unwrap_or(date))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_fill_their_parameters() {
        let full = Window::year(2021).parameters();
        assert_eq!(
            (full["y_start"].as_str(), full["y_end"].as_str()),
            ("2021-01-01", "2022-01-01")
        );
        assert_eq!(
            (full["b_start"].as_str(), full["b_end"].as_str()),
            ("2020-01-01", "2021-01-01")
        );
        assert_eq!(full["impl_end"], "2022-01-01");
        let march = Window {
            year: 2021,
            through: 3,
        }
        .parameters();
        assert_eq!(
            (
                march["y_end"].as_str(),
                march["b_end"].as_str(),
                march["y_last_period"].as_str()
            ),
            ("2021-04-01", "2020-04-01", "2021-03")
        );
        assert_eq!(Window::year(2020).parameters()["impl_end"], "2021-01-01");
        assert_eq!(
            Window::year(2021).fill("x >= '{y_start}' AND p <= '{b_last_period}'"),
            "x >= '2021-01-01' AND p <= '2020-12'"
        );
    }

    #[test]
    fn targets_compare_with_their_operator() {
        assert!(meets(0.86, ">", 0.85) && !meets(0.85, ">", 0.85));
        assert!(meets(1.0, "=", 1.0) && !meets(0.999, "=", 1.0));
        assert!(meets(-0.12, "<=", -0.10) && !meets(-0.05, "<=", -0.10));
        assert!(meets(0.1, ">=", 0.1));
    }
}
