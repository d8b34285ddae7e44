//! Plugin runtime benchmark: `cargo bench -p sannong --bench plugins`.
//!
//! Prints, for this machine and this run:
//! 1. instantiate-and-call latency of a trivial call with the pooling allocator;
//! 2. `validate` of a 1,000,000-row, 10-column batch in WASM (including encoding the
//!    rows as Arrow IPC and copying them into the sandbox, chunk by chunk) against the
//!    same rules compiled natively, as a ratio; and the crossing alone (the same rows to
//!    a plugin that does not read them);
//! 3. cold start: loading a plugin from the cached compiled artifact against compiling it.
//!
//! Set `BENCH_ROWS` to change the batch size.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{
    ArrayRef, Decimal128Array, Float64Array, RecordBatch, StringArray, TimestampSecondArray,
};
use bench_plugin::BenchPlugin;
use sannong::plugin::runtime::CHUNK_ROWS;
use sannong::plugin::{PluginEngine, PluginLimits, PluginRuntime};
use sannong_sdk::Plugin;

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn time<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut samples = Vec::with_capacity(runs);
    let mut last = None;
    for _ in 0..runs {
        let start = Instant::now();
        last = Some(f());
        samples.push(start.elapsed());
    }
    (median(samples), last.expect("at least one run"))
}

/// Deterministic parcel-like rows, about 1% of them breaking a rule.
fn rows(n: usize) -> RecordBatch {
    let couriers = ["邮政", "韵达", "圆通", "顺丰", "京东", "其他"];
    let base = 1_609_459_200i64; // 2021-01-01 00:00:00
    let bad = |i: usize| i.is_multiple_of(97);
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            (0..n).map(|i| format!("YZ{i:010}")),
        )),
        Arc::new(StringArray::from_iter_values(
            (0..n).map(|i| if bad(i) { "快递X" } else { couriers[i % 6] }),
        )),
        Arc::new(StringArray::from_iter_values(
            (0..n).map(|i| if i % 3 == 0 { "上行" } else { "下行" }),
        )),
        Arc::new(StringArray::from_iter_values(
            (0..n).map(|i| format!("ST{:03}", i % 75)),
        )),
        Arc::new(StringArray::from_iter_values(
            (0..n).map(|i| format!("441821{:03}{:03}", 101 + i % 6, i % 15)),
        )),
        Arc::new(TimestampSecondArray::from_iter_values(
            (0..n).map(|i| base + (i as i64 * 31) % 31_536_000),
        )),
        Arc::new(TimestampSecondArray::from_iter((0..n).map(|i| {
            (i % 3 == 0).then_some(base + (i as i64 * 31) % 31_536_000 + 7200)
        }))),
        Arc::new(TimestampSecondArray::from_iter((0..n).map(|i| {
            (i % 5 != 0).then_some(
                base + (i as i64 * 31) % 31_536_000 + if bad(i + 1) { -60 } else { 86_400 },
            )
        }))),
        Arc::new(
            Decimal128Array::from_iter_values((0..n).map(|i| 500 + (i % 700) as i128))
                .with_precision_and_scale(14, 2)
                .expect("decimal"),
        ),
        Arc::new(Float64Array::from_iter_values(
            (0..n).map(|i| 0.2 + (i % 50) as f64 / 10.0),
        )),
    ];
    let schema = BenchPlugin::manifest().duties[0].template_schema();
    RecordBatch::try_new(schema, columns).expect("rows fit the template")
}

