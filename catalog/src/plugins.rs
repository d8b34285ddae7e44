//! The plugin registry: installed components and the record of who installed what.
//!
//! Components are stored content-addressed under `<root>/plugins/<plugin-id>/<sha256>.wasm`.
//! The registry itself is an append-only internal Delta table (`system/plugin_registry`):
//! each install or removal is one commit of one event row, so an install is atomic,
//! concurrent installs never lose each other, and every earlier version stays
//! recorded (and its component stays stored) for the history of submissions.
//! What is installed now is the latest event of each plugin.

use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch, StringArray, TimestampMillisecondArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use object_store::{ObjectStoreExt, PutMode, PutOptions, PutPayload};

use crate::error::{CatalogError, Result};
use crate::submission::{CommitMode, SubmissionRecord};
use crate::table_name::TableName;
use crate::tables::Catalog;

const REGISTRY_TABLE: &str = "plugin_registry";

/// What happened to a plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PluginAction {
    /// A version was installed (and became current).
    Install,
    /// The plugin was removed.
    Remove,
}

impl PluginAction {
    fn as_str(self) -> &'static str {
        match self {
            PluginAction::Install => "install",
            PluginAction::Remove => "remove",
        }
    }
}

/// One event of the registry: an install or removal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginEvent {
    /// Install or remove.
    pub action: PluginAction,
    /// Plugin id.
    pub plugin_id: String,
    /// Version installed (for removals: the version removed).
    pub version: String,
    /// sha256 of the component, hex.
    pub sha256: String,
    /// The department it serves.
    pub department: String,
    /// The manifest, as JSON.
    pub manifest_json: String,
    /// Who did it.
    pub by: String,
    /// When.
    pub at: DateTime<Utc>,
}

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("action", DataType::Utf8, false),
        Field::new("plugin_id", DataType::Utf8, false),
        Field::new("version", DataType::Utf8, false),
        Field::new("sha256", DataType::Utf8, false),
        Field::new("department", DataType::Utf8, false),
        Field::new("manifest_json", DataType::Utf8, false),
        Field::new("by", DataType::Utf8, false),
        Field::new(
            "at",
            DataType::Timestamp(TimeUnit::Millisecond, None),
            false,
        ),
    ]))
}

fn registry_table() -> Result<TableName> {
    TableName::system(REGISTRY_TABLE)
}

fn object_path(catalog: &Catalog, plugin_id: &str, sha256: &str) -> object_store::path::Path {
    let (_, root) = catalog.root_store();
    root.clone()
        .join("plugins")
        .join(plugin_id)
        .join(format!("{sha256}.wasm"))
}

impl Catalog {
    /// Stores a component and records its installation, in one commit of the registry.
    pub async fn record_plugin_install(&self, event: PluginEvent, component: Bytes) -> Result<()> {
        let (store, _) = self.root_store();
        let path = object_path(self, &event.plugin_id, &event.sha256);
        let options = PutOptions {
            mode: PutMode::Create,
            ..Default::default()
        };
        match store
            .put_opts(&path, PutPayload::from_bytes(component), options)
            .await
        {
            Ok(_) | Err(object_store::Error::AlreadyExists { .. }) => {}
            Err(e) => {
                return Err(CatalogError::storage(
                    format!("storing plugin {}", event.plugin_id),
                    e,
                ));
            }
        }
        self.append_plugin_event(event).await
    }

    /// Records the removal of a plugin; its components stay stored for history.
    pub async fn record_plugin_removal(&self, event: PluginEvent) -> Result<()> {
        self.append_plugin_event(event).await
    }

    async fn append_plugin_event(&self, event: PluginEvent) -> Result<()> {
        let at = event.at.timestamp_millis();
        let text = |s: &str| -> Arc<dyn Array> { Arc::new(StringArray::from(vec![s])) };
        let batch = RecordBatch::try_new(
            schema(),
            vec![
                text(event.action.as_str()),
                text(&event.plugin_id),
                text(&event.version),
                text(&event.sha256),
                text(&event.department),
                text(&event.manifest_json),
                text(&event.by),
                Arc::new(TimestampMillisecondArray::from(vec![at])),
            ],
        )
        .map_err(|e| CatalogError::Internal(format!("building a registry event: {e}")))?;
        let mut record = SubmissionRecord::new(&event.by, 1);
        record.file_name = Some(format!(
            "{} {} {}",
            event.action.as_str(),
            event.plugin_id,
            event.version
        ));
        self.commit(
            &registry_table()?,
            schema(),
            vec![batch],
            CommitMode::Append,
            &record,
        )
        .await
        .map(|_| ())
    }

