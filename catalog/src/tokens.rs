//! Access tokens as stored: one JSON object per token at
//! `<root>/system/tokens/<token id>.json`, holding its name, role and the hash of its
//! secret (never the secret), who created it and when, and whether it was revoked.
//!
//! Hashing and checking secrets is the engine's job (`core`'s auth module); this
//! module only keeps the records, under the data location so that every server
//! sharing it sees the same tokens.

use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};

use crate::error::{CatalogError, Result};
use crate::records;
use crate::tables::Catalog;

/// One token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    /// The public part of the token, e.g. `k7f3a9c2`.
    pub id: String,
    /// Whose it is, e.g. `邮政佛冈 — 张*`.
    pub name: String,
    /// The role, e.g. `department:post`.
    pub role: String,
    /// The hash of the secret (a PHC string).
    pub secret_hash: String,
    /// Who created it.
    pub created_by: String,
    /// When.
    pub created_at: DateTime<Utc>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
    /// By whom.
    pub revoked_by: Option<String>,
}

fn prefix(catalog: &Catalog) -> Path {
    catalog.root_store().1.clone().join("system").join("tokens")
}

fn path(catalog: &Catalog, id: &str) -> Path {
    prefix(catalog).join(format!("{id}.json"))
}

fn encode(record: &TokenRecord) -> Result<PutPayload> {
    serde_json::to_vec(record)
        .map(PutPayload::from)
        .map_err(|e| CatalogError::Internal(format!("encoding token {}: {e}", record.id)))
}

impl Catalog {
    /// Stores a new token; refuses an id that exists.
    pub async fn create_token(&self, record: &TokenRecord) -> Result<()> {
        let at = path(self, &record.id);
        if records::create(self.root_store().0.as_ref(), &at, record).await? {
            Ok(())
        } else {
            Err(CatalogError::storage(
                format!("writing {at}"),
                "a token with this id exists",
            ))
        }
    }

    /// One token, if it exists.
    pub async fn token(&self, id: &str) -> Result<Option<TokenRecord>> {
        records::read(
            self.root_store().0.as_ref(),
            &path(self, id),
            "token record",
        )
        .await
    }

    /// Every token, oldest first.
    pub async fn tokens(&self) -> Result<Vec<TokenRecord>> {
        let (store, _) = self.root_store();
        let prefix = prefix(self);
        let paths: Vec<Path> = store
            .list(Some(&prefix))
            .map_ok(|meta| meta.location)
            .try_collect()
            .await
            .map_err(|e| CatalogError::storage(format!("listing {prefix}"), e))?;
        let mut records = Vec::new();
        for at in paths {
            let id = at.filename().and_then(|f| f.strip_suffix(".json"));
            if let Some(record) = match id {
                Some(id) => self.token(id).await?,
                None => None,
            } {
                records.push(record);
            }
        }
        records.sort_by_key(|r| r.created_at);
        Ok(records)
    }

    /// Marks a token revoked.
    pub async fn revoke_token(&self, id: &str, by: &str) -> Result<TokenRecord> {
        let mut record = self
            .token(id)
            .await?
            .ok_or_else(|| CatalogError::NotFound {
                what: format!("token {id}"),
            })?;
        if record.revoked_at.is_none() {
            record.revoked_at = Some(Utc::now());
            record.revoked_by = Some(by.to_owned());
            let (store, _) = self.root_store();
            let at = path(self, id);
            store
                .put(&at, encode(&record)?)
                .await
                .map_err(|e| CatalogError::storage(format!("writing {at}"), e))?;
        }
        Ok(record)
    }
}
