//! The HTTP handlers: each reads its request, calls one service-layer method of the
//! [`Platform`](crate::Platform) (which checks the caller's role and records the audit
//! entry) and writes JSON or a result format. No logic of its own beyond that.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequest, Multipart, Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::{ApiError, ApiResult};
use super::formats::ResultFormat;
use super::spool::SpooledBody;
use super::{AppState, Caller};
use crate::auth::Role;
use crate::ingest::source::ReadOptions;
use crate::ingest::{Silent, UploadRequest, UploadStatus};
use crate::output::{OutputFormat, write_result};
use crate::platform::Platform;
use crate::programme::{duties, parse_moment, tables, today};
use crate::query::QueryResult;

fn rows_json(result: &QueryResult) -> ApiResult<Value> {
    let mut out = Vec::new();
    write_result(result, OutputFormat::Json, &mut out)?;
    serde_json::from_slice(&out).map_err(|e| ApiError::from(crate::Error::Internal(e.to_string())))
}

fn sql_text(value: &str) -> String {
    value.replace('\'', "''")
}

/// `GET /api/health`
pub async fn health() -> Json<Value> {
    Json(json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION") }))
}

/// `GET /api/me`
pub async fn me(Caller(actor, platform): Caller) -> Json<Value> {
    Json(json!({
        "name": actor.name,
        "role": actor.role.to_string(),
        "token_id": actor.token_id,
        "county": actor.county,
        "counties": platform.counties().keys().collect::<Vec<_>>(),
    }))
}

/// Query parameters of an upload.
#[derive(Debug, Deserialize, Default)]
pub struct UploadParams {
    duty: Option<String>,
    period: Option<String>,
    file_name: Option<String>,
    dry_run: Option<bool>,
    sheet: Option<String>,
}

/// `POST /api/uploads`: a raw body (parameters in the query) or multipart form data
/// (fields `file`, `duty`, `period`, `dry_run`, `sheet`).
pub async fn upload(
    State(state): State<AppState>,
    Caller(actor, platform): Caller,
    Query(mut params): Query<UploadParams>,
    request: Request,
) -> ApiResult<Response> {
    let is_multipart = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    let limit = state.config.max_body_bytes;
    let body = if is_multipart {
        let mut form = Multipart::from_request(request, &state)
            .await
            .map_err(|e| ApiError::bad_request(format!("not valid multipart form data: {e}")))?;
        read_form(&mut form, &mut params, limit).await?
    } else {
        SpooledBody::receive(request.into_body().into_data_stream(), limit).await?
    };
    let duty = params
        .duty
        .clone()
        .ok_or_else(|| ApiError::bad_request("which duty? give duty=…, e.g. duty=parcels"))?;
    if body.is_empty() {
        return Err(ApiError::bad_request("the request has no file"));
    }
    let _slot = state.limits.upload_slot().await?;
    let upload = UploadRequest {
        duty,
        period: params.period,
        uploader: actor.name.clone(),
        file_name: params.file_name.unwrap_or_else(|| "upload".into()),
        body: crate::ingest::body::UploadBody::File(body.into_file()),
        read: ReadOptions {
            sheet: params.sheet,
            max_unpacked_bytes: state.config.max_unpacked_bytes,
            max_rows: state.config.max_upload_rows,
            ..ReadOptions::default()
        },
        dry_run: params.dry_run.unwrap_or(false),
        received_at: None,
    };
    let outcome = platform.upload_as(&actor, upload, &Silent).await?;
    state.metrics.upload(outcome.status);
    let body = serde_json::to_value(&outcome)
        .map_err(|e| ApiError::from(crate::Error::Internal(e.to_string())))?;
    if outcome.status == UploadStatus::Refused {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "upload_refused",
            "上报被拒绝，未写入任何数据",
            format!(
                "the upload is refused with {} error(s); nothing was written (submission {})",
                outcome.errors, outcome.submission_id
            ),
        )
        .with_details(body));
    }
    Ok(Json(body).into_response())
}

