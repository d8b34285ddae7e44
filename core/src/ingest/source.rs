//! Reading an uploaded file into a header and rows of [`Cell`]s, whatever its format.
//!
//! Formats: CSV (comma or tab, quoted fields, CRLF; UTF-8 or GBK), XLSX (first sheet or
//! a named one; with a cap on the unpacked size against zip bombs), JSON (an array of
//! objects, or NDJSON), Parquet and Arrow IPC. Rows are numbered as the department sees
//! them: the header is row 1. A file that cannot be read as a whole (truncated, ragged,
//! binary, a cell of megabytes) is refused with one problem naming where.

use std::borrow::Cow;
use std::io::Cursor;

use arrow::array::{Array, RecordBatch};
use calamine::{Data, Reader, Xlsx};
use chrono::{DateTime, NaiveDate};
use clap::ValueEnum;

use super::cell::{Cell, trimmed};
use super::problems::Problem;
use super::text::{Encoding, UTF8_BOM, decode, decode_pieces, looks_binary};

/// The format of an uploaded file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FileFormat {
    /// Comma- or tab-separated text.
    Csv,
    /// Excel workbook.
    Xlsx,
    /// A JSON array of objects.
    Json,
    /// One JSON object per line.
    Ndjson,
    /// Apache Parquet.
    Parquet,
    /// Arrow IPC (file or stream).
    Arrow,
}

impl FileFormat {
    /// The format from the file name's extension, else from its first bytes.
    pub fn detect(file_name: &str, bytes: &[u8]) -> FileFormat {
        let extension = file_name
            .rsplit_once('.')
            .map(|(_, e)| e.to_ascii_lowercase());
        match extension.as_deref() {
            Some("csv" | "tsv" | "txt") => return FileFormat::Csv,
            Some("xlsx" | "xlsm") => return FileFormat::Xlsx,
            Some("json") => return FileFormat::Json,
            Some("ndjson" | "jsonl") => return FileFormat::Ndjson,
            Some("parquet") => return FileFormat::Parquet,
            Some("arrow" | "ipc" | "feather" | "arrows") => return FileFormat::Arrow,
            _ => {}
        }
        let start = bytes
            .iter()
            .skip_while(|b| b.is_ascii_whitespace())
            .copied()
            .next();
        if bytes.starts_with(b"PK\x03\x04") {
            FileFormat::Xlsx
        } else if bytes.starts_with(b"PAR1") {
            FileFormat::Parquet
        } else if bytes.starts_with(b"ARROW1") || bytes.starts_with(b"\xff\xff\xff\xff") {
            FileFormat::Arrow
        } else if start == Some(b'[') {
            FileFormat::Json
        } else if start == Some(b'{') {
            FileFormat::Ndjson
        } else {
            FileFormat::Csv
        }
    }
}

/// How to read a file, and the limits that protect the platform from it.
#[derive(Debug, Clone)]
pub struct ReadOptions {
    /// The format (detected when not given).
    pub format: Option<FileFormat>,
    /// The text encoding of CSV files.
    pub encoding: Encoding,
    /// The XLSX sheet (the first when not given).
    pub sheet: Option<String>,
    /// Longest cell accepted, in bytes.
    pub max_cell_bytes: usize,
    /// Largest unpacked size of an XLSX file, in bytes.
    pub max_unpacked_bytes: u64,
    /// Most data rows accepted in one file.
    pub max_rows: usize,
    /// How much of a large CSV file is read, checked and written at a time: what the
    /// upload's memory grows with, whatever the file's size.
    pub block_bytes: usize,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            format: None,
            encoding: Encoding::Auto,
            sheet: None,
            max_cell_bytes: 32 * 1024,
            max_unpacked_bytes: 1 << 30,
            max_rows: 10_000_000,
            block_bytes: 32 << 20,
        }
    }
}

/// One row of a file.
#[derive(Debug, Clone, PartialEq)]
pub struct RawRow {
    /// Row number as the department sees it (header = 1).
    pub number: u32,
    /// Cells, aligned with the header.
    pub cells: Vec<Cell>,
}

/// A file as header and rows.
pub struct SourceTable<'a> {
    /// The header cells, as written.
    pub header: Vec<String>,
    /// The rows; a row that cannot be read ends the file with a problem.
    pub rows: Box<dyn Iterator<Item = Result<RawRow, Problem>> + 'a>,
}

