//! The programme's results as rows: the system tables `sys.departments`, `sys.duties`,
//! `sys.kpis`, `sys.milestones` and `sys.duty_status` (the last two as of today), and
//! the rows of the `kpi`, `duties` and `milestones` commands (and of the HTTP API) in
//! every output format.

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use async_trait::async_trait;
use sannong_catalog::Catalog;
use sannong_catalog::programme::{Cadence, Programme};
use sannong_catalog::sql::SystemTable;
use sannong_catalog::sql::system::{BatchBuilder, system_table_error};

use super::{duties, kpi, milestones, today};
use crate::plugin::registry::{self, InstalledPlugin};
use crate::query::QueryService;

/// The programme's system tables.
pub fn system_tables(
    programme: Arc<Programme>,
    catalog: Arc<Catalog>,
    query: QueryService,
) -> Vec<Arc<dyn SystemTable>> {
    vec![
        Arc::new(Departments(programme.clone())),
        Arc::new(Duties(programme.clone(), catalog.clone())),
        Arc::new(Kpis(programme.clone())),
        Arc::new(Milestones(programme.clone(), query)),
        Arc::new(DutyStatus(programme, catalog)),
    ]
}

macro_rules! system_table {
    ($type:ident, $name:literal) => {
        #[async_trait]
        impl SystemTable for $type {
            fn name(&self) -> &str {
                $name
            }

            fn schema(&self) -> SchemaRef {
                Self::columns(&[]).schema()
            }

            async fn rows(&self) -> datafusion::error::Result<RecordBatch> {
                Self::columns(
                    &self
                        .compute()
                        .await
                        .map_err(|e| system_table_error($name, e))?,
                )
                .build()
            }
        }
    };
}

/// `sys.departments`.
#[derive(Debug)]
struct Departments(Arc<Programme>);

impl Departments {
    async fn compute(
        &self,
    ) -> crate::Result<Vec<(sannong_catalog::programme::Department, String)>> {
        Ok(self
            .0
            .departments
            .iter()
            .map(|d| {
                let duties: Vec<&str> = self
                    .0
                    .duties
                    .iter()
                    .filter(|u| u.department == d.id)
                    .map(|u| u.id.as_str())
                    .collect();
                (d.clone(), duties.join(","))
            })
            .collect())
    }

    fn columns(d: &[(sannong_catalog::programme::Department, String)]) -> BatchBuilder {
        BatchBuilder::default()
            .text("department", d.iter().map(|(d, _)| Some(d.id.as_str())))
            .text("name_zh", d.iter().map(|(d, _)| Some(d.name_zh.as_str())))
            .text("name_en", d.iter().map(|(d, _)| Some(d.name_en.as_str())))
            .text("reports", d.iter().map(|(d, _)| Some(d.reports.as_str())))
            .text("duties", d.iter().map(|(_, u)| Some(u.as_str())))
    }
}

system_table!(Departments, "departments");

/// One row of `sys.duties`: the programme's definition and the plugin serving it.
struct DutyRow {
    id: String,
    department: Option<String>,
    table: String,
    mode: String,
    cadence: Option<&'static str>,
    due_rule: Option<String>,
    plugin: Option<InstalledPlugin>,
}

/// `sys.duties`: every duty of the programme, and any other duty a plugin serves.
#[derive(Debug)]
struct Duties(Arc<Programme>, Arc<Catalog>);

