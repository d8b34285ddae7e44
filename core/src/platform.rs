//! The service layer shared by the CLI and the servers: one [`Platform`] per data
//! location, holding the catalog, the query service and the plugin runtime.
//!
//! A data location holds one county, or is a deployment of several (`sannong county
//! add`): each county is then a platform of its own under `counties/<id>/`, and the
//! deployment's platform holds them, authenticates their tokens, hands each caller its
//! county's platform ([`Platform::for_actor`]) and lets provincial analysts query all
//! counties (`all_counties.*`).
//!
//! Commands call methods here, never the catalog, DataFusion or wasmtime directly, so
//! the CLI and the HTTP API do the same thing the same way.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use sannong_catalog::audit::AuditLog;
use sannong_catalog::programme::Programme;
use sannong_catalog::{Catalog, DataLocation, TableName};

use crate::auth::{Actor, Tokens};
use crate::error::{Error, Result};
use crate::ingest::{Progress, UploadOutcome, UploadRequest};
use crate::plugin::registry::{self, InstallOutcome, InstalledPlugin};
use crate::plugin::{HostServices, LoadedPlugin, PluginEngine, PluginLimits, PluginRuntime};
use crate::query::{QueryLimits, QueryPool, QueryResult, QueryService};
use crate::secrets::PseudonymKey;

/// How a platform is set up.
#[derive(Debug, Clone, Default)]
pub struct PlatformConfig {
    /// Limits of every query.
    pub query_limits: QueryLimits,
    /// Limits of every plugin call.
    pub plugin_limits: PluginLimits,
    /// Where compiled plugin code is cached (none: compile every time).
    pub plugin_cache_dir: Option<PathBuf>,
    /// A directory of programme files to use instead of the data location's own (or
    /// the built-in ones).
    pub programme_dir: Option<PathBuf>,
    /// In a deployment of several counties, the county to open (`None`: the deployment
    /// itself, with every county in it).
    pub county: Option<String>,
}

/// The platform over one data location.
#[derive(Debug, Clone)]
pub struct Platform {
    catalog: Arc<Catalog>,
    programme: Arc<Programme>,
    query: QueryService,
    analysis_query: QueryService,
    audit_query: QueryService,
    postgres_analysis_query: QueryService,
    postgres_audit_query: QueryService,
    audit_log: Arc<AuditLog>,
    tokens: Arc<Tokens>,
    config: PlatformConfig,
    engine: Arc<Mutex<Option<Arc<PluginEngine>>>>,
    counties: Arc<BTreeMap<String, Platform>>,
}

impl Platform {
    /// Opens the data location (a path or URL): one county, one county of a deployment
    /// (`config.county`), or a whole deployment with its counties.
    pub async fn open(data: &str, config: PlatformConfig) -> Result<Self> {
        let location = DataLocation::parse(data)?;
        let root = Arc::new(Catalog::open(location.clone()).await?);
        let counties = root.counties().await?;
        if let Some(id) = &config.county {
            if !counties.iter().any(|c| &c.id == id) {
                return Err(Error::InvalidArgument(format!(
                    "{data} has no county '{id}'; {}",
                    county_list(counties.iter().map(|c| c.id.as_str()))
                )));
            }
            return Self::open_county(&location, config).await;
        }
        let programme = Programme::load(&root, config.programme_dir.as_deref()).await?;
        // The counties opened concurrently: on an object store each opening is a few
        // round trips.
        let opened = futures::future::try_join_all(counties.iter().map(|county| {
            let config = PlatformConfig {
                county: Some(county.id.clone()),
                ..config.clone()
            };
            Self::open_county(&location, config)
        }))
        .await?;
        let opened = counties.into_iter().map(|c| c.id).zip(opened).collect();
        Ok(Self::new(root, Arc::new(programme), config).with_counties(opened))
    }

