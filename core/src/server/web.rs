//! The web pages — upload portal, dashboard, SQL console, tables and plugins, audit —
//! served by the binary itself: a county intranet may have no Internet, so every asset
//! (scripts, styles, charts) is compiled in and nothing comes from a CDN. The pages
//! call the same `/api` as every other client.
//!
//! `SANNONG_WEB_DIR=core/web` serves the files from that directory instead, to work on
//! the pages without rebuilding.

use axum::Router;
use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::AppState;
use super::error::ApiError;

/// One file of the pages.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

macro_rules! asset {
    ($name:literal, $content_type:literal) => {
        Asset {
            name: $name,
            content_type: $content_type,
            bytes: include_bytes!(concat!("../../web/", $name)),
        }
    };
}

const ASSETS: &[Asset] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("app.css", "text/css; charset=utf-8"),
    asset!("app.js", "text/javascript; charset=utf-8"),
    asset!("i18n.js", "text/javascript; charset=utf-8"),
    asset!("charts.js", "text/javascript; charset=utf-8"),
    asset!("favicon.svg", "image/svg+xml"),
];

/// Scripts only from the server itself; no frames, no other origins.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; connect-src 'self'; \
     object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

/// `/` and `/assets/{name}`.
pub fn routes() -> Router<AppState> {
    Router::new().route("/", get(|| serve("index.html"))).route(
        "/assets/{name}",
        get(|Path(name): Path<String>| async move { serve(&name).await }),
    )
}

async fn serve(name: &str) -> Response {
    let Some(asset) = ASSETS.iter().find(|a| a.name == name) else {
        return ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "未找到",
            format!("no page asset '{name}'"),
        )
        .into_response();
    };
    let bytes = match std::env::var_os("SANNONG_WEB_DIR") {
        Some(dir) => match std::fs::read(std::path::Path::new(&dir).join(asset.name)) {
            Ok(bytes) => bytes,
            Err(e) => {
                return ApiError::new(
                    StatusCode::NOT_FOUND,
                    "not_found",
                    "未找到",
                    format!("SANNONG_WEB_DIR: {}: {e}", asset.name),
                )
                .into_response();
            }
        },
        None => asset.bytes.to_vec(),
    };
    (
        [
            (header::CONTENT_TYPE, asset.content_type),
            (header::CACHE_CONTROL, "no-cache"),
            (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        bytes,
    )
        .into_response()
}
