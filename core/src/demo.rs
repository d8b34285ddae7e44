//! The synthetic sample county (示例数据, not real data), loaded the way departments
//! load theirs: the built-in department plugins are installed, then every generated
//! file goes through the real upload path. Loading twice changes nothing: the plugins
//! are already installed and every file is recognised as already accepted.

use crate::error::{Error, Result};
use crate::ingest::source::ReadOptions;
use crate::ingest::{Progress, UploadRequest, UploadStatus};
use crate::platform::Platform;

/// What loading the sample county did.
#[derive(Debug, Clone, Default)]
pub struct DemoSummary {
    /// Plugins installed now (not before).
    pub plugins_installed: Vec<String>,
    /// Files accepted now.
    pub files_accepted: usize,
    /// Files that were already accepted.
    pub files_already_there: usize,
    /// Rows stored now.
    pub rows_stored: u64,
    /// Warnings the accepted files had.
    pub warnings: u64,
}

/// Loads the sample county through the upload path.
pub async fn load(
    platform: &Platform,
    options: sample_county::Options,
    progress: &dyn Progress,
) -> Result<DemoSummary> {
    let mut summary = DemoSummary {
        plugins_installed: crate::plugin::builtin::install(platform, "sannong").await?,
        ..DemoSummary::default()
    };
    let county = sample_county::generate(options);
    let total = county.uploads.len();
    for (index, upload) in county.uploads.into_iter().enumerate() {
        progress.step(&format!("{}/{total} {}", index + 1, upload.file_name));
        let request = UploadRequest {
            duty: upload.duty.to_owned(),
            period: upload.period,
            uploader: "demo".into(),
            file_name: upload.file_name.clone(),
            body: bytes::Bytes::from(upload.bytes).into(),
            read: ReadOptions::default(),
            dry_run: false,
            received_at: Some(sannong_catalog::sql::from_beijing(upload.sent_at)),
        };
        let outcome = platform
            .upload_as(&crate::auth::Actor::cli("demo"), request, progress)
            .await?;
        match outcome.status {
            UploadStatus::Accepted => {
                summary.files_accepted += 1;
                summary.rows_stored += outcome.rows_stored;
                summary.warnings += outcome.warnings;
            }
            UploadStatus::AlreadyAccepted => summary.files_already_there += 1,
            UploadStatus::Refused | UploadStatus::WouldBeAccepted => {
                let first = outcome
                    .problems
                    .first()
                    .map(|p| p.to_string())
                    .unwrap_or_default();
                return Err(Error::Internal(format!(
                    "the sample file {} was refused with {} errors, first: {first}",
                    upload.file_name, outcome.errors
                )));
            }
        }
    }
    Ok(summary)
}
