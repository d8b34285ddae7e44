//! What the programme office and the leading group look at: the programme as data
//! (departments, duties, KPIs, schedule — `sannong_catalog::programme`), and what is
//! computed from it here:
//!
//! - [`kpi`]: the KPI scorecard, its monthly trend, time travel, explanations;
//! - [`duties`]: timeliness and completeness of every duty;
//! - [`milestones`]: M1–M13 against their due months;
//! - [`report`]: the performance self-evaluation (XLSX, Markdown);
//! - [`tables`]: `sys.departments`, `sys.duties`, `sys.kpis`, `sys.milestones`,
//!   `sys.duty_status`.
//!
//! The [`Platform`] methods below are the service layer's entry points to all of it.

pub mod duties;
pub mod kpi;
pub mod milestones;
pub mod report;
pub mod tables;

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use sannong_catalog::sql::from_beijing;
use sannong_catalog::{PERIOD_COLUMN, SUBMISSION_ID_COLUMN};

use crate::error::Result;
use crate::platform::Platform;

/// Today in Beijing.
pub fn today() -> NaiveDate {
    sannong_catalog::sql::to_beijing(Utc::now()).date()
}

/// A moment given as `YYYY-MM-DD HH:MM:SS` or `YYYY-MM-DD` (the end of that day), in
/// Beijing time: what `--as-of` means.
pub fn parse_moment(text: &str) -> Option<DateTime<Utc>> {
    sannong_catalog::sql::parse_time(text).map(from_beijing)
}

impl Platform {
    /// Every KPI for `year` (baseline `year − 1`), as the tables stand now or stood at
    /// the end of `as_of`.
    pub async fn kpis(
        &self,
        year: i32,
        as_of: Option<DateTime<Utc>>,
    ) -> Result<Vec<kpi::KpiValue>> {
        kpi::scorecard(self.query_service(), self.programme(), year, as_of).await
    }

    /// Every KPI month by month through `year`.
    pub async fn kpi_trend(
        &self,
        year: i32,
        as_of: Option<DateTime<Utc>>,
    ) -> Result<Vec<kpi::KpiTrend>> {
        kpi::trend(self.query_service(), self.programme(), year, as_of).await
    }

    /// One KPI's SQL, value and the submissions it aggregated.
    pub async fn explain_kpi(
        &self,
        id: &str,
        year: i32,
        as_of: Option<DateTime<Utc>>,
    ) -> Result<kpi::Explanation> {
        kpi::explain(self.query_service(), self.programme(), id, year, as_of).await
    }

    /// The KPIs that have a town breakdown, town by town.
    pub async fn kpis_by_town(
        &self,
        year: i32,
        as_of: Option<DateTime<Utc>>,
    ) -> Result<Vec<kpi::KpiByTown>> {
        kpi::by_town(self.query_service(), self.programme(), year, as_of).await
    }

    /// Every duty's periods as of `as_of` (a Beijing date).
    pub async fn duty_status(&self, as_of: NaiveDate) -> Result<Vec<duties::DutyPeriod>> {
        let submissions = crate::ingest::log::submissions(self.catalog()).await?;
        Ok(duties::duty_status(self.programme(), &submissions, as_of))
    }

    /// The milestones as of `as_of`.
    pub async fn milestones(&self, as_of: NaiveDate) -> Result<Vec<milestones::MilestoneStatus>> {
        milestones::milestones(self.query_service(), self.programme(), as_of).await
    }

    /// The performance self-evaluation of `year`, from the data as it stood at `as_of`
    /// (default: now).
    pub async fn self_evaluation(
        &self,
        year: i32,
        as_of: Option<DateTime<Utc>>,
    ) -> Result<report::SelfEvaluation> {
        let date = as_of.map_or_else(today, |at| sannong_catalog::sql::to_beijing(at).date());
        let kpis = self.kpis(year, as_of).await?;
        let milestones = self.milestones(date).await?;
        let compliance = duties::compliance(self.programme(), &self.duty_status(date).await?);
        let at = as_of.map_or(
            sannong_catalog::TableAt::Latest,
            sannong_catalog::TableAt::Time,
        );
        let session = self.query_service().session_at(at).await?;
        report::assemble(&session, year, &kpis, &milestones, &compliance, date).await
    }

    /// Checks that every KPI's SQL plans against the tables the installed plugins
    /// declare; the error names the KPI. Run once when a command or the server starts,
    /// not on every evaluation.
    pub async fn check_programme(&self) -> Result<()> {
        use arrow::datatypes::{DataType, Field, Schema};
        let mut tables = Vec::new();
        for plugin in self.plugins().await? {
            for duty in &plugin.manifest.duties {
                let mut fields: Vec<Field> = duty
                    .stored_schema()
                    .fields()
                    .iter()
                    .map(|f| f.as_ref().clone())
                    .collect();
                fields.push(Field::new(SUBMISSION_ID_COLUMN, DataType::Utf8, true));
                fields.push(Field::new(PERIOD_COLUMN, DataType::Utf8, true));
                tables.push((duty.table.clone(), Arc::new(Schema::new(fields))));
            }
        }
        kpi::check_plans(self.programme(), &tables).await
    }
}
