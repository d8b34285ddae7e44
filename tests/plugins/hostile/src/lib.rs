//! A hostile plugin for the sandbox tests: each duty misbehaves in its own way.
//!
//! Written against the raw WIT contract (not the SDK) so it can also return what the
//! SDK never would, such as bytes that are not Arrow IPC. Empty in native builds.

#![cfg(target_arch = "wasm32")]
#![allow(missing_docs, unsafe_code)]

mod bindings {
    wit_bindgen::generate!({
        path: "../../../sdk/wit",
        world: "department-plugin",
    });
}

use std::sync::Arc;

use arrow_array::{Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType as ArrowType, Field, Schema};
use bindings::exports::sannong::plugin::plugin::Guest;
use bindings::sannong::plugin::types::{
    Cadence, DataType, Department, Diagnostic, Duty, DutyMode, Manifest, Request, Severity,
    StoredColumn, TemplateColumn,
};

/// The duties, each a way to misbehave; `good` behaves.
const DUTIES: [&str; 10] = [
    "good",
    "loop",
    "memory-bomb",
    "recursion",
    "trap",
    "huge-output",
    "huge-diagnostics",
    "wrong-schema",
    "malformed-ipc",
    "ddl-query",
];

fn duty(id: &str) -> Duty {
    Duty {
        id: id.into(),
        name_zh: format!("恶意插件 {id}"),
        name_en: format!("hostile {id}"),
        table: "hostile.rows".into(),
        mode: DutyMode::Snapshot,
        cadence: Cadence::OnChange,
        period_column: None,
        columns: vec![TemplateColumn {
            key: "x".into(),
            header_zh: "值".into(),
            description_en: "a value".into(),
            data_type: DataType::Utf8,
            required: true,
            allowed_values: vec![],
            range: None,
            personal: false,
        }],
        unique_keys: vec![],
        references: vec![],
        stored_columns: vec![StoredColumn {
            name: "x".into(),
            data_type: DataType::Utf8,
            nullable: false,
        }],
        transforms: true,
    }
}

fn ipc(batch: &RecordBatch) -> Vec<u8> {
    let mut out = Vec::new();
    let mut writer =
        arrow_ipc::writer::StreamWriter::try_new(&mut out, &batch.schema()).expect("writer");
    writer.write(batch).expect("write");
    writer.finish().expect("finish");
    drop(writer);
    out
}

#[inline(never)]
fn recurse(depth: u64, pad: [u64; 16]) -> u64 {
    let next = std::hint::black_box(pad);
    if depth == u64::MAX {
        0
    } else {
        recurse(depth + 1, next) + next[(depth % 16) as usize]
    }
}

struct Hostile;

impl Guest for Hostile {
    fn describe() -> Manifest {
        Manifest {
            plugin_id: "hostile".into(),
            version: "0.1.0".into(),
            description: "misbehaves on purpose".into(),
            department: Department {
                id: "hostile".into(),
                name_zh: "测试".into(),
                name_en: "test".into(),
            },
            duties: DUTIES.iter().map(|d| duty(d)).collect(),
        }
    }

    fn validate(request: Request) -> Result<Vec<Diagnostic>, String> {
        match request.duty.as_str() {
            "loop" => loop {
                std::hint::black_box(&request);
            },
            "memory-bomb" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            "recursion" => Ok(vec![Diagnostic {
                row: None,
                column: None,
                value: Some(recurse(0, [7; 16]).to_string()),
                rule: "never".into(),
                message_zh: String::new(),
                message_en: String::new(),
                severity: Severity::Warning,
            }]),
            "trap" => panic!("deliberate panic in the hostile plugin"),
            "huge-diagnostics" => Ok((0..200_000u32)
                .map(|row| Diagnostic {
                    row: Some(row),
                    column: Some("x".into()),
                    value: None,
                    rule: "spam".into(),
                    message_zh: "垃圾".into(),
                    message_en: "spam".into(),
                    severity: Severity::Warning,
                })
                .collect()),
            "ddl-query" => {
                let answer = bindings::sannong::plugin::query::run("DROP TABLE admin.villages");
                // Whatever the answer, carry on as if nothing happened.
                let _ = answer;
                Ok(vec![])
            }
            _ => Ok(vec![]),
        }
    }

    fn transform(request: Request) -> Result<Vec<u8>, String> {
        match request.duty.as_str() {
            "huge-output" => {
                let rows = 1_000_000usize;
                let values = StringArray::from_iter_values((0..rows).map(|i| format!("{i:016}")));
                let schema = Arc::new(Schema::new(vec![Field::new("x", ArrowType::Utf8, false)]));
                let batch = RecordBatch::try_new(schema, vec![Arc::new(values)])
                    .map_err(|e| e.to_string())?;
                Ok(ipc(&batch))
            }
            "wrong-schema" => {
                let schema = Arc::new(Schema::new(vec![Field::new("y", ArrowType::Int64, false)]));
                let batch =
                    RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(vec![1, 2]))])
                        .map_err(|e| e.to_string())?;
                Ok(ipc(&batch))
            }
            "malformed-ipc" => Ok(b"this is not arrow ipc at all".repeat(10)),
            _ => Ok(request.rows),
        }
    }
}

bindings::export!(Hostile with_types_in bindings);
