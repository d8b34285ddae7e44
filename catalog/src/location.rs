//! Where the platform's data lives: a local directory or an object-store URL.
//!
//! `--data` takes a path (`./sannong-data`), a `file:///` URL or `s3://bucket/prefix`.
//! S3 settings come from the usual `AWS_*` environment variables (`AWS_ENDPOINT_URL`
//! overrides the endpoint for S3-compatible stores). The [`DataLocation`] knows the root URL
//! and the storage options; [`crate::Catalog`] opens it.

use std::collections::HashMap;
use std::path::Path;

use url::Url;

use crate::error::{CatalogError, Result};

/// A parsed `--data` location.
#[derive(Debug, Clone)]
pub struct DataLocation {
    /// The data root as given by the user, for messages.
    display: String,
    /// The root URL, always ending in `/`.
    root: Url,
    /// Options for the object store (S3 endpoint, timeouts, …).
    storage_options: HashMap<String, String>,
}

impl DataLocation {
    /// Parses a path or URL.
    pub fn parse(location: &str) -> Result<Self> {
        let invalid = |reason: &str| CatalogError::InvalidLocation {
            location: location.to_owned(),
            reason: reason.to_owned(),
        };
        let trimmed = location.trim();
        if trimmed.is_empty() {
            return Err(invalid("empty location"));
        }
        let looks_like_url = trimmed.contains("://");
        let mut root = if looks_like_url {
            Url::parse(trimmed).map_err(|e| invalid(&e.to_string()))?
        } else {
            let absolute = std::path::absolute(Path::new(trimmed))
                .map_err(|e| invalid(&format!("cannot resolve the path: {e}")))?;
            Url::from_directory_path(&absolute)
                .map_err(|()| invalid("cannot turn the path into a file URL"))?
        };
        let mut storage_options = HashMap::new();
        match root.scheme() {
            "file" => {}
            "s3" | "s3a" => {
                if root.host_str().unwrap_or_default().is_empty() {
                    return Err(invalid("an S3 location needs a bucket: s3://bucket/prefix"));
                }
                storage_options = s3_options_from_env();
            }
            "memory" => {}
            other => {
                return Err(invalid(&format!(
                    "unsupported scheme '{other}': use a directory path, file:///… or s3://bucket/prefix"
                )));
            }
        }
        if !root.path().ends_with('/') {
            let path = format!("{}/", root.path());
            root.set_path(&path);
        }
        Ok(DataLocation {
            display: trimmed.to_owned(),
            root,
            storage_options,
        })
    }

    /// The location as the user gave it.
    pub fn display(&self) -> &str {
        &self.display
    }

    /// The root URL (ends in `/`).
    pub fn root(&self) -> &Url {
        &self.root
    }

    /// Whether the data lives in a local directory.
    pub fn is_local(&self) -> bool {
        self.root.scheme() == "file"
    }

    /// The local directory, for local locations.
    pub fn local_dir(&self) -> Option<std::path::PathBuf> {
        self.is_local()
            .then(|| self.root.to_file_path().ok())
            .flatten()
    }

    /// Options passed to the object store.
    pub fn storage_options(&self) -> &HashMap<String, String> {
        &self.storage_options
    }

    /// A location under this one (`rel` without leading `/`), with the same storage
    /// options.
    pub fn child(&self, rel: &str) -> Result<DataLocation> {
        let mut root = self.join(rel)?;
        if !root.path().ends_with('/') {
            let path = format!("{}/", root.path());
            root.set_path(&path);
        }
        Ok(DataLocation {
            display: format!(
                "{}/{}",
                self.display.trim_end_matches('/'),
                rel.trim_end_matches('/')
            ),
            root,
            storage_options: self.storage_options.clone(),
        })
    }

    /// The URL of a path under the root (`rel` without leading `/`).
    pub fn join(&self, rel: &str) -> Result<Url> {
        self.root.join(rel).map_err(|e| {
            CatalogError::Internal(format!("cannot join '{rel}' to {}: {e}", self.root))
        })
    }
}

/// S3 options: the `AWS_*` variables are read by the S3 store itself; here we add what makes
/// failure quick and clear (timeouts — a request that gets no answer within
/// `SANNONG_S3_TIMEOUT` seconds, default 60, fails — and bounded retries) and allow plain
/// HTTP for a local endpoint such as a test server.
fn s3_options_from_env() -> HashMap<String, String> {
    let mut options = HashMap::new();
    let endpoint = std::env::var("AWS_ENDPOINT_URL")
        .or_else(|_| std::env::var("AWS_ENDPOINT"))
        .ok();
    if let Some(endpoint) = endpoint {
        if endpoint.starts_with("http://") {
            options.insert("allow_http".into(), "true".into());
        }
        options.insert("aws_endpoint".into(), endpoint);
        // S3-compatible stores are addressed by path, not by virtual host.
        options.insert("aws_virtual_hosted_style_request".into(), "false".into());
    }
    if std::env::var("AWS_REGION").is_err() && std::env::var("AWS_DEFAULT_REGION").is_err() {
        options.insert("aws_region".into(), "us-east-1".into());
    }
    options.insert("connect_timeout".into(), "5s".into());
    let timeout = std::env::var("SANNONG_S3_TIMEOUT")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .filter(|&s| s > 0)
        .unwrap_or(60);
    options.insert("timeout".into(), format!("{timeout}s"));
    options.insert("max_retries".into(), "2".into());
    options.insert("retry_timeout".into(), "15s".into());
    // Commits use conditional PUT (If-None-Match), which S3 and compatible stores honour.
    options.insert("conditional_put".into(), "etag".into());
    options
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_become_file_urls_ending_in_slash() -> Result<()> {
        let loc = DataLocation::parse("/tmp/some-data")?;
        assert_eq!(loc.root().as_str(), "file:///tmp/some-data/");
        assert!(loc.is_local());
        let loc = DataLocation::parse("file:///tmp/x")?;
        assert_eq!(loc.root().as_str(), "file:///tmp/x/");
        Ok(())
    }

    #[test]
    fn s3_locations_need_a_bucket() -> Result<()> {
        let loc = DataLocation::parse("s3://bucket/prefix")?;
        assert_eq!(loc.root().as_str(), "s3://bucket/prefix/");
        assert!(!loc.is_local());
        assert!(DataLocation::parse("s3:///prefix").is_err());
        assert!(DataLocation::parse("ftp://host/x").is_err());
        Ok(())
    }
}
