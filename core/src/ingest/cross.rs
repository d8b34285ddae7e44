//! Checks against committed tables, done by the host with SQL: references to other
//! tables' keys, and keys unique across all periods.
//!
//! The upload's keys are registered as an in-memory table in a query session and joined
//! with the committed table, so the check reads only what it must even when the
//! committed table holds millions of rows. The checks run in one partition, beside the
//! plugin's `validate`.
//! - A reference is checked once per distinct value (a hundred stations, not a million
//!   parcels); the rows holding a value not found are then named. An upload checked a
//!   block at a time remembers the values found ([`KnownKeys`]): the next block asks only
//!   for values it has not seen, and no query at all when there are none.
//! - A key unique across periods is first counted among the committed rows of other
//!   periods between the upload's smallest and largest key: row groups whose statistics
//!   lie outside are not read, and when none is found (a new period of new ids) the
//!   upload's key table is not built nor the join run.

use std::collections::HashSet;
use std::sync::Arc;

use ahash::RandomState;
use arrow::array::{
    Array, ArrayRef, AsArray, RecordBatch, StringArray, StringBuilder, UInt32Builder,
};
use arrow::datatypes::DataType;
use datafusion::datasource::MemTable;
use datafusion::scalar::ScalarValue;
use sannong_catalog::{Period, TableName};

use super::checks::cell_text;
use super::problems::{Problem, shown_value};
use super::typed::TypedRows;
use crate::error::{Error, Result};
use crate::plugin::manifest::DutySpec;
use crate::query::QueryService;

/// Distinct text keys.
type Keys = HashSet<String, RandomState>;

/// Calls `visit` with the row number and the text key of every row of the upload whose
/// key cells are all filled: the columns' texts joined by U+001F.
fn for_each_key(
    duty: &DutySpec,
    rows: &TypedRows,
    columns: &[String],
    mut visit: impl FnMut(u32, &str),
) {
    let positions: Vec<usize> = columns
        .iter()
        .filter_map(|k| duty.columns.iter().position(|c| &c.key == k))
        .collect();
    let mut key = String::new();
    let mut index = 0;
    for batch in &rows.batches {
        let columns: Vec<(usize, &ArrayRef)> =
            positions.iter().map(|&c| (c, batch.column(c))).collect();
        for row in 0..batch.num_rows() {
            let number = rows.row_numbers[index];
            index += 1;
            if columns.iter().any(|(_, array)| array.is_null(row)) {
                continue;
            }
            key.clear();
            for (i, &(c, array)) in columns.iter().enumerate() {
                if i > 0 {
                    key.push('\u{1f}');
                }
                match array.as_string_opt::<i32>() {
                    Some(texts) => key.push_str(texts.value(row)),
                    None => key.push_str(&cell_text(batch, c, row).unwrap_or_default()),
                }
            }
            visit(number, &key);
        }
    }
}

/// The upload's keys of some columns ([`for_each_key`]) as the table `upload_keys`
/// (`row_number`, `key`).
fn keys(duty: &DutySpec, rows: &TypedRows, columns: &[String]) -> Result<RecordBatch> {
    let mut numbers = UInt32Builder::with_capacity(rows.len());
    let mut keys = StringBuilder::new();
    for_each_key(duty, rows, columns, |number, key| {
        numbers.append_value(number);
        keys.append_value(key);
    });
    table([
        ("row_number", Arc::new(numbers.finish()) as ArrayRef),
        ("key", Arc::new(keys.finish())),
    ])
}

/// A table of named columns, for `upload_keys`.
fn table<const N: usize>(columns: [(&str, ArrayRef); N]) -> Result<RecordBatch> {
    RecordBatch::try_from_iter(columns).map_err(|e| Error::Internal(e.to_string()))
}

/// Column `c` of a query's answer as `Utf8`, whichever string type the query gave it.
fn text_column(batch: &RecordBatch, c: usize) -> Result<ArrayRef> {
    arrow::compute::cast(batch.column(c), &DataType::Utf8)
        .map_err(|e| Error::Internal(e.to_string()))
}

