//! The programme through the real binary: KPIs on the sample county against values
//! computed here from the raw rows (not by the KPI SQL), the edge cases of their
//! definitions, time travel to an earlier scorecard, duty timeliness, milestones and
//! the self-evaluation read back from its XLSX.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use chrono::{NaiveDate, NaiveDateTime, Timelike};
use serde_json::Value;

use crate::cli::{failure, ok, sannong};
use crate::uploads::County;

/// The sample county, loaded once for the tests that only read it.
fn sample_county() -> &'static Path {
    static COUNTY: OnceLock<tempfile::TempDir> = OnceLock::new();
    COUNTY
        .get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            ok(sannong(&dir.path().join("data"), &["demo"]));
            dir
        })
        .path()
}

pub fn county_data() -> PathBuf {
    sample_county().join("data")
}

fn json_of(data: &Path, args: &[&str]) -> Value {
    let text = ok(sannong(data, args));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// Raw rows of a plain SELECT (no aggregation) as JSON objects.
fn rows(data: &Path, sql: &str) -> Vec<Value> {
    json_of(data, &["sql", sql, "--format", "json"])
        .as_array()
        .unwrap()
        .clone()
}

fn scorecard(data: &Path, extra: &[&str]) -> BTreeMap<String, Value> {
    let mut args = vec!["kpi", "--format", "json"];
    args.extend_from_slice(extra);
    json_of(data, &args)
        .as_array()
        .unwrap()
        .iter()
        .map(|k| (k["id"].as_str().unwrap().to_owned(), k.clone()))
        .collect()
}

fn text(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

fn number(v: &Value) -> f64 {
    v.as_f64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        .unwrap_or(f64::NAN)
}

fn time(v: &Value) -> Option<NaiveDateTime> {
    v.as_str()
        .and_then(|s| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").ok())
}

fn date(v: &Value) -> Option<NaiveDate> {
    v.as_str()
        .and_then(|s| NaiveDate::parse_from_str(&s[..10.min(s.len())], "%Y-%m-%d").ok())
}

fn year_of(t: Option<NaiveDateTime>) -> Option<i32> {
    use chrono::Datelike;
    t.map(|t| t.year())
}

fn growth(current: f64, baseline: f64) -> f64 {
    current / baseline - 1.0
}

fn meets(value: f64, op: &str, target: f64) -> bool {
    match op {
        ">" => value > target,
        ">=" => value >= target,
        "<=" => value <= target,
        "<" => value < target,
        "=" => (value - target).abs() < 1e-9,
        other => panic!("operator {other}"),
    }
}

fn mean(values: impl Iterator<Item = f64>) -> f64 {
    let (sum, n) = values.fold((0.0, 0.0), |(s, n), v| (s + v, n + 1.0));
    sum / n
}

/// Every KPI of the sample county for 2021, computed from the raw rows.
fn expected_kpis(data: &Path) -> BTreeMap<&'static str, f64> {
    use chrono::Datelike;
    let villages: HashSet<String> = rows(data, "SELECT village_code FROM admin.villages")
        .iter()
        .map(|r| text(&r["village_code"]).to_owned())
        .collect();
    let parcels = rows(
        data,
        "SELECT direction, village_code, handed_in_at, warehouse_at, delivered_at, fee_yuan, weight_kg FROM logistics.parcels",
    );
    let stations = rows(
        data,
        "SELECT village_code, status, scheduled_delivery, opened_on FROM logistics.stations",
    );
    let stats = rows(
        data,
        "SELECT month, transaction_value, rural_online_retail, agri_online_retail, online_tourism_retail, online_merchants FROM stats.ecommerce_monthly",
    );
    let sessions: HashMap<String, (String, NaiveDate)> = rows(
        data,
        "SELECT session_id, kind, start_date FROM training.sessions",
    )
    .iter()
    .map(|r| {
        (
            text(&r["session_id"]).to_owned(),
            (text(&r["kind"]).to_owned(), date(&r["start_date"]).unwrap()),
        )
    })
    .collect();
    let attendance = rows(data, "SELECT session_id FROM training.attendance");
    let fairs = rows(
        data,
        "SELECT held_on, trainee_participants FROM training.job_fairs",
    );
    let tests = rows(data, "SELECT received_at, result_at FROM quality.tests");
    let facilities = rows(data, "SELECT area_m2, added_on FROM programme.facilities");
    let prices = rows(data, "SELECT month, price_yuan FROM prices.reference");

    let in_window = |d: NaiveDate| {
        d >= NaiveDate::from_ymd_opt(2020, 7, 1).unwrap()
            && d <= NaiveDate::from_ymd_opt(2021, 12, 31).unwrap()
    };
    let handed_in = |p: &Value| time(&p["handed_in_at"]);
    let mut k = BTreeMap::new();

    let reached: HashSet<&str> = parcels
        .iter()
        .filter(|p| {
            text(&p["direction"]) == "下行" && year_of(time(&p["delivered_at"])) == Some(2021)
        })
        .map(|p| text(&p["village_code"]))
        .collect();
    let covered = villages
        .iter()
        .filter(|v| reached.contains(v.as_str()))
        .count();
    k.insert("T1", covered as f64 / villages.len() as f64);

    let active: Vec<&Value> = stations
        .iter()
        .filter(|s| text(&s["status"]) == "运营")
        .collect();
    let scheduled = active
        .iter()
        .filter(|s| s["scheduled_delivery"] == Value::Bool(true))
        .count();
    k.insert("T2", scheduled as f64 / active.len() as f64);
    let with_station: HashSet<&str> = active.iter().map(|s| text(&s["village_code"])).collect();
    k.insert(
        "T16",
        villages
            .iter()
            .filter(|v| with_station.contains(v.as_str()))
            .count() as f64
            / villages.len() as f64,
    );

    let of_year = |y: i32| {
        parcels
            .iter()
            .filter(move |p| year_of(handed_in(p)) == Some(y))
    };
    k.insert(
        "T3",
        growth(of_year(2021).count() as f64, of_year(2020).count() as f64),
    );
    k.insert(
        "T12",
        growth(
            mean(of_year(2021).map(|p| number(&p["fee_yuan"]))),
            mean(of_year(2020).map(|p| number(&p["fee_yuan"]))),
        ),
    );
    let morning_upstream: Vec<&Value> = of_year(2021)
        .filter(|p| text(&p["direction"]) == "上行" && handed_in(p).unwrap().hour() < 14)
        .collect();
    let same_day = morning_upstream
        .iter()
        .filter(|p| time(&p["warehouse_at"]).map(|t| t.date()) == handed_in(p).map(|t| t.date()))
        .count();
    k.insert("T11", same_day as f64 / morning_upstream.len() as f64);
    let light_fee = mean(
        of_year(2021)
            .filter(|p| text(&p["direction"]) == "上行" && number(&p["weight_kg"]) <= 1.0)
            .map(|p| number(&p["fee_yuan"])),
    );
    let price = mean(
        prices
            .iter()
            .filter(|p| date(&p["month"]).unwrap().year() == 2021)
            .map(|p| number(&p["price_yuan"])),
    );
    k.insert("T13", light_fee / price);

    let stat_sum = |column: &str, year: i32| -> f64 {
        stats
            .iter()
            .filter(|s| date(&s["month"]).unwrap().year() == year)
            .map(|s| number(&s[column]))
            .sum()
    };
    for (id, column) in [
        ("T4", "transaction_value"),
        ("T5", "rural_online_retail"),
        ("T6", "agri_online_retail"),
        ("T7", "online_tourism_retail"),
    ] {
        k.insert(id, growth(stat_sum(column, 2021), stat_sum(column, 2020)));
    }
    let latest = stats
        .iter()
        .filter_map(|s| date(&s["month"]))
        .filter(|d| d.year() == 2021)
        .max()
        .unwrap();
    let merchants = |month: NaiveDate| -> f64 {
        stats
            .iter()
            .filter(|s| date(&s["month"]) == Some(month))
            .map(|s| number(&s["online_merchants"]))
            .sum()
    };
    k.insert(
        "T8",
        growth(
            merchants(latest),
            merchants(latest.with_year(2020).unwrap()),
        ),
    );

    let trained = attendance
        .iter()
        .filter(|a| {
            let (kind, start) = &sessions[text(&a["session_id"])];
            ["基础", "增值", "basic", "value_added"].contains(&kind.as_str()) && in_window(*start)
        })
        .count();
    k.insert("T9", trained as f64);
    k.insert(
        "T10",
        fairs
            .iter()
            .filter(|f| in_window(date(&f["held_on"]).unwrap()))
            .map(|f| number(&f["trainee_participants"]))
            .sum(),
    );
    let tested: Vec<&Value> = tests
        .iter()
        .filter(|t| year_of(time(&t["received_at"])) == Some(2021))
        .collect();
    let within_a_day = tested
        .iter()
        .filter(|t| {
            time(&t["result_at"]).unwrap() - time(&t["received_at"]).unwrap()
                <= chrono::Duration::hours(24)
        })
        .count();
    k.insert("T14", within_a_day as f64 / tested.len() as f64);
    k.insert(
        "T15",
        facilities
            .iter()
            .filter(|f| in_window(date(&f["added_on"]).unwrap()))
            .map(|f| number(&f["area_m2"]))
            .sum(),
    );
    k
}

#[test]
fn kpis_of_the_sample_county_match_values_computed_from_the_raw_rows() {
    let data = county_data();
    let kpis = scorecard(&data, &[]);
    let expected = expected_kpis(&data);
    assert_eq!(kpis.len(), 16, "T1–T16");
    for (id, want) in &expected {
        let kpi = &kpis[*id];
        let got = kpi["value"]
            .as_f64()
            .unwrap_or_else(|| panic!("{id} has no value: {kpi}"));
        assert!(
            (got - want).abs() <= 1e-9 * want.abs().max(1.0),
            "{id}: the platform says {got}, the raw rows say {want}"
        );
        let met = meets(got, text(&kpi["op"]), number(&kpi["target"]));
        assert_eq!(
            text(&kpi["status"]),
            if met { "met" } else { "not_met" },
            "{id}: {kpi}"
        );
        for field in ["name_zh", "name_en", "unit", "department"] {
            assert!(!text(&kpi[field]).is_empty(), "{id} lacks {field}: {kpi}");
        }
    }
    let statuses: HashSet<&str> = kpis.values().map(|k| text(&k["status"])).collect();
    assert!(
        statuses.contains("met") && statuses.contains("not_met"),
        "the sample county meets some targets and misses others: {statuses:?}"
    );
    // Growths carry their baseline.
    assert!(kpis["T4"]["baseline"].as_f64().unwrap() > 0.0);
    // A year without a baseline year has no growth: no_data, a null value, never 0.
    let early = scorecard(&data, &["--year", "2020"]);
    for id in ["T3", "T4", "T5", "T12"] {
        assert_eq!(text(&early[id]["status"]), "no_data", "{id}: {}", early[id]);
        assert!(early[id]["value"].is_null(), "{id}: {}", early[id]);
    }
    // The table output and CSV carry the same scorecard.
    let table = ok(sannong(&data, &["kpi"]));
    assert!(
        table.contains("T16") && table.contains("行政村物流配送覆盖率"),
        "{table}"
    );
    let csv = ok(sannong(&data, &["kpi", "--format", "csv"]));
    assert_eq!(csv.lines().count(), 17, "{csv}");
}

#[test]
fn the_monthly_trend_ends_at_the_years_value() {
    let data = county_data();
    let kpis = scorecard(&data, &[]);
    let trend = json_of(&data, &["kpi", "--trend", "--format", "json"]);
    let points = trend.as_array().unwrap();
    assert_eq!(points.len(), 16 * 12, "twelve months of sixteen KPIs");
    for (id, kpi) in &kpis {
        let december = points
            .iter()
            .find(|p| p["id"] == id.as_str() && p["month"] == "2021-12")
            .unwrap();
        let (a, b) = (december["value"].as_f64(), kpi["value"].as_f64());
        assert_eq!(a.is_some(), b.is_some(), "{id}");
        assert!(
            (a.unwrap_or(0.0) - b.unwrap_or(0.0)).abs() < 1e-9,
            "{id}: {a:?} vs {b:?}"
        );
    }
    // Year to date: parcels through March are fewer than through December.
    let t9: Vec<f64> = points
        .iter()
        .filter(|p| p["id"] == "T9")
        .map(|p| p["value"].as_f64().unwrap_or(0.0))
        .collect();
    assert!(
        t9.windows(2).all(|w| w[0] <= w[1]),
        "a cumulative count never falls: {t9:?}"
    );
}

#[test]
fn the_town_breakdown_adds_up_to_the_county() {
    let data = county_data();
    let kpis = scorecard(&data, &[]);
    let towns = json_of(&data, &["kpi", "--by-town", "--format", "json"]);
    let towns = towns.as_array().unwrap();
    let of = |id: &str| -> Vec<&Value> { towns.iter().filter(|t| t["id"] == id).collect() };
    let names: HashSet<String> = rows(&data, "SELECT DISTINCT town FROM admin.villages")
        .iter()
        .map(|r| text(&r["town"]).to_owned())
        .collect();
    assert_eq!(names.len(), 6, "six towns");
    for id in ["T1", "T2", "T3", "T4", "T5", "T6", "T7", "T8", "T16"] {
        let rows = of(id);
        let seen: HashSet<String> = rows.iter().map(|r| text(&r["town"]).to_owned()).collect();
        assert_eq!(seen, names, "{id}: every town once");
        // Counts and sums of the towns add up to the county's.
        let county = &kpis[id];
        for field in ["numerator", "denominator", "current", "baseline"] {
            if let Some(total) = county[field].as_f64() {
                let sum: f64 = rows.iter().map(|r| r[field].as_f64().unwrap_or(0.0)).sum();
                assert!(
                    (sum - total).abs() <= 1e-6 * total.abs().max(1.0),
                    "{id} {field}: towns add to {sum}, the county has {total}"
                );
            }
        }
        for row in &rows {
            let expected = match row["value"].as_f64() {
                None => "no_data",
                Some(v) if meets(v, text(&county["op"]), number(&county["target"])) => "met",
                Some(_) => "not_met",
            };
            assert_eq!(text(&row["status"]), expected, "{id}: {row}");
        }
    }
    // Growth in a town is its own year over its own baseline.
    for row in of("T4") {
        let (c, b) = (number(&row["current"]), number(&row["baseline"]));
        assert!((number(&row["value"]) - growth(c, b)).abs() < 1e-9, "{row}");
    }
    assert!(of("T9").is_empty(), "T9 has no town breakdown");
}

#[test]
fn explain_shows_the_sql_and_the_submissions_it_aggregated() {
    let data = county_data();
    let explained = json_of(&data, &["kpi", "--explain", "T4", "--format", "json"]);
    let sql = text(&explained["sql"]);
    assert!(
        sql.contains("transaction_value") && sql.contains("2021-01-01"),
        "{sql}"
    );
    let lineage = explained["lineage"].as_array().unwrap();
    assert_eq!(lineage[0]["table"], "stats.ecommerce_monthly");
    let submissions = lineage[0]["submissions"].as_array().unwrap();
    assert_eq!(
        submissions.len(),
        24,
        "24 monthly statistics reports: {submissions:?}"
    );
    let used: u64 = submissions
        .iter()
        .map(|s| s["rows_used"].as_u64().unwrap())
        .sum();
    assert_eq!(used, rows_count(&data, "stats.ecommerce_monthly"));
    assert!(
        submissions
            .iter()
            .all(|s| text(&s["duty"]) == "ecommerce-stats")
    );
    let text_output = ok(sannong(&data, &["kpi", "--explain", "T1"]));
    assert!(
        text_output.contains("SQL:") && text_output.contains("logistics.parcels"),
        "{text_output}"
    );
    let err = failure(sannong(&data, &["kpi", "--explain", "T99"]));
    assert!(err.contains("no KPI 'T99'") && err.contains("T16"), "{err}");
    // Every KPI's SQL is visible to analysts.
    let defined = rows(&data, "SELECT kpi_id, sql FROM sys.kpis ORDER BY kpi_id");
    assert_eq!(defined.len(), 16);
    assert!(defined.iter().all(|k| text(&k["sql"]).contains("SELECT")));
}

fn rows_count(data: &Path, table: &str) -> u64 {
    rows(data, &format!("SELECT count(*) AS n FROM {table}"))[0]["n"]
        .as_u64()
        .unwrap()
}

#[test]
fn duties_milestones_and_the_programme_tables() {
    let data = county_data();
    let departments = rows(
        &data,
        "SELECT department, name_zh, name_en FROM sys.departments",
    );
    assert_eq!(departments.len(), 24);
    let duties = rows(&data, "SELECT duty_id, plugin_id FROM sys.duties");
    assert_eq!(duties.len(), 13);
    assert!(
        duties.iter().all(|d| !d["plugin_id"].is_null()),
        "{duties:?}"
    );
    // As of the end of 2021 in the sample county: most reports on time, some late, the
    // reference price of February 2020 never sent, December's reports not yet due.
    let periods = json_of(
        &data,
        &[
            "duties",
            "--as-of",
            "2021-12-31",
            "--periods",
            "--format",
            "json",
        ],
    );
    let periods = periods.as_array().unwrap();
    let count = |status: &str| periods.iter().filter(|p| p["status"] == status).count();
    assert!(count("on_time") > 150, "{}", count("on_time"));
    assert!(count("late") > 0);
    assert_eq!(count("missing"), 1 + count_late_snapshots_missing(periods));
    let feb = periods
        .iter()
        .find(|p| p["duty_id"] == "reference-prices" && p["period"] == "2020-02")
        .unwrap();
    assert_eq!(feb["status"], "missing");
    assert!(
        periods
            .iter()
            .filter(|p| p["period"] == "2021-12")
            .all(|p| p["status"] == "not_yet_due")
    );
    let rates = json_of(
        &data,
        &["duties", "--as-of", "2021-12-31", "--format", "json"],
    );
    let prices = rates
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["department"] == "prices")
        .unwrap()
        .clone();
    assert_eq!(prices["missing"], 1);
    let due = prices["due"].as_f64().unwrap();
    assert_eq!(prices["completeness"].as_f64().unwrap(), (due - 1.0) / due);
    // The same figures in SQL, as of today.
    let today = rows(
        &data,
        "SELECT count(*) AS n FROM sys.duty_status WHERE status = 'not_yet_due'",
    );
    assert_eq!(today[0]["n"], 0, "everything of 2020–2021 is due by now");

    let milestones = json_of(&data, &["milestones", "--format", "json"]);
    let milestones = milestones.as_array().unwrap();
    assert_eq!(milestones.len(), 13);
    let statuses: HashSet<&str> = milestones.iter().map(|m| text(&m["status"])).collect();
    assert!(statuses.contains("done_on_time"), "{statuses:?}");
    assert!(
        statuses
            .iter()
            .all(|s| ["done_on_time", "done_late", "overdue"].contains(s)),
        "by now every milestone is done or overdue: {statuses:?}"
    );
    let early = json_of(
        &data,
        &["milestones", "--as-of", "2020-06-30", "--format", "json"],
    );
    assert!(
        early
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["status"] == "not_reported"),
        "{early}"
    );
}

