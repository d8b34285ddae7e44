//! Uploads through the real binary: every format and encoding departments send, every
//! kind of bad input (each refused whole, nothing written), resubmission, correction,
//! dry runs and the record of refusals.

use std::path::PathBuf;
use std::sync::Arc;

use arrow::array::{BooleanArray, RecordBatch, StringArray, TimestampSecondArray};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use serde_json::Value;

use crate::cli::{ok, sannong};

/// A data directory with the built-in plugins, villages and stations.
pub struct County {
    pub dir: tempfile::TempDir,
}

impl County {
    pub fn new() -> County {
        let county = County {
            dir: tempfile::tempdir().unwrap(),
        };
        ok(county.run(&["plugin", "install", "--builtin"]));
        county.accept("villages", None, "villages.csv", VILLAGES.as_bytes());
        county.accept("stations", None, "stations.csv", STATIONS.as_bytes());
        county
    }

    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn run(&self, args: &[&str]) -> std::process::Output {
        sannong(&self.data(), args)
    }

    pub fn file(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    /// Uploads and returns (exit success, outcome JSON).
    pub fn upload(
        &self,
        duty: &str,
        period: Option<&str>,
        name: &str,
        bytes: &[u8],
        extra: &[&str],
    ) -> (bool, Value) {
        let path = self.file(name, bytes);
        let mut args = vec!["upload", "--json", "--duty", duty];
        if let Some(period) = period {
            args.extend(["--period", period]);
        }
        args.extend(extra);
        let path = path.to_str().unwrap().to_owned();
        args.push(&path);
        let output = self.run(&args);
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let outcome = serde_json::from_str(&stdout).unwrap_or_else(|e| {
            panic!(
                "not an outcome ({e}): {stdout}\n{}",
                String::from_utf8_lossy(&output.stderr)
            )
        });
        (output.status.success(), outcome)
    }

    pub fn accept(&self, duty: &str, period: Option<&str>, name: &str, bytes: &[u8]) -> Value {
        let (success, outcome) = self.upload(duty, period, name, bytes, &[]);
        assert!(success && outcome["status"] == "accepted", "{outcome:#}");
        outcome
    }

    /// Uploads a file that must be refused; returns all problems as text.
    pub fn refuse(
        &self,
        duty: &str,
        period: Option<&str>,
        name: &str,
        bytes: &[u8],
        extra: &[&str],
    ) -> String {
        let table = self.version_of(&table_of(duty));
        let (success, outcome) = self.upload(duty, period, name, bytes, extra);
        assert!(!success, "a refusal exits non-zero: {outcome:#}");
        assert_eq!(outcome["status"], "refused", "{outcome:#}");
        assert!(outcome["errors"].as_u64().unwrap() > 0);
        assert_eq!(
            self.version_of(&table_of(duty)),
            table,
            "nothing was written"
        );
        outcome["problems"].to_string()
    }

    pub fn sql(&self, query: &str) -> Value {
        serde_json::from_str(&ok(self.run(&["sql", query, "--format", "json"]))).unwrap()
    }

    pub fn csv(&self, query: &str) -> String {
        ok(self.run(&["sql", query, "--format", "csv"]))
    }

    fn version_of(&self, table: &str) -> Option<i64> {
        self.sql(&format!(
            "SELECT version FROM sys.tables WHERE table_name = '{table}'"
        ))[0]["version"]
            .as_i64()
    }
}

fn table_of(duty: &str) -> String {
    match duty {
        "quick-tests" => "quality.tests",
        "stations" => "logistics.stations",
        "villages" => "admin.villages",
        "parcels" => "logistics.parcels",
        "budget" => "finance.budget",
        "facilities" => "programme.facilities",
        "reference-prices" => "prices.reference",
        other => other,
    }
    .to_owned()
}

pub const VILLAGES: &str = "村代码,行政村,镇,是否贫困村\n441821101001,新坑村,石角镇,否\n441821101002,联田村,石角镇,是\n441821102001,和塘村,汤塘镇,否\n";
pub const STATIONS: &str = "服务站编号,服务站名称,村代码,运营方,定时定点配送,状态,开通日期\nST001,新坑站,441821101001,邮政,是,运营,2020-01-05\nST002,和塘站,441821102001,供销社,否,运营,2020/3/1\n";

const TESTS_CSV: &str = "样品编号,产品,检测项目,收样时间,出结果时间,是否合格\r\nKJ001,荔枝,农药残留,2021-06-01 09:00:00,2021-06-01 15:30:00,是\r\nKJ002,\"龙眼, 石硖\",糖度,2021/6/2 10:15,2021/6/3 10:15,否\r\nKJ003,青梅,其他,2021年6月3日 08:00,,\r\n";
const TESTS_TSV: &str = "样品编号\t产品\t检测项目\t收样时间\t出结果时间\t是否合格\nKJ001\t荔枝\t农药残留\t2021-06-01 09:00:00\t2021-06-01 15:30:00\t1\nKJ002\t龙眼, 石硖\t糖度\t2021-06-02 10:15\t2021-06-03 10:15\t0\nKJ003\t青梅\t其他\t2021-06-03 08:00\t\t\n";
const TESTS_STORED: &str = "sample_id,product,received_at,result_at,passed\nKJ001,荔枝,2021-06-01 09:00:00,2021-06-01 15:30:00,true\nKJ002,\"龙眼, 石硖\",2021-06-02 10:15:00,2021-06-03 10:15:00,false\nKJ003,青梅,2021-06-03 08:00:00,,\n";
const STORED_QUERY: &str = "SELECT sample_id, product, received_at, result_at, passed FROM quality.tests ORDER BY sample_id";

fn tests_batch() -> RecordBatch {
    let ts = |s: &str| {
        chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S")
            .unwrap()
            .and_utc()
            .timestamp()
    };
    let schema = Arc::new(Schema::new(vec![
        Field::new("sample_id", DataType::Utf8, false),
        Field::new("product", DataType::Utf8, false),
        Field::new("test", DataType::Utf8, false),
        Field::new(
            "received_at",
            DataType::Timestamp(TimeUnit::Second, None),
            false,
        ),
        Field::new(
            "result_at",
            DataType::Timestamp(TimeUnit::Second, None),
            true,
        ),
        Field::new("passed", DataType::Boolean, true),
    ]));
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from(vec!["KJ001", "KJ002", "KJ003"])),
            Arc::new(StringArray::from(vec!["荔枝", "龙眼, 石硖", "青梅"])),
            Arc::new(StringArray::from(vec!["农药残留", "糖度", "其他"])),
            Arc::new(TimestampSecondArray::from(vec![
                ts("2021-06-01 09:00:00"),
                ts("2021-06-02 10:15:00"),
                ts("2021-06-03 08:00:00"),
            ])),
            Arc::new(TimestampSecondArray::from(vec![
                Some(ts("2021-06-01 15:30:00")),
                Some(ts("2021-06-03 10:15:00")),
                None,
            ])),
            Arc::new(BooleanArray::from(vec![Some(true), Some(false), None])),
        ],
    )
    .unwrap()
}

