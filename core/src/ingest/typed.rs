//! From a file's header and cells to Arrow columns of the duty's template.
//!
//! The header is matched to the template by Chinese header or English key, in any
//! order, spaces trimmed; an unknown, repeated or missing required column refuses the
//! file naming it. Each cell is parsed in its column's type; a cell that does not parse
//! becomes a problem (and a null, so that other checks can go on).

use std::collections::HashSet;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, AsArray, BooleanBuilder, Date32Builder, Decimal128Builder, Float64Builder,
    Int64Builder, RecordBatch, StringBuilder, TimestampSecondBuilder,
};

use super::cell::{self, Cell, DecimalError};
use super::problems::Problem;
use super::source::RawRow;
use crate::plugin::manifest::{ColumnType, DutySpec, TemplateColumn};

/// Which file column feeds each template column.
#[derive(Debug, Clone)]
pub struct ColumnMap {
    /// For each template column, its position in the file, if present.
    pub positions: Vec<Option<usize>>,
}

/// Matches a file's header to the template; all header problems at once.
///
/// An empty header comes only from a JSON array without objects (`[]`): a report with
/// no rows, whose columns there is nothing to check.
pub fn map_header(header: &[String], duty: &DutySpec) -> Result<ColumnMap, Vec<Problem>> {
    let mut positions: Vec<Option<usize>> = vec![None; duty.columns.len()];
    if header.is_empty() {
        return Ok(ColumnMap { positions });
    }
    let mut problems = Vec::new();
    for (index, raw) in header.iter().enumerate() {
        let name = raw.trim();
        let position = index + 1;
        if name.is_empty() {
            problems.push(Problem::file(
                "empty-header",
                format!("第{position}列没有表头"),
                format!("column {position} has no header"),
            ));
            continue;
        }
        let found = duty
            .columns
            .iter()
            .position(|c| c.header_zh.trim() == name || c.key.eq_ignore_ascii_case(name));
        match found {
            None => problems.push(Problem::file(
                "unknown-column",
                format!(
                    "第{position}列“{name}”不是本表的列（可用：{}）",
                    duty.columns
                        .iter()
                        .map(|c| c.header_zh.as_str())
                        .collect::<Vec<_>>()
                        .join("、")
                ),
                format!(
                    "column {position} '{name}' is not a column of this template (expected: {})",
                    duty.columns
                        .iter()
                        .map(|c| c.key.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )),
            Some(column) => match positions[column] {
                Some(first) => {
                    let c = &duty.columns[column];
                    problems.push(Problem::file(
                        "duplicate-column",
                        format!(
                            "列 {} [{}] 出现了两次（第{}列和第{position}列）",
                            c.header_zh,
                            c.key,
                            first + 1
                        ),
                        format!(
                            "column {} [{}] appears twice (columns {} and {position})",
                            c.header_zh,
                            c.key,
                            first + 1
                        ),
                    ));
                }
                None => positions[column] = Some(index),
            },
        }
    }
    for (column, position) in duty.columns.iter().zip(&positions) {
        if column.required && position.is_none() {
            problems.push(Problem::file(
                "missing-column",
                format!("缺少必填列 {} [{}]", column.header_zh, column.key),
                format!(
                    "the required column {} [{}] is missing",
                    column.header_zh, column.key
                ),
            ));
        }
    }
    if problems.is_empty() {
        Ok(ColumnMap { positions })
    } else {
        Err(problems)
    }
}

/// A builder of one template column.
enum ColumnBuilder {
    Utf8(StringBuilder),
    Boolean(BooleanBuilder),
    Int64(Int64Builder),
    Float64(Float64Builder),
    Decimal(Decimal128Builder, u8, i8),
    Date(Date32Builder),
    Timestamp(TimestampSecondBuilder),
}

impl ColumnBuilder {
    /// A builder with room for `rows` cells (and `text_bytes` bytes of text).
    fn with_capacity(data_type: ColumnType, rows: usize, text_bytes: usize) -> Self {
        match data_type {
            ColumnType::Utf8 => ColumnBuilder::Utf8(StringBuilder::with_capacity(rows, text_bytes)),
            ColumnType::Boolean => ColumnBuilder::Boolean(BooleanBuilder::with_capacity(rows)),
            ColumnType::Int64 => ColumnBuilder::Int64(Int64Builder::with_capacity(rows)),
            ColumnType::Float64 => ColumnBuilder::Float64(Float64Builder::with_capacity(rows)),
            ColumnType::Decimal { precision, scale } => {
                ColumnBuilder::Decimal(Decimal128Builder::with_capacity(rows), precision, scale)
            }
            ColumnType::Date => ColumnBuilder::Date(Date32Builder::with_capacity(rows)),
            ColumnType::Timestamp => {
                ColumnBuilder::Timestamp(TimestampSecondBuilder::with_capacity(rows))
            }
        }
    }

    /// Appends a cell; on failure appends a null and returns what was expected.
    fn push(&mut self, cell: &Cell) -> Result<(), (String, String)> {
        let expected = |e: cell::Expected| (e.0.to_owned(), e.1.to_owned());
        match self {
            ColumnBuilder::Utf8(b) => cell::text(cell).map(|v| b.append_option(v)).map_err(|e| {
                b.append_null();
                expected(e)
            }),
            ColumnBuilder::Boolean(b) => {
                cell::boolean(cell)
                    .map(|v| b.append_option(v))
                    .map_err(|e| {
                        b.append_null();
                        expected(e)
                    })
            }
            ColumnBuilder::Int64(b) => {
                cell::integer(cell)
                    .map(|v| b.append_option(v))
                    .map_err(|e| {
                        b.append_null();
                        expected(e)
                    })
            }
            ColumnBuilder::Float64(b) => {
                cell::float(cell).map(|v| b.append_option(v)).map_err(|e| {
                    b.append_null();
                    expected(e)
                })
            }
            ColumnBuilder::Date(b) => cell::date(cell)
                .map(|v| b.append_option(v.map(cell::days_since_epoch)))
                .map_err(|e| {
                    b.append_null();
                    expected(e)
                }),
            ColumnBuilder::Timestamp(b) => cell::timestamp(cell)
                .map(|v| b.append_option(v.map(|t| t.and_utc().timestamp())))
                .map_err(|e| {
                    b.append_null();
                    expected(e)
                }),
            ColumnBuilder::Decimal(b, precision, scale) => {
                let limit = 10i128.pow(u32::from(*precision));
                match cell::decimal(cell, *scale) {
                    Ok(Some(v)) if v.abs() >= limit => {
                        b.append_null();
                        Err((
                            format!(
                                "数字过大：最多 {} 位整数",
                                *precision as i16 - *scale as i16
                            ),
                            format!(
                                "too large: at most {} digits before the decimal point",
                                *precision as i16 - *scale as i16
                            ),
                        ))
                    }
                    Ok(v) => {
                        b.append_option(v);
                        Ok(())
                    }
                    Err(error) => {
                        b.append_null();
                        Err(match error {
                            DecimalError::TooManyDecimals => (
                                format!("小数位过多：最多 {scale} 位（不会自动四舍五入）"),
                                format!(
                                    "too many decimals: at most {scale} (never rounded silently)"
                                ),
                            ),
                            DecimalError::NotANumber => (
                                "应为数字，如 12.50".to_owned(),
                                "expected a number such as 12.50".to_owned(),
                            ),
                        })
                    }
                }
            }
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            ColumnBuilder::Utf8(b) => Arc::new(b.finish()),
            ColumnBuilder::Boolean(b) => Arc::new(b.finish()),
            ColumnBuilder::Int64(b) => Arc::new(b.finish()),
            ColumnBuilder::Float64(b) => Arc::new(b.finish()),
            ColumnBuilder::Decimal(b, precision, scale) => Arc::new(
                b.finish()
                    .with_precision_and_scale(*precision, *scale)
                    .unwrap_or_else(|_| arrow::array::Decimal128Array::from(Vec::<i128>::new())),
            ),
            ColumnBuilder::Date(b) => Arc::new(b.finish()),
            ColumnBuilder::Timestamp(b) => Arc::new(b.finish()),
        }
    }
}

/// The rows of an upload in the template's types.
#[derive(Debug, Clone)]
pub struct TypedRows {
    /// Batches of the template schema.
    pub batches: Vec<RecordBatch>,
    /// The file row number of each row, in order across batches.
    pub row_numbers: Vec<u32>,
    /// Cells that did not parse, as (row index, template column index): they are nulls
    /// in the batches and already have a problem.
    pub bad_cells: HashSet<(usize, usize)>,
}

impl TypedRows {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.row_numbers.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.row_numbers.is_empty()
    }
}

/// Rows per Arrow batch.
pub const BATCH_ROWS: usize = 64 * 1024;

/// Rows typed one at a time into batches of the template schema.
pub struct RowTyper<'a> {
    map: &'a ColumnMap,
    duty: &'a DutySpec,
    schema: arrow::datatypes::SchemaRef,
    builders: Vec<ColumnBuilder>,
    typed: TypedRows,
    in_batch: usize,
}

