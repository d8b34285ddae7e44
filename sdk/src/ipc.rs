//! Rows across the WebAssembly boundary: one Arrow IPC stream per call.
//!
//! The host's stream is decoded in place: the arrays point into the bytes the host
//! copied into the plugin's memory, with no second copy and no re-validation of what
//! the host built from arrays it had already checked. (arrow-ipc 59's `StreamDecoder`
//! validates record batches even when told not to — every string's UTF-8, every
//! offset — so the stream's messages are walked here and each batch decoded with
//! validation skipped.)

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_buffer::Buffer;
use arrow_data::UnsafeFlag;
use arrow_ipc::reader::RecordBatchDecoder;
use arrow_ipc::writer::StreamWriter;
use arrow_ipc::{MessageHeader, convert::fb_to_schema, root_as_message};
use arrow_schema::SchemaRef;

use crate::PluginError;

fn unreadable(e: impl std::fmt::Display) -> PluginError {
    PluginError(format!("cannot read the rows sent by the host: {e}"))
}

/// The little-endian `u32` at `at`.
fn word(bytes: &[u8], at: usize) -> Result<u32, PluginError> {
    bytes
        .get(at..at + 4)
        .and_then(|w| w.try_into().ok())
        .map(u32::from_le_bytes)
        .ok_or_else(|| unreadable("the stream ends inside a message header"))
}

/// Decodes an IPC stream written by the host into one batch (the stream's batches
/// concatenated), keeping the arrays in `bytes`.
pub fn decode(bytes: Vec<u8>) -> Result<RecordBatch, PluginError> {
    let buffer = Buffer::from_vec(bytes);
    let mut trusted = UnsafeFlag::new();
    #[allow(unsafe_code)]
    // SAFETY: the stream comes from the host, which encodes arrays it built and validated
    // itself (parsed uploads, query results); a plugin trusts its host, and a bad stream
    // could only harm the plugin's own sandbox.
    unsafe {
        trusted.set(true)
    };
    let no_dictionaries = HashMap::new();
    let mut schema: Option<SchemaRef> = None;
    let mut batches = Vec::new();
    let mut at = 0;
    while at < buffer.len() {
        // Each message: [0xFFFFFFFF] metadata length, metadata, body; length 0 ends it.
        let mut length = word(&buffer, at)?;
        at += 4;
        if length == u32::MAX {
            length = word(&buffer, at)?;
            at += 4;
        }
        if length == 0 {
            break;
        }
        let metadata_end = (at.checked_add(length as usize))
            .filter(|&end| end <= buffer.len())
            .ok_or_else(|| unreadable("the stream ends inside a message"))?;
        let message = root_as_message(&buffer[at..metadata_end]).map_err(unreadable)?;
        at = metadata_end;
        let body_length = usize::try_from(message.bodyLength()).map_err(unreadable)?;
        let body_end = (at.checked_add(body_length))
            .filter(|&end| end <= buffer.len())
            .ok_or_else(|| unreadable("the stream ends inside a message body"))?;
        let body = buffer.slice_with_length(at, body_length);
        at = body_end;
        match message.header_type() {
            MessageHeader::Schema => {
                let fields = message
                    .header_as_schema()
                    .ok_or_else(|| unreadable("a schema message without a schema"))?;
                schema = Some(Arc::new(fb_to_schema(fields)));
            }
            MessageHeader::RecordBatch => {
                let header = message
                    .header_as_record_batch()
                    .ok_or_else(|| unreadable("a batch message without a batch"))?;
                let schema = schema
                    .clone()
                    .ok_or_else(|| unreadable("rows before the schema"))?;
                let version = message.version();
                let batch =
                    RecordBatchDecoder::try_new(&body, header, schema, &no_dictionaries, &version)
                        .map_err(unreadable)?
                        .with_skip_validation(trusted.clone())
                        .read_record_batch()
                        .map_err(unreadable)?;
                batches.push(batch);
            }
            other => return Err(unreadable(format!("unexpected {other:?} message"))),
        }
    }
    let schema = schema.ok_or_else(|| unreadable("the stream has no schema"))?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Int64Array, StringArray};
    use arrow_schema::{DataType, Field, Schema};

    fn batch(from: i64) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("n", DataType::Int64, false),
            Field::new("s", DataType::Utf8, true),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from_iter_values(from..from + 3)),
                Arc::new(StringArray::from(vec![Some("石角镇"), None, Some("x")])),
            ],
        )
        .unwrap()
    }

    #[test]
    fn a_stream_decodes_to_the_rows_encoded() {
        let rows = batch(0);
        assert_eq!(decode(encode(&rows).unwrap()).unwrap(), rows);
        assert_eq!(
            decode(encode(&rows.slice(1, 0)).unwrap())
                .unwrap()
                .num_rows(),
            0
        );
    }

    #[test]
    fn a_stream_of_several_batches_decodes_to_one() {
        let (first, second) = (batch(0), batch(3));
        let mut bytes = Vec::new();
        let mut writer = StreamWriter::try_new(&mut bytes, &first.schema()).unwrap();
        writer.write(&first).unwrap();
        writer.write(&second).unwrap();
        writer.finish().unwrap();
        drop(writer);
        let joined = decode(bytes).unwrap();
        assert_eq!(
            joined,
            arrow_select::concat::concat_batches(&first.schema(), [&first, &second]).unwrap()
        );
    }

    #[test]
    fn a_cut_stream_is_an_error_not_a_panic() {
        let bytes = encode(&batch(0)).unwrap();
        for cut in [3, 9, bytes.len() / 2, bytes.len() - 9] {
            let error = decode(bytes[..cut].to_vec()).unwrap_err();
            assert!(
                error.0.starts_with("cannot read the rows sent by the host"),
                "{cut}: {}",
                error.0
            );
        }
    }
}