/// A body that could not be read: too large (413) or malformed (400).
pub(super) fn body_error(message: &str) -> ApiError {
    if message.contains("length limit") || message.contains("too large") {
        too_large(message)
    } else {
        ApiError::bad_request(format!("cannot read the request body: {message}"))
    }
}

/// A body over the limit (413).
pub(super) fn too_large(detail: &str) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_large",
        "文件太大",
        format!("the request body is larger than the limit: {detail}"),
    )
}

async fn read_form(
    form: &mut Multipart,
    params: &mut UploadParams,
    limit: usize,
) -> ApiResult<SpooledBody> {
    let mut file = None;
    loop {
        let field = match form.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(e) => return Err(body_error(&e.body_text())),
        };
        let name = field.name().unwrap_or("").to_owned();
        if name == "file" {
            if params.file_name.is_none() {
                params.file_name = field.file_name().map(str::to_owned);
            }
            file = Some(SpooledBody::receive(field, limit).await?);
            continue;
        }
        let text = field.text().await.map_err(|e| body_error(&e.body_text()))?;
        match name.as_str() {
            "duty" => params.duty = Some(text),
            "period" => params.period = Some(text),
            "sheet" => params.sheet = Some(text),
            "dry_run" => params.dry_run = Some(text == "true" || text == "1"),
            other => {
                return Err(ApiError::bad_request(format!(
                    "unknown form field '{other}': use file, duty, period, dry_run, sheet"
                )));
            }
        }
    }
    file.ok_or_else(|| ApiError::bad_request("the form has no field 'file'"))
}

/// Filters of the submissions list.
#[derive(Debug, Deserialize)]
pub struct SubmissionFilter {
    duty: Option<String>,
    status: Option<String>,
}

/// `GET /api/submissions`: a department sees its own only.
pub async fn submissions(
    Caller(actor, platform): Caller,
    Query(filter): Query<SubmissionFilter>,
) -> ApiResult<Json<Value>> {
    let mut conditions = vec!["true".to_owned()];
    if let Some(own) = actor.own_department() {
        conditions.push(format!("department = '{}'", sql_text(own)));
    }
    if let Some(duty) = &filter.duty {
        conditions.push(format!("duty = '{}'", sql_text(duty)));
    }
    if let Some(status) = &filter.status {
        conditions.push(format!("status = '{}'", sql_text(status)));
    }
    let sql = format!(
        "SELECT * FROM sys.submissions WHERE {} ORDER BY received_at DESC",
        conditions.join(" AND ")
    );
    Ok(Json(rows_json(&platform.sql(&sql).await?)?))
}

/// The submission with this id, if the caller may read it.
async fn readable_submission(
    platform: &Platform,
    actor: &crate::auth::Actor,
    id: &str,
) -> ApiResult<Value> {
    let found = rows_json(
        &platform
            .sql(&format!(
                "SELECT * FROM sys.submissions WHERE submission_id = '{}'",
                sql_text(id)
            ))
            .await?,
    )?;
    let Some(submission) = found.as_array().and_then(|a| a.first()).cloned() else {
        return Err(
            crate::Error::Catalog(sannong_catalog::CatalogError::NotFound {
                what: format!("submission {id}"),
            })
            .into(),
        );
    };
    actor.check_read_submissions(submission["department"].as_str().unwrap_or(""))?;
    Ok(submission)
}

/// The problems of a submission, in file order.
async fn submission_problems(platform: &Platform, id: &str) -> ApiResult<QueryResult> {
    Ok(platform
        .sql(&format!(
            "SELECT severity, \"row\", column_key, column_zh, value, rule, message_zh, message_en \
             FROM sys.submission_problems WHERE submission_id = '{}' ORDER BY \"row\", column_key",
            sql_text(id)
        ))
        .await?)
}

