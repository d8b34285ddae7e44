//! Keys unique within an upload, checked over any number of rows in bounded memory.
//!
//! Each row's key is recorded as it is read — a 128-bit hash, the row's number and the
//! key as messages show it (masked when personal) — in one of 64 partitions chosen by
//! the hash, whose records go to an anonymous temporary file once past 256 KB. When
//! every row is read, the partitions are read back one at a time on each core (as the
//! template's checks run) and the rows whose key an earlier row had are named. Memory
//! holds the partitions' buffers and a partition per core, a sixty-fourth of the keys
//! each, whatever the file's size.
//!
//! The hash is two 64-bit hashes seeded afresh for each upload, so that no file can be
//! made to collide: two keys that differ share one with a chance under 10⁻²⁴ in a file
//! of ten million rows.

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom, Write};
use std::sync::Mutex;

use ahash::RandomState;
use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::row::{RowConverter, SortField};

use super::checks::{Check, cell_text, on_every_core};
use super::problems::{Problem, push_shown_value};
use super::typed::TypedRows;
use crate::error::{Error, Result};
use crate::plugin::manifest::{DutySpec, TemplateColumn};

/// Partitions the keys are spread over.
const PARTITIONS: usize = 64;

/// Bytes of records a partition holds before they go to its file.
const BUFFER_BYTES: usize = 256 << 10;

/// The keys of the rows read so far, for every key of the duty unique within a file.
pub struct UniqueKeys {
    hashers: [RandomState; 2],
    keys: Vec<KeyRecords>,
}

/// The records of one unique key.
struct KeyRecords {
    /// The key's columns, as template column indexes.
    positions: Vec<usize>,
    columns: Vec<String>,
    personal: bool,
    partitions: Vec<Partition>,
}

/// Records `hash (16 bytes) | row (4) | length (4) | shown key (length)`, little-endian,
/// in row order.
#[derive(Default)]
struct Partition {
    buffer: Vec<u8>,
    file: Option<std::fs::File>,
}

impl Partition {
    fn push(&mut self, hash: u128, row: u32, shown: &str) -> std::io::Result<()> {
        self.buffer.extend_from_slice(&hash.to_le_bytes());
        self.buffer.extend_from_slice(&row.to_le_bytes());
        self.buffer
            .extend_from_slice(&(shown.len() as u32).to_le_bytes());
        self.buffer.extend_from_slice(shown.as_bytes());
        if self.buffer.len() >= BUFFER_BYTES {
            let file = match &mut self.file {
                Some(file) => file,
                None => self.file.insert(tempfile::tempfile()?),
            };
            file.write_all(&self.buffer)?;
            self.buffer.clear();
        }
        Ok(())
    }

    /// Every record, in order.
    fn into_records(self) -> std::io::Result<Vec<u8>> {
        let Partition { buffer, file } = self;
        let Some(mut file) = file else {
            return Ok(buffer);
        };
        let mut records = Vec::new();
        file.seek(SeekFrom::Start(0))?;
        file.read_to_end(&mut records)?;
        records.extend_from_slice(&buffer);
        Ok(records)
    }
}

fn spill_failed(e: std::io::Error) -> Error {
    Error::Internal(format!(
        "cannot keep the upload's keys in a temporary file: {e}"
    ))
}

impl UniqueKeys {
    /// None read yet, for the keys of `duty` unique within a file.
    pub fn new(duty: &DutySpec) -> Self {
        let keys = duty
            .unique_keys
            .iter()
            .map(|key| {
                let positions: Vec<usize> = key
                    .columns
                    .iter()
                    .filter_map(|k| duty.columns.iter().position(|c| &c.key == k))
                    .collect();
                KeyRecords {
                    personal: positions.iter().any(|&c| duty.columns[c].personal),
                    positions,
                    columns: key.columns.clone(),
                    partitions: (0..PARTITIONS).map(|_| Partition::default()).collect(),
                }
            })
            .collect();
        UniqueKeys {
            hashers: [RandomState::new(), RandomState::new()],
            keys,
        }
    }

    /// Records the keys of `rows`, which follow the rows recorded before. A key with an
    /// empty cell is not recorded (the cell has its own problem).
    pub fn record(&mut self, rows: &TypedRows) -> Result<()> {
        let Some(first) = rows.batches.first() else {
            return Ok(());
        };
        let mut shown = String::new();
        for key in &mut self.keys {
            let fields = key
                .positions
                .iter()
                .map(|&c| SortField::new(first.column(c).data_type().clone()))
                .collect();
            let converter =
                RowConverter::new(fields).map_err(|e| Error::Internal(e.to_string()))?;
            let mut index = 0;
            for batch in &rows.batches {
                let columns: Vec<ArrayRef> = key
                    .positions
                    .iter()
                    .map(|&c| batch.column(c).clone())
                    .collect();
                let encoded = converter
                    .convert_columns(&columns)
                    .map_err(|e| Error::Internal(e.to_string()))?;
                for row in 0..batch.num_rows() {
                    if columns.iter().any(|a| a.is_null(row)) {
                        continue;
                    }
                    let bytes = encoded.row(row);
                    let hash = (u128::from(self.hashers[0].hash_one(bytes.as_ref())) << 64)
                        | u128::from(self.hashers[1].hash_one(bytes.as_ref()));
                    shown.clear();
                    push_shown_key(&mut shown, batch, &key.positions, row, key.personal);
                    let partition = (hash >> (128 - PARTITIONS.trailing_zeros())) as usize;
                    key.partitions[partition]
                        .push(hash, rows.row_numbers[index + row], &shown)
                        .map_err(spill_failed)?;
                }
                index += batch.num_rows();
            }
        }
        Ok(())
    }

