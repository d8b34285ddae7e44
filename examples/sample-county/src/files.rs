//! Writing a table the way a department sends it: CSV (UTF-8, UTF-8 with BOM or GBK,
//! comma or tab), XLSX (with real Excel dates and codes stored as text), JSON or NDJSON.

use chrono::{Datelike, NaiveDate, NaiveDateTime, Timelike};
use rust_xlsxwriter::{ExcelDateTime, Format, Workbook};

/// One cell of a generated table.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Nothing.
    Empty,
    /// Text.
    Text(String),
    /// A whole number.
    Int(i64),
    /// A decimal written exactly, e.g. `12.50`.
    Decimal(String),
    /// A floating-point number.
    Float(f64),
    /// Yes or no.
    Bool(bool),
    /// A date.
    Date(NaiveDate),
    /// A date and time.
    DateTime(NaiveDateTime),
}

impl Value {
    fn text(&self) -> String {
        match self {
            Value::Empty => String::new(),
            Value::Text(s) | Value::Decimal(s) => s.clone(),
            Value::Int(i) => i.to_string(),
            Value::Float(f) => format!("{f}"),
            Value::Bool(b) => if *b { "是" } else { "否" }.to_owned(),
            Value::Date(d) => d.format("%Y-%m-%d").to_string(),
            Value::DateTime(t) => t.format("%Y-%m-%d %H:%M:%S").to_string(),
        }
    }
}

/// A table: headers and rows.
#[derive(Debug, Clone, Default)]
pub struct Table {
    /// Column headers (Chinese headers for spreadsheets, keys for JSON).
    pub headers: Vec<String>,
    /// Rows.
    pub rows: Vec<Vec<Value>>,
}

/// How a department writes its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// CSV in UTF-8.
    CsvUtf8,
    /// CSV in UTF-8 with a byte-order mark (Excel's "CSV UTF-8").
    CsvUtf8Bom,
    /// CSV in GBK (Excel's "CSV" on Chinese Windows), with Windows line ends.
    CsvGbk,
    /// Tab-separated UTF-8.
    Tsv,
    /// An Excel workbook.
    Xlsx,
    /// A JSON array of objects.
    Json,
    /// One JSON object per line.
    Ndjson,
}

impl Style {
    /// The file extension.
    pub fn extension(self) -> &'static str {
        match self {
            Style::CsvUtf8 | Style::CsvUtf8Bom | Style::CsvGbk => "csv",
            Style::Tsv => "tsv",
            Style::Xlsx => "xlsx",
            Style::Json => "json",
            Style::Ndjson => "ndjson",
        }
    }
}

/// The table as file bytes in the given style.
pub fn write(table: &Table, style: Style) -> Vec<u8> {
    match style {
        Style::CsvUtf8 => csv(table, b','),
        Style::CsvUtf8Bom => [b"\xEF\xBB\xBF".as_slice(), &csv(table, b',')].concat(),
        Style::Tsv => csv(table, b'\t'),
        Style::CsvGbk => {
            let text = String::from_utf8(csv(table, b','))
                .unwrap_or_default()
                .replace('\n', "\r\n");
            encoding_rs::GBK.encode(&text).0.into_owned()
        }
        Style::Xlsx => xlsx(table),
        Style::Json => serde_json::to_vec_pretty(&objects(table)).unwrap_or_default(),
        Style::Ndjson => objects(table)
            .iter()
            .map(|o| format!("{o}\n"))
            .collect::<String>()
            .into_bytes(),
    }
}

fn csv(table: &Table, delimiter: u8) -> Vec<u8> {
    let mut writer = csv::WriterBuilder::new()
        .delimiter(delimiter)
        .from_writer(Vec::new());
    let _ = writer.write_record(&table.headers);
    for row in &table.rows {
        let _ = writer.write_record(row.iter().map(Value::text));
    }
    writer.into_inner().unwrap_or_default()
}

fn objects(table: &Table) -> Vec<serde_json::Value> {
    use serde_json::{Map, Value as J};
    table
        .rows
        .iter()
        .map(|row| {
            let mut object = Map::new();
            for (header, value) in table.headers.iter().zip(row) {
                let json = match value {
                    Value::Empty => J::Null,
                    Value::Int(i) => J::from(*i),
                    Value::Float(f) => J::from(*f),
                    Value::Bool(b) => J::from(*b),
                    Value::Decimal(s) => s
                        .parse::<serde_json::Number>()
                        .map(J::Number)
                        .unwrap_or(J::Null),
                    other => J::from(other.text()),
                };
                object.insert(header.clone(), json);
            }
            J::Object(object)
        })
        .collect()
}

fn excel_date(date: NaiveDate) -> Option<ExcelDateTime> {
    ExcelDateTime::from_ymd(date.year() as u16, date.month() as u8, date.day() as u8).ok()
}

fn xlsx(table: &Table) -> Vec<u8> {
    let mut workbook = Workbook::new();
    // A fixed creation time, so that the same seed gives the same bytes.
    if let Ok(created) = ExcelDateTime::from_ymd(2021, 1, 1) {
        workbook
            .set_properties(&rust_xlsxwriter::DocProperties::new().set_creation_datetime(&created));
    }
    let sheet = workbook.add_worksheet();
    let _ = sheet.set_name("上报");
    let date_format = Format::new().set_num_format("yyyy-mm-dd");
    let time_format = Format::new().set_num_format("yyyy-mm-dd hh:mm:ss");
    let text_format = Format::new().set_num_format("@");
    for (c, header) in table.headers.iter().enumerate() {
        let _ = sheet.write_string(0, c as u16, header);
    }
    for (r, row) in table.rows.iter().enumerate() {
        let r = r as u32 + 1;
        for (c, value) in row.iter().enumerate() {
            let c = c as u16;
            let _ = match value {
                Value::Empty => Ok(&mut *sheet),
                // Codes and decimals are stored as text, as careful clerks do.
                Value::Text(s) | Value::Decimal(s) => {
                    sheet.write_string_with_format(r, c, s, &text_format)
                }
                Value::Int(i) => sheet.write_number(r, c, *i as f64),
                Value::Float(f) => sheet.write_number(r, c, *f),
                Value::Bool(b) => sheet.write_string(r, c, if *b { "是" } else { "否" }),
                Value::Date(d) => match excel_date(*d) {
                    Some(d) => sheet.write_datetime_with_format(r, c, &d, &date_format),
                    None => sheet.write_string(r, c, value.text()),
                },
                Value::DateTime(t) => match excel_date(t.date()).and_then(|d| {
                    d.and_hms(t.hour() as u16, t.minute() as u8, t.second() as f64)
                        .ok()
                }) {
                    Some(t) => sheet.write_datetime_with_format(r, c, &t, &time_format),
                    None => sheet.write_string(r, c, value.text()),
                },
            };
        }
    }
    workbook.save_to_buffer().unwrap_or_default()
}
