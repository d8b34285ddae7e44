//! The real `sannong` binary, run as a user runs it.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Cache and configuration directories shared by this test process, outside any data
/// directory (the pseudonym key must never be inside one).
pub fn test_home() -> &'static std::path::Path {
    static HOME: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    HOME.get_or_init(|| tempfile::tempdir().unwrap()).path()
}

/// The binary on `data` (a directory or a URL such as `s3://bucket/prefix`), with the
/// tests' own cache and configuration directories.
pub fn command(data: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sannong"));
    command
        .arg("--data")
        .arg(data)
        .env_remove("SANNONG_DATA")
        .env("SANNONG_CACHE_DIR", test_home().join("cache"))
        .env("SANNONG_CONFIG_DIR", test_home().join("config"));
    command
}

/// Runs a Python script (a real client: psycopg, ADBC, deltalake) with `args` and returns
/// the JSON it prints; `what` names it in a failure.
pub fn python_json(what: &str, script: &str, args: &[&str]) -> serde_json::Value {
    let output = Command::new("python3")
        .args(["-c", script])
        .args(args)
        .output()
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "{what} printed no JSON ({e}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

pub fn sannong(data: &std::path::Path, args: &[&str]) -> Output {
    command(data)
        .args(args)
        .output()
        .expect("the sannong binary runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

pub fn ok(output: Output) -> String {
    assert!(
        output.status.success(),
        "failed: {}\n{}",
        stderr(&output),
        stdout(&output)
    );
    stdout(&output)
}

/// A failure: non-zero exit, one line on stderr starting with `error: `, no panic.
pub fn failure(output: Output) -> String {
    assert!(!output.status.success(), "should fail: {}", stdout(&output));
    let err = stderr(&output);
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(err.starts_with("error: "), "{err}");
    assert!(
        !err.contains("panicked") && !err.contains("backtrace"),
        "{err}"
    );
    err
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

#[test]
fn demo_loads_the_sample_county_once() {
    let dir = tempfile::tempdir().unwrap();
    let first = ok(sannong(dir.path(), &["demo"]));
    assert!(first.contains("admin.villages"), "{first}");
    assert!(first.contains("示例数据"), "{first}");
    let again = ok(sannong(dir.path(), &["demo"]));
    assert!(again.contains("already loaded"), "{again}");
    let tables = json(&ok(sannong(dir.path(), &["tables", "--format", "json"])));
    assert_eq!(tables[0]["table_name"], "admin.villages");
    assert_eq!(tables[0]["version"], 0, "the second demo wrote nothing");
}

#[tokio::test(flavor = "multi_thread")]
async fn sql_prints_each_format() {
    let dir = tempfile::tempdir().unwrap();
    crate::fixture::write(dir.path()).await;
    let query = "SELECT parcel_id, fee_yuan, handed_in_at, direction FROM logistics.parcels ORDER BY parcel_id";

    let rows = json(&ok(sannong(
        dir.path(),
        &["sql", query, "--format", "json"],
    )));
    assert_eq!(rows.as_array().unwrap().len(), 3);
    assert_eq!(rows[0]["parcel_id"], "YZ001");
    assert_eq!(rows[0]["handed_in_at"], "2021-01-05 09:30:00");
    assert_eq!(rows[0]["direction"], "上行");
    let raw = ok(sannong(dir.path(), &["sql", query, "--format", "json"]));
    assert!(
        raw.contains("\"fee_yuan\":12345678901.23"),
        "every digit kept: {raw}"
    );
    assert!(raw.contains("\"fee_yuan\":0.01"), "{raw}");

    let ndjson = ok(sannong(dir.path(), &["sql", query, "--format", "ndjson"]));
    assert_eq!(ndjson.lines().count(), 3);
    assert_eq!(json(ndjson.lines().nth(2).unwrap())["parcel_id"], "YZ003");

    let csv = ok(sannong(dir.path(), &["sql", query, "--format", "csv"]));
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("parcel_id,fee_yuan,handed_in_at,direction")
    );
    assert_eq!(
        lines.next(),
        Some("YZ001,12345678901.23,2021-01-05 09:30:00,上行")
    );

    let table = ok(sannong(dir.path(), &["sql", query]));
    assert!(table.contains("| YZ002     | 3.50"), "{table}");
    assert!(table.contains("3 rows"), "{table}");

    let empty = json(&ok(sannong(
        dir.path(),
        &[
            "sql",
            "SELECT * FROM admin.villages WHERE false",
            "--format",
            "json",
        ],
    )));
    assert_eq!(empty, Value::Array(vec![]));
}

#[tokio::test(flavor = "multi_thread")]
async fn tables_and_history_describe_versions() {
    let dir = tempfile::tempdir().unwrap();
    crate::fixture::write(dir.path()).await;
    let tables = json(&ok(sannong(dir.path(), &["tables", "--format", "json"])));
    assert_eq!(tables[1]["table_name"], "logistics.parcels");
    assert_eq!(tables[1]["mode"], "period");
    assert_eq!(tables[1]["version"], 1);
    assert_eq!(tables[1]["rows"], 3);

    let history = json(&ok(sannong(
        dir.path(),
        &["history", "logistics.parcels", "--format", "json"],
    )));
    assert_eq!(history.as_array().unwrap().len(), 2);
    assert_eq!(history[1]["submission_id"], "S-P2");
    assert_eq!(history[1]["duty"], "parcels");
    assert_eq!(history[1]["department"], "post");
    assert_eq!(history[1]["period"], "2021-02");
    assert_eq!(history[1]["rows"], 1);
    let committed = history[1]["committed_at"].as_str().unwrap();
    assert_eq!(committed.len(), "2021-01-01 00:00:00".len(), "{committed}");

    let text = ok(sannong(dir.path(), &["history", "admin.villages"]));
    assert!(text.contains("S-V1") && text.contains("S-V2"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn time_travel_by_time_reads_the_version_of_that_moment() {
    let dir = tempfile::tempdir().unwrap();
    crate::fixture::write(dir.path()).await;
    let history = json(&ok(sannong(
        dir.path(),
        &["history", "admin.villages", "--format", "json"],
    )));
    let first_commit = history[0]["committed_at"].as_str().unwrap().to_owned();
    // The fixture wrote both versions within a second or two; wait so the next one is later.
    std::thread::sleep(Duration::from_millis(1100));
    let query = format!("SELECT count(*) AS n FROM table_at('admin.villages', '{first_commit}')");
    let rows = json(&ok(sannong(
        dir.path(),
        &["sql", &query, "--format", "json"],
    )));
    // Versions 0 and 1 may share the second of first_commit; either way the time reads
    // the latest version committed at or before it.
    let n = rows[0]["n"].as_i64().unwrap();
    let second_commit = history[1]["committed_at"].as_str().unwrap();
    let expected = if second_commit == first_commit { 3 } else { 1 };
    assert_eq!(n, expected);
}

#[tokio::test(flavor = "multi_thread")]
async fn refused_and_wrong_sql_is_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    crate::fixture::write(dir.path()).await;
    let err = failure(sannong(dir.path(), &["sql", "DROP TABLE admin.villages"]));
    assert!(err.contains("refused: DROP TABLE is not allowed"), "{err}");
    let err = failure(sannong(
        dir.path(),
        &["sql", "SELECT nope FROM admin.villages"],
    ));
    assert!(err.contains("nope"), "{err}");
    let err = failure(sannong(
        dir.path(),
        &["sql", "SELECT * FROM logistics.missing"],
    ));
    assert!(err.contains("logistics.missing"), "{err}");
    let err = failure(sannong(dir.path(), &["history", "admin.nothing"]));
    assert!(err.contains("table admin.nothing does not exist"), "{err}");
    let err = failure(sannong(dir.path(), &["history", "nothing"]));
    assert!(err.contains("invalid table name 'nothing'"), "{err}");
    let err = failure(sannong(dir.path(), &["sql", "SELEC 1"]));
    assert!(err.to_lowercase().contains("sql"), "{err}");
}

#[test]
fn queries_over_their_limits_are_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let err = failure(sannong(
        dir.path(),
        &[
            "--query-timeout",
            "1",
            "sql",
            "SELECT count(*) FROM generate_series(1, 100000000000) AS t(x) WHERE x % 7 = 3",
        ],
    ));
    assert!(
        err.contains("query cancelled: it ran longer than the limit of 1 s"),
        "{err}"
    );
    assert!(started.elapsed() < Duration::from_secs(30));

    let err = failure(sannong(
        dir.path(),
        &[
            "--query-memory",
            "16",
            "sql",
            "SELECT array_agg(x) FROM generate_series(1, 5000000) AS t(x)",
        ],
    ));
    assert!(err.contains("memory limit of 16 MB"), "{err}");
}

#[test]
fn an_unreachable_s3_endpoint_is_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_sannong"))
        .args(["--data", "s3://county-bucket/fogang", "tables"])
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .current_dir(dir.path())
        .output()
        .unwrap();
    let err = failure(output);
    assert!(
        err.contains("cannot reach data location s3://county-bucket/fogang"),
        "{err}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn bad_locations_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_sannong"))
        .args(["--data", "ftp://example/x", "tables"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let err = failure(output);
    assert!(err.contains("unsupported scheme 'ftp'"), "{err}");
}
