//! The template's own checks, done by the host on typed rows: required values, allowed
//! values, ranges, uniqueness within the file, and rows outside the upload's period.

use std::collections::HashMap;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Date32Type, Decimal128Type, Float64Type, Int64Type, TimestampSecondType};
use chrono::{DateTime, Datelike, NaiveDate};
use sannong_catalog::Period;

use super::problems::{Problem, shown_value};
use super::typed::TypedRows;
use crate::plugin::bounds::{BoundValue, parse_bound};
use crate::plugin::manifest::{Bound, ColumnType, DutySpec, TemplateColumn};

/// A value of a cell as text, for messages and keys.
pub fn cell_text(batch: &RecordBatch, column: usize, row: usize) -> Option<String> {
    let array = batch.column(column);
    if array.is_null(row) {
        return None;
    }
    arrow::util::display::ArrayFormatter::try_new(array.as_ref(), &crate::output::display_options())
        .ok()
        .map(|f| f.value(row).to_string())
}

/// The value of a numeric, date or time cell, comparable with a bound.
fn bound_value(
    batch: &RecordBatch,
    column: usize,
    row: usize,
    data_type: ColumnType,
) -> Option<BoundValue> {
    let array = batch.column(column);
    if array.is_null(row) {
        return None;
    }
    Some(match data_type {
        ColumnType::Int64 => BoundValue::Int(array.as_primitive::<Int64Type>().value(row)),
        ColumnType::Float64 => BoundValue::Float(array.as_primitive::<Float64Type>().value(row)),
        ColumnType::Decimal { .. } => {
            BoundValue::Decimal(array.as_primitive::<Decimal128Type>().value(row))
        }
        ColumnType::Date => BoundValue::Date(array.as_primitive::<Date32Type>().value(row)),
        ColumnType::Timestamp => {
            BoundValue::Timestamp(array.as_primitive::<TimestampSecondType>().value(row))
        }
        ColumnType::Utf8 | ColumnType::Boolean => return None,
    })
}

fn violates(value: BoundValue, bound: &Bound, data_type: ColumnType, is_min: bool) -> bool {
    let Some(limit) = parse_bound(data_type, &bound.value) else {
        return false;
    };
    match (is_min, bound.inclusive) {
        (true, true) => value < limit,
        (true, false) => value <= limit,
        (false, true) => value > limit,
        (false, false) => value >= limit,
    }
}

fn range_text(bound: &Bound, is_min: bool) -> (String, String) {
    let (zh, en) = match (is_min, bound.inclusive) {
        (true, true) => ("应不小于", "must be at least"),
        (true, false) => ("应大于", "must be greater than"),
        (false, true) => ("应不大于", "must be at most"),
        (false, false) => ("应小于", "must be less than"),
    };
    (
        format!("{zh} {}", bound.value),
        format!("{en} {}", bound.value),
    )
}

/// Runs every template check; pushes the problems found.
pub fn check_template(
    duty: &DutySpec,
    rows: &TypedRows,
    period: Option<Period>,
    problems: &mut Vec<Problem>,
) {
    let mut seen: Vec<HashMap<String, u32>> = vec![HashMap::new(); duty.unique_keys.len()];
    let mut index = 0usize;
    for batch in &rows.batches {
        for row in 0..batch.num_rows() {
            let number = rows.row_numbers[index];
            for (c, column) in duty.columns.iter().enumerate() {
                if rows.bad_cells.contains(&(index, c)) {
                    continue;
                }
                check_cell(batch, row, number, c, column, problems);
            }
            for (k, key) in duty.unique_keys.iter().enumerate() {
                check_unique(
                    duty,
                    batch,
                    row,
                    number,
                    &key.columns,
                    &mut seen[k],
                    problems,
                );
            }
            if let (Some(period), Some(column)) = (period, &duty.period_column) {
                check_period(duty, batch, row, number, column, period, problems);
            }
            index += 1;
        }
    }
}

fn check_cell(
    batch: &RecordBatch,
    row: usize,
    number: u32,
    c: usize,
    column: &TemplateColumn,
    problems: &mut Vec<Problem>,
) {
    if batch.column(c).is_null(row) {
        if column.required {
            problems.push(Problem::cell(
                number,
                column,
                None,
                "required",
                "必填，不能为空",
                "required: the cell is empty",
            ));
        }
        return;
    }
    if !column.allowed_values.is_empty() {
        let value = batch.column(c).as_string::<i32>().value(row);
        if !column.allowed_values.iter().any(|a| a == value) {
            problems.push(Problem::cell(
                number,
                column,
                Some(value),
                "not-allowed",
                format!("应为以下之一：{}", column.allowed_values.join("、")),
                format!("must be one of: {}", column.allowed_values.join(", ")),
            ));
        }
    }
    if let (Some(range), Some(value)) =
        (&column.range, bound_value(batch, c, row, column.data_type))
    {
        for (bound, is_min) in [(&range.min, true), (&range.max, false)] {
            if let Some(bound) = bound
                && violates(value, bound, column.data_type, is_min)
            {
                let (zh, en) = range_text(bound, is_min);
                problems.push(Problem::cell(
                    number,
                    column,
                    cell_text(batch, c, row).as_deref(),
                    "out-of-range",
                    zh,
                    en,
                ));
            }
        }
    }
}

fn check_unique(
    duty: &DutySpec,
    batch: &RecordBatch,
    row: usize,
    number: u32,
    key: &[String],
    seen: &mut HashMap<String, u32>,
    problems: &mut Vec<Problem>,
) {
    let positions: Vec<usize> = key
        .iter()
        .filter_map(|k| duty.columns.iter().position(|c| &c.key == k))
        .collect();
    let values: Option<Vec<String>> = positions
        .iter()
        .map(|&c| cell_text(batch, c, row))
        .collect();
    let Some(values) = values else { return };
    let joined = values.join("\u{1f}");
    let first = *seen.entry(joined).or_insert(number);
    if first != number {
        let column = &duty.columns[positions[0]];
        let personal = positions.iter().any(|&c| duty.columns[c].personal);
        let shown: Vec<String> = values.iter().map(|v| shown_value(v, personal)).collect();
        let mut problem = Problem::cell(
            number,
            column,
            Some(&values.join(" / ")),
            "duplicate-in-file",
            format!("与第{first}行重复（{} 应唯一）", key.join("+")),
            format!(
                "duplicates row {first} ({} must be unique)",
                key.join(" + ")
            ),
        );
        problem.value = Some(shown.join(" / "));
        problems.push(problem);
    }
}

fn check_period(
    duty: &DutySpec,
    batch: &RecordBatch,
    row: usize,
    number: u32,
    key: &str,
    period: Period,
    problems: &mut Vec<Problem>,
) {
    let Some(c) = duty.columns.iter().position(|col| col.key == key) else {
        return;
    };
    let array = batch.column(c);
    if array.is_null(row) {
        return;
    }
    let date = match duty.columns[c].data_type {
        ColumnType::Date => {
            NaiveDate::default()
                + chrono::Duration::days(array.as_primitive::<Date32Type>().value(row).into())
        }
        ColumnType::Timestamp => match DateTime::from_timestamp(
            array.as_primitive::<TimestampSecondType>().value(row),
            0,
        ) {
            Some(t) => t.date_naive(),
            None => return,
        },
        _ => return,
    };
    if date.year() != period.year() || date.month() != period.month() {
        problems.push(Problem::cell(
            number,
            &duty.columns[c],
            cell_text(batch, c, row).as_deref(),
            "outside-period",
            format!("不在上报期 {period} 内"),
            format!("outside the period {period} of this upload"),
        ));
    }
}
