//! Typed, read-only access to the rows of a call, by column key.
//!
//! `rows.text("courier")?.get(i)` is `Option<&str>`; decimals are exact integers with the
//! column's scale; dates are days and timestamps seconds since 1970-01-01 (Beijing
//! wall-clock time), with helpers to print them as departments write them.

use arrow_array::cast::AsArray;
use arrow_array::types::{Date32Type, Decimal128Type, Float64Type, Int64Type, TimestampSecondType};
use arrow_array::{Array, BooleanArray, PrimitiveArray, RecordBatch, StringArray};

use crate::PluginError;

/// The rows of one call.
#[derive(Debug, Clone, Copy)]
pub struct Rows<'a> {
    batch: &'a RecordBatch,
}

/// A text column: `get` gives the text or `None` for an empty cell.
#[derive(Debug, Clone, Copy)]
pub struct TextColumn<'a> {
    array: &'a StringArray,
}

impl<'a> TextColumn<'a> {
    /// The text at `row`.
    #[inline]
    pub fn get(&self, row: usize) -> Option<&'a str> {
        self.array.is_valid(row).then(|| self.array.value(row))
    }

    /// The underlying Arrow array.
    #[inline]
    pub fn array(&self) -> &'a StringArray {
        self.array
    }
}

/// A yes/no column: `get` gives the flag or `None` for an empty cell.
#[derive(Debug, Clone, Copy)]
pub struct Flags<'a> {
    array: &'a BooleanArray,
}

impl Flags<'_> {
    /// The flag at `row`.
    #[inline]
    pub fn get(&self, row: usize) -> Option<bool> {
        self.array.is_valid(row).then(|| self.array.value(row))
    }
}

/// A column of exact decimals: `get` gives the unscaled integer.
#[derive(Debug, Clone, Copy)]
pub struct DecimalColumn<'a> {
    array: &'a PrimitiveArray<Decimal128Type>,
    scale: i8,
}

impl DecimalColumn<'_> {
    /// The unscaled value at `row` (123.45 with scale 2 is 12345).
    #[inline]
    pub fn get(&self, row: usize) -> Option<i128> {
        self.array.is_valid(row).then(|| self.array.value(row))
    }

    /// The column's scale.
    #[inline]
    pub fn scale(&self) -> i8 {
        self.scale
    }

    /// The value at `row` as departments write it, e.g. `123.45`.
    pub fn text(&self, row: usize) -> String {
        self.get(row)
            .map(|v| decimal_text(v, self.scale))
            .unwrap_or_default()
    }
}

/// A primitive column: `get` gives the value or `None` for an empty cell.
#[derive(Debug, Clone, Copy)]
pub struct Values<'a, T: arrow_array::ArrowPrimitiveType> {
    array: &'a PrimitiveArray<T>,
}

impl<T: arrow_array::ArrowPrimitiveType> Values<'_, T> {
    /// The value at `row`.
    #[inline]
    pub fn get(&self, row: usize) -> Option<T::Native> {
        self.array.is_valid(row).then(|| self.array.value(row))
    }
}

fn missing(key: &str, kind: &str) -> PluginError {
    PluginError(format!("the rows have no {kind} column '{key}'"))
}

impl<'a> Rows<'a> {
    /// Rows over a batch.
    pub fn new(batch: &'a RecordBatch) -> Self {
        Rows { batch }
    }

    /// Number of rows.
    #[inline]
    pub fn len(&self) -> usize {
        self.batch.num_rows()
    }

