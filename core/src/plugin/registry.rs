//! Installing, finding and removing plugins, on top of the catalog's plugin registry;
//! and the `sys.plugins` and `sys.duties` tables.
//!
//! Installing loads the component first (compile, import check, manifest check), then
//! refuses a duty already served by another plugin, then records it in one commit.
//! Re-installing the same component is reported, not recorded twice.

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use async_trait::async_trait;
use bytes::Bytes;
use chrono::Utc;
use sannong_catalog::sql::SystemTable;
use sannong_catalog::sql::system::{BatchBuilder, system_table_error};
use sannong_catalog::{Catalog, PluginAction, PluginEvent};

use super::engine::{LoadedPlugin, PluginEngine};
use super::manifest::{DutySpec, PluginManifest};
use crate::error::{Error, Result};

/// An installed plugin: its registry record and its manifest.
#[derive(Debug, Clone)]
pub struct InstalledPlugin {
    /// The registry record of its current version.
    pub event: PluginEvent,
    /// Its manifest.
    pub manifest: PluginManifest,
}

/// What an install did.
#[derive(Debug, Clone)]
pub enum InstallOutcome {
    /// The plugin (or a new version of it) is now installed.
    Installed(InstalledPlugin),
    /// This very component was already the installed version.
    AlreadyInstalled(InstalledPlugin),
}

fn parse_manifest(event: &PluginEvent) -> Result<PluginManifest> {
    serde_json::from_str(&event.manifest_json).map_err(|e| {
        Error::Internal(format!(
            "the registry's manifest of {} does not parse: {e}",
            event.plugin_id
        ))
    })
}

/// The plugins installed now, with their manifests.
pub async fn installed(catalog: &Catalog) -> Result<Vec<InstalledPlugin>> {
    catalog
        .installed_plugins()
        .await?
        .into_iter()
        .map(|event| {
            Ok(InstalledPlugin {
                manifest: parse_manifest(&event)?,
                event,
            })
        })
        .collect()
}

/// The installed plugin with this id.
pub async fn find(catalog: &Catalog, plugin_id: &str) -> Result<InstalledPlugin> {
    installed(catalog)
        .await?
        .into_iter()
        .find(|p| p.event.plugin_id == plugin_id)
        .ok_or_else(|| {
            Error::PluginNotFound(format!(
                "no plugin '{plugin_id}' is installed (see `sannong plugin list`)"
            ))
        })
}

/// The installed plugin serving a duty, and the duty.
pub async fn for_duty(catalog: &Catalog, duty: &str) -> Result<(InstalledPlugin, DutySpec)> {
    for plugin in installed(catalog).await? {
        if let Some(spec) = plugin.manifest.duty(duty).cloned() {
            return Ok((plugin, spec));
        }
    }
    Err(Error::PluginNotFound(format!(
        "no installed plugin serves duty '{duty}' (see `sannong plugin list` and sys.duties)"
    )))
}

/// Loads an installed plugin's component into the engine.
pub async fn load(
    catalog: &Catalog,
    engine: &Arc<PluginEngine>,
    plugin: &InstalledPlugin,
) -> Result<Arc<LoadedPlugin>> {
    let bytes = catalog
        .plugin_component(&plugin.event.plugin_id, &plugin.event.sha256)
        .await?;
    let engine = engine.clone();
    let label = plugin.event.plugin_id.clone();
    tokio::task::spawn_blocking(move || engine.load(&label, &bytes))
        .await
        .map_err(|e| Error::Internal(format!("loading a plugin: {e}")))?
}

