//! Time travel in SQL: `table_at('schema.table', version)` or
//! `table_at('schema.table', 'YYYY-MM-DD[ HH:MM:SS]')`.
//!
//! A version number reads exactly that Delta version; a time (Beijing time, like all
//! times shown by sannong) reads the latest version committed at or before it. The
//! function is planned synchronously by DataFusion while loading a Delta table is
//! asynchronous, so the load runs to completion on a short-lived runtime of its own.

use std::sync::Arc;

use chrono::{NaiveDate, NaiveDateTime};
use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::common::ScalarValue;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::Expr;

use super::delta_schema::delta_provider;
use super::{from_beijing, to_datafusion};
use crate::table_name::TableName;
use crate::tables::{Catalog, TableAt};

const USAGE: &str =
    "usage: table_at('schema.table', version) or table_at('schema.table', 'YYYY-MM-DD HH:MM:SS')";

/// The `table_at` table function.
#[derive(Debug)]
pub struct TableAtFunction {
    catalog: Arc<Catalog>,
}

impl TableAtFunction {
    /// `table_at` over this catalog.
    pub fn new(catalog: Arc<Catalog>) -> Self {
        TableAtFunction { catalog }
    }
}

fn literal(expr: &Expr) -> Option<&ScalarValue> {
    match expr {
        Expr::Literal(value, _) => Some(value),
        _ => None,
    }
}

fn plan_error(message: String) -> DataFusionError {
    DataFusionError::Plan(format!("{message}; {USAGE}"))
}

/// Parses `table_at`'s two arguments.
fn parse_args(exprs: &[Expr]) -> Result<(TableName, TableAt)> {
    let [table, at] = exprs else {
        return Err(plan_error(format!(
            "table_at takes 2 arguments, got {}",
            exprs.len()
        )));
    };
    let table = match literal(table) {
        Some(
            ScalarValue::Utf8(Some(s))
            | ScalarValue::LargeUtf8(Some(s))
            | ScalarValue::Utf8View(Some(s)),
        ) => s.parse::<TableName>().map_err(to_datafusion)?,
        _ => {
            return Err(plan_error(format!(
                "table_at's first argument must be a table name in quotes, got {table}"
            )));
        }
    };
    let at = match literal(at) {
        Some(ScalarValue::Int64(Some(v))) if *v >= 0 => TableAt::Version(*v as u64),
        Some(ScalarValue::Int32(Some(v))) if *v >= 0 => TableAt::Version(*v as u64),
        Some(ScalarValue::UInt64(Some(v))) => TableAt::Version(*v),
        Some(
            ScalarValue::Utf8(Some(s))
            | ScalarValue::LargeUtf8(Some(s))
            | ScalarValue::Utf8View(Some(s)),
        ) => TableAt::Time(from_beijing(parse_time(s).ok_or_else(|| {
            plan_error(format!(
                "'{s}' is not a time like 2021-05-01 or 2021-05-01 08:00:00"
            ))
        })?)),
        _ => {
            return Err(plan_error(format!(
                "table_at's second argument must be a version number ≥ 0 or a time in quotes, got {at}"
            )));
        }
    };
    Ok((table, at))
}

/// Accepts `YYYY-MM-DD`, `YYYY-MM-DD HH:MM` and `YYYY-MM-DD HH:MM:SS` (also with `T`).
/// A date alone means the end of that day, so `table_at(t, '2021-05-31')` shows the
/// table as it stood when the day closed.
pub fn parse_time(s: &str) -> Option<NaiveDateTime> {
    let s = s.trim();
    for format in ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, format) {
            return Some(t);
        }
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(23, 59, 59))
}

impl TableFunctionImpl for TableAtFunction {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let (table, at) = parse_args(args.exprs())?;
        let catalog = self.catalog.clone();
        std::thread::scope(|scope| {
            scope
                .spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .map_err(|e| DataFusionError::Execution(format!("table_at: {e}")))?;
                    runtime.block_on(delta_provider(&catalog, &table, at))
                })
                .join()
                .unwrap_or_else(|_| {
                    Err(DataFusionError::Internal(
                        "table_at: the loading thread failed".into(),
                    ))
                })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_in_the_documented_forms() {
        assert!(parse_time("2021-05-01").is_some());
        assert!(parse_time("2021-05-01 08:00").is_some());
        assert!(parse_time("2021-05-01 08:00:00").is_some());
        assert!(parse_time("2021-13-01").is_none());
        assert!(parse_time("yesterday").is_none());
    }
}
