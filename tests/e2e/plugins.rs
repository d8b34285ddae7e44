//! The plugin runtime for real: components built to wasm32-wasip2 by
//! `sannong-test-plugins`, run by the real host, installed through the real binary.

use std::sync::Arc;
use std::time::Duration;

use arrow::array::{RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use sannong::plugin::{PluginEngine, PluginLimits, PluginRuntime, Severity};
use sannong::{Error, Platform, PlatformConfig};

use crate::cli::{failure, ok, sannong};

fn limits() -> PluginLimits {
    PluginLimits {
        timeout: Duration::from_secs(2),
        memory_bytes: 256 << 20,
        max_output_bytes: 16 << 20,
        max_diagnostics: 10_000,
        ..PluginLimits::default()
    }
}

/// Compiled plugins shared by the tests of this run and the next.
fn cache_dir() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("plugin-cache")
}

fn read(path: &str) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn one_column(values: &[&str]) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Utf8, true)]));
    RecordBatch::try_new(schema, vec![Arc::new(StringArray::from(values.to_vec()))]).unwrap()
}

fn failure_reason(result: sannong::Result<impl std::fmt::Debug>, duty: &str) -> String {
    match result {
        Err(Error::PluginFailed {
            plugin,
            duty: d,
            reason,
        }) => {
            assert_eq!((plugin.as_str(), d.as_str()), ("hostile", duty));
            reason
        }
        other => panic!("duty {duty} should fail, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_hostile_behaviour_is_stopped_with_its_own_error_and_the_host_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = crate::fixture::write(dir.path()).await;
    let platform = Platform::with_catalog(
        catalog.clone(),
        PlatformConfig {
            plugin_limits: limits(),
            plugin_cache_dir: Some(cache_dir()),
            ..PlatformConfig::default()
        },
    )
    .unwrap();
    let engine = platform.plugin_engine().unwrap();
    let hostile = engine
        .load("hostile.wasm", &read(sannong_test_plugins::HOSTILE))
        .unwrap();
    let runtime = platform.plugin_runtime().unwrap();
    let rows = one_column(&["a", "b"]);
    let before = catalog
        .summary(&"admin.villages".parse().unwrap())
        .await
        .unwrap()
        .version;

    let run = |duty: &'static str, transform: bool| {
        let (runtime, hostile, rows) = (runtime.clone(), hostile.clone(), rows.clone());
        tokio::task::spawn_blocking(move || {
            if transform {
                runtime
                    .transform(&hostile, duty, None, &[rows])
                    .map(|b| b.iter().map(RecordBatch::num_rows).sum::<usize>())
            } else {
                runtime
                    .validate(&hostile, duty, None, &[rows])
                    .map(|d| d.len())
            }
        })
    };

    let reason = failure_reason(run("loop", false).await.unwrap(), "loop");
    assert!(
        reason.contains("ran longer than its time limit of 2 s"),
        "{reason}"
    );
    let reason = failure_reason(run("memory-bomb", false).await.unwrap(), "memory-bomb");
    assert!(
        reason.contains("more than its memory limit of 256 MB"),
        "{reason}"
    );
    let reason = failure_reason(run("recursion", false).await.unwrap(), "recursion");
    assert!(
        reason.contains("stack overflowed") || reason.contains("overflowed its call stack"),
        "{reason}"
    );
    let reason = failure_reason(run("trap", false).await.unwrap(), "trap");
    assert!(
        reason.contains("crashed") && reason.contains("deliberate panic in the hostile plugin"),
        "{reason}"
    );
    let reason = failure_reason(
        run("huge-diagnostics", false).await.unwrap(),
        "huge-diagnostics",
    );
    assert!(
        reason.contains("200000 diagnostics, more than the limit of 10000"),
        "{reason}"
    );
    let reason = failure_reason(run("huge-output", true).await.unwrap(), "huge-output");
    assert!(reason.contains("more than the limit of 16 MB"), "{reason}");
    let reason = failure_reason(run("wrong-schema", true).await.unwrap(), "wrong-schema");
    assert!(
        reason.contains("returned columns (y Int64) but its manifest declares (x Utf8)"),
        "{reason}"
    );
    let reason = failure_reason(run("malformed-ipc", true).await.unwrap(), "malformed-ipc");
    assert!(reason.contains("not valid Arrow IPC"), "{reason}");
    let reason = failure_reason(run("ddl-query", false).await.unwrap(), "ddl-query");
    assert!(
        reason.contains("asked `query` for something other than a read-only SELECT"),
        "{reason}"
    );
    assert!(reason.contains("DROP TABLE"), "{reason}");

    // The host, the engine and the same plugin still work.
    assert_eq!(run("good", false).await.unwrap().unwrap(), 0);
    assert_eq!(run("good", true).await.unwrap().unwrap(), 2);
    // No table changed.
    let after = catalog
        .summary(&"admin.villages".parse().unwrap())
        .await
        .unwrap();
    assert_eq!((after.version, after.rows), (before, 3));
}

#[test]
fn a_plugin_that_imports_the_file_system_is_refused() {
    let engine = PluginEngine::new(limits(), Some(cache_dir())).unwrap();
    let err = engine
        .load("file_reader.wasm", &read(sannong_test_plugins::FILE_READER))
        .unwrap_err();
    let message = err.to_string();
    assert!(
        message.starts_with("plugin file_reader.wasm refused: it imports "),
        "{message}"
    );
    assert!(message.contains("wasi:filesystem/preopens"), "{message}");
    assert!(message.contains("not granted"), "{message}");
}

#[test]
fn garbage_is_not_a_component() {
    let engine = PluginEngine::new(limits(), None).unwrap();
    let message = engine
        .load("junk.wasm", b"\0asm junk")
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("junk.wasm refused: it is not a valid WebAssembly component"),
        "{message}"
    );
}

