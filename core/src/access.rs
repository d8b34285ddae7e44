//! The service layer's entry points for an [`Actor`]: each checks the actor's role, does
//! the thing through the [`Platform`], and appends what happened to the audit log
//! (`sannong_catalog::audit`) — uploads (accepted, refused or failed), plugin changes,
//! token changes and queries (SQL text, rows returned). Denials are recorded too.
//! The CLI and the HTTP server both call these, so both are checked and audited alike.
//!
//! `sys.audit_log` ([`audit_log_table`]) shows the log to auditors and admins only.

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use async_trait::async_trait;
use bytes::Bytes;
use sannong_catalog::audit::{AuditEntry, AuditEvent, AuditLog, Verification};
use sannong_catalog::programme::Programme;
use sannong_catalog::sql::SystemTable;
use sannong_catalog::sql::system::{BatchBuilder, system_table_error};
use sannong_catalog::{Catalog, CountyRecord};
use serde_json::json;

use crate::auth::{Actor, NewToken, Role};
use crate::error::{Error, Result};
use crate::ingest::{Progress, UploadOutcome, UploadRequest, UploadStatus};
use crate::platform::Platform;
use crate::plugin::registry::{self, InstallOutcome};
use crate::query::{QueryResult, QueryService};

fn event(actor: &Actor, action: &str, target: &str) -> AuditEvent {
    AuditEvent {
        actor: actor.name.clone(),
        role: actor.role.to_string(),
        action: action.to_owned(),
        target: target.to_owned(),
        outcome: String::new(),
        rows: None,
        detail: serde_json::Value::Null,
    }
}

impl Platform {
    /// Appends to the audit log.
    pub async fn record(&self, event: AuditEvent) -> Result<AuditEntry> {
        Ok(self.audit_log().append(self.catalog(), event).await?)
    }

    /// Records the outcome of an action: `ok` with details, or `denied`/`failed` with
    /// the error (which is passed on).
    async fn record_outcome<T>(
        &self,
        mut base: AuditEvent,
        outcome: Result<T>,
        describe: impl FnOnce(&T) -> (String, Option<u64>, serde_json::Value),
    ) -> Result<T> {
        match &outcome {
            Ok(value) => {
                let (label, rows, detail) = describe(value);
                base.outcome = label;
                base.rows = rows;
                base.detail = detail;
            }
            Err(e) => {
                base.outcome = match e {
                    Error::Forbidden(_) | Error::Unauthorized(_) => "denied".into(),
                    _ => "failed".into(),
                };
                base.detail = json!({ "error": e.to_string() });
            }
        }
        let recorded = self.record(base).await;
        match (outcome, recorded) {
            (outcome, Ok(_)) => outcome,
            // The action's own failure says more than the audit write's that followed it
            // (both usually come from the same unreachable store).
            (Err(e), Err(audit)) => {
                tracing::warn!(error = %audit, "the failed action could not be audited");
                Err(e)
            }
            (Ok(_), Err(audit)) => Err(audit),
        }
    }

    /// The department owing a duty (the programme's, else that of the plugin serving a
    /// duty the programme does not define), if the duty is known at all.
    async fn duty_department(&self, duty: &str) -> Option<String> {
        if let Some(defined) = self.programme().duty(duty) {
            return Some(defined.department.clone());
        }
        let (plugin, _) = registry::for_duty(self.catalog(), duty).await.ok()?;
        Some(plugin.manifest.department.id)
    }

    /// Uploads as `actor`: only to its own department's duties.
    pub async fn upload_as(
        &self,
        actor: &Actor,
        request: UploadRequest,
        progress: &dyn Progress,
    ) -> Result<UploadOutcome> {
        let base = event(actor, "upload", &request.duty);
        let file = request.file_name.clone();
        let period = request.period.clone();
        let outcome = async {
            // An unknown duty is refused by the upload itself, naming the known ones.
            if let Some(department) = self.duty_department(&request.duty).await {
                actor.check_upload(&department)?;
            }
            self.upload(request, progress).await
        }
        .await;
        self.record_outcome(base, outcome, |o: &UploadOutcome| {
            let label = match o.status {
                UploadStatus::Accepted => "accepted",
                UploadStatus::Refused => "refused",
                UploadStatus::AlreadyAccepted => "already_accepted",
                UploadStatus::WouldBeAccepted => "dry_run",
            };
            let detail = json!({
                "submission_id": o.submission_id, "file_name": file, "period": period,
                "table": o.table, "version": o.version, "errors": o.errors, "warnings": o.warnings,
            });
            (label.into(), Some(o.rows_stored), detail)
        })
        .await
    }

