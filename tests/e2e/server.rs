//! The real server, started on port 0 by the real binary: every role against the
//! endpoints, uploads over HTTP, query formats, the audit chain and its tampering,
//! limits (oversize body, slow client), malformed requests and hostile SQL, and the
//! API fuzzed from its own OpenAPI description.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use calamine::Reader;
use reqwest::StatusCode;
use reqwest::blocking::{Client, RequestBuilder, multipart};
use serde_json::Value;

use crate::cli::{ok, sannong};
use crate::uploads::County;

/// A running `sannong serve`, stopped when dropped.
pub struct Server {
    child: Child,
    pub url: String,
    /// The PostgreSQL wire protocol's `host:port`.
    pub pg_addr: String,
    /// Arrow Flight SQL's `host:port`.
    pub flight_addr: String,
    client: Client,
}

impl Server {
    pub fn start(data: &Path, extra: &[&str]) -> Server {
        Server::spawn(crate::cli::command(data), &Self::log_of(data), extra)
    }

    /// `sannong serve` from `command` (the binary with its `--data`), logging to `log`.
    pub fn spawn(mut command: Command, log: &Path, extra: &[&str]) -> Server {
        let mut child = command
            .args(["serve", "--addr", "127.0.0.1:0", "--pg-addr", "127.0.0.1:0"])
            .args(["--flight-addr", "127.0.0.1:0"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let (mut pg_addr, mut flight_addr) = (String::new(), String::new());
        let url = loop {
            let line = lines.next().expect("the server prints its URL").unwrap();
            if let Some(rest) = line.split("postgresql://").nth(1) {
                pg_addr = rest.split('/').next().unwrap().to_owned();
            }
            if let Some(rest) = line.split("grpc://").nth(1) {
                flight_addr = rest.split_whitespace().next().unwrap().to_owned();
            }
            if let Some(rest) = line.split("on http://").nth(1) {
                break format!("http://{}", rest.split_whitespace().next().unwrap());
            }
        };
        // Keep reading stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Server {
            child,
            url,
            pg_addr,
            flight_addr,
            // A fresh connection per request: after a refused oversize body the server
            // closes the connection, which a pooled client would try to reuse.
            client: Client::builder()
                .pool_max_idle_per_host(0)
                .timeout(Duration::from_secs(120))
                .build()
                .unwrap(),
        }
    }

    /// Where the server's log (stderr) goes.
    pub fn log_of(data: &Path) -> PathBuf {
        data.with_extension("server.log")
    }

    pub fn get(&self, path: &str, token: Option<&str>) -> RequestBuilder {
        self.with(self.client.get(format!("{}{path}", self.url)), token)
    }

    pub fn post(&self, path: &str, token: Option<&str>) -> RequestBuilder {
        self.with(self.client.post(format!("{}{path}", self.url)), token)
    }

    pub fn delete(&self, path: &str, token: Option<&str>) -> RequestBuilder {
        self.with(self.client.delete(format!("{}{path}", self.url)), token)
    }

    fn with(&self, request: RequestBuilder, token: Option<&str>) -> RequestBuilder {
        match token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Creates a token through the CLI.
pub fn token(data: &Path, role: &str) -> String {
    let out = ok(sannong(
        data,
        &[
            "token",
            "create",
            "--role",
            role,
            "--name",
            &format!("test {role}"),
        ],
    ));
    out.lines().last().unwrap().trim().to_owned()
}

/// A workbook received over HTTP.
fn xlsx(bytes: &[u8]) -> calamine::Xlsx<std::io::Cursor<Vec<u8>>> {
    calamine::open_workbook_from_rs(std::io::Cursor::new(bytes.to_vec())).unwrap()
}

fn json(response: reqwest::blocking::Response) -> (StatusCode, Value) {
    let status = response.status();
    let text = response.text().unwrap();
    let value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    (status, value)
}

/// Checks the error envelope and returns its English message.
fn error_of(status: StatusCode, body: &Value, expected: StatusCode) -> String {
    assert_eq!(status, expected, "{body}");
    let error = &body["error"];
    for field in ["code", "message_zh", "message_en"] {
        assert!(error[field].is_string(), "{field} in {body}");
    }
    error["message_en"].as_str().unwrap().to_owned()
}

struct Roles {
    admin: String,
    analyst: String,
    auditor: String,
    post: String,
    towns: String,
}

fn roles(data: &Path) -> Roles {
    Roles {
        admin: token(data, "admin"),
        analyst: token(data, "analyst"),
        auditor: token(data, "auditor"),
        post: token(data, "department:post"),
        towns: token(data, "department:towns"),
    }
}

const PARCELS: &str = "运单号,快递公司,方向,服务站编号,村代码,收寄时间,到达县仓时间,妥投时间,资费(元),重量(kg)\n\
                       YZ1,邮政,上行,ST001,441821101001,2021-03-05 09:00:00,2021-03-05 12:00:00,,5.00,1\n";
const BAD_PARCELS: &str = "运单号,快递公司,方向,服务站编号,村代码,收寄时间,到达县仓时间,妥投时间,资费(元),重量(kg)\n\
                           YZ1,邮政,上行,ST999,441821101001,2021-03-05 09:00:00,2021-03-05 12:00:00,,-5.00,1\n";

#[test]
fn every_role_against_every_endpoint() {
    let county = County::new();
    let data = county.data();
    let t = roles(&data);
    let server = Server::start(&data, &[]);
    let status = |r: RequestBuilder| r.send().unwrap().status().as_u16();
    let sql = "/api/query?sql=SELECT%201";
    // (path, none, department, analyst, auditor, admin) for reads.
    let reads: &[(&str, [u16; 5])] = &[
        ("/api/health", [200, 200, 200, 200, 200]),
        ("/api/openapi.json", [200, 200, 200, 200, 200]),
        ("/metrics", [200, 200, 200, 200, 200]),
        ("/api/me", [401, 200, 200, 200, 200]),
        (sql, [401, 403, 200, 200, 200]),
        ("/api/tables", [401, 403, 200, 200, 200]),
        (
            "/api/tables/admin.villages/history",
            [401, 403, 200, 200, 200],
        ),
        ("/api/submissions", [401, 200, 200, 200, 200]),
        ("/api/kpis", [401, 200, 200, 200, 200]),
        ("/api/kpis/T1/explain", [401, 200, 200, 200, 200]),
        ("/api/kpis/towns", [401, 200, 200, 200, 200]),
        ("/api/duties/parcels/template", [401, 200, 200, 200, 200]),
        ("/api/duties", [401, 200, 200, 200, 200]),
        ("/api/milestones", [401, 200, 200, 200, 200]),
        ("/api/plugins", [401, 200, 200, 200, 200]),
        ("/api/plugins/post", [401, 200, 200, 200, 200]),
        ("/api/tokens", [401, 403, 403, 403, 200]),
        ("/api/audit/verify", [401, 403, 403, 200, 200]),
    ];
    for (path, expected) in reads {
        let got = [
            status(server.get(path, None)),
            status(server.get(path, Some(&t.post))),
            status(server.get(path, Some(&t.analyst))),
            status(server.get(path, Some(&t.auditor))),
            status(server.get(path, Some(&t.admin))),
        ];
        assert_eq!(
            &got, expected,
            "GET {path} as none, department, analyst, auditor, admin"
        );
    }
    // A wrong role gets 403 naming what is needed; no token or a bad one gets 401.
    let (code, body) = json(server.get("/api/tokens", Some(&t.analyst)).send().unwrap());
    let message = error_of(code, &body, StatusCode::FORBIDDEN);
    assert!(
        message.contains("needs the role admin") && message.contains("analyst"),
        "{message}"
    );
    let (code, body) = json(
        server
            .get("/api/me", Some("sn_00000000_nope"))
            .send()
            .unwrap(),
    );
    error_of(code, &body, StatusCode::UNAUTHORIZED);
    // Uploads: a department to its own duties only.
    let upload = |token: &str| {
        server
            .post(
                "/api/uploads?duty=parcels&period=2021-03&file_name=p.csv",
                Some(token),
            )
            .body(PARCELS)
            .send()
            .unwrap()
    };
    assert_eq!(upload(&t.towns).status(), 403);
    assert_eq!(upload(&t.analyst).status(), 403);
    let (code, accepted) = json(upload(&t.post));
    assert_eq!(code, 200, "{accepted}");
    assert_eq!(accepted["status"], "accepted");
    // Only admins install plugins and manage tokens.
    let wasm = std::fs::read(sannong_test_plugins::HELLO).unwrap();
    let install = |token: &str| {
        server
            .post("/api/plugins?name=hello.wasm", Some(token))
            .body(wasm.clone())
            .send()
            .unwrap()
            .status()
    };
    assert_eq!(install(&t.analyst), 403);
    assert_eq!(install(&t.post), 403);
    assert_eq!(install(&t.admin), 200);
    let create = |token: &str| {
        server
            .post("/api/tokens", Some(token))
            .json(&serde_json::json!({"role": "analyst", "name": "new analyst"}))
            .send()
            .unwrap()
    };
    assert_eq!(create(&t.auditor).status(), 403);
    let (code, created) = json(create(&t.admin));
    assert_eq!(code, 201, "{created}");
    let new_token = created["token"].as_str().unwrap().to_owned();
    assert_eq!(status(server.get(sql, Some(&new_token))), 200);
    let id = created["id"].as_str().unwrap();
    assert_eq!(
        status(server.delete(&format!("/api/tokens/{id}"), Some(&t.admin))),
        200
    );
    assert_eq!(
        status(server.get(sql, Some(&new_token))),
        401,
        "revoked at once"
    );
    // Analysts do not see the audit log; auditors do.
    let audit = "/api/query?sql=SELECT%20count(*)%20AS%20n%20FROM%20sys.audit_log";
    assert_eq!(status(server.get(audit, Some(&t.analyst))), 400);
    let (code, rows) = json(server.get(audit, Some(&t.auditor)).send().unwrap());
    assert_eq!(code, 200);
    assert!(rows[0]["n"].as_u64().unwrap() > 5, "{rows}");
}

#[test]
fn uploads_over_http_and_what_each_department_sees() {
    let county = County::new();
    let data = county.data();
    let t = roles(&data);
    let server = Server::start(&data, &["--max-body-mb", "1", "--max-upload-rows", "3"]);
    // Multipart, with the duty and period as form fields.
    let form = multipart::Form::new()
        .text("duty", "parcels")
        .text("period", "2021-03")
        .part(
            "file",
            multipart::Part::bytes(PARCELS.as_bytes().to_vec()).file_name("parcels-03.csv"),
        );
    let (code, accepted) = json(
        server
            .post("/api/uploads", Some(&t.post))
            .multipart(form)
            .send()
            .unwrap(),
    );
    assert_eq!(code, 200, "{accepted}");
    assert_eq!(accepted["rows_stored"], 1);
    // A bad file is refused whole: 422 with every problem in the details.
    let (code, refused) = json(
        server
            .post(
                "/api/uploads?duty=parcels&period=2021-04&file_name=p.csv",
                Some(&t.post),
            )
            .body(BAD_PARCELS)
            .send()
            .unwrap(),
    );
    let message = error_of(code, &refused, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(message.contains("nothing was written"), "{message}");
    let problems = refused["error"]["details"]["problems"].as_array().unwrap();
    assert!(problems.len() >= 2, "{refused}");
    let id = refused["error"]["details"]["submission_id"]
        .as_str()
        .unwrap();
    // Its problems: the department and analysts see them, another department does not.
    let path = format!("/api/submissions/{id}");
    let (code, seen) = json(server.get(&path, Some(&t.post)).send().unwrap());
    assert_eq!(code, 200);
    assert_eq!(seen["submission"]["status"], "refused");
    assert_eq!(seen["problems"].as_array().unwrap().len(), problems.len());
    assert_eq!(
        server.get(&path, Some(&t.analyst)).send().unwrap().status(),
        200
    );
    assert_eq!(
        server.get(&path, Some(&t.towns)).send().unwrap().status(),
        403
    );
    // … and download them as a workbook to fix the file by.
    let file = server
        .get(&format!("{path}/problems"), Some(&t.post))
        .send()
        .unwrap();
    assert_eq!(file.status(), 200);
    let disposition = file.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        disposition.contains("p_%E9%97%AE%E9%A2%98.xlsx"),
        "{disposition}"
    );
    let bytes = file.bytes().unwrap();
    let mut workbook = xlsx(&bytes);
    let sheet = workbook.worksheet_range_at(0).unwrap().unwrap();
    assert_eq!(
        sheet.height(),
        problems.len() + 1,
        "a header and one row per problem"
    );
    let csv = server
        .get(&format!("{path}/problems?format=csv"), Some(&t.post))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(csv.contains("ST999") && csv.contains("服务站编号"), "{csv}");
    assert_eq!(
        server
            .get(&format!("{path}/problems"), Some(&t.towns))
            .send()
            .unwrap()
            .status(),
        403
    );
    let (_, listed) = json(
        server
            .get("/api/submissions", Some(&t.towns))
            .send()
            .unwrap(),
    );
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["department"] == "towns"),
        "{listed}"
    );
    // Unknown duty, malformed multipart, no file, oversize body.
    let (code, body) = json(
        server
            .post("/api/uploads?duty=nonsense&file_name=x.csv", Some(&t.admin))
            .body("a,b\n1,2\n")
            .send()
            .unwrap(),
    );
    assert!(error_of(code, &body, StatusCode::BAD_REQUEST).contains("unknown duty 'nonsense'"));
    let (code, body) = json(
        server
            .post("/api/uploads", Some(&t.post))
            .header("content-type", "multipart/form-data; boundary=XYZ")
            .body("--XYZ\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nunterminated")
            .send()
            .unwrap(),
    );
    error_of(code, &body, StatusCode::BAD_REQUEST);
    let (code, body) = json(
        server
            .post("/api/uploads?duty=parcels", Some(&t.post))
            .send()
            .unwrap(),
    );
    error_of(code, &body, StatusCode::BAD_REQUEST);
    let (code, body) = json(
        server
            .post(
                "/api/uploads?duty=parcels&period=2021-06&file_name=many.csv",
                Some(&t.post),
            )
            .body(many_parcels(4))
            .send()
            .unwrap(),
    );
    error_of(code, &body, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body.to_string()
            .contains("more than the limit of 3 data rows"),
        "{body}"
    );
    let big = vec![b'x'; 2 << 20];
    let response = server
        .post(
            "/api/uploads?duty=parcels&period=2021-05&file_name=big.csv",
            Some(&t.post),
        )
        .body(big)
        .send()
        .unwrap();
    assert_eq!(response.status(), 413);
    // A streamed body (chunked, no length given) is received as it comes: accepted
    // whole, or cut off at the limit.
    let streamed = |bytes: Vec<u8>, period: &str| {
        server
            .post(
                &format!("/api/uploads?duty=parcels&period={period}&file_name=streamed.csv"),
                Some(&t.post),
            )
            .body(reqwest::blocking::Body::new(std::io::Cursor::new(bytes)))
            .send()
    };
    let (code, accepted) = json(
        streamed(
            PARCELS
                .replace("2021-03", "2021-07")
                .replace("YZ1", "YZ7")
                .into_bytes(),
            "2021-07",
        )
        .unwrap(),
    );
    assert_eq!(code, 200, "{accepted}");
    assert_eq!(accepted["rows_stored"], 1);
    // Past the limit the server answers 413 and stops reading, so the client may see
    // the answer or only the connection closing under its unsent bytes.
    match streamed(vec![b'x'; 8 << 20], "2021-08") {
        Ok(response) => assert_eq!(response.status(), 413),
        Err(e) => assert!(e.is_body() || e.is_request(), "{e}"),
    }
    assert_eq!(
        server.get("/api/health", None).send().unwrap().status(),
        200
    );
    // The accepted upload is in the audit log with its rows; the refusal too.
    let (_, entries) = json(
        server
            .get("/api/query?sql=SELECT%20outcome,%20\"rows\"%20FROM%20sys.audit_log%20WHERE%20action%20=%20'upload'%20ORDER%20BY%20seq", Some(&t.auditor))
            .send()
            .unwrap(),
    );
    let outcomes: Vec<&str> = entries
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["outcome"].as_str().unwrap())
        .collect();
    assert!(
        outcomes.contains(&"accepted") && outcomes.contains(&"refused"),
        "{outcomes:?}"
    );
}

