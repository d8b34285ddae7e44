//! The sannong plugin SDK: everything a department plugin needs, nothing of the bindings.
//!
//! A plugin is a type implementing [`Plugin`]: it declares its [`Manifest`] (department,
//! duties, upload templates) with builders, and writes its own rules as plain Rust over
//! the rows ([`Rows`]), reporting [`Diagnostic`]s. [`export_plugin!`] turns it into a
//! WebAssembly component of the `sannong:plugin@0.1.0` contract (`sdk/wit/`).
//!
//! ```ignore
//! struct Prices;
//! impl sannong_sdk::Plugin for Prices {
//!     fn manifest() -> Manifest { /* … */ }
//!     fn validate(call: &Call, rows: &Rows, out: &mut Diagnostics) -> Result<(), PluginError> { /* … */ }
//! }
//! sannong_sdk::export_plugin!(Prices);
//! ```
//!
//! The same code runs natively in `cargo test` ([`testing`]), with the host's imports
//! ([`host`]) answered by the test.

pub mod checks;
pub mod diagnostics;
#[doc(hidden)]
pub mod glue;
pub mod host;
pub mod ipc;
pub mod manifest;
pub mod rows;
#[cfg(not(target_arch = "wasm32"))]
pub mod testing;

#[cfg(target_arch = "wasm32")]
#[doc(hidden)]
pub mod bindings {
    //! Generated bindings of the WIT contract (WebAssembly builds only).
    #![allow(missing_docs, unsafe_code, clippy::all)]
    wit_bindgen::generate!({
        path: "wit",
        world: "department-plugin",
        pub_export_macro: true,
        export_macro_name: "export",
        default_bindings_module: "sannong_sdk::bindings",
    });
}

pub use arrow_array::{self, RecordBatch};
pub use arrow_schema;
pub use diagnostics::{Diagnostic, Diagnostics, Severity};
pub use manifest::{
    Bound, Cadence, Column, DataType, Department, Duty, DutyMode, Manifest, Reference,
    StoredColumn, UniqueKey,
};
pub use rows::Rows;

/// A failure of the plugin itself (not a problem in the rows): reported to the uploader
/// as an internal error of the plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginError(pub String);

impl std::fmt::Display for PluginError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PluginError {}

impl From<String> for PluginError {
    fn from(message: String) -> Self {
        PluginError(message)
    }
}

impl From<&str> for PluginError {
    fn from(message: &str) -> Self {
        PluginError(message.to_owned())
    }
}

/// What a call is about: the duty and, for period duties, the upload's period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// The duty id, e.g. `parcels`.
    pub duty: String,
    /// The period `YYYY-MM`, for period duties.
    pub period: Option<String>,
}

impl Call {
    /// The duty id.
    pub fn duty(&self) -> &str {
        &self.duty
    }
}

/// A department plugin.
pub trait Plugin {
    /// The plugin's manifest.
    fn manifest() -> Manifest;

    /// Checks rows of a duty beyond what its template declares; reports problems into
    /// `out`. The host has already checked types, required columns, allowed values,
    /// ranges, uniqueness and references declared in the manifest.
    fn validate(call: &Call, rows: &Rows, out: &mut Diagnostics) -> Result<(), PluginError> {
        let _ = (call, rows, out);
        Ok(())
    }

    /// Turns valid rows into the rows to store; called only for duties declared with
    /// [`Duty::transforms`]. The result must have the duty's stored columns.
    fn transform(call: &Call, rows: RecordBatch) -> Result<RecordBatch, PluginError> {
        let _ = call;
        Ok(rows)
    }
}

/// Exports a [`Plugin`] as the component's implementation of the contract.
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            struct Export;
            impl $crate::bindings::exports::sannong::plugin::plugin::Guest for Export {
                fn describe() -> $crate::bindings::sannong::plugin::types::Manifest {
                    $crate::glue::manifest::<$plugin>()
                }
                fn validate(
                    request: $crate::bindings::sannong::plugin::types::Request,
                ) -> Result<
                    ::std::vec::Vec<$crate::bindings::sannong::plugin::types::Diagnostic>,
                    ::std::string::String,
                > {
                    $crate::glue::validate::<$plugin>(request)
                }
                fn transform(
                    request: $crate::bindings::sannong::plugin::types::Request,
                ) -> Result<::std::vec::Vec<u8>, ::std::string::String> {
                    $crate::glue::transform::<$plugin>(request)
                }
            }
    $crate::bindings::export!(Export with_types_in $crate::bindings);
        };
    };
}
