//! Rows across the WebAssembly boundary: one Arrow IPC stream per call.

use std::io::Cursor;

use arrow_array::RecordBatch;
use arrow_ipc::reader::StreamReader;
use arrow_ipc::writer::StreamWriter;

use crate::PluginError;

/// Decodes an IPC stream into one batch (the stream's batches concatenated).
pub fn decode(bytes: &[u8]) -> Result<RecordBatch, PluginError> {
    let reader = StreamReader::try_new(Cursor::new(bytes), None)
        .map_err(|e| PluginError(format!("cannot read the rows sent by the host: {e}")))?;
    let schema = reader.schema();
    let batches = reader
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| PluginError(format!("cannot read the rows sent by the host: {e}")))?;
    match batches.len() {
        1 => Ok(batches
            .into_iter()
            .next()
            .unwrap_or_else(|| RecordBatch::new_empty(schema))),
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
