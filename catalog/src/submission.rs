//! What one upload is: the submission record carried by every commit, and the commit mode.
//!
//! The record is written into the Delta commit's `commitInfo` (key
//! [`SUBMISSION_KEY`]), so the table history *is* the submission history: `sys.submissions`
//! and `sannong history` read it back from there, never from a second store.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{CatalogError, Result};

/// The key under which the submission record is stored in a commit's `commitInfo`.
pub const SUBMISSION_KEY: &str = "sannongSubmission";

/// A reporting period: one calendar month, written `YYYY-MM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Period {
    year: i32,
    month: u32,
}

impl Period {
    /// The period of the given year and month (1–12).
    pub fn new(year: i32, month: u32) -> Result<Self> {
        if (1..=12).contains(&month) && (1900..=9999).contains(&year) {
            Ok(Period { year, month })
        } else {
            Err(CatalogError::InvalidPeriod {
                value: format!("{year:04}-{month:02}"),
            })
        }
    }

    /// The calendar year.
    pub fn year(&self) -> i32 {
        self.year
    }

    /// The month, 1–12.
    pub fn month(&self) -> u32 {
        self.month
    }

    /// The first day of the period.
    pub fn first_day(&self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.year, self.month, 1).unwrap_or(NaiveDate::MIN)
    }

    /// The period after this one.
    pub fn next(&self) -> Period {
        if self.month == 12 {
            Period {
                year: self.year + 1,
                month: 1,
            }
        } else {
            Period {
                year: self.year,
                month: self.month + 1,
            }
        }
    }

    /// The period containing a date.
    pub fn of_date(date: NaiveDate) -> Period {
        use chrono::Datelike;
        Period {
            year: date.year(),
            month: date.month(),
        }
    }
}

impl FromStr for Period {
    type Err = CatalogError;

    fn from_str(value: &str) -> Result<Self> {
        let invalid = || CatalogError::InvalidPeriod {
            value: value.to_owned(),
        };
        let (year, month) = value.trim().split_once('-').ok_or_else(invalid)?;
        if year.len() != 4 || month.len() != 2 {
            return Err(invalid());
        }
        let year: i32 = year.parse().map_err(|_| invalid())?;
        let month: u32 = month.parse().map_err(|_| invalid())?;
        Period::new(year, month).map_err(|_| invalid())
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

impl TryFrom<String> for Period {
    type Error = CatalogError;
    fn try_from(value: String) -> Result<Self> {
        value.parse()
    }
}

impl From<Period> for String {
    fn from(period: Period) -> String {
        period.to_string()
    }
}

/// How a commit replaces rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", content = "period", rename_all = "snake_case")]
pub enum CommitMode {
    /// The commit replaces the whole table.
    Snapshot,
    /// The commit replaces the rows of one period only.
    Period(Period),
    /// The commit adds rows and replaces none (internal append-only logs).
    Append,
}

impl CommitMode {
    /// `snapshot` or `period`.
    pub fn name(&self) -> &'static str {
        match self {
            CommitMode::Snapshot => "snapshot",
            CommitMode::Period(_) => "period",
            CommitMode::Append => "append",
        }
    }

    /// The period replaced, for period commits.
    pub fn period(&self) -> Option<Period> {
        match self {
            CommitMode::Period(p) => Some(*p),
            CommitMode::Snapshot | CommitMode::Append => None,
        }
    }
}

/// The plugin that processed a submission.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginRef {
    /// Plugin id, e.g. `post`.
    pub id: String,
    /// Plugin version.
    pub version: String,
    /// sha256 of the component, hex.
    pub sha256: String,
}

/// Who uploaded what, carried by every commit of a table version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubmissionRecord {
    /// Unique id of the submission, e.g. `S20210310-…`.
    pub submission_id: String,
    /// The duty served, e.g. `parcels` (none for administrative writes).
    #[serde(default)]
    pub duty: Option<String>,
    /// The department that owes the duty, e.g. `post`.
    #[serde(default)]
    pub department: Option<String>,
    /// Who uploaded (user or token name).
    pub uploader: String,
    /// The original file name as uploaded.
    #[serde(default)]
    pub file_name: Option<String>,
    /// sha256 of the uploaded file, hex.
    #[serde(default)]
    pub file_sha256: Option<String>,
    /// Rows stored by this submission.
    pub rows: u64,
    /// When the upload was received.
    pub received_at: DateTime<Utc>,
    /// The plugin that validated and transformed the rows.
    #[serde(default)]
    pub plugin: Option<PluginRef>,
}

impl SubmissionRecord {
    /// A new record with a fresh id, received now.
    pub fn new(uploader: impl Into<String>, rows: u64) -> Self {
        let received_at = Utc::now();
        SubmissionRecord {
            submission_id: new_submission_id(received_at),
            duty: None,
            department: None,
            uploader: uploader.into(),
            file_name: None,
            file_sha256: None,
            rows,
            received_at,
            plugin: None,
        }
    }
}

/// A submission id: `S` + UTC date and time + a random suffix; sorts by time.
pub fn new_submission_id(at: DateTime<Utc>) -> String {
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!("S{}-{}", at.format("%Y%m%d%H%M%S"), &random[..8])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_parse_and_print() -> Result<()> {
        let p: Period = "2021-03".parse()?;
        assert_eq!(p.to_string(), "2021-03");
        assert_eq!(p.next().to_string(), "2021-04");
        assert_eq!("2021-12".parse::<Period>()?.next().to_string(), "2022-01");
        for bad in ["2021-13", "2021-3", "21-03", "2021/03", "", "2021-00"] {
            assert!(bad.parse::<Period>().is_err(), "{bad}");
        }
        Ok(())
    }

    #[test]
    fn commit_mode_serialises_with_its_period() -> Result<()> {
        let mode = CommitMode::Period("2021-03".parse()?);
        let json =
            serde_json::to_string(&mode).map_err(|e| CatalogError::Internal(e.to_string()))?;
        assert_eq!(json, r#"{"mode":"period","period":"2021-03"}"#);
        Ok(())
    }
}
