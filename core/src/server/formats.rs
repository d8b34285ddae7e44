//! Query results in the formats clients ask for, by `format=` or the `Accept` header:
//! JSON (an array of row objects), CSV, Arrow IPC stream, Parquet and XLSX.

use std::sync::Arc;

use arrow::array::{Array, RecordBatch};
use arrow::datatypes::DataType;
use arrow::util::display::ArrayFormatter;

use crate::error::{Error, Result};
use crate::output::{OutputFormat, display_options, write_result};
use crate::query::QueryResult;

/// A format of query results over HTTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResultFormat {
    /// `application/json`.
    Json,
    /// `text/csv`.
    Csv,
    /// `application/vnd.apache.arrow.stream`.
    Arrow,
    /// `application/vnd.apache.parquet`.
    Parquet,
    /// `application/vnd.openxmlformats-officedocument.spreadsheetml.sheet`.
    Xlsx,
}

/// The names `format=` takes.
pub const FORMAT_NAMES: [&str; 5] = ["json", "csv", "arrow", "parquet", "xlsx"];

impl ResultFormat {
    /// By name (`format=`).
    pub fn from_name(name: &str) -> Result<Self> {
        match name.trim().to_ascii_lowercase().as_str() {
            "json" => Ok(ResultFormat::Json),
            "csv" => Ok(ResultFormat::Csv),
            "arrow" => Ok(ResultFormat::Arrow),
            "parquet" => Ok(ResultFormat::Parquet),
            "xlsx" => Ok(ResultFormat::Xlsx),
            other => Err(Error::InvalidArgument(format!(
                "unknown format '{other}': use {}",
                FORMAT_NAMES.join(", ")
            ))),
        }
    }

    /// By `Accept` header (the first type we serve; JSON otherwise).
    pub fn from_accept(accept: &str) -> Self {
        for kind in accept
            .split(',')
            .map(|k| k.split(';').next().unwrap_or("").trim())
        {
            match kind {
                "text/csv" => return ResultFormat::Csv,
                "application/vnd.apache.arrow.stream" => return ResultFormat::Arrow,
                "application/vnd.apache.parquet" | "application/x-parquet" => {
                    return ResultFormat::Parquet;
                }
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" => {
                    return ResultFormat::Xlsx;
                }
                "application/json" => return ResultFormat::Json,
                _ => {}
            }
        }
        ResultFormat::Json
    }

    /// The content type of the response.
    pub fn content_type(self) -> &'static str {
        match self {
            ResultFormat::Json => "application/json",
            ResultFormat::Csv => "text/csv; charset=utf-8",
            ResultFormat::Arrow => "application/vnd.apache.arrow.stream",
            ResultFormat::Parquet => "application/vnd.apache.parquet",
            ResultFormat::Xlsx => {
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
            }
        }
    }

    /// The file-name extension.
    pub fn extension(self) -> &'static str {
        match self {
            ResultFormat::Json => "json",
            ResultFormat::Csv => "csv",
            ResultFormat::Arrow => "arrows",
            ResultFormat::Parquet => "parquet",
            ResultFormat::Xlsx => "xlsx",
        }
    }

    /// The result encoded.
    pub fn encode(self, result: &QueryResult) -> Result<Vec<u8>> {
        let fail = |e: String| Error::Output(e);
        let mut out = Vec::new();
        match self {
            ResultFormat::Json => write_result(result, OutputFormat::Json, &mut out)?,
            ResultFormat::Csv => write_result(result, OutputFormat::Csv, &mut out)?,
            ResultFormat::Arrow => {
                let mut writer =
                    arrow::ipc::writer::StreamWriter::try_new(&mut out, &result.schema)
                        .map_err(|e| fail(e.to_string()))?;
                for batch in &result.batches {
                    writer.write(batch).map_err(|e| fail(e.to_string()))?;
                }
                writer.finish().map_err(|e| fail(e.to_string()))?;
            }
            ResultFormat::Parquet => {
                let mut writer =
                    parquet::arrow::ArrowWriter::try_new(&mut out, result.schema.clone(), None)
                        .map_err(|e| fail(e.to_string()))?;
                for batch in &result.batches {
                    writer.write(batch).map_err(|e| fail(e.to_string()))?;
                }
                writer.close().map_err(|e| fail(e.to_string()))?;
            }
            ResultFormat::Xlsx => out = xlsx(result)?,
        }
        Ok(out)
    }
}

fn is_number(t: &DataType) -> bool {
    t.is_numeric() && !matches!(t, DataType::Decimal128(_, _) | DataType::Decimal256(_, _))
}

/// One sheet: the header, then the rows; numbers as numbers, the rest as shown in text
/// (decimals as text keep every digit).
fn xlsx(result: &QueryResult) -> Result<Vec<u8>> {
    let fail = |e: rust_xlsxwriter::XlsxError| Error::Output(format!("XLSX: {e}"));
    let mut workbook = rust_xlsxwriter::Workbook::new();
    let sheet = workbook.add_worksheet();
    for (c, field) in result.schema.fields().iter().enumerate() {
        sheet
            .write_string(0, c as u16, field.name())
            .map_err(fail)?;
    }
    let options = display_options();
    let mut row = 1u32;
    for batch in &result.batches {
        write_batch(sheet, batch, &options, &mut row)?;
    }
    workbook.save_to_buffer().map_err(fail)
}

fn write_batch(
    sheet: &mut rust_xlsxwriter::Worksheet,
    batch: &RecordBatch,
    options: &arrow::util::display::FormatOptions<'_>,
    row: &mut u32,
) -> Result<()> {
    let fail = |e: String| Error::Output(format!("XLSX: {e}"));
    let columns: Vec<(Arc<dyn Array>, ArrayFormatter)> = batch
        .columns()
        .iter()
        .map(|c| ArrayFormatter::try_new(c.as_ref(), options).map(|f| (c.clone(), f)))
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| fail(e.to_string()))?;
    for r in 0..batch.num_rows() {
        for (c, (array, formatter)) in columns.iter().enumerate() {
            if array.is_null(r) {
                continue;
            }
            let text = formatter.value(r).to_string();
            let written = match text.parse::<f64>() {
                Ok(v) if is_number(array.data_type()) => sheet.write_number(*row, c as u16, v),
                _ => sheet.write_string(*row, c as u16, &text),
            };
            written.map_err(|e| fail(e.to_string()))?;
        }
        *row += 1;
    }
    Ok(())
}
