//! The plugin engine: compiles components once, keeps them ready to instantiate, and
//! interrupts calls that run too long.
//!
//! One wasmtime [`Engine`] per process with the pooling allocator and epoch
//! interruption (a ticker thread advances the epoch every [`EPOCH_TICK`]). A component is
//! compiled once per process and its machine code cached on disk, keyed by the
//! component's sha256 and the engine's settings (an artifact only loads into an engine
//! configured the same way); each cached artifact is checked against its own sha256
//! before it is loaded. Loading also checks what the component imports and reads its
//! manifest.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, Linker};
use wasmtime::{
    Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, ProfilingStrategy,
};

use super::manifest::{PluginManifest, from_wit};
use super::runtime::{PluginLimits, failure_reason};
use super::sandbox::{DepartmentPluginPre, GRANTED_IMPORTS, HostState, linker};
use crate::error::{Error, Result};

/// How often the epoch advances: the granularity of call deadlines.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Bytes of each memory slot kept mapped between calls: enough for a small call to
/// leave no page to return to the kernel, little enough that idle slots hold little.
const KEEP_RESIDENT_BYTES: usize = 4 << 20;

/// Set to `perfmap` to let `perf` name the functions of plugins (see docs/performance.md).
pub const PROFILER_VARIABLE: &str = "SANNONG_PLUGIN_PROFILER";

/// A component compiled, checked and ready to instantiate.
pub struct LoadedPlugin {
    /// sha256 of the component, hex.
    pub sha256: String,
    /// Size of the component in bytes.
    pub size: usize,
    /// Its manifest.
    pub manifest: PluginManifest,
    pub(super) pre: DepartmentPluginPre<HostState>,
}

impl std::fmt::Debug for LoadedPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedPlugin")
            .field("plugin", &self.manifest.plugin_id)
            .field("version", &self.manifest.version)
            .field("sha256", &self.sha256)
            .finish()
    }
}

/// Compiles and holds plugins.
pub struct PluginEngine {
    pub(super) engine: Engine,
    pub(super) limits: PluginLimits,
    linker: Linker<HostState>,
    cache_dir: Option<PathBuf>,
    engine_key: String,
    loaded: Mutex<HashMap<String, Arc<LoadedPlugin>>>,
    ticking: Arc<AtomicBool>,
}

impl std::fmt::Debug for PluginEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginEngine")
            .field("limits", &self.limits)
            .field("cache_dir", &self.cache_dir)
            .finish()
    }
}

impl Drop for PluginEngine {
    fn drop(&mut self) {
        self.ticking.store(false, Ordering::Relaxed);
    }
}

fn engine_error(context: &str, e: wasmtime::Error) -> Error {
    Error::Internal(format!("{context}: {e:#}"))
}

