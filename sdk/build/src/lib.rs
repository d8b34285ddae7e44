//! Builds plugin crates into WebAssembly components (`wasm32-wasip2`).
//!
//! One job: run `cargo build --release --target wasm32-wasip2` for plugin packages with
//! the settings plugins are built with (LTO, one codegen unit, stripped, panic=abort,
//! WebAssembly SIMD)
//! and report where each component is. Used by build scripts that embed or test
//! plugins and by `sannong plugin build DIR`.
//!
//! From a build script, the nested cargo runs with its own target directory (so it
//! never waits on the outer build's lock) and without the outer build's flags.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The target plugins are built for.
pub const TARGET: &str = "wasm32-wasip2";

/// Why a build failed.
#[derive(Debug)]
pub struct BuildError(pub String);

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BuildError {}

/// Variables of an outer cargo build that must not leak into the nested one.
const OUTER_BUILD_VARIABLES: &[&str] = &[
    "CARGO_TARGET_DIR",
    "CARGO_BUILD_TARGET",
    "CARGO_BUILD_RUSTFLAGS",
    "CARGO_ENCODED_RUSTFLAGS",
    "RUSTFLAGS",
    "RUSTC_WORKSPACE_WRAPPER",
    "RUSTC_WRAPPER",
    "CARGO_PRIMARY_PACKAGE",
    "CARGO_MANIFEST_DIR",
    "CARGO_PKG_NAME",
    "TARGET",
    "HOST",
    "OUT_DIR",
    "PROFILE",
    "OPT_LEVEL",
    "DEBUG",
];

/// A build of one or more plugin packages.
#[derive(Debug, Clone)]
pub struct PluginBuild {
    manifest_path: PathBuf,
    packages: Vec<String>,
    target_dir: Option<PathBuf>,
}

impl PluginBuild {
    /// Builds the crate (or workspace) at `manifest_path` (a `Cargo.toml`).
    pub fn new(manifest_path: impl Into<PathBuf>) -> Self {
        PluginBuild {
            manifest_path: manifest_path.into(),
            packages: Vec::new(),
            target_dir: None,
        }
    }

    /// Builds only these packages of the workspace.
    pub fn packages<S: Into<String>>(mut self, packages: impl IntoIterator<Item = S>) -> Self {
        self.packages = packages.into_iter().map(Into::into).collect();
        self
    }

    /// Uses this target directory.
    pub fn target_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.target_dir = Some(dir.into());
        self
    }

    /// Runs the build; returns the component path of each package (in the order given,
    /// or of the crate at the manifest path when no packages were named).
    pub fn run(&self) -> Result<Vec<PathBuf>, BuildError> {
        install_target_if_missing(&self.manifest_path)?;
        let mut cargo = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
        cargo
            .args(["build", "--release", "--target", TARGET, "--manifest-path"])
            .arg(&self.manifest_path);
        for package in &self.packages {
            cargo.args(["--package", package]);
        }
        for variable in OUTER_BUILD_VARIABLES {
            cargo.env_remove(variable);
        }
        for (key, _) in std::env::vars_os() {
            let key = key.to_string_lossy();
            if key.starts_with("CARGO_PROFILE_")
                || key.starts_with("CARGO_CFG_")
                || key.starts_with("CARGO_FEATURE_")
            {
                cargo.env_remove(key.as_ref());
            }
        }
        cargo
            .env("CARGO_PROFILE_RELEASE_LTO", "true")
            .env("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "1")
            .env("CARGO_PROFILE_RELEASE_STRIP", "true")
            .env("CARGO_PROFILE_RELEASE_OPT_LEVEL", "3")
            .env("CARGO_PROFILE_RELEASE_PANIC", "abort")
            .env("CARGO_PROFILE_RELEASE_DEBUG", "false")
            .env(
                "CARGO_TARGET_WASM32_WASIP2_RUSTFLAGS",
                "-C target-feature=+simd128",
            );
        let target_dir = match &self.target_dir {
            Some(dir) => dir.clone(),
            None => self.default_target_dir()?,
        };
        cargo.env("CARGO_TARGET_DIR", &target_dir);
        let status = cargo
            .status()
            .map_err(|e| BuildError(format!("cannot run cargo: {e}")))?;
        if !status.success() {
            return Err(BuildError(format!(
                "cargo build --target {TARGET} failed for {} ({status}); is the target installed? rustup target add {TARGET}",
                self.manifest_path.display()
            )));
        }
        let names = if self.packages.is_empty() {
            vec![package_name(&self.manifest_path)?]
        } else {
            self.packages.clone()
        };
        names
            .iter()
            .map(|name| {
                let path = target_dir
                    .join(TARGET)
                    .join("release")
                    .join(format!("{}.wasm", name.replace('-', "_")));
                if path.is_file() {
                    Ok(path)
                } else {
                    Err(BuildError(format!(
                        "the build of {name} produced no component at {}: is its crate-type cdylib?",
                        path.display()
                    )))
                }
            })
            .collect()
    }

    fn default_target_dir(&self) -> Result<PathBuf, BuildError> {
        let dir = self.manifest_path.parent().unwrap_or(Path::new("."));
        Ok(dir.join("target"))
    }
}

