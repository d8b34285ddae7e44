//! Native test helpers: run a plugin's rules with `cargo test`, no WebAssembly needed.
//!
//! - [`rows`] builds a batch of a duty's template from text cells, as the host would
//!   parse an upload;
//! - [`validate`] and [`transform`] call the plugin like the host does;
//! - [`answer_queries_with`] answers the plugin's [`crate::host::query`] calls;
//! - pseudonyms are a stable stand-in hash (the real ones are keyed by the platform).
//!
//! To run the built component through the real host, see the `sannong` crate's plugin
//! tests and `sannong plugin install`.

use std::cell::RefCell;
use std::sync::Arc;

use arrow_array::builder::{
    BooleanBuilder, Date32Builder, Decimal128Builder, Float64Builder, Int64Builder, StringBuilder,
    TimestampSecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};

use crate::manifest::{DataType, Duty};
use crate::{Call, Diagnostic, Diagnostics, Plugin, PluginError, Rows};

/// Log levels of [`crate::host`] in native builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Debug.
    Debug,
    /// Info.
    Info,
    /// Warning.
    Warn,
}

type QueryHandler = Box<dyn Fn(&str) -> Result<RecordBatch, String>>;

thread_local! {
    static QUERY: RefCell<Option<QueryHandler>> = RefCell::new(None);
    static LOGS: RefCell<Vec<(Level, String)>> = const { RefCell::new(Vec::new()) };
}

/// Answers the plugin's queries on this thread with `handler`.
pub fn answer_queries_with(handler: impl Fn(&str) -> Result<RecordBatch, String> + 'static) {
    QUERY.with(|q| *q.borrow_mut() = Some(Box::new(handler)));
}

pub(crate) fn answer_query(sql: &str) -> Result<Vec<u8>, String> {
    let batch = QUERY.with(|q| match q.borrow().as_ref() {
        Some(handler) => handler(sql),
        None => Err("no query handler in this test: call testing::answer_queries_with".into()),
    })?;
    crate::ipc::encode(&batch).map_err(|e| e.0)
}

pub(crate) fn record_log(level: Level, message: &str) {
    LOGS.with(|l| l.borrow_mut().push((level, message.to_owned())));
}

/// The messages the plugin logged on this thread.
pub fn logs() -> Vec<(Level, String)> {
    LOGS.with(|l| l.borrow().clone())
}

/// A stable stand-in for the platform's keyed pseudonym (FNV-1a, hex).
pub fn test_pseudonym(identifier: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in identifier.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("test-{hash:016x}")
}

fn duty_of<P: Plugin>(duty: &str) -> Duty {
    P::manifest()
        .find_duty(duty)
        .cloned()
        .unwrap_or_else(|| panic!("the plugin has no duty '{duty}'"))
}

/// A batch of `duty`'s template from rows of text cells, in template column order; an
/// empty cell is a null. Cells use the forms of the data model: `2021-03-05`,
/// `2021-03-05 14:03:00`, `123.45`, `是`/`否`.
pub fn rows<P: Plugin>(duty: &str, cells: &[&[&str]]) -> RecordBatch {
    let duty = duty_of::<P>(duty);
    let columns: Vec<ArrayRef> = duty
        .columns
        .iter()
        .enumerate()
        .map(|(i, column)| {
            build(
                column.data_type,
                cells.iter().map(|row| row.get(i).copied().unwrap_or("")),
            )
        })
        .collect();
    RecordBatch::try_new(duty.template_schema(), columns).expect("cells fit the template")
}

