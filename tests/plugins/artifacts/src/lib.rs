//! Paths of the plugin components the host's tests load: the example plugin, the
//! hostile plugin and the file-reading plugin, built to `wasm32-wasip2` by this crate's
//! build script.

include!(concat!(env!("OUT_DIR"), "/paths.rs"));
