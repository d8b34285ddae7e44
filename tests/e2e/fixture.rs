//! A small fixture data directory written through the catalog's write API: two
//! versions of `admin.villages` (snapshot) and two periods of `logistics.parcels`, with
//! decimals, timestamps and Chinese text.

use std::sync::Arc;

use arrow::array::{BooleanArray, Decimal128Array, RecordBatch, StringArray, TimestampSecondArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use chrono::NaiveDateTime;
use sannong_catalog::{Catalog, CommitMode, DataLocation, SubmissionRecord, TableName};

pub fn villages_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("village_code", DataType::Utf8, false),
        Field::new("village", DataType::Utf8, false),
        Field::new("town", DataType::Utf8, false),
        Field::new("poor_village", DataType::Boolean, true),
    ]))
}

fn villages(rows: &[(&str, &str, &str, bool)]) -> RecordBatch {
    RecordBatch::try_new(
        villages_schema(),
        vec![
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.0))),
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.1))),
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.2))),
            Arc::new(BooleanArray::from_iter(rows.iter().map(|r| Some(r.3)))),
        ],
    )
    .unwrap()
}

fn parcels_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("parcel_id", DataType::Utf8, false),
        Field::new("direction", DataType::Utf8, false),
        Field::new(
            "handed_in_at",
            DataType::Timestamp(TimeUnit::Second, None),
            false,
        ),
        Field::new("fee_yuan", DataType::Decimal128(14, 2), false),
    ]))
}

fn ts(s: &str) -> i64 {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S")
        .unwrap()
        .and_utc()
        .timestamp()
}

fn parcels(rows: &[(&str, &str, &str, i128)]) -> RecordBatch {
    RecordBatch::try_new(
        parcels_schema(),
        vec![
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.0))),
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.1))),
            Arc::new(TimestampSecondArray::from_iter_values(
                rows.iter().map(|r| ts(r.2)),
            )),
            Arc::new(
                Decimal128Array::from_iter_values(rows.iter().map(|r| r.3))
                    .with_precision_and_scale(14, 2)
                    .unwrap(),
            ),
        ],
    )
    .unwrap()
}

fn submission(id: &str, duty: &str, department: &str) -> SubmissionRecord {
    let mut s = SubmissionRecord::new("fixture", 0);
    s.submission_id = id.into();
    s.duty = Some(duty.into());
    s.department = Some(department.into());
    s.file_name = Some(format!("{duty}.csv"));
    s
}

/// Writes the fixture county into `dir`.
pub async fn write(dir: &std::path::Path) -> Arc<Catalog> {
    let catalog = Arc::new(
        Catalog::open(DataLocation::parse(dir.to_str().unwrap()).unwrap())
            .await
            .unwrap(),
    );
    let v: TableName = "admin.villages".parse().unwrap();
    catalog
        .commit(
            &v,
            villages_schema(),
            vec![villages(&[("441821101001", "新坑村", "石角镇", false)])],
            CommitMode::Snapshot,
            &submission("S-V1", "villages", "towns"),
        )
        .await
        .unwrap();
    catalog
        .commit(
            &v,
            villages_schema(),
            vec![villages(&[
                ("441821101001", "新坑村", "石角镇", false),
                ("441821102001", "联田村", "汤塘镇", true),
                ("441821103001", "和塘村", "龙山镇", false),
            ])],
            CommitMode::Snapshot,
            &submission("S-V2", "villages", "towns"),
        )
        .await
        .unwrap();
    let p: TableName = "logistics.parcels".parse().unwrap();
    catalog
        .commit(
            &p,
            parcels_schema(),
            vec![parcels(&[
                ("YZ001", "上行", "2021-01-05 09:30:00", 1234567890123),
                ("YZ002", "下行", "2021-01-06 14:00:00", 350),
            ])],
            CommitMode::Period("2021-01".parse().unwrap()),
            &submission("S-P1", "parcels", "post"),
        )
        .await
        .unwrap();
    catalog
        .commit(
            &p,
            parcels_schema(),
            vec![parcels(&[("YZ003", "下行", "2021-02-01 08:00:00", 1)])],
            CommitMode::Period("2021-02".parse().unwrap()),
            &submission("S-P2", "parcels", "post"),
        )
        .await
        .unwrap();
    catalog
}
