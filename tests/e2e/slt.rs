//! Runs every `tests/slt/*.slt` file against the query service over the fixture county.

use std::path::PathBuf;
use std::sync::Arc;

use arrow::util::display::{ArrayFormatter, FormatOptions};
use sannong::Platform;
use sannong::PlatformConfig;
use sqllogictest::{AsyncDB, DBOutput, DefaultColumnType};

struct SannongDb {
    platform: Platform,
}

#[derive(Debug)]
struct SltError(String);

impl std::fmt::Display for SltError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SltError {}

#[async_trait::async_trait]
impl AsyncDB for SannongDb {
    type Error = SltError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, SltError> {
        let result = self
            .platform
            .sql(sql)
            .await
            .map_err(|e| SltError(e.to_string()))?;
        let options = FormatOptions::default()
            .with_null("NULL")
            .with_timestamp_format(Some("%Y-%m-%d %H:%M:%S"));
        let mut rows = Vec::new();
        for batch in &result.batches {
            let formatters: Vec<_> = batch
                .columns()
                .iter()
                .map(|c| ArrayFormatter::try_new(c.as_ref(), &options).unwrap())
                .collect();
            for row in 0..batch.num_rows() {
                rows.push(
                    formatters
                        .iter()
                        .map(|f| f.value(row).to_string())
                        .collect(),
                );
            }
        }
        Ok(DBOutput::Rows {
            types: vec![DefaultColumnType::Any; result.schema.fields().len()],
            rows,
        })
    }

    async fn shutdown(&mut self) {}

    async fn sleep(duration: std::time::Duration) {
        tokio::time::sleep(duration).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sql_logic_tests() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = crate::fixture::write(dir.path()).await;
    let platform = Platform::with_catalog(catalog, PlatformConfig::default()).unwrap();
    let slt_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/slt");
    let mut files: Vec<_> = std::fs::read_dir(&slt_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "slt"))
        .collect();
    files.sort();
    assert!(files.len() >= 3, "slt files in {}", slt_dir.display());
    let platform = Arc::new(platform);
    for file in files {
        let platform = platform.clone();
        let mut runner = sqllogictest::Runner::new(move || {
            let platform = (*platform).clone();
            async move { Ok(SannongDb { platform }) }
        });
        runner
            .run_file_async(&file)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    }
}
