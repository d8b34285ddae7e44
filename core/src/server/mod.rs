//! The HTTP server: the platform's API over the network, for departments, analysts,
//! auditors and admins, each with a bearer token.
//!
//! - [`api`]: every endpoint once — method, path, roles, parameters, responses and
//!   handler; the router and the OpenAPI description are both built from it;
//! - [`handlers`]: the handlers, each one call into the service layer;
//! - [`error`]: errors as `{"error": {code, message_zh, message_en, details}}`;
//! - [`formats`]: query results as JSON, CSV, Arrow IPC, Parquet or XLSX;
//! - [`metrics`]: Prometheus counters;
//! - [`spool`]: upload bodies received into temporary files as they stream in;
//! - [`web`]: the web pages, served from `/`.
//!
//! Limits: a request body limit (upload bodies are streamed to disk as they arrive and
//! read into memory only when their upload slot comes up), a per-request time limit (slow clients get 408), the
//! query service's time and memory limits, and separate slots for queries and uploads
//! so heavy queries cannot starve uploads. Shutdown (Ctrl-C, SIGTERM) stops accepting
//! and lets requests in flight finish; an upload either commits whole or not at all.
//! Every request gets an `x-request-id`, logged with it. A handler that panics (a bug)
//! answers 500 with the usual error body; the server and other requests carry on.

pub mod api;
pub mod error;
pub mod formats;
pub mod handlers;
pub mod metrics;
pub mod spool;
pub mod web;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRequestParts};
use axum::http::StatusCode;
use axum::http::request::Parts;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use self::error::ApiError;
use self::metrics::Metrics;
use crate::auth::Actor;
use crate::platform::Platform;

/// How the server runs.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Largest request body, in bytes.
    pub max_body_bytes: usize,
    /// Largest unpacked XLSX, in bytes.
    pub max_unpacked_bytes: u64,
    /// Most data rows in one uploaded file.
    pub max_upload_rows: usize,
    /// Longest a request may take, reading its body included.
    pub request_timeout: Duration,
    /// Queries running at once.
    pub query_slots: usize,
    /// Uploads running at once.
    pub upload_slots: usize,
    /// How long a request waits for a free slot before it is turned away (503).
    pub slot_wait: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_body_bytes: 256 << 20,
            max_unpacked_bytes: 1 << 30,
            max_upload_rows: 10_000_000,
            request_timeout: Duration::from_secs(300),
            query_slots: 4,
            upload_slots: 2,
            slot_wait: Duration::from_secs(30),
        }
    }
}

/// Slots for queries and uploads, apart.
#[derive(Debug)]
pub struct Limits {
    queries: Arc<Semaphore>,
    uploads: Arc<Semaphore>,
    wait: Duration,
}

impl Limits {
    fn new(config: &ServerConfig) -> Self {
        Limits {
            queries: Arc::new(Semaphore::new(config.query_slots.max(1))),
            uploads: Arc::new(Semaphore::new(config.upload_slots.max(1))),
            wait: config.slot_wait,
        }
    }

    async fn slot(
        &self,
        slots: &Arc<Semaphore>,
        what: &str,
    ) -> Result<OwnedSemaphorePermit, ApiError> {
        let busy = || {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                "服务器繁忙，请稍后重试",
                format!(
                    "every {what} slot stayed busy for {} s; try again shortly",
                    self.wait.as_secs()
                ),
            )
        };
        match tokio::time::timeout(self.wait, slots.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(busy()),
        }
    }

    /// A query slot.
    pub async fn query_slot(&self) -> Result<OwnedSemaphorePermit, ApiError> {
        self.slot(&self.queries, "query").await
    }

    /// An upload slot.
    pub async fn upload_slot(&self) -> Result<OwnedSemaphorePermit, ApiError> {
        self.slot(&self.uploads, "upload").await
    }
}

/// What every handler shares.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The service layer.
    pub platform: Platform,
    /// The configuration.
    pub config: Arc<ServerConfig>,
    /// Query and upload slots.
    pub limits: Arc<Limits>,
    /// Counters.
    pub metrics: Arc<Metrics>,
}

/// The caller, from the `Authorization: Bearer …` header (401 without a valid one), and
/// the platform it acts on (its county's, in a deployment of several counties).
#[derive(Debug, Clone)]
pub struct Caller(pub Actor, pub Platform);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let Some(token) = header.strip_prefix("Bearer ") else {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "未认证",
                "send a token: Authorization: Bearer sn_… (an admin creates one with `sannong token create`)",
            ));
        };
        let actor = state.platform.authenticate(token).await?;
        let platform = state.platform.for_actor(&actor)?.clone();
        Ok(Caller(actor, platform))
    }
}

/// The application: every endpoint of [`api::ENDPOINTS`] with the layers around them.
pub fn router(platform: Platform, config: ServerConfig) -> Router {
    let state = AppState {
        platform,
        limits: Arc::new(Limits::new(&config)),
        metrics: Arc::new(Metrics::default()),
        config: Arc::new(config),
    };
    let mut router = Router::new();
    for endpoint in api::ENDPOINTS {
        router = router.route(endpoint.path, (endpoint.route)());
    }
    let request_id = axum::http::HeaderName::from_static("x-request-id");
    router
        .merge(web::routes())
        .fallback(|| async {
            ApiError::new(StatusCode::NOT_FOUND, "not_found", "未找到", "no such endpoint; see /api/openapi.json")
        })
        .layer(CatchPanicLayer::custom(error::panic_response))
        .layer(axum::middleware::from_fn_with_state(state.clone(), metrics::count))
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            state.config.request_timeout,
        ))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(TraceLayer::new_for_http()
            .on_response(tower_http::trace::DefaultOnResponse::new().level(tracing::Level::INFO))
            .make_span_with(
            |request: &axum::http::Request<axum::body::Body>| {
                let id = request
                    .headers()
                    .get("x-request-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("-");
                tracing::info_span!("request", request_id = %id, method = %request.method(), path = %request.uri().path())
            },
        ))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        .with_state(state)
}

/// Serves until `shutdown` resolves, then lets requests in flight finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    platform: Platform,
    config: ServerConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(platform, config);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing the requests in flight");
}