fn cell_too_long(row: u32, column: usize, bytes: usize, limit: usize) -> Problem {
    Problem::file(
        "cell-too-long",
        format!(
            "第{row}行第{}列的单元格有 {} 字节，超过上限 {} 字节",
            column + 1,
            bytes,
            limit
        ),
        format!(
            "the cell in row {row}, column {} has {bytes} bytes, more than the limit of {limit}",
            column + 1
        ),
    )
}

/// Refuses a row with a cell longer than `limit` bytes.
pub fn check_cells(row: &RawRow, limit: usize) -> Result<(), Problem> {
    for (i, cell) in row.cells.iter().enumerate() {
        if let Cell::Text(s) = cell
            && s.len() > limit
        {
            return Err(cell_too_long(row.number, i, s.len(), limit));
        }
    }
    Ok(())
}

/// Opens a file's rows.
pub fn read<'a>(
    file_name: &str,
    bytes: &'a [u8],
    options: &ReadOptions,
) -> Result<SourceTable<'a>, Problem> {
    if bytes.is_empty() {
        return Err(Problem::file(
            "empty-file",
            "文件是空的",
            "the file is empty",
        ));
    }
    let format = options
        .format
        .unwrap_or_else(|| FileFormat::detect(file_name, bytes));
    let table = match format {
        FileFormat::Csv => csv_table(bytes, options)?,
        FileFormat::Xlsx => xlsx_table(bytes, options)?,
        FileFormat::Json => json_table(bytes, false)?,
        FileFormat::Ndjson => json_table(bytes, true)?,
        FileFormat::Parquet => arrow_table(parquet_batches(bytes)?)?,
        FileFormat::Arrow => arrow_table(ipc_batches(bytes)?)?,
    };
    let limit = options.max_cell_bytes;
    if let Some((i, h)) = table
        .header
        .iter()
        .enumerate()
        .find(|(_, h)| h.len() > limit)
    {
        return Err(cell_too_long(1, i, h.len(), limit));
    }
    Ok(SourceTable {
        header: table.header,
        rows: Box::new(table.rows.map(move |row| {
            let row = row?;
            check_cells(&row, limit)?;
            Ok(row)
        })),
    })
}

/// The field delimiter of a CSV text: a tab when its first line has more tabs than commas.
fn csv_delimiter(text: &str) -> u8 {
    let first_line = text.lines().next().unwrap_or_default();
    if first_line.matches('\t').count() > first_line.matches(',').count() {
        b'\t'
    } else {
        b','
    }
}

fn csv_reader<R: std::io::Read>(data: R, delimiter: u8, flexible: bool) -> csv::Reader<R> {
    csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(flexible)
        .from_reader(data)
}

/// The rows of CSV records as [`RawRow`]s: numbered on from a given row, rows whose cells
/// are all empty skipped (but counted).
pub struct CsvRows<R> {
    records: csv::StringRecordsIntoIter<R>,
    number: u32,
}

impl<R: std::io::Read> CsvRows<R> {
    /// Records read so far (skipped ones included).
    pub fn records_read(&self) -> u32 {
        self.number
    }
}

impl<R: std::io::Read> Iterator for CsvRows<R> {
    type Item = Result<RawRow, Problem>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let record = self.records.next()?;
            self.number += 1;
            let number = self.number + 1;
            return match record {
                Ok(record) if record.iter().all(|f| f.trim().is_empty()) => continue,
                Ok(record) => Some(Ok(RawRow {
                    number,
                    cells: record.iter().map(|f| Cell::Text(f.to_owned())).collect(),
                })),
                Err(e) => Some(Err(csv_problem(&e, number))),
            };
        }
    }
}