#[test]
fn the_web_pages_and_blank_templates_are_served() {
    let county = County::new();
    let data = county.data();
    let analyst = token(&data, "analyst");
    let server = Server::start(&data, &[]);
    // The pages come from the binary, with a policy that allows only its own scripts.
    let page = server.get("/", None).send().unwrap();
    assert_eq!(page.status(), 200);
    let policy = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(policy.contains("script-src 'self'"), "{policy}");
    assert!(page.text().unwrap().contains("/assets/app.js"));
    for asset in ["app.js", "app.css", "i18n.js", "charts.js", "favicon.svg"] {
        let response = server
            .get(&format!("/assets/{asset}"), None)
            .send()
            .unwrap();
        assert_eq!(response.status(), 200, "{asset}");
        assert!(!response.bytes().unwrap().is_empty(), "{asset}");
    }
    assert_eq!(
        server
            .get("/assets/../Cargo.toml", None)
            .send()
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        server
            .get("/assets/nothing.js", None)
            .send()
            .unwrap()
            .status(),
        404
    );
    // A duty's blank template: its Chinese headers in order, and a sheet explaining them.
    let (_, manifest) = json(
        server
            .get("/api/plugins/post", Some(&analyst))
            .send()
            .unwrap(),
    );
    let duty = manifest["duties"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["id"] == "parcels")
        .unwrap();
    let headers: Vec<&str> = duty["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["header_zh"].as_str().unwrap())
        .collect();
    let response = server
        .get("/api/duties/parcels/template", Some(&analyst))
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    let disposition = response.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        disposition.contains("parcels_%E6%A8%A1%E6%9D%BF.xlsx"),
        "{disposition}"
    );
    let bytes = response.bytes().unwrap();
    let mut workbook = xlsx(&bytes);
    assert_eq!(workbook.sheet_names()[1], "说明");
    let blank = workbook.worksheet_range_at(0).unwrap().unwrap();
    let first_row: Vec<String> = blank
        .rows()
        .next()
        .unwrap()
        .iter()
        .map(|c| c.to_string())
        .collect();
    assert_eq!(first_row, headers);
    assert_eq!(blank.height(), 1, "blank: headers only");
    let notes = workbook.worksheet_range("说明").unwrap();
    assert_eq!(notes.height(), headers.len() + 1);
    assert!(
        notes
            .rows()
            .any(|r| r[1] == "fee_yuan" && r[2].to_string().contains("2 位小数")),
        "the notes give each column's type"
    );
    let (code, body) = json(
        server
            .get("/api/duties/nonsense/template", Some(&analyst))
            .send()
            .unwrap(),
    );
    assert!(error_of(code, &body, StatusCode::NOT_FOUND).contains("nonsense"));
    // The town breakdown over HTTP is the command's.
    let (code, towns) = json(
        server
            .get("/api/kpis/towns", Some(&analyst))
            .send()
            .unwrap(),
    );
    assert_eq!(code, 200, "{towns}");
    let t16 = towns
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == "T16")
        .unwrap();
    // The fixture's three villages: one of two in 石角镇 has a station, 汤塘镇's one has.
    let by_town: Vec<(&str, f64)> = t16["towns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["town"].as_str().unwrap(), t["value"].as_f64().unwrap()))
        .collect();
    assert_eq!(by_town, [("汤塘镇", 1.0), ("石角镇", 0.5)], "{t16}");
}

