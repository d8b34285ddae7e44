//! Milestones M1–M13: their due month, the latest status the programme office reported
//! (from `programme.milestones`), and whether each was done on time, late, or is
//! overdue as of a date.

use arrow::array::AsArray;
use chrono::NaiveDate;
use sannong_catalog::Period;
use sannong_catalog::programme::Programme;
use serde::Serialize;

use crate::error::Result;
use crate::query::QueryService;

/// Where a milestone stands.
#[derive(Debug, Clone, Serialize)]
pub struct MilestoneStatus {
    /// Id, M1…M13.
    pub id: String,
    /// Its system.
    pub system: String,
    /// Chinese name.
    pub name_zh: String,
    /// English name.
    pub name_en: String,
    /// Due by the end of this month.
    pub due: String,
    /// The latest reported status (未开始, 进行中, 已完成), if any.
    pub reported_status: Option<String>,
    /// When that was reported.
    pub reported_on: Option<NaiveDate>,
    /// When it was completed, if it was.
    pub completed_on: Option<NaiveDate>,
    /// done_on_time, done_late, overdue, in_progress, not_started or not_reported.
    pub status: &'static str,
}

/// The last day of a period.
fn last_day(period: Period) -> NaiveDate {
    period.next().first_day().pred_opt().unwrap_or_default()
}

/// The milestones as of `as_of` (reports made after it are ignored).
pub async fn milestones(
    query: &QueryService,
    programme: &Programme,
    as_of: NaiveDate,
) -> Result<Vec<MilestoneStatus>> {
    let reported = latest_reports(query, as_of).await.unwrap_or_default();
    Ok(programme
        .milestones
        .iter()
        .map(|m| {
            let report = reported.iter().find(|r| r.0 == m.id);
            let (reported_status, reported_on, completed_on) = match report {
                Some((_, status, on, done)) => (Some(status.clone()), Some(*on), *done),
                None => (None, None, None),
            };
            let due_end = last_day(m.due);
            let done = reported_status.as_deref() == Some("已完成");
            let status = match (done, completed_on) {
                (true, Some(day)) if day <= due_end => "done_on_time",
                (true, _) => "done_late",
                (false, _) if as_of > due_end => "overdue",
                (false, _) => match reported_status.as_deref() {
                    Some("进行中") => "in_progress",
                    Some(_) => "not_started",
                    None => "not_reported",
                },
            };
            MilestoneStatus {
                id: m.id.clone(),
                system: m.system.clone(),
                name_zh: m.name_zh.clone(),
                name_en: m.name_en.clone(),
                due: m.due.to_string(),
                reported_status,
                reported_on,
                completed_on,
                status,
            }
        })
        .collect())
}

/// The latest report of each milestone made by `as_of`: (id, status, reported on, completed on).
async fn latest_reports(
    query: &QueryService,
    as_of: NaiveDate,
) -> Result<Vec<(String, String, NaiveDate, Option<NaiveDate>)>> {
    let sql = format!(
        "SELECT milestone_id, status, CAST(reported_on AS VARCHAR) AS reported_on, CAST(completed_on AS VARCHAR) AS completed_on \
         FROM (SELECT *, row_number() OVER (PARTITION BY milestone_id ORDER BY reported_on DESC) AS n \
               FROM programme.milestones WHERE reported_on <= DATE '{as_of}') WHERE n = 1"
    );
    let result = query.query(&sql).await?;
    let mut out = Vec::new();
    for batch in &result.batches {
        let text =
            |c: usize| arrow::compute::cast(batch.column(c), &arrow::datatypes::DataType::Utf8);
        let (ids, statuses, on, done) = (text(0), text(1), text(2), text(3));
        let (Ok(ids), Ok(statuses), Ok(on), Ok(done)) = (ids, statuses, on, done) else {
            continue;
        };
        let (ids, statuses, on, done) = (
            ids.as_string::<i32>(),
            statuses.as_string::<i32>(),
            on.as_string::<i32>(),
            done.as_string::<i32>(),
        );
        for i in 0..batch.num_rows() {
            let date = |a: &arrow::array::StringArray| {
                arrow::array::Array::is_valid(a, i)
                    .then(|| NaiveDate::parse_from_str(a.value(i), "%Y-%m-%d").ok())
                    .flatten()
            };
            if let Some(reported_on) = date(on) {
                out.push((
                    ids.value(i).to_owned(),
                    statuses.value(i).to_owned(),
                    reported_on,
                    date(done),
                ));
            }
        }
    }
    Ok(out)
}
