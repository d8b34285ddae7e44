//! The department plugins built into the binary (by `core/build.rs` from `plugins/*`),
//! so a fresh platform can serve all 13 duties without building anything.

use bytes::Bytes;

use crate::error::Result;
use crate::platform::Platform;
use crate::plugin::registry::InstallOutcome;

include!(concat!(env!("OUT_DIR"), "/builtin_plugins.rs"));

/// Installs the built-in department plugins; returns the ids newly installed (already
/// installed ones are left as they are).
pub async fn install(platform: &Platform, by: &str) -> Result<Vec<String>> {
    let mut installed = Vec::new();
    for (id, component) in BUILTIN_PLUGINS {
        let label = format!("built-in plugin {id}");
        if let InstallOutcome::Installed(p) = platform
            .install_plugin_as(
                &crate::auth::Actor::cli(by),
                &label,
                Bytes::from_static(component),
            )
            .await?
        {
            installed.push(p.manifest.plugin_id);
        }
    }
    Ok(installed)
}
