//! finance: the duties of the finance bureau (县财政局) — the special fund's budget
//! and its disbursements (专款专账专用).
//!
//! A disbursement that takes its budget item over budget is accepted with a warning and
//! stored with `over_budget = true`, so the audit bureau finds it with SQL
//! (`SELECT * FROM finance.disbursements WHERE over_budget`). Rules: see README.md.

use std::collections::HashMap;
use std::sync::Arc;

use sannong_sdk::arrow_array::{ArrayRef, BooleanArray, RecordBatch};
use sannong_sdk::rows::decimal_text;
use sannong_sdk::{
    Call, Column, DataType, Diagnostics, Duty, Manifest, Plugin, PluginError, Rows, StoredColumn,
    host,
};

/// The plugin.
pub struct Finance;

fn disbursement_columns() -> Vec<Column> {
    vec![
        Column::text("voucher_no", "凭证号", "voucher number").required(),
        Column::date("paid_on", "支付日期", "date paid").required(),
        Column::text("budget_item", "预算科目", "budget item").required(),
        Column::text("payee", "收款单位", "payee").required(),
        Column::decimal("amount_yuan", "金额(元)", "amount (yuan)", 14, 2)
            .required()
            .greater_than("0"),
        Column::text("purpose", "用途", "purpose"),
    ]
}

impl Plugin for Finance {
    fn manifest() -> Manifest {
        let mut stored: Vec<StoredColumn> = disbursement_columns()
            .iter()
            .map(|c| StoredColumn {
                name: c.key.clone(),
                data_type: c.data_type,
                nullable: !c.required,
            })
            .collect();
        stored.push(StoredColumn {
            name: "over_budget".into(),
            data_type: DataType::Boolean,
            nullable: false,
        });
        let disbursements = disbursement_columns().into_iter().fold(
            Duty::period(
                "disbursements",
                "finance.disbursements",
                "专项资金支付",
                "Disbursements",
            )
            .period_column("paid_on"),
            Duty::column,
        );
        Manifest::new(
            "finance",
            env!("CARGO_PKG_VERSION"),
            "Special-fund budget and disbursements",
        )
        .department("finance", "县财政局", "Finance bureau")
        .duty(
            Duty::snapshot(
                "budget",
                "finance.budget",
                "专项资金预算",
                "Special-fund budget",
            )
            .column(Column::text("budget_item", "预算科目", "budget item").required())
            .column(
                Column::text("system", "所属体系", "system")
                    .required()
                    .one_of(["物流", "农产品进城", "工业品下乡", "培训", "其他"]),
            )
            .column(
                Column::text("source", "资金来源", "source of funds")
                    .required()
                    .one_of(["中央", "县级"]),
            )
            .column(
                Column::decimal("amount_yuan", "预算金额(元)", "budget (yuan)", 14, 2)
                    .required()
                    .at_least("0"),
            )
            .unique(["budget_item"]),
        )
        .duty(
            disbursements
                .unique_across_periods(["voucher_no"])
                .references("budget_item", "finance.budget", "budget_item")
                .stores(stored),
        )
    }

    fn validate(call: &Call, rows: &Rows, out: &mut Diagnostics) -> Result<(), PluginError> {
        if call.duty() != "disbursements" {
            return Ok(());
        }
        for (row, item, total, budget) in over_budget(call, rows)? {
            out.warning(
                row,
                "amount_yuan",
                rows.decimal("amount_yuan")?.text(row),
                "over-budget",
                format!("预算科目“{item}”累计支付 {} 元，超出预算 {} 元（已接收并标记供审计）", decimal_text(total, 2), decimal_text(budget, 2)),
                format!("budget item '{item}' reaches {} yuan paid, over its budget of {} yuan (accepted and flagged for audit)", decimal_text(total, 2), decimal_text(budget, 2)),
            );
        }
        Ok(())
    }

    fn transform(call: &Call, batch: RecordBatch) -> Result<RecordBatch, PluginError> {
        if call.duty() != "disbursements" {
            return Ok(batch);
        }
        let rows = Rows::new(&batch);
        let flagged: std::collections::HashSet<usize> = over_budget(call, &rows)?
            .into_iter()
            .map(|(row, ..)| row)
            .collect();
        let flags: ArrayRef = Arc::new(BooleanArray::from_iter(
            (0..rows.len()).map(|i| Some(flagged.contains(&i))),
        ));
        let schema = Finance::manifest()
            .find_duty("disbursements")
            .map(|d| d.stored_schema())
            .ok_or("no disbursements duty")?;
        let mut columns = batch.columns().to_vec();
        columns.push(flags);
        RecordBatch::try_new(schema, columns).map_err(|e| PluginError(e.to_string()))
    }
}

