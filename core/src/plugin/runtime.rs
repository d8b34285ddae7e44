//! Calling a plugin: a fresh sandboxed instance per call, under limits, with its output
//! checked before anything uses it.
//!
//! Every call gets a new store and instance (a trapped instance is never re-entered),
//! a wall-clock deadline (epoch interruption), a memory cap (`StoreLimits`), and caps on
//! output bytes, rows and diagnostics. A call that traps, runs out of time or memory,
//! overflows its stack, returns malformed Arrow IPC or a schema other than its
//! manifest's, or asks `query` for a write fails with [`Error::PluginFailed`] naming the
//! plugin, the duty and the reason; the process and other plugins carry on.

use std::io::Cursor;
use std::sync::Arc;
use std::time::Duration;

use arrow::array::RecordBatch;
use arrow::ipc::reader::StreamReader;
use arrow::ipc::writer::StreamWriter;
use serde::{Deserialize, Serialize};
use wasmtime::{Store, StoreLimitsBuilder, Trap};

use super::engine::{EPOCH_TICK, LoadedPlugin, PluginEngine};
use super::manifest::DutySpec;
use super::sandbox::{DepartmentPlugin, HostServices, HostState, wit};
use crate::error::{Error, Result};

/// Limits on every plugin call.
#[derive(Debug, Clone, Copy)]
pub struct PluginLimits {
    /// Wall-clock time of one call.
    pub timeout: Duration,
    /// Linear memory of one instance.
    pub memory_bytes: usize,
    /// Bytes of Arrow IPC a `transform` may return.
    pub max_output_bytes: usize,
    /// Rows a `transform` may return, per row received (a plugin may not multiply rows
    /// without bound).
    pub max_output_rows_per_input_row: usize,
    /// Diagnostics a `validate` may return.
    pub max_diagnostics: usize,
}

impl Default for PluginLimits {
    fn default() -> Self {
        PluginLimits {
            timeout: Duration::from_secs(60),
            memory_bytes: 1 << 30,
            max_output_bytes: 1 << 30,
            max_output_rows_per_input_row: 1,
            max_diagnostics: 100_000,
        }
    }
}

/// How bad a problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Refuses the upload.
    Error,
    /// Accepted with a warning.
    Warning,
}

/// A problem a plugin found in rows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginDiagnostic {
    /// Row index in the batch sent (0-based), or none for the whole upload.
    pub row: Option<u32>,
    /// Column key.
    pub column: Option<String>,
    /// Offending value.
    pub value: Option<String>,
    /// Rule id.
    pub rule: String,
    /// Chinese message.
    pub message_zh: String,
    /// English message.
    pub message_en: String,
    /// Error or warning.
    pub severity: Severity,
}

/// A fresh store for one call of `plugin_id`.
pub(super) fn new_store(
    engine: &PluginEngine,
    plugin_id: &str,
    services: Option<Arc<dyn HostServices>>,
) -> Store<HostState> {
    let limits = StoreLimitsBuilder::new()
        .memory_size(engine.limits.memory_bytes)
        .instances(64)
        .tables(64)
        .memories(16)
        .trap_on_grow_failure(true)
        .build();
    let mut store = Store::new(&engine.engine, HostState::new(plugin_id, limits, services));
    store.limiter(|state| &mut state.limits);
    let ticks = (engine.limits.timeout.as_millis() / EPOCH_TICK.as_millis()).max(1) as u64;
    store.set_epoch_deadline(ticks);
    store.epoch_deadline_trap();
    store
}