#[test]
fn query_results_in_every_format_and_hostile_sql_refused() {
    let county = County::new();
    let data = county.data();
    let t = roles(&data);
    let server = Server::start(&data, &[]);
    let sql = "SELECT village_code, village FROM admin.villages ORDER BY village_code";
    let get = |format: &str| {
        server
            .post("/api/query", Some(&t.analyst))
            .json(&serde_json::json!({"sql": sql, "format": format}))
            .send()
            .unwrap()
    };
    let (code, rows) = json(get("json"));
    assert_eq!(code, 200);
    let n = rows.as_array().unwrap().len();
    assert!(n >= 2);
    let csv = get("csv").text().unwrap();
    assert_eq!(csv.lines().count(), n + 1, "{csv}");
    let arrow = get("arrow").bytes().unwrap();
    let reader =
        arrow::ipc::reader::StreamReader::try_new(std::io::Cursor::new(arrow.to_vec()), None)
            .unwrap();
    let rows_read: usize = reader.map(|b| b.unwrap().num_rows()).sum();
    assert_eq!(rows_read, n);
    let parquet = get("parquet").bytes().unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(parquet)
        .unwrap()
        .build()
        .unwrap();
    assert_eq!(reader.map(|b| b.unwrap().num_rows()).sum::<usize>(), n);
    let xlsx = get("xlsx").bytes().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.xlsx");
    std::fs::write(&path, &xlsx).unwrap();
    use calamine::Reader;
    let mut workbook: calamine::Xlsx<_> = calamine::open_workbook(&path).unwrap();
    let sheet = workbook.worksheet_range_at(0).unwrap().unwrap();
    assert_eq!(sheet.rows().count(), n + 1);
    // By Accept header.
    let by_accept = server
        .get(
            &format!("/api/query?sql={}", urlencode(sql)),
            Some(&t.analyst),
        )
        .header("accept", "text/csv")
        .send()
        .unwrap();
    assert!(
        by_accept.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    // SQL that writes, or reads local files, is refused.
    for hostile in [
        "INSERT INTO admin.villages VALUES ('1', '2', '3', false)",
        "COPY (SELECT 1) TO '/tmp/x.csv'",
        "CREATE EXTERNAL TABLE p STORED AS CSV LOCATION '/etc/passwd'",
        "SELECT * FROM '/etc/passwd'",
        "DROP TABLE admin.villages",
    ] {
        let (code, body) = json(
            server
                .post("/api/query", Some(&t.admin))
                .json(&serde_json::json!({"sql": hostile}))
                .send()
                .unwrap(),
        );
        error_of(code, &body, StatusCode::BAD_REQUEST);
    }
    let (code, body) = json(get("pdf"));
    assert!(error_of(code, &body, StatusCode::BAD_REQUEST).contains("unknown format"));
    // The same table read again and again is kept decoded in memory: every format above
    // after the first two was answered from there, with the same rows.
    let metrics = server.get("/metrics", None).send().unwrap().text().unwrap();
    let gauge = |name: &str| -> u64 {
        metrics
            .lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("{name} in {metrics}"))
    };
    assert!(gauge("sannong_table_memory_tables") >= 1, "{metrics}");
    assert!(gauge("sannong_table_memory_bytes") > 0, "{metrics}");
    assert!(gauge("sannong_table_memory_hits_total") >= 3, "{metrics}");
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[test]
fn the_audit_chain_verifies_and_tampering_is_detected() {
    let county = County::new();
    let data = county.data();
    let t = roles(&data);
    let server = Server::start(&data, &[]);
    server
        .get("/api/query?sql=SELECT%201", Some(&t.analyst))
        .send()
        .unwrap();
    let (code, verified) = json(
        server
            .get("/api/audit/verify", Some(&t.auditor))
            .send()
            .unwrap(),
    );
    assert_eq!(code, 200);
    assert!(verified["broken"].is_null(), "{verified}");
    let entries = verified["entries"].as_u64().unwrap();
    assert!(entries >= 8, "{verified}");
    let said = ok(sannong(&data, &["audit", "verify"]));
    assert!(said.contains("every link verified"), "{said}");
    // Change who ran a query in one entry on disk.
    let dir: PathBuf = data.join("system").join("audit");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let victim = &files[3];
    let text = std::fs::read_to_string(victim).unwrap();
    let entry: Value = serde_json::from_str(&text).unwrap();
    let forged = text.replacen(
        &format!("\"actor\":{}", entry["actor"]),
        "\"actor\":\"somebody else\"",
        1,
    );
    assert_ne!(forged, text);
    std::fs::write(victim, forged).unwrap();
    let out = sannong(&data, &["audit", "verify"]);
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("BROKEN at entry 3") && said.contains("changed after it was written"),
        "{said}"
    );
    let (_, verified) = json(
        server
            .get("/api/audit/verify", Some(&t.admin))
            .send()
            .unwrap(),
    );
    assert_eq!(verified["broken"]["seq"], 3, "{verified}");
}