fn xlsx(rows: &[Vec<&str>], dates_as_excel: bool) -> Vec<u8> {
    let mut workbook = rust_xlsxwriter::Workbook::new();
    let sheet = workbook.add_worksheet();
    let time = rust_xlsxwriter::Format::new().set_num_format("yyyy-mm-dd hh:mm");
    for (r, row) in rows.iter().enumerate() {
        for (c, cell) in row.iter().enumerate() {
            let (r, c) = (r as u32, c as u16);
            let parsed = chrono::NaiveDateTime::parse_from_str(cell, "%Y-%m-%d %H:%M:%S");
            match parsed {
                Ok(t) if dates_as_excel => {
                    use chrono::{Datelike, Timelike};
                    let dt = rust_xlsxwriter::ExcelDateTime::from_ymd(
                        t.year() as u16,
                        t.month() as u8,
                        t.day() as u8,
                    )
                    .unwrap()
                    .and_hms(t.hour() as u16, t.minute() as u8, 0)
                    .unwrap();
                    sheet.write_datetime_with_format(r, c, &dt, &time).unwrap();
                }
                _ if cell.is_empty() => {}
                _ => {
                    sheet.write_string(r, c, *cell).unwrap();
                }
            }
        }
    }
    workbook.save_to_buffer().unwrap()
}

