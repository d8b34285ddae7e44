//! The synthetic sample county (示例数据, not real villages): loads it into the platform.
//!
//! Fogang's six real towns with invented villages. Loading is idempotent: a table that
//! already holds the sample is left as it is.

use std::sync::Arc;

use arrow::array::{BooleanArray, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use sannong_catalog::{CommitMode, SubmissionRecord, TableName};

use crate::error::{Error, Result};
use crate::platform::Platform;

/// The six towns of Fogang County, with the code of each town.
pub const TOWNS: [(&str, &str); 6] = [
    ("石角镇", "101"),
    ("汤塘镇", "102"),
    ("龙山镇", "103"),
    ("高岗镇", "104"),
    ("迳头镇", "105"),
    ("水头镇", "106"),
];

const NAME_STEMS: [&str; 16] = [
    "新", "联", "和", "石", "龙", "高", "大", "上", "下", "东", "西", "南", "北", "民", "安", "兴",
];
const NAME_ENDS: [&str; 8] = ["坑", "田", "塘", "岭", "围", "岗", "湖", "径"];

/// One synthetic village.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Village {
    /// 12-digit village code: county 441821, town, village.
    pub code: String,
    /// Invented name.
    pub name: String,
    /// One of the six towns.
    pub town: &'static str,
    /// Whether it counts as a poor village.
    pub poor: bool,
}

/// The sample county's villages, the same for the same seed.
pub fn villages(seed: u64) -> Vec<Village> {
    let mut rng = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut next = move || {
        rng = rng
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (rng >> 33) as usize
    };
    let mut villages = Vec::new();
    let mut used = std::collections::HashSet::new();
    for (town, town_code) in TOWNS {
        let count = 11 + next() % 5;
        for index in 1..=count {
            let name = loop {
                let candidate = format!(
                    "{}{}村",
                    NAME_STEMS[next() % NAME_STEMS.len()],
                    NAME_ENDS[next() % NAME_ENDS.len()]
                );
                if used.insert(candidate.clone()) {
                    break candidate;
                }
            };
            villages.push(Village {
                code: format!("441821{town_code}{index:03}"),
                name,
                town,
                poor: next() % 6 == 0,
            });
        }
    }
    villages
}

/// Loads the sample county into the platform; returns the tables written.
pub async fn load(platform: &Platform, seed: u64) -> Result<Vec<String>> {
    let table: TableName = "admin.villages".parse()?;
    if platform.catalog().exists(&table).await? {
        return Ok(Vec::new());
    }
    let villages = villages(seed);
    let schema = Arc::new(Schema::new(vec![
        Field::new("village_code", DataType::Utf8, false),
        Field::new("village", DataType::Utf8, false),
        Field::new("town", DataType::Utf8, false),
        Field::new("poor_village", DataType::Boolean, true),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from_iter_values(
                villages.iter().map(|v| &v.code),
            )),
            Arc::new(StringArray::from_iter_values(
                villages.iter().map(|v| &v.name),
            )),
            Arc::new(StringArray::from_iter_values(
                villages.iter().map(|v| v.town),
            )),
            Arc::new(BooleanArray::from_iter(
                villages.iter().map(|v| Some(v.poor)),
            )),
        ],
    )
    .map_err(|e| Error::Internal(e.to_string()))?;
    let mut submission = SubmissionRecord::new("demo", villages.len() as u64);
    submission.duty = Some("villages".into());
    submission.department = Some("towns".into());
    submission.file_name = Some("sample-county/villages".into());
    platform
        .catalog()
        .commit(
            &table,
            schema,
            vec![batch],
            CommitMode::Snapshot,
            &submission,
        )
        .await?;
    Ok(vec![table.to_string()])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn villages_are_reproducible_and_unique() {
        let a = villages(7);
        assert_eq!(a, villages(7));
        assert!((66..=90).contains(&a.len()), "{}", a.len());
        let codes: std::collections::HashSet<_> = a.iter().map(|v| &v.code).collect();
        assert_eq!(codes.len(), a.len());
    }
}
