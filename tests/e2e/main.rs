//! End-to-end tests of the `sannong` engine and binary.
//!
//! - `slt`: the SQL behaviour in `tests/slt/*.slt` (sqllogictest) over a fixture county;
//! - `cli`: the real `sannong` binary, as a user runs it;
//! - `departments`: the department plugins and the sample county;
//! - `kpis`: KPIs, duty timeliness, milestones and the self-evaluation;
//! - `plugins`: the plugin sandbox with real components (example and hostile plugins);
//! - `uploads`: department files through `sannong upload`;
//! - `server`: the HTTP API of `sannong serve`, with every role;
//! - `connect`: analysts' own tools — psql, psycopg and ADBC over the PostgreSQL
//!   protocol and Arrow Flight SQL;
//! - `web`: the web pages in headless chromium;
//! - `s3`: the platform on S3 (moto), two servers on one bucket;
//! - `s3_faults`: an S3 endpoint failing or stalling mid-upload (fault-injecting proxy);
//! - `counties`: one deployment serving several counties, locally and on S3.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod cli;
mod connect;
mod counties;
mod departments;
mod fixture;
mod kpis;
mod plugins;
mod s3;
mod s3_faults;
mod server;
mod slt;
mod uploads;
mod web;