/// sha256 of bytes, hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl PluginEngine {
    /// An engine whose calls obey `limits`, caching compiled code in `cache_dir`.
    pub fn new(limits: PluginLimits, cache_dir: Option<PathBuf>) -> Result<Self> {
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(64)
            .total_core_instances(640)
            .total_memories(128)
            .total_tables(256)
            .max_core_instances_per_component(32)
            .max_memories_per_component(8)
            .max_tables_per_component(16)
            .max_memory_size(limits.memory_bytes.saturating_add(64 << 20))
            // A slot's pages stay mapped from call to call: the pages a call wrote are
            // found with the PAGEMAP_SCAN ioctl (Linux 6.7+) and zeroed, instead of being
            // returned to the kernel and faulted in again by the next call.
            .linear_memory_keep_resident(KEEP_RESIDENT_BYTES)
            .pagemap_scan(Enabled::Auto);
        let mut config = Config::new();
        config
            .wasm_component_model(true)
            .epoch_interruption(true)
            .max_wasm_stack(1 << 20)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        if std::env::var_os(PROFILER_VARIABLE).is_some_and(|v| v == "perfmap") {
            // Names the plugins' machine code for `perf` (/tmp/perf-PID.map).
            config.profiler(ProfilingStrategy::PerfMap);
        }
        let engine =
            Engine::new(&config).map_err(|e| engine_error("cannot start the plugin engine", e))?;
        let linker =
            linker(&engine).map_err(|e| engine_error("cannot link the plugin contract", e))?;
        let mut hasher = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let engine_key = format!("{:016x}", hasher.finish());
        let ticking = Arc::new(AtomicBool::new(true));
        spawn_epoch_ticker(engine.clone(), ticking.clone());
        Ok(PluginEngine {
            engine,
            limits,
            linker,
            cache_dir,
            engine_key,
            loaded: Mutex::new(HashMap::new()),
            ticking,
        })
    }

    /// The limits every call obeys.
    pub fn limits(&self) -> PluginLimits {
        self.limits
    }

    /// Loads a component: compiles it (or takes it from the cache), checks its imports,
    /// pre-instantiates it and reads and validates its manifest. `label` names it in
    /// errors (e.g. the file name).
    pub fn load(&self, label: &str, bytes: &[u8]) -> Result<Arc<LoadedPlugin>> {
        let sha256 = sha256_hex(bytes);
        if let Some(hit) = self
            .loaded
            .lock()
            .ok()
            .and_then(|l| l.get(&sha256).cloned())
        {
            return Ok(hit);
        }
        let refused = |reason: String| Error::PluginRefused {
            plugin: label.to_owned(),
            reason,
        };
        let component = self.compile(&sha256, bytes).map_err(|e| {
            refused(format!(
                "it is not a valid WebAssembly component: {}",
                one_line(&e)
            ))
        })?;
        let component_type = component.component_type();
        let forbidden: Vec<&str> = component_type
            .imports(&self.engine)
            .map(|(name, _)| name)
            .filter(|name| {
                !GRANTED_IMPORTS
                    .iter()
                    .any(|granted| name.starts_with(granted))
            })
            .collect();
        if !forbidden.is_empty() {
            return Err(refused(format!(
                "it imports {}, which plugins are not granted (no file system, network or clocks; plugins may import sannong:plugin/*, wasi:cli, wasi:io and wasi:random)",
                forbidden.join(", ")
            )));
        }
        let instance_pre = self.linker.instantiate_pre(&component).map_err(|e| {
            refused(format!(
                "it does not fit the sannong:plugin@0.1.0 contract: {}",
                one_line(&e)
            ))
        })?;
        let pre = DepartmentPluginPre::new(instance_pre).map_err(|e| {
            refused(format!(
                "it does not export the sannong:plugin@0.1.0 contract: {}",
                one_line(&e)
            ))
        })?;
        let manifest = self.describe(label, &pre)?;
        manifest.validate()?;
        let plugin = Arc::new(LoadedPlugin {
            sha256: sha256.clone(),
            size: bytes.len(),
            manifest,
            pre,
        });
        if let Ok(mut loaded) = self.loaded.lock() {
            loaded.insert(sha256, plugin.clone());
        }
        Ok(plugin)
    }

    fn describe(
        &self,
        label: &str,
        pre: &DepartmentPluginPre<HostState>,
    ) -> Result<PluginManifest> {
        let mut store = super::runtime::new_store(self, label, None);
        let outcome = pre
            .instantiate(&mut store)
            .and_then(|plugin| plugin.sannong_plugin_plugin().call_describe(&mut store));
        match outcome {
            Ok(manifest) => Ok(from_wit(manifest)),
            Err(e) => Err(Error::PluginRefused {
                plugin: label.to_owned(),
                reason: format!(
                    "describing itself failed: {}",
                    failure_reason(&e, &store, &self.limits)
                ),
            }),
        }
    }

    /// Compiles a component, using the on-disk cache when possible.
    fn compile(&self, sha256: &str, bytes: &[u8]) -> wasmtime::Result<Component> {
        let Some(dir) = &self.cache_dir else {
            return Component::new(&self.engine, bytes);
        };
        let artifact = dir.join(format!("{sha256}-{}.cwasm", self.engine_key));
        if let Some(component) = self.load_cached(&artifact) {
            return Ok(component);
        }
        let component = Component::new(&self.engine, bytes)?;
        if let Err(e) = store_artifact(&artifact, &component.serialize()?) {
            tracing::warn!(path = %artifact.display(), "cannot cache a compiled plugin: {e}");
        }
        Ok(component)
    }

    /// Loads a cached artifact if present and intact.
    fn load_cached(&self, artifact: &Path) -> Option<Component> {
        let bytes = std::fs::read(artifact).ok()?;
        let expected = std::fs::read_to_string(checksum_path(artifact)).ok()?;
        if sha256_hex(&bytes) != expected.trim() {
            tracing::warn!(path = %artifact.display(), "ignoring a cached plugin artifact whose checksum does not match");
            return None;
        }
        deserialize(&self.engine, &bytes).ok()
    }

    /// Whether a compiled artifact of this component is cached on disk.
    pub fn is_cached(&self, sha256: &str) -> bool {
        self.cache_dir.as_ref().is_some_and(|dir| {
            dir.join(format!("{sha256}-{}.cwasm", self.engine_key))
                .is_file()
        })
    }

    /// Forgets the compiled plugins held in memory (the disk cache stays).
    pub fn forget_loaded(&self) {
        if let Ok(mut loaded) = self.loaded.lock() {
            loaded.clear();
        }
    }
}

/// Loads machine code compiled by this very engine configuration.
#[allow(unsafe_code)]
fn deserialize(engine: &Engine, bytes: &[u8]) -> wasmtime::Result<Component> {
    // SAFETY: `bytes` were produced by `Component::serialize` of an engine with the
    // same compatibility hash (it is part of the file name) and match the sha256
    // recorded when they were written, so they are the trusted output of our own
    // compiler, which is what `deserialize` requires.
    unsafe { Component::deserialize(engine, bytes) }
}

fn checksum_path(artifact: &Path) -> PathBuf {
    artifact.with_extension("cwasm.sha256")
}

fn store_artifact(artifact: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = artifact.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let temporary = artifact.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&temporary, bytes)?;
    std::fs::write(checksum_path(artifact), sha256_hex(bytes))?;
    std::fs::rename(&temporary, artifact)
}

fn spawn_epoch_ticker(engine: Engine, ticking: Arc<AtomicBool>) {
    let spawned = std::thread::Builder::new()
        .name("plugin-epoch".into())
        .spawn(move || {
            while ticking.load(Ordering::Relaxed) {
                std::thread::sleep(EPOCH_TICK);
                engine.increment_epoch();
            }
        });
    if let Err(e) = spawned {
        tracing::error!(
            "cannot start the plugin deadline thread: {e}; plugin calls will not time out"
        );
    }
}

fn one_line(e: &wasmtime::Error) -> String {
    sannong_catalog::one_line(&format!("{e:#}"))
}

/// The default directory for compiled plugin code: `$SANNONG_CACHE_DIR`, else
/// `$XDG_CACHE_HOME/sannong/plugins`, else `~/.cache/sannong/plugins`.
pub fn default_cache_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("SANNONG_CACHE_DIR") {
        return Some(PathBuf::from(dir).join("plugins"));
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("sannong").join("plugins"))
}