    /// Opens the county `config.county` of the deployment at `root`.
    async fn open_county(root: &DataLocation, config: PlatformConfig) -> Result<Self> {
        let id = config.county.as_deref().unwrap_or_default();
        let catalog = Arc::new(Catalog::open(root.county(id)?).await?);
        let programme = Programme::load(&catalog, config.programme_dir.as_deref()).await?;
        Ok(Self::new(catalog, Arc::new(programme), config))
    }

    /// The deployment's platform holding `counties`: their tokens open them, and its
    /// analysts' sessions show them all (each as a SQL catalog, and `all_counties`).
    fn with_counties(mut self, counties: BTreeMap<String, Platform>) -> Self {
        let services = |pick: fn(&Platform) -> &QueryService| {
            counties
                .iter()
                .map(|(id, county)| (id.clone(), pick(county).clone()))
                .collect::<Vec<_>>()
        };
        let analysts = services(|c| &c.analysis_query);
        let auditors = services(|c| &c.audit_query);
        self.analysis_query = self.analysis_query.with_counties(analysts.clone());
        self.postgres_analysis_query = self.postgres_analysis_query.with_counties(analysts);
        self.audit_query = self.audit_query.with_counties(auditors.clone());
        self.postgres_audit_query = self.postgres_audit_query.with_counties(auditors);
        self.counties = Arc::new(counties);
        self
    }

    /// The counties of this deployment (empty: the data location is one county).
    pub fn counties(&self) -> &BTreeMap<String, Platform> {
        &self.counties
    }

    /// The county this platform is, in a deployment of several.
    pub fn county(&self) -> Option<&str> {
        self.config.county.as_deref()
    }

    /// The platform `actor` acts on: its county's, for a county's token.
    pub fn for_actor(&self, actor: &Actor) -> Result<&Platform> {
        self.of_county(actor.county.as_deref())
    }

    /// The platform of `county` (this one for `None` or its own county).
    pub(crate) fn of_county(&self, county: Option<&str>) -> Result<&Platform> {
        match county {
            Some(county) if self.county() != Some(county) => self
                .counties
                .get(county)
                .ok_or_else(|| Error::Unauthorized(format!("county {county} is not served here"))),
            _ => Ok(self),
        }
    }

    /// Refuses what only a county holds (uploads, plugins) on a deployment's root.
    pub(crate) fn check_holds_county_data(&self) -> Result<()> {
        if self.counties.is_empty() {
            return Ok(());
        }
        Err(Error::InvalidArgument(format!(
            "{} is a deployment of several counties: uploads, plugins and department tokens belong to one county — use --county ID or a county's token ({})",
            self.catalog.location().display(),
            county_list(self.counties.keys().map(String::as_str))
        )))
    }

    /// A platform over an already opened catalog, with the built-in programme.
    pub fn with_catalog(catalog: Arc<Catalog>, config: PlatformConfig) -> Result<Self> {
        Ok(Self::new(catalog, Arc::new(Programme::built_in()?), config))
    }

    /// A platform over an opened catalog and a loaded programme.
    pub fn new(catalog: Arc<Catalog>, programme: Arc<Programme>, config: PlatformConfig) -> Self {
        let base = QueryService::new(catalog.clone(), config.query_limits)
            .with_system_tables(registry::system_tables(catalog.clone()))
            .with_system_tables(crate::ingest::log::system_tables(catalog.clone()));
        // The programme's own tables query the others (milestones read their table).
        let query = base
            .clone()
            .with_system_tables(crate::programme::tables::system_tables(
                programme.clone(),
                catalog.clone(),
                base,
            ));
        let audit_log = Arc::new(AuditLog::new());
        let analysis_query = query.clone().on(QueryPool::Analysis);
        let audit_query =
            analysis_query
                .clone()
                .with_system_tables(vec![crate::access::audit_log_table(
                    catalog.clone(),
                    audit_log.clone(),
                )]);
        Platform {
            query,
            postgres_analysis_query: analysis_query.clone().with_postgres_catalog(),
            postgres_audit_query: audit_query.clone().with_postgres_catalog(),
            analysis_query,
            audit_query,
            audit_log,
            tokens: Arc::new(Tokens::default()),
            catalog,
            programme,
            config,
            engine: Arc::new(Mutex::new(None)),
            counties: Arc::new(BTreeMap::new()),
        }
    }

