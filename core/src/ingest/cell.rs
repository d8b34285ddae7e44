//! A cell as read from a file, and its parsing into the column's type.
//!
//! Text files give text; XLSX, JSON, Parquet and Arrow give typed cells too (numbers,
//! booleans, Excel dates). Parsing follows the data model's conventions: booleans
//! 是/否, Y/N, true/false, 1/0; dates `2021-03-05`, `2021/3/5`, `2021年3月5日` and Excel
//! serial dates; timestamps with `HH:MM[:SS]`; decimals exactly, with no rounding.
//! A number where text belongs is refused (Excel turns long codes into numbers).

use std::borrow::Cow;

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, Timelike};

use crate::plugin::bounds::parse_decimal;

/// One cell of a file.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// Nothing.
    Empty,
    /// Text (all cells of CSV files).
    Text(String),
    /// A whole number (XLSX, JSON, Parquet).
    Int(i64),
    /// A floating-point number (XLSX, JSON, Parquet).
    Float(f64),
    /// An exact decimal, as text (Parquet, JSON numbers).
    Decimal(String),
    /// A boolean.
    Bool(bool),
    /// A date or time cell of a spreadsheet, as an Excel serial number.
    ExcelSerial(f64),
    /// A date (Parquet, Arrow).
    Date(NaiveDate),
    /// A date and time (Parquet, Arrow).
    DateTime(NaiveDateTime),
}

impl Cell {
    /// The cell as text, for messages.
    pub fn display(&self) -> String {
        match self {
            Cell::Empty => String::new(),
            Cell::Text(s) | Cell::Decimal(s) => s.clone(),
            Cell::Int(i) => i.to_string(),
            Cell::Float(f) => f.to_string(),
            Cell::Bool(b) => b.to_string(),
            Cell::ExcelSerial(f) => excel_datetime(*f)
                .map(|t| {
                    if t.time() == NaiveTime::MIN {
                        t.date().format("%Y-%m-%d").to_string()
                    } else {
                        t.format("%Y-%m-%d %H:%M:%S").to_string()
                    }
                })
                .unwrap_or_else(|| f.to_string()),
            Cell::Date(d) => d.format("%Y-%m-%d").to_string(),
            Cell::DateTime(t) => t.format("%Y-%m-%d %H:%M:%S").to_string(),
        }
    }

    /// Whether the cell holds nothing (or only spaces).
    pub fn is_empty(&self) -> bool {
        match self {
            Cell::Empty => true,
            Cell::Text(s) => trimmed(s).is_empty(),
            _ => false,
        }
    }
}

/// Why a cell does not parse: (Chinese, English) of what was expected.
pub type Expected = (&'static str, &'static str);

const TEXT: Expected = (
    "应为文本，但单元格是数字（Excel 会把长编号变成数字，请把该列设为文本格式）",
    "expected text but the cell is a number (Excel turns long codes into numbers: format the column as text)",
);
const BOOLEAN: Expected = (
    "应为 是/否、Y/N、true/false 或 1/0",
    "expected 是/否, Y/N, true/false or 1/0",
);
const INTEGER: Expected = ("应为整数", "expected a whole number");
const NUMBER: Expected = ("应为数字", "expected a number");
const DATE: Expected = (
    "应为日期，如 2021-03-05、2021/3/5 或 2021年3月5日",
    "expected a date such as 2021-03-05, 2021/3/5 or 2021年3月5日",
);
const TIMESTAMP: Expected = (
    "应为日期时间，如 2021-03-05 14:03:00 或 2021/3/5 14:03",
    "expected a date and time such as 2021-03-05 14:03:00 or 2021/3/5 14:03",
);

/// Text of a text column (trimmed; none if empty).
pub fn text(cell: &Cell) -> Result<Option<Cow<'_, str>>, Expected> {
    match cell {
        Cell::Empty => Ok(None),
        Cell::Text(s) => Ok(Some(Cow::Borrowed(trimmed(s))).filter(|s| !s.is_empty())),
        Cell::Bool(b) => Ok(Some(Cow::Borrowed(if *b { "是" } else { "否" }))),
        Cell::Date(_) | Cell::DateTime(_) | Cell::ExcelSerial(_) => {
            Ok(Some(Cow::Owned(cell.display())))
        }
        Cell::Int(_) | Cell::Float(_) | Cell::Decimal(_) => Err(TEXT),
    }
}

