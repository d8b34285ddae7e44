//! Builds the department plugins (`plugins/*`) to WebAssembly components so the binary
//! carries them: `sannong demo` and `serve --demo` need no extra step.

use std::path::Path;

use sannong_plugin_build::{PluginBuild, nested_target_dir};

/// (plugin id, package) of the built-in department plugins.
const BUILTIN: [(&str, &str); 8] = [
    ("towns", "towns-plugin"),
    ("post", "post-plugin"),
    ("statistics", "statistics-plugin"),
    ("hr", "hr-plugin"),
    ("market", "market-plugin"),
    ("finance", "finance-plugin"),
    ("programme-office", "programme-office-plugin"),
    ("prices", "prices-plugin"),
];

fn main() {
    // Read at run time, not baked in: a target directory shared by two checkouts
    // reuses this script's binary, which must build the checkout that runs it.
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default();
    let root = Path::new(&manifest_dir).join("..");
    for dir in ["plugins", "sdk/src", "sdk/wit"] {
        // Relative to this package, so each checkout watches its own files.
        println!("cargo:rerun-if-changed=../{dir}");
    }
    let target_dir = nested_target_dir().unwrap_or_else(|e| panic!("{e}"));
    let paths = PluginBuild::new(root.join("Cargo.toml"))
        .packages(BUILTIN.iter().map(|(_, package)| *package))
        .target_dir(target_dir)
        .run()
        .unwrap_or_else(|e| panic!("{e}"));
    let mut code = String::from(
        "/// (plugin id, component) of each built-in department plugin.\npub const BUILTIN_PLUGINS: &[(&str, &[u8])] = &[\n",
    );
    for ((id, _), path) in BUILTIN.iter().zip(paths) {
        code.push_str(&format!(
            "    ({id:?}, include_bytes!({:?})),\n",
            path.display().to_string()
        ));
    }
    code.push_str("];\n");
    let out = Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR")).join("builtin_plugins.rs");
    std::fs::write(out, code).expect("write builtin_plugins.rs");
}