/// Installs a component; `label` names it in errors (e.g. its file name).
pub async fn install(
    catalog: &Catalog,
    engine: &Arc<PluginEngine>,
    label: &str,
    bytes: Bytes,
    by: &str,
) -> Result<InstallOutcome> {
    let loaded = {
        let (engine, label, bytes) = (engine.clone(), label.to_owned(), bytes.clone());
        tokio::task::spawn_blocking(move || engine.load(&label, &bytes))
            .await
            .map_err(|e| Error::Internal(format!("loading a plugin: {e}")))??
    };
    let manifest = loaded.manifest.clone();
    let current = installed(catalog).await?;
    for other in current
        .iter()
        .filter(|p| p.event.plugin_id != manifest.plugin_id)
    {
        if let Some(duty) = manifest
            .duties
            .iter()
            .find(|d| other.manifest.duty(&d.id).is_some())
        {
            return Err(Error::PluginRefused {
                plugin: manifest.plugin_id.clone(),
                reason: format!(
                    "duty '{}' is already served by plugin '{}'",
                    duty.id, other.event.plugin_id
                ),
            });
        }
    }
    if let Some(same) = current
        .iter()
        .find(|p| p.event.plugin_id == manifest.plugin_id && p.event.sha256 == loaded.sha256)
    {
        return Ok(InstallOutcome::AlreadyInstalled(same.clone()));
    }
    let event = PluginEvent {
        action: PluginAction::Install,
        plugin_id: manifest.plugin_id.clone(),
        version: manifest.version.clone(),
        sha256: loaded.sha256.clone(),
        department: manifest.department.id.clone(),
        manifest_json: serde_json::to_string(&manifest)
            .map_err(|e| Error::Internal(e.to_string()))?,
        by: by.to_owned(),
        at: Utc::now(),
    };
    catalog.record_plugin_install(event.clone(), bytes).await?;
    Ok(InstallOutcome::Installed(InstalledPlugin {
        event,
        manifest,
    }))
}

/// Removes an installed plugin (its duties are then served by nobody).
pub async fn remove(catalog: &Catalog, plugin_id: &str, by: &str) -> Result<PluginEvent> {
    let plugin = find(catalog, plugin_id).await?;
    let event = PluginEvent {
        action: PluginAction::Remove,
        by: by.to_owned(),
        at: Utc::now(),
        ..plugin.event
    };
    catalog.record_plugin_removal(event.clone()).await?;
    Ok(event)
}

/// The system tables of this module.
pub fn system_tables(catalog: Arc<Catalog>) -> Vec<Arc<dyn SystemTable>> {
    vec![Arc::new(PluginsTable(catalog))]
}

/// `sys.plugins`: the installed plugins.
#[derive(Debug)]
struct PluginsTable(Arc<Catalog>);

impl PluginsTable {
    fn columns(p: &[InstalledPlugin]) -> BatchBuilder {
        BatchBuilder::default()
            .text(
                "plugin_id",
                p.iter().map(|p| Some(p.event.plugin_id.as_str())),
            )
            .text("version", p.iter().map(|p| Some(p.event.version.as_str())))
            .text(
                "department",
                p.iter().map(|p| Some(p.manifest.department.id.as_str())),
            )
            .text(
                "department_zh",
                p.iter()
                    .map(|p| Some(p.manifest.department.name_zh.as_str())),
            )
            .text(
                "description",
                p.iter().map(|p| Some(p.manifest.description.as_str())),
            )
            .text(
                "duties",
                p.iter().map(|p| {
                    Some(
                        p.manifest
                            .duties
                            .iter()
                            .map(|d| d.id.as_str())
                            .collect::<Vec<_>>()
                            .join(","),
                    )
                }),
            )
            .text("sha256", p.iter().map(|p| Some(p.event.sha256.as_str())))
            .text("installed_by", p.iter().map(|p| Some(p.event.by.as_str())))
            .time("installed_at", p.iter().map(|p| Some(p.event.at)))
    }
}

#[async_trait]
impl SystemTable for PluginsTable {
    fn name(&self) -> &str {
        "plugins"
    }

    fn schema(&self) -> SchemaRef {
        Self::columns(&[]).schema()
    }

    async fn rows(&self) -> datafusion::error::Result<RecordBatch> {
        let plugins = installed(&self.0)
            .await
            .map_err(|e| system_table_error("plugins", e))?;
        Self::columns(&plugins).build()
    }
}
