//! Who may do what: roles, bearer tokens and the checks every entry point makes.
//!
//! Roles (DESIGN.md): `admin` (everything: plugins, tokens), `department:<id>` (upload
//! to its own department's duties, read its own submissions), `analyst` (read-only SQL
//! over every table but the audit log), `auditor` (analyst plus the audit log).
//!
//! A token reads `sn_<id>_<secret>`, or `sn_<county>.<id>_<secret>` for a county of a
//! deployment serving several (its record lives in that county's own data, so it opens
//! that county only): the id finds its record (`sannong_catalog`'s
//! token store), the secret is checked against the stored argon2 hash — the secret
//! itself is printed once, at creation, and never stored. Checked tokens are
//! remembered for [`CHECKED_TOKEN_TTL`] so a busy client does not pay argon2 on every
//! request; a revocation made through this process takes effect at once, one made
//! elsewhere within that time.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use chrono::Utc;
use sannong_catalog::programme::Programme;
use sannong_catalog::{Catalog, TokenRecord};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// How long a checked token is trusted without checking it again.
pub const CHECKED_TOKEN_TTL: Duration = Duration::from_secs(10);

/// A role.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Role {
    /// Installs plugins, manages tokens, does everything.
    Admin,
    /// Uploads to its own department's duties and reads its own submissions.
    Department(String),
    /// Reads every table through SQL, except the audit log.
    Analyst,
    /// An analyst who also reads the audit log.
    Auditor,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Role::Admin => f.write_str("admin"),
            Role::Department(id) => write!(f, "department:{id}"),
            Role::Analyst => f.write_str("analyst"),
            Role::Auditor => f.write_str("auditor"),
        }
    }
}

impl FromStr for Role {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.trim() {
            "admin" => Ok(Role::Admin),
            "analyst" => Ok(Role::Analyst),
            "auditor" => Ok(Role::Auditor),
            other => match other.strip_prefix("department:") {
                Some(id) if !id.is_empty() => Ok(Role::Department(id.to_owned())),
                _ => Err(Error::InvalidArgument(format!(
                    "unknown role '{s}': use admin, analyst, auditor or department:<id>, e.g. department:post"
                ))),
            },
        }
    }
}

/// Who is acting: a token's holder, or the local user of the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// The token's name, or the command-line user.
    pub name: String,
    /// The role acted in.
    pub role: Role,
    /// The token id, if acting through one.
    pub token_id: Option<String>,
    /// The county whose token it is, in a deployment of several counties (`None`: the
    /// only county, or the deployment itself — provincial roles).
    pub county: Option<String>,
}

impl Actor {
    /// The local command line: full rights, recorded under `name`.
    pub fn cli(name: &str) -> Self {
        Actor {
            name: name.to_owned(),
            role: Role::Admin,
            token_id: None,
            county: None,
        }
    }

    fn denied(&self, needs: &str) -> Error {
        Error::Forbidden(format!(
            "this needs the role {needs}; the token of {} has the role {}",
            self.name, self.role
        ))
    }

    /// May upload to a duty of `department`.
    pub fn check_upload(&self, department: &str) -> Result<()> {
        match &self.role {
            Role::Admin => Ok(()),
            Role::Department(own) if own == department => Ok(()),
            _ => Err(self.denied(&format!("department:{department} (or admin)"))),
        }
    }

    /// May read the submissions (and their problems) of `department`.
    pub fn check_read_submissions(&self, department: &str) -> Result<()> {
        match &self.role {
            Role::Admin | Role::Analyst | Role::Auditor => Ok(()),
            Role::Department(own) if own == department => Ok(()),
            _ => Err(self.denied(&format!(
                "department:{department}, analyst, auditor or admin"
            ))),
        }
    }

    /// The department whose submissions alone this actor sees, if restricted.
    pub fn own_department(&self) -> Option<&str> {
        match &self.role {
            Role::Department(id) => Some(id),
            _ => None,
        }
    }

    /// May run SQL over the tables.
    pub fn check_query(&self) -> Result<()> {
        match self.role {
            Role::Admin | Role::Analyst | Role::Auditor => Ok(()),
            Role::Department(_) => Err(self.denied("analyst, auditor or admin")),
        }
    }

    /// May read the audit log.
    pub fn may_read_audit_log(&self) -> bool {
        matches!(self.role, Role::Admin | Role::Auditor)
    }

    /// May read the audit log (as an error when not).
    pub fn check_audit(&self) -> Result<()> {
        if self.may_read_audit_log() {
            Ok(())
        } else {
            Err(self.denied("auditor or admin"))
        }
    }

    /// May install plugins and manage tokens.
    pub fn check_admin(&self) -> Result<()> {
        match self.role {
            Role::Admin => Ok(()),
            _ => Err(self.denied("admin")),
        }
    }
}

/// A token just created: its record and the whole token, shown once.
#[derive(Debug, Clone)]
pub struct NewToken {
    /// The stored record.
    pub record: TokenRecord,
    /// `sn_<id>_<secret>`: give it to its holder; it is not stored.
    pub token: String,
}

/// Creates and checks tokens.
#[derive(Debug, Default)]
pub struct Tokens {
    checked: Mutex<HashMap<[u8; 32], (Actor, Instant)>>,
}