/// On-change duties the sample county reported late count as late, not missing.
fn count_late_snapshots_missing(periods: &[Value]) -> usize {
    periods
        .iter()
        .filter(|p| p["period"].is_null() && p["status"] == "missing")
        .count()
}

#[test]
fn the_self_evaluation_reads_back_from_its_workbook() {
    use calamine::{DataType, Reader, Xlsx, open_workbook};
    let data = county_data();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("自评.xlsx");
    let said = ok(sannong(
        &data,
        &["report", "--year", "2021", "--out", out.to_str().unwrap()],
    ));
    assert!(said.contains("targets met"), "{said}");
    let mut workbook: Xlsx<_> = open_workbook(&out).unwrap();
    assert_eq!(
        workbook.sheet_names(),
        ["目标完成情况", "里程碑", "资金使用", "培训", "上报情况"]
    );
    let targets = workbook.worksheet_range("目标完成情况").unwrap();
    let kpis = scorecard(&data, &[]);
    let header: Vec<String> = targets
        .rows()
        .nth(3)
        .unwrap()
        .iter()
        .map(|c| c.to_string())
        .collect();
    assert_eq!(header[0], "指标");
    let body: Vec<_> = targets.rows().skip(4).collect();
    assert_eq!(body.len(), 16);
    for row in body {
        let id = row[0].to_string();
        let value = row[5].as_f64().unwrap();
        assert!(
            (value - kpis[&id]["value"].as_f64().unwrap()).abs() < 1e-9,
            "{id}"
        );
        let status = row[7].to_string();
        let expected = match text(&kpis[&id]["status"]) {
            "met" => "达成",
            "not_met" => "未达成",
            _ => "无数据",
        };
        assert_eq!(status, expected, "{id}");
    }
    let funds = workbook.worksheet_range("资金使用").unwrap();
    let budget: f64 = funds.rows().skip(4).map(|r| r[2].as_f64().unwrap()).sum();
    let stored = rows(
        &data,
        "SELECT CAST(sum(amount_yuan) AS DOUBLE) AS s FROM finance.budget",
    )[0]["s"]
        .as_f64()
        .unwrap();
    assert!((budget - stored).abs() < 0.01, "{budget} vs {stored}");
    let reporting = workbook.worksheet_range("上报情况").unwrap();
    assert!(reporting.rows().skip(4).any(|r| r[0] == "post"));
    let md = dir.path().join("report.md");
    ok(sannong(&data, &["report", "--out", md.to_str().unwrap()]));
    let markdown = std::fs::read_to_string(&md).unwrap();
    assert!(
        markdown.starts_with("# 电子商务进农村综合示范县绩效自评（2021年）"),
        "{markdown}"
    );
    assert!(
        markdown.contains("## 里程碑") && markdown.contains("| T4 |"),
        "{markdown}"
    );
    let err = failure(sannong(&data, &["report", "--out", "report.pdf"]));
    assert!(err.contains(".xlsx or .md"), "{err}");
}