fn csv_table<'a>(bytes: &'a [u8], options: &ReadOptions) -> Result<SourceTable<'a>, Problem> {
    let text = decode(bytes, options.encoding)?;
    let delimiter = csv_delimiter(&text);
    let data: std::borrow::Cow<'a, [u8]> = match text {
        std::borrow::Cow::Borrowed(s) => std::borrow::Cow::Borrowed(s.as_bytes()),
        std::borrow::Cow::Owned(s) => std::borrow::Cow::Owned(s.into_bytes()),
    };
    let mut records = csv_reader(Cursor::new(data), delimiter, false).into_records();
    let header = match records.next() {
        Some(Ok(record)) => record.iter().map(str::to_owned).collect(),
        Some(Err(e)) => return Err(csv_problem(&e, 1)),
        None => {
            return Err(Problem::file(
                "empty-file",
                "文件是空的",
                "the file is empty",
            ));
        }
    };
    Ok(SourceTable {
        header,
        rows: Box::new(CsvRows { records, number: 0 }),
    })
}

/// A CSV file cut into parts of whole records, decoded, to be read side by side.
pub struct CsvParts<'a> {
    /// The header cells.
    pub header: Vec<String>,
    /// The records after the header, in order, cut at line ends.
    pub parts: Vec<Cow<'a, str>>,
    delimiter: u8,
    max_cell_bytes: usize,
}

impl<'a> CsvParts<'a> {
    /// Cuts a CSV file into at most `count` parts and decodes them side by side, or
    /// `None` when it cannot be cut safely — a quote character may hide a line break
    /// inside a cell, and a file without a line after its header has nothing to cut —
    /// or when the file is refused as text (reading it whole says why).
    pub fn cut(bytes: &'a [u8], count: usize, options: &ReadOptions) -> Option<Self> {
        // A quote is never part of a multi-byte GBK or UTF-8 character: look before
        // decoding.
        if bytes.contains(&b'"') || looks_binary(bytes) {
            return None;
        }
        let without_bom = bytes.strip_prefix(UTF8_BOM);
        let file = without_bom.unwrap_or(bytes);
        let header_end = memchr::memchr(b'\n', file)? + 1;
        let body = &file[header_end..];
        let mut pieces = vec![&file[..header_end]];
        let mut start = 0;
        for i in 1..=count {
            let target = (body.len() * i / count).max(start);
            // `target` may fall inside a character; a line break is never part of one.
            let end = if i == count {
                body.len()
            } else {
                memchr::memchr(b'\n', &body[target..]).map_or(body.len(), |n| target + n + 1)
            };
            pieces.push(&body[start..end]);
            start = end;
        }
        let mut texts = decode_pieces(&pieces, options.encoding, without_bom.is_some())?;
        let header_text = texts.remove(0);
        let delimiter = csv_delimiter(&header_text);
        let header: Vec<String> = csv_reader(header_text.as_bytes(), delimiter, false)
            .into_records()
            .next()?
            .ok()?
            .iter()
            .map(str::to_owned)
            .collect();
        if header.iter().any(|h| h.len() > options.max_cell_bytes) {
            return None;
        }
        Some(CsvParts {
            header,
            parts: texts,
            delimiter,
            max_cell_bytes: options.max_cell_bytes,
        })
    }

    /// The rows of one part, numbered from its first record as if it followed the
    /// header (the caller shifts them by the records of the parts before).
    pub fn rows(&self, part: usize) -> PartRows<'_> {
        PartRows {
            rest: &self.parts[part],
            delimiter: self.delimiter,
            row: RawRow {
                number: 0,
                cells: vec![Cell::Text(String::new()); self.header.len()],
            },
            records: 0,
        }
    }

    /// The longest cell accepted, in bytes.
    pub fn max_cell_bytes(&self) -> usize {
        self.max_cell_bytes
    }
}

/// The rows of a part of a CSV text without quote characters, read into one row whose
/// cells are reused. They are the rows the `csv` crate reads: a record ends at any run
/// of `\r` and `\n` (so empty lines are no records), its fields end at the delimiter,
/// and a record whose cells are all blank is counted but skipped.
pub struct PartRows<'a> {
    rest: &'a str,
    delimiter: u8,
    row: RawRow,
    records: u32,
}