fn main() {
    let n: usize = std::env::var("BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let limits = PluginLimits {
        memory_bytes: 2 << 30,
        ..PluginLimits::default()
    };
    let skip_cold = std::env::var_os("BENCH_SKIP_COLD").is_some();
    // BENCH_PLUGIN measures another build of the bench plugin (e.g. one not stripped,
    // for `perf` with SANNONG_PLUGIN_PROFILER=perfmap).
    let bench_path =
        std::env::var("BENCH_PLUGIN").unwrap_or_else(|_| sannong_test_plugins::BENCH.to_owned());
    let bench_wasm = std::fs::read(&bench_path).expect("bench plugin built");
    let hostile_wasm = std::fs::read(sannong_test_plugins::HOSTILE).expect("hostile plugin built");
    let cache = tempfile::tempdir().expect("temp dir");

    // 3. Cold start: compile versus load from the cached artifact (fresh engine each time).
    let load_in_fresh_engine = |cache_dir: Option<&Path>| {
        PluginEngine::new(limits, cache_dir.map(Path::to_owned))
            .expect("engine")
            .load("bench", &bench_wasm)
            .expect("load")
            .sha256
            .clone()
    };
    let cold_start = (!skip_cold).then(|| {
        let (compile, _) = time(5, || load_in_fresh_engine(None));
        load_in_fresh_engine(Some(cache.path())); // fills the cache
        let (cached, _) = time(5, || load_in_fresh_engine(Some(cache.path())));
        (compile, cached)
    });

    // 1. Instantiate and call: a trivial validate of an empty batch.
    let engine = Arc::new(PluginEngine::new(limits, None).expect("engine"));
    let runtime = PluginRuntime::new(engine.clone(), None);
    let hostile = engine.load("hostile", &hostile_wasm).expect("load hostile");
    let empty = RecordBatch::new_empty(hostile.manifest.duties[0].template_schema());
    let calls = 2_000;
    runtime
        .validate(&hostile, "good", None, std::slice::from_ref(&empty))
        .expect("warm-up");
    let (per_call, _) = time(5, || {
        for _ in 0..calls {
            runtime
                .validate(&hostile, "good", None, std::slice::from_ref(&empty))
                .expect("trivial call");
        }
    });
    let per_call = per_call / calls as u32;

    // 2. validate of n rows: WASM against native.
    let batch = rows(n);
    let plugin = engine.load("bench", &bench_wasm).expect("load bench");
    let (native, native_found) = time(5, || {
        sannong_sdk::testing::validate::<BenchPlugin>("parcels", None, &batch)
            .expect("native validate")
    });
    let chunks: Vec<RecordBatch> = sannong::plugin::runtime::chunks(std::slice::from_ref(&batch))
        .map(|(_, chunk)| chunk)
        .collect();
    let (encode, _) = time(5, || {
        chunks
            .iter()
            .map(|chunk| {
                sannong::plugin::runtime::encode(chunk)
                    .expect("encode")
                    .len()
            })
            .sum::<usize>()
    });
    // The hostile plugin's `good` duty returns at once without reading its rows: what is
    // left is the crossing itself (encoding, copying into the sandbox, the calls).
    let (crossing, _) = time(5, || {
        runtime
            .validate(&hostile, "good", None, std::slice::from_ref(&batch))
            .expect("crossing")
    });
    let (wasm, wasm_found) = time(5, || {
        runtime
            .validate(&plugin, "parcels", None, std::slice::from_ref(&batch))
            .expect("wasm validate")
    });
    assert_eq!(
        native_found.len(),
        wasm_found.len(),
        "the same rules find the same problems"
    );

    println!("plugin runtime benchmark ({n} rows × 10 columns; median of 5 runs)");
    println!(
        "  instantiate + trivial call (pooling allocator): {:>10.1} µs",
        per_call.as_secs_f64() * 1e6
    );
    println!(
        "  validate, native rules:                         {:>10.1} ms",
        native.as_secs_f64() * 1e3
    );
    println!(
        "  validate, WASM (incl. IPC encode and copy-in):  {:>10.1} ms",
        wasm.as_secs_f64() * 1e3
    );
    println!(
        "    of which the crossing alone (no rules):       {:>10.1} ms",
        crossing.as_secs_f64() * 1e3
    );
    println!(
        "      of which Arrow IPC encoding on the host:    {:>10.1} ms   ({} chunks of {CHUNK_ROWS} rows)",
        encode.as_secs_f64() * 1e3,
        chunks.len()
    );
    println!(
        "  WASM / native:                                  {:>10.2} x   ({} problems found by both)",
        wasm.as_secs_f64() / native.as_secs_f64(),
        wasm_found.len()
    );
    let Some((compile, cached)) = cold_start else {
        println!("  cold start: skipped (BENCH_SKIP_COLD)");
        return;
    };
    println!(
        "  cold start, compiling the component:            {:>10.1} ms",
        compile.as_secs_f64() * 1e3
    );
    println!(
        "  cold start, from the cached artifact:           {:>10.1} ms",
        cached.as_secs_f64() * 1e3
    );
    println!(
        "  compile / cached:                               {:>10.1} x",
        compile.as_secs_f64() / cached.as_secs_f64()
    );
}