/// Installs [`TARGET`] with rustup when the toolchain building `manifest_path` lacks it,
/// as on a fresh machine: the project's `rust-toolchain.toml` names the target, but
/// rustup adds it only when it installs the toolchain itself. Without rustup (a
/// toolchain installed another way), the build says what is missing.
fn install_target_if_missing(manifest_path: &Path) -> Result<(), BuildError> {
    let dir = manifest_path.parent().unwrap_or(Path::new("."));
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let libdir = Command::new(rustc)
        .args(["--print", "target-libdir", "--target", TARGET])
        .current_dir(dir)
        .output();
    if let Ok(out) = libdir
        && out.status.success()
        && Path::new(String::from_utf8_lossy(&out.stdout).trim()).is_dir()
    {
        return Ok(());
    }
    let installed = Command::new("rustup")
        .args(["target", "add", TARGET])
        .current_dir(dir)
        .status();
    match installed {
        Ok(status) if status.success() => Ok(()),
        Ok(status) => Err(BuildError(format!(
            "the {TARGET} target is not installed and `rustup target add {TARGET}` failed ({status})"
        ))),
        Err(e) => Err(BuildError(format!(
            "the {TARGET} target is not installed and rustup cannot be run to add it ({e}): install it, e.g. rustup target add {TARGET}"
        ))),
    }
}

/// The `name` of the `[package]` in a Cargo.toml.
fn package_name(manifest_path: &Path) -> Result<String, BuildError> {
    let text = std::fs::read_to_string(manifest_path)
        .map_err(|e| BuildError(format!("cannot read {}: {e}", manifest_path.display())))?;
    let mut in_package = false;
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_package = line == "[package]";
        } else if in_package
            && let Some(value) = line.strip_prefix("name")
            && let Some(value) = value.trim_start().strip_prefix('=')
        {
            return Ok(value.trim().trim_matches('"').to_owned());
        }
    }
    Err(BuildError(format!(
        "{} has no [package] name",
        manifest_path.display()
    )))
}

/// For build scripts: the directory for nested plugin builds, beside the outer target
/// directory (`<target>/wasm-plugins`), shared by every build script of the workspace.
pub fn nested_target_dir() -> Result<PathBuf, BuildError> {
    let out_dir = std::env::var_os("OUT_DIR")
        .ok_or_else(|| BuildError("OUT_DIR is not set: not in a build script".into()))?;
    // OUT_DIR is <target>/<profile>/build/<package>-<hash>/out.
    Path::new(&out_dir)
        .ancestors()
        .nth(4)
        .map(|target| target.join("wasm-plugins"))
        .ok_or_else(|| {
            BuildError(format!(
                "unexpected OUT_DIR {}",
                Path::new(&out_dir).display()
            ))
        })
}
