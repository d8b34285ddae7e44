//! Every endpoint of the API, once: method, path, summary, who may call it, its
//! parameters, body and responses, and the handler. [`super::router`] mounts them and
//! [`openapi`] describes them (OpenAPI 3.0), so the description cannot drift from
//! what the server does.

use axum::routing::{MethodRouter, delete, get, post};
use serde_json::{Map, Value, json};

use super::AppState;
use super::formats::FORMAT_NAMES;
use super::handlers as h;

/// Where a parameter goes.
#[derive(Debug, Clone, Copy)]
pub enum In {
    /// In the path.
    Path,
    /// In the query string.
    Query,
}

/// A parameter.
#[derive(Debug, Clone, Copy)]
pub struct Param {
    /// Its name.
    pub name: &'static str,
    /// Where.
    pub location: In,
    /// JSON-schema type: string, integer or boolean.
    pub kind: &'static str,
    /// Whether it must be given.
    pub required: bool,
    /// What it is.
    pub description: &'static str,
}

/// A request body.
#[derive(Debug, Clone, Copy)]
pub enum Body {
    /// None.
    None,
    /// JSON with these required string properties (name, description).
    Json(&'static [(&'static str, &'static str)]),
    /// A file: raw bytes, or `multipart/form-data` with a `file` field.
    File,
    /// Raw bytes of this content type.
    Binary(&'static str),
}

/// One endpoint.
pub struct Endpoint {
    /// `get`, `post` or `delete`.
    pub method: &'static str,
    /// The path, `{name}` for path parameters (as axum and OpenAPI both write them).
    pub path: &'static str,
    /// What it does.
    pub summary: &'static str,
    /// Who may call it; empty: no token needed.
    pub roles: &'static str,
    /// Its parameters.
    pub params: &'static [Param],
    /// Its body.
    pub body: Body,
    /// Responses: status and what it means.
    pub responses: &'static [(u16, &'static str)],
    /// The handler.
    pub route: fn() -> MethodRouter<AppState>,
}

const fn query(name: &'static str, kind: &'static str, description: &'static str) -> Param {
    Param {
        name,
        location: In::Query,
        kind,
        required: false,
        description,
    }
}

const fn path(name: &'static str, description: &'static str) -> Param {
    Param {
        name,
        location: In::Path,
        kind: "string",
        required: true,
        description,
    }
}

const AS_OF: Param = query(
    "as_of",
    "string",
    "YYYY-MM-DD or YYYY-MM-DD HH:MM:SS, Beijing time: the tables as they stood then",
);
const YEAR: Param = query(
    "year",
    "integer",
    "The year evaluated (default 2021; baseline the year before)",
);
const AUTH: (u16, &str) = (401, "No valid bearer token");
const ROLE: (u16, &str) = (403, "The token's role may not do this");
const ANY: &str = "any role";
const READERS: &str = "analyst, auditor, admin";