/// Why a call failed, in words a plugin author and an uploader understand.
pub(super) fn failure_reason(
    e: &wasmtime::Error,
    store: &Store<HostState>,
    limits: &PluginLimits,
) -> String {
    // Rust's panic handler adds a hint about RUST_BACKTRACE, which means nothing here.
    let stderr: String = store
        .data()
        .stderr()
        .lines()
        .filter(|l| !l.starts_with("note: run with `RUST_BACKTRACE"))
        .collect::<Vec<_>>()
        .join(" ");
    let said = if stderr.is_empty() {
        String::new()
    } else {
        format!(": {}", sannong_catalog::one_line(&stderr))
    };
    match e.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => format!("it ran longer than its time limit of {} s and was stopped", limits.timeout.as_secs_f64()),
        Some(Trap::StackOverflow) => "it overflowed its call stack (recursion too deep) and was stopped".into(),
        // Rust puts a plugin's stack first in its memory, so a stack overflow runs
        // below address 0 and traps here rather than corrupting data.
        Some(Trap::MemoryOutOfBounds) => {
            "it accessed memory out of bounds and was stopped (most often its stack overflowed: recursion too deep)".into()
        }
        Some(Trap::UnreachableCodeReached) if !stderr.is_empty() => format!("it crashed{said}"),
        Some(trap) => format!("it trapped ({trap}){said}"),
        None => {
            let text = format!("{e:#}");
            if text.contains("forcing trap when growing memory") || text.contains("memory growth failure") {
                format!("it needed more than its memory limit of {} MB and was stopped", limits.memory_bytes >> 20)
            } else {
                format!("{}{said}", sannong_catalog::one_line(&text))
            }
        }
    }
}

/// Calls plugins.
#[derive(Clone)]
pub struct PluginRuntime {
    engine: Arc<PluginEngine>,
    services: Option<Arc<dyn HostServices>>,
}

impl std::fmt::Debug for PluginRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginRuntime")
            .field("engine", &self.engine)
            .finish()
    }
}

impl PluginRuntime {
    /// Calls plugins of `engine`, answering their imports with `services`.
    pub fn new(engine: Arc<PluginEngine>, services: Option<Arc<dyn HostServices>>) -> Self {
        PluginRuntime { engine, services }
    }

    /// The engine.
    pub fn engine(&self) -> &Arc<PluginEngine> {
        &self.engine
    }