impl Duties {
    async fn compute(&self) -> crate::Result<Vec<DutyRow>> {
        let plugins = registry::installed(&self.1).await?;
        let serving = |id: &str| {
            plugins
                .iter()
                .find(|p| p.manifest.duty(id).is_some())
                .cloned()
        };
        let mut rows: Vec<DutyRow> = self
            .0
            .duties
            .iter()
            .map(|d| DutyRow {
                id: d.id.clone(),
                department: Some(d.department.clone()),
                table: d.table.clone(),
                mode: d.mode.clone(),
                cadence: Some(match d.cadence {
                    Cadence::Monthly => "monthly",
                    Cadence::OnChange => "on-change",
                }),
                due_rule: Some(match d.cadence {
                    Cadence::Monthly => format!(
                        "the 10th of the next month, {} to {}",
                        d.first_period.map(|p| p.to_string()).unwrap_or_default(),
                        d.last_period.map(|p| p.to_string()).unwrap_or_default()
                    ),
                    Cadence::OnChange => format!(
                        "by {} and on every change",
                        d.due_on.map(|d| d.to_string()).unwrap_or_default()
                    ),
                }),
                plugin: serving(&d.id),
            })
            .collect();
        for plugin in &plugins {
            for duty in &plugin.manifest.duties {
                if self.0.duty(&duty.id).is_none() {
                    rows.push(DutyRow {
                        id: duty.id.clone(),
                        department: Some(plugin.manifest.department.id.clone()),
                        table: duty.table.clone(),
                        mode: match duty.mode {
                            crate::plugin::manifest::DutyMode::Snapshot => "snapshot".into(),
                            crate::plugin::manifest::DutyMode::Period => "period".into(),
                        },
                        cadence: None,
                        due_rule: None,
                        plugin: Some(plugin.clone()),
                    });
                }
            }
        }
        Ok(rows)
    }

    fn columns(d: &[DutyRow]) -> BatchBuilder {
        let duty = |r: &DutyRow| {
            r.plugin
                .as_ref()
                .and_then(|p| p.manifest.duty(&r.id).cloned())
        };
        BatchBuilder::default()
            .text("duty_id", d.iter().map(|r| Some(r.id.as_str())))
            .text("name_zh", d.iter().map(|r| duty(r).map(|s| s.name_zh)))
            .text("name_en", d.iter().map(|r| duty(r).map(|s| s.name_en)))
            .text("department", d.iter().map(|r| r.department.as_deref()))
            .text("table_name", d.iter().map(|r| Some(r.table.as_str())))
            .text("mode", d.iter().map(|r| Some(r.mode.as_str())))
            .text("cadence", d.iter().map(|r| r.cadence))
            .text("due_rule", d.iter().map(|r| r.due_rule.as_deref()))
            .text(
                "plugin_id",
                d.iter()
                    .map(|r| r.plugin.as_ref().map(|p| p.event.plugin_id.as_str())),
            )
            .text(
                "plugin_version",
                d.iter()
                    .map(|r| r.plugin.as_ref().map(|p| p.event.version.as_str())),
            )
            .int(
                "columns",
                d.iter().map(|r| duty(r).map(|s| s.columns.len() as i64)),
            )
    }
}

system_table!(Duties, "duties");

/// `sys.kpis`: every KPI with its SQL.
#[derive(Debug)]
struct Kpis(Arc<Programme>);

impl Kpis {
    async fn compute(&self) -> crate::Result<Vec<sannong_catalog::programme::KpiDefinition>> {
        Ok(self.0.kpis.clone())
    }

    fn columns(k: &[sannong_catalog::programme::KpiDefinition]) -> BatchBuilder {
        BatchBuilder::default()
            .text("kpi_id", k.iter().map(|k| Some(k.id.as_str())))
            .text("name_zh", k.iter().map(|k| Some(k.name_zh.as_str())))
            .text("name_en", k.iter().map(|k| Some(k.name_en.as_str())))
            .text("department", k.iter().map(|k| Some(k.department.as_str())))
            .text("unit", k.iter().map(|k| Some(k.unit.as_str())))
            .text("op", k.iter().map(|k| Some(k.op.as_str())))
            .float("target", k.iter().map(|k| Some(k.target)))
            .text("trend", k.iter().map(|k| Some(k.trend.as_str())))
            .text("sql", k.iter().map(|k| Some(k.sql.trim())))
    }
}

system_table!(Kpis, "kpis");