#[test]
fn the_example_plugin_validates_through_the_real_host() {
    let engine = Arc::new(PluginEngine::new(limits(), Some(cache_dir())).unwrap());
    let hello = engine
        .load("hello.wasm", &read(sannong_test_plugins::HELLO))
        .unwrap();
    assert_eq!(hello.manifest.plugin_id, "hello");
    let duty = hello.manifest.duty("market-stalls").unwrap();
    let runtime = PluginRuntime::new(engine.clone(), None);
    let schema = duty.template_schema();
    let batch = arrow::json::ReaderBuilder::new(schema)
        .build(std::io::Cursor::new(
            r#"{"stall_id":"A1","town":"石角镇","reported_on":"2021-03-31","opened_on":"2021-04-02","rent_yuan":"800.00","area_m2":20.0}
{"stall_id":"A2","town":"石角镇","reported_on":"2021-03-31","opened_on":"2021-01-02","rent_yuan":"20000.00","area_m2":20.0}"#,
        ))
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    let found = runtime
        .validate(&hello, "market-stalls", Some("2021-03"), &[batch])
        .unwrap();
    assert_eq!(found.len(), 2, "{found:?}");
    assert_eq!(
        (found[0].row, found[0].severity, found[0].rule.as_str()),
        (Some(0), Severity::Error, "opened-after-report")
    );
    assert_eq!(
        (found[1].row, found[1].severity, found[1].rule.as_str()),
        (Some(1), Severity::Warning, "rent-unusually-high")
    );
    assert_eq!(found[1].value.as_deref(), Some("20000.00"));
}

#[test]
fn rows_cross_into_the_sandbox_in_chunks_and_come_back_where_they_were() {
    let engine = Arc::new(PluginEngine::new(limits(), Some(cache_dir())).unwrap());
    let runtime = PluginRuntime::new(engine.clone(), None);
    let hello = engine
        .load("hello.wasm", &read(sannong_test_plugins::HELLO))
        .unwrap();
    let schema = hello
        .manifest
        .duty("market-stalls")
        .unwrap()
        .template_schema();
    // 100,000 stalls in three batches, more than three chunks; three opened after the report.
    let late = [0usize, 40_000, 99_999];
    let stalls: String = (0..100_000)
        .map(|i| {
            let opened = if late.contains(&i) { "2021-04-02" } else { "2021-01-02" };
            format!(
                "{{\"stall_id\":\"S{i}\",\"town\":\"石角镇\",\"reported_on\":\"2021-03-31\",\"opened_on\":\"{opened}\",\"rent_yuan\":\"800.00\",\"area_m2\":20.0}}\n"
            )
        })
        .collect();
    let all = arrow::json::ReaderBuilder::new(schema)
        .with_batch_size(100_000)
        .build(std::io::Cursor::new(stalls))
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    let batches = [
        all.slice(0, 30_000),
        all.slice(30_000, 0),
        all.slice(30_000, 70_000),
    ];
    let found = runtime
        .validate(&hello, "market-stalls", Some("2021-03"), &batches)
        .unwrap();
    let rows: Vec<Option<u32>> = found.iter().map(|d| d.row).collect();
    assert_eq!(rows, late.map(|r| Some(r as u32)), "{found:?}");
    assert_eq!(found[1].value.as_deref(), Some("2021-04-02"));

    // The hostile plugin's `good` duty returns what it gets: every chunk, in order.
    let hostile = engine
        .load("hostile.wasm", &read(sannong_test_plugins::HOSTILE))
        .unwrap();
    let values: Vec<String> = (0..100_000).map(|i| format!("x{i}")).collect();
    let column = one_column(&values.iter().map(String::as_str).collect::<Vec<_>>());
    let returned = runtime
        .transform(
            &hostile,
            "good",
            None,
            &[column.slice(0, 50_001), column.slice(50_001, 49_999)],
        )
        .unwrap();
    assert!(returned.len() > 3, "in chunks: {}", returned.len());
    let joined = arrow::compute::concat_batches(&returned[0].schema(), &returned).unwrap();
    assert_eq!(joined.column(0).as_ref(), column.column(0).as_ref());
}

