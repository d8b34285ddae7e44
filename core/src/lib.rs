//! The sannong engine: the service layer behind the `sannong` command and server.
//!
//! - [`platform`]: the service layer — one [`Platform`] per data location;
//! - [`access`], [`auth`]: roles, tokens, and the audit log of who did what;
//! - [`ingest`]: uploads — files to validated, atomic table versions, or refusals;
//! - [`query`]: read-only SQL through DataFusion with limits;
//! - [`plugin`]: department plugins, sandboxed WebAssembly components;
//! - [`programme`]: KPIs against targets, duty timeliness, milestones, the self-evaluation;
//! - [`server`]: the HTTP API and web pages over all of it;
//! - [`postgres`], [`flight`]: the PostgreSQL wire protocol and Arrow Flight SQL, for
//!   analysts' own tools;
//! - [`secrets`]: the platform's keys (pseudonyms of personal data);
//! - [`output`]: results as table, CSV, JSON or NDJSON;
//! - [`demo`]: the synthetic sample county;
//! - [`error`]: the engine's one error type.
//!
//! Storage, tables and the SQL catalog live in the `sannong-catalog` crate.

pub mod access;
pub mod auth;
pub mod demo;
pub mod error;
pub mod flight;
pub mod ingest;
pub mod output;
pub mod platform;
pub mod plugin;
pub mod postgres;
pub mod programme;
pub mod query;
pub mod secrets;
pub mod server;

pub use error::{Error, Result};
pub use platform::{Platform, PlatformConfig};
