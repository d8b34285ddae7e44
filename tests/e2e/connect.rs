//! The PostgreSQL wire protocol with real clients against the real server: `psql`
//! (`\dt`, `\d`, decimals, dates, timestamps and Chinese text back exact), psycopg with
//! parameters bound by the server, wrong passwords and roles refused, writes refused,
//! a query over the time limit cancelled, and every statement in the audit log; and Arrow
//! Flight SQL with the ADBC driver.

use std::process::{Command, Output};

use crate::server::{Server, token};
use crate::uploads::County;

const PARCELS: &str = "运单号,快递公司,方向,服务站编号,村代码,收寄时间,到达县仓时间,妥投时间,资费(元),重量(kg)\n\
    YZ1,邮政,上行,ST001,441821101001,2021-03-05 09:00:00,2021-03-05 12:00:00,,5.20,1.5\n\
    YZ2,顺丰,下行,ST002,441821102001,2021-03-06 10:30:00,,2021-03-07 16:45:10,12.05,0.25\n\
    YZ3,邮政,下行,ST001,441821101001,2021-03-31 23:59:59,,,0.00,3\n";

/// `psql` with `token` as the password; `--csv` output without the header when asked.
pub fn psql(server: &Server, token: &str, args: &[&str]) -> Output {
    let (host, port) = server.pg_addr.rsplit_once(':').unwrap();
    Command::new("psql")
        .arg(format!(
            "host={host} port={port} user=analyst dbname=sannong connect_timeout=10"
        ))
        .args(["--no-psqlrc", "--set", "ON_ERROR_STOP=1"])
        .args(args)
        .env("PGPASSWORD", token)
        .env("PGCLIENTENCODING", "UTF8")
        .output()
        .expect("psql is installed")
}

pub fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "psql failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn stderr_of_failure(output: &Output) -> String {
    assert!(
        !output.status.success(),
        "expected a failure: {}",
        String::from_utf8_lossy(&output.stdout)
    );
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn county() -> County {
    let county = County::new();
    county.accept(
        "parcels",
        Some("2021-03"),
        "parcels.csv",
        PARCELS.as_bytes(),
    );
    county
}

#[test]
fn psql_lists_describes_and_reads_tables_exactly() {
    let county = county();
    let data = county.data();
    let analyst = token(&data, "analyst");
    let server = Server::start(&data, &[]);
    let tables = stdout(&psql(&server, &analyst, &["-c", "\\dt *.*"]));
    for table in ["villages", "stations", "parcels"] {
        assert!(tables.contains(table), "\\dt lists {table}:\n{tables}");
    }
    let described = stdout(&psql(&server, &analyst, &["-c", "\\d logistics.parcels"]));
    for column in [
        "parcel_id",
        "fee_yuan",
        "handed_in_at",
        "numeric",
        "timestamp",
    ] {
        assert!(
            described.contains(column),
            "\\d shows {column}:\n{described}"
        );
    }
    // What DBeaver, Metabase and Grafana ask when they connect.
    for (query, expected) in [
        (
            "SELECT current_database(), current_schema()",
            "sannong|public\n",
        ),
        ("SHOW search_path", "public\n"),
        (
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'logistics' ORDER BY 1",
            "parcels\nstations\n",
        ),
        (
            "SELECT n.nspname, c.relname FROM pg_catalog.pg_class c \
             LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind IN ('r', 'v') AND n.nspname = 'admin'",
            "admin|villages\n",
        ),
        (
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_catalog.pg_class c \
             JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid \
             WHERE c.relname = 'villages' AND a.attnum > 0 ORDER BY a.attnum",
            "village_code|text\nvillage|text\ntown|text\npoor_village|boolean\n_submission_id|text\n",
        ),
    ] {
        let got = stdout(&psql(&server, &analyst, &["-A", "-t", "-c", query]));
        assert_eq!(got, expected, "{query}");
    }
    // Values come back exact: decimals with their scale, timestamps (stored to the
    // microsecond, as Delta Lake does), NULLs, Chinese text.
    let query = "SELECT parcel_id, courier, fee_yuan, weight_kg, handed_in_at, delivered_at \
                 FROM logistics.parcels ORDER BY parcel_id";
    let over_wire = stdout(&psql(&server, &analyst, &["--csv", "-c", query]));
    assert_eq!(
        over_wire,
        "parcel_id,courier,fee_yuan,weight_kg,handed_in_at,delivered_at\n\
         YZ1,邮政,5.20,1.5,2021-03-05 09:00:00.000000,\n\
         YZ2,顺丰,12.05,0.25,2021-03-06 10:30:00.000000,2021-03-07 16:45:10.000000\n\
         YZ3,邮政,0.00,3.0,2021-03-31 23:59:59.000000,\n"
    );
    let villages = stdout(&psql(
        &server,
        &analyst,
        &[
            "--csv",
            "-c",
            "SELECT village, town, poor_village FROM admin.villages ORDER BY village_code",
        ],
    ));
    assert_eq!(
        villages,
        "village,town,poor_village\n新坑村,石角镇,f\n联田村,石角镇,t\n和塘村,汤塘镇,f\n"
    );
    let opened = stdout(&psql(
        &server,
        &analyst,
        &[
            "--csv",
            "-t",
            "-c",
            "SELECT opened_on FROM logistics.stations ORDER BY station_id",
        ],
    ));
    assert_eq!(opened, "2020-01-05\n2020-03-01\n");
}