#[test]
fn compiled_code_is_cached_on_disk_and_reused() {
    let cache = tempfile::tempdir().unwrap();
    let bytes = read(sannong_test_plugins::HELLO);
    let first = PluginEngine::new(limits(), Some(cache.path().to_owned())).unwrap();
    let loaded = first.load("hello.wasm", &bytes).unwrap();
    assert!(first.is_cached(&loaded.sha256));
    // A second engine (a restart) loads the artifact instead of compiling.
    let second = PluginEngine::new(limits(), Some(cache.path().to_owned())).unwrap();
    assert!(second.is_cached(&loaded.sha256));
    assert_eq!(
        second.load("hello.wasm", &bytes).unwrap().manifest,
        loaded.manifest
    );
    // A corrupted artifact is ignored and recompiled, never loaded.
    let artifact = std::fs::read_dir(cache.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "cwasm"))
        .unwrap();
    let mut corrupted = std::fs::read(&artifact).unwrap();
    let middle = corrupted.len() / 2;
    corrupted[middle] ^= 0xff;
    std::fs::write(&artifact, corrupted).unwrap();
    let third = PluginEngine::new(limits(), Some(cache.path().to_owned())).unwrap();
    assert_eq!(
        third.load("hello.wasm", &bytes).unwrap().manifest.plugin_id,
        "hello"
    );
}

#[test]
fn plugins_are_installed_listed_inspected_and_removed_through_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let installed = ok(sannong(
        &data,
        &[
            "plugin",
            "install",
            sannong_test_plugins::HELLO,
            "--as",
            "integrator",
        ],
    ));
    assert!(
        installed.starts_with(
            "installed plugin hello 0.1.0 for towns (各镇人民政府), duties: market-stalls"
        ),
        "{installed}"
    );
    let again = ok(sannong(
        &data,
        &["plugin", "install", sannong_test_plugins::HELLO],
    ));
    assert!(again.contains("already installed"), "{again}");

    let list: serde_json::Value =
        serde_json::from_str(&ok(sannong(&data, &["plugin", "list", "--format", "json"]))).unwrap();
    assert_eq!(list[0]["plugin_id"], "hello");
    assert_eq!(list[0]["installed_by"], "integrator");
    assert_eq!(list[0]["duties"], "market-stalls");

    let text = ok(sannong(&data, &["plugin", "inspect", "hello"]));
    insta::assert_snapshot!("inspect_hello", text);
    let json: serde_json::Value = serde_json::from_str(&ok(sannong(
        &data,
        &["plugin", "inspect", "hello", "--format", "json"],
    )))
    .unwrap();
    assert_eq!(json["duties"][0]["table"], "examples.market_stalls");
    assert_eq!(
        json["duties"][0]["columns"][4]["data_type"],
        serde_json::json!({"type": "decimal", "precision": 14, "scale": 2})
    );
    // The manifest round-trips through its JSON form.
    let round_trip: sannong::plugin::PluginManifest = serde_json::from_value(json.clone()).unwrap();
    assert_eq!(serde_json::to_value(&round_trip).unwrap(), json);

    let duties: serde_json::Value = serde_json::from_str(&ok(sannong(
        &data,
        &[
            "sql",
            "SELECT duty_id, table_name, mode, plugin_id FROM sys.duties WHERE plugin_id IS NOT NULL",
            "--format",
            "json",
        ],
    )))
    .unwrap();
    assert_eq!(
        duties,
        serde_json::json!([{"duty_id": "market-stalls", "table_name": "examples.market_stalls", "mode": "period", "plugin_id": "hello"}])
    );

    let err = failure(sannong(
        &data,
        &["plugin", "install", sannong_test_plugins::FILE_READER],
    ));
    assert!(
        err.contains("file_reader_plugin.wasm refused: it imports "),
        "{err}"
    );
    assert!(err.contains("wasi:filesystem/"), "{err}");

    ok(sannong(&data, &["plugin", "remove", "hello"]));
    let list = ok(sannong(&data, &["plugin", "list", "--format", "json"]));
    assert_eq!(list.trim(), "[]");
    let err = failure(sannong(&data, &["plugin", "inspect", "hello"]));
    assert!(err.contains("no plugin 'hello' is installed"), "{err}");
}

#[test]
fn the_authoring_guide_includes_the_example_verbatim() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let guide = std::fs::read_to_string(root.join("docs/plugins.md")).unwrap();
    for file in [
        "examples/hello-plugin/src/lib.rs",
        "examples/hello-plugin/Cargo.toml",
    ] {
        let source = std::fs::read_to_string(root.join(file)).unwrap();
        assert!(
            guide.contains(source.trim_end()),
            "docs/plugins.md must include {file} as it is (regenerate the block)"
        );
    }
}