#[test]
fn a_slow_client_is_cut_off_and_the_server_goes_on() {
    let county = County::new();
    let data = county.data();
    let t = roles(&data);
    let server = Server::start(&data, &["--request-timeout", "2"]);
    let address = server.url.trim_start_matches("http://").to_owned();
    let mut stream = std::net::TcpStream::connect(&address).unwrap();
    write!(
        stream,
        "POST /api/uploads?duty=parcels&period=2021-03&file_name=p.csv HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Length: 1000\r\n\r\nYZ",
        t.post
    )
    .unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert_eq!(
        server.get("/api/health", None).send().unwrap().status(),
        200
    );
}

#[test]
fn the_openapi_description_matches_the_server_and_survives_fuzzing() {
    let county = County::new();
    let data = county.data();
    let t = roles(&data);
    let server = Server::start(&data, &[]);
    let (code, spec) = json(server.get("/api/openapi.json", None).send().unwrap());
    assert_eq!(code, 200);
    assert_eq!(spec["openapi"], "3.0.3");
    let paths = spec["paths"].as_object().unwrap();
    for path in [
        "/api/uploads",
        "/api/query",
        "/api/kpis",
        "/api/audit/verify",
        "/api/tokens/{id}",
    ] {
        assert!(paths.contains_key(path), "{path} is described");
    }
    // Every described GET without path parameters answers (as admin) with its documented statuses.
    for (path, item) in paths {
        if let Some(op) = item.get("get")
            && !path.contains('{')
        {
            let response = server.get(path, Some(&t.admin)).send().unwrap();
            let status = response.status().as_u16().to_string();
            let documented = op["responses"].as_object().unwrap();
            let required_sql = path == "/api/query";
            assert!(
                documented.contains_key(&status) || required_sql,
                "GET {path} answered {status}, documented {:?}",
                documented.keys().collect::<Vec<_>>()
            );
        }
    }
    // Fuzz from the description with schemathesis, when installed (scripts/test.sh does).
    let Ok(output) = Command::new("schemathesis")
        .args([
            "run",
            &format!("{}/api/openapi.json", server.url),
            "--checks",
            "not_a_server_error",
            "--max-examples",
            "25",
            "--header",
            &format!("Authorization: Bearer {}", t.analyst),
        ])
        .output()
    else {
        panic!("schemathesis is not installed: run scripts/test.sh, which installs it");
    };
    let report = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "schemathesis found server errors:\n{report}"
    );
    assert_eq!(
        server.get("/api/health", None).send().unwrap().status(),
        200,
        "still up"
    );
}

