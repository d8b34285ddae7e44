//! sannong on S3, against moto's S3 server (started here; it implements conditional
//! PUT correctly under concurrent writers): the platform end to end on a bucket, two
//! servers on the same data — an upload through one visible at the next query through
//! the other, two departments uploading through different servers at the same moment
//! both landing — the audit log one unbroken chain, everything there after a restart,
//! a server killed in the middle of an upload leaving the previous version whole, and
//! the tables read by the `deltalake` Python package as plain Delta Lake, and the whole
//! sample county loaded on S3 scoring as it does locally.

use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::cli::ok;
use crate::s3_faults::{Fault, FaultProxy};
use crate::server::Server;
use crate::uploads::{STATIONS, VILLAGES};

pub const DATA: &str = "s3://sannong/county";

/// moto's S3 server on a free port, with one bucket; stopped when dropped.
pub struct Moto {
    child: Child,
    pub endpoint: String,
}

impl Moto {
    pub fn start() -> Moto {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server runs (scripts/test.sh installs moto[server])");
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "moto did not start"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        let endpoint = format!("http://127.0.0.1:{port}");
        let created = reqwest::blocking::Client::new()
            .put(format!("{endpoint}/sannong"))
            .send()
            .unwrap();
        assert!(
            created.status().is_success(),
            "bucket: {}",
            created.status()
        );
        Moto { child, endpoint }
    }

    /// The binary on the bucket.
    fn sannong(&self) -> Command {
        self.sannong_at(DATA)
    }

    /// The binary on `data`, a location in the bucket.
    pub fn sannong_at(&self, data: &str) -> Command {
        let mut command = crate::cli::command(data);
        command
            .env("AWS_ENDPOINT_URL", &self.endpoint)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", "us-east-1");
        command
    }

    pub fn run(&self, args: &[&str]) -> String {
        ok(self.sannong().args(args).output().unwrap())
    }

    /// The built-in plugins, the towns' villages and stations, and tokens of the post
    /// office and an analyst, on the bucket; `work` holds the files.
    pub fn county_with_towns(&self, work: &std::path::Path) -> (String, String) {
        self.run(&["plugin", "install", "--builtin"]);
        for (duty, csv) in [("villages", VILLAGES), ("stations", STATIONS)] {
            let file = work.join(format!("{duty}.csv"));
            std::fs::write(&file, csv).unwrap();
            self.run(&["upload", "--duty", duty, file.to_str().unwrap()]);
        }
        let token = |role: &str| -> String {
            self.run(&["token", "create", "--role", role, "--name", role])
                .lines()
                .last()
                .unwrap()
                .trim()
                .to_owned()
        };
        (token("department:post"), token("analyst"))
    }

