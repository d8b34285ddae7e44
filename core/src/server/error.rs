//! Errors as HTTP responses, in one place: every error is
//! `{"error": {"code", "message_zh", "message_en", "details"}}` with the status its kind
//! calls for (bad input 400, no token 401, wrong role 403, not found 404, refused
//! upload 422, limits 408/413/503, storage 502, bugs 500).

use std::any::Any;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::error::Error;

/// An error on its way to the client.
#[derive(Debug)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// A stable, machine-readable code, e.g. `forbidden`.
    pub code: &'static str,
    /// The message in Chinese.
    pub message_zh: String,
    /// The message in English.
    pub message_en: String,
    /// More, as JSON (e.g. an upload's problems).
    pub details: Value,
}

impl ApiError {
    /// An error with the same message in both languages' slots but a Chinese lead.
    pub fn new(status: StatusCode, code: &'static str, zh: &str, en: impl Into<String>) -> Self {
        let en = en.into();
        ApiError {
            status,
            code,
            message_zh: format!("{zh}：{en}"),
            message_en: en,
            details: Value::Null,
        }
    }

    /// Adds details.
    pub fn with_details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }

    /// A request that is wrong in itself.
    pub fn bad_request(en: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", "请求有误", en)
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        use sannong_catalog::CatalogError as C;
        let message = e.to_string();
        let (status, code, zh) = match &e {
            Error::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized", "未认证"),
            Error::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden", "无权限"),
            Error::Refused { .. } => (StatusCode::BAD_REQUEST, "sql_refused", "SQL 被拒绝"),
            Error::InvalidQuery(_) => (StatusCode::BAD_REQUEST, "invalid_sql", "SQL 有误"),
            Error::InvalidArgument(_) => (StatusCode::BAD_REQUEST, "bad_request", "请求有误"),
            Error::Programme(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "programme",
                "示范项目定义有误",
            ),
            Error::PluginRefused { .. } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "plugin_refused",
                "插件被拒绝",
            ),
            Error::PluginNotFound(_) => (StatusCode::NOT_FOUND, "not_found", "未找到"),
            Error::Timeout { .. } => (StatusCode::REQUEST_TIMEOUT, "query_timeout", "查询超时"),
            Error::MemoryLimit { .. } => (
                StatusCode::INSUFFICIENT_STORAGE,
                "query_memory",
                "查询内存超限",
            ),
            Error::PluginFailed { .. } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "plugin_failed",
                "插件运行失败",
            ),
            Error::Execution(_) => (StatusCode::BAD_REQUEST, "query_failed", "查询失败"),
            Error::Catalog(
                C::TableNotFound { .. } | C::VersionNotFound { .. } | C::NotFound { .. },
            ) => (StatusCode::NOT_FOUND, "not_found", "未找到"),
            Error::Catalog(
                C::InvalidTableName { .. }
                | C::InvalidPeriod { .. }
                | C::InvalidCounty { .. }
                | C::SchemaMismatch { .. },
            ) => (StatusCode::BAD_REQUEST, "bad_request", "请求有误"),
            Error::Catalog(C::CommitConflict { .. }) => {
                (StatusCode::CONFLICT, "conflict", "并发冲突")
            }
            Error::Catalog(C::Unreachable { .. } | C::Storage { .. }) => {
                (StatusCode::BAD_GATEWAY, "storage", "存储不可用")
            }
            Error::Catalog(_) | Error::Output(_) | Error::Internal(_) => {
                (StatusCode::INTERNAL_SERVER_ERROR, "internal", "内部错误")
            }
        };
        if status.is_server_error() {
            tracing::error!(%message, "request failed");
        }
        ApiError::new(status, code, zh, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({
            "error": {
                "code": self.code,
                "message_zh": self.message_zh,
                "message_en": self.message_en,
                "details": self.details,
            }
        });
        (self.status, axum::Json(body)).into_response()
    }
}

/// Result of a handler.
pub type ApiResult<T> = Result<T, ApiError>;

/// The answer to a request whose handler panicked (a bug): 500 with the usual error body,
/// instead of a connection closed without a word. The panic's message is logged, not sent.
pub fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("(no message)");
    tracing::error!(panic = message, "a request handler panicked");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "内部错误",
        "the server failed while handling this request (a bug; it is logged with the request id)",
    )
    .into_response()
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::routing::get;
    use tower_http::catch_panic::CatchPanicLayer;

    use super::panic_response;

    async fn a_bug() -> &'static str {
        panic!("index out of bounds: a bug")
    }

    #[test]
    fn a_handler_that_panics_answers_500_with_the_error_body_and_the_server_goes_on() {
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind");
        let address = listener.local_addr().expect("address");
        let app = Router::new()
            .route("/bug", get(a_bug))
            .route("/fine", get(|| async { "fine" }))
            .layer(CatchPanicLayer::custom(panic_response));
        runtime.spawn(async move { axum::serve(listener, app).await });

        let answer = reqwest::blocking::get(format!("http://{address}/bug"))
            .expect("an answer, not a closed connection");
        assert_eq!(answer.status(), 500);
        let body: serde_json::Value = answer.json().expect("a JSON error body");
        assert_eq!(body["error"]["code"], "internal");
        let message = body["error"]["message_en"].as_str().expect("a message");
        assert!(message.contains("a bug"), "{message}");
        assert!(
            !message.contains("index out of bounds"),
            "the panic stays in the log: {message}"
        );
        let fine = reqwest::blocking::get(format!("http://{address}/fine")).expect("answer");
        assert_eq!(fine.text().expect("text"), "fine");
    }
}
