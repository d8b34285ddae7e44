//! A commit whose rows come in parts: each part is written as data files when it comes,
//! so a large upload never holds all its rows, and the files are committed once as one
//! version — or deleted, when the commit is not to be made.
//!
//! Files are written ahead only to an existing table whose schema the rows already have
//! and whose partitioning the commit's mode writes (the common case: a month more of a
//! duty). Otherwise — a new table, a new column — the parts are held and committed as
//! [`Catalog::commit`] commits rows.

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use deltalake::DeltaTable;
use parquet::file::properties::WriterProperties;

use crate::data_files::{self, WrittenFiles};
use crate::error::{CatalogError, Result};
use crate::submission::{CommitMode, SubmissionRecord};
use crate::table_name::TableName;
use crate::tables::{
    Catalog, CommitOutcome, TableAt, own_files_state, schema_change, with_system_columns,
};

/// A commit being written part by part: begun by [`Catalog::begin_commit`], made by
/// [`Catalog::commit_parts`] or dropped by [`Catalog::discard_parts`]. Dropped otherwise,
/// the files it wrote stay behind unread, as no version lists them.
pub struct CommitInParts {
    name: TableName,
    schema: SchemaRef,
    mode: CommitMode,
    submission_id: String,
    /// The table loaded at the start, when parts are written ahead to it.
    target: Option<DeltaTable>,
    properties: Option<WriterProperties>,
    written: Option<WrittenFiles>,
    /// Parts with their system columns, when they cannot be written ahead.
    held: Vec<RecordBatch>,
    rows: u64,
}

impl CommitInParts {
    /// Rows given so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Whether parts are written as they come (or held until the commit).
    pub fn writes_ahead(&self) -> bool {
        self.target.is_some()
    }

    /// Adds `batches` (of the schema the commit was begun with) to the commit: written
    /// as data files now when the commit writes ahead, held otherwise. On failure the
    /// commit is to be discarded.
    pub async fn write(&mut self, batches: Vec<RecordBatch>) -> Result<()> {
        let batches: Vec<RecordBatch> = batches.into_iter().filter(|b| b.num_rows() > 0).collect();
        if batches.is_empty() {
            return Ok(());
        }
        let stored = with_system_columns(
            &self.name,
            &self.schema,
            batches,
            self.mode,
            &self.submission_id,
        )?;
        self.rows += stored.iter().map(|b| b.num_rows() as u64).sum::<u64>();
        let Some(table) = &self.target else {
            self.held.extend(stored);
            return Ok(());
        };
        let state = table
            .snapshot()
            .map_err(|e| CatalogError::storage(format!("reading {}", self.name), e))?;
        let properties = self
            .properties
            .get_or_insert_with(|| data_files::properties(&stored[0]))
            .clone();
        let files = data_files::write(
            &self.name,
            table,
            state,
            data_files::file_schema(state),
            &stored,
            self.mode,
            properties,
        )
        .await?;
        match &mut self.written {
            Some(written) => written.extend(files),
            None => self.written = Some(files),
        }
        Ok(())
    }
}

impl Catalog {
    /// Begins a commit of rows of `schema` to `name` whose parts are given one by one
    /// ([`CommitInParts::write`]); `submission_id` is the id its submission will have.
    pub async fn begin_commit(
        &self,
        name: &TableName,
        schema: SchemaRef,
        mode: CommitMode,
        submission_id: &str,
    ) -> Result<CommitInParts> {
        let stored_schema =
            with_system_columns(name, &schema, Vec::new(), mode, submission_id)?[0].schema();
        let target = match self.load(name, TableAt::Latest).await {
            Ok(table) => {
                let schema_mode = schema_change(name, &table, &stored_schema)?;
                own_files_state(&table, &schema_mode, mode)
                    .is_some()
                    .then_some(table)
            }
            Err(CatalogError::TableNotFound { .. }) => None,
            Err(e) => return Err(e),
        };
        Ok(CommitInParts {
            name: name.clone(),
            schema,
            mode,
            submission_id: submission_id.to_owned(),
            target,
            properties: None,
            written: None,
            held: Vec::new(),
            rows: 0,
        })
    }

    /// Makes the commit as the next version of its table, with `submission` (whose id
    /// must be the one it was begun with) in the commit.
    pub async fn commit_parts(
        &self,
        parts: CommitInParts,
        submission: &SubmissionRecord,
    ) -> Result<CommitOutcome> {
        if submission.submission_id != parts.submission_id {
            let name = parts.name.clone();
            let begun_as = parts.submission_id.clone();
            self.discard_parts(parts).await;
            return Err(CatalogError::Internal(format!(
                "submission {} was begun for {name} as {begun_as}",
                submission.submission_id
            )));
        }
        let CommitInParts {
            name,
            schema,
            mode,
            submission_id,
            properties,
            written,
            held,
            rows,
            ..
        } = parts;
        // Without files written ahead, the held rows are committed (none: an empty
        // commit, as `commit` makes it).
        let stored = if written.is_some() || held.is_empty() {
            with_system_columns(&name, &schema, Vec::new(), mode, &submission_id)?
        } else {
            held
        };
        let properties = properties.unwrap_or_else(|| data_files::properties(&stored[0]));
        self.commit_stored(&name, &stored, rows, mode, properties, written, submission)
            .await
    }

    /// Deletes the data files written for a commit that will not be made.
    pub async fn discard_parts(&self, parts: CommitInParts) {
        if let Some(files) = parts.written {
            files.delete().await;
        }
    }
}