    fn duty<'a>(&self, plugin: &'a LoadedPlugin, duty: &str) -> Result<&'a DutySpec> {
        plugin.manifest.duty(duty).ok_or_else(|| {
            Error::InvalidArgument(format!(
                "plugin {} has no duty '{duty}'",
                plugin.manifest.plugin_id
            ))
        })
    }

    /// Runs one call in a fresh instance.
    fn call<R>(
        &self,
        plugin: &LoadedPlugin,
        duty: &str,
        f: impl FnOnce(
            &DepartmentPlugin,
            &mut Store<HostState>,
        ) -> wasmtime::Result<std::result::Result<R, String>>,
    ) -> Result<R> {
        let plugin_id = &plugin.manifest.plugin_id;
        let failed = |reason: String| Error::PluginFailed {
            plugin: plugin_id.clone(),
            duty: duty.to_owned(),
            reason,
        };
        let mut store = new_store(&self.engine, plugin_id, self.services.clone());
        let outcome = plugin
            .pre
            .instantiate(&mut store)
            .and_then(|instance| f(&instance, &mut store));
        if let Some(violation) = store.data().violation.clone() {
            return Err(failed(violation));
        }
        match outcome {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(message)) => Err(failed(format!(
                "it reported an error: {}",
                sannong_catalog::one_line(&message)
            ))),
            Err(e) => Err(failed(failure_reason(&e, &store, &self.engine.limits))),
        }
    }

    /// Runs a duty's `validate` over rows.
    pub fn validate(
        &self,
        plugin: &LoadedPlugin,
        duty: &str,
        period: Option<&str>,
        rows: &RecordBatch,
    ) -> Result<Vec<PluginDiagnostic>> {
        self.duty(plugin, duty)?;
        let request = request(duty, period, rows)?;
        let found = self.call(plugin, duty, |instance, store| {
            instance
                .sannong_plugin_plugin()
                .call_validate(store, &request)
        })?;
        let limit = self.engine.limits.max_diagnostics;
        if found.len() > limit {
            return Err(Error::PluginFailed {
                plugin: plugin.manifest.plugin_id.clone(),
                duty: duty.to_owned(),
                reason: format!(
                    "it returned {} diagnostics, more than the limit of {limit}",
                    found.len()
                ),
            });
        }
        Ok(found.into_iter().map(diagnostic).collect())
    }

    /// Runs a duty's `transform` over valid rows and checks the rows it returns.
    pub fn transform(
        &self,
        plugin: &LoadedPlugin,
        duty: &str,
        period: Option<&str>,
        rows: &RecordBatch,
    ) -> Result<RecordBatch> {
        let spec = self.duty(plugin, duty)?;
        let request = request(duty, period, rows)?;
        let bytes = self.call(plugin, duty, |instance, store| {
            instance
                .sannong_plugin_plugin()
                .call_transform(store, &request)
        })?;
        let failed = |reason: String| Error::PluginFailed {
            plugin: plugin.manifest.plugin_id.clone(),
            duty: duty.to_owned(),
            reason,
        };
        let limits = self.engine.limits;
        if bytes.len() > limits.max_output_bytes {
            return Err(failed(format!(
                "it returned {} MB of rows, more than the limit of {} MB",
                bytes.len() >> 20,
                limits.max_output_bytes >> 20
            )));
        }
        let output = decode(&bytes).map_err(|e| {
            failed(format!(
                "it returned rows that are not valid Arrow IPC ({e})"
            ))
        })?;
        let max_rows = rows
            .num_rows()
            .saturating_mul(limits.max_output_rows_per_input_row);
        if output.num_rows() > max_rows {
            return Err(failed(format!(
                "it returned {} rows for {} rows received, more than the limit of {max_rows}",
                output.num_rows(),
                rows.num_rows()
            )));
        }
        let expected = spec.stored_schema();
        let names = |s: &arrow::datatypes::Schema| {
            s.fields()
                .iter()
                .map(|f| format!("{} {}", f.name(), f.data_type()))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let matches = output.schema().fields().len() == expected.fields().len()
            && output
                .schema()
                .fields()
                .iter()
                .zip(expected.fields())
                .all(|(got, want)| {
                    got.name() == want.name() && got.data_type() == want.data_type()
                });
        if !matches {
            return Err(failed(format!(
                "it returned columns ({}) but its manifest declares ({})",
                names(&output.schema()),
                names(&expected)
            )));
        }
        // Rebuilding on the declared schema also checks that non-nullable columns have no nulls.
        RecordBatch::try_new(expected, output.columns().to_vec())
            .map_err(|e| failed(format!("its rows do not fit its manifest: {e}")))
    }
}

fn diagnostic(d: wit::Diagnostic) -> PluginDiagnostic {
    PluginDiagnostic {
        row: d.row,
        column: d.column,
        value: d.value,
        rule: d.rule,
        message_zh: d.message_zh,
        message_en: d.message_en,
        severity: match d.severity {
            wit::Severity::Error => Severity::Error,
            wit::Severity::Warning => Severity::Warning,
        },
    }
}

fn request(duty: &str, period: Option<&str>, rows: &RecordBatch) -> Result<wit::Request> {
    Ok(wit::Request {
        duty: duty.to_owned(),
        period: period.map(str::to_owned),
        rows: encode(rows)?,
    })
}

/// Rows as one Arrow IPC stream.
pub fn encode(rows: &RecordBatch) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(rows.get_array_memory_size() + 1024);
    let mut writer = StreamWriter::try_new(&mut out, &rows.schema())
        .map_err(|e| Error::Internal(format!("encoding rows: {e}")))?;
    writer
        .write(rows)
        .map_err(|e| Error::Internal(format!("encoding rows: {e}")))?;
    writer
        .finish()
        .map_err(|e| Error::Internal(format!("encoding rows: {e}")))?;
    drop(writer);
    Ok(out)
}

/// One Arrow IPC stream as one batch.
pub fn decode(bytes: &[u8]) -> std::result::Result<RecordBatch, arrow::error::ArrowError> {
    let reader = StreamReader::try_new(Cursor::new(bytes), None)?;
    let schema = reader.schema();
    let batches = reader.collect::<std::result::Result<Vec<_>, _>>()?;
    arrow::compute::concat_batches(&schema, &batches)
}