/// Every endpoint.
pub const ENDPOINTS: &[Endpoint] = &[
    Endpoint {
        method: "get",
        path: "/api/health",
        summary: "Whether the server is up",
        roles: "",
        params: &[],
        body: Body::None,
        responses: &[(200, "Up")],
        route: || get(h::health),
    },
    Endpoint {
        method: "get",
        path: "/metrics",
        summary: "Prometheus metrics",
        roles: "",
        params: &[],
        body: Body::None,
        responses: &[(200, "Text exposition format")],
        route: || get(h::metrics),
    },
    Endpoint {
        method: "get",
        path: "/api/openapi.json",
        summary: "This description",
        roles: "",
        params: &[],
        body: Body::None,
        responses: &[(200, "OpenAPI 3 document")],
        route: || get(h::openapi),
    },
    Endpoint {
        method: "get",
        path: "/api/me",
        summary: "The caller's name and role",
        roles: ANY,
        params: &[],
        body: Body::None,
        responses: &[(200, "Name and role"), AUTH],
        route: || get(h::me),
    },
    Endpoint {
        method: "post",
        path: "/api/uploads",
        summary: "Upload a department's file to a duty: accepted whole (200) or refused whole with every problem (422)",
        roles: "department:<id> for its own duties, admin",
        params: &[
            query("duty", "string", "The duty, e.g. parcels (or a form field)"),
            query("period", "string", "The period YYYY-MM, for monthly duties"),
            query(
                "file_name",
                "string",
                "The file's name, which tells its format (.csv, .xlsx, .json…)",
            ),
            query("dry_run", "boolean", "Check everything, write nothing"),
            query("sheet", "string", "The XLSX sheet (default: the first)"),
        ],
        body: Body::File,
        responses: &[
            (200, "Accepted (or already accepted, or a dry run)"),
            (400, "Bad request"),
            AUTH,
            ROLE,
            (404, "No plugin serves the duty"),
            (413, "Body too large"),
            (422, "Refused: details hold the problems"),
            (503, "Busy"),
        ],
        route: || post(h::upload),
    },
    Endpoint {
        method: "get",
        path: "/api/submissions",
        summary: "Submissions, newest first (a department sees its own)",
        roles: ANY,
        params: &[
            query("duty", "string", "Only this duty"),
            query("status", "string", "accepted or refused"),
        ],
        body: Body::None,
        responses: &[(200, "Submissions"), AUTH],
        route: || get(h::submissions),
    },
    Endpoint {
        method: "get",
        path: "/api/submissions/{id}",
        summary: "One submission and its problems",
        roles: "its department, analyst, auditor, admin",
        params: &[path("id", "Submission id")],
        body: Body::None,
        responses: &[
            (200, "Submission and problems"),
            AUTH,
            ROLE,
            (404, "No such submission"),
        ],
        route: || get(h::submission),
    },
    Endpoint {
        method: "get",
        path: "/api/submissions/{id}/problems",
        summary: "A submission's problems as a file to fix the upload by (XLSX by default)",
        roles: "its department, analyst, auditor, admin",
        params: &[
            path("id", "Submission id"),
            query(
                "format",
                "string",
                "xlsx (default), csv, json, arrow or parquet",
            ),
        ],
        body: Body::None,
        responses: &[
            (200, "The problems"),
            (400, "Unknown format"),
            AUTH,
            ROLE,
            (404, "No such submission"),
        ],
        route: || get(h::submission_problems_file),
    },
    Endpoint {
        method: "get",
        path: "/api/query",
        summary: "Read-only SQL; results as JSON, CSV, Arrow IPC stream, Parquet or XLSX (format= or Accept)",
        roles: "analyst, auditor (also sys.audit_log), admin",
        params: &[
            Param {
                name: "sql",
                location: In::Query,
                kind: "string",
                required: true,
                description: "SELECT, WITH, EXPLAIN, DESCRIBE or SHOW",
            },
            query("format", "string", "json, csv, arrow, parquet or xlsx"),
        ],
        body: Body::None,
        responses: &[
            (200, "The rows"),
            (400, "SQL refused or invalid"),
            AUTH,
            ROLE,
            (408, "Query time limit"),
            (503, "Busy"),
        ],
        route: || get(h::query_get),
    },
    Endpoint {
        method: "post",
        path: "/api/query",
        summary: "Read-only SQL in a JSON body",
        roles: "analyst, auditor (also sys.audit_log), admin",
        params: &[],
        body: Body::Json(&[("sql", "SELECT, WITH, EXPLAIN, DESCRIBE or SHOW")]),
        responses: &[
            (200, "The rows"),
            (400, "SQL refused or invalid"),
            AUTH,
            ROLE,
            (408, "Query time limit"),
            (503, "Busy"),
        ],
        route: || post(h::query_post),
    },
    Endpoint {
        method: "get",
        path: "/api/tables",
        summary: "Tables with their current version and rows",
        roles: READERS,
        params: &[],
        body: Body::None,
        responses: &[(200, "Tables"), AUTH, ROLE],
        route: || get(h::list_tables),
    },
    Endpoint {
        method: "get",
        path: "/api/tables/{name}/history",
        summary: "Every version of a table",
        roles: READERS,
        params: &[path("name", "schema.table, e.g. logistics.parcels")],
        body: Body::None,
        responses: &[
            (200, "Versions"),
            (400, "Invalid name"),
            AUTH,
            ROLE,
            (404, "No such table"),
        ],
        route: || get(h::table_history),
    },
    Endpoint {
        method: "get",
        path: "/api/kpis",
        summary: "KPIs T1–T16 against their targets, or month by month (trend=true)",
        roles: ANY,
        params: &[
            YEAR,
            AS_OF,
            query("trend", "boolean", "Month by month through the year"),
        ],
        body: Body::None,
        responses: &[(200, "KPIs"), (400, "Bad year or date"), AUTH],
        route: || get(h::kpis),
    },
    Endpoint {
        method: "get",
        path: "/api/kpis/{id}/explain",
        summary: "A KPI's SQL, value and the submissions it aggregated",
        roles: ANY,
        params: &[path("id", "KPI id, e.g. T4"), YEAR, AS_OF],
        body: Body::None,
        responses: &[(200, "Explanation"), (400, "No such KPI"), AUTH],
        route: || get(h::explain_kpi),
    },
    Endpoint {
        method: "get",
        path: "/api/kpis/towns",
        summary: "The KPIs that have a town breakdown, town by town",
        roles: ANY,
        params: &[YEAR, AS_OF],
        body: Body::None,
        responses: &[(200, "KPIs by town"), (400, "Bad year or date"), AUTH],
        route: || get(h::kpis_by_town),
    },
    Endpoint {
        method: "get",
        path: "/api/duties",
        summary: "Duty timeliness and completeness by department, or every period (periods=true); a department sees its own",
        roles: ANY,
        params: &[AS_OF, query("periods", "boolean", "Every duty's periods")],
        body: Body::None,
        responses: &[(200, "Rates or periods"), (400, "Bad date"), AUTH],
        route: || get(h::duty_status),
    },
    Endpoint {
        method: "get",
        path: "/api/duties/{id}/template",
        summary: "The blank upload template of a duty: XLSX with the Chinese headers and a sheet explaining each column",
        roles: ANY,
        params: &[path("id", "Duty id, e.g. parcels")],
        body: Body::None,
        responses: &[(200, "The template"), AUTH, (404, "No such duty")],
        route: || get(h::duty_template),
    },
    Endpoint {
        method: "get",
        path: "/api/milestones",
        summary: "Milestones M1–M13",
        roles: ANY,
        params: &[AS_OF],
        body: Body::None,
        responses: &[(200, "Milestones"), (400, "Bad date"), AUTH],
        route: || get(h::milestones),
    },
    Endpoint {
        method: "get",
        path: "/api/plugins",
        summary: "Installed plugins",
        roles: ANY,
        params: &[],
        body: Body::None,
        responses: &[(200, "Plugins"), AUTH],
        route: || get(h::plugins),
    },
    Endpoint {
        method: "post",
        path: "/api/plugins",
        summary: "Install a plugin component",
        roles: "admin",
        params: &[query("name", "string", "The component's file name")],
        body: Body::Binary("application/octet-stream"),
        responses: &[
            (200, "Installed"),
            AUTH,
            ROLE,
            (422, "Not an acceptable component"),
        ],
        route: || post(h::install_plugin),
    },
    Endpoint {
        method: "get",
        path: "/api/plugins/{id}",
        summary: "A plugin's manifest: department, duties, templates",
        roles: ANY,
        params: &[path("id", "Plugin id")],
        body: Body::None,
        responses: &[(200, "Manifest"), AUTH, (404, "No such plugin")],
        route: || get(h::plugin),
    },
    Endpoint {
        method: "delete",
        path: "/api/plugins/{id}",
        summary: "Remove a plugin",
        roles: "admin",
        params: &[path("id", "Plugin id")],
        body: Body::None,
        responses: &[(200, "Removed"), AUTH, ROLE, (404, "No such plugin")],
        route: || delete(h::remove_plugin),
    },
    Endpoint {
        method: "get",
        path: "/api/tokens",
        summary: "Tokens (never their secrets)",
        roles: "admin",
        params: &[],
        body: Body::None,
        responses: &[(200, "Tokens"), AUTH, ROLE],
        route: || get(h::list_tokens),
    },
    Endpoint {
        method: "post",
        path: "/api/tokens",
        summary: "Create a token; the response holds it, once",
        roles: "admin",
        params: &[],
        body: Body::Json(&[
            ("role", "admin, analyst, auditor or department:<id>"),
            ("name", "Whose it is"),
        ]),
        responses: &[(201, "Created"), (400, "Bad role"), AUTH, ROLE],
        route: || post(h::create_token),
    },
    Endpoint {
        method: "delete",
        path: "/api/tokens/{id}",
        summary: "Revoke a token",
        roles: "admin",
        params: &[path("id", "Token id")],
        body: Body::None,
        responses: &[(200, "Revoked"), AUTH, ROLE, (404, "No such token")],
        route: || delete(h::revoke_token),
    },
    Endpoint {
        method: "get",
        path: "/api/audit/verify",
        summary: "Walk the audit log's hash chain; report the first broken link",
        roles: "auditor, admin",
        params: &[],
        body: Body::None,
        responses: &[
            (200, "Entries checked and the first broken link, if any"),
            AUTH,
            ROLE,
        ],
        route: || get(h::verify_audit),
    },
];

