//! Prometheus counters of the server: requests by status class, uploads by outcome,
//! queries, requests in flight, tables kept decoded in memory. Rendered as the text
//! exposition format at `/metrics`.

use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

use super::AppState;
use crate::ingest::UploadStatus;

/// The counters.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: [AtomicU64; 5],
    in_flight: AtomicU64,
    uploads: [AtomicU64; 4],
    queries: AtomicU64,
}

const UPLOAD_OUTCOMES: [&str; 4] = ["accepted", "refused", "already_accepted", "dry_run"];

impl Metrics {
    /// Counts an upload's outcome.
    pub fn upload(&self, status: UploadStatus) {
        let index = match status {
            UploadStatus::Accepted => 0,
            UploadStatus::Refused => 1,
            UploadStatus::AlreadyAccepted => 2,
            UploadStatus::WouldBeAccepted => 3,
        };
        self.uploads[index].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a query.
    pub fn query(&self) {
        self.queries.fetch_add(1, Ordering::Relaxed);
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::from(
            "# HELP sannong_http_requests_total HTTP requests answered, by status class.\n\
             # TYPE sannong_http_requests_total counter\n",
        );
        for (i, counter) in self.requests.iter().enumerate() {
            out.push_str(&format!(
                "sannong_http_requests_total{{status=\"{}xx\"}} {}\n",
                i + 1,
                counter.load(Ordering::Relaxed)
            ));
        }
        out.push_str(&format!(
            "# HELP sannong_http_requests_in_flight Requests being answered.\n\
             # TYPE sannong_http_requests_in_flight gauge\n\
             sannong_http_requests_in_flight {}\n",
            self.in_flight.load(Ordering::Relaxed)
        ));
        out.push_str(
            "# HELP sannong_uploads_total Uploads over HTTP, by outcome.\n\
             # TYPE sannong_uploads_total counter\n",
        );
        for (name, counter) in UPLOAD_OUTCOMES.iter().zip(&self.uploads) {
            out.push_str(&format!(
                "sannong_uploads_total{{outcome=\"{name}\"}} {}\n",
                counter.load(Ordering::Relaxed)
            ));
        }
        out.push_str(&format!(
            "# HELP sannong_queries_total SQL queries answered over HTTP.\n\
             # TYPE sannong_queries_total counter\n\
             sannong_queries_total {}\n",
            self.queries.load(Ordering::Relaxed)
        ));
        let memory = sannong_catalog::sql::table_memory_use();
        out.push_str(&format!(
            "# HELP sannong_table_memory_bytes Bytes of tables kept decoded in memory (--table-memory).\n\
             # TYPE sannong_table_memory_bytes gauge\n\
             sannong_table_memory_bytes {}\n\
             # HELP sannong_table_memory_tables Table versions kept decoded in memory.\n\
             # TYPE sannong_table_memory_tables gauge\n\
             sannong_table_memory_tables {}\n\
             # HELP sannong_table_memory_hits_total Table reads answered from memory.\n\
             # TYPE sannong_table_memory_hits_total counter\n\
             sannong_table_memory_hits_total {}\n\
             # HELP sannong_table_memory_loads_total Table versions decoded into memory.\n\
             # TYPE sannong_table_memory_loads_total counter\n\
             sannong_table_memory_loads_total {}\n",
            memory.bytes, memory.tables, memory.hits, memory.loads
        ));
        out
    }
}

/// Middleware counting every request.
pub async fn count(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let metrics = &state.metrics;
    metrics.in_flight.fetch_add(1, Ordering::Relaxed);
    let response = next.run(request).await;
    metrics.in_flight.fetch_sub(1, Ordering::Relaxed);
    let class = (response.status().as_u16() / 100).clamp(1, 5) as usize - 1;
    metrics.requests[class].fetch_add(1, Ordering::Relaxed);
    response
}
