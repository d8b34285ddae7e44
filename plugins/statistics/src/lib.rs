//! statistics: the duty of the county statistics bureau (县统计局) — monthly
//! e-commerce figures by town (T4–T8). Rules and their reasons: see README.md.

use county::{TOWNS, first_day_of_month};
use sannong_sdk::{Call, Column, Diagnostics, Duty, Manifest, Plugin, PluginError, Rows};

/// The plugin.
pub struct Statistics;

fn amount(key: &str, zh: &str, en: &str) -> Column {
    Column::decimal(key, zh, en, 18, 2).required().at_least("0")
}

impl Plugin for Statistics {
    fn manifest() -> Manifest {
        Manifest::new(
            "statistics",
            env!("CARGO_PKG_VERSION"),
            "Monthly e-commerce transaction value and online retail by town",
        )
        .department("statistics", "县统计局", "County statistics bureau")
        .duty(
            Duty::period(
                "ecommerce-stats",
                "stats.ecommerce_monthly",
                "电子商务月度统计",
                "Monthly e-commerce statistics",
            )
            .period_column("month")
            .column(Column::date("month", "月份", "month (its first day)").required())
            .column(Column::text("town", "镇", "town").required().one_of(TOWNS))
            .column(amount(
                "transaction_value",
                "电商交易额(万元)",
                "e-commerce transaction value (10,000 yuan)",
            ))
            .column(amount(
                "rural_online_retail",
                "农村网络零售额(万元)",
                "rural online retail (10,000 yuan)",
            ))
            .column(amount(
                "agri_online_retail",
                "农产品网络零售额(万元)",
                "agricultural online retail (10,000 yuan)",
            ))
            .column(amount(
                "online_tourism_retail",
                "在线旅游网络零售额(万元)",
                "online tourism retail (10,000 yuan)",
            ))
            .column(
                Column::int("online_merchants", "网商数量", "online merchants")
                    .required()
                    .at_least("0"),
            )
            .unique(["month", "town"]),
        )
    }

    fn validate(call: &Call, rows: &Rows, out: &mut Diagnostics) -> Result<(), PluginError> {
        if call.duty() != "ecommerce-stats" {
            return Ok(());
        }
        first_day_of_month(rows, "month", out)?;
        agricultural_within_rural(rows, out)?;
        every_town_reported(rows, out)
    }
}

/// Agricultural products are part of rural online retail, so they cannot exceed it.
fn agricultural_within_rural(rows: &Rows, out: &mut Diagnostics) -> Result<(), PluginError> {
    let (agri, rural) = (
        rows.decimal("agri_online_retail")?,
        rows.decimal("rural_online_retail")?,
    );
    for row in 0..rows.len() {
        if let (Some(a), Some(r)) = (agri.get(row), rural.get(row))
            && a > r
        {
            out.error(
                row,
                "agri_online_retail",
                agri.text(row),
                "agri-exceeds-rural",
                format!("农产品网络零售额不能大于农村网络零售额 {}", rural.text(row)),
                format!(
                    "agricultural online retail cannot exceed rural online retail ({})",
                    rural.text(row)
                ),
            );
        }
    }
    Ok(())
}

/// The county total is the sum over the six towns: a month missing a town would
/// understate it. A warning, since a town may genuinely report later.
fn every_town_reported(rows: &Rows, out: &mut Diagnostics) -> Result<(), PluginError> {
    let towns = rows.text("town")?;
    let reported: std::collections::HashSet<&str> =
        (0..rows.len()).filter_map(|i| towns.get(i)).collect();
    let missing: Vec<&str> = TOWNS
        .iter()
        .copied()
        .filter(|t| !reported.contains(t))
        .collect();
    if !rows.is_empty() && !missing.is_empty() {
        out.file_warning(
            "town-missing",
            format!(
                "本月缺少以下镇的数据：{}（全县合计将偏低）",
                missing.join("、")
            ),
            format!(
                "no figures for {} this month (the county total will be low)",
                missing.join(", ")
            ),
        );
    }
    Ok(())
}

sannong_sdk::export_plugin!(Statistics);

#[cfg(test)]
mod tests {
    use sannong_sdk::testing::{errors, rows, validate};

    use super::*;

    #[test]
    fn agricultural_retail_above_rural_is_refused_and_a_missing_town_warned() {
        let batch = rows::<Statistics>(
            "ecommerce-stats",
            &[
                &[
                    "2021-03-01",
                    "石角镇",
                    "100.00",
                    "50.00",
                    "60.00",
                    "5.00",
                    "40",
                ],
                &[
                    "2021-03-02",
                    "汤塘镇",
                    "100.00",
                    "50.00",
                    "20.00",
                    "5.00",
                    "40",
                ],
            ],
        );
        let found = validate::<Statistics>("ecommerce-stats", Some("2021-03"), &batch).unwrap();
        assert_eq!(
            errors(&found),
            [
                (Some(1), "month-not-first-day".to_owned()),
                (Some(0), "agri-exceeds-rural".to_owned())
            ]
        );
        assert!(
            found
                .iter()
                .any(|d| d.rule == "town-missing" && d.message_en.contains("龙山镇"))
        );
    }
}
