//! The one error type of the catalog crate, grouped by whose fault it is.
//!
//! Bad input (a name, period or location the caller got wrong), conflicts a retry may
//! resolve, storage failures (object store, Delta log) and internal bugs. Every message
//! names the table, version or location involved.

use thiserror::Error;

/// Result alias used throughout the catalog crate.
pub type Result<T, E = CatalogError> = std::result::Result<T, E>;

/// Everything that can go wrong in the catalog.
#[derive(Debug, Error)]
pub enum CatalogError {
    // --- bad input -------------------------------------------------------------
    /// A table name that is not `schema.table` in lower-case ASCII.
    #[error("invalid table name '{name}': {reason}")]
    InvalidTableName {
        /// The name as given.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A period that is not `YYYY-MM`.
    #[error("invalid period '{value}': expected YYYY-MM, e.g. 2021-03")]
    InvalidPeriod {
        /// The period as given.
        value: String,
    },
    /// A `--data` location that cannot be used.
    #[error("invalid data location '{location}': {reason}")]
    InvalidLocation {
        /// The location as given.
        location: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A programme file (departments, duties, KPIs, schedule) that cannot be used.
    #[error("programme file {file}: {detail}")]
    InvalidProgramme {
        /// The file.
        file: String,
        /// What is wrong, naming the id.
        detail: String,
    },
    /// A county id or county that cannot be used.
    #[error("county '{id}': {reason}")]
    InvalidCounty {
        /// The id as given.
        id: String,
        /// What is wrong.
        reason: String,
    },
    /// Something asked for by id (a token…) does not exist.
    #[error("{what} does not exist")]
    NotFound {
        /// What was asked for, e.g. `token k7f3a9c2`.
        what: String,
    },
    /// The table does not exist.
    #[error("table {table} does not exist")]
    TableNotFound {
        /// The table asked for.
        table: String,
    },
    /// The requested version of a table does not exist (or no longer exists).
    #[error("table {table} has no version {version}{hint}")]
    VersionNotFound {
        /// The table asked for.
        table: String,
        /// The version or time asked for.
        version: String,
        /// What versions exist.
        hint: String,
    },
    /// Data whose schema does not fit the table.
    #[error("data does not fit table {table}: {detail}")]
    SchemaMismatch {
        /// The table written to.
        table: String,
        /// Which column and why.
        detail: String,
    },

    // --- concurrency -----------------------------------------------------------
    /// Other writers kept committing to the same table; every retry lost the race.
    #[error(
        "could not commit to {table}: {attempts} attempts lost to concurrent commits; try again"
    )]
    CommitConflict {
        /// The table written to.
        table: String,
        /// How many attempts were made.
        attempts: usize,
    },

    // --- storage ---------------------------------------------------------------
    /// The object store cannot be reached (network, credentials, bucket).
    #[error("cannot reach data location {location}: {detail}")]
    Unreachable {
        /// The location as configured.
        location: String,
        /// The underlying cause in one line.
        detail: String,
    },
    /// A storage operation failed.
    #[error("{context}: {detail}")]
    Storage {
        /// What was being done (names the table).
        context: String,
        /// The underlying cause.
        detail: String,
    },

    // --- internal ----------------------------------------------------------------
    /// A bug: an invariant of the catalog did not hold.
    #[error("internal error in the catalog: {0}")]
    Internal(String),
}

impl CatalogError {
    /// A storage error with context, from any displayable cause.
    pub fn storage(context: impl Into<String>, cause: impl std::fmt::Display) -> Self {
        CatalogError::Storage {
            context: context.into(),
            detail: one_line(&cause.to_string()),
        }
    }
}

/// Collapses a multi-line error message (object store errors nest their causes over
/// several lines) into one readable line.
pub fn one_line(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}