    /// The programme: departments, duties, KPIs, schedule.
    pub fn programme(&self) -> &Arc<Programme> {
        &self.programme
    }

    /// The catalog.
    pub fn catalog(&self) -> &Arc<Catalog> {
        &self.catalog
    }

    /// The query service (every table but the audit log).
    pub fn query_service(&self) -> &QueryService {
        &self.query
    }

    /// The query service of analysts' queries (every table but the audit log), on a
    /// runtime of its own so that heavy analyses do not hold up the platform.
    pub fn analysis_query_service(&self) -> &QueryService {
        &self.analysis_query
    }

    /// The analysts' query service that also shows `sys.audit_log` (auditors, admins).
    pub fn audit_query_service(&self) -> &QueryService {
        &self.audit_query
    }

    /// The analysts' query service: with `sys.audit_log` or without, and with
    /// PostgreSQL's `pg_catalog` for clients of the wire protocol (only they pay for it).
    pub fn readers_query_service(&self, audit_log: bool, postgres: bool) -> &QueryService {
        match (audit_log, postgres) {
            (false, false) => &self.analysis_query,
            (true, false) => &self.audit_query,
            (false, true) => &self.postgres_analysis_query,
            (true, true) => &self.postgres_audit_query,
        }
    }

    /// The audit log.
    pub fn audit_log(&self) -> &Arc<AuditLog> {
        &self.audit_log
    }

    /// The access tokens.
    pub fn tokens(&self) -> &Arc<Tokens> {
        &self.tokens
    }

    /// Runs read-only SQL.
    pub async fn sql(&self, sql: &str) -> Result<QueryResult> {
        self.query.query(sql).await
    }

    /// Every table with its current version and size (`sys.tables`).
    pub async fn tables(&self) -> Result<QueryResult> {
        self.sql(
            "SELECT table_name, mode, version, \"rows\", files, bytes, last_committed_at \
             FROM sys.tables ORDER BY table_name",
        )
        .await
    }

    /// Every version of one table with the submission that produced it.
    pub async fn history(&self, table: &str) -> Result<QueryResult> {
        let name: TableName = table.parse()?;
        // Fails with "table … does not exist" rather than printing an empty history.
        self.catalog.history(&name).await?;
        self.sql(&format!(
            "SELECT version, committed_at, operation, mode, period, submission_id, duty, \
             department, uploader, file_name, \"rows\" \
             FROM sys.table_versions WHERE table_name = '{name}' ORDER BY version"
        ))
        .await
    }

    /// The plugin engine, started on first use.
    pub fn plugin_engine(&self) -> Result<Arc<PluginEngine>> {
        let mut slot = self
            .engine
            .lock()
            .map_err(|_| Error::Internal("the plugin engine lock is poisoned".into()))?;
        if let Some(engine) = slot.as_ref() {
            return Ok(engine.clone());
        }
        let engine = Arc::new(PluginEngine::new(
            self.config.plugin_limits,
            self.config.plugin_cache_dir.clone(),
        )?);
        *slot = Some(engine.clone());
        Ok(engine)
    }

    /// A runtime calling plugins with this platform's services (queries, pseudonyms).
    pub fn plugin_runtime(&self) -> Result<PluginRuntime> {
        let services = PlatformServices {
            query: self.query.clone(),
            handle: tokio::runtime::Handle::try_current().ok(),
            key: PseudonymKey::from_configuration().ok(),
        };
        Ok(PluginRuntime::new(
            self.plugin_engine()?,
            Some(Arc::new(services)),
        ))
    }

    /// Installs a plugin component.
    pub async fn install_plugin(
        &self,
        label: &str,
        bytes: Bytes,
        by: &str,
    ) -> Result<InstallOutcome> {
        self.check_holds_county_data()?;
        registry::install(&self.catalog, &self.plugin_engine()?, label, bytes, by).await
    }

