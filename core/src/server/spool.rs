//! Upload bodies streamed to a temporary file as they arrive, chunk by chunk, with the
//! body limit checked as they come: a slow or large upload holds disk, not memory,
//! while it is received. The file is read back only once the upload has its slot, so
//! at most `--upload-slots` bodies are in memory at once, however many departments are
//! sending.

use axum::body::Bytes;
use futures::{Stream, StreamExt};
use tokio::io::AsyncWriteExt;

use super::error::{ApiError, ApiResult};

/// A received body, on disk (deleted when dropped).
#[derive(Debug)]
pub struct SpooledBody {
    file: std::fs::File,
    len: u64,
}

impl SpooledBody {
    /// Receives `chunks` into a temporary file, refusing more than `limit` bytes.
    pub async fn receive<S, E>(mut chunks: S, limit: usize) -> ApiResult<SpooledBody>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let file = tempfile::tempfile().map_err(storage_error)?;
        let mut writer = tokio::fs::File::from_std(file);
        let mut len: u64 = 0;
        while let Some(chunk) = chunks.next().await {
            let chunk = chunk.map_err(|e| super::handlers::body_error(&e.to_string()))?;
            len += chunk.len() as u64;
            if len > limit as u64 {
                return Err(super::handlers::too_large(&format!(
                    "length limit of {} MB exceeded",
                    limit >> 20
                )));
            }
            writer.write_all(&chunk).await.map_err(storage_error)?;
        }
        writer.flush().await.map_err(storage_error)?;
        Ok(SpooledBody {
            file: writer.into_std().await,
            len,
        })
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The file holding it.
    pub fn into_file(self) -> std::fs::File {
        self.file
    }
}

fn storage_error(e: std::io::Error) -> ApiError {
    ApiError::from(crate::Error::Internal(format!(
        "cannot keep the upload in a temporary file: {e}"
    )))
}