/// `GET /api/submissions/{id}`: the submission and its problems.
pub async fn submission(
    Caller(actor, platform): Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let submission = readable_submission(&platform, &actor, &id).await?;
    let problems = rows_json(&submission_problems(&platform, &id).await?)?;
    Ok(Json(
        json!({ "submission": submission, "problems": problems }),
    ))
}

/// A download format.
#[derive(Debug, Deserialize)]
pub struct FormatParam {
    format: Option<String>,
}

/// `GET /api/submissions/{id}/problems?format=xlsx`: the problems as a file to fix
/// the upload by.
pub async fn submission_problems_file(
    Caller(actor, platform): Caller,
    Path(id): Path<String>,
    Query(params): Query<FormatParam>,
) -> ApiResult<Response> {
    let submission = readable_submission(&platform, &actor, &id).await?;
    let format = ResultFormat::from_name(params.format.as_deref().unwrap_or("xlsx"))?;
    let body = format.encode(&submission_problems(&platform, &id).await?)?;
    let stem = submission["file_name"].as_str().unwrap_or("upload");
    let name = format!(
        "{}_问题.{}",
        stem.rsplit_once('.').map_or(stem, |(s, _)| s),
        format.extension()
    );
    Ok(attachment(format.content_type(), &name, body))
}

/// A file the browser saves as `name`.
fn attachment(content_type: &'static str, name: &str, body: Vec<u8>) -> Response {
    let encoded: String = name
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    let disposition = format!("attachment; filename=\"download\"; filename*=UTF-8''{encoded}");
    (
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response()
}

/// `GET /api/duties/{id}/template`: the blank XLSX template of a duty.
pub async fn duty_template(
    Caller(_, platform): Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let (_, duty) = crate::plugin::registry::for_duty(platform.catalog(), &id).await?;
    let body = crate::ingest::template::template_xlsx(&duty)?;
    Ok(attachment(
        ResultFormat::Xlsx.content_type(),
        &crate::ingest::template::template_file_name(&duty),
        body,
    ))
}

/// A query in a request body.
#[derive(Debug, Deserialize)]
pub struct QueryBody {
    sql: String,
    format: Option<String>,
}

/// A query in the URL.
#[derive(Debug, Deserialize)]
pub struct QueryParams {
    sql: Option<String>,
    format: Option<String>,
}

/// `GET /api/query?sql=…`
pub async fn query_get(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Query(params): Query<QueryParams>,
) -> ApiResult<Response> {
    let sql = params
        .sql
        .ok_or_else(|| ApiError::bad_request("give the SQL as sql=…"))?;
    run_query(state, caller, &headers, &sql, params.format.as_deref()).await
}

/// `POST /api/query` with `{"sql": …, "format": …}`.
pub async fn query_post(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let body: QueryBody = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(format!(
            "expected {{\"sql\": \"SELECT …\", \"format\": \"json\"}}: {e}"
        ))
    })?;
    run_query(state, caller, &headers, &body.sql, body.format.as_deref()).await
}

