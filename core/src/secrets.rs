//! The platform's secrets, kept in its configuration, never in the data location.
//!
//! The pseudonym key (HMAC-SHA-256) turns personal identifiers such as resident ID
//! numbers into stable pseudonyms. It comes from `SANNONG_PSEUDONYM_KEY` (at least 32
//! characters) or from the file `pseudonym.key` in the configuration directory
//! (`$SANNONG_CONFIG_DIR`, else `$XDG_CONFIG_HOME/sannong`, else `~/.config/sannong`),
//! created with 32 random bytes on first use and readable by its owner only.
//! Losing the key means new uploads no longer match earlier pseudonyms: back it up.

use std::path::PathBuf;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::error::{Error, Result};

/// The key of the platform's pseudonyms.
#[derive(Clone)]
pub struct PseudonymKey(Vec<u8>);

impl std::fmt::Debug for PseudonymKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PseudonymKey(…)")
    }
}

impl PseudonymKey {
    /// A key from raw bytes (tests, benchmarks).
    pub fn from_bytes(bytes: &[u8]) -> Self {
        PseudonymKey(bytes.to_vec())
    }

    /// The configured key, creating the key file on first use.
    pub fn from_configuration() -> Result<Self> {
        if let Ok(key) = std::env::var("SANNONG_PSEUDONYM_KEY") {
            if key.len() < 32 {
                return Err(Error::InvalidArgument(
                    "SANNONG_PSEUDONYM_KEY must have at least 32 characters".into(),
                ));
            }
            return Ok(PseudonymKey(key.into_bytes()));
        }
        let dir = config_dir().ok_or_else(|| {
            Error::InvalidArgument(
                "no configuration directory: set SANNONG_CONFIG_DIR or SANNONG_PSEUDONYM_KEY"
                    .into(),
            )
        })?;
        let path = dir.join("pseudonym.key");
        match std::fs::read_to_string(&path) {
            Ok(text) => hex::decode(text.trim()).map(PseudonymKey).map_err(|e| {
                Error::InvalidArgument(format!("{} is not a hex key: {e}", path.display()))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => create_key_file(&path),
            Err(e) => Err(Error::InvalidArgument(format!(
                "cannot read {}: {e}",
                path.display()
            ))),
        }
    }

    /// The pseudonym of an identifier: HMAC-SHA-256, hex.
    pub fn pseudonym(&self, identifier: &str) -> String {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&self.0).expect("HMAC takes keys of any length");
        mac.update(identifier.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }
}

fn config_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("SANNONG_CONFIG_DIR") {
        return Some(PathBuf::from(dir));
    }
    std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
        .map(|base| base.join("sannong"))
}

fn create_key_file(path: &std::path::Path) -> Result<PseudonymKey> {
    use std::io::{Read, Write};
    use std::os::unix::fs::OpenOptionsExt;
    let fail = |e: std::io::Error| {
        Error::InvalidArgument(format!(
            "cannot create the pseudonym key {}: {e}",
            path.display()
        ))
    };
    let mut key = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut key))
        .map_err(fail)?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(fail)?;
    }
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(mut file) => {
            file.write_all(hex::encode(key).as_bytes()).map_err(fail)?;
            tracing::info!(path = %path.display(), "created the pseudonym key");
            Ok(PseudonymKey(key.to_vec()))
        }
        // Another process created it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            PseudonymKey::from_configuration()
        }
        Err(e) => Err(fail(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pseudonyms_are_stable_keyed_and_opaque() {
        let key = PseudonymKey::from_bytes(b"0123456789abcdef0123456789abcdef");
        let id = "440103199003072811";
        let p = key.pseudonym(id);
        assert_eq!(p, key.pseudonym(id));
        assert_eq!(p.len(), 64);
        assert!(!p.contains(id));
        assert_ne!(
            p,
            PseudonymKey::from_bytes(b"another key, another pseudonym!!").pseudonym(id)
        );
    }
}