impl PartRows<'_> {
    /// Records read so far (skipped ones included).
    pub fn records_read(&self) -> u32 {
        self.records
    }

    /// The next row; `Err` for a record with another number of fields than the header.
    pub fn next_row(&mut self) -> Option<Result<&RawRow, ()>> {
        loop {
            let rest = self.rest.trim_start_matches(['\r', '\n']);
            if rest.is_empty() {
                self.rest = rest;
                return None;
            }
            let end = memchr::memchr2(b'\r', b'\n', rest.as_bytes()).unwrap_or(rest.len());
            let (record, after) = rest.split_at(end);
            self.rest = after;
            self.records += 1;
            self.row.number = self.records + 1;
            // The delimiter is one ASCII byte, so the text between two is whole characters.
            let mut ends = memchr::memchr_iter(self.delimiter, record.as_bytes())
                .chain(std::iter::once(record.len()));
            let mut start = 0;
            let mut blank = true;
            for cell in &mut self.row.cells {
                let (Some(end), Cell::Text(text)) = (ends.next(), cell) else {
                    return Some(Err(()));
                };
                let field = &record[start..end];
                start = end + 1;
                text.clear();
                text.push_str(field);
                blank = blank && trimmed(field).is_empty();
            }
            if ends.next().is_some() {
                return Some(Err(()));
            }
            if !blank {
                return Some(Ok(&self.row));
            }
        }
    }
}

fn csv_problem(e: &csv::Error, row: u32) -> Problem {
    match e.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => Problem::file(
            "ragged-row",
            format!("第{row}行有 {len} 列，表头有 {expected_len} 列"),
            format!("row {row} has {len} fields but the header has {expected_len}"),
        ),
        _ => Problem::file(
            "unreadable-csv",
            format!("第{row}行无法读取：{e}"),
            format!("row {row} cannot be read: {e}"),
        ),
    }
}

fn xlsx_table<'a>(bytes: &'a [u8], options: &ReadOptions) -> Result<SourceTable<'a>, Problem> {
    let not_xlsx = |detail: String| {
        Problem::file(
            "not-xlsx",
            format!("不是有效的 XLSX 工作簿：{detail}"),
            format!("not a valid XLSX workbook: {detail}"),
        )
    };
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes))
        .map_err(|e| not_xlsx(format!("not a zip file ({e})")))?;
    let mut unpacked: u64 = 0;
    for i in 0..archive.len() {
        let entry = archive
            .by_index_raw(i)
            .map_err(|e| not_xlsx(e.to_string()))?;
        unpacked = unpacked.saturating_add(entry.size());
    }
    if unpacked > options.max_unpacked_bytes {
        return Err(Problem::file(
            "xlsx-too-large",
            format!(
                "XLSX 解压后有 {} MB，超过上限 {} MB（可能是压缩炸弹）",
                unpacked >> 20,
                options.max_unpacked_bytes >> 20
            ),
            format!(
                "the XLSX unpacks to {} MB, more than the limit of {} MB (a zip bomb?)",
                unpacked >> 20,
                options.max_unpacked_bytes >> 20
            ),
        ));
    }
    let mut workbook: Xlsx<_> =
        Xlsx::new(Cursor::new(bytes)).map_err(|e| not_xlsx(e.to_string()))?;
    let sheets = workbook.sheet_names();
    let sheet = match &options.sheet {
        Some(name) => sheets.iter().find(|s| *s == name).cloned().ok_or_else(|| {
            Problem::file(
                "no-such-sheet",
                format!(
                    "工作簿中没有名为“{name}”的工作表（有：{}）",
                    sheets.join("、")
                ),
                format!(
                    "the workbook has no sheet '{name}' (it has: {})",
                    sheets.join(", ")
                ),
            )
        })?,
        None => sheets
            .first()
            .cloned()
            .ok_or_else(|| not_xlsx("it has no sheet".into()))?,
    };
    let range = workbook
        .worksheet_range(&sheet)
        .map_err(|e| not_xlsx(e.to_string()))?;
    let first_row = range.start().map(|(r, _)| r).unwrap_or(0);
    let mut rows = range
        .rows()
        .enumerate()
        .map(move |(i, cells)| {
            (
                first_row + i as u32 + 1,
                cells.iter().map(xlsx_cell).collect::<Vec<_>>(),
            )
        })
        .filter(|(_, cells)| !cells.iter().all(Cell::is_empty))
        .collect::<Vec<_>>()
        .into_iter();
    let Some((_, header)) = rows.next() else {
        return Err(Problem::file(
            "empty-file",
            format!("工作表“{sheet}”是空的"),
            format!("sheet '{sheet}' is empty"),
        ));
    };
    let header: Vec<String> = header.iter().map(Cell::display).collect();
    let width = header
        .iter()
        .rposition(|h| !h.trim().is_empty())
        .map_or(0, |i| i + 1);
    let header = header[..width].to_vec();
    let rows = rows.map(move |(number, mut cells)| {
        if cells[width..].iter().any(|c| !c.is_empty()) {
            return Err(Problem::file(
                "ragged-row",
                format!("第{number}行在表头以外的列有内容"),
                format!("row {number} has values beyond the last header column"),
            ));
        }
        cells.truncate(width);
        cells.resize(width, Cell::Empty);
        Ok(RawRow { number, cells })
    });
    Ok(SourceTable {
        header,
        rows: Box::new(rows),
    })
}

