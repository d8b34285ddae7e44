//! A commit interrupted mid-way leaves the table at its previous version, readable.
//!
//! The catalog is opened through an object store wrapper that fails chosen writes:
//! the commit file (`_delta_log/N.json`) or the data files (multipart uploads). The same
//! wrapper counts reads of commit files, for tests of how often a table's log is read.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use async_trait::async_trait;
use futures::stream::BoxStream;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, Result,
};
use sannong_catalog::{Catalog, CommitMode, DataLocation, TableName};

use crate::support::*;

/// Fails commit-file writes and/or data-file writes while `armed`; counts commit-file
/// reads.
#[derive(Debug)]
pub struct FailingStore {
    inner: LocalFileSystem,
    fail_commits: bool,
    fail_data: bool,
    armed: AtomicBool,
    /// Reads of commit files (`_delta_log/N.json`) so far.
    pub commit_reads: AtomicUsize,
}

impl fmt::Display for FailingStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FailingStore")
    }
}

fn injected(path: &Path) -> object_store::Error {
    object_store::Error::Generic {
        store: "FailingStore",
        source: format!("injected failure writing {path}").into(),
    }
}

fn is_commit_file(path: &Path) -> bool {
    path.as_ref().contains("_delta_log/") && path.as_ref().ends_with(".json")
}

impl FailingStore {
    /// A store over the local disk that fails nothing until told to.
    pub fn new(fail_commits: bool, fail_data: bool) -> Self {
        FailingStore {
            inner: LocalFileSystem::new(),
            fail_commits,
            fail_data,
            armed: AtomicBool::new(false),
            commit_reads: AtomicUsize::new(0),
        }
    }

    fn fails(&self, path: &Path, data: bool) -> bool {
        if !self.armed.load(Ordering::SeqCst) {
            return false;
        }
        let is_commit = is_commit_file(path);
        (is_commit && self.fail_commits) || (data && !is_commit && self.fail_data)
    }
}

#[async_trait]
impl ObjectStore for FailingStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        if self.fails(location, true) {
            return Err(injected(location));
        }
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        if self.fails(location, true) {
            return Err(injected(location));
        }
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        if is_commit_file(location) {
            self.commit_reads.fetch_add(1, Ordering::SeqCst);
        }
        self.inner.get_opts(location, options).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        if self.fails(to, true) {
            return Err(injected(to));
        }
        self.inner.copy_opts(from, to, options).await
    }
}

async fn interrupted_commit_leaves_previous_version(fail_commits: bool, fail_data: bool) {
    let dir = tempfile::tempdir().unwrap();
    let location = DataLocation::parse(dir.path().to_str().unwrap()).unwrap();
    let store = Arc::new(FailingStore::new(fail_commits, fail_data));
    let catalog = Arc::new(Catalog::with_object_store(location, store.clone()));
    let t: TableName = "logistics.parcels".parse().unwrap();
    let jan = CommitMode::Period("2021-01".parse().unwrap());
    catalog
        .commit(&t, schema(), vec![batch("a", 5)], jan, &submission("S1"))
        .await
        .unwrap();

    store.armed.store(true, Ordering::SeqCst);
    let err = catalog
        .commit(&t, schema(), vec![batch("b", 7)], jan, &submission("S2"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("injected failure"), "{err}");
    store.armed.store(false, Ordering::SeqCst);
    // The refused commit's data files, if any were written, are gone.
    assert_eq!(
        data_files(dir.path()),
        1,
        "only the first commit's file is left"
    );

    // A fresh catalog (as after a restart) sees the previous version, whole.
    let reopened = open(dir.path()).await;
    assert_eq!(reopened.summary(&t).await.unwrap().version, 0);
    assert_eq!(
        scalar(&reopened, "SELECT count(*) FROM logistics.parcels").await,
        "5"
    );
    assert_eq!(
        scalar(&reopened, "SELECT min(id) FROM logistics.parcels").await,
        "a0"
    );
    // And the next commit works.
    let next = reopened
        .commit(&t, schema(), vec![batch("c", 2)], jan, &submission("S3"))
        .await
        .unwrap();
    assert_eq!(next.version, 1);
    assert_eq!(
        scalar(&reopened, "SELECT count(*) FROM logistics.parcels").await,
        "2"
    );
}

/// How many Parquet data files there are under `dir`.
fn data_files(dir: &std::path::Path) -> usize {
    let mut count = 0;
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "parquet") {
                count += 1;
            }
        }
    }
    count
}

#[tokio::test(flavor = "multi_thread")]
async fn failing_commit_file_write_leaves_previous_version() {
    interrupted_commit_leaves_previous_version(true, false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn failing_data_file_write_leaves_previous_version() {
    interrupted_commit_leaves_previous_version(false, true).await;
}