fn error_schema() -> Value {
    json!({
        "type": "object",
        "required": ["error"],
        "properties": { "error": {
            "type": "object",
            "required": ["code", "message_zh", "message_en"],
            "properties": {
                "code": { "type": "string" },
                "message_zh": { "type": "string" },
                "message_en": { "type": "string" },
                "details": {}
            }
        }}
    })
}

fn parameter(p: &Param) -> Value {
    let mut schema = json!({ "type": p.kind });
    if p.name == "format" {
        schema["enum"] = json!(FORMAT_NAMES);
    }
    json!({
        "name": p.name,
        "in": match p.location { In::Path => "path", In::Query => "query" },
        "required": p.required,
        "description": p.description,
        "schema": schema,
    })
}

fn request_body(body: Body) -> Option<Value> {
    let binary = json!({ "schema": { "type": "string", "format": "binary" } });
    match body {
        Body::None => None,
        Body::Json(fields) => {
            let properties: Map<String, Value> = fields
                .iter()
                .map(|(name, description)| {
                    (
                        name.to_string(),
                        json!({ "type": "string", "description": description }),
                    )
                })
                .collect();
            let required: Vec<&str> = fields.iter().map(|(n, _)| *n).collect();
            Some(
                json!({ "required": true, "content": { "application/json": { "schema": {
                    "type": "object", "required": required, "properties": properties
                }}}}),
            )
        }
        Body::File => Some(json!({ "required": true, "content": {
            "application/octet-stream": binary,
            "multipart/form-data": { "schema": { "type": "object", "required": ["file"], "properties": {
                "file": { "type": "string", "format": "binary" },
                "duty": { "type": "string" },
                "period": { "type": "string" },
                "dry_run": { "type": "string" },
                "sheet": { "type": "string" }
            }}}
        }})),
        Body::Binary(kind) => Some(json!({ "required": true, "content": { kind: binary } })),
    }
}

