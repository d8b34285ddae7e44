//! What the platform offers a plugin: read-only SQL, logging and pseudonyms.
//!
//! In a WebAssembly build these call the host through the contract's imports. In a
//! native build (`cargo test`) they are answered by [`crate::testing`]'s stand-ins.

use arrow_array::RecordBatch;

use crate::PluginError;

/// Runs a read-only `SELECT` over committed tables and returns its rows.
///
/// Anything but a read-only query is refused by the host, which then fails the whole
/// call: plugins cannot write.
pub fn query(sql: &str) -> Result<RecordBatch, PluginError> {
    let bytes = imp::query(sql).map_err(PluginError)?;
    crate::ipc::decode(bytes)
}

/// Logs a message at info level.
pub fn info(message: &str) {
    imp::log(imp::Level::Info, message);
}

/// Logs a message at warning level.
pub fn warn(message: &str) {
    imp::log(imp::Level::Warn, message);
}

/// Logs a message at debug level.
pub fn debug(message: &str) {
    imp::log(imp::Level::Debug, message);
}

/// The platform's keyed pseudonym of a personal identifier (e.g. a resident ID number).
/// The key never reaches the plugin; the same identifier always gives the same pseudonym.
pub fn pseudonym(identifier: &str) -> String {
    imp::pseudonym(identifier)
}

#[cfg(target_arch = "wasm32")]
mod imp {
    use crate::bindings::sannong::plugin::{log, pseudonym, query};

    pub use log::Level;

    pub fn query(sql: &str) -> Result<Vec<u8>, String> {
        query::run(sql)
    }

    pub fn log(level: Level, message: &str) {
        log::write(level, message);
    }

    pub fn pseudonym(identifier: &str) -> String {
        pseudonym::of(identifier)
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod imp {
    pub use crate::testing::Level;

    pub fn query(sql: &str) -> Result<Vec<u8>, String> {
        crate::testing::answer_query(sql)
    }

    pub fn log(level: Level, message: &str) {
        crate::testing::record_log(level, message);
    }

    pub fn pseudonym(identifier: &str) -> String {
        crate::testing::test_pseudonym(identifier)
    }
}
