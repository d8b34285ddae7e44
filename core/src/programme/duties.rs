//! Duty timeliness and completeness: for every duty and every period due by a date,
//! whether it came on time, late, not at all, or is not yet due — computed from the
//! submissions themselves (nobody has to mark a report complete).
//!
//! A monthly duty's period P is due on the 10th of the month after P; an on-change
//! duty is due once, by its `due_on`. A period counts as submitted from its first
//! accepted submission (refusals do not count), by the Beijing date it was received.
//! Per department, as DHIS2 reports them: completeness = submitted ÷ due, timeliness =
//! on time ÷ due.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use sannong_catalog::Period;
use sannong_catalog::programme::{Cadence, DutyDefinition, Programme};
use sannong_catalog::sql::system::SubmissionRow;
use sannong_catalog::sql::to_beijing;
use serde::Serialize;

/// Day of the following month a monthly report is due.
const DUE_DAY: u32 = 10;

/// Where one duty's period stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Timeliness {
    /// Submitted by its due date.
    OnTime,
    /// Submitted after its due date.
    Late,
    /// Overdue and not submitted.
    Missing,
    /// Not due yet (and not submitted).
    NotYetDue,
}

impl Timeliness {
    /// As shown in tables: on_time, late, missing, not_yet_due.
    pub fn as_str(self) -> &'static str {
        match self {
            Timeliness::OnTime => "on_time",
            Timeliness::Late => "late",
            Timeliness::Missing => "missing",
            Timeliness::NotYetDue => "not_yet_due",
        }
    }
}

/// One duty's period.
#[derive(Debug, Clone, Serialize)]
pub struct DutyPeriod {
    /// The duty.
    pub duty: String,
    /// The department owing it.
    pub department: String,
    /// The period (`YYYY-MM`); none for an on-change duty's first report.
    pub period: Option<String>,
    /// The due date (Beijing).
    pub due_on: NaiveDate,
    /// Where it stands.
    pub status: Timeliness,
    /// When it was first received (Beijing time), if it was.
    pub received_at: Option<DateTime<Utc>>,
    /// The first accepted submission.
    pub submission_id: Option<String>,
}

/// A department's reporting record.
#[derive(Debug, Clone, Serialize)]
pub struct DepartmentCompliance {
    /// Department id.
    pub department: String,
    /// Chinese name.
    pub name_zh: String,
    /// English name.
    pub name_en: String,
    /// Periods due by the date.
    pub due: u64,
    /// Of which on time.
    pub on_time: u64,
    /// Of which late.
    pub late: u64,
    /// Of which missing.
    pub missing: u64,
    /// Submitted ÷ due (null when nothing is due yet).
    pub completeness: Option<f64>,
    /// On time ÷ due (null when nothing is due yet).
    pub timeliness: Option<f64>,
}

fn due_date(duty: &DutyDefinition, period: Option<Period>) -> NaiveDate {
    match (duty.cadence, period) {
        (Cadence::Monthly, Some(p)) => p.next().first_day().with_day_checked(DUE_DAY),
        _ => duty.due_on.unwrap_or_default(),
    }
}

trait WithDay {
    fn with_day_checked(self, day: u32) -> NaiveDate;
}

impl WithDay for NaiveDate {
    fn with_day_checked(self, day: u32) -> NaiveDate {
        chrono::Datelike::with_day(&self, day).unwrap_or(self)
    }
}

/// The periods a duty owes: every month from first to last, or one for on-change duties.
fn periods(duty: &DutyDefinition) -> Vec<Option<Period>> {
    match (duty.cadence, duty.first_period, duty.last_period) {
        (Cadence::Monthly, Some(first), Some(last)) => {
            let mut out = Vec::new();
            let mut p = first;
            while p <= last {
                out.push(Some(p));
                p = p.next();
            }
            out
        }
        _ => vec![None],
    }
}

