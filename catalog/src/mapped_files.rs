//! Hands a query the ranges it reads from local data files as slices of a memory map of
//! each file, not as copies.
//!
//! object_store's local store reads each range a Parquet scan asks for into a new
//! buffer: it zeroes the buffer, then the kernel copies the file's cached pages into it.
//! In the scorecard at scale 100 that was a fifth of the process's CPU. Data files are
//! written once, under names never used again, and never changed in place (a replaced
//! file is unlinked, which leaves a map of it valid), so a range can be handed out as a
//! slice of a read-only map of the file: the pages the kernel caches, neither zeroed nor
//! copied. Every other request (writes, listings, whole reads) goes to the local store.

use std::fmt;
use std::fs::File;
use std::ops::Range;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use memmap2::Mmap;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions,
};

const STORE: &str = "mapped data files";

/// A local store whose `/` is the filesystem's root, with ranged reads served from maps.
#[derive(Debug)]
pub(crate) struct MappedFiles {
    /// The local store every other request goes to.
    local: Arc<dyn ObjectStore>,
    /// Turns a location into the file's path.
    paths: LocalFileSystem,
}

impl MappedFiles {
    /// Ranged reads of `local`'s files from maps; `local`'s `/` must be the filesystem's.
    pub(crate) fn over(local: Arc<dyn ObjectStore>) -> Self {
        MappedFiles {
            local,
            paths: LocalFileSystem::new(),
        }
    }
}

impl fmt::Display for MappedFiles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MappedFiles({})", self.local)
    }
}

/// `ranges` of the file at `path`, each a slice of one read-only map of the whole file.
fn map_ranges(path: &std::path::Path, ranges: &[Range<u64>]) -> object_store::Result<Vec<Bytes>> {
    let file = File::open(path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => object_store::Error::NotFound {
            path: path.display().to_string(),
            source: source.into(),
        },
        _ => failed(path, source.to_string()),
    })?;
    let whole = Bytes::from_owner(map(&file).map_err(|e| failed(path, e.to_string()))?);
    ranges
        .iter()
        .map(|range| {
            let (start, end) = (range.start as usize, range.end as usize);
            if start > end || end > whole.len() {
                return Err(failed(
                    path,
                    format!(
                        "range {start}..{end} is outside the file's {} bytes",
                        whole.len()
                    ),
                ));
            }
            Ok(whole.slice(start..end))
        })
        .collect()
}

/// A read-only map of `file`.
#[allow(unsafe_code)]
fn map(file: &File) -> std::io::Result<Mmap> {
    // SAFETY: a map is undefined behaviour only if the file changes under it. Data files
    // are written once under names never reused and are never written to or truncated
    // after; replacing or vacuuming one unlinks it, which leaves the map's pages valid.
    unsafe { Mmap::map(file) }
}

fn failed(path: &std::path::Path, reason: String) -> object_store::Error {
    object_store::Error::Generic {
        store: STORE,
        source: format!("{}: {reason}", path.display()).into(),
    }
}

#[async_trait]
impl ObjectStore for MappedFiles {
    async fn get_ranges(
        &self,
        location: &Path,
        ranges: &[Range<u64>],
    ) -> object_store::Result<Vec<Bytes>> {
        let path = self.paths.path_to_filesystem(location)?;
        let wanted = ranges.to_vec();
        tokio::task::spawn_blocking(move || map_ranges(&path, &wanted))
            .await
            .map_err(|e| object_store::Error::Generic {
                store: STORE,
                source: Box::new(e),
            })?
    }

    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.local.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.local.put_multipart_opts(location, opts).await
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        self.local.get_opts(location, options).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        self.local.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.local.list(prefix)
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.local.list_with_offset(prefix, offset)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.local.list_with_delimiter(prefix).await
    }

    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        self.local.copy_opts(from, to, options).await
    }

    async fn rename_opts(
        &self,
        from: &Path,
        to: &Path,
        options: RenameOptions,
    ) -> object_store::Result<()> {
        self.local.rename_opts(from, to, options).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::ObjectStoreExt;

    fn store_and_file(contents: &[u8]) -> (tempfile::TempDir, MappedFiles, Path) {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("part-0.parquet");
        std::fs::write(&file, contents).unwrap();
        let location = Path::from_absolute_path(&file).unwrap();
        (
            dir,
            MappedFiles::over(Arc::new(LocalFileSystem::new())),
            location,
        )
    }

    #[tokio::test]
    async fn ranges_are_the_files_bytes() {
        let contents: Vec<u8> = (0..=255).cycle().take(10_000).collect();
        let (_dir, store, location) = store_and_file(&contents);
        let got = store
            .get_ranges(&location, &[0..4, 5000..5100, 9990..10_000, 7..7])
            .await
            .unwrap();
        assert_eq!(got[0], contents[0..4]);
        assert_eq!(got[1], contents[5000..5100]);
        assert_eq!(got[2], contents[9990..10_000]);
        assert!(got[3].is_empty());
        // Reads through the local store itself agree.
        assert_eq!(
            store.get_range(&location, 5000..5100).await.unwrap(),
            got[1]
        );
    }

    #[tokio::test]
    async fn a_range_past_the_end_or_a_missing_file_is_an_error_not_a_panic() {
        let (_dir, store, location) = store_and_file(b"PAR1....PAR1");
        let err = store
            .get_ranges(&location, &[0..4, 4..13])
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("outside the file's 12 bytes"),
            "{err}"
        );
        let missing = Path::from(format!("{location}.gone"));
        let err = store.get_ranges(&missing, &[0..4, 4..8]).await.unwrap_err();
        assert!(matches!(err, object_store::Error::NotFound { .. }), "{err}");
    }

    #[tokio::test]
    async fn a_map_outlives_the_file_being_replaced() {
        let (dir, store, location) = store_and_file(b"first version");
        let got = store.get_ranges(&location, &[0..2, 2..5]).await.unwrap();
        std::fs::remove_file(dir.path().join("part-0.parquet")).unwrap();
        std::fs::write(dir.path().join("part-0.parquet"), b"other").unwrap();
        assert_eq!([&got[0][..], &got[1][..]], [b"fi".as_slice(), b"rst"]);
    }
}
