//! programme-office: the duties of the programme office (县工商联) — milestone progress
//! (M1–M13) and the premises added to the county e-commerce park (T15).
//! Rules and their reasons: see README.md.

use sannong_sdk::rows::date_text;
use sannong_sdk::{Call, Column, Diagnostics, Duty, Manifest, Plugin, PluginError, Rows};

/// The plugin.
pub struct ProgrammeOffice;

const MILESTONES: [&str; 13] = [
    "M1", "M2", "M3", "M4", "M5", "M6", "M7", "M8", "M9", "M10", "M11", "M12", "M13",
];

impl Plugin for ProgrammeOffice {
    fn manifest() -> Manifest {
        Manifest::new(
            "programme-office",
            env!("CARGO_PKG_VERSION"),
            "Milestone progress and e-commerce park premises",
        )
        .department(
            "programme-office",
            "县工商联",
            "Programme office (federation of industry and commerce)",
        )
        .duty(
            Duty::period(
                "milestones",
                "programme.milestones",
                "里程碑进度",
                "Milestone progress",
            )
            .period_column("reported_on")
            .column(
                Column::text("milestone_id", "里程碑", "milestone (M1…M13)")
                    .required()
                    .one_of(MILESTONES),
            )
            .column(Column::date("reported_on", "填报日期", "date reported").required())
            .column(Column::text("status", "状态", "status").required().one_of([
                "未开始",
                "进行中",
                "已完成",
            ]))
            .column(Column::date("completed_on", "完成日期", "date completed"))
            .column(Column::text("evidence", "佐证材料", "evidence"))
            .unique(["milestone_id"]),
        )
        .duty(
            Duty::snapshot(
                "facilities",
                "programme.facilities",
                "电商园区场所",
                "E-commerce park premises",
            )
            .column(Column::text("facility", "场所", "premises").required())
            .column(
                Column::float("area_m2", "面积(平方米)", "area (m²)")
                    .required()
                    .greater_than("0"),
            )
            .column(Column::date("added_on", "启用日期", "in use since").required())
            .unique(["facility"]),
        )
    }

    fn validate(call: &Call, rows: &Rows, out: &mut Diagnostics) -> Result<(), PluginError> {
        match call.duty() {
            "milestones" => completion_matches_status(rows, out),
            _ => Ok(()),
        }
    }
}

/// 已完成 (completed) needs its completion date, which cannot be after the report that
/// states it; a completion date on an unfinished milestone contradicts its status.
fn completion_matches_status(rows: &Rows, out: &mut Diagnostics) -> Result<(), PluginError> {
    let (status, completed, reported) = (
        rows.text("status")?,
        rows.date("completed_on")?,
        rows.date("reported_on")?,
    );
    for row in 0..rows.len() {
        match (status.get(row), completed.get(row)) {
            (Some("已完成"), None) => out.error(
                row,
                "completed_on",
                "",
                "completed-without-date",
                "状态为已完成时必须填写完成日期",
                "a completed milestone needs its completion date",
            ),
            (Some("已完成"), Some(done)) => {
                if let Some(on) = reported.get(row)
                    && done > on
                {
                    out.error(
                        row,
                        "completed_on",
                        date_text(done),
                        "completed-after-report",
                        format!("完成日期晚于填报日期 {}", date_text(on)),
                        format!("completed after the report date {}", date_text(on)),
                    );
                }
            }
            (Some(other), Some(done)) => out.error(
                row,
                "completed_on",
                date_text(done),
                "date-but-not-completed",
                format!("状态为{other}，不应有完成日期"),
                format!("the status is {other}: there is no completion date"),
            ),
            _ => {}
        }
    }
    Ok(())
}

sannong_sdk::export_plugin!(ProgrammeOffice);

#[cfg(test)]
mod tests {
    use sannong_sdk::testing::{errors, rows, validate};

    use super::*;

    #[test]
    fn completed_milestones_need_a_plausible_date() {
        let batch = rows::<ProgrammeOffice>(
            "milestones",
            &[
                &["M1", "2021-08-31", "已完成", "", "验收报告"],
                &["M2", "2021-06-30", "已完成", "2021-07-02", ""],
                &["M3", "2021-06-30", "进行中", "2021-06-01", ""],
                &["M4", "2021-05-31", "已完成", "2021-05-20", "验收单"],
            ],
        );
        let found = validate::<ProgrammeOffice>("milestones", Some("2021-06"), &batch).unwrap();
        assert_eq!(
            errors(&found),
            [
                (Some(0), "completed-without-date".to_owned()),
                (Some(1), "completed-after-report".to_owned()),
                (Some(2), "date-but-not-completed".to_owned()),
            ]
        );
    }
}