#[test]
fn only_valid_tokens_connect_and_nothing_is_written() {
    let county = county();
    let data = county.data();
    let analyst = token(&data, "analyst");
    let auditor = token(&data, "auditor");
    let department = token(&data, "department:post");
    let server = Server::start(&data, &["--query-timeout", "2"]);
    let wrong = stderr_of_failure(&psql(&server, "sn_00000000_wrong", &["-c", "SELECT 1"]));
    assert!(wrong.contains("token"), "{wrong}");
    let refused = stderr_of_failure(&psql(&server, &department, &["-c", "SELECT 1"]));
    assert!(refused.contains("analyst, auditor or admin"), "{refused}");
    // The audit log: auditors only.
    let hidden = stderr_of_failure(&psql(
        &server,
        &analyst,
        &["-c", "SELECT count(*) FROM sys.audit_log"],
    ));
    assert!(hidden.contains("audit_log"), "{hidden}");
    let seen = stdout(&psql(
        &server,
        &auditor,
        &["-t", "-c", "SELECT count(*) FROM sys.audit_log"],
    ));
    assert!(seen.trim().parse::<u64>().unwrap() > 0, "{seen}");
    // Writes of every kind, refused with a clear error, and nothing changed.
    for write in [
        "INSERT INTO admin.villages VALUES ('1', '假村', '石角镇', false)",
        "CREATE TABLE x (a INT)",
        "DROP TABLE admin.villages",
        "COPY (SELECT 1) TO '/tmp/sannong-pg-copy.csv'",
        "DELETE FROM admin.villages",
    ] {
        let error = stderr_of_failure(&psql(&server, &analyst, &["-c", write]));
        assert!(error.contains("read-only"), "{write}: {error}");
    }
    assert!(!std::path::Path::new("/tmp/sannong-pg-copy.csv").exists());
    let count = stdout(&psql(
        &server,
        &analyst,
        &["-t", "-c", "SELECT count(*) FROM admin.villages"],
    ));
    assert_eq!(count.trim(), "3");
    // Every statement over the wire is in the audit log, as over HTTP.
    let audited = stdout(&psql(
        &server,
        &auditor,
        &[
            "--csv",
            "-t",
            "-c",
            "SELECT outcome, count(*) FROM sys.audit_log WHERE action = 'query' AND target LIKE '%INSERT INTO admin.villages%' GROUP BY outcome",
        ],
    ));
    assert!(audited.starts_with("failed,1"), "{audited}");
    // A query past the time limit is cancelled.
    let slow = psql(
        &server,
        &analyst,
        &[
            "-c",
            "SELECT count(*) FROM generate_series(1, 10000000) a, generate_series(1, 10000000) b WHERE (a.value * b.value) % 7 = 3",
        ],
    );
    let error = stderr_of_failure(&slow);
    assert!(
        error.contains("ran longer than the limit of 2 s"),
        "{error}"
    );
}

