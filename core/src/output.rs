//! Query results as text: an aligned table, CSV, JSON or NDJSON.
//!
//! Values keep their full precision: decimals are printed with every digit (as JSON
//! numbers), timestamps as `YYYY-MM-DD HH:MM:SS`, dates as `YYYY-MM-DD`. JSON is one
//! array of row objects; NDJSON is one object per line.

use std::io::Write;

use arrow::array::{Array, RecordBatch};
use arrow::datatypes::DataType;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use clap::ValueEnum;

use crate::error::{Error, Result};
use crate::query::QueryResult;

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum OutputFormat {
    /// An aligned text table.
    #[default]
    Table,
    /// Comma-separated values with a header row.
    Csv,
    /// One JSON array of row objects.
    Json,
    /// One JSON object per line.
    Ndjson,
}

const TIMESTAMP_FORMAT: &str = "%Y-%m-%d %H:%M:%S";
const DATE_FORMAT: &str = "%Y-%m-%d";

/// How values are shown everywhere: timestamps `YYYY-MM-DD HH:MM:SS`, dates `YYYY-MM-DD`.
pub fn display_options() -> FormatOptions<'static> {
    FormatOptions::default()
        .with_display_error(true)
        .with_timestamp_format(Some(TIMESTAMP_FORMAT))
        .with_timestamp_tz_format(Some(TIMESTAMP_FORMAT))
        .with_date_format(Some(DATE_FORMAT))
}

fn output_error(e: impl std::fmt::Display) -> Error {
    Error::Output(e.to_string())
}

/// Writes a result in the given format.
pub fn write_result(result: &QueryResult, format: OutputFormat, out: &mut dyn Write) -> Result<()> {
    match format {
        OutputFormat::Table => write_table(result, out),
        OutputFormat::Csv => write_csv(result, out),
        OutputFormat::Json => write_json(result, out, false),
        OutputFormat::Ndjson => write_json(result, out, true),
    }
}

fn write_table(result: &QueryResult, out: &mut dyn Write) -> Result<()> {
    let options = display_options().with_null("NULL");
    let table = if result.batches.is_empty() {
        arrow::util::pretty::pretty_format_batches_with_options(
            &[RecordBatch::new_empty(result.schema.clone())],
            &options,
        )
    } else {
        arrow::util::pretty::pretty_format_batches_with_options(&result.batches, &options)
    }
    .map_err(output_error)?;
    writeln!(out, "{table}").map_err(output_error)?;
    let rows = result.row_count();
    writeln!(out, "{rows} row{}", if rows == 1 { "" } else { "s" }).map_err(output_error)
}

fn write_csv(result: &QueryResult, out: &mut dyn Write) -> Result<()> {
    let mut writer = arrow::csv::WriterBuilder::new()
        .with_header(true)
        .with_timestamp_format(TIMESTAMP_FORMAT.into())
        .with_timestamp_tz_format(TIMESTAMP_FORMAT.into())
        .with_date_format(DATE_FORMAT.into())
        .build(out);
    if result.batches.is_empty() {
        writer
            .write(&RecordBatch::new_empty(result.schema.clone()))
            .map_err(output_error)?;
    }
    for batch in &result.batches {
        writer.write(batch).map_err(output_error)?;
    }
    Ok(())
}

/// How a column's values appear in JSON.
#[derive(Clone, Copy)]
enum JsonKind {
    /// Printed as-is: integers and decimals (exact digits).
    Number,
    /// Floats: numbers when finite, else null.
    Float,
    Bool,
    Text,
}

fn json_kind(data_type: &DataType) -> JsonKind {
    match data_type {
        DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32
        | DataType::UInt64
        | DataType::Decimal32(_, _)
        | DataType::Decimal64(_, _)
        | DataType::Decimal128(_, _)
        | DataType::Decimal256(_, _) => JsonKind::Number,
        DataType::Float16 | DataType::Float32 | DataType::Float64 => JsonKind::Float,
        DataType::Boolean => JsonKind::Bool,
        _ => JsonKind::Text,
    }
}

