//! Integration tests of the catalog's write API, history and SQL catalog.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod audit;
mod concurrency;
mod faults;
mod files;
mod in_memory;
mod sessions;
mod support;
mod write_api;