    /// A problem for every row whose key an earlier row had, naming that row. The
    /// partitions are compared on every core.
    pub fn duplicates(mut self, duty: &DutySpec) -> Result<Vec<Problem>> {
        let partitions: Vec<Vec<Partition>> = self
            .keys
            .iter_mut()
            .map(|key| std::mem::take(&mut key.partitions))
            .collect();
        let failed: Mutex<Option<Error>> = Mutex::new(None);
        let mut compares: Vec<Check> = Vec::new();
        for (key, partitions) in self.keys.iter().zip(partitions) {
            let Some(&first_column) = key.positions.first() else {
                continue;
            };
            let column = &duty.columns[first_column];
            let failed = &failed;
            compares.extend(partitions.into_iter().map(|partition| -> Check {
                Box::new(move |found: &mut Vec<Problem>| {
                    if let Err(e) = repeated(column, &key.columns, partition, found)
                        && let Ok(mut first) = failed.lock()
                    {
                        first.get_or_insert(e);
                    }
                })
            }));
        }
        let mut problems = on_every_core(compares);
        if let Some(e) = failed.into_inner().ok().flatten() {
            return Err(e);
        }
        problems.sort_by_key(|p| p.row);
        Ok(problems)
    }
}

/// Appends the key of `row` (its cells at `positions`, joined by " / ") as messages show
/// it: masked when `personal`, shortened when long.
fn push_shown_key(
    out: &mut String,
    batch: &RecordBatch,
    positions: &[usize],
    row: usize,
    personal: bool,
) {
    for (i, &c) in positions.iter().enumerate() {
        if i > 0 {
            out.push_str(" / ");
        }
        match batch.column(c).as_string_opt::<i32>() {
            Some(texts) => push_shown_value(out, texts.value(row), personal),
            None => {
                let text = cell_text(batch, c, row).unwrap_or_default();
                push_shown_value(out, &text, personal);
            }
        }
    }
}

/// Pushes the rows of one partition whose key an earlier row had, as problems of `column`
/// (the key's first) naming the key's `columns`.
fn repeated(
    column: &TemplateColumn,
    columns: &[String],
    partition: Partition,
    problems: &mut Vec<Problem>,
) -> Result<()> {
    let records = partition.into_records().map_err(spill_failed)?;
    let mut first_rows: HashMap<u128, u32, RandomState> = HashMap::default();
    let mut rest = records.as_slice();
    while rest.len() >= 24 {
        let hash = u128::from_le_bytes(rest[..16].try_into().unwrap_or_default());
        let row = u32::from_le_bytes(rest[16..20].try_into().unwrap_or_default());
        let length = u32::from_le_bytes(rest[20..24].try_into().unwrap_or_default()) as usize;
        let shown = rest.get(24..24 + length).unwrap_or_default();
        rest = rest.get(24 + length..).unwrap_or_default();
        let first = *first_rows.entry(hash).or_insert(row);
        if first != row {
            let mut problem = Problem::cell(
                row,
                column,
                None,
                "duplicate-in-file",
                format!("与第{first}行重复（{} 应唯一）", columns.join("+")),
                format!(
                    "duplicates row {first} ({} must be unique)",
                    columns.join(" + ")
                ),
            );
            problem.value = Some(String::from_utf8_lossy(shown).into_owned());
            problems.push(problem);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_read_back_in_order_from_buffer_and_file() {
        let mut partition = Partition::default();
        let rows = (BUFFER_BYTES / 30) as u32 * 3;
        for row in 0..rows {
            partition.push(u128::from(row) * 7, row, "ab").unwrap();
        }
        assert!(partition.file.is_some(), "spilled");
        let records = partition.into_records().unwrap();
        assert_eq!(records.len(), rows as usize * 26);
        for (i, record) in records.chunks(26).enumerate() {
            assert_eq!(
                u128::from_le_bytes(record[..16].try_into().unwrap()),
                i as u128 * 7
            );
            assert_eq!(
                u32::from_le_bytes(record[16..20].try_into().unwrap()),
                i as u32
            );
            assert_eq!(&record[24..], b"ab");
        }
    }
}