fn tests_rows() -> Vec<Vec<&'static str>> {
    vec![
        vec![
            "样品编号",
            "产品",
            "检测项目",
            "收样时间",
            "出结果时间",
            "是否合格",
        ],
        vec![
            "KJ001",
            "荔枝",
            "农药残留",
            "2021-06-01 09:00:00",
            "2021-06-01 15:30:00",
            "是",
        ],
        vec![
            "KJ002",
            "龙眼, 石硖",
            "糖度",
            "2021-06-02 10:15:00",
            "2021-06-03 10:15:00",
            "否",
        ],
        vec!["KJ003", "青梅", "其他", "2021-06-03 08:00:00", "", ""],
    ]
}

fn gbk(text: &str) -> Vec<u8> {
    encoding_rs::GBK.encode(text).0.into_owned()
}

#[test]
fn every_format_and_encoding_stores_the_same_rows() {
    let county = County::new();
    let json = r#"[{"sample_id":"KJ001","product":"荔枝","test":"农药残留","received_at":"2021-06-01 09:00:00","result_at":"2021-06-01 15:30:00","passed":true},
{"sample_id":"KJ002","product":"龙眼, 石硖","test":"糖度","received_at":"2021/6/2 10:15","result_at":"2021/6/3 10:15","passed":false},
{"sample_id":"KJ003","product":"青梅","test":"其他","received_at":"2021年6月3日 08:00","result_at":null}]"#;
    let ndjson = json
        .trim_start_matches('[')
        .trim_end_matches(']')
        .replace("},\n{", "}\n{");
    let mut parquet = Vec::new();
    {
        let batch = tests_batch();
        let mut writer =
            parquet::arrow::ArrowWriter::try_new(&mut parquet, batch.schema(), None).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
    }
    let mut ipc = Vec::new();
    {
        let batch = tests_batch();
        let mut writer =
            arrow::ipc::writer::FileWriter::try_new(&mut ipc, &batch.schema()).unwrap();
        writer.write(&batch).unwrap();
        writer.finish().unwrap();
    }
    let english_reordered = "result_at,sample_id , test,received_at,product,passed\n2021-06-01 15:30:00,KJ001,农药残留,2021-06-01 09:00:00,荔枝,Y\n2021-06-03 10:15:00,KJ002,糖度,2021-06-02 10:15:00,\"龙眼, 石硖\",N\n,KJ003,其他,2021-06-03 08:00:00,青梅,\n";
    let cases: Vec<(&str, Vec<u8>, Vec<&str>)> = vec![
        ("utf8.csv", TESTS_CSV.as_bytes().to_vec(), vec![]),
        (
            "bom.csv",
            [b"\xEF\xBB\xBF".as_slice(), TESTS_CSV.as_bytes()].concat(),
            vec![],
        ),
        ("gbk-detected.csv", gbk(TESTS_CSV), vec![]),
        (
            "gbk-declared.csv",
            gbk(&TESTS_CSV.replace("\r\n", "\n")),
            vec!["--encoding", "gbk"],
        ),
        ("tabs.tsv", TESTS_TSV.as_bytes().to_vec(), vec![]),
        (
            "english-keys-any-order.csv",
            english_reordered.as_bytes().to_vec(),
            vec![],
        ),
        ("excel-dates.xlsx", xlsx(&tests_rows(), true), vec![]),
        ("text-dates.xlsx", xlsx(&tests_rows(), false), vec![]),
        ("array.json", json.as_bytes().to_vec(), vec![]),
        ("lines.ndjson", ndjson.into_bytes(), vec![]),
        ("integrator.parquet", parquet, vec![]),
        ("integrator.arrow", ipc, vec![]),
    ];
    for (name, bytes, extra) in cases {
        let (success, outcome) =
            county.upload("quick-tests", Some("2021-06"), name, &bytes, &extra);
        assert!(success, "{name}: {outcome:#}");
        assert_eq!(outcome["status"], "accepted", "{name}: {outcome:#}");
        assert_eq!(outcome["rows_stored"], 3, "{name}");
        assert_eq!(county.csv(STORED_QUERY), TESTS_STORED, "{name}");
    }
}

