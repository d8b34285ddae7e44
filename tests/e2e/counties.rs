//! Counties as tenants: one deployment serving several counties, each under its own
//! prefix with its own plugins, programme files, tokens and audit log; a county's
//! token opens its county only; provincial analysts query every county side by side
//! (`all_counties.*`, and each county as a catalog) over HTTP and the PostgreSQL
//! protocol. Run on a local directory and on S3 (moto).

use std::path::Path;
use std::process::Command;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::cli::{failure, ok};
use crate::connect::{psql, stdout};
use crate::s3::{Moto, count, parcels, upload};
use crate::server::Server;
use crate::uploads::{STATIONS, VILLAGES};

/// Runs SQL over HTTP and returns (status, body).
fn query(server: &Server, token: &str, sql: &str) -> (StatusCode, Value) {
    let response = server
        .post("/api/query", Some(token))
        .json(&json!({ "sql": sql }))
        .send()
        .unwrap();
    (response.status(), response.json().unwrap())
}

fn rows(server: &Server, token: &str, sql: &str) -> Value {
    let (status, body) = query(server, token, sql);
    assert_eq!(status, StatusCode::OK, "{sql}: {body}");
    body
}

/// The whole story on the deployment `binary()` opens; `work` holds files and logs.
fn counties_share_one_deployment_apart(binary: &dyn Fn() -> Command, work: &Path) {
    let run = |args: &[&str]| ok(binary().args(args).output().unwrap());
    let fails = |args: &[&str]| failure(binary().args(args).output().unwrap());
    let file = |name: &str, text: &str| {
        let path = work.join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_owned()
    };

    // Fogang keeps its own programme files: a stricter logistics target.
    let programme = work.join("fogang-programme");
    std::fs::create_dir_all(&programme).unwrap();
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../catalog/programme");
    for name in [
        "departments.toml",
        "duties.toml",
        "kpis.toml",
        "schedule.toml",
    ] {
        let mut text = std::fs::read_to_string(source.join(name)).unwrap();
        if name == "kpis.toml" {
            text = text.replacen("target = 0.85", "target = 0.9", 1);
        }
        std::fs::write(programme.join(name), text).unwrap();
    }
    run(&[
        "county",
        "add",
        "xinfeng",
        "--name-zh",
        "新丰县",
        "--name-en",
        "Xinfeng County",
    ]);
    run(&[
        "county",
        "add",
        "fogang",
        "--name-zh",
        "佛冈县",
        "--name-en",
        "Fogang County",
        "--with-programme",
        programme.to_str().unwrap(),
    ]);
    let listed = run(&["county", "list", "--format", "csv"]);
    assert!(
        listed.contains("fogang,佛冈县,Fogang County") && listed.contains("xinfeng,新丰县"),
        "{listed}"
    );

    // Mistakes are named, and change nothing.
    for (id, says) in [
        ("xinfeng", "exists"),
        ("Xin-Feng", "lower-case letters and digits"),
    ] {
        let refused = fails(&["county", "add", id, "--name-zh", "x", "--name-en", "x"]);
        assert!(refused.contains(says), "{refused}");
    }
    let villages = file("villages.csv", VILLAGES);
    let no_county = fails(&["upload", "--duty", "villages", &villages]);
    assert!(
        no_county.contains("several counties") && no_county.contains("fogang, xinfeng"),
        "{no_county}"
    );
    let unknown = fails(&["--county", "nosuch", "tables"]);
    assert!(
        unknown.contains("no county 'nosuch'") && unknown.contains("fogang, xinfeng"),
        "{unknown}"
    );
    let department_at_root = fails(&[
        "token",
        "create",
        "--role",
        "department:post",
        "--name",
        "x",
    ]);
    assert!(
        department_at_root.contains("--county"),
        "{department_at_root}"
    );

    // Each county: its plugins and its villages and stations.
    let stations = file("stations.csv", STATIONS);
    for county in ["xinfeng", "fogang"] {
        run(&["--county", county, "plugin", "install", "--builtin"]);
        run(&[
            "--county", county, "upload", "--duty", "villages", &villages,
        ]);
        run(&[
            "--county", county, "upload", "--duty", "stations", &stations,
        ]);
    }
    let xinfeng_parcels = file("xinfeng-parcels.csv", &parcels("XF", "2021-03", 50));
    run(&[
        "--county",
        "xinfeng",
        "upload",
        "--duty",
        "parcels",
        "--period",
        "2021-03",
        &xinfeng_parcels,
    ]);

    let token = |county: Option<&str>, role: &str| -> String {
        let mut args = Vec::new();
        if let Some(county) = county {
            args.extend(["--county", county]);
        }
        args.extend(["token", "create", "--role", role, "--name"]);
        let name = format!("{} {role}", county.unwrap_or("province"));
        args.push(&name);
        run(&args).lines().last().unwrap().trim().to_owned()
    };
    let xinfeng_analyst = token(Some("xinfeng"), "analyst");
    let fogang_post = token(Some("fogang"), "department:post");
    let fogang_analyst = token(Some("fogang"), "analyst");
    let province = token(None, "analyst");
    assert!(
        xinfeng_analyst.starts_with("sn_xinfeng."),
        "{xinfeng_analyst}"
    );
    assert!(fogang_post.starts_with("sn_fogang."), "{fogang_post}");
    assert!(
        !province.split('_').nth(1).unwrap().contains('.'),
        "{province}"
    );

    // One server for the whole deployment.
    let server = Server::spawn(binary(), &work.join("server.log"), &[]);
    let outcome = upload(
        &server,
        &fogang_post,
        "2021-03",
        parcels("FG", "2021-03", 20),
    );
    assert_eq!(outcome["status"], "accepted", "{outcome}");
    let (status, me) = {
        let response = server.get("/api/me", Some(&fogang_post)).send().unwrap();
        (response.status(), response.json::<Value>().unwrap())
    };
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["county"], "fogang", "{me}");

    // Each county's analysts see their county only.
    assert_eq!(count(&server, &xinfeng_analyst), 50);
    assert_eq!(count(&server, &fogang_analyst), 20);
    for sql in [
        "SELECT count(*) FROM all_counties.logistics_parcels",
        "SELECT count(*) FROM fogang.logistics.parcels",
    ] {
        let (status, body) = query(&server, &xinfeng_analyst, sql);
        assert_eq!(status, StatusCode::BAD_REQUEST, "{sql}: {body}");
    }
    // A county's token cannot be turned into another county's.
    let forged = xinfeng_analyst.replacen("sn_xinfeng.", "sn_fogang.", 1);
    let (status, _) = query(&server, &forged, "SELECT 1");
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = query(&server, &fogang_post, "SELECT 1");
    assert_eq!(status, StatusCode::FORBIDDEN);

    // The province sees every county, side by side and one by one.
    let by_county = rows(
        &server,
        &province,
        "SELECT county, count(*) AS n, sum(fee_yuan) AS fees FROM all_counties.logistics_parcels GROUP BY county ORDER BY county",
    );
    assert_eq!(
        by_county,
        json!([
            { "county": "fogang", "n": 20, "fees": 100.0 },
            { "county": "xinfeng", "n": 50, "fees": 250.0 },
        ])
    );
    let one = rows(
        &server,
        &province,
        "SELECT count(*) AS n FROM fogang.logistics.parcels",
    );
    assert_eq!(one, json!([{ "n": 20 }]));
    let filtered = rows(
        &server,
        &province,
        "SELECT county, count(*) AS n FROM all_counties.logistics_parcels WHERE county = 'xinfeng' AND parcel_id LIKE 'XF0000%' GROUP BY county",
    );
    assert_eq!(filtered, json!([{ "county": "xinfeng", "n": 10 }]));
    let targets = rows(
        &server,
        &province,
        "SELECT county, target FROM all_counties.sys_kpis WHERE kpi_id = 'T1' ORDER BY county",
    );
    assert_eq!(
        targets,
        json!([
            { "county": "fogang", "target": 0.9 },
            { "county": "xinfeng", "target": 0.85 },
        ])
    );
    let (status, body) = query(
        &server,
        &province,
        "SELECT * FROM all_counties.sys_audit_log",
    );
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "analysts do not read audit logs: {body}"
    );

    // Through the analysts' own tools too.
    let out = stdout(&psql(
        &server,
        &province,
        &[
            "-At",
            "-c",
            "SELECT county, count(*) FROM all_counties.logistics_parcels GROUP BY county ORDER BY county",
        ],
    ));
    assert_eq!(out, "fogang|20\nxinfeng|50\n");
    let out = stdout(&psql(
        &server,
        &xinfeng_analyst,
        &["-At", "-c", "SELECT count(*) FROM logistics.parcels"],
    ));
    assert_eq!(out, "50\n");
    drop(server);

    // Each county's audit log holds its own events; the deployment's holds the counties.
    let uploads_by = |county: &str| {
        run(&[
            "--county",
            county,
            "sql",
            "--format",
            "csv",
            "SELECT count(*) AS n FROM sys.audit_log WHERE action = 'upload' AND actor = 'fogang department:post'",
        ])
    };
    assert_eq!(uploads_by("fogang"), "n\n1\n");
    assert_eq!(uploads_by("xinfeng"), "n\n0\n");
    for county in ["xinfeng", "fogang"] {
        let verified = run(&["--county", county, "audit", "verify"]);
        assert!(verified.contains("verified"), "{verified}");
    }
    let added = run(&[
        "sql",
        "--format",
        "csv",
        "SELECT target, outcome FROM sys.audit_log WHERE action = 'county.add' ORDER BY target, outcome",
    ]);
    assert_eq!(
        added,
        "target,outcome\nXin-Feng,failed\nfogang,ok\nxinfeng,failed\nxinfeng,ok\n"
    );
}

#[test]
fn counties_share_a_local_deployment_apart() {
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("province");
    counties_share_one_deployment_apart(&|| crate::cli::command(&data), work.path());
}

#[test]
fn counties_share_a_deployment_on_s3_apart() {
    let moto = Moto::start();
    let work = tempfile::tempdir().unwrap();
    counties_share_one_deployment_apart(&|| moto.sannong_at("s3://sannong/province"), work.path());
}