/// Parcels of March 2021, `n` of them, all valid.
fn many_parcels(n: usize) -> String {
    let mut file = String::from(
        "运单号,快递公司,方向,服务站编号,村代码,收寄时间,到达县仓时间,妥投时间,资费(元),重量(kg)\n",
    );
    for i in 0..n {
        file.push_str(&format!(
            "B{i:07},邮政,上行,ST001,441821101001,2021-03-05 09:00:00,2021-03-05 12:00:00,,5.00,1\n"
        ));
    }
    file
}

#[test]
fn a_heavy_query_does_not_hold_up_uploads() {
    let county = County::new();
    let data = county.data();
    let t = roles(&data);
    let server = Server::start(&data, &["--query-slots", "1", "--query-timeout", "20"]);
    let url = server.url.clone();
    let analyst = t.analyst.clone();
    let heavy = std::thread::spawn(move || {
        Client::builder()
            .timeout(Duration::from_secs(120))
            .build()
            .unwrap()
            .post(format!("{url}/api/query"))
            .bearer_auth(analyst)
            .json(&serde_json::json!({"sql": "SELECT count(*) FROM generate_series(1, 10000000) a, generate_series(1, 10000000) b WHERE (a.value * b.value) % 7 = 3"}))
            .send()
            .unwrap()
            .status()
    });
    std::thread::sleep(Duration::from_millis(500));
    let response = server
        .post(
            "/api/uploads?duty=parcels&period=2021-03&file_name=p.csv",
            Some(&t.post),
        )
        .body(PARCELS)
        .send()
        .unwrap();
    let (code, body) = json(response);
    assert_eq!(code, 200, "{body}");
    assert!(
        !heavy.is_finished(),
        "the upload went through while the query still ran"
    );
    assert_eq!(
        heavy.join().unwrap(),
        408,
        "the heavy query hits its time limit"
    );
}