const PARCEL_HEADER: &str =
    "运单号,快递公司,方向,服务站编号,村代码,收寄时间,到达县仓时间,妥投时间,资费(元),重量(kg)\n";

#[test]
fn kpi_definitions_hold_at_their_edges() {
    let county = County::new();
    let data = county.data();
    // No parcels at all: every parcel KPI is no_data, and the scorecard still prints.
    let empty = scorecard(&data, &[]);
    for id in ["T1", "T3", "T11", "T12"] {
        assert_eq!(text(&empty[id]["status"]), "no_data", "{id}: {}", empty[id]);
        assert!(empty[id]["value"].is_null());
    }
    // 2021-03: two upstream parcels handed in before 14:00 (one warehoused the same
    // day, one the next), one at exactly 14:00:00 (not before 14:00, so not counted),
    // and a downstream parcel delivered on 2022-01-01 (next year: does not count).
    let march = format!(
        "{PARCEL_HEADER}\
         A1,邮政,上行,ST001,441821101001,2021-03-05 13:59:59,2021-03-05 18:00:00,,5.00,1\n\
         A2,邮政,上行,ST001,441821101001,2021-03-05 09:00:00,2021-03-06 08:00:00,,5.00,1\n\
         A3,邮政,上行,ST001,441821101001,2021-03-05 14:00:00,2021-03-06 09:00:00,,5.00,1\n"
    );
    county.accept("parcels", Some("2021-03"), "p-03.csv", march.as_bytes());
    let december = format!(
        "{PARCEL_HEADER}\
         D1,邮政,下行,ST001,441821101001,2021-12-31 10:00:00,,2022-01-01 10:00:00,4.00,2\n"
    );
    county.accept("parcels", Some("2021-12"), "p-12.csv", december.as_bytes());
    let kpis = scorecard(&data, &[]);
    assert_eq!(kpis["T11"]["value"].as_f64(), Some(0.5), "{}", kpis["T11"]);
    assert_eq!(kpis["T11"]["denominator"].as_f64(), Some(2.0));
    assert_eq!(
        text(&kpis["T1"]["status"]),
        "no_data",
        "delivered next year: {}",
        kpis["T1"]
    );
    assert_eq!(
        text(&kpis["T3"]["status"]),
        "no_data",
        "no 2020 baseline: {}",
        kpis["T3"]
    );
    // Quick tests: exactly 24 h is within 24 h; one second more is not.
    let tests = "样品编号,产品,检测项目,收样时间,出结果时间,是否合格\n\
                 Q1,荔枝,农药残留,2021-06-01 08:00:00,2021-06-02 08:00:00,是\n\
                 Q2,荔枝,农药残留,2021-06-01 08:00:00,2021-06-02 08:00:01,是\n\
                 Q3,荔枝,糖度,2021-06-01 08:00:00,2021-06-01 09:00:00,是\n";
    county.accept("quick-tests", Some("2021-06"), "t.csv", tests.as_bytes());
    let kpis = scorecard(&data, &[]);
    assert_eq!(
        kpis["T14"]["numerator"].as_f64(),
        Some(2.0),
        "{}",
        kpis["T14"]
    );
    assert_eq!(kpis["T14"]["denominator"].as_f64(), Some(3.0));
    assert_eq!(text(&kpis["T14"]["status"]), "not_met");
}

