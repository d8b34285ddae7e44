//! A plugin that reads `/etc/passwd` while validating: its component imports the WASI
//! file system, which sannong does not grant, so installing it must fail.

use sannong_sdk::{Call, Column, Diagnostics, Duty, Manifest, Plugin, PluginError, Rows};

/// The plugin.
pub struct FileReader;

impl Plugin for FileReader {
    fn manifest() -> Manifest {
        Manifest::new("file-reader", "0.1.0", "reads a file it must not")
            .department("hostile", "测试", "test")
            .duty(
                Duty::snapshot("read-file", "hostile.files", "读文件", "read a file")
                    .column(Column::text("x", "值", "a value")),
            )
    }

    fn validate(_call: &Call, _rows: &Rows, out: &mut Diagnostics) -> Result<(), PluginError> {
        let text =
            std::fs::read_to_string("/etc/passwd").map_err(|e| PluginError(e.to_string()))?;
        out.file_error("leak", text.clone(), text);
        Ok(())
    }
}

sannong_sdk::export_plugin!(FileReader);
