//! The department plugins through the real binary: each duty's own rules on good and
//! bad files, personal data never stored in clear, and the whole sample county.

use std::collections::BTreeMap;
use std::path::Path;

use crate::cli::{ok, sannong};
use crate::uploads::County;

#[test]
fn each_department_plugin_applies_its_rules() {
    let county = County::new();
    // statistics: agricultural retail is part of rural retail.
    let stats = "月份,镇,电商交易额(万元),农村网络零售额(万元),农产品网络零售额(万元),在线旅游网络零售额(万元),网商数量\n2021-03-01,石角镇,100.00,50.00,60.00,5.00,40\n";
    let problems = county.refuse(
        "ecommerce-stats",
        Some("2021-03"),
        "stats.csv",
        stats.as_bytes(),
        &[],
    );
    assert!(
        problems.contains("agricultural online retail cannot exceed rural online retail (50.00)"),
        "{problems}"
    );
    // prices: a month is its first day.
    let prices = r#"[{"month": "2021-03-15", "service": "上行快递1kg", "price_yuan": 6.0}]"#;
    let problems = county.refuse(
        "reference-prices",
        Some("2021-03"),
        "prices.json",
        prices.as_bytes(),
        &[],
    );
    assert!(
        problems.contains("a month is written as its first day, e.g. 2021-03-01"),
        "{problems}"
    );
    // programme office: 已完成 needs its date.
    let milestones = r#"[{"milestone_id": "M4", "reported_on": "2021-05-31", "status": "已完成"}]"#;
    let problems = county.refuse(
        "milestones",
        Some("2021-05"),
        "m.json",
        milestones.as_bytes(),
        &[],
    );
    assert!(
        problems.contains("a completed milestone needs its completion date"),
        "{problems}"
    );
    // post: downstream parcels have no warehouse time.
    let parcels = "运单号,快递公司,方向,服务站编号,村代码,收寄时间,到达县仓时间,妥投时间,资费(元),重量(kg)\nYZ9,邮政,下行,ST001,441821101001,2021-03-05 09:00:00,2021-03-05 12:00:00,,5.00,1\n";
    let problems = county.refuse("parcels", Some("2021-03"), "p.csv", parcels.as_bytes(), &[]);
    assert!(
        problems.contains("downstream parcels have no warehouse time"),
        "{problems}"
    );
    // towns: one town, two villages of one name.
    let villages = "村代码,行政村,镇\n441821101001,新坑村,石角镇\n441821101002,新坑村,石角镇\n";
    let problems = county.refuse("villages", None, "v.csv", villages.as_bytes(), &[]);
    assert!(
        problems.contains("石角镇 already has a village of this name"),
        "{problems}"
    );
    // hr: kinds written in English are stored in Chinese.
    let sessions = "培训编号,培训类型,主题,镇,开始日期,学时\nPX1,basic,直播带货,石角镇,2021-03-02,4\nPX2,增值,短视频,汤塘镇,2021-03-03,2.5\n";
    county.accept(
        "training-sessions",
        Some("2021-03"),
        "s.csv",
        sessions.as_bytes(),
    );
    assert_eq!(
        county.csv("SELECT kind FROM training.sessions ORDER BY session_id"),
        "kind\n基础\n增值\n"
    );
    // job fairs from JSON, with whole numbers.
    let fairs = r#"[{"fair_id": "ZP1", "held_on": "2021-03-20", "venue": "石角镇电商产业园", "trainee_participants": 35, "employers": 12, "offers": 20}]"#;
    county.accept("job-fairs", Some("2021-03"), "fairs.json", fairs.as_bytes());
}