#[test]
fn bad_files_are_refused_whole_naming_the_problem() {
    let county = County::new();
    county.accept(
        "quick-tests",
        Some("2021-06"),
        "first.csv",
        TESTS_CSV.as_bytes(),
    );
    let header = "样品编号,产品,检测项目,收样时间,出结果时间,是否合格\n";
    let row = |id: &str, received: &str| format!("{id},荔枝,农药残留,{received},,\n");
    let zip_bomb = {
        // A valid workbook whose one sheet unpacks to far more than it weighs.
        let rows: Vec<Vec<String>> =
            std::iter::once(tests_rows()[0].iter().map(|s| s.to_string()).collect())
                .chain((0..20_000).map(|i| {
                    vec![
                        format!("KJ{i:06}"),
                        "荔枝".repeat(50),
                        "农药残留".into(),
                        "2021-06-01 09:00:00".into(),
                        String::new(),
                        String::new(),
                    ]
                }))
                .collect();
        let rows: Vec<Vec<&str>> = rows
            .iter()
            .map(|r| r.iter().map(String::as_str).collect())
            .collect();
        xlsx(&rows, false)
    };
    let cases: Vec<(&str, Vec<u8>, Vec<&str>, &str)> = vec![
        ("truncated.csv", format!("{header}KJ009,\"荔枝,农药残留,2021-06-01 09:00:00,,\n").into_bytes(), vec![], "fields but the header has"),
        ("ragged.csv", format!("{header}KJ009,荔枝,农药残留,2021-06-01 09:00:00\n").into_bytes(), vec![], "row 2 has 4 fields but the header has 6"),
        ("garbage.csv", (0..4096u32).map(|i| (i * 7919 % 251) as u8).collect(), vec![], "binary"),
        ("declared-utf8.csv", gbk(TESTS_CSV), vec!["--encoding", "utf8"], "row 1 holds bytes that are not valid UTF-8"),
        ("huge-cell.csv", format!("{header}KJ009,{},农药残留,2021-06-01 09:00:00,,\n", "荔".repeat(2_000_000)).into_bytes(), vec![], "more than the limit of 32768"),
        ("not-a-zip.xlsx", TESTS_TSV.as_bytes().to_vec(), vec![], "not a valid XLSX workbook: not a zip file"),
        ("bomb.xlsx", zip_bomb, vec!["--max-unpacked-mb", "1"], "a zip bomb?"),
        ("empty.csv", Vec::new(), vec![], "the file is empty"),
        ("invalid.json", b"[{\"sample_id\": \"KJ9\", ".to_vec(), vec![], "not valid JSON"),
        ("number-for-text.json", r#"[{"sample_id": 12345, "product": "荔枝", "test": "农药残留", "received_at": "2021-06-01 09:00:00"}]"#.as_bytes().to_vec(), vec![], "expected text but the cell is a number"),
        ("bad-date.csv", format!("{header}{}", row("KJ009", "2021-13-45 09:00")).into_bytes(), vec![], "expected a date and time"),
        ("text-for-boolean.csv", format!("{header}KJ009,荔枝,农药残留,2021-06-01 09:00:00,,也许\n").into_bytes(), vec![], "expected 是/否"),
        ("other-period.csv", format!("{header}{}", row("KJ009", "2021-07-01 09:00:00")).into_bytes(), vec![], "outside the period 2021-06"),
        ("unknown-column.csv", "样品编号,产品,检测项目,收样时间,备注\nKJ009,荔枝,农药残留,2021-06-01 09:00:00,x\n".as_bytes().to_vec(), vec![], "column 5 '备注' is not a column of this template"),
        ("missing-column.csv", b"sample_id,product,received_at\nKJ009,x,2021-06-01 09:00:00\n".to_vec(), vec![], "the required column 检测项目 [test] is missing"),
        ("duplicate-header.csv", "样品编号,sample_id,产品,检测项目,收样时间\nKJ9,KJ9,x,其他,2021-06-01 09:00:00\n".as_bytes().to_vec(), vec![], "column 样品编号 [sample_id] appears twice (columns 1 and 2)"),
        ("not-allowed.csv", format!("{header}KJ009,荔枝,重金属,2021-06-01 09:00:00,,\n").into_bytes(), vec![], "must be one of: 农药残留, 糖度, 其他"),
        ("duplicate-in-file.csv", format!("{header}{}{}", row("KJ009", "2021-06-01 09:00:00"), row("KJ009", "2021-06-02 09:00:00")).into_bytes(), vec![], "duplicates row 2"),
        ("result-before-sample.csv", format!("{header}KJ009,荔枝,农药残留,2021-06-01 09:00:00,2021-06-01 08:00:00,是\n").into_bytes(), vec![], "result_at is before received_at"),
    ];
    for (name, bytes, extra, expected) in cases {
        let problems = county.refuse("quick-tests", Some("2021-06"), name, &bytes, &extra);
        assert!(
            problems.contains(expected),
            "{name}: expected '{expected}' in {problems}"
        );
    }
    // Earlier rows are untouched by all of it.
    assert_eq!(county.csv(STORED_QUERY), TESTS_STORED);
    // Each refusal is on record, with its problems.
    let refused = county.sql("SELECT count(*) AS n FROM sys.submissions WHERE status = 'refused' AND duty = 'quick-tests'");
    assert_eq!(refused[0]["n"], 19);
    let problems = county.sql("SELECT count(DISTINCT submission_id) AS n FROM sys.submission_problems WHERE status = 'refused'");
    assert_eq!(problems[0]["n"], 19);
}

#[test]
fn money_references_and_keys_across_periods() {
    let county = County::new();
    let header =
        "运单号,快递公司,方向,服务站编号,村代码,收寄时间,到达县仓时间,妥投时间,资费(元),重量(kg)\n";
    let march = format!(
        "{header}YZ001,邮政,上行,ST001,441821101001,2021-03-05 09:00:00,2021-03-05 17:00:00,2021-03-07 10:00:00,6.50,0.8\nYZ002,韵达,下行,ST002,441821102001,2021-03-06 08:00:00,,2021-03-06 15:00:00,8.00,2.5\n"
    );
    county.accept("parcels", Some("2021-03"), "march.csv", &gbk(&march));
    let april_bad = format!(
        "{header}YZ001,邮政,下行,ST001,441821101001,2021-04-02 09:00:00,,,5.00,1.0\nYZ003,邮政,下行,ST404,441821101001,2021-04-02 09:00:00,,,-5.00,1.0\nYZ004,邮政,下行,ST001,441821999999,2021-04-02 09:00:00,,,5.005,1.0\nYZ005,邮政,下行,ST001,441821101001,2021-04-02 09:00:00,2021-04-02 12:00:00,,5.00,1.0\nYZ006,邮政,下行,ST404,441821101001,2021-04-03 09:00:00,,,5.00,1.0\n"
    );
    let problems = county.refuse(
        "parcels",
        Some("2021-04"),
        "april.csv",
        &gbk(&april_bad),
        &[],
    );
    for expected in [
        "already reported for period 2021-03",
        "not found in logistics.stations (station_id)",
        "not found in admin.villages (village_code)",
        "must be at least 0",
        "too many decimals: at most 2",
        // The plugin's rule, found while the committed tables were being checked.
        "downstream parcels have no warehouse time",
    ] {
        assert!(
            problems.contains(expected),
            "expected '{expected}' in {problems}"
        );
    }
    // A station checked once is still named on every row that holds it.
    assert_eq!(
        problems
            .matches("not found in logistics.stations (station_id)")
            .count(),
        2,
        "{problems}"
    );
    // A station that refers to a village that does not exist.
    let stations = format!("{STATIONS}ST003,无名站,441821000000,邮政,是,运营,2021-01-01\n");
    let problems = county.refuse(
        "stations",
        None,
        "stations-bad.csv",
        stations.as_bytes(),
        &[],
    );
    assert!(
        problems.contains("not found in admin.villages"),
        "{problems}"
    );
    // Exact decimals survive the round trip.
    assert_eq!(
        county.csv("SELECT sum(fee_yuan) AS total FROM logistics.parcels"),
        "total\n14.50\n"
    );
}

#[test]
fn resubmission_correction_dry_run_and_empty_periods() {
    let county = County::new();
    let first = county.accept(
        "quick-tests",
        Some("2021-06"),
        "june.csv",
        TESTS_CSV.as_bytes(),
    );
    // The very same file again: recognised, nothing written.
    let (success, again) = county.upload(
        "quick-tests",
        Some("2021-06"),
        "june-again.csv",
        TESTS_CSV.as_bytes(),
        &[],
    );
    assert!(success);
    assert_eq!(again["status"], "already_accepted");
    assert_eq!(again["submission_id"], first["submission_id"]);
    assert_eq!(again["version"], first["version"]);
    // A dry run of a corrected file checks it and writes nothing.
    let corrected = TESTS_CSV.replace(
        "KJ003,青梅,其他,2021年6月3日 08:00,,",
        "KJ003,青梅,其他,2021年6月3日 08:00,2021-06-03 20:00,是",
    );
    let (success, dry) = county.upload(
        "quick-tests",
        Some("2021-06"),
        "june-fixed.csv",
        corrected.as_bytes(),
        &["--dry-run"],
    );
    assert!(success);
    assert_eq!(dry["status"], "would_be_accepted");
    assert_eq!(
        county.csv("SELECT count(result_at) AS n FROM quality.tests"),
        "n\n2\n"
    );
    // The correction replaces the period's rows; history shows both.
    let fixed = county.accept(
        "quick-tests",
        Some("2021-06"),
        "june-fixed.csv",
        corrected.as_bytes(),
    );
    assert_eq!(
        fixed["version"].as_u64(),
        first["version"].as_u64().map(|v| v + 1)
    );
    assert_eq!(
        county.csv("SELECT count(result_at) AS n FROM quality.tests"),
        "n\n3\n"
    );
    let history = county.sql("SELECT submission_id, file_name FROM sys.table_versions WHERE table_name = 'quality.tests' ORDER BY version");
    assert_eq!(history[0]["file_name"], "june.csv");
    assert_eq!(history[1]["file_name"], "june-fixed.csv");
    // The original file is accepted again as a correction back (it is no longer current).
    let back = county.accept(
        "quick-tests",
        Some("2021-06"),
        "june.csv",
        TESTS_CSV.as_bytes(),
    );
    assert_eq!(
        back["version"].as_u64(),
        fixed["version"].as_u64().map(|v| v + 1)
    );
    // A header-only file for a monthly duty reports no activity and empties the month…
    let (success, empty) = county.upload(
        "quick-tests",
        Some("2021-06"),
        "nothing.csv",
        b"sample_id,product,test,received_at\n",
        &[],
    );
    assert!(success, "{empty:#}");
    assert_eq!(
        (empty["status"].as_str(), empty["rows_stored"].as_u64()),
        (Some("accepted"), Some(0))
    );
    assert_eq!(
        county.csv("SELECT count(*) AS n FROM quality.tests"),
        "n\n0\n"
    );
    // …but would erase a snapshot table, so it is refused there.
    let problems = county.refuse(
        "villages",
        None,
        "no-villages.csv",
        "村代码,行政村,镇\n".as_bytes(),
        &[],
    );
    assert!(
        problems.contains("a snapshot upload replaces the whole table"),
        "{problems}"
    );
}

#[test]
fn problems_are_listed_up_to_the_limit_with_the_count() {
    let county = County::new();
    let header = "样品编号,产品,检测项目,收样时间,出结果时间,是否合格\n";
    let rows: String = (0..30)
        .map(|i| format!("KJ{i:03},荔枝,重金属,2021-06-01 09:00:00,,\n"))
        .collect();
    let path = county.file("many.csv", format!("{header}{rows}").as_bytes());
    let output = county.run(&[
        "upload",
        "--duty",
        "quick-tests",
        "--period",
        "2021-06",
        "--max-problems",
        "5",
        path.to_str().unwrap(),
    ]);
    assert!(!output.status.success());
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.starts_with(
            "已拒绝 refused: many.csv has 30 errors (30 rows read); nothing was written"
        ),
        "{text}"
    );
    assert_eq!(text.matches("错误 error · 第").count(), 5, "{text}");
    assert!(
        text.contains("… 25 more not shown (showing 5 of 30; all are in sys.submission_problems"),
        "{text}"
    );
    assert!(
        text.contains("第2行 row 2 · 检测项目 [test] · \"重金属\": 应为以下之一"),
        "{text}"
    );
}