#[test]
fn shutdown_lets_an_upload_in_flight_finish_whole_or_not_at_all() {
    let county = County::new();
    let data = county.data();
    let t = roles(&data);
    let server = Server::start(&data, &[]);
    let file = many_parcels(200_000);
    let url = server.url.clone();
    let post = t.post.clone();
    let upload = std::thread::spawn(move || {
        Client::builder()
            .timeout(Duration::from_secs(300))
            .build()
            .unwrap()
            .post(format!(
                "{url}/api/uploads?duty=parcels&period=2021-03&file_name=big.csv"
            ))
            .bearer_auth(post)
            .body(file)
            .send()
            .map(|r| r.status().as_u16())
    });
    std::thread::sleep(Duration::from_millis(800));
    let pid = server.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let answered = upload.join().unwrap();
    let rows = ok(sannong(
        &data,
        &[
            "sql",
            "SELECT count(*) AS n FROM sys.tables WHERE table_name = 'logistics.parcels'",
            "--format",
            "csv",
        ],
    ));
    match answered {
        Ok(200) => {
            let stored = ok(sannong(
                &data,
                &[
                    "sql",
                    "SELECT count(*) AS n FROM logistics.parcels",
                    "--format",
                    "csv",
                ],
            ));
            assert_eq!(
                stored.lines().nth(1),
                Some("200000"),
                "accepted means every row"
            );
        }
        other => {
            assert_eq!(
                rows.lines().nth(1),
                Some("0"),
                "{other:?}: nothing half written: {rows}"
            );
        }
    }
    let verified = ok(sannong(&data, &["audit", "verify"]));
    assert!(verified.contains("every link verified"), "{verified}");
}

#[test]
fn requests_are_logged_as_json_with_their_request_id() {
    let county = County::new();
    let data = county.data();
    let server = Server::start(&data, &["--log-format", "json"]);
    let response = server
        .get("/api/health", None)
        .header("x-request-id", "req-4711")
        .send()
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "req-4711");
    let generated = server.get("/api/health", None).send().unwrap();
    assert!(!generated.headers()["x-request-id"].is_empty());
    let log_path = Server::log_of(&data);
    let line = (0..50)
        .find_map(|_| {
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            let found = log
                .lines()
                .find(|l| l.contains("req-4711"))
                .map(str::to_owned);
            if found.is_none() {
                std::thread::sleep(Duration::from_millis(100));
            }
            found
        })
        .unwrap_or_else(|| panic!("no log line with the request id in {log_path:?}"));
    let entry: Value =
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
    assert_eq!(entry["span"]["request_id"], "req-4711", "{entry}");
    assert_eq!(entry["span"]["path"], "/api/health", "{entry}");
}
