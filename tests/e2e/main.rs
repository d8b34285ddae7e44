//! End-to-end tests of the `sannong` engine and binary.
//!
//! - `slt`: the SQL behaviour in `tests/slt/*.slt` (sqllogictest) over a fixture county;
//! - `cli`: the real `sannong` binary, as a user runs it.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod cli;
mod fixture;
mod slt;