#[test]
fn wrong_duties_and_periods_are_one_clear_line() {
    let county = County::new();
    let path = county.file("x.csv", TESTS_CSV.as_bytes());
    let path = path.to_str().unwrap();
    let err = crate::cli::failure(county.run(&["upload", "--duty", "nonsense", path]));
    assert!(
        err.contains("unknown duty 'nonsense'; the duties served are: "),
        "{err}"
    );
    assert!(err.contains("villages, stations"), "{err}");
    let err = crate::cli::failure(county.run(&["upload", "--duty", "quick-tests", path]));
    assert!(
        err.contains("duty quick-tests is reported by month: give the period"),
        "{err}"
    );
    let err = crate::cli::failure(
        county.run(&["upload", "--duty", "villages", "--period", "2021-06", path]),
    );
    assert!(err.contains("it takes no period"), "{err}");
    let err = crate::cli::failure(county.run(&[
        "upload",
        "--duty",
        "quick-tests",
        "--period",
        "2021-6",
        path,
    ]));
    assert!(err.contains("invalid period '2021-6'"), "{err}");
    let err = crate::cli::failure(county.run(&[
        "upload",
        "--duty",
        "quick-tests",
        "--period",
        "2021-06",
        "/nonexistent/file.csv",
    ]));
    assert!(err.contains("cannot read /nonexistent/file.csv"), "{err}");
}