/// The smallest and the largest of the upload's keys of some columns, as query
/// parameters `$1` and `$2`; `None` when no row has a whole key.
fn key_range(duty: &DutySpec, rows: &TypedRows, columns: &[String]) -> Option<Vec<ScalarValue>> {
    let mut range: Option<(String, String)> = None;
    for_each_key(duty, rows, columns, |_, key| match &mut range {
        None => range = Some((key.to_owned(), key.to_owned())),
        Some((smallest, largest)) => {
            if key < smallest.as_str() {
                key.clone_into(smallest);
            } else if key > largest.as_str() {
                key.clone_into(largest);
            }
        }
    });
    range.map(|(smallest, largest)| {
        vec![
            ScalarValue::Utf8(Some(smallest)),
            ScalarValue::Utf8(Some(largest)),
        ]
    })
}

/// SQL of a key made of columns, as text joined like [`keys`].
fn key_expression(columns: &[String]) -> String {
    let parts: Vec<String> = columns
        .iter()
        .map(|c| format!("CAST(\"{c}\" AS VARCHAR)"))
        .collect();
    if parts.len() == 1 {
        parts[0].clone()
    } else {
        format!("concat_ws('\u{1f}', {})", parts.join(", "))
    }
}

/// The upload's distinct keys of some columns ([`for_each_key`]): a reference is checked
/// once per value (a hundred stations) rather than once per row (a million parcels).
fn distinct_keys(duty: &DutySpec, rows: &TypedRows, columns: &[String]) -> Keys {
    let mut distinct = Keys::default();
    for_each_key(duty, rows, columns, |_, key| {
        if !distinct.contains(key) {
            distinct.insert(key.to_owned());
        }
    });
    distinct
}

/// Runs `sql`, which selects a `key` column from the table `upload_keys` (`key`) holding
/// `keys`; the keys it selects.
async fn absent_keys(query: &QueryService, keys: &Keys, sql: &str) -> Result<Keys> {
    let upload_keys = table([(
        "key",
        Arc::new(StringArray::from_iter_values(keys.iter())) as ArrayRef,
    )])?;
    let mut absent = Keys::default();
    for batch in run(query, Some(&upload_keys), sql, Vec::new()).await? {
        let key = text_column(&batch, 0)?;
        absent.extend(key.as_string::<i32>().iter().flatten().map(str::to_owned));
    }
    Ok(absent)
}

/// Runs one internal query, with the upload's keys, if given, as table `upload_keys` and
/// `$1`, `$2`… bound to `parameters`.
async fn run(
    query: &QueryService,
    keys: Option<&RecordBatch>,
    sql: &str,
    parameters: Vec<ScalarValue>,
) -> Result<Vec<RecordBatch>> {
    let failed = |e: datafusion::error::DataFusionError| {
        Error::Execution(format!("checking against committed tables: {e}"))
    };
    let ctx = query.session().await?;
    // The plugin's `validate` runs meanwhile on the other core: one partition does not
    // take longer, and it builds one hash table instead of repartitioning both sides.
    crate::query::few_rows::in_one_partition(&mut ctx.state_ref().write());
    if let Some(keys) = keys {
        let table = MemTable::try_new(keys.schema(), vec![vec![keys.clone()]])
            .map_err(|e| Error::Internal(e.to_string()))?;
        ctx.register_table("upload_keys", Arc::new(table))
            .map_err(|e| Error::Internal(e.to_string()))?;
    }
    ctx.sql(sql)
        .await
        .and_then(|frame| frame.with_param_values(parameters))
        .map_err(failed)?
        .collect()
        .await
        .map_err(failed)
}

/// Runs [`run`] for the (row number, key, other period) it selects, in row order.
async fn clashes(
    query: &QueryService,
    keys: &RecordBatch,
    sql: &str,
    parameters: Vec<ScalarValue>,
) -> Result<Vec<(u32, String, Option<String>)>> {
    let mut found = Vec::new();
    for batch in run(query, Some(keys), sql, parameters).await? {
        let rows = batch
            .column(0)
            .as_primitive::<arrow::datatypes::UInt32Type>();
        let key = text_column(&batch, 1)?;
        let key = key.as_string::<i32>();
        for i in 0..batch.num_rows() {
            found.push((
                rows.value(i),
                key.value(i).to_owned(),
                cell_text(&batch, 2, i),
            ));
        }
    }
    found.sort();
    Ok(found)
}

/// Whether the one-row, one-count answer of `sql` counts anything.
async fn any_counted(
    query: &QueryService,
    sql: &str,
    parameters: Vec<ScalarValue>,
) -> Result<bool> {
    let batches = run(query, None, sql, parameters).await?;
    Ok(batches.iter().any(|batch| {
        batch
            .column(0)
            .as_primitive::<arrow::datatypes::Int64Type>()
            .values()
            .iter()
            .any(|&count| count > 0)
    }))
}