/// Every duty's periods as of `as_of` (a Beijing date), from the submissions.
pub fn duty_status(
    programme: &Programme,
    submissions: &[SubmissionRow],
    as_of: NaiveDate,
) -> Vec<DutyPeriod> {
    // First accepted submission of each (duty, period) received by the end of `as_of`.
    let mut first: HashMap<(&str, Option<&str>), &SubmissionRow> = HashMap::new();
    for s in submissions.iter().filter(|s| s.status == "accepted") {
        let received = to_beijing(s.record.received_at).date();
        let Some(duty) = s.record.duty.as_deref() else {
            continue;
        };
        if received > as_of {
            continue;
        }
        let key = (duty, s.period.as_deref());
        let earlier = first
            .get(&key)
            .is_some_and(|f| f.record.received_at <= s.record.received_at);
        if !earlier {
            first.insert(key, s);
        }
    }
    let mut out = Vec::new();
    for duty in &programme.duties {
        for period in periods(duty) {
            let due_on = due_date(duty, period);
            let text = period.map(|p| p.to_string());
            let found = match duty.cadence {
                Cadence::Monthly => first.get(&(duty.id.as_str(), text.as_deref())),
                // An on-change duty is fulfilled by its first upload, whatever it replaced.
                Cadence::OnChange => first
                    .iter()
                    .filter(|((d, _), _)| *d == duty.id)
                    .map(|(_, s)| s)
                    .min_by_key(|s| s.record.received_at),
            };
            let status = match found {
                Some(s) if to_beijing(s.record.received_at).date() <= due_on => Timeliness::OnTime,
                Some(_) => Timeliness::Late,
                None if as_of > due_on => Timeliness::Missing,
                None => Timeliness::NotYetDue,
            };
            out.push(DutyPeriod {
                duty: duty.id.clone(),
                department: duty.department.clone(),
                period: text.clone(),
                due_on,
                status,
                received_at: found.map(|s| s.record.received_at),
                submission_id: found.map(|s| s.record.submission_id.clone()),
            });
        }
    }
    out
}

/// Each department's completeness and timeliness over the periods due.
pub fn compliance(programme: &Programme, periods: &[DutyPeriod]) -> Vec<DepartmentCompliance> {
    let mut out = Vec::new();
    for department in &programme.departments {
        let mine: Vec<&DutyPeriod> = periods
            .iter()
            .filter(|p| p.department == department.id && p.status != Timeliness::NotYetDue)
            .collect();
        if mine.is_empty()
            && !programme
                .duties
                .iter()
                .any(|d| d.department == department.id)
        {
            continue;
        }
        let count = |s: Timeliness| mine.iter().filter(|p| p.status == s).count() as u64;
        let (due, on_time, late, missing) = (
            mine.len() as u64,
            count(Timeliness::OnTime),
            count(Timeliness::Late),
            count(Timeliness::Missing),
        );
        let rate = |n: u64| (due > 0).then(|| n as f64 / due as f64);
        out.push(DepartmentCompliance {
            department: department.id.clone(),
            name_zh: department.name_zh.clone(),
            name_en: department.name_en.clone(),
            due,
            on_time,
            late,
            missing,
            completeness: rate(on_time + late),
            timeliness: rate(on_time),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use sannong_catalog::SubmissionRecord;

    fn submission(duty: &str, period: &str, received: &str, status: &'static str) -> SubmissionRow {
        let mut record = SubmissionRecord::new("t", 1);
        record.duty = Some(duty.into());
        record.received_at = sannong_catalog::sql::from_beijing(
            chrono::NaiveDateTime::parse_from_str(received, "%Y-%m-%d %H:%M:%S").unwrap(),
        );
        SubmissionRow {
            record,
            status,
            period: Some(period.into()),
            table: None,
            version: None,
            errors: 0,
            warnings: 0,
            finished_at: None,
        }
    }

    #[test]
    fn periods_are_on_time_late_missing_or_not_yet_due() {
        let programme = Programme::built_in().unwrap();
        let submissions = vec![
            submission("parcels", "2021-01", "2021-02-10 23:59:00", "accepted"),
            submission("parcels", "2021-02", "2021-03-11 08:00:00", "accepted"),
            submission("parcels", "2021-03", "2021-04-02 08:00:00", "refused"),
            submission("parcels", "2021-04", "2021-05-20 08:00:00", "accepted"),
        ];
        let as_of = NaiveDate::from_ymd_opt(2021, 5, 15).unwrap();
        let status = duty_status(&programme, &submissions, as_of);
        let of = |p: &str| {
            status
                .iter()
                .find(|s| s.duty == "parcels" && s.period.as_deref() == Some(p))
                .unwrap()
                .status
        };
        assert_eq!(
            of("2021-01"),
            Timeliness::OnTime,
            "the 10th itself is on time"
        );
        assert_eq!(of("2021-02"), Timeliness::Late);
        assert_eq!(
            of("2021-03"),
            Timeliness::Missing,
            "a refusal is not a submission"
        );
        assert_eq!(
            of("2021-04"),
            Timeliness::Missing,
            "received only after the as-of date"
        );
        assert_eq!(of("2021-05"), Timeliness::NotYetDue);
        assert_eq!(of("2020-12"), Timeliness::Missing);
        let post = compliance(&programme, &status)
            .into_iter()
            .find(|c| c.department == "post")
            .unwrap();
        assert_eq!((post.on_time, post.late), (1, 1));
        assert_eq!(post.due, 16, "2020-01 … 2021-04 are due by 2021-05-15");
    }
}