fn build<'a>(data_type: DataType, cells: impl Iterator<Item = &'a str>) -> ArrayRef {
    let cells: Vec<Option<&str>> = cells
        .map(|c| (!c.trim().is_empty()).then_some(c.trim()))
        .collect();
    match data_type {
        DataType::Utf8 => {
            let mut b = StringBuilder::new();
            cells.iter().for_each(|c| b.append_option(*c));
            Arc::new(b.finish())
        }
        DataType::Boolean => {
            let mut b = BooleanBuilder::new();
            cells.iter().for_each(|c| {
                b.append_option(c.map(|v| matches!(v, "是" | "Y" | "y" | "true" | "1")))
            });
            Arc::new(b.finish())
        }
        DataType::Int64 => {
            let mut b = Int64Builder::new();
            cells
                .iter()
                .for_each(|c| b.append_option(c.map(|v| v.parse().expect("an integer"))));
            Arc::new(b.finish())
        }
        DataType::Float64 => {
            let mut b = Float64Builder::new();
            cells
                .iter()
                .for_each(|c| b.append_option(c.map(|v| v.parse().expect("a number"))));
            Arc::new(b.finish())
        }
        DataType::Decimal(p, s) => {
            let mut b = Decimal128Builder::new()
                .with_precision_and_scale(p, s)
                .expect("valid decimal type");
            cells
                .iter()
                .for_each(|c| b.append_option(c.map(|v| parse_decimal(v, s))));
            Arc::new(b.finish())
        }
        DataType::Date => {
            let mut b = Date32Builder::new();
            cells
                .iter()
                .for_each(|c| b.append_option(c.map(|v| days(v) as i32)));
            Arc::new(b.finish())
        }
        DataType::Timestamp => {
            let mut b = TimestampSecondBuilder::new();
            cells.iter().for_each(|c| b.append_option(c.map(seconds)));
            Arc::new(b.finish())
        }
    }
}

fn parse_decimal(text: &str, scale: i8) -> i128 {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let negative = whole.starts_with('-');
    let scale = scale.max(0) as usize;
    let fraction = format!("{fraction:0<scale$}");
    let digits = format!("{}{}", whole.trim_start_matches('-'), &fraction[..scale]);
    let value: i128 = digits.parse().expect("a decimal");
    if negative { -value } else { value }
}

fn days(date: &str) -> i64 {
    let parts: Vec<i64> = date
        .split('-')
        .map(|p| p.parse().expect("YYYY-MM-DD"))
        .collect();
    let (y, m, d) = (parts[0], parts[1], parts[2]);
    // Inverse of rows::civil_from_days.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn seconds(text: &str) -> i64 {
    let (date, time) = text.split_once(' ').unwrap_or((text, "00:00:00"));
    let hms: Vec<i64> = time
        .split(':')
        .map(|p| p.parse().expect("HH:MM:SS"))
        .collect();
    days(date) * 86_400
        + hms[0] * 3600
        + hms.get(1).copied().unwrap_or(0) * 60
        + hms.get(2).copied().unwrap_or(0)
}

/// Calls the plugin's `validate` as the host does and returns its diagnostics.
pub fn validate<P: Plugin>(
    duty: &str,
    period: Option<&str>,
    batch: &RecordBatch,
) -> Result<Vec<Diagnostic>, PluginError> {
    let call = Call {
        duty: duty.into(),
        period: period.map(Into::into),
    };
    let mut out = Diagnostics::default();
    P::validate(&call, &Rows::new(batch), &mut out)?;
    Ok(out.into_items())
}

/// Calls the plugin's `transform` as the host does.
pub fn transform<P: Plugin>(
    duty: &str,
    period: Option<&str>,
    batch: RecordBatch,
) -> Result<RecordBatch, PluginError> {
    let call = Call {
        duty: duty.into(),
        period: period.map(Into::into),
    };
    P::transform(&call, batch)
}

/// The rule ids of the errors among `diagnostics`, with their row indexes.
pub fn errors(diagnostics: &[Diagnostic]) -> Vec<(Option<u32>, String)> {
    diagnostics
        .iter()
        .filter(|d| d.severity == crate::Severity::Error)
        .map(|d| (d.row, d.rule.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_numbers_round_trip() {
        for d in ["1970-01-01", "2020-02-29", "2021-03-05", "2021-12-31"] {
            assert_eq!(crate::rows::date_text(days(d) as i32), d);
        }
        assert_eq!(
            crate::rows::timestamp_text(seconds("2021-03-05 14:03:20")),
            "2021-03-05 14:03:20"
        );
        assert_eq!(parse_decimal("-1.5", 2), -150);
    }
}