/// Values of each of a duty's references found in the referenced table, by the checks
/// of an upload's blocks so far.
#[derive(Debug, Default)]
pub struct KnownKeys(Vec<Keys>);

/// Checks references and cross-period uniqueness of rows (an upload's, or a block of
/// them after the blocks that found `known`); pushes the problems found.
pub async fn check_committed(
    query: &QueryService,
    duty: &DutySpec,
    rows: &TypedRows,
    period: Option<Period>,
    known: &mut KnownKeys,
    problems: &mut Vec<Problem>,
) -> Result<()> {
    known.0.resize_with(duty.references.len(), Keys::default);
    for (reference, found) in duty.references.iter().zip(&mut known.0) {
        let mut distinct = distinct_keys(duty, rows, &reference.columns);
        distinct.retain(|key| !found.contains(key));
        if distinct.is_empty() {
            continue;
        }
        let table: TableName = reference.table.parse()?;
        let column = duty
            .column(&reference.columns[0])
            .ok_or_else(|| Error::Internal("reference column".into()))?;
        let exists = query.catalog().exists(&table).await?;
        let absent = if exists {
            let expression = key_expression(&reference.table_columns);
            let absent = absent_keys(
                query,
                &distinct,
                &format!(
                    "SELECT key FROM upload_keys WHERE key NOT IN (SELECT {expression} FROM {table} WHERE {expression} IS NOT NULL)"
                ),
            )
            .await?;
            found.extend(distinct.into_iter().filter(|key| !absent.contains(key)));
            absent
        } else {
            distinct
        };
        let mut missing = Vec::new();
        if !absent.is_empty() {
            for_each_key(duty, rows, &reference.columns, |row, key| {
                if absent.contains(key) {
                    missing.push((row, key.to_owned()));
                }
            });
        }
        let empty_note = if exists {
            ""
        } else {
            "（该表尚无数据）"
        };
        let empty_note_en = if exists {
            ""
        } else {
            " (that table has no rows yet)"
        };
        for (row, key) in missing {
            let value = key.replace('\u{1f}', " / ");
            problems.push(Problem::cell(
                row,
                column,
                Some(&value),
                "not-in-table",
                format!(
                    "在 {table} 的 {} 中不存在{empty_note}",
                    reference.table_columns.join("+")
                ),
                format!(
                    "not found in {table} ({}){empty_note_en}",
                    reference.table_columns.join(", ")
                ),
            ));
        }
    }
    let table = duty.table_name()?;
    let Some(period) = period else { return Ok(()) };
    if !query.catalog().exists(&table).await? {
        return Ok(());
    }
    for key in duty.unique_keys.iter().filter(|k| k.across_periods) {
        let Some(range) = key_range(duty, rows, &key.columns) else {
            continue;
        };
        let column = duty
            .column(&key.columns[0])
            .ok_or_else(|| Error::Internal("unique key column".into()))?;
        let expression = key_expression(&key.columns);
        let other_periods_in_range =
            format!("{table} WHERE _period <> '{period}' AND {expression} BETWEEN $1 AND $2");
        let counted = format!("SELECT count(*) FROM {other_periods_in_range}");
        if !any_counted(query, &counted, range.clone()).await? {
            continue;
        }
        let upload_keys = keys(duty, rows, &key.columns)?;
        let clashes = clashes(
            query,
            &upload_keys,
            &format!(
                "SELECT u.row_number, u.key, min(t._period) AS other_period FROM upload_keys u \
                 JOIN (SELECT {expression} AS key, _period FROM {other_periods_in_range}) t ON u.key = t.key \
                 GROUP BY u.row_number, u.key"
            ),
            range,
        )
        .await?;
        for (row, value, other) in clashes {
            let other = other.unwrap_or_default();
            problems.push(Problem::cell(
                row,
                column,
                Some(&shown_value(
                    &value.replace('\u{1f}', " / "),
                    column.personal,
                )),
                "duplicate-across-periods",
                format!(
                    "已在 {other} 期上报过（{} 在所有期间应唯一）",
                    key.columns.join("+")
                ),
                format!(
                    "already reported for period {other} ({} must be unique across periods)",
                    key.columns.join(" + ")
                ),
            ));
        }
    }
    Ok(())
}
