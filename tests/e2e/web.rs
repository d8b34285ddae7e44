//! The web pages in a real browser: Debian's chromium driven by playwright-core
//! (`tests/web/browser.mjs`) against the real server on a copy of the sample county —
//! sign-in per role, the scorecard against `sannong kpi`, a good and a bad upload, the
//! problems and template downloads, the SQL console, the audit log, the English switch
//! and the layout at 1366×768 and 375×812. Screenshots go to
//! `target/tmp/web-screenshots/` (look at them after a change to the pages).

use std::path::Path;
use std::process::Command;

use crate::cli::{ok, sannong};
use crate::server::{Server, token};

#[test]
fn the_pages_work_for_every_role_in_a_real_browser() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // A copy: the browser uploads, and the KPI tests read the original.
    let copied = Command::new("cp")
        .arg("-r")
        .arg(crate::kpis::county_data())
        .arg(&data)
        .status()
        .unwrap();
    assert!(copied.success());
    let tokens = serde_json::json!({
        "admin": token(&data, "admin"),
        "analyst": token(&data, "analyst"),
        "auditor": token(&data, "auditor"),
        "department": token(&data, "department:prices"),
        "department_id": "prices",
    });
    let tokens_file = dir.path().join("tokens.json");
    std::fs::write(&tokens_file, tokens.to_string()).unwrap();
    let kpis_file = dir.path().join("kpis.json");
    std::fs::write(
        &kpis_file,
        ok(sannong(
            &data,
            &["kpi", "--year", "2021", "--format", "json"],
        )),
    )
    .unwrap();
    let artifacts = Path::new(env!("CARGO_TARGET_TMPDIR")).join("web-screenshots");
    let server = Server::start(&data, &[]);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/web/browser.mjs");
    let output = Command::new("node")
        .arg(&script)
        .env("SANNONG_URL", &server.url)
        .env("SANNONG_TOKENS", &tokens_file)
        .env("SANNONG_KPIS", &kpis_file)
        .env("SANNONG_ARTIFACTS", &artifacts)
        .output()
        .expect("node is installed (scripts/test.sh installs the browser test's packages)");
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the browser test failed (screenshots in {}):\n{said}\n{}",
        artifacts.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(said.contains(" passed, 0 failed"), "{said}");
    for page in ["dashboard", "upload", "sql", "tables", "audit"] {
        for width in [1366, 375] {
            let shot = artifacts.join(format!("{page}-{width}.png"));
            assert!(shot.exists(), "no screenshot {}", shot.display());
        }
    }
}