/// A boolean.
pub fn boolean(cell: &Cell) -> Result<Option<bool>, Expected> {
    match cell {
        Cell::Empty => Ok(None),
        Cell::Bool(b) => Ok(Some(*b)),
        Cell::Int(0) => Ok(Some(false)),
        Cell::Int(1) => Ok(Some(true)),
        Cell::Float(f) if *f == 0.0 || *f == 1.0 => Ok(Some(*f == 1.0)),
        Cell::Text(s) => match trimmed(s).to_lowercase().as_str() {
            "" => Ok(None),
            "是" | "y" | "yes" | "true" | "1" => Ok(Some(true)),
            "否" | "n" | "no" | "false" | "0" => Ok(Some(false)),
            _ => Err(BOOLEAN),
        },
        _ => Err(BOOLEAN),
    }
}

/// Strips thousands separators written the usual way (`1,234,567.5`).
fn without_grouping(s: &str) -> Option<Cow<'_, str>> {
    if memchr::memchr(b',', s.as_bytes()).is_none() {
        return Some(Cow::Borrowed(s));
    }
    let (whole, fraction) = s.split_once('.').map_or((s, None), |(w, f)| (w, Some(f)));
    let digits = whole.trim_start_matches(['-', '+']);
    let groups: Vec<&str> = digits.split(',').collect();
    let well_grouped =
        groups[0].len() <= 3 && !groups[0].is_empty() && groups[1..].iter().all(|g| g.len() == 3);
    well_grouped.then(|| {
        let whole = whole.replace(',', "");
        Cow::Owned(match fraction {
            Some(f) => format!("{whole}.{f}"),
            None => whole,
        })
    })
}

/// A whole number.
pub fn integer(cell: &Cell) -> Result<Option<i64>, Expected> {
    match cell {
        Cell::Empty => Ok(None),
        Cell::Int(i) => Ok(Some(*i)),
        Cell::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(Some(*f as i64)),
        Cell::Text(s) if trimmed(s).is_empty() => Ok(None),
        Cell::Text(s) | Cell::Decimal(s) => {
            let s = without_grouping(trimmed(s)).ok_or(INTEGER)?;
            let s = s.strip_suffix(".0").unwrap_or(&s);
            s.parse().map(Some).map_err(|_| INTEGER)
        }
        _ => Err(INTEGER),
    }
}

/// A floating-point number.
pub fn float(cell: &Cell) -> Result<Option<f64>, Expected> {
    let value = match cell {
        Cell::Empty => return Ok(None),
        Cell::Int(i) => *i as f64,
        Cell::Float(f) => *f,
        Cell::Text(s) if trimmed(s).is_empty() => return Ok(None),
        Cell::Text(s) | Cell::Decimal(s) => without_grouping(trimmed(s))
            .ok_or(NUMBER)?
            .parse()
            .map_err(|_| NUMBER)?,
        _ => return Err(NUMBER),
    };
    if value.is_finite() {
        Ok(Some(value))
    } else {
        Err(NUMBER)
    }
}

/// An exact decimal at `scale`: `Err(None)` when it is not a number, `Err(Some(digits))`
/// when it has more than `scale` decimals.
pub fn decimal(cell: &Cell, scale: i8) -> Result<Option<i128>, DecimalError> {
    let text = match cell {
        Cell::Empty => return Ok(None),
        Cell::Int(i) => Cow::Owned(i.to_string()),
        // Rust prints the shortest text that reads back as the same float: what the
        // spreadsheet showed, not its binary approximation.
        Cell::Float(f) if f.is_finite() => Cow::Owned(format!("{f}")),
        Cell::Text(s) if trimmed(s).is_empty() => return Ok(None),
        Cell::Text(s) | Cell::Decimal(s) => {
            without_grouping(trimmed(s)).ok_or(DecimalError::NotANumber)?
        }
        _ => return Err(DecimalError::NotANumber),
    };
    match parse_decimal(&text, scale) {
        Some(v) => Ok(Some(v)),
        None if is_decimal_text(&text) && decimals(&text) > scale.max(0) as usize => {
            Err(DecimalError::TooManyDecimals)
        }
        None => Err(DecimalError::NotANumber),
    }
}

