//! The sandbox one plugin call runs in: the store's state, what the plugin may import,
//! and the host side of the contract's imports.
//!
//! A plugin gets only: `sannong:plugin/{query, log, pseudonym}`, and the WASI
//! interfaces Rust's standard library needs to start (`wasi:cli` environment, exit and
//! standard streams, `wasi:io`, `wasi:random`) — with no arguments, no environment
//! variables, no stdin, stdout discarded, stderr captured for error messages, and a
//! fixed random seed. No file system, network or clocks: a component that imports them
//! is refused when it is loaded, naming the import.

use std::sync::Arc;

use wasmtime::component::{HasData, HasSelf, Linker, ResourceTable};
use wasmtime::{Engine, StoreLimits};
use wasmtime_wasi::p2::pipe::{MemoryOutputPipe, SinkOutputStream};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::query::read_only;

/// The host bindings of the contract, generated from `sdk/wit/` (documented there).
#[allow(missing_docs)]
mod bindings {
    wasmtime::component::bindgen!({
        path: "../sdk/wit",
        world: "department-plugin",
    });
}

pub use bindings::exports::sannong::plugin::plugin::Guest as PluginExports;
use bindings::sannong;
pub use bindings::{DepartmentPlugin, DepartmentPluginPre};

/// The contract's types, as generated for the host.
pub mod wit {
    pub use super::bindings::sannong::plugin::types::*;
}

/// What the host answers to a plugin's `query` and `pseudonym` imports.
pub trait HostServices: Send + Sync {
    /// Runs a read-only query and returns its rows as Arrow IPC.
    fn query(&self, sql: &str) -> Result<Vec<u8>, String>;
    /// The keyed pseudonym of a personal identifier.
    fn pseudonym(&self, identifier: &str) -> String;
}

/// Bytes of a plugin's stderr kept for error messages (its panic message).
const STDERR_CAPACITY: usize = 16 * 1024;
/// Longest log message kept.
const LOG_MESSAGE_LIMIT: usize = 1024;
/// Log messages kept per call.
const LOG_MESSAGES_LIMIT: usize = 200;

/// The state of one plugin call's store.
pub struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(super) limits: StoreLimits,
    stderr: MemoryOutputPipe,
    plugin_id: String,
    services: Option<Arc<dyn HostServices>>,
    log_messages: usize,
    /// Set when the plugin asked for something it may not (a write through `query`).
    pub(super) violation: Option<String>,
}

impl HostState {
    /// A fresh state granting nothing but the contract.
    pub fn new(
        plugin_id: &str,
        limits: StoreLimits,
        services: Option<Arc<dyn HostServices>>,
    ) -> Self {
        let stderr = MemoryOutputPipe::new(STDERR_CAPACITY);
        let wasi = WasiCtx::builder()
            .stdout(SinkOutputStream)
            .stderr(stderr.clone())
            .secure_random(FixedRandom(0x5a17_0a6e))
            .insecure_random(FixedRandom(0x0a6e_5a17))
            .insecure_random_seed(0)
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        HostState {
            wasi,
            table: ResourceTable::new(),
            limits,
            stderr,
            plugin_id: plugin_id.to_owned(),
            services,
            log_messages: 0,
            violation: None,
        }
    }

    /// What the plugin wrote to stderr (e.g. its panic message), trimmed.
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr.contents())
            .trim()
            .to_owned()
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// A deterministic random source: plugins get no real randomness.
struct FixedRandom(u64);

impl rand_core::TryRng for FixedRandom {
    type Error = std::convert::Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        self.try_next_u64().map(|v| v as u32)
    }

    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        // xorshift: enough for hash seeds; deliberately predictable.
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        Ok(self.0)
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), Self::Error> {
        for chunk in dest.chunks_mut(8) {
            let bytes = self.try_next_u64()?.to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
        Ok(())
    }
}

impl sannong::plugin::types::Host for HostState {}