    /// Runs read-only SQL as `actor`; the audit log is visible to auditors and admins.
    pub async fn query_as(&self, actor: &Actor, sql: &str) -> Result<QueryResult> {
        self.read_as(actor, sql, false).await
    }

    /// [`Platform::query_as`] for a client of the PostgreSQL wire protocol: its session
    /// also has `pg_catalog`.
    pub async fn postgres_query_as(&self, actor: &Actor, sql: &str) -> Result<QueryResult> {
        self.read_as(actor, sql, true).await
    }

    /// Runs in `actor`'s county (recorded in its audit log), for a county's token.
    async fn read_as(&self, actor: &Actor, sql: &str, postgres: bool) -> Result<QueryResult> {
        let platform = self.for_actor(actor)?;
        let base = event(actor, "query", sql);
        let outcome = async { platform.readers_service(actor, postgres)?.query(sql).await }.await;
        platform
            .record_outcome(base, outcome, |r: &QueryResult| {
                (
                    "ok".into(),
                    Some(r.row_count() as u64),
                    serde_json::Value::Null,
                )
            })
            .await
    }

    /// A session over the tables `actor` may query (with `pg_catalog` for PostgreSQL
    /// clients), to plan a statement in: nothing is run or recorded, running goes
    /// through [`Platform::query_as`].
    pub async fn session_as(
        &self,
        actor: &Actor,
        postgres: bool,
    ) -> Result<datafusion::prelude::SessionContext> {
        self.for_actor(actor)?
            .readers_service(actor, postgres)?
            .session()
            .await
    }

    /// The query service of `actor`'s reads, if its role may query.
    fn readers_service(&self, actor: &Actor, postgres: bool) -> Result<&QueryService> {
        actor.check_query()?;
        Ok(self.readers_query_service(actor.may_read_audit_log(), postgres))
    }

    /// Adds a county to this deployment as `actor` (admins of the deployment only), with
    /// its own programme files if given (else the built-in programme).
    pub async fn add_county_as(
        &self,
        actor: &Actor,
        county: &CountyRecord,
        programme_dir: Option<&std::path::Path>,
    ) -> Result<()> {
        let base = event(actor, "county.add", &county.id);
        let outcome = async {
            actor.check_admin()?;
            if actor.county.is_some() || self.county().is_some() {
                return Err(Error::Forbidden(
                    "counties are added by an admin of the whole deployment, not of a county"
                        .into(),
                ));
            }
            // Checked before anything is written: a county never starts half set up.
            let programme = programme_dir.map(Programme::from_dir).transpose()?;
            self.catalog().create_county(county).await?;
            if let Some(dir) = programme_dir {
                let location = self.catalog().location().county(&county.id)?;
                let catalog = Catalog::open(location).await?;
                Programme::store(&catalog, dir).await?;
            }
            Ok(programme.map(|p| p.departments.len()))
        }
        .await;
        self.record_outcome(base, outcome, |departments: &Option<usize>| {
            (
                "ok".into(),
                None,
                json!({ "name_zh": county.name_zh, "programme_departments": departments }),
            )
        })
        .await
        .map(|_| ())
    }

    /// Installs a plugin as `actor` (admins only).
    pub async fn install_plugin_as(
        &self,
        actor: &Actor,
        label: &str,
        bytes: Bytes,
    ) -> Result<InstallOutcome> {
        let base = event(actor, "plugin.install", label);
        let outcome = async {
            actor.check_admin()?;
            self.install_plugin(label, bytes, &actor.name).await
        }
        .await;
        self.record_outcome(base, outcome, |o: &InstallOutcome| {
            let (label, p) = match o {
                InstallOutcome::Installed(p) => ("installed", p),
                InstallOutcome::AlreadyInstalled(p) => ("already_installed", p),
            };
            let detail = json!({
                "plugin_id": p.event.plugin_id, "version": p.event.version, "sha256": p.event.sha256,
            });
            (label.into(), None, detail)
        })
        .await
    }

    /// Removes a plugin as `actor` (admins only).
    pub async fn remove_plugin_as(&self, actor: &Actor, plugin_id: &str) -> Result<()> {
        let base = event(actor, "plugin.remove", plugin_id);
        let outcome = async {
            actor.check_admin()?;
            self.remove_plugin(plugin_id, &actor.name).await
        }
        .await;
        self.record_outcome(base, outcome, |_| {
            ("ok".into(), None, serde_json::Value::Null)
        })
        .await
    }