impl<'a> RowTyper<'a> {
    /// A typer of rows whose cells `map` places in `duty`'s template.
    pub fn new(map: &'a ColumnMap, duty: &'a DutySpec) -> Self {
        RowTyper {
            map,
            duty,
            schema: duty.template_schema(),
            builders: duty
                .columns
                .iter()
                .map(|c| ColumnBuilder::with_capacity(c.data_type, 1024, 1024))
                .collect(),
            typed: TypedRows {
                batches: Vec::new(),
                row_numbers: Vec::new(),
                bad_cells: HashSet::new(),
            },
            in_batch: 0,
        }
    }

    /// Rows typed so far.
    pub fn rows_typed(&self) -> usize {
        self.typed.row_numbers.len()
    }

    /// Types one row; a cell that does not parse is a problem (and a null). Returns
    /// whether a batch was completed.
    pub fn push(&mut self, row: &RawRow, problems: &mut Vec<Problem>) -> Result<bool, Problem> {
        let index = self.typed.row_numbers.len();
        for (column_index, (column, builder)) in self
            .duty
            .columns
            .iter()
            .zip(self.builders.iter_mut())
            .enumerate()
        {
            let cell = self.map.positions[column_index]
                .and_then(|p| row.cells.get(p))
                .unwrap_or(&Cell::Empty);
            if let Err((zh, en)) = builder.push(cell) {
                self.typed.bad_cells.insert((index, column_index));
                problems.push(cell_problem(row.number, column, cell, &zh, &en));
            }
        }
        self.typed.row_numbers.push(row.number);
        self.in_batch += 1;
        if self.in_batch < BATCH_ROWS {
            return Ok(false);
        }
        let batch = self.flush()?;
        // The next batch is likely the size of this one: its builders start that large
        // instead of growing by doubling (and copying) from empty.
        for ((builder, column), array) in self
            .builders
            .iter_mut()
            .zip(&self.duty.columns)
            .zip(batch.columns())
        {
            let text_bytes = array
                .as_string_opt::<i32>()
                .map_or(0, |texts| texts.value_data().len());
            *builder = ColumnBuilder::with_capacity(column.data_type, array.len(), text_bytes);
        }
        Ok(true)
    }