/// `sys.milestones`: M1–M13 and where each stands today.
#[derive(Debug)]
struct Milestones(Arc<Programme>, QueryService);

impl Milestones {
    async fn compute(&self) -> crate::Result<Vec<milestones::MilestoneStatus>> {
        milestones::milestones(&self.1, &self.0, today()).await
    }

    fn columns(m: &[milestones::MilestoneStatus]) -> BatchBuilder {
        milestone_rows(m)
    }
}

system_table!(Milestones, "milestones");

/// Milestones as rows.
pub fn milestone_rows(m: &[milestones::MilestoneStatus]) -> BatchBuilder {
    BatchBuilder::default()
        .text("milestone_id", m.iter().map(|m| Some(m.id.as_str())))
        .text("system", m.iter().map(|m| Some(m.system.as_str())))
        .text("name_zh", m.iter().map(|m| Some(m.name_zh.as_str())))
        .text("name_en", m.iter().map(|m| Some(m.name_en.as_str())))
        .text("due", m.iter().map(|m| Some(m.due.as_str())))
        .text(
            "reported_status",
            m.iter().map(|m| m.reported_status.as_deref()),
        )
        .date("reported_on", m.iter().map(|m| m.reported_on))
        .date("completed_on", m.iter().map(|m| m.completed_on))
        .text("status", m.iter().map(|m| Some(m.status)))
}

/// `sys.duty_status`: every duty's periods as of today.
#[derive(Debug)]
struct DutyStatus(Arc<Programme>, Arc<Catalog>);

impl DutyStatus {
    async fn compute(&self) -> crate::Result<Vec<duties::DutyPeriod>> {
        let submissions = crate::ingest::log::submissions(&self.1).await?;
        Ok(duties::duty_status(&self.0, &submissions, today()))
    }

    fn columns(p: &[duties::DutyPeriod]) -> BatchBuilder {
        duty_period_rows(p)
    }
}

system_table!(DutyStatus, "duty_status");

/// Duty periods as rows.
pub fn duty_period_rows(p: &[duties::DutyPeriod]) -> BatchBuilder {
    BatchBuilder::default()
        .text("duty_id", p.iter().map(|p| Some(p.duty.as_str())))
        .text("department", p.iter().map(|p| Some(p.department.as_str())))
        .text("period", p.iter().map(|p| p.period.as_deref()))
        .date("due_on", p.iter().map(|p| Some(p.due_on)))
        .text("status", p.iter().map(|p| Some(p.status.as_str())))
        .time("received_at", p.iter().map(|p| p.received_at))
        .text(
            "submission_id",
            p.iter().map(|p| p.submission_id.as_deref()),
        )
}

/// Departments' completeness and timeliness as rows.
pub fn compliance_rows(c: &[duties::DepartmentCompliance]) -> BatchBuilder {
    let count =
        |f: fn(&duties::DepartmentCompliance) -> u64| c.iter().map(move |d| Some(f(d) as i64));
    BatchBuilder::default()
        .text("department", c.iter().map(|d| Some(d.department.as_str())))
        .text("name_zh", c.iter().map(|d| Some(d.name_zh.as_str())))
        .int("due", count(|d| d.due))
        .int("on_time", count(|d| d.on_time))
        .int("late", count(|d| d.late))
        .int("missing", count(|d| d.missing))
        .float("completeness", c.iter().map(|d| d.completeness))
        .float("timeliness", c.iter().map(|d| d.timeliness))
}

