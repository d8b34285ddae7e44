//! The template's own checks, done by the host on typed rows: required values, allowed
//! values, ranges, and rows outside the upload's period (uniqueness within the file is
//! [`super::unique`]'s).
//!
//! Each check runs a column at a time over Arrow arrays (bounds parsed once); text for
//! messages is made only for the cells that fail.

use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use ahash::RandomState;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Date32Type, Decimal128Type, Float64Type, Int64Type, TimestampSecondType};
use sannong_catalog::Period;

use super::problems::Problem;
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
fn bound_value(array: &dyn Array, row: usize, data_type: ColumnType) -> Option<BoundValue> {
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

/// One side of a column's range, parsed once.
struct Limit<'a> {
    bound: &'a Bound,
    value: BoundValue,
    is_min: bool,
}

impl Limit<'_> {
    fn violated_by(&self, value: BoundValue) -> bool {
        match (self.is_min, self.bound.inclusive) {
            (true, true) => value < self.value,
            (true, false) => value <= self.value,
            (false, true) => value > self.value,
            (false, false) => value >= self.value,
        }
    }

    fn text(&self) -> (String, String) {
        let (zh, en) = match (self.is_min, self.bound.inclusive) {
            (true, true) => ("应不小于", "must be at least"),
            (true, false) => ("应大于", "must be greater than"),
            (false, true) => ("应不大于", "must be at most"),
            (false, false) => ("应小于", "must be less than"),
        };
        (
            format!("{zh} {}", self.bound.value),
            format!("{en} {}", self.bound.value),
        )
    }
}

fn limits(column: &TemplateColumn) -> Vec<Limit<'_>> {
    let Some(range) = &column.range else {
        return Vec::new();
    };
    [(&range.min, true), (&range.max, false)]
        .into_iter()
        .filter_map(|(bound, is_min)| {
            let bound = bound.as_ref()?;
            let value = parse_bound(column.data_type, &bound.value)?;
            Some(Limit {
                bound,
                value,
                is_min,
            })
        })
        .collect()
}

/// Where a batch's rows are in the upload.
struct Part<'a> {
    batch: &'a RecordBatch,
    /// Index of the batch's first row among all rows.
    start: usize,
    /// File row numbers of the batch's rows.
    numbers: &'a [u32],
}

/// Runs every template check but uniqueness within the file ([`super::unique`]) on rows
/// (the upload's, or a part of them); pushes the problems found, row by row.
pub fn check_template(
    duty: &DutySpec,
    rows: &TypedRows,
    period: Option<Period>,
    problems: &mut Vec<Problem>,
) {
    let mut start = 0;
    let parts: Vec<Part> = rows
        .batches
        .iter()
        .map(|batch| {
            let part = Part {
                batch,
                start,
                numbers: &rows.row_numbers[start..start + batch.num_rows()],
            };
            start += batch.num_rows();
            part
        })
        .collect();
    let bad_cells = &rows.bad_cells;
    let parts = &parts;
    let mut checks: Vec<Check> = Vec::new();
    for (c, column) in duty.columns.iter().enumerate() {
        checks.push(Box::new(move |found| {
            check_column(parts, c, column, bad_cells, found)
        }));
    }
    if let (Some(period), Some(key)) = (period, &duty.period_column) {
        checks.push(Box::new(move |found| {
            check_period(duty, parts, key, period, found)
        }));
    }
    let mut found = on_every_core(checks);
    // Row by row (a stable sort), each row's problems in the order of the checks above:
    // columns in the template's order, then the period.
    found.sort_by_key(|p| p.row);
    problems.extend(found);
}

/// One of the template's checks: it pushes the problems it finds.
pub(super) type Check<'a> = Box<dyn FnOnce(&mut Vec<Problem>) + Send + 'a>;

/// Runs `checks` on every core (the threads of the process's pool, which keep their
/// memory from one upload's block to the next) and returns their problems in the
/// checks' order. Threads take the checks from the last, so the keys' checks, the
/// costliest, start first.
pub(super) fn on_every_core(checks: Vec<Check>) -> Vec<Problem> {
    let queue: Vec<Mutex<Option<Check>>> =
        checks.into_iter().map(|c| Mutex::new(Some(c))).collect();
    let left = AtomicUsize::new(queue.len());
    let take = |_: rayon::BroadcastContext| {
        let mut done = Vec::new();
        while let Ok(before) =
            left.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
        {
            let index = before - 1;
            let check = queue[index].lock().ok().and_then(|mut slot| slot.take());
            let mut found = Vec::new();
            if let Some(check) = check {
                check(&mut found);
            }
            done.push((index, found));
        }
        done
    };
    let mut done: Vec<(usize, Vec<Problem>)> =
        rayon::broadcast(take).into_iter().flatten().collect();
    done.sort_by_key(|(index, _)| *index);
    done.into_iter().flat_map(|(_, found)| found).collect()
}