#[test]
fn an_earlier_scorecard_is_reproduced_after_a_correction() {
    let county = County::new();
    let data = county.data();
    let tests = |result: &str| {
        format!(
            "样品编号,产品,检测项目,收样时间,出结果时间,是否合格\n\
             Q1,荔枝,农药残留,2021-06-01 08:00:00,{result},是\n\
             Q2,荔枝,糖度,2021-06-01 08:00:00,2021-06-01 09:00:00,是\n"
        )
    };
    county.accept(
        "quick-tests",
        Some("2021-06"),
        "t1.csv",
        tests("2021-06-03 08:00:00").as_bytes(),
    );
    let before = scorecard(&data, &[]);
    assert_eq!(before["T14"]["value"].as_f64(), Some(0.5));
    // The moment the first scorecard was read, then the correction.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let then = beijing_now();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    county.accept(
        "quick-tests",
        Some("2021-06"),
        "t2.csv",
        tests("2021-06-01 20:00:00").as_bytes(),
    );
    let after = scorecard(&data, &[]);
    assert_eq!(
        after["T14"]["value"].as_f64(),
        Some(1.0),
        "the correction counts now"
    );
    let reproduced = scorecard(&data, &["--as-of", &then]);
    assert_eq!(
        reproduced, before,
        "the scorecard as of {then} is the one read then"
    );
    // Before the table existed, the KPI has no data (not an error).
    let yesterday = (chrono::Utc::now().date_naive() - chrono::Duration::days(1)).to_string();
    let old = scorecard(&data, &["--as-of", &yesterday]);
    assert_eq!(text(&old["T14"]["status"]), "no_data", "{}", old["T14"]);
    let bad = sannong(&data, &["kpi", "--as-of", "2021-02-30"]);
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("'2021-02-30' is not a moment"), "{err}");
}

