//! market: the duty of the market supervision bureau (县市监局) — results of the
//! quick food-safety test centre (T14). Rules and their reasons: see README.md.

use sannong_sdk::checks::not_before;
use sannong_sdk::{Call, Column, Diagnostics, Duty, Manifest, Plugin, PluginError, Rows};

/// The plugin.
pub struct Market;

impl Plugin for Market {
    fn manifest() -> Manifest {
        Manifest::new(
            "market",
            env!("CARGO_PKG_VERSION"),
            "Quick food-safety tests of agricultural products",
        )
        .department("market", "县市监局", "Market supervision bureau")
        .duty(
            Duty::period("quick-tests", "quality.tests", "农产品快检", "Quick tests")
                .period_column("received_at")
                .column(Column::text("sample_id", "样品编号", "sample number").required())
                .column(Column::text("product", "产品", "product").required())
                .column(Column::text("test", "检测项目", "test").required().one_of([
                    "农药残留",
                    "糖度",
                    "其他",
                ]))
                .column(Column::timestamp("received_at", "收样时间", "sample received").required())
                .column(Column::timestamp("result_at", "出结果时间", "result given"))
                .column(Column::boolean("passed", "是否合格", "passed"))
                .unique_across_periods(["sample_id"]),
        )
    }

    fn validate(call: &Call, rows: &Rows, out: &mut Diagnostics) -> Result<(), PluginError> {
        if call.duty() != "quick-tests" {
            return Ok(());
        }
        not_before(
            rows,
            ("result_at", "出结果时间"),
            ("received_at", "收样时间"),
            "result-before-received",
            out,
        )?;
        verdict_needs_result(rows, out)
    }
}

/// A pass/fail verdict without a result time cannot be right: T14 measures the time to
/// the result. A result still pending (no time, no verdict) is fine.
fn verdict_needs_result(rows: &Rows, out: &mut Diagnostics) -> Result<(), PluginError> {
    let (result, passed) = (rows.timestamp("result_at")?, rows.boolean("passed")?);
    for row in 0..rows.len() {
        if result.get(row).is_none()
            && let Some(verdict) = passed.get(row)
        {
            out.error(
                row,
                "passed",
                if verdict { "是" } else { "否" },
                "verdict-without-result",
                "有检测结论但没有出结果时间",
                "a verdict without a result time",
            );
        }
    }
    Ok(())
}

sannong_sdk::export_plugin!(Market);

#[cfg(test)]
mod tests {
    use sannong_sdk::testing::{errors, rows, validate};

    use super::*;

    #[test]
    fn results_follow_samples_and_verdicts_need_results() {
        let batch = rows::<Market>(
            "quick-tests",
            &[
                &[
                    "Q1",
                    "荔枝",
                    "农药残留",
                    "2021-06-01 09:00:00",
                    "2021-06-01 08:00:00",
                    "是",
                ],
                &["Q2", "龙眼", "糖度", "2021-06-01 09:00:00", "", "否"],
                &["Q3", "青梅", "其他", "2021-06-01 09:00:00", "", ""],
            ],
        );
        let found = validate::<Market>("quick-tests", Some("2021-06"), &batch).unwrap();
        assert_eq!(
            errors(&found),
            [
                (Some(0), "result-before-received".to_owned()),
                (Some(1), "verdict-without-result".to_owned())
            ]
        );
    }
}
