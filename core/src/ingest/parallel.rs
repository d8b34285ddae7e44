//! Reading a large CSV file on every core: its bytes are cut into parts of whole lines,
//! each part decoded, read and parsed by the template on its own thread, and the parts
//! joined in order — the same rows, row numbers and problems as reading it line by line.
//!
//! Only where that sameness is certain: a CSV file without quote characters (so that
//! every line break ends a record), whose parts all read cleanly and which stays within
//! the row limit. Anything else — another format, a quoted cell, a ragged row, a cell
//! over the size limit, too many rows — is read line by line, which says where.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};

use rayon::prelude::*;

use super::Progress;
use super::problems::Problem;
use super::source::{self, CsvParts, FileFormat, ReadOptions};
use super::typed::{self, ColumnMap, RowTyper, TypedRows};
use crate::plugin::manifest::DutySpec;

/// Files smaller than this are read on one thread: cutting them gains nothing.
const PARALLEL_FROM_BYTES: usize = 4 << 20;

/// Rows read from CSV text: the rows, their problems and how many records it held
/// (blank ones included, which row numbers count).
#[derive(Debug)]
pub struct CsvRead {
    /// The rows.
    pub rows: TypedRows,
    /// Their problems.
    pub problems: Vec<Problem>,
    /// Records read.
    pub records: u32,
}

impl CsvRead {
    /// The same rows read after `records_before` records: row numbers (of rows and
    /// problems) shifted by them.
    pub fn renumbered(mut self, records_before: u32) -> Self {
        for number in &mut self.rows.row_numbers {
            *number += records_before;
        }
        for problem in &mut self.problems {
            problem.row = problem.row.map(|number| number + records_before);
        }
        self
    }
}

/// The file's rows and problems, read on every core; `None` when it must be read line
/// by line instead.
pub fn parse_csv(
    file_name: &str,
    bytes: &[u8],
    options: &ReadOptions,
    duty: &DutySpec,
    progress: &dyn Progress,
) -> Option<CsvRead> {
    let format = options
        .format
        .unwrap_or_else(|| FileFormat::detect(file_name, bytes));
    if !read_on_every_core(format, bytes.len() as u64) {
        return None;
    }
    parse_csv_text(bytes, options, duty, progress)
}

/// Whether a file of `format` and `len` bytes is worth reading on every core.
pub fn read_on_every_core(format: FileFormat, len: u64) -> bool {
    format == FileFormat::Csv && len >= PARALLEL_FROM_BYTES as u64 && threads() >= 2
}

/// Threads to read on.
fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(8))
}

/// CSV text of any size (a whole file, or a block of one: a header and whole lines)
/// read on every core; `None` when it must be read line by line instead.
pub fn parse_csv_text(
    bytes: &[u8],
    options: &ReadOptions,
    duty: &DutySpec,
    progress: &dyn Progress,
) -> Option<CsvRead> {
    let threads = threads();
    let cut = CsvParts::cut(bytes, threads, options)?;
    let map = typed::map_header(&cut.header, duty).ok()?;
    let read = AtomicUsize::new(0);
    // On the process's pool, whose threads keep their memory from block to block. A
    // part that panics is read again line by line, which says where.
    let parts: Vec<Option<CsvRead>> = (0..cut.parts.len())
        .into_par_iter()
        .map(|part| {
            let read_part = || read_part(&cut, part, &map, duty, &read, progress);
            std::panic::catch_unwind(AssertUnwindSafe(read_part))
                .ok()
                .flatten()
        })
        .collect();
    let joined = join(parts.into_iter().collect::<Option<Vec<_>>>()?);
    (joined.rows.len() <= options.max_rows).then_some(joined)
}

fn read_part(
    cut: &CsvParts,
    part: usize,
    map: &ColumnMap,
    duty: &DutySpec,
    read: &AtomicUsize,
    progress: &dyn Progress,
) -> Option<CsvRead> {
    let limit = cut.max_cell_bytes();
    let mut records = cut.rows(part);
    let mut typer = RowTyper::new(map, duty);
    let mut problems = Vec::new();
    let mut counted = 0;
    let mut tell = |typed: usize| {
        let total = read.fetch_add(typed - counted, Ordering::Relaxed) + typed - counted;
        counted = typed;
        progress.rows_read(total);
    };
    while let Some(row) = records.next_row() {
        // A ragged row or an oversized cell: reading line by line says where.
        let row = row.ok()?;
        source::check_cells(row, limit).ok()?;
        if typer.push(row, &mut problems).ok()? {
            tell(typer.rows_typed());
        }
    }
    tell(typer.rows_typed());
    Some(CsvRead {
        rows: typer.finish().ok()?,
        problems,
        records: records.records_read(),
    })
}

/// The parts as one file: row numbers shifted by the records before each part, row
/// indexes by the rows before it.
fn join(parts: Vec<CsvRead>) -> CsvRead {
    let mut all = CsvRead {
        rows: TypedRows {
            batches: Vec::new(),
            row_numbers: Vec::new(),
            bad_cells: Default::default(),
        },
        problems: Vec::new(),
        records: 0,
    };
    for part in parts {
        let rows_before = all.rows.row_numbers.len();
        let part = part.renumbered(all.records);
        all.rows.batches.extend(part.rows.batches);
        all.rows.row_numbers.extend(part.rows.row_numbers);
        all.rows.bad_cells.extend(
            part.rows
                .bad_cells
                .iter()
                .map(|&(row, column)| (row + rows_before, column)),
        );
        all.problems.extend(part.problems);
        all.records += part.records;
    }
    all
}