fn beijing_now() -> String {
    (chrono::Utc::now() + chrono::Duration::hours(8))
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

#[test]
fn a_broken_programme_is_refused_at_start_naming_file_and_id() {
    let data = county_data();
    let dir = tempfile::tempdir().unwrap();
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../catalog/programme");
    // The built-in files, with `from` replaced by `to` once in `edited`.
    let copy = |edited: &str, from: &str, to: &str| {
        for file in [
            "departments.toml",
            "duties.toml",
            "kpis.toml",
            "schedule.toml",
        ] {
            let text = std::fs::read_to_string(source.join(file)).unwrap();
            let text = if file == edited {
                text.replacen(from, to, 1)
            } else {
                text
            };
            std::fs::write(dir.path().join(file), text).unwrap();
        }
        dir.path().to_str().unwrap().to_owned()
    };
    // Unchanged, the files give the built-in scorecard.
    let same = copy("", "", "");
    let kpis = scorecard(&data, &["--programme", &same]);
    let built_in = scorecard(&data, &[]);
    for (id, kpi) in &kpis {
        assert_eq!(kpi["status"], built_in[id]["status"], "{id}");
        let (a, b) = (number(&kpi["value"]), number(&built_in[id]["value"]));
        assert!((a - b).abs() < 1e-9, "{id}: {a} vs {b}");
    }
    // A KPI whose SQL names a column that does not exist.
    let typo = copy(
        "kpis.toml",
        "sum(transaction_value)",
        "sum(transaction_valu)",
    );
    let err = failure(sannong(&data, &["--programme", &typo, "kpi"]));
    assert!(
        err.contains("kpis.toml") && err.contains("KPI 'T4' does not plan"),
        "{err}"
    );
    // A duty owed by a department that is not in departments.toml.
    let unknown = copy(
        "duties.toml",
        "department = \"post\"",
        "department = \"courier\"",
    );
    let err = failure(sannong(&data, &["--programme", &unknown, "tables"]));
    assert!(
        err.contains("duties.toml") && err.contains("unknown department 'courier'"),
        "{err}"
    );
    // Two milestones with one id.
    let twice = copy("schedule.toml", "id = \"M2\"", "id = \"M1\"");
    let err = failure(sannong(&data, &["--programme", &twice, "milestones"]));
    assert!(
        err.contains("schedule.toml") && err.contains("'M1' is defined twice"),
        "{err}"
    );
}