/// A quick-tests file of `rows` rows (GBK, CRLF, over 4 MB from about 60,000 rows) with
/// problems spread through it: an unknown test, an impossible date, blank lines (counted
/// as rows, as the department's spreadsheet numbers them) and a duplicate sample id.
/// `quote_first` writes the first product in quotes, which reads the same but makes
/// the platform read the file line by line instead of on every core.
fn large_tests_file(rows: usize, quote_first: bool) -> Vec<u8> {
    let mut text = String::from("样品编号,产品,检测项目,收样时间,出结果时间,是否合格\r\n");
    for i in 0..rows {
        let product = if i == 0 && quote_first {
            "\"荔枝\""
        } else {
            "荔枝"
        };
        let line = match i % 7919 {
            101 => format!("KJ{i:06},{product},重金属,2021-06-01 09:00:00,2021-06-01 15:30:00,是"),
            202 => format!("KJ{i:06},{product},糖度,2021-06-31 09:00:00,,否"),
            303 => ",,,,,".to_owned(),
            _ => format!("KJ{i:06},{product},农药残留,2021-06-01 09:00:00,2021-06-01 15:30:00,是"),
        };
        text.push_str(&line);
        text.push_str("\r\n");
    }
    text.push_str("KJ000005,龙眼,糖度,2021-06-02 10:15:00,,否\r\n");
    gbk(&text)
}

