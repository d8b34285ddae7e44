//! Builds the plugins the host's tests load, and records where their components are.

use std::path::Path;

use sannong_plugin_build::{PluginBuild, nested_target_dir};

const PLUGINS: [(&str, &str); 4] = [
    ("HELLO", "hello-plugin"),
    ("HOSTILE", "hostile-plugin"),
    ("FILE_READER", "file-reader-plugin"),
    ("BENCH", "bench-plugin"),
];

fn main() {
    // Read at run time, not baked in: a target directory shared by two checkouts
    // reuses this script's binary, which must build the checkout that runs it.
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default();
    let root = Path::new(&manifest_dir).join("../../..");
    for dir in [
        "sdk/src",
        "sdk/wit",
        "examples/hello-plugin",
        "tests/plugins/hostile",
        "tests/plugins/file-reader",
        "tests/plugins/bench",
    ] {
        // Relative to this package, so each checkout watches its own files.
        println!("cargo:rerun-if-changed=../../../{dir}");
    }
    let target_dir = nested_target_dir().unwrap_or_else(|e| panic!("{e}"));
    let paths = PluginBuild::new(root.join("Cargo.toml"))
        .packages(PLUGINS.iter().map(|(_, package)| *package))
        .target_dir(target_dir)
        .run()
        .unwrap_or_else(|e| panic!("{e}"));
    let mut code = String::new();
    for ((name, package), path) in PLUGINS.iter().zip(paths) {
        code.push_str(&format!(
            "/// The component of `{package}`.\npub const {name}: &str = {:?};\n",
            path.display().to_string()
        ));
    }
    let out = Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR")).join("paths.rs");
    std::fs::write(out, code).expect("write paths.rs");
}
