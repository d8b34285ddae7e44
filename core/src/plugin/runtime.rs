//! Calling a plugin: a fresh sandboxed instance per call, under limits, with its output
//! checked before anything uses it.
//!
//! Every call gets a new store and instance (a trapped instance is never re-entered),
//! a wall-clock deadline (epoch interruption), a memory cap (`StoreLimits`), and caps on
//! output bytes, rows and diagnostics. The rows of a call reach the instance in chunks of
//! at most [`CHUNK_ROWS`], one export call per chunk: each chunk is encoded, copied in
//! and checked while it is still in the processor's cache, and the plugin's memory is
//! reused from one chunk to the next instead of being grown and faulted in for all rows. A call that traps, runs out of time or memory,
//! overflows its stack, returns malformed Arrow IPC or a schema other than its
//! manifest's, or asks `query` for a write fails with [`Error::PluginFailed`] naming the
//! plugin, the duty and the reason; the process and other plugins carry on.

use std::collections::HashSet;
use std::io::Cursor;
use std::sync::Arc;
use std::time::Duration;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use arrow::ipc::reader::StreamReader;
use arrow::ipc::writer::StreamWriter;
use serde::{Deserialize, Serialize};
use wasmtime::{Store, StoreLimitsBuilder, Trap};

use super::engine::{EPOCH_TICK, LoadedPlugin, PluginEngine};
use super::manifest::DutySpec;
use super::sandbox::{DepartmentPlugin, HostServices, HostState, PluginExports, wit};
use crate::error::{Error, Result};

/// Rows per export call: about 3.5 MB of parcel-like rows, which stay in the cache
/// between the host's encoding, the copy into the sandbox and the plugin's rules.
pub const CHUNK_ROWS: usize = 32 * 1024;

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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Refuses the upload.
    Error,
    /// Accepted with a warning.
    Warning,
}

/// A problem a plugin found in rows.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
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

    /// Runs one call in a fresh instance; `f` gives the value or why it is refused.
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
            Ok(Err(reason)) => Err(failed(reason)),
            Err(e) => Err(failed(failure_reason(&e, &store, &self.engine.limits))),
        }
    }

    /// Runs one export of a duty over `rows` in one fresh instance, a chunk at a time
    /// (see [`chunks`]); `take` gets the index of each chunk's first row, the chunk and the
    /// plugin's answer, and may refuse it.
    fn call_chunks<T>(
        &self,
        plugin: &LoadedPlugin,
        duty: &str,
        period: Option<&str>,
        rows: &[RecordBatch],
        export: impl Fn(
            &PluginExports,
            &mut Store<HostState>,
            &wit::Request,
        ) -> wasmtime::Result<std::result::Result<T, String>>,
        mut take: impl FnMut(usize, &RecordBatch, T) -> std::result::Result<(), String>,
    ) -> Result<()> {
        self.call(plugin, duty, |instance, store| {
            let mut request = wit::Request {
                duty: duty.to_owned(),
                period: period.map(str::to_owned),
                rows: Vec::new(),
            };
            for (offset, chunk) in chunks(rows) {
                // The buffer is reused from chunk to chunk.
                encode_into(&mut request.rows, &chunk).map_err(wasmtime::Error::msg)?;
                let refused = match export(instance.sannong_plugin_plugin(), store, &request)? {
                    Ok(answer) => take(offset, &chunk, answer).err(),
                    Err(message) => Some(reported(&message)),
                };
                if let Some(reason) = refused {
                    return Ok(Err(reason));
                }
            }
            Ok(Ok(()))
        })
    }

    /// Runs a duty's `validate` over rows (batches of the duty's template schema).
    pub fn validate(
        &self,
        plugin: &LoadedPlugin,
        duty: &str,
        period: Option<&str>,
        rows: &[RecordBatch],
    ) -> Result<Vec<PluginDiagnostic>> {
        self.duty(plugin, duty)?;
        let limit = self.engine.limits.max_diagnostics;
        let mut found = Vec::new();
        let mut upload_wide = HashSet::new();
        self.call_chunks(
            plugin,
            duty,
            period,
            rows,
            |exports, store, request| exports.call_validate(store, request),
            |offset, _, diagnostics| {
                for d in diagnostics {
                    let d = diagnostic(d, offset);
                    // A problem of the whole upload is said once, not once per chunk.
                    if d.row.is_some() || upload_wide.insert(d.clone()) {
                        found.push(d);
                    }
                }
                if found.len() > limit {
                    return Err(format!(
                        "it returned {} diagnostics, more than the limit of {limit}",
                        found.len()
                    ));
                }
                Ok(())
            },
        )?;
        Ok(found)
    }

    /// Runs a duty's `transform` over valid rows and checks the rows it returns.
    pub fn transform(
        &self,
        plugin: &LoadedPlugin,
        duty: &str,
        period: Option<&str>,
        rows: &[RecordBatch],
    ) -> Result<Vec<RecordBatch>> {
        let expected = self.duty(plugin, duty)?.stored_schema();
        let limits = self.engine.limits;
        let mut out: Vec<RecordBatch> = Vec::new();
        let mut bytes_returned = 0usize;
        self.call_chunks(
            plugin,
            duty,
            period,
            rows,
            |exports, store, request| exports.call_transform(store, request),
            |_, chunk, bytes| {
                bytes_returned = bytes_returned.saturating_add(bytes.len());
                if bytes_returned > limits.max_output_bytes {
                    return Err(format!(
                        "it returned {} MB of rows, more than the limit of {} MB",
                        bytes_returned >> 20,
                        limits.max_output_bytes >> 20
                    ));
                }
                out.push(checked_output(
                    &bytes,
                    chunk.num_rows(),
                    &expected,
                    &limits,
                )?);
                Ok(())
            },
        )?;
        Ok(out)
    }
}