    /// Whether there are no rows.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.batch.num_rows() == 0
    }

    /// The underlying Arrow batch.
    pub fn batch(&self) -> &'a RecordBatch {
        self.batch
    }

    fn column(&self, key: &str) -> Option<&'a dyn Array> {
        self.batch.column_by_name(key).map(|c| c.as_ref())
    }

    /// A text column.
    pub fn text(&self, key: &str) -> Result<TextColumn<'a>, PluginError> {
        self.column(key)
            .and_then(|c| c.as_string_opt::<i32>())
            .map(|array| TextColumn { array })
            .ok_or_else(|| missing(key, "text"))
    }

    /// A yes/no column.
    pub fn boolean(&self, key: &str) -> Result<Flags<'a>, PluginError> {
        self.column(key)
            .and_then(|c| c.as_boolean_opt())
            .map(|array| Flags { array })
            .ok_or_else(|| missing(key, "boolean"))
    }

    /// A decimal column.
    pub fn decimal(&self, key: &str) -> Result<DecimalColumn<'a>, PluginError> {
        let array = self
            .column(key)
            .and_then(|c| c.as_primitive_opt::<Decimal128Type>())
            .ok_or_else(|| missing(key, "decimal"))?;
        Ok(DecimalColumn {
            array,
            scale: array.scale(),
        })
    }

    /// A whole-number column.
    pub fn int(&self, key: &str) -> Result<Values<'a, Int64Type>, PluginError> {
        self.primitive(key, "integer")
    }

    /// A floating-point column.
    pub fn float(&self, key: &str) -> Result<Values<'a, Float64Type>, PluginError> {
        self.primitive(key, "float")
    }

    /// A date column (days since 1970-01-01).
    pub fn date(&self, key: &str) -> Result<Values<'a, Date32Type>, PluginError> {
        self.primitive(key, "date")
    }

    /// A timestamp column (seconds since 1970-01-01, Beijing wall-clock time).
    pub fn timestamp(&self, key: &str) -> Result<Values<'a, TimestampSecondType>, PluginError> {
        self.primitive(key, "timestamp")
    }

    fn primitive<T: arrow_array::ArrowPrimitiveType>(
        &self,
        key: &str,
        kind: &str,
    ) -> Result<Values<'a, T>, PluginError> {
        let array = self
            .column(key)
            .and_then(|c| c.as_primitive_opt::<T>())
            .ok_or_else(|| missing(key, kind))?;
        Ok(Values { array })
    }
}

/// An unscaled decimal as text: `decimal_text(12345, 2)` is `123.45`.
pub fn decimal_text(value: i128, scale: i8) -> String {
    if scale <= 0 {
        return (value * 10i128.pow(scale.unsigned_abs() as u32)).to_string();
    }
    let scale = scale as usize;
    let digits = value.unsigned_abs().to_string();
    let padded = format!("{digits:0>width$}", width = scale + 1);
    let (whole, fraction) = padded.split_at(padded.len() - scale);
    format!("{}{whole}.{fraction}", if value < 0 { "-" } else { "" })
}

/// Year, month and day of a day number (days since 1970-01-01).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    // Howard Hinnant's algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// A day number as `YYYY-MM-DD`.
pub fn date_text(days: i32) -> String {
    let (y, m, d) = civil_from_days(i64::from(days));
    format!("{y:04}-{m:02}-{d:02}")
}

/// Seconds since the epoch as `YYYY-MM-DD HH:MM:SS`.
pub fn timestamp_text(seconds: i64) -> String {
    let (y, m, d) = civil_from_days(seconds.div_euclid(86_400));
    let s = seconds.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        s / 3600,
        s % 3600 / 60,
        s % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_print_exactly() {
        assert_eq!(decimal_text(12345, 2), "123.45");
        assert_eq!(decimal_text(-5, 2), "-0.05");
        assert_eq!(decimal_text(7, 0), "7");
    }

    #[test]
    fn days_and_seconds_print_as_calendar_dates() {
        assert_eq!(date_text(0), "1970-01-01");
        assert_eq!(date_text(18_691), "2021-03-05");
        assert_eq!(timestamp_text(1_614_953_000), "2021-03-05 14:03:20");
        assert_eq!(date_text(-1), "1969-12-31");
    }
}