/// KPI values as rows: the scorecard.
pub fn kpi_rows(k: &[kpi::KpiValue]) -> BatchBuilder {
    BatchBuilder::default()
        .text("id", k.iter().map(|k| Some(k.id.as_str())))
        .text("name_zh", k.iter().map(|k| Some(k.name_zh.as_str())))
        .text("name_en", k.iter().map(|k| Some(k.name_en.as_str())))
        .float("value", k.iter().map(|k| k.value))
        .float("baseline", k.iter().map(|k| k.baseline))
        .float("current", k.iter().map(|k| k.current))
        .float("numerator", k.iter().map(|k| k.numerator))
        .float("denominator", k.iter().map(|k| k.denominator))
        .text("op", k.iter().map(|k| Some(k.op.as_str())))
        .float("target", k.iter().map(|k| Some(k.target)))
        .text("status", k.iter().map(|k| Some(k.status)))
        .text("unit", k.iter().map(|k| Some(k.unit.as_str())))
        .text("department", k.iter().map(|k| Some(k.department.as_str())))
        .int("year", k.iter().map(|k| Some(i64::from(k.year))))
        .text("note", k.iter().map(|k| k.note.as_deref()))
}

/// KPI values as a compact table for people: values and targets shown in their unit.
pub fn kpi_summary_rows(k: &[kpi::KpiValue]) -> BatchBuilder {
    let shown = |unit: &str, v: f64| match unit {
        "ratio" | "growth" => format!("{:.2}%", v * 100.0),
        _ if v.fract() == 0.0 => format!("{v:.0}"),
        _ => format!("{v:.2}"),
    };
    BatchBuilder::default()
        .text("id", k.iter().map(|k| Some(k.id.as_str())))
        .text("name_zh", k.iter().map(|k| Some(k.name_zh.as_str())))
        .text(
            "value",
            k.iter().map(|k| {
                Some(
                    k.value
                        .map_or_else(|| "—".to_owned(), |v| shown(&k.unit, v)),
                )
            }),
        )
        .text(
            "target",
            k.iter()
                .map(|k| Some(format!("{} {}", k.op, shown(&k.unit, k.target)))),
        )
        .text("status", k.iter().map(|k| Some(k.status)))
        .text("unit", k.iter().map(|k| Some(k.unit.as_str())))
        .text("department", k.iter().map(|k| Some(k.department.as_str())))
}

/// KPI trends as rows: one per KPI and month.
pub fn trend_rows(t: &[kpi::KpiTrend]) -> BatchBuilder {
    let points: Vec<(&kpi::KpiTrend, &kpi::TrendPoint)> = t
        .iter()
        .flat_map(|t| t.points.iter().map(move |p| (t, p)))
        .collect();
    BatchBuilder::default()
        .text("id", points.iter().map(|(t, _)| Some(t.id.as_str())))
        .text("month", points.iter().map(|(_, p)| Some(p.month.as_str())))
        .float("value", points.iter().map(|(_, p)| p.value))
        .text("status", points.iter().map(|(_, p)| Some(p.status)))
        .text("trend", points.iter().map(|(t, _)| Some(t.trend.as_str())))
}

/// KPIs town by town: one row per KPI and town.
pub fn town_rows(t: &[kpi::KpiByTown]) -> BatchBuilder {
    let towns: Vec<(&kpi::KpiByTown, &kpi::TownValue)> = t
        .iter()
        .flat_map(|k| k.towns.iter().map(move |v| (k, v)))
        .collect();
    BatchBuilder::default()
        .text("id", towns.iter().map(|(k, _)| Some(k.id.as_str())))
        .text("town", towns.iter().map(|(_, v)| Some(v.town.as_str())))
        .float("value", towns.iter().map(|(_, v)| v.value))
        .text("status", towns.iter().map(|(_, v)| Some(v.status)))
        .float("current", towns.iter().map(|(_, v)| v.current))
        .float("baseline", towns.iter().map(|(_, v)| v.baseline))
        .float("numerator", towns.iter().map(|(_, v)| v.numerator))
        .float("denominator", towns.iter().map(|(_, v)| v.denominator))
}

/// Finished rows as a query result, for the output formats.
pub fn result(rows: BatchBuilder) -> crate::Result<crate::query::QueryResult> {
    let schema = rows.schema();
    let batch = rows
        .build()
        .map_err(|e| crate::Error::Internal(e.to_string()))?;
    Ok(crate::query::QueryResult {
        schema,
        batches: vec![batch],
    })
}
