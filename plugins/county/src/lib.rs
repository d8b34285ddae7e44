//! Fogang County (佛冈县) as its department plugins share it: the six towns, and small
//! rules several duties use.

use sannong_sdk::rows::{civil_from_days, date_text};
use sannong_sdk::{Diagnostics, PluginError, Rows};

/// The six towns of Fogang County.
pub const TOWNS: [&str; 6] = ["石角镇", "汤塘镇", "龙山镇", "高岗镇", "迳头镇", "水头镇"];

/// Row rule: a month column must hold the first day of its month (statistics are
/// reported per month, and the data model stores a month as its first day).
pub fn first_day_of_month(
    rows: &Rows,
    column: &str,
    out: &mut Diagnostics,
) -> Result<(), PluginError> {
    let months = rows.date(column)?;
    for row in 0..rows.len() {
        if let Some(days) = months.get(row) {
            let (year, month, day) = civil_from_days(i64::from(days));
            if day != 1 {
                out.error(
                    row,
                    column,
                    date_text(days),
                    "month-not-first-day",
                    format!("月份应填该月第一天，如 {year:04}-{month:02}-01"),
                    format!("a month is written as its first day, e.g. {year:04}-{month:02}-01"),
                );
            }
        }
    }
    Ok(())
}
