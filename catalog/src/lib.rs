//! sannong's catalog: metadata and storage of the programme's data.
//!
//! Tables are Delta Lake tables under one object-store root (a local directory or an
//! S3 prefix), one per `schema.table` ([`TableName`]). [`Catalog`] lists, loads (also as
//! of a version or time), commits (snapshot or period replace, carrying a
//! [`SubmissionRecord`]) and reads history ([`TableVersion`]). The [`sql`] module exposes
//! all of it to DataFusion: the tables, the `sys` schema and `table_at(...)` time travel.
//!
//! Neighbours: `core` (the `sannong` binary) builds its query service and upload
//! pipeline on this crate.

pub mod audit;
mod commit_in_parts;
mod counties;
mod data_files;
mod error;
mod history;
mod local_listing;
mod location;
mod mapped_files;
mod plugins;
pub mod programme;
mod records;
mod snapshots;
pub mod sql;
mod submission;
mod table_name;
mod tables;
mod tokens;

pub use commit_in_parts::CommitInParts;
pub use counties::{CountyRecord, check_county_id};
pub use error::{CatalogError, Result, one_line};
pub use history::TableVersion;
pub use location::DataLocation;
pub use plugins::{PluginAction, PluginEvent};
pub use submission::{
    CommitMode, Period, PluginRef, SUBMISSION_KEY, SubmissionRecord, new_submission_id,
};
pub use table_name::TableName;
pub use tables::{
    Catalog, CommitOutcome, PERIOD_COLUMN, SUBMISSION_ID_COLUMN, TableAt, TableSummary,
};
pub use tokens::TokenRecord;