/// What a plugin said when it refused rows.
fn reported(message: &str) -> String {
    format!(
        "it reported an error: {}",
        sannong_catalog::one_line(message)
    )
}

/// Rows a `transform` returned for `received` rows, checked against the limits and the
/// duty's stored schema.
fn checked_output(
    bytes: &[u8],
    received: usize,
    expected: &SchemaRef,
    limits: &PluginLimits,
) -> std::result::Result<RecordBatch, String> {
    let output = decode(bytes)
        .map_err(|e| format!("it returned rows that are not valid Arrow IPC ({e})"))?;
    let max_rows = received.saturating_mul(limits.max_output_rows_per_input_row);
    if output.num_rows() > max_rows {
        return Err(format!(
            "it returned {} rows for {received} rows received, more than the limit of {max_rows}",
            output.num_rows(),
        ));
    }
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
            .all(|(got, want)| got.name() == want.name() && got.data_type() == want.data_type());
    if !matches {
        return Err(format!(
            "it returned columns ({}) but its manifest declares ({})",
            names(&output.schema()),
            names(expected)
        ));
    }
    // Rebuilding on the declared schema also checks that non-nullable columns have no nulls.
    RecordBatch::try_new(expected.clone(), output.columns().to_vec())
        .map_err(|e| format!("its rows do not fit its manifest: {e}"))
}

/// A plugin's diagnostic, with its row counted from the first row of the call.
fn diagnostic(d: wit::Diagnostic, offset: usize) -> PluginDiagnostic {
    PluginDiagnostic {
        row: d.row.map(|r| r.saturating_add(offset as u32)),
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

/// `rows` in chunks of at most [`CHUNK_ROWS`] rows, each with the index of its first
/// row among all of them; one empty chunk when there are batches but no rows.
pub fn chunks(rows: &[RecordBatch]) -> impl Iterator<Item = (usize, RecordBatch)> + '_ {
    let slices = rows.iter().flat_map(|batch| {
        (0..batch.num_rows())
            .step_by(CHUNK_ROWS)
            .map(|start| batch.slice(start, CHUNK_ROWS.min(batch.num_rows() - start)))
    });
    let empty = rows.first().map(|b| b.slice(0, 0));
    let none = rows.iter().all(|b| b.num_rows() == 0);
    slices
        .chain(empty.filter(|_| none))
        .scan(0, |offset, chunk| {
            let first = *offset;
            *offset += chunk.num_rows();
            Some((first, chunk))
        })
}

/// Rows as one Arrow IPC stream.
pub fn encode(rows: &RecordBatch) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    encode_into(&mut out, rows)?;
    Ok(out)
}

/// Rows as one Arrow IPC stream, written over `out` (whose memory is reused).
fn encode_into(out: &mut Vec<u8>, rows: &RecordBatch) -> Result<()> {
    let failed = |e: arrow::error::ArrowError| Error::Internal(format!("encoding rows: {e}"));
    out.clear();
    let mut writer = StreamWriter::try_new(&mut *out, &rows.schema()).map_err(failed)?;
    writer.write(rows).map_err(failed)?;
    writer.finish().map_err(failed)
}

/// One Arrow IPC stream as one batch.
pub fn decode(bytes: &[u8]) -> std::result::Result<RecordBatch, arrow::error::ArrowError> {
    let reader = StreamReader::try_new(Cursor::new(bytes), None)?;
    let schema = reader.schema();
    let batches = reader.collect::<std::result::Result<Vec<_>, _>>()?;
    arrow::compute::concat_batches(&schema, &batches)
}
