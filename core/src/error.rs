//! The one error type of the sannong engine, grouped by whose fault it is.
//!
//! Bad input (refused SQL, unknown table, bad arguments), plan and execution failures
//! of a query, limits hit (timeout, memory), storage failures (from the catalog) and
//! internal bugs. The CLI prints an error as one line; the HTTP layer (6/10) maps the
//! kind to a status code in one place.

use sannong_catalog::CatalogError;
use thiserror::Error;

/// Result alias of the engine.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the engine.
#[derive(Debug, Error)]
pub enum Error {
    // --- bad input -------------------------------------------------------------
    /// A statement that the read-only query service does not run.
    #[error("refused: {statement} is not allowed: {reason}")]
    Refused {
        /// The kind of statement, e.g. `INSERT`, `CREATE EXTERNAL TABLE`.
        statement: String,
        /// Why, and what to do instead.
        reason: String,
    },
    /// SQL that does not parse or plan (unknown table or column, type error, …).
    #[error("{0}")]
    InvalidQuery(String),
    /// The programme's definition (departments, duties, KPIs, schedule) is unusable.
    #[error("{0}")]
    Programme(String),
    /// No valid credentials (HTTP 401).
    #[error("{0}")]
    Unauthorized(String),
    /// Valid credentials, but the role may not do this (HTTP 403); names the role needed.
    #[error("{0}")]
    Forbidden(String),
    /// A command-line or API argument that is wrong.
    #[error("{0}")]
    InvalidArgument(String),

    /// A component that cannot be installed (not a component, imports what plugins are
    /// not granted, invalid manifest, a duty served by another plugin…).
    #[error("plugin {plugin} refused: {reason}")]
    PluginRefused {
        /// Plugin id or file name.
        plugin: String,
        /// Why.
        reason: String,
    },
    /// No installed plugin has this id, or serves this duty.
    #[error("{0}")]
    PluginNotFound(String),

    // --- limits ----------------------------------------------------------------
    /// The query ran longer than its time limit and was cancelled.
    #[error(
        "query cancelled: it ran longer than the limit of {seconds} s (raise it with --query-timeout)"
    )]
    Timeout {
        /// The limit, in seconds.
        seconds: u64,
    },
    /// The query needed more memory than its limit.
    #[error(
        "query stopped: it needed more than the memory limit of {limit_mb} MB (raise it with --query-memory): {detail}"
    )]
    MemoryLimit {
        /// The limit, in MB.
        limit_mb: u64,
        /// What DataFusion reported.
        detail: String,
    },

    // --- execution and storage ---------------------------------------------------
    /// A plugin call failed: trap, limit, malformed output, forbidden request.
    #[error("plugin {plugin} failed on duty {duty}: {reason}")]
    PluginFailed {
        /// Plugin id.
        plugin: String,
        /// Duty id.
        duty: String,
        /// What happened.
        reason: String,
    },
    /// A query failed while running.
    #[error("query failed: {0}")]
    Execution(String),
    /// The catalog (storage, tables, history) failed or refused.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// Writing output failed.
    #[error("cannot write the output: {0}")]
    Output(String),

    // --- internal ----------------------------------------------------------------
    /// A bug.
    #[error("internal error: {0}")]
    Internal(String),
}
