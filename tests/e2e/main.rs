//! End-to-end tests of the `sannong` engine and binary.
//!
//! - `slt`: the SQL behaviour in `tests/slt/*.slt` (sqllogictest) over a fixture county;
//! - `cli`: the real `sannong` binary, as a user runs it;
//! - `plugins`: the plugin sandbox with real components (example and hostile plugins).

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod cli;
mod fixture;
mod plugins;
mod slt;