#[test]
fn a_large_csv_read_on_every_core_gives_the_rows_and_problems_of_reading_it_line_by_line() {
    let county = County::new();
    let rows = 80_000;
    let parallel = large_tests_file(rows, false);
    assert!(parallel.len() > 4 << 20, "large enough to be cut");
    let dry_run = |name: &str, bytes: &[u8]| {
        county
            .upload("quick-tests", Some("2021-06"), name, bytes, &["--dry-run"])
            .1
    };
    let cut = dry_run("parallel.csv", &parallel);
    let in_order = dry_run("in-order.csv", &large_tests_file(rows, true));
    assert_eq!(cut["status"], "refused", "{}", cut["status"]);
    assert_eq!(cut["problems"], in_order["problems"]);
    assert_eq!(cut["rows_read"], in_order["rows_read"]);

    // Every problem where it is in the file: row numbers count the header and blank lines.
    let problems = cut["problems"].as_array().unwrap();
    let at = |rule: &str| -> Vec<u64> {
        problems
            .iter()
            .filter(|p| p["rule"] == rule)
            .map(|p| p["row"].as_u64().unwrap())
            .collect()
    };
    let every = |offset: usize| -> Vec<u64> {
        (0..rows)
            .filter(|i| i % 7919 == offset)
            .map(|i| i as u64 + 2)
            .collect()
    };
    assert_eq!(at("not-allowed"), every(101));
    assert_eq!(at("wrong-type"), every(202));
    assert_eq!(at("duplicate-in-file"), vec![rows as u64 + 2]);
    let blank = every(303).len();
    assert_eq!(cut["rows_read"], (rows + 1 - blank) as u64);
    // The last row duplicates row 7; the plugin, which sees it too (duplicates are found
    // once every row is read), has its own error on it.
    let last: Vec<&str> = problems
        .iter()
        .filter(|p| p["row"] == rows as u64 + 2)
        .map(|p| p["rule"].as_str().unwrap())
        .collect();
    assert_eq!(last.len(), 2, "{last:?}");
    assert!(last.contains(&"duplicate-in-file"), "{last:?}");
    assert_eq!(
        cut["errors"],
        (every(101).len() + every(202).len() + 2) as u64
    );
}

/// The data files of a table, committed or not.
fn data_files(county: &County, table: &str) -> usize {
    let dir = county.data().join("tables").join(table.replace('.', "/"));
    walk(&dir)
        .iter()
        .filter(|p| {
            p.extension().is_some_and(|e| e == "parquet")
                && !p.to_string_lossy().contains("_delta_log")
        })
        .count()
}