impl sannong::plugin::query::Host for HostState {
    fn run(&mut self, sql: String) -> Result<Vec<u8>, String> {
        if let Err(e) = read_only::check_read_only(&sql) {
            let message = e.to_string();
            self.violation = Some(format!(
                "it asked `query` for something other than a read-only SELECT ({message})"
            ));
            return Err(message);
        }
        match &self.services {
            Some(services) => services.query(&sql),
            None => Err("queries are not available to plugins in this context".into()),
        }
    }
}

impl sannong::plugin::log::Host for HostState {
    fn write(&mut self, level: sannong::plugin::log::Level, message: String) {
        use sannong::plugin::log::Level;
        if self.log_messages >= LOG_MESSAGES_LIMIT {
            return;
        }
        self.log_messages += 1;
        let message: String = message.chars().take(LOG_MESSAGE_LIMIT).collect();
        let plugin = self.plugin_id.as_str();
        match level {
            Level::Debug => tracing::debug!(plugin, "{message}"),
            Level::Info => tracing::info!(plugin, "{message}"),
            Level::Warn => tracing::warn!(plugin, "{message}"),
        }
    }
}

impl sannong::plugin::pseudonym::Host for HostState {
    fn of(&mut self, identifier: String) -> String {
        match &self.services {
            Some(services) => services.pseudonym(&identifier),
            None => String::new(),
        }
    }
}

struct HasIo;

impl HasData for HasIo {
    type Data<'a> = &'a mut ResourceTable;
}

/// The linker: the contract's imports and the WASI subset described above.
pub fn linker(engine: &Engine) -> wasmtime::Result<Linker<HostState>> {
    use wasmtime_wasi::cli::{WasiCli, WasiCliView};
    use wasmtime_wasi::p2::bindings::{cli, random, sync::io};
    use wasmtime_wasi::random::WasiRandom;

    let mut linker = Linker::new(engine);
    DepartmentPlugin::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |state| state)?;
    let l = &mut linker;
    wasmtime_wasi_io::bindings::wasi::io::error::add_to_linker::<HostState, HasIo>(l, |t| {
        &mut t.table
    })?;
    io::poll::add_to_linker::<HostState, HasIo>(l, |t| &mut t.table)?;
    io::streams::add_to_linker::<HostState, HasIo>(l, |t| &mut t.table)?;
    random::random::add_to_linker::<HostState, WasiRandom>(l, |t| t.wasi.random())?;
    random::insecure::add_to_linker::<HostState, WasiRandom>(l, |t| t.wasi.random())?;
    random::insecure_seed::add_to_linker::<HostState, WasiRandom>(l, |t| t.wasi.random())?;
    cli::exit::add_to_linker::<HostState, WasiCli>(l, <HostState as WasiCliView>::cli)?;
    cli::environment::add_to_linker::<HostState, WasiCli>(l, <HostState as WasiCliView>::cli)?;
    cli::stdin::add_to_linker::<HostState, WasiCli>(l, <HostState as WasiCliView>::cli)?;
    cli::stdout::add_to_linker::<HostState, WasiCli>(l, <HostState as WasiCliView>::cli)?;
    cli::stderr::add_to_linker::<HostState, WasiCli>(l, <HostState as WasiCliView>::cli)?;
    cli::terminal_input::add_to_linker::<HostState, WasiCli>(l, <HostState as WasiCliView>::cli)?;
    cli::terminal_output::add_to_linker::<HostState, WasiCli>(l, <HostState as WasiCliView>::cli)?;
    cli::terminal_stdin::add_to_linker::<HostState, WasiCli>(l, <HostState as WasiCliView>::cli)?;
    cli::terminal_stdout::add_to_linker::<HostState, WasiCli>(l, <HostState as WasiCliView>::cli)?;
    cli::terminal_stderr::add_to_linker::<HostState, WasiCli>(l, <HostState as WasiCliView>::cli)?;
    Ok(linker)
}

/// The interfaces a plugin may import, by prefix (any version).
pub const GRANTED_IMPORTS: &[&str] = &[
    "sannong:plugin/",
    "wasi:cli/environment@",
    "wasi:cli/exit@",
    "wasi:cli/stdin@",
    "wasi:cli/stdout@",
    "wasi:cli/stderr@",
    "wasi:cli/terminal-",
    "wasi:io/",
    "wasi:random/",
];
