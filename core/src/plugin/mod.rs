//! Department plugins: WebAssembly components of the `sannong:plugin@0.1.0` contract
//! (`sdk/wit/`) run in a sandbox.
//!
//! - [`engine`]: compiles, caches and checks components ([`PluginEngine`], [`LoadedPlugin`]);
//! - [`sandbox`]: what a plugin may import and the host side of the imports;
//! - [`runtime`]: calls under limits ([`PluginRuntime`], [`PluginLimits`]);
//! - [`manifest`]: the manifest as the platform keeps it ([`PluginManifest`]);
//! - [`bounds`]: parsing range bounds in their column's type;
//! - [`builtin`]: the department plugins built into the binary;
//! - [`registry`]: installing plugins into the catalog's plugin registry.

pub mod bounds;
pub mod builtin;
pub mod engine;
pub mod manifest;
pub mod registry;
pub mod runtime;
pub mod sandbox;

pub use engine::{LoadedPlugin, PluginEngine};
pub use manifest::{DutySpec, PluginManifest};
pub use runtime::{PluginDiagnostic, PluginLimits, PluginRuntime, Severity};
pub use sandbox::HostServices;