fn walk(dir: &std::path::Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flat_map(|entry| {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path)
            } else {
                vec![path]
            }
        })
        .collect()
}

#[test]
fn a_large_csv_is_checked_and_written_a_block_at_a_time_and_committed_once() {
    let county = County::new();
    let rows = 80_000;
    let one_mb_blocks = ["--block-mb", "1"];

    // Read a block at a time: the rows and problems of reading it line by line, a
    // duplicate of a row of the first block found in the last.
    let in_blocks = county
        .upload(
            "quick-tests",
            Some("2021-06"),
            "blocks.csv",
            &large_tests_file(rows, false),
            &["--dry-run", "--block-mb", "1"],
        )
        .1;
    let in_order = county
        .upload(
            "quick-tests",
            Some("2021-06"),
            "in-order.csv",
            &large_tests_file(rows, true),
            &["--dry-run"],
        )
        .1;
    assert_eq!(in_blocks["status"], "refused");
    assert_eq!(in_blocks["problems"], in_order["problems"]);
    assert_eq!(in_blocks["rows_read"], in_order["rows_read"]);
    assert!(
        in_blocks["problems"]
            .to_string()
            .contains("duplicates row 7"),
        "{}",
        in_blocks["problems"]
    );

    // A clean file to a table that exists: written a block at a time, committed as
    // one version.
    county.accept(
        "quick-tests",
        Some("2021-05"),
        "may.csv",
        "样品编号,产品,检测项目,收样时间,出结果时间,是否合格\nKJ100000,荔枝,农药残留,2021-05-01 09:00:00,2021-05-01 15:30:00,是\n".as_bytes(),
    );
    let files_before = data_files(&county, "quality.tests");
    let mut text = String::from("样品编号,产品,检测项目,收样时间,出结果时间,是否合格\r\n");
    for i in 0..rows {
        text.push_str(&format!(
            "KJ{i:06},荔枝,农药残留,2021-06-01 09:00:00,2021-06-01 15:30:00,是\r\n"
        ));
    }
    let clean = gbk(&text);
    assert!(clean.len() > 4 << 20);
    let (success, accepted) = county.upload(
        "quick-tests",
        Some("2021-06"),
        "clean.csv",
        &clean,
        &one_mb_blocks,
    );
    assert!(success && accepted["status"] == "accepted", "{accepted:#}");
    assert_eq!(accepted["rows_stored"], rows as u64);
    let files = data_files(&county, "quality.tests");
    assert!(
        files - files_before > 2,
        "a file or more per block: {files}"
    );
    assert_eq!(
        county.csv("SELECT count(*) AS n, count(DISTINCT sample_id) AS d, min(sample_id) AS a, max(sample_id) AS z FROM quality.tests WHERE sample_id < 'KJ1'"),
        format!("n,d,a,z\n{rows},{rows},KJ000000,KJ0{}\n", rows - 1)
    );
    assert_eq!(
        county.csv(
            "SELECT version, rows, files_added FROM sys.table_versions WHERE table_name = 'quality.tests' AND version > 0"
        ),
        format!("version,rows,files_added\n1,{rows},{}\n", files - files_before),
        "one version"
    );
    // The same file again is recognised; nothing written.
    let (_, again) = county.upload(
        "quick-tests",
        Some("2021-06"),
        "clean.csv",
        &clean,
        &one_mb_blocks,
    );
    assert_eq!(again["status"], "already_accepted", "{again:#}");
    assert_eq!(data_files(&county, "quality.tests"), files);

    // An error in the last block refuses the file after blocks were written ahead: they
    // are deleted, the table stays as it was.
    let mut bad = text.clone();
    bad.push_str("KJ999999,荔枝,农药残留,2021-06-31 09:00:00,,是\r\n");
    let problems = county.refuse(
        "quick-tests",
        Some("2021-06"),
        "bad.csv",
        &gbk(&bad),
        &one_mb_blocks,
    );
    assert!(
        problems.contains(&format!("\"row\":{}", rows + 2)),
        "{problems}"
    );
    assert_eq!(data_files(&county, "quality.tests"), files);
    assert_eq!(
        county.csv("SELECT count(*) AS n FROM quality.tests"),
        format!("n\n{}\n", rows + 1)
    );
}