/// Whether text is a plain decimal number: optional sign, digits, optional fraction.
fn is_decimal_text(text: &str) -> bool {
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    !(whole.is_empty() && fraction.is_empty())
        && whole
            .bytes()
            .chain(fraction.bytes())
            .all(|b| b.is_ascii_digit())
}

/// Significant decimals of a plain decimal number (trailing zeros do not count).
fn decimals(text: &str) -> usize {
    text.split_once('.')
        .map_or(0, |(_, f)| f.trim_end_matches('0').len())
}

/// Why a decimal does not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecimalError {
    /// Not a number at all.
    NotANumber,
    /// More decimals than the column's scale (never rounded silently).
    TooManyDecimals,
}

/// Days from 1899-12-30 (Excel's day 0, 1900 date system) to a serial number.
fn excel_datetime(serial: f64) -> Option<NaiveDateTime> {
    if !(1.0..2_958_466.0).contains(&serial) {
        return None;
    }
    let base = NaiveDate::from_ymd_opt(1899, 12, 30)?.and_hms_opt(0, 0, 0)?;
    let seconds = (serial * 86_400.0).round() as i64;
    base.checked_add_signed(Duration::seconds(seconds))
}

/// Parses `y`, `m`, `d` strings into a date.
fn ymd(y: &str, m: &str, d: &str) -> Option<NaiveDate> {
    if y.len() != 4 || m.is_empty() || m.len() > 2 || d.is_empty() || d.len() > 2 {
        return None;
    }
    NaiveDate::from_ymd_opt(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?)
}

/// The parts of `s` between `separator`s, when there are two or three of them.
fn two_or_three_parts(s: &str, separator: char) -> Option<(&str, &str, Option<&str>)> {
    let mut parts = s.split(separator);
    let found = (parts.next()?, parts.next()?, parts.next());
    parts.next().is_none().then_some(found)
}

/// The number written by ASCII digits `digits` (at most 9 of them).
fn digits_value(digits: &[u8]) -> Option<u32> {
    digits.iter().try_fold(0u32, |value, &b| {
        b.is_ascii_digit().then(|| value * 10 + u32::from(b - b'0'))
    })
}

/// `YYYY-MM-DD`, the form programs write: read by position, without splitting.
fn iso_date(s: &[u8]) -> Option<NaiveDate> {
    if s.len() != 10 || s[4] != b'-' || s[7] != b'-' {
        return None;
    }
    NaiveDate::from_ymd_opt(
        i32::try_from(digits_value(&s[..4])?).ok()?,
        digits_value(&s[5..7])?,
        digits_value(&s[8..])?,
    )
}

/// `HH:MM:SS`, the form programs write: read by position, without splitting.
fn iso_time(s: &[u8]) -> Option<NaiveTime> {
    if s.len() != 8 || s[2] != b':' || s[5] != b':' {
        return None;
    }
    NaiveTime::from_hms_opt(
        digits_value(&s[..2])?,
        digits_value(&s[3..5])?,
        digits_value(&s[6..])?,
    )
}

/// `s` without leading and trailing whitespace, as `str::trim` gives it, at once when it
/// begins and ends with a visible ASCII character, as nearly every cell does.
pub fn trimmed(s: &str) -> &str {
    match s.as_bytes() {
        [first, .., last] if first.is_ascii_graphic() && last.is_ascii_graphic() => s,
        [only] if only.is_ascii_graphic() => s,
        _ => s.trim(),
    }
}