#[test]
fn psycopg_binds_parameters_on_the_server() {
    let county = county();
    let data = county.data();
    let analyst = token(&data, "analyst");
    let auditor = token(&data, "auditor");
    let server = Server::start(&data, &[]);
    let (host, port) = server.pg_addr.rsplit_once(':').unwrap();
    let script = r#"
import datetime, decimal, json, sys
import psycopg
host, port, token = sys.argv[1:4]
with psycopg.connect(host=host, port=port, user="analyst", password=token, dbname="sannong", autocommit=True) as conn:
    rows = conn.execute(
        "SELECT parcel_id, fee_yuan, handed_in_at FROM logistics.parcels "
        "WHERE courier = %s AND handed_in_at >= %s AND fee_yuan > %s ORDER BY parcel_id",
        ("邮政", datetime.datetime(2021, 3, 5, 12, 0, 0), decimal.Decimal("-1")),
    ).fetchall()
    counted = conn.execute("SELECT count(*) FROM admin.villages WHERE town = %s", ("石角镇",)).fetchone()[0]
    print(json.dumps({"rows": [[r[0], str(r[1]), r[2].isoformat(sep=" ")] for r in rows], "counted": counted}, ensure_ascii=False))
"#;
    let result = crate::cli::python_json("psycopg", script, &[host, port, &analyst]);
    assert_eq!(
        result,
        serde_json::json!({"rows": [["YZ3", "0.00", "2021-03-31 23:59:59"]], "counted": 2})
    );
    // The statement as it ran, with its values, is in the audit log.
    let audited = stdout(&psql(
        &server,
        &auditor,
        &[
            "--csv",
            "-t",
            "-c",
            "SELECT target, outcome, \"rows\" FROM sys.audit_log WHERE action = 'query' AND target LIKE '%town = %' AND role = 'analyst'",
        ],
    ));
    assert!(
        audited.contains("石角镇") && audited.contains(",ok,1"),
        "{audited}"
    );
}

#[test]
fn adbc_fetches_arrow_over_flight_sql() {
    let county = county();
    let data = county.data();
    let analyst = token(&data, "analyst");
    let department = token(&data, "department:post");
    let server = Server::start(&data, &[]);
    let script = r#"
import json, sys
import adbc_driver_flightsql.dbapi as flight_sql
import adbc_driver_manager
address, token, department = sys.argv[1:4]
def connect(token):
    return flight_sql.connect("grpc://" + address, db_kwargs={"adbc.flight.sql.authorization_header": "Bearer " + token})
out = {}
with connect(token) as conn, conn.cursor() as cur:
    cur.execute("SELECT parcel_id, courier, fee_yuan, handed_in_at, delivered_at FROM logistics.parcels ORDER BY parcel_id")
    table = cur.fetch_arrow_table()
    out["schema"] = [f"{f.name}:{f.type}" for f in table.schema]
    out["ids"] = table.column("parcel_id").to_pylist()
    out["fees"] = [str(v) for v in table.column("fee_yuan").to_pylist()]
    out["couriers"] = table.column("courier").to_pylist()
    for sql in ["INSERT INTO admin.villages VALUES ('1', 'x', 'y', false)", "SELECT * FROM sys.audit_log"]:
        try:
            cur.execute(sql)
            cur.fetch_arrow_table()
            out[sql[:6]] = "ran"
        except adbc_driver_manager.Error as e:
            out[sql[:6]] = str(e)
try:
    with connect(department) as conn, conn.cursor() as cur:
        cur.execute("SELECT 1")
        cur.fetch_arrow_table()
        out["department"] = "ran"
except adbc_driver_manager.Error as e:
    out["department"] = str(e)
print(json.dumps(out, ensure_ascii=False))
"#;
    let result = crate::cli::python_json(
        "ADBC",
        script,
        &[&server.flight_addr, &analyst, &department],
    );
    assert_eq!(
        result["schema"],
        serde_json::json!([
            "parcel_id:string_view",
            "courier:string_view",
            "fee_yuan:decimal128(14, 2)",
            "handed_in_at:timestamp[us]",
            "delivered_at:timestamp[us]"
        ]),
        "{result}"
    );
    assert_eq!(result["ids"], serde_json::json!(["YZ1", "YZ2", "YZ3"]));
    assert_eq!(result["fees"], serde_json::json!(["5.20", "12.05", "0.00"]));
    assert_eq!(
        result["couriers"],
        serde_json::json!(["邮政", "顺丰", "邮政"])
    );
    let insert = result["INSERT"].as_str().unwrap();
    assert!(insert.contains("read-only"), "{insert}");
    let audit = result["SELECT"].as_str().unwrap();
    assert!(audit.contains("audit_log"), "{audit}");
    let refused = result["department"].as_str().unwrap();
    assert!(refused.contains("analyst, auditor or admin"), "{refused}");
}
