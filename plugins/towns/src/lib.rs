//! towns: the duties of the town governments (各镇人民政府) — the registry of
//! administrative villages and of village e-commerce service stations.
//! Rules and their reasons: see this crate's README.md.

use county::TOWNS;
use sannong_sdk::{Call, Column, Diagnostics, Duty, Manifest, Plugin, PluginError, Rows};

/// The plugin.
pub struct Towns;

const OPERATORS: [&str; 5] = ["邮政", "供销社", "村淘", "快递企业", "其他"];

impl Plugin for Towns {
    fn manifest() -> Manifest {
        Manifest::new(
            "towns",
            env!("CARGO_PKG_VERSION"),
            "Villages and village service stations of the six towns",
        )
        .department("towns", "各镇人民政府", "Town governments")
        .duty(
            Duty::snapshot(
                "villages",
                "admin.villages",
                "行政村名录",
                "Administrative villages",
            )
            .column(Column::text("village_code", "村代码", "village code").required())
            .column(Column::text("village", "行政村", "village").required())
            .column(Column::text("town", "镇", "town").required().one_of(TOWNS))
            .column(Column::boolean(
                "poor_village",
                "是否贫困村",
                "poor village",
            ))
            .unique(["village_code"]),
        )
        .duty(
            Duty::snapshot(
                "stations",
                "logistics.stations",
                "村级电商服务站",
                "Village service stations",
            )
            .column(Column::text("station_id", "服务站编号", "station number").required())
            .column(Column::text("name", "服务站名称", "station name").required())
            .column(Column::text("village_code", "村代码", "village code").required())
            .column(
                Column::text("operator", "运营方", "operator")
                    .required()
                    .one_of(OPERATORS),
            )
            .column(Column::boolean(
                "scheduled_delivery",
                "定时定点配送",
                "scheduled, fixed-place delivery",
            ))
            .column(
                Column::text("status", "状态", "status")
                    .required()
                    .one_of(["运营", "停用"]),
            )
            .column(Column::date("opened_on", "开通日期", "date opened"))
            .unique(["station_id"])
            .references("village_code", "admin.villages", "village_code"),
        )
    }

    fn validate(call: &Call, rows: &Rows, out: &mut Diagnostics) -> Result<(), PluginError> {
        match call.duty() {
            "villages" => {
                village_codes_are_statistical_codes(rows, out)?;
                village_names_unique_within_town(rows, out)
            }
            "stations" => closed_stations_do_not_deliver(rows, out),
            _ => Ok(()),
        }
    }
}

/// Village codes are the 12-digit statistical division codes of the county (441821…);
/// anything else is most likely a typing slip. A warning: the data model only requires
/// a unique, non-empty code.
fn village_codes_are_statistical_codes(
    rows: &Rows,
    out: &mut Diagnostics,
) -> Result<(), PluginError> {
    let codes = rows.text("village_code")?;
    for row in 0..rows.len() {
        if let Some(code) = codes.get(row)
            && (code.len() != 12 || !code.bytes().all(|b| b.is_ascii_digit()))
        {
            out.warning(
                row,
                "village_code",
                code,
                "village-code-format",
                "村代码通常是12位统计区划代码",
                "village codes are usually the 12-digit statistical division code",
            );
        }
    }
    Ok(())
}

/// Two villages of one town with the same name make reports ambiguous.
fn village_names_unique_within_town(rows: &Rows, out: &mut Diagnostics) -> Result<(), PluginError> {
    let (names, towns) = (rows.text("village")?, rows.text("town")?);
    let mut seen = std::collections::HashMap::new();
    for row in 0..rows.len() {
        if let (Some(name), Some(town)) = (names.get(row), towns.get(row))
            && let Some(first) = seen.insert((town, name), row)
        {
            out.error(
                row,
                "village",
                name,
                "village-name-repeated",
                format!("{town}已有同名行政村（第{}条）", first + 1),
                format!(
                    "{town} already has a village of this name (record {})",
                    first + 1
                ),
            );
        }
    }
    Ok(())
}

/// A closed station (停用) cannot be on a delivery schedule: T2 counts only active ones,
/// so the flag is probably stale.
fn closed_stations_do_not_deliver(rows: &Rows, out: &mut Diagnostics) -> Result<(), PluginError> {
    let (status, scheduled) = (rows.text("status")?, rows.boolean("scheduled_delivery")?);
    for row in 0..rows.len() {
        if status.get(row) == Some("停用") && scheduled.get(row) == Some(true) {
            out.warning(
                row,
                "scheduled_delivery",
                "是",
                "closed-station-scheduled",
                "停用的服务站不应有定时定点配送",
                "a closed station should not be on a delivery schedule",
            );
        }
    }
    Ok(())
}

sannong_sdk::export_plugin!(Towns);

#[cfg(test)]
mod tests {
    use sannong_sdk::testing::{errors, rows, validate};

    use super::*;

    #[test]
    fn repeated_village_names_in_a_town_are_errors_and_odd_codes_warnings() {
        let batch = rows::<Towns>(
            "villages",
            &[
                &["441821101001", "新坑村", "石角镇", "否"],
                &["441821101002", "新坑村", "石角镇", "是"],
                &["V3", "新坑村", "汤塘镇", ""],
            ],
        );
        let found = validate::<Towns>("villages", None, &batch).unwrap();
        assert_eq!(
            errors(&found),
            [(Some(1), "village-name-repeated".to_owned())]
        );
        assert!(
            found
                .iter()
                .any(|d| d.rule == "village-code-format" && d.row == Some(2))
        );
    }

    #[test]
    fn closed_stations_on_a_schedule_are_warned() {
        let batch = rows::<Towns>(
            "stations",
            &[
                &[
                    "ST1",
                    "新坑站",
                    "441821101001",
                    "邮政",
                    "是",
                    "停用",
                    "2020-01-01",
                ],
                &["ST2", "联田站", "441821102001", "邮政", "是", "运营", ""],
            ],
        );
        let found = validate::<Towns>("stations", None, &batch).unwrap();
        assert!(errors(&found).is_empty());
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].rule, "closed-station-scheduled");
    }
}
