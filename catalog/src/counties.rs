//! The counties of a deployment serving several: one record per county at
//! `<root>/counties/<id>/county.json`, beside that county's own data (tables, plugins,
//! tokens, audit log and programme files all live under `<root>/counties/<id>/`).
//!
//! A data location without counties is one county, as it has always been; one with
//! counties is a deployment whose root keeps only what spans them (provincial tokens
//! and their audit log).

use chrono::{DateTime, Utc};
use object_store::path::Path;
use serde::{Deserialize, Serialize};

use crate::error::{CatalogError, Result};
use crate::location::DataLocation;
use crate::records;
use crate::tables::Catalog;

/// One county of a deployment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CountyRecord {
    /// Lower-case letters and digits, e.g. `xinfeng`: names its prefix, its SQL catalog
    /// and the county part of its tokens.
    pub id: String,
    /// Chinese name, e.g. `新丰县`.
    pub name_zh: String,
    /// English name, e.g. `Xinfeng County`.
    pub name_en: String,
    /// Who added it.
    pub created_by: String,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// Checks a county id: 2–32 lower-case ASCII letters and digits, starting with a letter
/// (it is used unquoted in SQL and inside tokens).
pub fn check_county_id(id: &str) -> Result<()> {
    let fine = (2..=32).contains(&id.len())
        && id.starts_with(|c: char| c.is_ascii_lowercase())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if fine {
        Ok(())
    } else {
        Err(CatalogError::InvalidCounty {
            id: id.to_owned(),
            reason: "a county id is 2–32 lower-case letters and digits starting with a letter, e.g. xinfeng".into(),
        })
    }
}

/// The prefix holding every county, relative to the root.
const COUNTIES: &str = "counties";

fn record_path(catalog: &Catalog, id: &str) -> Path {
    catalog
        .root_store()
        .1
        .clone()
        .join(COUNTIES)
        .join(id)
        .join("county.json")
}

impl DataLocation {
    /// The data location of one county of a deployment rooted here.
    pub fn county(&self, id: &str) -> Result<DataLocation> {
        check_county_id(id)?;
        self.child(&format!("{COUNTIES}/{id}/"))
    }
}

impl Catalog {
    /// The counties of this deployment, by id (none: the location is one county).
    pub async fn counties(&self) -> Result<Vec<CountyRecord>> {
        let (store, root) = self.root_store();
        let prefix = root.clone().join(COUNTIES);
        let listing = match store.list_with_delimiter(Some(&prefix)).await {
            Ok(listing) => listing,
            Err(object_store::Error::NotFound { .. }) => return Ok(Vec::new()),
            Err(e) => return Err(CatalogError::storage(format!("listing {prefix}"), e)),
        };
        // Each county's record read concurrently: on an object store a read is a round trip.
        let paths = listing
            .common_prefixes
            .iter()
            .filter_map(|dir| dir.parts().next_back())
            .filter(|id| check_county_id(id.as_ref()).is_ok())
            .map(|id| record_path(self, id.as_ref()))
            .collect::<Vec<_>>();
        let found = futures::future::try_join_all(
            paths
                .iter()
                .map(|at| records::read::<CountyRecord>(store.as_ref(), at, "county record")),
        )
        .await?;
        let mut counties: Vec<CountyRecord> = found.into_iter().flatten().collect();
        counties.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(counties)
    }

    /// Adds a county; refuses an id that exists, and a location that already holds one
    /// county's own tables at its root (a deployment starts empty).
    pub async fn create_county(&self, record: &CountyRecord) -> Result<()> {
        check_county_id(&record.id)?;
        if !self.list_tables().await?.is_empty() {
            return Err(CatalogError::InvalidCounty {
                id: record.id.clone(),
                reason: format!(
                    "{} already holds one county's tables at its root; a deployment of several counties keeps each under counties/<id>/, so start it in an empty location",
                    self.location().display()
                ),
            });
        }
        let at = record_path(self, &record.id);
        if records::create(self.root_store().0.as_ref(), &at, record).await? {
            Ok(())
        } else {
            Err(CatalogError::InvalidCounty {
                id: record.id.clone(),
                reason: "a county with this id exists".into(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn county_ids_are_plain_lower_case_words() {
        for id in ["xinfeng", "fogang2", "ab"] {
            assert!(check_county_id(id).is_ok(), "{id}");
        }
        for id in [
            "", "x", "Xinfeng", "xin-feng", "xin_feng", "2fogang", "新丰", "a.b",
        ] {
            assert!(check_county_id(id).is_err(), "{id}");
        }
    }

    #[test]
    fn a_county_lives_under_the_deployment_root() -> Result<()> {
        let root = DataLocation::parse("s3://bucket/province")?;
        assert_eq!(
            root.county("xinfeng")?.root().as_str(),
            "s3://bucket/province/counties/xinfeng/"
        );
        assert!(root.county("../x").is_err());
        Ok(())
    }
}
