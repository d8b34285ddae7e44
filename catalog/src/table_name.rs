//! `schema.table` names of the platform's tables, validated once.
//!
//! A [`TableName`] is what users write in SQL (`logistics.parcels`) and what maps to a
//! storage prefix (`tables/logistics/parcels/`). Names are lower-case ASCII identifiers
//! so that they need no quoting in SQL and are safe as object-store path segments.

use std::fmt;
use std::str::FromStr;

use crate::error::{CatalogError, Result};

/// The schema part of internal tables' names; not a valid user schema (it starts with `_`).
const SYSTEM_SCHEMA: &str = "_system";

/// A validated `schema.table` name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TableName {
    schema: String,
    table: String,
}

impl TableName {
    /// Builds a name from its two parts, validating each.
    pub fn new(schema: &str, table: &str) -> Result<Self> {
        let full = format!("{schema}.{table}");
        for part in [schema, table] {
            if let Some(reason) = identifier_problem(part) {
                return Err(CatalogError::InvalidTableName { name: full, reason });
            }
        }
        if schema == "sys" {
            return Err(CatalogError::InvalidTableName {
                name: full,
                reason: "the schema 'sys' is reserved for system tables".into(),
            });
        }
        Ok(TableName {
            schema: schema.to_owned(),
            table: table.to_owned(),
        })
    }

    /// An internal table of the platform (plugin registry, audit log, refusals): stored
    /// under `system/` beside the data tables, never listed as a data table, and
    /// reachable from SQL only through the `sys` views built on it.
    pub fn system(table: &str) -> Result<Self> {
        if let Some(reason) = identifier_problem(table) {
            return Err(CatalogError::InvalidTableName {
                name: format!("{SYSTEM_SCHEMA}.{table}"),
                reason,
            });
        }
        Ok(TableName {
            schema: SYSTEM_SCHEMA.to_owned(),
            table: table.to_owned(),
        })
    }

    /// Whether this is an internal table (see [`TableName::system`]).
    pub fn is_system(&self) -> bool {
        self.schema == SYSTEM_SCHEMA
    }

    /// The schema (domain), e.g. `logistics`.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// The table within its schema, e.g. `parcels`.
    pub fn table(&self) -> &str {
        &self.table
    }
}

fn identifier_problem(part: &str) -> Option<String> {
    let mut chars = part.chars();
    match chars.next() {
        None => Some("empty schema or table part".into()),
        Some(c) if !c.is_ascii_lowercase() => {
            Some(format!("'{part}' must start with a lower-case letter a-z"))
        }
        _ if part.len() > 63 => Some(format!("'{part}' is longer than 63 characters")),
        _ if !chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') => Some(
            format!("'{part}' may contain only lower-case letters a-z, digits and '_'"),
        ),
        _ => None,
    }
}

impl FromStr for TableName {
    type Err = CatalogError;

    fn from_str(name: &str) -> Result<Self> {
        match name.trim().split_once('.') {
            Some((schema, table)) => TableName::new(schema, table),
            None => Err(CatalogError::InvalidTableName {
                name: name.to_owned(),
                reason: "expected schema.table, e.g. logistics.parcels".into(),
            }),
        }
    }
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.schema, self.table)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_valid_names() -> Result<()> {
        let name: TableName = "logistics.parcels".parse()?;
        assert_eq!(name.schema(), "logistics");
        assert_eq!(name.table(), "parcels");
        assert_eq!(name.to_string(), "logistics.parcels");
        Ok(())
    }

    #[test]
    fn refuses_bad_names() {
        for bad in [
            "parcels",
            "Logistics.parcels",
            "logistics.",
            "a.b.c",
            "logistics.par cels",
            "../etc.passwd",
            "sys.tables",
            "1x.y",
        ] {
            assert!(bad.parse::<TableName>().is_err(), "{bad} should be refused");
        }
    }
}
