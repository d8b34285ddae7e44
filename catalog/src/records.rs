//! Small JSON objects in the object store (tokens, counties, audit entries): read one if
//! it is there, create one only if nothing is there yet.

use bytes::Bytes;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{CatalogError, Result};

/// The bytes at `path`, if there is an object there.
pub(crate) async fn read_bytes(store: &dyn ObjectStore, path: &Path) -> Result<Option<Bytes>> {
    match store.get(path).await {
        Ok(found) => found
            .bytes()
            .await
            .map(Some)
            .map_err(|e| CatalogError::storage(format!("reading {path}"), e)),
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(CatalogError::storage(format!("reading {path}"), e)),
    }
}

/// The record at `path`, if there is one; `what` names it in errors (`token record`).
pub(crate) async fn read<T: DeserializeOwned>(
    store: &dyn ObjectStore,
    path: &Path,
    what: &str,
) -> Result<Option<T>> {
    read_bytes(store, path)
        .await?
        .map(|bytes| serde_json::from_slice(&bytes))
        .transpose()
        .map_err(|e| CatalogError::Internal(format!("{what} {path}: {e}")))
}

/// Writes `record` at `path` unless something is already there (`Ok(false)` then).
pub(crate) async fn create<T: Serialize>(
    store: &dyn ObjectStore,
    path: &Path,
    record: &T,
) -> Result<bool> {
    let payload = serde_json::to_vec(record)
        .map(PutPayload::from)
        .map_err(|e| CatalogError::Internal(format!("encoding {path}: {e}")))?;
    let options = PutOptions {
        mode: PutMode::Create,
        ..PutOptions::default()
    };
    match store.put_opts(path, payload, options).await {
        Ok(_) => Ok(true),
        Err(object_store::Error::AlreadyExists { .. }) => Ok(false),
        Err(e) => Err(CatalogError::storage(format!("writing {path}"), e)),
    }
}
