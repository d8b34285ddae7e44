//! The read-only rule of the query path: which SQL statements may run.
//!
//! Only queries run: `SELECT`/`WITH`/`VALUES`, `EXPLAIN` of a query, `DESCRIBE` and
//! `SHOW`. Everything else — DDL, DML, `COPY`, `CREATE EXTERNAL TABLE`, `SET`, `USE`,
//! transactions — is refused before planning, naming the statement. Data enters the
//! platform only through uploads. (DataFusion's own `SQLOptions` forbid the same as a
//! second line of defence.)

use datafusion::sql::parser::{DFParser, Statement as DfStatement};
use datafusion::sql::sqlparser::ast::Statement;
use datafusion::sql::sqlparser::dialect::GenericDialect;

use crate::error::{Error, Result};

const READ_ONLY: &str = "sannong SQL is read-only (SELECT, WITH, EXPLAIN, DESCRIBE, SHOW); data enters the platform only through uploads";

/// Parses `sql` and checks it is exactly one read-only statement.
pub fn check_read_only(sql: &str) -> Result<()> {
    let statements = DFParser::parse_sql_with_dialect(sql, &GenericDialect {})
        .map_err(|e| Error::InvalidQuery(e.to_string()))?;
    match statements.len() {
        0 => Err(Error::InvalidQuery("empty query: nothing to run".into())),
        1 => statements.iter().try_for_each(check_statement),
        n => Err(Error::Refused {
            statement: format!("{n} statements"),
            reason: "send one statement at a time".into(),
        }),
    }
}

fn check_statement(statement: &DfStatement) -> Result<()> {
    match statement {
        DfStatement::Statement(s) => check_sql_statement(s),
        DfStatement::Explain(explain) => check_statement(&explain.statement),
        DfStatement::CreateExternalTable(_) => Err(refused("CREATE EXTERNAL TABLE")),
        DfStatement::CopyTo(_) => Err(refused("COPY")),
        DfStatement::Reset(_) => Err(refused("RESET")),
    }
}

fn check_sql_statement(statement: &Statement) -> Result<()> {
    match statement {
        Statement::Query(_)
        | Statement::ShowTables { .. }
        | Statement::ShowColumns { .. }
        | Statement::ShowFunctions { .. }
        | Statement::ExplainTable { .. } => Ok(()),
        Statement::Explain { statement, .. } => check_sql_statement(statement),
        other => Err(refused(&statement_kind(other))),
    }
}

fn refused(statement: &str) -> Error {
    Error::Refused {
        statement: statement.to_owned(),
        reason: READ_ONLY.into(),
    }
}

/// The statement's leading keywords, e.g. `INSERT`, `CREATE TABLE`, `DROP`.
fn statement_kind(statement: &Statement) -> String {
    let text = statement.to_string();
    let words: Vec<&str> = text.split_whitespace().take(3).collect();
    let upper = |w: &str| w.to_ascii_uppercase();
    match words.as_slice() {
        [first, second, third, ..]
            if upper(first) == "CREATE"
                && ["OR", "EXTERNAL", "TEMPORARY", "TEMP", "UNIQUE"]
                    .contains(&upper(second).as_str()) =>
        {
            format!("CREATE {} {}", upper(second), upper(third))
        }
        [first, second, ..]
            if ["CREATE", "DROP", "ALTER", "TRUNCATE"].contains(&upper(first).as_str()) =>
        {
            format!("{} {}", upper(first), upper(second))
        }
        [first, ..] => upper(first),
        [] => "an empty statement".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused_kind(sql: &str) -> String {
        match check_read_only(sql) {
            Err(Error::Refused { statement, .. }) => statement,
            other => panic!("{sql} should be refused, got {other:?}"),
        }
    }

    #[test]
    fn queries_pass() -> Result<()> {
        for sql in [
            "SELECT 1",
            "WITH t AS (SELECT 1 AS x) SELECT x FROM t",
            "EXPLAIN SELECT 1",
            "EXPLAIN ANALYZE SELECT 1",
            "SHOW TABLES",
            "DESCRIBE sys.tables",
            "VALUES (1), (2)",
        ] {
            check_read_only(sql)?;
        }
        Ok(())
    }

    #[test]
    fn writes_are_refused_by_name() {
        assert_eq!(refused_kind("INSERT INTO a.b VALUES (1)"), "INSERT");
        assert_eq!(refused_kind("DELETE FROM a.b"), "DELETE");
        assert_eq!(refused_kind("UPDATE a.b SET x = 1"), "UPDATE");
        assert_eq!(refused_kind("CREATE TABLE t (x INT)"), "CREATE TABLE");
        assert_eq!(refused_kind("DROP TABLE logistics.parcels"), "DROP TABLE");
        assert_eq!(
            refused_kind("CREATE EXTERNAL TABLE t STORED AS CSV LOCATION '/etc/passwd'"),
            "CREATE EXTERNAL TABLE"
        );
        assert_eq!(refused_kind("COPY (SELECT 1) TO '/tmp/x.csv'"), "COPY");
        assert_eq!(
            refused_kind("SET datafusion.execution.batch_size = 1"),
            "SET"
        );
        assert_eq!(refused_kind("EXPLAIN INSERT INTO a.b VALUES (1)"), "INSERT");
        assert_eq!(refused_kind("SELECT 1; SELECT 2"), "2 statements");
    }
}