    /// Creates a token as `actor` (admins only); the token is in the result, once.
    pub async fn create_token_as(
        &self,
        actor: &Actor,
        role: &Role,
        name: &str,
    ) -> Result<NewToken> {
        let base = event(actor, "token.create", &format!("{name} ({role})"));
        let outcome = async {
            actor.check_admin()?;
            if matches!(role, Role::Department(_)) {
                self.check_holds_county_data()?;
            }
            self.tokens()
                .create(
                    self.catalog(),
                    self.programme(),
                    self.county(),
                    role,
                    name,
                    &actor.name,
                )
                .await
        }
        .await;
        self.record_outcome(base, outcome, |t: &NewToken| {
            (
                "ok".into(),
                None,
                json!({ "token_id": t.record.id, "role": t.record.role }),
            )
        })
        .await
    }

    /// Revokes a token as `actor` (admins only).
    pub async fn revoke_token_as(&self, actor: &Actor, id: &str) -> Result<()> {
        let base = event(actor, "token.revoke", id);
        let outcome = async {
            actor.check_admin()?;
            self.tokens()
                .revoke(self.catalog(), id, &actor.name)
                .await
                .map(|_| ())
        }
        .await;
        self.record_outcome(base, outcome, |_| {
            ("ok".into(), None, serde_json::Value::Null)
        })
        .await
    }

    /// Every token (no secrets, no hashes), for admins.
    pub async fn tokens_as(&self, actor: &Actor) -> Result<Vec<sannong_catalog::TokenRecord>> {
        actor.check_admin()?;
        let mut tokens = self.catalog().tokens().await?;
        for token in &mut tokens {
            token.secret_hash.clear();
        }
        Ok(tokens)
    }

    /// The actor a bearer token stands for: a county's token is checked by its county
    /// (see [`Platform::for_actor`]).
    pub async fn authenticate(&self, token: &str) -> Result<Actor> {
        let platform = self.of_county(crate::auth::token_county(token))?;
        platform
            .tokens()
            .authenticate(platform.catalog(), platform.county(), token)
            .await
    }

    /// Walks the audit log's hash chain (auditors and admins).
    pub async fn verify_audit_log(&self, actor: &Actor) -> Result<Verification> {
        actor.check_audit()?;
        Ok(self.audit_log().verify(self.catalog()).await?)
    }
}

/// `sys.audit_log`: every entry of the audit log.
pub fn audit_log_table(catalog: Arc<Catalog>, log: Arc<AuditLog>) -> Arc<dyn SystemTable> {
    Arc::new(AuditLogTable(catalog, log))
}

#[derive(Debug)]
struct AuditLogTable(Arc<Catalog>, Arc<AuditLog>);

impl AuditLogTable {
    fn columns(e: &[AuditEntry]) -> BatchBuilder {
        BatchBuilder::default()
            .int("seq", e.iter().map(|e| i64::try_from(e.seq).ok()))
            .time("at", e.iter().map(|e| Some(e.at)))
            .text("actor", e.iter().map(|e| Some(e.event.actor.as_str())))
            .text("role", e.iter().map(|e| Some(e.event.role.as_str())))
            .text("action", e.iter().map(|e| Some(e.event.action.as_str())))
            .text("target", e.iter().map(|e| Some(e.event.target.as_str())))
            .text("outcome", e.iter().map(|e| Some(e.event.outcome.as_str())))
            .int(
                "rows",
                e.iter()
                    .map(|e| e.event.rows.and_then(|r| i64::try_from(r).ok())),
            )
            .text("detail", e.iter().map(|e| Some(e.event.detail.to_string())))
            .text("prev_hash", e.iter().map(|e| Some(e.prev_hash.as_str())))
            .text("hash", e.iter().map(|e| Some(e.hash.as_str())))
    }
}

#[async_trait]
impl SystemTable for AuditLogTable {
    fn name(&self) -> &str {
        "audit_log"
    }

    fn schema(&self) -> SchemaRef {
        Self::columns(&[]).schema()
    }

    async fn rows(&self) -> datafusion::error::Result<RecordBatch> {
        let entries = self
            .1
            .entries(&self.0)
            .await
            .map_err(|e| system_table_error("audit_log", e))?;
        Self::columns(&entries).build()
    }
}
