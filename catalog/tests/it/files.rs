//! Tables read from their Parquet files: only the files of the version read, only the
//! periods a query keeps, every column as the table's latest schema has it.

use std::sync::Arc;

use arrow::array::{Float64Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema};
use sannong_catalog::{CommitMode, TableName};

use crate::support::{
    PARCELS_BY_PERIOD, batch, commit_period, schema, submission, temp_catalog, text,
};

#[tokio::test(flavor = "multi_thread")]
async fn a_scan_opens_only_the_files_of_the_periods_its_filters_keep() {
    let (_dir, catalog) = temp_catalog().await;
    let t = "logistics.parcels".parse::<TableName>().unwrap();
    for (month, rows) in [("2021-01", 3), ("2021-02", 2), ("2021-03", 4)] {
        commit_period(&catalog, &t, month, (month, rows), "S1").await;
    }
    let query = "SELECT count(*) AS n, min(id) AS first FROM logistics.parcels \
                 WHERE _period >= '2021-02' AND _period <= '2021-03' AND amount >= 1";
    let plan = text(&catalog, &format!("EXPLAIN {query}")).await;
    assert!(
        !plan.contains("DeltaScan"),
        "DataFusion's own Parquet scan: {plan}"
    );
    assert!(
        plan.contains("_period=2021-02") && plan.contains("_period=2021-03"),
        "{plan}"
    );
    assert!(
        !plan.contains("_period=2021-01"),
        "January is not opened: {plan}"
    );
    let filter = plan
        .lines()
        .find(|line| line.contains("FilterExec"))
        .unwrap_or_else(|| panic!("the amount is filtered after the scan: {plan}"));
    assert!(
        !filter.contains("_period"),
        "the period is not compared row by row: {filter}"
    );
    let rows = text(&catalog, query).await;
    assert!(rows.contains("| 4 | 2021-021 |"), "{rows}");
    // The log's row counts are the scan's statistics: a count needs no file opened,
    // and the planner keeps the smaller side of a join in memory.
    let count = "SELECT count(*) AS n FROM logistics.parcels WHERE _period >= '2021-02'";
    let plan = text(&catalog, &format!("EXPLAIN {count}")).await;
    assert!(!plan.contains("DataSourceExec"), "{plan}");
    assert!(text(&catalog, count).await.contains("| 6 |"));

    // A corrected February replaces the old file: the old file is no longer read.
    commit_period(&catalog, &t, "2021-02", ("fixed", 1), "S2").await;
    let rows = text(&catalog, PARCELS_BY_PERIOD).await;
    assert!(rows.contains("| 2021-01 | 3 | 2021-010 | S1 |"), "{rows}");
    assert!(rows.contains("| 2021-02 | 1 | fixed0   | S2 |"), "{rows}");
    assert!(rows.contains("| 2021-03 | 4 | 2021-030 | S1 |"), "{rows}");
    let none = text(
        &catalog,
        "SELECT count(*) AS n FROM logistics.parcels WHERE _period = '2030-01'",
    )
    .await;
    assert!(none.contains("| 0 |"), "{none}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_column_added_later_reads_as_null_in_older_files() {
    let (_dir, catalog) = temp_catalog().await;
    let t = "training.sessions".parse::<TableName>().unwrap();
    commit_period(&catalog, &t, "2021-01", ("old", 2), "S1").await;
    let mut fields = schema().fields().to_vec();
    fields.push(Arc::new(Field::new("hours", DataType::Float64, true)));
    let wider = Arc::new(Schema::new(fields));
    let rows = batch("new", 1);
    let mut columns = rows.columns().to_vec();
    columns.push(Arc::new(Float64Array::from(vec![2.5])));
    catalog
        .commit(
            &t,
            wider.clone(),
            vec![RecordBatch::try_new(wider, columns).unwrap()],
            CommitMode::Period("2021-02".parse().unwrap()),
            &submission("S2"),
        )
        .await
        .unwrap();
    let rows = text(
        &catalog,
        "SELECT id, hours, _period FROM training.sessions ORDER BY id",
    )
    .await;
    assert!(rows.contains("| new0 | 2.5   | 2021-02 |"), "{rows}");
    assert!(rows.contains("| old0 |       | 2021-01 |"), "{rows}");
    assert!(rows.contains("| old1 |       | 2021-01 |"), "{rows}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_table_without_periods_is_read_whole_and_replaced_whole() {
    let (_dir, catalog) = temp_catalog().await;
    let t = "admin.villages".parse::<TableName>().unwrap();
    for (prefix, rows, id) in [("v", 3, "S1"), ("w", 2, "S2")] {
        catalog
            .commit(
                &t,
                schema(),
                vec![batch(prefix, rows)],
                CommitMode::Snapshot,
                &submission(id),
            )
            .await
            .unwrap();
    }
    let rows = text(&catalog, "SELECT string_agg(id, ',' ORDER BY id) AS ids, sum(amount) AS total FROM admin.villages WHERE amount < 5").await;
    assert!(rows.contains("| w0,w1 | 1     |"), "{rows}");
}

#[tokio::test(flavor = "multi_thread")]
async fn data_files_are_lz4_but_times_uncompressed_with_dictionaries_for_repeating_text_only() {
    use arrow::array::{Int64Array, StringArray, TimestampMicrosecondArray};
    use arrow::datatypes::TimeUnit;
    use parquet::basic::{Compression, Encoding};
    use parquet::file::reader::{FileReader, SerializedFileReader};

    let (dir, catalog) = temp_catalog().await;
    let t = "logistics.parcels".parse::<TableName>().unwrap();
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("courier", DataType::Utf8, false),
        Field::new("amount", DataType::Int64, false),
        Field::new(
            "handed_in_at",
            DataType::Timestamp(TimeUnit::Microsecond, None),
            false,
        ),
    ]));
    let rows = 1_000;
    let couriers = ["邮政", "韵达", "中通"];
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from_iter_values(
                (0..rows).map(|i| format!("YZ{i:07}")),
            )),
            Arc::new(StringArray::from_iter_values(
                (0..rows).map(|i| couriers[i % 3]),
            )),
            Arc::new(Int64Array::from_iter_values(0..rows as i64)),
            Arc::new(TimestampMicrosecondArray::from_iter_values(
                (0..rows as i64).map(|i| 1_609_459_200_000_000 + i * 7_919_000_123),
            )),
        ],
    )
    .unwrap();
    catalog
        .commit(
            &t,
            schema,
            vec![batch],
            CommitMode::Period("2021-01".parse().unwrap()),
            &submission("S1"),
        )
        .await
        .unwrap();
    let period_dir = dir.path().join("tables/logistics/parcels/_period=2021-01");
    let file = std::fs::read_dir(&period_dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .find(|path| path.extension().is_some_and(|e| e == "parquet"))
        .expect("a data file");
    let reader = SerializedFileReader::new(std::fs::File::open(&file).unwrap()).unwrap();
    let row_group = reader.metadata().row_group(0);
    let mut dictionaries = Vec::new();
    for column in row_group.columns() {
        let name = column.column_path().string();
        let expected = if name == "handed_in_at" {
            Compression::UNCOMPRESSED
        } else {
            Compression::LZ4_RAW
        };
        assert_eq!(column.compression(), expected, "{name}");
        if column.encodings().any(|e| e == Encoding::RLE_DICTIONARY) {
            dictionaries.push(name);
        }
    }
    // Ids are all distinct, amounts are numbers and times are times: all plain.
    assert_eq!(dictionaries, ["courier", "_submission_id"]);
}