fn fingerprint(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

fn random_hex(bytes: usize) -> String {
    let mut out = String::new();
    while out.len() < bytes * 2 {
        out.push_str(&uuid::Uuid::new_v4().simple().to_string());
    }
    out.truncate(bytes * 2);
    out
}

impl Tokens {
    /// Creates a token for `role` (a department role must name a department of the
    /// programme) and stores its hash; a county's token names its county.
    pub async fn create(
        &self,
        catalog: &Catalog,
        programme: &Programme,
        county: Option<&str>,
        role: &Role,
        name: &str,
        by: &str,
    ) -> Result<NewToken> {
        if let Role::Department(id) = role
            && programme.department(id).is_none()
        {
            return Err(Error::InvalidArgument(format!(
                "no department '{id}'; the departments are {}",
                programme
                    .departments
                    .iter()
                    .map(|d| d.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        let id = random_hex(4);
        let secret = random_hex(16);
        let salt = SaltString::encode_b64(uuid::Uuid::new_v4().as_bytes())
            .map_err(|e| Error::Internal(format!("token salt: {e}")))?;
        let secret_hash = Argon2::default()
            .hash_password(secret.as_bytes(), &salt)
            .map_err(|e| Error::Internal(format!("hashing a token: {e}")))?
            .to_string();
        let record = TokenRecord {
            id: id.clone(),
            name: name.to_owned(),
            role: role.to_string(),
            secret_hash,
            created_by: by.to_owned(),
            created_at: Utc::now(),
            revoked_at: None,
            revoked_by: None,
        };
        catalog.create_token(&record).await?;
        let scope = county.map(|c| format!("{c}.")).unwrap_or_default();
        Ok(NewToken {
            record,
            token: format!("sn_{scope}{id}_{secret}"),
        })
    }

    /// Revokes a token.
    pub async fn revoke(&self, catalog: &Catalog, id: &str, by: &str) -> Result<TokenRecord> {
        let record = catalog.revoke_token(id, by).await?;
        if let Ok(mut checked) = self.checked.lock() {
            checked.retain(|_, (actor, _)| actor.token_id.as_deref() != Some(id));
        }
        Ok(record)
    }

    /// The actor a bearer token of `county` (`None`: of the data location itself) stands
    /// for; 401 for anything wrong with it, a token of another county included.
    pub async fn authenticate(
        &self,
        catalog: &Catalog,
        county: Option<&str>,
        token: &str,
    ) -> Result<Actor> {
        let key = fingerprint(token);
        if let Some((actor, at)) = self.checked.lock().ok().and_then(|c| c.get(&key).cloned())
            && at.elapsed() < CHECKED_TOKEN_TTL
        {
            return Ok(actor);
        }
        let invalid = || {
            Error::Unauthorized(
                "the bearer token is not valid (malformed, unknown or revoked)".into(),
            )
        };
        let Some((token_county, id, secret)) = parts(token) else {
            return Err(invalid());
        };
        if token_county != county {
            return Err(invalid());
        }
        if id.len() != 8 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(invalid());
        }
        let record = catalog.token(id).await?.ok_or_else(invalid)?;
        if record.revoked_at.is_some() {
            return Err(invalid());
        }
        let hash = PasswordHash::new(&record.secret_hash)
            .map_err(|e| Error::Internal(format!("the stored hash of token {id}: {e}")))?;
        Argon2::default()
            .verify_password(secret.as_bytes(), &hash)
            .map_err(|_| invalid())?;
        let actor = Actor {
            name: record.name.clone(),
            role: record.role.parse()?,
            token_id: Some(record.id.clone()),
            county: county.map(str::to_owned),
        };
        if let Ok(mut checked) = self.checked.lock() {
            checked.insert(key, (actor.clone(), Instant::now()));
        }
        Ok(actor)
    }
}

/// A token's county (if it names one), id and secret: `sn_[<county>.]<id>_<secret>`.
fn parts(token: &str) -> Option<(Option<&str>, &str, &str)> {
    let (scoped_id, secret) = token.trim().strip_prefix("sn_")?.split_once('_')?;
    Some(match scoped_id.split_once('.') {
        Some((county, id)) => (Some(county), id, secret),
        None => (None, scoped_id, secret),
    })
}

/// The county a token names (`sn_<county>.<id>_…`), if any.
pub fn token_county(token: &str) -> Option<&str> {
    parts(token)?.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_read_and_print_alike() {
        for role in ["admin", "analyst", "auditor", "department:post"] {
            assert_eq!(role.parse::<Role>().unwrap().to_string(), role);
        }
        assert!("department:".parse::<Role>().is_err());
        assert!("root".parse::<Role>().is_err());
    }

    #[test]
    fn a_county_token_names_its_county() {
        assert_eq!(token_county("sn_xinfeng.0a1b2c3d_secret"), Some("xinfeng"));
        assert_eq!(token_county("sn_0a1b2c3d_secret"), None);
        assert_eq!(token_county("Bearer junk"), None);
    }

    #[test]
    fn each_role_may_do_its_own_things_only() {
        let post = Actor {
            name: "post clerk".into(),
            role: Role::Department("post".into()),
            token_id: None,
            county: None,
        };
        assert!(post.check_upload("post").is_ok());
        let err = post.check_upload("finance").unwrap_err().to_string();
        assert!(
            err.contains("department:finance") && err.contains("department:post"),
            "{err}"
        );
        assert!(post.check_query().is_err() && post.check_admin().is_err());
        let analyst = Actor {
            role: Role::Analyst,
            ..post.clone()
        };
        assert!(analyst.check_query().is_ok() && analyst.check_audit().is_err());
        assert!(analyst.check_upload("post").is_err());
        let auditor = Actor {
            role: Role::Auditor,
            ..post
        };
        assert!(auditor.check_audit().is_ok() && auditor.check_admin().is_err());
    }
}