async fn run_query(
    state: AppState,
    Caller(actor, platform): Caller,
    headers: &HeaderMap,
    sql: &str,
    format: Option<&str>,
) -> ApiResult<Response> {
    let format = match format {
        Some(name) => ResultFormat::from_name(name)?,
        None => ResultFormat::from_accept(
            headers
                .get(header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .unwrap_or(""),
        ),
    };
    let _slot = state.limits.query_slot().await?;
    let result = platform.query_as(&actor, sql).await?;
    state.metrics.query();
    let body = format.encode(&result)?;
    Ok(([(header::CONTENT_TYPE, format.content_type())], body).into_response())
}

/// `GET /api/tables`
pub async fn list_tables(Caller(actor, platform): Caller) -> ApiResult<Json<Value>> {
    actor.check_query()?;
    Ok(Json(rows_json(&platform.tables().await?)?))
}

/// `GET /api/tables/{name}/history`
pub async fn table_history(
    Caller(actor, platform): Caller,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    actor.check_query()?;
    Ok(Json(rows_json(&platform.history(&name).await?)?))
}

/// Year and moment of the programme views.
#[derive(Debug, Deserialize)]
pub struct ProgrammeParams {
    year: Option<i32>,
    as_of: Option<String>,
    trend: Option<bool>,
    periods: Option<bool>,
}

impl ProgrammeParams {
    fn as_of(&self) -> ApiResult<Option<chrono::DateTime<chrono::Utc>>> {
        self.as_of
            .as_deref()
            .map(|s| {
                parse_moment(s).ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "as_of '{s}' is not YYYY-MM-DD or YYYY-MM-DD HH:MM:SS (Beijing time)"
                    ))
                })
            })
            .transpose()
    }

    fn date(&self) -> ApiResult<chrono::NaiveDate> {
        Ok(self
            .as_of()?
            .map_or_else(today, |at| sannong_catalog::sql::to_beijing(at).date()))
    }

    fn year(&self) -> ApiResult<i32> {
        match self.year.unwrap_or(2021) {
            year @ 2000..=2100 => Ok(year),
            other => Err(ApiError::bad_request(format!(
                "year {other} is out of range 2000–2100"
            ))),
        }
    }
}

fn to_json(value: impl serde::Serialize) -> ApiResult<Json<Value>> {
    serde_json::to_value(value)
        .map(Json)
        .map_err(|e| crate::Error::Internal(e.to_string()).into())
}

/// `GET /api/kpis`
pub async fn kpis(
    Caller(_, platform): Caller,
    Query(params): Query<ProgrammeParams>,
) -> ApiResult<Json<Value>> {
    let (year, as_of) = (params.year()?, params.as_of()?);
    if params.trend.unwrap_or(false) {
        return to_json(platform.kpi_trend(year, as_of).await?);
    }
    to_json(platform.kpis(year, as_of).await?)
}

/// `GET /api/kpis/towns`
pub async fn kpis_by_town(
    Caller(_, platform): Caller,
    Query(params): Query<ProgrammeParams>,
) -> ApiResult<Json<Value>> {
    to_json(
        platform
            .kpis_by_town(params.year()?, params.as_of()?)
            .await?,
    )
}

/// `GET /api/kpis/{id}/explain`
pub async fn explain_kpi(
    Caller(_, platform): Caller,
    Path(id): Path<String>,
    Query(params): Query<ProgrammeParams>,
) -> ApiResult<Json<Value>> {
    let explanation = platform
        .explain_kpi(&id, params.year()?, params.as_of()?)
        .await?;
    let mut lineage = Vec::new();
    for (table, rows) in &explanation.lineage {
        lineage.push(json!({ "table": table, "submissions": rows_json(rows)? }));
    }
    Ok(Json(
        json!({ "kpi": explanation.value, "sql": explanation.sql, "lineage": lineage }),
    ))
}

/// `GET /api/duties`: a department sees its own duties only.
pub async fn duty_status(
    Caller(actor, platform): Caller,
    Query(params): Query<ProgrammeParams>,
) -> ApiResult<Json<Value>> {
    let mut periods = platform.duty_status(params.date()?).await?;
    if let Some(own) = actor.own_department() {
        periods.retain(|p| p.department == own);
    }
    if params.periods.unwrap_or(false) {
        return Ok(Json(rows_json(&tables::result(
            tables::duty_period_rows(&periods),
        )?)?));
    }
    let mut compliance = duties::compliance(platform.programme(), &periods);
    if let Some(own) = actor.own_department() {
        compliance.retain(|c| c.department == own);
    }
    to_json(compliance)
}