fn operation(e: &Endpoint) -> Value {
    let responses: Map<String, Value> = e
        .responses
        .iter()
        .map(|(status, description)| {
            let content = if *status >= 400 {
                json!({ "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } })
            } else {
                json!({ "application/json": { "schema": {} } })
            };
            (status.to_string(), json!({ "description": description, "content": content }))
        })
        .collect();
    let mut op = json!({
        "summary": e.summary,
        "operationId": format!("{}{}", e.method, e.path.replace(['/', '{', '}', '.'], "_")),
        "parameters": e.params.iter().map(parameter).collect::<Vec<_>>(),
        "responses": responses,
    });
    if e.roles.is_empty() {
        op["security"] = json!([]);
    } else {
        op["description"] = json!(format!("Who may call it: {}.", e.roles));
    }
    if let Some(body) = request_body(e.body) {
        op["requestBody"] = body;
    }
    op
}

/// The OpenAPI 3.0 description of [`ENDPOINTS`].
pub fn openapi() -> Value {
    let mut paths = Map::new();
    for e in ENDPOINTS {
        let item = paths.entry(e.path).or_insert_with(|| json!({}));
        item[e.method] = operation(e);
    }
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "sannong",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The data platform of the county's e-commerce into rural areas programme (电子商务进农村综合示范): uploads, SQL, KPIs, duties, milestones, plugins, tokens and the audit log."
        },
        "paths": paths,
        "components": {
            "schemas": { "Error": error_schema() },
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } }
        },
        "security": [{ "bearer": [] }]
    })
}
