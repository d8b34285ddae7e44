//! hello-plugin: the example integrators copy to serve a new reporting duty.
//!
//! One duty, `market-stalls`: each town reports the stalls of its rural market every
//! month. The template (columns, types, allowed values, ranges, unique key) is declared
//! in the manifest and checked by the platform; the two rules below are the plugin's own.

use sannong_sdk::rows::date_text;
use sannong_sdk::{Call, Column, Diagnostics, Duty, Manifest, Plugin, PluginError, Rows};

/// The plugin.
pub struct Hello;

impl Plugin for Hello {
    fn manifest() -> Manifest {
        Manifest::new(
            "hello",
            env!("CARGO_PKG_VERSION"),
            "Rural market stalls, an example duty",
        )
        .department("towns", "各镇人民政府", "Town governments")
        .duty(
            Duty::period(
                "market-stalls",
                "examples.market_stalls",
                "农村集市摊位",
                "Rural market stalls",
            )
            .period_column("reported_on")
            .column(Column::text("stall_id", "摊位编号", "stall number").required())
            .column(Column::text("town", "镇", "town").required().one_of(TOWNS))
            .column(Column::date("reported_on", "填报日期", "date reported").required())
            .column(Column::date("opened_on", "开业日期", "date opened"))
            .column(
                Column::decimal("rent_yuan", "月租金(元)", "monthly rent (yuan)", 14, 2)
                    .at_least("0"),
            )
            .column(Column::float("area_m2", "面积(平方米)", "area (m²)").greater_than("0"))
            .unique(["stall_id"]),
        )
    }

    fn validate(call: &Call, rows: &Rows, out: &mut Diagnostics) -> Result<(), PluginError> {
        if call.duty() == "market-stalls" {
            opened_before_reported(rows, out)?;
            rent_per_square_metre_is_plausible(rows, out)?;
        }
        Ok(())
    }
}

const TOWNS: [&str; 6] = ["石角镇", "汤塘镇", "龙山镇", "高岗镇", "迳头镇", "水头镇"];

/// A stall cannot have opened after the date of the report that lists it.
fn opened_before_reported(rows: &Rows, out: &mut Diagnostics) -> Result<(), PluginError> {
    let (opened, reported) = (rows.date("opened_on")?, rows.date("reported_on")?);
    for row in 0..rows.len() {
        if let (Some(o), Some(r)) = (opened.get(row), reported.get(row))
            && o > r
        {
            out.error(
                row,
                "opened_on",
                date_text(o),
                "opened-after-report",
                format!("开业日期晚于填报日期 {}", date_text(r)),
                format!("opened after the report date {}", date_text(r)),
            );
        }
    }
    Ok(())
}

/// More than 500 yuan per m² a month is possible but unusual for a village market:
/// accepted with a warning so the town can double-check.
fn rent_per_square_metre_is_plausible(
    rows: &Rows,
    out: &mut Diagnostics,
) -> Result<(), PluginError> {
    let (rent, area) = (rows.decimal("rent_yuan")?, rows.float("area_m2")?);
    for row in 0..rows.len() {
        if let (Some(r), Some(a)) = (rent.get(row), area.get(row))
            && a > 0.0
            && (r as f64 / 100.0) / a > 500.0
        {
            out.warning(
                row,
                "rent_yuan",
                rent.text(row),
                "rent-unusually-high",
                "每平方米月租金超过500元，请核实",
                "rent above 500 yuan per m² a month; please check",
            );
        }
    }
    Ok(())
}

sannong_sdk::export_plugin!(Hello);

#[cfg(test)]
mod tests {
    use sannong_sdk::testing::{errors, rows, validate};

    use super::*;

    #[test]
    fn stalls_opened_after_the_report_are_errors() {
        let batch = rows::<Hello>(
            "market-stalls",
            &[
                &["A1", "石角镇", "2021-03-31", "2021-01-10", "800.00", "20"],
                &["A2", "石角镇", "2021-03-31", "2021-04-02", "800.00", "20"],
            ],
        );
        let found = validate::<Hello>("market-stalls", Some("2021-03"), &batch).unwrap();
        assert_eq!(
            errors(&found),
            [(Some(1), "opened-after-report".to_owned())]
        );
        assert!(found[0].message_en.contains("2021-03-31"));
    }

    #[test]
    fn unusual_rent_is_a_warning_not_an_error() {
        let batch = rows::<Hello>(
            "market-stalls",
            &[&["B1", "龙山镇", "2021-03-31", "", "12000.00", "10"]],
        );
        let found = validate::<Hello>("market-stalls", None, &batch).unwrap();
        assert!(errors(&found).is_empty());
        assert_eq!(found[0].rule, "rent-unusually-high");
        assert_eq!(found[0].value.as_deref(), Some("12000.00"));
    }
}