#[test]
fn disbursements_over_budget_are_accepted_flagged_and_visible_to_sql() {
    let county = County::new();
    county.accept("budget", None, "budget.csv", "预算科目,所属体系,资金来源,预算金额(元)\n物流车辆购置,物流,中央,1000.00\n电商培训,培训,中央,5000.00\n".as_bytes());
    let march = "凭证号,支付日期,预算科目,收款单位,金额(元),用途\nPZ1,2021-03-02,物流车辆购置,佛冈县邮政分公司,600.00,车辆\n";
    county.accept(
        "disbursements",
        Some("2021-03"),
        "march.csv",
        march.as_bytes(),
    );
    let april = "凭证号,支付日期,预算科目,收款单位,金额(元),用途\nPZ2,2021-04-02,物流车辆购置,佛冈县邮政分公司,500.00,车辆\nPZ3,2021-04-03,电商培训,佛冈县电商协会,100.00,培训\n";
    let outcome = county.accept(
        "disbursements",
        Some("2021-04"),
        "april.csv",
        april.as_bytes(),
    );
    assert_eq!(outcome["warnings"], 1, "{outcome:#}");
    assert!(
        outcome["problems"][0]["message_en"]
            .as_str()
            .unwrap()
            .contains("reaches 1100.00 yuan paid, over its budget of 1000.00 yuan")
    );
    assert_eq!(
        county.csv(
            "SELECT voucher_no FROM finance.disbursements WHERE over_budget ORDER BY voucher_no"
        ),
        "voucher_no\nPZ2\n"
    );
    let warnings = county.sql(
        "SELECT rule, severity, row FROM sys.submission_problems WHERE duty = 'disbursements'",
    );
    assert_eq!(
        warnings,
        serde_json::json!([{"rule": "over-budget", "severity": "warning", "row": 2}])
    );
    // A voucher referring to no budget item is refused.
    let stray =
        "凭证号,支付日期,预算科目,收款单位,金额(元),用途\nPZ4,2021-05-02,无此科目,某单位,10.00,x\n";
    let problems = county.refuse(
        "disbursements",
        Some("2021-05"),
        "may.csv",
        stray.as_bytes(),
        &[],
    );
    assert!(
        problems.contains("not found in finance.budget (budget_item)"),
        "{problems}"
    );
}

#[test]
fn resident_ids_are_checked_masked_in_problems_and_stored_only_as_pseudonyms() {
    let county = County::new();
    let sessions =
        "培训编号,培训类型,主题,镇,开始日期,学时\nPX1,基础,直播带货,石角镇,2021-03-02,4\n";
    county.accept(
        "training-sessions",
        Some("2021-03"),
        "s.csv",
        sessions.as_bytes(),
    );
    let bad = "培训编号,身份证号,姓名,性别,人员类别\nPX1,440103199003072811,张三,男,大学生\nPX9,440103199003072817,李四,男,其他\n";
    let problems = county.refuse(
        "training-attendance",
        Some("2021-03"),
        "bad.xlsx.csv",
        bad.as_bytes(),
        &[],
    );
    assert!(
        problems.contains("the check digit of the resident ID number is wrong"),
        "{problems}"
    );
    assert!(
        problems.contains("4401************11"),
        "masked: {problems}"
    );
    assert!(
        problems.contains("not found in training.sessions"),
        "{problems}"
    );
    assert!(
        !problems.contains("440103199003072811") && !problems.contains("张三"),
        "{problems}"
    );

    let good = "培训编号,身份证号,姓名,性别,人员类别\nPX1,440103199003072817,张三,男,大学生\nPX1,11010519491231002x,欧阳娜娜,女,贫困户\n";
    county.accept(
        "training-attendance",
        Some("2021-03"),
        "good.csv",
        good.as_bytes(),
    );
    let stored = county.sql("SELECT trainee_hash, name_masked, gender, \"group\" FROM training.attendance ORDER BY name_masked");
    assert_eq!(stored[0]["name_masked"], "张*");
    assert_eq!(stored[1]["name_masked"], "欧***");
    let hash = stored[0]["trainee_hash"].as_str().unwrap();
    assert_eq!(hash.len(), 64);
    assert!(hash.bytes().all(|b| b.is_ascii_hexdigit()));
    // The same person gets the same pseudonym in a later upload (x and X are one ID).
    let again = "培训编号,身份证号,姓名,性别,人员类别\nPX1,11010519491231002X,欧阳娜娜,女,贫困户\n";
    county.accept(
        "training-attendance",
        Some("2021-04"),
        "again.csv",
        again.as_bytes(),
    );
    let pseudonyms = county.sql("SELECT count(DISTINCT trainee_hash) AS people, count(*) AS visits FROM training.attendance");
    assert_eq!(pseudonyms, serde_json::json!([{"people": 2, "visits": 3}]));
    // Nothing in the data directory holds an ID number or a full name in clear.
    let leaks = scan_for(
        &county.data(),
        &[
            "440103199003072817",
            "11010519491231002",
            "440103199003072811",
            "张三",
            "欧阳娜娜",
            "李四",
        ],
    );
    assert!(leaks.is_empty(), "personal data in clear: {leaks:?}");
}