/// One column's required, allowed-value and range checks over every part.
fn check_column(
    parts: &[Part],
    c: usize,
    column: &TemplateColumn,
    bad_cells: &HashSet<(usize, usize)>,
    problems: &mut Vec<Problem>,
) {
    let allowed: HashSet<&str, RandomState> =
        column.allowed_values.iter().map(String::as_str).collect();
    let allowed_text = (
        format!("应为以下之一：{}", column.allowed_values.join("、")),
        format!("must be one of: {}", column.allowed_values.join(", ")),
    );
    let limits = limits(column);
    for part in parts {
        let array = part.batch.column(c);
        let problem = |row: usize, value: Option<&str>, rule: &str, zh: String, en: String| {
            Problem::cell(part.numbers[row], column, value, rule, zh, en)
        };
        if column.required && array.null_count() > 0 {
            // A cell that did not parse is null and already has its problem.
            let required = (0..array.len())
                .filter(|&row| array.is_null(row) && !bad_cells.contains(&(part.start + row, c)))
                .map(|row| {
                    problem(
                        row,
                        None,
                        "required",
                        "必填，不能为空".into(),
                        "required: the cell is empty".into(),
                    )
                });
            problems.extend(required);
        }
        if !allowed.is_empty()
            && let Some(values) = array.as_string_opt::<i32>()
        {
            for (row, value) in values.iter().enumerate() {
                if let Some(value) = value.filter(|v| !allowed.contains(v)) {
                    problems.push(problem(
                        row,
                        Some(value),
                        "not-allowed",
                        allowed_text.0.clone(),
                        allowed_text.1.clone(),
                    ));
                }
            }
        }
        if limits.is_empty() {
            continue;
        }
        for row in 0..array.len() {
            let Some(value) = bound_value(array.as_ref(), row, column.data_type) else {
                continue;
            };
            for limit in limits.iter().filter(|l| l.violated_by(value)) {
                let (zh, en) = limit.text();
                let shown = cell_text(part.batch, c, row);
                problems.push(problem(row, shown.as_deref(), "out-of-range", zh, en));
            }
        }
    }
}

/// Days since 1970-01-01 of the first day of `period`.
fn first_day(period: Period) -> i64 {
    (period.first_day() - chrono::NaiveDate::default()).num_days()
}

/// The rows whose value falls on a day (days since 1970-01-01, as `day_of` tells) outside
/// `days`; empty cells are not outside.
fn rows_outside<T: Copy>(
    values: impl Iterator<Item = Option<T>>,
    day_of: impl Fn(T) -> i64,
    days: &std::ops::Range<i64>,
) -> Vec<usize> {
    values
        .enumerate()
        .filter(|(_, value)| value.is_some_and(|v| !days.contains(&day_of(v))))
        .map(|(row, _)| row)
        .collect()
}

fn check_period(
    duty: &DutySpec,
    parts: &[Part],
    key: &str,
    period: Period,
    problems: &mut Vec<Problem>,
) {
    let Some(c) = duty.columns.iter().position(|col| col.key == key) else {
        return;
    };
    let days = first_day(period)..first_day(period.next());
    for part in parts {
        let array = part.batch.column(c);
        let outside = match duty.columns[c].data_type {
            ColumnType::Date => {
                rows_outside(array.as_primitive::<Date32Type>().iter(), i64::from, &days)
            }
            ColumnType::Timestamp => rows_outside(
                array.as_primitive::<TimestampSecondType>().iter(),
                |second| second.div_euclid(86_400),
                &days,
            ),
            _ => return,
        };
        for row in outside {
            problems.push(Problem::cell(
                part.numbers[row],
                &duty.columns[c],
                cell_text(part.batch, c, row).as_deref(),
                "outside-period",
                format!("不在上报期 {period} 内"),
                format!("outside the period {period} of this upload"),
            ));
        }
    }
}
