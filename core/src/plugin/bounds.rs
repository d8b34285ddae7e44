//! Range bounds declared in manifests, parsed in their column's type.
//!
//! Bounds are text (`0`, `0.01`, `2020-07-01`) so that decimals stay exact; this module
//! turns them into comparable values.

use chrono::{NaiveDate, NaiveDateTime};

use super::manifest::ColumnType;

/// A bound parsed in its column's type.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub enum BoundValue {
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// An unscaled decimal at the column's scale.
    Decimal(i128),
    /// Days since 1970-01-01.
    Date(i32),
    /// Seconds since 1970-01-01.
    Timestamp(i64),
}

/// Parses `text` as a value of `data_type`; `None` when it is not one.
pub fn parse_bound(data_type: ColumnType, text: &str) -> Option<BoundValue> {
    let text = text.trim();
    match data_type {
        ColumnType::Int64 => text.parse().ok().map(BoundValue::Int),
        ColumnType::Float64 => text.parse().ok().map(BoundValue::Float),
        ColumnType::Decimal { scale, .. } => parse_decimal(text, scale).map(BoundValue::Decimal),
        ColumnType::Date => NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .ok()
            .map(|d| BoundValue::Date((d - NaiveDate::default()).num_days() as i32)),
        ColumnType::Timestamp => NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S")
            .ok()
            .map(|t| BoundValue::Timestamp(t.and_utc().timestamp())),
        ColumnType::Utf8 | ColumnType::Boolean => None,
    }
}

/// Parses an exact decimal into its unscaled value at `scale`; `None` if it is not a
/// decimal or has more fractional digits than `scale` (no silent rounding).
pub fn parse_decimal(text: &str, scale: i8) -> Option<i128> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    // A byte search: `split_once('.')` confirms each candidate with a `memcmp` call.
    let (whole, fraction) = match memchr::memchr(b'.', digits.as_bytes()) {
        Some(point) => (&digits[..point], &digits[point + 1..]),
        None => (digits, ""),
    };
    if whole.is_empty() && fraction.is_empty() {
        return None;
    }
    if !whole.bytes().all(|b| b.is_ascii_digit()) || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let scale = usize::try_from(scale).ok()?;
    let fraction = fraction.trim_end_matches('0');
    if fraction.len() > scale {
        return None;
    }
    let mut value: i128 = 0;
    for b in whole.bytes().chain(fraction.bytes()) {
        value = value.checked_mul(10)?.checked_add(i128::from(b - b'0'))?;
    }
    value = value.checked_mul(10i128.checked_pow((scale - fraction.len()) as u32)?)?;
    Some(if negative { -value } else { value })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_parse_exactly_or_not_at_all() {
        assert_eq!(parse_decimal("123.45", 2), Some(12345));
        assert_eq!(parse_decimal("-0.5", 2), Some(-50));
        assert_eq!(parse_decimal("7", 2), Some(700));
        assert_eq!(parse_decimal("1.230", 2), Some(123));
        assert_eq!(
            parse_decimal("1.234", 2),
            None,
            "too many decimals is not rounded"
        );
        assert_eq!(parse_decimal("1e5", 2), None);
        assert_eq!(parse_decimal("", 2), None);
        assert_eq!(parse_decimal(".5", 2), Some(50));
    }

    #[test]
    fn bounds_parse_in_their_type() {
        assert_eq!(
            parse_bound(ColumnType::Date, "1970-01-02"),
            Some(BoundValue::Date(1))
        );
        assert_eq!(
            parse_bound(ColumnType::Int64, "0"),
            Some(BoundValue::Int(0))
        );
        assert!(parse_bound(ColumnType::Int64, "zero").is_none());
        assert!(parse_bound(ColumnType::Utf8, "0").is_none());
    }
}