/// Sums per budget item of a query's rows, in fen (scale 2).
fn sums(sql: &str) -> Result<HashMap<String, i128>, PluginError> {
    let batch = host::query(sql)?;
    let rows = Rows::new(&batch);
    let (items, amounts) = (rows.text("budget_item")?, rows.decimal("amount")?);
    let scale = i32::from(amounts.scale()) - 2;
    let to_fen = |v: i128| {
        if scale >= 0 {
            v / 10i128.pow(scale as u32)
        } else {
            v * 10i128.pow((-scale) as u32)
        }
    };
    Ok((0..rows.len())
        .filter_map(|i| Some((items.get(i)?.to_owned(), to_fen(amounts.get(i)?))))
        .collect())
}

fn table_exists(table: &str) -> Result<bool, PluginError> {
    let batch = host::query(&format!(
        "SELECT table_name FROM sys.tables WHERE table_name = '{table}'"
    ))?;
    Ok(batch.num_rows() > 0)
}

/// Rows taking their budget item over budget, counting earlier periods' disbursements
/// and this upload's in date order: (row, item, total paid, budget).
fn over_budget(call: &Call, rows: &Rows) -> Result<Vec<(usize, String, i128, i128)>, PluginError> {
    if !table_exists("finance.budget")? {
        return Ok(Vec::new());
    }
    let budget = sums(
        "SELECT budget_item, CAST(amount_yuan AS DECIMAL(20,2)) AS amount FROM finance.budget",
    )?;
    let mut paid = if table_exists("finance.disbursements")? {
        let period = call.period.clone().unwrap_or_default();
        sums(&format!(
            "SELECT budget_item, CAST(sum(amount_yuan) AS DECIMAL(20,2)) AS amount FROM finance.disbursements WHERE _period <> '{}' GROUP BY budget_item",
            period.replace('\'', "")
        ))?
    } else {
        HashMap::new()
    };
    let (items, amounts, dates) = (
        rows.text("budget_item")?,
        rows.decimal("amount_yuan")?,
        rows.date("paid_on")?,
    );
    let mut order: Vec<usize> = (0..rows.len()).collect();
    order.sort_by_key(|&i| dates.get(i));
    let mut found = Vec::new();
    for row in order {
        let (Some(item), Some(amount)) = (items.get(row), amounts.get(row)) else {
            continue;
        };
        let total = paid.entry(item.to_owned()).or_insert(0);
        *total += amount;
        if let Some(&limit) = budget.get(item)
            && *total > limit
        {
            found.push((row, item.to_owned(), *total, limit));
        }
    }
    found.sort();
    Ok(found)
}

sannong_sdk::export_plugin!(Finance);

#[cfg(test)]
mod tests {
    use sannong_sdk::arrow_array::{Decimal128Array, StringArray};
    use sannong_sdk::arrow_schema::{DataType as Arrow, Field, Schema};
    use sannong_sdk::testing::{answer_queries_with, errors, rows, transform, validate};

    use super::*;

    fn committed() {
        answer_queries_with(|sql| {
            if sql.contains("sys.tables") {
                let schema = Arc::new(Schema::new(vec![Field::new(
                    "table_name",
                    Arrow::Utf8,
                    true,
                )]));
                return Ok(RecordBatch::try_new(
                    schema,
                    vec![Arc::new(StringArray::from(vec!["x"]))],
                )
                .unwrap());
            }
            let schema = Arc::new(Schema::new(vec![
                Field::new("budget_item", Arrow::Utf8, true),
                Field::new("amount", Arrow::Decimal128(20, 2), true),
            ]));
            let amount = if sql.contains("finance.budget") {
                100_000
            } else {
                60_000
            };
            Ok(RecordBatch::try_new(
                schema,
                vec![
                    Arc::new(StringArray::from(vec!["物流体系"])),
                    Arc::new(
                        Decimal128Array::from(vec![amount])
                            .with_precision_and_scale(20, 2)
                            .unwrap(),
                    ),
                ],
            )
            .unwrap())
        });
    }

    #[test]
    fn going_over_budget_is_a_warning_and_a_flag() {
        committed();
        let batch = rows::<Finance>(
            "disbursements",
            &[
                &["V1", "2021-03-02", "物流体系", "邮政", "300.00", "车辆"],
                &["V2", "2021-03-05", "物流体系", "邮政", "200.00", "仓储"],
            ],
        );
        let found = validate::<Finance>("disbursements", Some("2021-03"), &batch).unwrap();
        assert!(errors(&found).is_empty());
        assert_eq!(found.len(), 1);
        assert_eq!(
            (found[0].row, found[0].rule.as_str()),
            (Some(1), "over-budget")
        );
        let stored = transform::<Finance>("disbursements", Some("2021-03"), batch).unwrap();
        let flags = Rows::new(&stored).boolean("over_budget").unwrap();
        assert_eq!((flags.get(0), flags.get(1)), (Some(false), Some(true)));
    }
}