fn xlsx_cell(data: &Data) -> Cell {
    match data {
        Data::Empty | Data::Error(_) => Cell::Empty,
        Data::String(s) | Data::DateTimeIso(s) | Data::DurationIso(s) => Cell::Text(s.clone()),
        Data::Int(i) => Cell::Int(*i),
        Data::Float(f) => Cell::Float(*f),
        Data::Bool(b) => Cell::Bool(*b),
        Data::DateTime(d) => Cell::ExcelSerial(d.as_f64()),
    }
}

fn json_value(value: serde_json::Value) -> Cell {
    use serde_json::Value;
    match value {
        Value::Null => Cell::Empty,
        Value::Bool(b) => Cell::Bool(b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Cell::Int(i),
            None => Cell::Decimal(n.to_string()),
        },
        Value::String(s) => Cell::Text(s),
        other => Cell::Text(other.to_string()),
    }
}

fn json_table(bytes: &[u8], lines: bool) -> Result<SourceTable<'_>, Problem> {
    let invalid = |detail: String| {
        Problem::file(
            "invalid-json",
            format!("不是有效的 JSON：{detail}"),
            format!("not valid JSON: {detail}"),
        )
    };
    let text = std::str::from_utf8(bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes))
        .map_err(|e| invalid(format!("not UTF-8 at byte {}", e.valid_up_to())))?;
    let objects: Vec<serde_json::Value> = if lines {
        text.lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| {
                serde_json::from_str(l).map_err(|e| invalid(format!("line {}: {e}", i + 1)))
            })
            .collect::<Result<_, _>>()?
    } else {
        match serde_json::from_str(text).map_err(|e| invalid(e.to_string()))? {
            serde_json::Value::Array(items) => items,
            _ => {
                return Err(invalid(
                    "expected an array of objects, e.g. [{\"town\": \"石角镇\"}]".into(),
                ));
            }
        }
    };
    let mut header: Vec<String> = Vec::new();
    let mut maps = Vec::with_capacity(objects.len());
    for (i, object) in objects.into_iter().enumerate() {
        let serde_json::Value::Object(map) = object else {
            return Err(invalid(format!("item {} is not an object", i + 1)));
        };
        for key in map.keys() {
            if !header.contains(key) {
                header.push(key.clone());
            }
        }
        maps.push(map);
    }
    let columns = header.clone();
    let rows = maps.into_iter().enumerate().map(move |(i, mut map)| {
        Ok(RawRow {
            number: i as u32 + 2,
            cells: columns
                .iter()
                .map(|k| map.remove(k).map(json_value).unwrap_or(Cell::Empty))
                .collect(),
        })
    });
    Ok(SourceTable {
        header,
        rows: Box::new(rows),
    })
}

fn parquet_batches(bytes: &[u8]) -> Result<Vec<RecordBatch>, Problem> {
    let invalid = |e: String| {
        Problem::file(
            "invalid-parquet",
            format!("不是有效的 Parquet 文件：{e}"),
            format!("not a valid Parquet file: {e}"),
        )
    };
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        bytes::Bytes::copy_from_slice(bytes),
    )
    .and_then(|b| b.build())
    .map_err(|e| invalid(e.to_string()))?;
    reader
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(e.to_string()))
}

