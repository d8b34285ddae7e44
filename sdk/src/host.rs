//! What the platform offers a plugin: read-only SQL, logging and pseudonyms.
//!
//! In a WebAssembly build these call the host through the contract's imports. In a
//! native build (`cargo test`) they are answered by [`crate::testing`]'s stand-ins.

use arrow_array::RecordBatch;

use crate::PluginError;

/// Runs a read-only `SELECT` over committed tables and returns its rows.
///
/// Anything but a read-only query is refused by the host, which then fails the whole
/// call: plugins cannot write. The host hands a call's rows over in chunks, calling the
/// plugin once per chunk in the same sandbox; the answer to each query is kept for the
/// whole call, so every chunk is checked against the same committed rows and the host is
/// asked once.
pub fn query(sql: &str) -> Result<RecordBatch, PluginError> {
    if let Some(kept) = imp::kept_answer(sql) {
        return Ok(kept);
    }
    let bytes = imp::query(sql).map_err(PluginError)?;
    let answer = crate::ipc::decode(bytes)?;
    imp::keep_answer(sql, &answer);
    Ok(answer)
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

    use std::collections::HashMap;
    use std::sync::Mutex;

    use arrow_array::RecordBatch;

    /// The answers of this call's queries (an instance serves one call).
    static ANSWERS: Mutex<Option<HashMap<String, RecordBatch>>> = Mutex::new(None);

    pub fn kept_answer(sql: &str) -> Option<RecordBatch> {
        ANSWERS.lock().ok()?.as_ref()?.get(sql).cloned()
    }

    pub fn keep_answer(sql: &str, answer: &RecordBatch) {
        if let Ok(mut answers) = ANSWERS.lock() {
            answers
                .get_or_insert_with(HashMap::new)
                .insert(sql.to_owned(), answer.clone());
        }
    }

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

    use arrow_array::RecordBatch;

    /// Native tests answer each query afresh (a test may change the answers).
    pub fn kept_answer(_sql: &str) -> Option<RecordBatch> {
        None
    }

    pub fn keep_answer(_sql: &str, _answer: &RecordBatch) {}

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
