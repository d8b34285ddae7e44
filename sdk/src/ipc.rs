//! Rows across the WebAssembly boundary: one Arrow IPC stream per call.
//!
//! The host's stream is decoded in place: the arrays point into the bytes the host
//! copied into the plugin's memory, with no second copy and no re-validation of what
//! the host built from arrays it had already checked.

use arrow_array::RecordBatch;
use arrow_buffer::Buffer;
use arrow_ipc::reader::StreamDecoder;
use arrow_ipc::writer::StreamWriter;

use crate::PluginError;

fn unreadable(e: impl std::fmt::Display) -> PluginError {
    PluginError(format!("cannot read the rows sent by the host: {e}"))
}

/// Decodes an IPC stream written by the host into one batch (the stream's batches
/// concatenated), keeping the arrays in `bytes`.
pub fn decode(bytes: Vec<u8>) -> Result<RecordBatch, PluginError> {
    let mut buffer = Buffer::from_vec(bytes);
    #[allow(unsafe_code)]
    // SAFETY: the stream comes from the host, which encodes arrays it built and validated
    // itself (parsed uploads, query results); a plugin trusts its host, and a bad stream
    // could only harm the plugin's own sandbox.
    let mut decoder = unsafe { StreamDecoder::new().with_skip_validation(true) };
    let mut batches = Vec::new();
    while !buffer.is_empty() {
        if let Some(batch) = decoder.decode(&mut buffer).map_err(unreadable)? {
            batches.push(batch);
        }
    }
    decoder.finish().map_err(unreadable)?;
    let schema = decoder
        .schema()
        .ok_or_else(|| unreadable("the stream has no schema"))?;
    match batches.len() {
        0 => Ok(RecordBatch::new_empty(schema)),
        1 => Ok(batches.swap_remove(0)),
        _ => arrow_select::concat::concat_batches(&schema, &batches)
            .map_err(|e| PluginError(format!("cannot join the rows sent by the host: {e}"))),
    }
}

/// Encodes one batch as an IPC stream.
pub fn encode(batch: &RecordBatch) -> Result<Vec<u8>, PluginError> {
    let mut out = Vec::with_capacity(batch.get_array_memory_size() + 1024);
    let mut writer = StreamWriter::try_new(&mut out, &batch.schema())
        .map_err(|e| PluginError(format!("cannot encode rows: {e}")))?;
    writer
        .write(batch)
        .map_err(|e| PluginError(format!("cannot encode rows: {e}")))?;
    writer
        .finish()
        .map_err(|e| PluginError(format!("cannot encode rows: {e}")))?;
    drop(writer);
    Ok(out)
}