fn ipc_batches(bytes: &[u8]) -> Result<Vec<RecordBatch>, Problem> {
    let invalid = |e: String| {
        Problem::file(
            "invalid-arrow",
            format!("不是有效的 Arrow IPC 文件：{e}"),
            format!("not a valid Arrow IPC file: {e}"),
        )
    };
    if bytes.starts_with(b"ARROW1") {
        let reader = arrow::ipc::reader::FileReader::try_new(Cursor::new(bytes), None)
            .map_err(|e| invalid(e.to_string()))?;
        reader
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| invalid(e.to_string()))
    } else {
        let reader = arrow::ipc::reader::StreamReader::try_new(Cursor::new(bytes), None)
            .map_err(|e| invalid(e.to_string()))?;
        reader
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| invalid(e.to_string()))
    }
}

/// Rows of Arrow batches (Parquet and Arrow IPC uploads), with typed cells.
fn arrow_table(batches: Vec<RecordBatch>) -> Result<SourceTable<'static>, Problem> {
    let Some(first) = batches.first() else {
        return Err(Problem::file(
            "empty-file",
            "文件没有任何数据批次",
            "the file holds no record batch",
        ));
    };
    let header: Vec<String> = first
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let mut number = 1u32;
    let mut rows = Vec::new();
    for batch in &batches {
        for row in 0..batch.num_rows() {
            number += 1;
            let cells = batch
                .columns()
                .iter()
                .map(|column| arrow_cell(column.as_ref(), row))
                .collect::<Result<Vec<_>, _>>()?;
            rows.push(RawRow { number, cells });
        }
    }
    Ok(SourceTable {
        header,
        rows: Box::new(rows.into_iter().map(Ok)),
    })
}