/// Every place under `dir` where one of `needles` appears in clear: raw bytes of every
/// file, and the decoded values of every Parquet file (which may be compressed).
pub fn scan_for(dir: &Path, needles: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            stack.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        let mut texts = vec![String::from_utf8_lossy(&bytes).into_owned()];
        if path.extension().is_some_and(|e| e == "parquet") {
            let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
                bytes::Bytes::from(bytes),
            )
            .unwrap()
            .build()
            .unwrap();
            for batch in reader {
                let batch = batch.unwrap();
                for column in batch.columns() {
                    for row in 0..batch.num_rows() {
                        texts.push(
                            arrow::util::display::array_value_to_string(column, row).unwrap(),
                        );
                    }
                }
            }
        }
        for needle in needles {
            if texts.iter().any(|t| t.contains(needle)) {
                found.push(format!("{} holds {needle}", path.display()));
            }
        }
    }
    found
}

#[test]
fn the_whole_sample_county_loads_through_the_upload_path_and_matches_the_generator() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let first = ok(sannong(&data, &["demo"]));
    assert!(
        first.contains("files accepted through the upload path"),
        "{first}"
    );
    let expected = sample_county::generate(sample_county::Options::default()).expected_rows;
    let tables: serde_json::Value =
        serde_json::from_str(&ok(sannong(&data, &["tables", "--format", "json"]))).unwrap();
    let actual: BTreeMap<&str, u64> = tables
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["table_name"].as_str().unwrap(),
                t["rows"].as_u64().unwrap(),
            )
        })
        .collect();
    let expected: BTreeMap<&str, u64> = expected.iter().map(|(k, v)| (*k, *v as u64)).collect();
    assert_eq!(actual, expected);
    assert_eq!(actual.len(), 13, "one table per duty");
    // Every accepted upload names its plugin version and component.
    let plugins: serde_json::Value = serde_json::from_str(&ok(sannong(
        &data,
        &["sql", "SELECT count(*) AS n, count(DISTINCT plugin_id) AS plugins, min(length(plugin_sha256)) AS sha FROM sys.submissions WHERE status = 'accepted'", "--format", "json"],
    )))
    .unwrap();
    assert_eq!(plugins[0]["plugins"], 8);
    assert_eq!(plugins[0]["sha"], 64);
    // Loading again changes nothing.
    let again = ok(sannong(&data, &["demo"]));
    assert!(again.contains("already loaded"), "{again}");
    let versions = ok(sannong(
        &data,
        &[
            "sql",
            "SELECT sum(version) AS v FROM sys.tables",
            "--format",
            "csv",
        ],
    ));
    let tables_again = ok(sannong(&data, &["tables", "--format", "json"]));
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&tables_again).unwrap(),
        tables,
        "{versions}"
    );
    // No resident ID of the sample's trainees is stored anywhere in clear.
    let ids = sample_county::trainee_ids(sample_county::Options::default());
    let needles: Vec<&str> = ids.iter().take(50).map(String::as_str).collect();
    assert!(scan_for(&data, &needles).is_empty());
}