    fn serve(&self, log: &std::path::Path) -> Server {
        Server::spawn(self.sannong(), log, &[])
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn parcels(prefix: &str, month: &str, n: usize) -> String {
    let mut csv = String::from(
        "运单号,快递公司,方向,服务站编号,村代码,收寄时间,到达县仓时间,妥投时间,资费(元),重量(kg)\n",
    );
    for i in 0..n {
        csv.push_str(&format!(
            "{prefix}{i:05},邮政,下行,ST001,441821101001,{month}-05 09:00:00,,,5.00,1\n"
        ));
    }
    csv
}

pub fn upload(server: &Server, token: &str, period: &str, body: String) -> Value {
    let response = server
        .post(
            &format!("/api/uploads?duty=parcels&period={period}&file_name=p-{period}.csv"),
            Some(token),
        )
        .body(body)
        .send()
        .unwrap();
    let status = response.status();
    let body: Value = response.json().unwrap();
    assert_eq!(status, 200, "{body}");
    body
}

pub fn count(server: &Server, token: &str) -> u64 {
    let rows: Value = server
        .get(
            "/api/query?sql=SELECT%20count(*)%20AS%20n%20FROM%20logistics.parcels",
            Some(token),
        )
        .send()
        .unwrap()
        .json()
        .unwrap();
    rows[0]["n"].as_u64().unwrap_or_else(|| panic!("{rows}"))
}

#[test]
fn two_servers_on_one_bucket() {
    let moto = Moto::start();
    let logs = tempfile::tempdir().unwrap();
    let (post, analyst) = moto.county_with_towns(logs.path());
    let a = moto.serve(&logs.path().join("a.log"));
    let b = moto.serve(&logs.path().join("b.log"));
    // Through one, visible at the next query through the other.
    upload(&a, &post, "2021-03", parcels("A", "2021-03", 50));
    assert_eq!(count(&b, &analyst), 50);
    // Two uploads to the same table at the same moment through different servers: both
    // land, neither is lost or half-written.
    std::thread::scope(|scope| {
        let through_a = scope.spawn(|| upload(&a, &post, "2021-04", parcels("B", "2021-04", 300)));
        let through_b = scope.spawn(|| upload(&b, &post, "2021-05", parcels("C", "2021-05", 200)));
        for outcome in [through_a.join().unwrap(), through_b.join().unwrap()] {
            assert_eq!(outcome["status"], "accepted", "{outcome}");
        }
    });
    assert_eq!(count(&a, &analyst), 550);
    assert_eq!(count(&b, &analyst), 550);
    // One audit chain, written by both servers.
    let verified = moto.run(&["audit", "verify"]);
    assert!(verified.contains("verified"), "{verified}");
    // After a restart, everything is there.
    drop((a, b));
    let c = moto.serve(&logs.path().join("c.log"));
    assert_eq!(count(&c, &analyst), 550);
    let periods: Value = c
        .get(
            "/api/query?sql=SELECT%20_period,%20count(*)%20AS%20n%20FROM%20logistics.parcels%20GROUP%20BY%20_period%20ORDER%20BY%20_period",
            Some(&analyst),
        )
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(
        periods,
        serde_json::json!([
            {"_period": "2021-03", "n": 50},
            {"_period": "2021-04", "n": 300},
            {"_period": "2021-05", "n": 200}
        ])
    );
    // Plain Delta Lake: the `deltalake` Python package reads the same rows.
    let script = r#"
import json, os, sys
from deltalake import DeltaTable
endpoint = sys.argv[1]
options = {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_REGION": "us-east-1", "AWS_ALLOW_HTTP": "true", "AWS_S3_ALLOW_UNSAFE_RENAME": "true"}
table = DeltaTable("s3://sannong/county/tables/logistics/parcels", storage_options=options).to_pyarrow_table()
ids = sorted(table.column("parcel_id").to_pylist())
villages = DeltaTable("s3://sannong/county/tables/admin/villages", storage_options=options).to_pyarrow_table()
print(json.dumps({"rows": table.num_rows, "first": ids[0], "last": ids[-1],
                  "villages": sorted(villages.column("village").to_pylist())}, ensure_ascii=False), flush=True)
# deltalake's runtime threads can abort the interpreter's teardown; the answer is out.
os._exit(0)
"#;
    let read = crate::cli::python_json("deltalake", script, &[&moto.endpoint]);
    assert_eq!(
        read,
        serde_json::json!({"rows": 550, "first": "A00000", "last": "C00199",
                           "villages": ["和塘村", "新坑村", "联田村"]})
    );
    // A server killed in the middle of an upload: nothing of it lands, the table stays
    // readable at its previous version, and the month can be sent again. The server
    // reaches S3 through a proxy that holds the first write of a data file, so the kill
    // comes while the upload is being written, however fast uploads become.
    let proxy = FaultProxy::start(&moto.endpoint);
    proxy.set(Fault::StallAtDataWrite);
    let mut through_proxy = moto.sannong_at(DATA);
    through_proxy.env("AWS_ENDPOINT_URL", &proxy.endpoint);
    let d = Server::spawn(through_proxy, &logs.path().join("d.log"), &[]);
    let url = format!(
        "{}/api/uploads?duty=parcels&period=2021-06&file_name=big.csv",
        d.url
    );
    let big = parcels("D", "2021-06", 20_000);
    let sender_token = post.clone();
    let sender = std::thread::spawn(move || {
        reqwest::blocking::Client::new()
            .post(url)
            .bearer_auth(sender_token)
            .body(big)
            .send()
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    while proxy.fault() != Fault::Stalled {
        assert!(Instant::now() < deadline, "the upload never wrote its data");
        std::thread::sleep(Duration::from_millis(10));
    }
    drop(d);
    assert!(
        sender.join().unwrap().is_err(),
        "the upload was still running when its server was killed"
    );
    drop(c);
    let e = moto.serve(&logs.path().join("e.log"));
    assert_eq!(count(&e, &analyst), 550);
    upload(&e, &post, "2021-06", parcels("D", "2021-06", 10));
    assert_eq!(count(&e, &analyst), 560);
}

/// Whether two JSON values are equal, numbers within a relative 1e-9 (float sums may
/// add in another order).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1.0)
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

/// The whole sample county (183 files of every duty, GBK CSV, XLSX and JSON) through the
/// upload path on S3 gives the tables, scorecard and duty timeliness a local directory
/// gives.
#[test]
fn the_sample_county_on_s3_scores_as_it_does_locally() {
    let moto = Moto::start();
    let loaded = moto.run(&["demo"]);
    assert!(loaded.contains("183 files accepted"), "{loaded}");
    let local = crate::kpis::county_data();
    for args in [
        vec![
            "sql",
            "--format",
            "json",
            "SELECT table_name, version, \"rows\" FROM sys.tables ORDER BY table_name",
        ],
        vec!["kpi", "--year", "2021", "--format", "json"],
        vec!["kpi", "--year", "2021", "--by-town", "--format", "json"],
        vec!["duties", "--as-of", "2021-12-31", "--format", "json"],
    ] {
        let on_s3: Value = serde_json::from_str(&moto.run(&args)).unwrap();
        let here: Value = serde_json::from_str(&ok(crate::cli::sannong(&local, &args))).unwrap();
        assert!(
            same(&on_s3, &here),
            "{args:?}\non S3: {on_s3}\nlocal: {here}"
        );
    }
}