fn arrow_cell(array: &dyn Array, row: usize) -> Result<Cell, Problem> {
    use arrow::array::AsArray;
    use arrow::datatypes::*;
    if array.is_null(row) {
        return Ok(Cell::Empty);
    }
    let formatted = || {
        arrow::util::display::array_value_to_string(array, row).map_err(|e| {
            Problem::file(
                "unreadable-value",
                format!("无法读取第{}行的值：{e}", row + 2),
                format!("cannot read a value of row {}: {e}", row + 2),
            )
        })
    };
    Ok(match array.data_type() {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => Cell::Text(formatted()?),
        DataType::Boolean => Cell::Bool(array.as_boolean().value(row)),
        DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32 => Cell::Int(formatted()?.parse().unwrap_or_default()),
        DataType::Float32 | DataType::Float64 => {
            Cell::Float(formatted()?.parse().unwrap_or(f64::NAN))
        }
        DataType::Decimal128(_, _) | DataType::Decimal256(_, _) | DataType::UInt64 => {
            Cell::Decimal(formatted()?)
        }
        DataType::Date32 => Cell::Date(
            NaiveDate::default()
                + chrono::Duration::days(array.as_primitive::<Date32Type>().value(row).into()),
        ),
        DataType::Timestamp(unit, _) => {
            let value = arrow::compute::cast(
                &array.slice(row, 1),
                &DataType::Timestamp(TimeUnit::Second, None),
            )
            .ok()
            .and_then(|a| {
                a.as_primitive_opt::<TimestampSecondType>()
                    .map(|a| a.value(0))
            });
            let _ = unit;
            match value.and_then(|s| DateTime::from_timestamp(s, 0)) {
                Some(t) => Cell::DateTime(t.naive_utc()),
                None => Cell::Text(formatted()?),
            }
        }
        _ => Cell::Text(formatted()?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_parts_are_cut_at_line_ends_even_inside_multi_byte_text() {
        let body: String = (0..97)
            .map(|i| format!("{i},石角镇汤塘镇,是\r\n"))
            .collect();
        let text = format!("编号,镇,是否\r\n{body}");
        for count in 1..=9 {
            let cut = CsvParts::cut(text.as_bytes(), count, &ReadOptions::default()).unwrap();
            assert_eq!(cut.header, ["编号", "镇", "是否"]);
            assert_eq!(cut.parts.len(), count);
            assert_eq!(cut.parts.concat(), body, "{count} parts");
            assert!(cut.parts.iter().all(|p| p.is_empty() || p.ends_with('\n')));
            let mut rows = Vec::new();
            for part in 0..count {
                let mut records = cut.rows(part);
                while let Some(row) = records.next_row() {
                    rows.push(row.unwrap().cells.len());
                }
            }
            assert_eq!(rows, vec![3; 97]);
        }
        let quoted = "a,b\n\"x\ny\",1\n";
        assert!(CsvParts::cut(quoted.as_bytes(), 2, &ReadOptions::default()).is_none());
    }

    /// Rows (up to the first ragged one) and records of `body` after the header `a,b`:
    /// read whole by the `csv` crate, as a file is read line by line, and as one part.
    fn read_both_ways(body: &str) -> [(Vec<Result<RawRow, ()>>, u32); 2] {
        let text = format!("a,b\n{body}");
        let mut records = csv_reader(Cursor::new(text.as_bytes()), b',', false).into_records();
        records.next().unwrap().unwrap(); // the header
        let mut by_csv = CsvRows { records, number: 0 };
        let mut csv_rows = Vec::new();
        for row in by_csv.by_ref() {
            let ragged = row.is_err();
            csv_rows.push(row.map_err(|_| ()));
            if ragged {
                break;
            }
        }
        let cut = CsvParts::cut(text.as_bytes(), 1, &ReadOptions::default()).unwrap();
        let mut part = cut.rows(0);
        let mut part_rows = Vec::new();
        while let Some(row) = part.next_row() {
            let row = row.cloned();
            let ragged = row.is_err();
            part_rows.push(row);
            if ragged {
                break;
            }
        }
        [
            (csv_rows, by_csv.records_read()),
            (part_rows, part.records_read()),
        ]
    }

    #[test]
    fn a_part_is_read_into_the_rows_the_csv_crate_reads() {
        for body in [
            "1,2\n3,4\n",
            "1,2\r\n3,4",
            "1,2\r3,4\r",
            "\n\n1,2\n\r\n\r\n3,4\n\n",
            "1,2\n , \n,\n3,4\n",
            "石角,镇\r\n汤塘,是\r\n",
            " 1 ,2 \n",
            "1,2\n3\n5,6\n",
            "1,2\n3,4,\n",
            "1,2,3\n",
        ] {
            let [csv, part] = read_both_ways(body);
            assert!(!part.0.is_empty(), "{body:?}");
            assert_eq!(part, csv, "{body:?}");
        }
    }

    #[test]
    fn parts_are_decoded_as_the_whole_file_is() {
        let header = "编号,镇,是否\r\n";
        let body: String = (0..500).map(|i| format!("{i},石角镇,是\r\n")).collect();
        let text = format!("{header}{body}");
        let gbk = encoding_rs::GB18030.encode(&text).0.into_owned();
        let with_bom = [b"\xEF\xBB\xBF".as_slice(), text.as_bytes()].concat();
        // Valid UTF-8 up to its last line, which is GBK: read whole, all of it is GBK.
        let mixed = [
            text.as_bytes(),
            &encoding_rs::GB18030.encode("9,汤塘镇,否\r\n").0,
        ]
        .concat();
        let options = |encoding| ReadOptions {
            encoding,
            ..ReadOptions::default()
        };
        for (bytes, encoding) in [
            (text.as_bytes(), Encoding::Auto),
            (text.as_bytes(), Encoding::Utf8),
            (&with_bom, Encoding::Auto),
            (&gbk, Encoding::Auto),
            (&gbk, Encoding::Gbk),
            (&mixed, Encoding::Auto),
            (text.as_bytes(), Encoding::Gbk),
            (&gbk, Encoding::Utf8),
            (&with_bom, Encoding::Gbk),
        ] {
            let whole = decode(bytes, encoding);
            for count in 1..=5 {
                let cut = CsvParts::cut(bytes, count, &options(encoding));
                match (&whole, cut) {
                    (Ok(whole), Some(cut)) => {
                        let header_end = whole.find('\n').unwrap() + 1;
                        assert_eq!(cut.parts.concat(), whole[header_end..], "{encoding:?}");
                        let header: Vec<&str> = whole[..header_end].trim_end().split(',').collect();
                        assert_eq!(cut.header, header, "{encoding:?}");
                    }
                    (Err(_), None) => {}
                    (whole, cut) => panic!(
                        "{encoding:?}, {count} parts: whole {:?}, cut {:?}",
                        whole.is_ok(),
                        cut.is_some()
                    ),
                }
            }
        }
    }
}