fn write_json(result: &QueryResult, out: &mut dyn Write, lines: bool) -> Result<()> {
    let options = display_options();
    let names: Vec<String> = result
        .schema
        .fields()
        .iter()
        .map(|f| serde_json::to_string(f.name()))
        .collect::<serde_json::Result<_>>()
        .map_err(output_error)?;
    let mut first_row = true;
    if !lines {
        write!(out, "[").map_err(output_error)?;
    }
    for batch in &result.batches {
        let formatters: Vec<(ArrayFormatter, JsonKind, &dyn Array)> = batch
            .columns()
            .iter()
            .map(|c| {
                ArrayFormatter::try_new(c.as_ref(), &options)
                    .map(|f| (f, json_kind(c.data_type()), c.as_ref()))
            })
            .collect::<std::result::Result<_, _>>()
            .map_err(output_error)?;
        for row in 0..batch.num_rows() {
            let mut object = String::from("{");
            for (i, (formatter, kind, array)) in formatters.iter().enumerate() {
                if i > 0 {
                    object.push(',');
                }
                object.push_str(&names[i]);
                object.push(':');
                object.push_str(&json_value(formatter, *kind, *array, row)?);
            }
            object.push('}');
            let separator = match (lines, first_row) {
                (true, _) => "",
                (false, true) => "\n",
                (false, false) => ",\n",
            };
            write!(out, "{separator}{object}").map_err(output_error)?;
            if lines {
                writeln!(out).map_err(output_error)?;
            }
            first_row = false;
        }
    }
    if !lines {
        writeln!(out, "{}]", if first_row { "" } else { "\n" }).map_err(output_error)?;
    }
    Ok(())
}

fn json_value(
    formatter: &ArrayFormatter,
    kind: JsonKind,
    array: &dyn Array,
    row: usize,
) -> Result<String> {
    if array.is_null(row) {
        return Ok("null".into());
    }
    let text = formatter.value(row).try_to_string().map_err(output_error)?;
    Ok(match kind {
        JsonKind::Number | JsonKind::Bool => text,
        JsonKind::Float if text.parse::<f64>().is_ok_and(f64::is_finite) => text,
        JsonKind::Float => "null".into(),
        JsonKind::Text => serde_json::to_string(&text).map_err(output_error)?,
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Decimal128Array, StringArray, TimestampSecondArray};
    use arrow::datatypes::{Field, Schema, TimeUnit};

    use super::*;

    fn sample() -> QueryResult {
        let schema = Arc::new(Schema::new(vec![
            Field::new("fee_yuan", DataType::Decimal128(14, 2), true),
            Field::new("town", DataType::Utf8, true),
            Field::new("at", DataType::Timestamp(TimeUnit::Second, None), true),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(
                    Decimal128Array::from(vec![Some(12345678901230), None])
                        .with_precision_and_scale(14, 2)
                        .unwrap(),
                ),
                Arc::new(StringArray::from(vec![Some("石角镇"), Some("汤\"塘")])),
                Arc::new(TimestampSecondArray::from(vec![Some(1_614_953_000), None])),
            ],
        )
        .unwrap();
        QueryResult {
            schema,
            batches: vec![batch],
        }
    }

    fn render(format: OutputFormat) -> String {
        let mut out = Vec::new();
        write_result(&sample(), format, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn json_keeps_every_decimal_digit_and_formats_times() {
        let json = render(OutputFormat::Json);
        let parsed: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(parsed[0]["town"], "石角镇");
        assert_eq!(parsed[0]["at"], "2021-03-05 14:03:20");
        assert!(json.contains("\"fee_yuan\":123456789012.30"), "{json}");
        assert_eq!(parsed[1]["fee_yuan"], serde_json::Value::Null);
        assert_eq!(parsed[1]["town"], "汤\"塘");
    }

    #[test]
    fn ndjson_is_one_object_per_line() {
        let text = render(OutputFormat::Ndjson);
        assert_eq!(text.lines().count(), 2);
        for line in text.lines() {
            serde_json::from_str::<serde_json::Value>(line).unwrap();
        }
    }

    #[test]
    fn csv_and_table_render() {
        let csv = render(OutputFormat::Csv);
        assert!(
            csv.starts_with("fee_yuan,town,at\n123456789012.30,石角镇,2021-03-05 14:03:20"),
            "{csv}"
        );
        let table = render(OutputFormat::Table);
        assert!(table.contains("2 rows"), "{table}");
    }
}