/// A date in one of the accepted written forms.
fn written_date(s: &str) -> Option<NaiveDate> {
    let s = trimmed(s);
    if let Some(date) = iso_date(s.as_bytes()) {
        return Some(date);
    }
    if let Some(rest) = s.strip_suffix('日')
        && let Some((y, rest)) = rest.split_once('年')
        && let Some((m, d)) = rest.split_once('月')
    {
        return ymd(trimmed(y), trimmed(m), trimmed(d));
    }
    for separator in ['-', '/', '.'] {
        if let Some((y, m, Some(d))) = two_or_three_parts(s, separator) {
            return ymd(y, m, d);
        }
    }
    if s.len() == 8 && s.bytes().all(|b| b.is_ascii_digit()) {
        return ymd(&s[..4], &s[4..6], &s[6..]);
    }
    None
}

/// A time `HH:MM` or `HH:MM:SS`.
fn written_time(s: &str) -> Option<NaiveTime> {
    let s = trimmed(s);
    if let Some(time) = iso_time(s.as_bytes()) {
        return Some(time);
    }
    let number = |p: &str| {
        (p.len() <= 2 && !p.is_empty())
            .then(|| p.parse::<u32>().ok())
            .flatten()
    };
    let (h, m, s) = two_or_three_parts(s, ':')?;
    NaiveTime::from_hms_opt(number(h)?, number(m)?, s.map_or(Some(0), number)?)
}