    /// The rows since the last batch as a batch, also kept in the rows typed.
    fn flush(&mut self) -> Result<RecordBatch, Problem> {
        let columns: Vec<ArrayRef> = self
            .builders
            .iter_mut()
            .map(ColumnBuilder::finish)
            .collect();
        let batch = RecordBatch::try_new(self.schema.clone(), columns).map_err(|e| {
            Problem::file(
                "internal",
                format!("内部错误：{e}"),
                format!("internal error: {e}"),
            )
        })?;
        self.typed.batches.push(batch.clone());
        self.in_batch = 0;
        Ok(batch)
    }

    /// The rows typed.
    pub fn finish(mut self) -> Result<TypedRows, Problem> {
        if self.in_batch > 0 || self.typed.batches.is_empty() {
            self.flush()?;
        }
        Ok(self.typed)
    }
}

/// Parses rows into typed batches. Problems are pushed to `problems`; an unreadable
/// file stops the parse with its problem. `progress` is told the rows read so far.
pub fn parse_rows(
    rows: impl Iterator<Item = Result<RawRow, Problem>>,
    map: &ColumnMap,
    duty: &DutySpec,
    problems: &mut Vec<Problem>,
    mut progress: impl FnMut(usize),
) -> Result<TypedRows, Problem> {
    let mut typer = RowTyper::new(map, duty);
    for row in rows {
        if typer.push(&row?, problems)? {
            progress(typer.rows_typed());
        }
    }
    progress(typer.rows_typed());
    typer.finish()
}

fn cell_problem(row: u32, column: &TemplateColumn, cell: &Cell, zh: &str, en: &str) -> Problem {
    Problem::cell(row, column, Some(&cell.display()), "wrong-type", zh, en)
}