    /// Every registry event, oldest first.
    pub async fn plugin_events(&self) -> Result<Vec<PluginEvent>> {
        let table = registry_table()?;
        if !self.exists(&table).await? {
            return Ok(Vec::new());
        }
        let mut events = Vec::new();
        for batch in self.read_all(&table).await? {
            events.extend(events_of(&batch)?);
        }
        events.sort_by_key(|e| e.at);
        Ok(events)
    }

    /// The plugins installed now: the latest event of each plugin, if it is an install.
    pub async fn installed_plugins(&self) -> Result<Vec<PluginEvent>> {
        let mut latest: std::collections::BTreeMap<String, PluginEvent> = Default::default();
        for event in self.plugin_events().await? {
            latest.insert(event.plugin_id.clone(), event);
        }
        Ok(latest
            .into_values()
            .filter(|e| e.action == PluginAction::Install)
            .collect())
    }

    /// The stored component of an installed version, checked against its sha256.
    pub async fn plugin_component(&self, plugin_id: &str, sha256: &str) -> Result<Bytes> {
        let (store, _) = self.root_store();
        let path = object_path(self, plugin_id, sha256);
        let bytes = store
            .get(&path)
            .await
            .map_err(|e| CatalogError::storage(format!("reading plugin {plugin_id}"), e))?
            .bytes()
            .await
            .map_err(|e| CatalogError::storage(format!("reading plugin {plugin_id}"), e))?;
        use sha2::Digest;
        let actual = hex::encode(sha2::Sha256::digest(&bytes));
        if actual != sha256 {
            return Err(CatalogError::Storage {
                context: format!("plugin {plugin_id}"),
                detail: format!(
                    "stored component {path} has sha256 {actual}, not the {sha256} recorded at install"
                ),
            });
        }
        Ok(bytes)
    }
}

fn events_of(batch: &RecordBatch) -> Result<Vec<PluginEvent>> {
    // Parquet text may read back as Utf8View: normalise to Utf8.
    let text = |name: &str| -> Result<StringArray> {
        batch
            .column_by_name(name)
            .and_then(|c| arrow::compute::cast(c, &DataType::Utf8).ok())
            .and_then(|c| c.as_string_opt::<i32>().cloned())
            .ok_or_else(|| {
                CatalogError::Internal(format!("the plugin registry has no text column {name}"))
            })
    };
    let (action, plugin_id, version, sha256) = (
        text("action")?,
        text("plugin_id")?,
        text("version")?,
        text("sha256")?,
    );
    let (department, manifest, by) = (text("department")?, text("manifest_json")?, text("by")?);
    let at = batch
        .column_by_name("at")
        .and_then(|c| {
            c.as_primitive_opt::<arrow::datatypes::TimestampMicrosecondType>()
                .map(|a| a.values().to_vec())
                .or_else(|| {
                    c.as_primitive_opt::<arrow::datatypes::TimestampMillisecondType>()
                        .map(|a| a.values().iter().map(|v| v * 1000).collect())
                })
        })
        .ok_or_else(|| CatalogError::Internal("the plugin registry has no time column".into()))?;
    (0..batch.num_rows())
        .map(|i| {
            Ok(PluginEvent {
                action: if action.value(i) == "remove" {
                    PluginAction::Remove
                } else {
                    PluginAction::Install
                },
                plugin_id: plugin_id.value(i).to_owned(),
                version: version.value(i).to_owned(),
                sha256: sha256.value(i).to_owned(),
                department: department.value(i).to_owned(),
                manifest_json: manifest.value(i).to_owned(),
                by: by.value(i).to_owned(),
                at: DateTime::from_timestamp_micros(at[i]).unwrap_or_default(),
            })
        })
        .collect()
}