/// A serial number written as text (e.g. a CSV exported from an unformatted sheet).
fn serial_text(s: &str) -> Option<f64> {
    let s = trimmed(s);
    let digits = s.split_once('.').map_or(s, |(w, _)| w);
    (!digits.is_empty() && digits.len() <= 7 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

/// A date.
pub fn date(cell: &Cell) -> Result<Option<NaiveDate>, Expected> {
    match cell {
        Cell::Empty => Ok(None),
        Cell::Date(d) => Ok(Some(*d)),
        Cell::DateTime(t) if t.time() == NaiveTime::MIN => Ok(Some(t.date())),
        Cell::ExcelSerial(f) | Cell::Float(f) => excel_datetime(*f)
            .filter(|t| t.time() == NaiveTime::MIN)
            .map(|t| Some(t.date()))
            .ok_or(DATE),
        Cell::Int(i) => excel_datetime(*i as f64)
            .map(|t| Some(t.date()))
            .ok_or(DATE),
        Cell::Text(s) if trimmed(s).is_empty() => Ok(None),
        Cell::Text(s) => written_date(s)
            .or_else(|| {
                serial_text(s)
                    .and_then(excel_datetime)
                    .filter(|t| t.time() == NaiveTime::MIN)
                    .map(|t| t.date())
            })
            .map(Some)
            .ok_or(DATE),
        _ => Err(DATE),
    }
}

/// A date and time, to the second.
pub fn timestamp(cell: &Cell) -> Result<Option<NaiveDateTime>, Expected> {
    let value = match cell {
        Cell::Empty => return Ok(None),
        Cell::DateTime(t) => *t,
        Cell::ExcelSerial(f) | Cell::Float(f) => excel_datetime(*f).ok_or(TIMESTAMP)?,
        Cell::Text(s) if trimmed(s).is_empty() => return Ok(None),
        Cell::Text(s) => {
            let s = trimmed(s);
            let bytes = s.as_bytes();
            let split = memchr::memchr(b' ', bytes)
                .or_else(|| memchr::memchr(b'T', bytes))
                .map(|at| (&s[..at], &s[at + 1..]));
            match split {
                Some((d, t)) => written_date(d)
                    .zip(written_time(t))
                    .map(|(d, t)| d.and_time(t)),
                None => serial_text(s)
                    .filter(|f| f.fract() != 0.0)
                    .and_then(excel_datetime),
            }
            .ok_or(TIMESTAMP)?
        }
        _ => return Err(TIMESTAMP),
    };
    Ok(Some(value.with_nanosecond(0).unwrap_or(value)))
}

/// Days since 1970-01-01, as Arrow's Date32 stores them.
pub fn days_since_epoch(date: NaiveDate) -> i32 {
    date.num_days_from_ce() - 719_163
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Cell {
        Cell::Text(s.into())
    }

    #[test]
    fn dates_in_every_accepted_form() {
        let expected = NaiveDate::from_ymd_opt(2021, 3, 5);
        for form in [
            "2021-03-05",
            "2021/3/5",
            "2021年3月5日",
            "2021.03.05",
            "20210305",
            "2021-3-5",
            "44260",
        ] {
            assert_eq!(date(&t(form)).unwrap(), expected, "{form}");
        }
        assert_eq!(date(&Cell::ExcelSerial(44260.0)).unwrap(), expected);
        for bad in [
            "2021-13-45",
            "2021-02-30",
            "05/03/2021",
            "yesterday",
            "21-3-5",
        ] {
            assert!(date(&t(bad)).is_err(), "{bad}");
        }
        assert_eq!(
            days_since_epoch(NaiveDate::from_ymd_opt(1970, 1, 2).unwrap()),
            1
        );
    }

    #[test]
    fn trimmed_is_trim() {
        for s in [
            "",
            " ",
            "a",
            " a",
            "a ",
            "ab",
            "\u{3000}城关镇\u{3000}",
            "城关镇",
            "a\u{3000}",
            "\t1\t",
            "1,2",
            "\u{a0}x",
            "x\u{a0}",
        ] {
            assert_eq!(trimmed(s), s.trim(), "{s:?}");
        }
    }

    #[test]
    fn timestamps_in_every_accepted_form() {
        let expected = NaiveDate::from_ymd_opt(2021, 3, 5)
            .unwrap()
            .and_hms_opt(14, 3, 0);
        for form in [
            "2021-03-05 14:03:00",
            "2021/3/5 14:03",
            "2021-03-05T14:03:00",
            "2021年3月5日 14:03",
            " 2021-03-05 14:03:00 ",
            "2021-3-5 14:3:0",
        ] {
            assert_eq!(timestamp(&t(form)).unwrap(), expected, "{form}");
        }
        assert_eq!(
            timestamp(&Cell::ExcelSerial(44260.0 + (14.0 * 60.0 + 3.0) / 1440.0)).unwrap(),
            expected
        );
        assert!(
            timestamp(&t("2021-03-05")).is_err(),
            "a date alone is not a time"
        );
        for bad in [
            "2021-03-05 25:00",
            "2021-02-30 14:03:00",
            "2021-03-05 14:60:00",
            "2021-03-05 14:03:60",
            "2021-03-0x 14:03:00",
        ] {
            assert!(timestamp(&t(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn decimals_are_exact_and_never_rounded() {
        assert_eq!(decimal(&t("12.50"), 2), Ok(Some(1250)));
        assert_eq!(decimal(&t("1,234.5"), 2), Ok(Some(123_450)));
        assert_eq!(decimal(&Cell::Float(0.1), 2), Ok(Some(10)));
        assert_eq!(decimal(&t("12.505"), 2), Err(DecimalError::TooManyDecimals));
        assert_eq!(decimal(&t("-8.005"), 2), Err(DecimalError::TooManyDecimals));
        assert_eq!(decimal(&t("12,50"), 2), Err(DecimalError::NotANumber));
        assert_eq!(decimal(&t("abc"), 2), Err(DecimalError::NotANumber));
    }

    #[test]
    fn booleans_integers_and_text() {
        for (s, b) in [
            ("是", true),
            ("否", false),
            ("Y", true),
            ("n", false),
            ("TRUE", true),
            ("0", false),
        ] {
            assert_eq!(boolean(&t(s)).unwrap(), Some(b), "{s}");
        }
        assert!(boolean(&t("maybe")).is_err());
        assert_eq!(integer(&t("1,234")).unwrap(), Some(1234));
        assert_eq!(integer(&Cell::Float(12.0)).unwrap(), Some(12));
        assert!(integer(&t("12.5")).is_err());
        assert_eq!(text(&t("  石角镇 ")).unwrap().as_deref(), Some("石角镇"));
        assert!(
            text(&Cell::Float(441821101001.0)).is_err(),
            "a number where text belongs"
        );
        assert!(float(&t("NaN")).is_err());
    }
}