    /// The installed plugins.
    pub async fn plugins(&self) -> Result<Vec<InstalledPlugin>> {
        registry::installed(&self.catalog).await
    }

    /// One installed plugin.
    pub async fn plugin(&self, plugin_id: &str) -> Result<InstalledPlugin> {
        registry::find(&self.catalog, plugin_id).await
    }

    /// Removes a plugin.
    pub async fn remove_plugin(&self, plugin_id: &str, by: &str) -> Result<()> {
        registry::remove(&self.catalog, plugin_id, by)
            .await
            .map(|_| ())
    }

    /// Uploads a department's file to a duty.
    pub async fn upload(
        &self,
        request: UploadRequest,
        progress: &dyn Progress,
    ) -> Result<UploadOutcome> {
        self.check_holds_county_data()?;
        crate::ingest::upload(self, request, progress).await
    }

    /// Loads an installed plugin into the engine.
    pub async fn load_plugin(&self, plugin: &InstalledPlugin) -> Result<Arc<LoadedPlugin>> {
        registry::load(&self.catalog, &self.plugin_engine()?, plugin).await
    }
}

/// "the counties are a, b" for messages.
fn county_list<'a>(ids: impl IntoIterator<Item = &'a str>) -> String {
    let ids: Vec<&str> = ids.into_iter().collect();
    if ids.is_empty() {
        return "it holds no counties (add one with `sannong county add ID`)".into();
    }
    format!("the counties are {}", ids.join(", "))
}

/// What plugins may ask of the platform: read-only queries and pseudonyms.
struct PlatformServices {
    query: QueryService,
    handle: Option<tokio::runtime::Handle>,
    key: Option<PseudonymKey>,
}

impl HostServices for PlatformServices {
    fn query(&self, sql: &str) -> std::result::Result<Vec<u8>, String> {
        let handle = self
            .handle
            .as_ref()
            .ok_or("queries are not available outside the platform's runtime")?;
        // Plugin calls run on blocking threads, where waiting on the runtime is allowed.
        let result = handle
            .block_on(self.query.query(sql))
            .map_err(|e| e.to_string())?;
        let batch = arrow::compute::concat_batches(&result.schema, &result.batches)
            .map_err(|e| e.to_string())?;
        crate::plugin::runtime::encode(&contract_types(batch)?).map_err(|e| e.to_string())
    }

    fn pseudonym(&self, identifier: &str) -> String {
        match &self.key {
            Some(key) => key.pseudonym(identifier),
            // Without a key nothing personal may be stored: an empty pseudonym makes
            // the plugin's output fail its checks rather than leak the identifier.
            None => String::new(),
        }
    }
}

/// Rows as the contract promises them to plugins: text as `Utf8` (not the view or
/// large variants DataFusion may produce) and timestamps in seconds, like the templates.
fn contract_types(
    batch: arrow::array::RecordBatch,
) -> std::result::Result<arrow::array::RecordBatch, String> {
    use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
    let wanted = |t: &DataType| match t {
        DataType::Utf8View | DataType::LargeUtf8 => DataType::Utf8,
        DataType::BinaryView | DataType::LargeBinary => DataType::Binary,
        DataType::Timestamp(_, tz) => DataType::Timestamp(TimeUnit::Second, tz.clone()),
        other => other.clone(),
    };
    let fields: Vec<Field> = batch
        .schema()
        .fields()
        .iter()
        .map(|f| Field::new(f.name(), wanted(f.data_type()), f.is_nullable()))
        .collect();
    let columns = batch
        .columns()
        .iter()
        .zip(&fields)
        .map(|(c, f)| arrow::compute::cast(c, f.data_type()))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    arrow::array::RecordBatch::try_new(std::sync::Arc::new(Schema::new(fields)), columns)
        .map_err(|e| e.to_string())
}