/// `GET /api/milestones`
pub async fn milestones(
    Caller(_, platform): Caller,
    Query(params): Query<ProgrammeParams>,
) -> ApiResult<Json<Value>> {
    to_json(platform.milestones(params.date()?).await?)
}

/// `GET /api/plugins`
pub async fn plugins(Caller(_, platform): Caller) -> ApiResult<Json<Value>> {
    let plugins = platform.plugins().await?;
    to_json(
        plugins
            .iter()
            .map(|p| {
                json!({
                    "plugin_id": p.event.plugin_id, "version": p.event.version,
                    "department": p.manifest.department.id, "sha256": p.event.sha256,
                    "duties": p.manifest.duties.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(),
                    "installed_by": p.event.by, "installed_at": p.event.at,
                })
            })
            .collect::<Vec<_>>(),
    )
}

/// `GET /api/plugins/{id}`: the manifest (department, duties, templates).
pub async fn plugin(Caller(_, platform): Caller, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    to_json(platform.plugin(&id).await?.manifest)
}

/// The name of an uploaded component.
#[derive(Debug, Deserialize)]
pub struct InstallParams {
    name: Option<String>,
}

/// `POST /api/plugins`: the component as the body (admins).
pub async fn install_plugin(
    Caller(actor, platform): Caller,
    Query(params): Query<InstallParams>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let label = params.name.unwrap_or_else(|| "component.wasm".into());
    let outcome = platform.install_plugin_as(&actor, &label, body).await?;
    let (status, p) = match &outcome {
        crate::plugin::registry::InstallOutcome::Installed(p) => ("installed", p),
        crate::plugin::registry::InstallOutcome::AlreadyInstalled(p) => ("already_installed", p),
    };
    Ok(Json(json!({
        "status": status, "plugin_id": p.event.plugin_id, "version": p.event.version,
        "sha256": p.event.sha256, "manifest": p.manifest,
    })))
}

/// `DELETE /api/plugins/{id}` (admins).
pub async fn remove_plugin(
    Caller(actor, platform): Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    platform.remove_plugin_as(&actor, &id).await?;
    Ok(Json(json!({ "removed": id })))
}

/// A token to create.
#[derive(Debug, Deserialize)]
pub struct NewTokenBody {
    role: String,
    name: String,
}

/// `POST /api/tokens` (admins): the token is in the response, once.
pub async fn create_token(
    Caller(actor, platform): Caller,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let body: NewTokenBody = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(format!(
            "expected {{\"role\": \"analyst\", \"name\": \"…\"}}: {e}"
        ))
    })?;
    actor.check_admin()?;
    let role: Role = body.role.parse()?;
    let created = platform.create_token_as(&actor, &role, &body.name).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "id": created.record.id, "name": created.record.name, "role": created.record.role,
            "token": created.token,
        })),
    ))
}

/// `GET /api/tokens` (admins).
pub async fn list_tokens(Caller(actor, platform): Caller) -> ApiResult<Json<Value>> {
    let tokens = platform.tokens_as(&actor).await?;
    to_json(
        tokens
            .iter()
            .map(|t| {
                json!({
                    "id": t.id, "name": t.name, "role": t.role, "created_by": t.created_by,
                    "created_at": t.created_at, "revoked_at": t.revoked_at,
                })
            })
            .collect::<Vec<_>>(),
    )
}

/// `DELETE /api/tokens/{id}` (admins).
pub async fn revoke_token(
    Caller(actor, platform): Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    platform.revoke_token_as(&actor, &id).await?;
    Ok(Json(json!({ "revoked": id })))
}

/// `GET /api/audit/verify` (auditors, admins).
pub async fn verify_audit(Caller(actor, platform): Caller) -> ApiResult<Json<Value>> {
    to_json(platform.verify_audit_log(&actor).await?)
}

/// `GET /metrics`: Prometheus text.
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}

/// `GET /api/openapi.json`
pub async fn openapi() -> Json<Value> {
    Json(super::api::openapi())
}
