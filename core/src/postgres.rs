//! The PostgreSQL wire protocol, for analysts' own tools — psql, DBeaver, psycopg,
//! Metabase, Superset, Grafana — beside the HTTP API (`sannong serve --pg-addr`).
//!
//! The password is a sannong token and the roles of the HTTP API apply: departments
//! upload and do not query, only auditors and admins see `sys.audit_log`. Every
//! statement runs through [`Platform::postgres_query_as`], so it is read-only, time-
//! and memory-limited and recorded in the audit log exactly as over HTTP.
//!
//! datafusion-postgres supplies the protocol pieces: its Postgres-compatible parser
//! (which rewrites `::regclass`, `OPERATOR(pg_catalog.~)` and the like), the
//! `pg_catalog` tables tools read when they connect (registered in this protocol's
//! query sessions only, see [`QueryService::with_postgres_catalog`](crate::query::QueryService)), the
//! `SET`/`SHOW`/transaction statements clients send, and encoding Arrow as rows.
//! Prepared statements are planned against the caller's tables to describe their
//! parameters and columns; at execution their parameters are written into the
//! statement as literals and it runs like any other query.

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::DataType;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::{SessionContext, lit};
use datafusion::sql::sqlparser::ast::{Expr, Statement, Value, VisitMut, VisitorMut};
use datafusion::sql::unparser::expr_to_sql;
use datafusion_postgres::arrow_pg::datatypes::df::deserialize_parameters_with_server_types;
use datafusion_postgres::arrow_pg::datatypes::{
    arrow_schema_to_pg_fields, encode_recordbatch, into_pg_type,
};
use datafusion_postgres::datafusion_pg_catalog::sql::PostgresCompatibilityParser;
use datafusion_postgres::hooks::QueryHook;
use datafusion_postgres::hooks::set_show::SetShowHook;
use datafusion_postgres::hooks::transactions::TransactionStatementHook;
use datafusion_postgres::pgwire;
use futures::{Sink, SinkExt, stream};
use pgwire::api::auth::{
    DefaultServerParameterProvider, StartupHandler, finish_authentication, protocol_negotiation,
    save_startup_parameters_to_metadata,
};
use pgwire::api::portal::{Format, Portal};
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::results::{FieldInfo, QueryResponse, Response};
use pgwire::api::stmt::QueryParser;
use pgwire::api::store::PortalStore;
use pgwire::api::{
    ClientInfo, ClientPortalStore, PgWireConnectionState, PgWireServerHandlers,
    PidSecretKeyGenerator, RandomPidSecretKeyGenerator, Type,
};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::startup::Authentication;
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use pgwire::types::format::FormatOptions;
use tokio::net::TcpListener;

use crate::auth::Actor;
use crate::error::Error;
use crate::platform::Platform;
use crate::query::QueryResult;

/// A prepared statement: its SQL and, unless empty, the statement and its plan (the
/// shape datafusion-postgres' hooks expect in the portal store).
type Prepared = (String, Option<(Statement, LogicalPlan)>);

/// Serves the wire protocol on `listener` until the process ends.
pub async fn serve(listener: TcpListener, platform: Platform) -> std::io::Result<()> {
    let handlers = Arc::new(Handlers::new(platform));
    loop {
        let (socket, peer) = listener.accept().await?;
        let handlers = handlers.clone();
        tokio::spawn(async move {
            if let Err(e) = pgwire::tokio::process_socket(socket, None, handlers).await {
                tracing::debug!(%peer, "postgres connection ended: {e}");
            }
        });
    }
}

/// The handlers of every connection.
struct Handlers {
    service: Arc<Service>,
    startup: Arc<TokenStartup>,
}

impl Handlers {
    fn new(platform: Platform) -> Self {
        Handlers {
            service: Arc::new(Service {
                platform: platform.clone(),
                parser: Arc::new(Parser {
                    platform: platform.clone(),
                    sql: PostgresCompatibilityParser::new(),
                    hooks: vec![Arc::new(SetShowHook), Arc::new(TransactionStatementHook)],
                }),
            }),
            startup: Arc::new(TokenStartup {
                platform,
                keys: RandomPidSecretKeyGenerator::default(),
                parameters: DefaultServerParameterProvider::default(),
            }),
        }
    }
}

impl PgWireServerHandlers for Handlers {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        self.service.clone()
    }

    fn extended_query_handler(&self) -> Arc<impl ExtendedQueryHandler> {
        self.service.clone()
    }

    fn startup_handler(&self) -> Arc<impl StartupHandler> {
        self.startup.clone()
    }
}

/// The connection's token, kept in its session (not in its parameters, which `SHOW`
/// would print).
struct ConnectionToken(String);

/// Asks for a password and takes it as a sannong token.
struct TokenStartup {
    platform: Platform,
    keys: RandomPidSecretKeyGenerator,
    parameters: DefaultServerParameterProvider,
}

#[async_trait]
impl StartupHandler for TokenStartup {
    async fn on_startup<C>(
        &self,
        client: &mut C,
        message: PgWireFrontendMessage,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        match message {
            PgWireFrontendMessage::Startup(ref startup) => {
                protocol_negotiation(client, startup).await?;
                save_startup_parameters_to_metadata(client, startup);
                client.set_state(PgWireConnectionState::AuthenticationInProgress);
                client
                    .send(PgWireBackendMessage::Authentication(
                        Authentication::CleartextPassword,
                    ))
                    .await?;
            }
            PgWireFrontendMessage::PasswordMessageFamily(password) => {
                let token = password.into_password()?.password;
                let actor = self
                    .platform
                    .authenticate(&token)
                    .await
                    .map_err(|e| fatal("28P01", &e))?;
                actor.check_query().map_err(|e| fatal("28000", &e))?;
                tracing::info!(actor = %actor.name, role = %actor.role, "postgres connection");
                client
                    .session_extensions()
                    .get_or_insert_with(|| ConnectionToken(token));
                let (pid, secret) = self.keys.generate(client);
                client.set_pid_and_secret_key(pid, secret);
                finish_authentication(client, &self.parameters).await?;
            }
            _ => {}
        }
        Ok(())
    }
}

/// Queries, simple and prepared.
struct Service {
    platform: Platform,
    parser: Arc<Parser>,
}

/// The caller, from the connection's token (checked again on every statement, so a
/// revoked token stops working on open connections too).
async fn caller<C: ClientInfo + ?Sized>(platform: &Platform, client: &C) -> PgWireResult<Actor> {
    let token = client
        .session_extensions()
        .get::<ConnectionToken>()
        .ok_or_else(|| fatal("28000", &Error::Unauthorized("not signed in".into())))?;
    platform
        .authenticate(&token.0)
        .await
        .map_err(|e| fatal("28P01", &e))
}

impl Service {
    /// Runs one statement's SQL as `actor` and encodes its rows.
    async fn run<C: ClientInfo>(
        &self,
        client: &C,
        actor: &Actor,
        sql: &str,
        format: &Format,
    ) -> PgWireResult<Response> {
        let result = self
            .platform
            .postgres_query_as(actor, sql)
            .await
            .map_err(|e| user_error(&e))?;
        Ok(Response::Query(encode(result, format, client)?))
    }
}

#[async_trait]
impl SimpleQueryHandler for Service {
    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let actor = caller(&self.platform, client).await?;
        let statements = self.parser.statements(query)?;
        if statements.is_empty() {
            return Ok(vec![Response::EmptyQuery]);
        }
        let mut responses = Vec::new();
        'statements: for statement in statements {
            for hook in &self.parser.hooks {
                if let Some(response) = hook
                    .handle_simple_query(&statement, &SessionContext::new(), client)
                    .await
                {
                    responses.push(response?);
                    continue 'statements;
                }
            }
            responses.push(
                self.run(client, &actor, &statement.to_string(), &Format::UnifiedText)
                    .await?,
            );
        }
        Ok(responses)
    }
}

#[async_trait]
impl ExtendedQueryHandler for Service {
    type Statement = Prepared;
    type QueryParser = Parser;

    fn query_parser(&self) -> Arc<Parser> {
        self.parser.clone()
    }

    async fn do_query<C>(
        &self,
        client: &mut C,
        portal: &Portal<Prepared>,
        _max_rows: usize,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let actor = caller(&self.platform, client).await?;
        let (_, Some((statement, plan))) = &portal.statement.statement else {
            return Ok(Response::EmptyQuery);
        };
        let (types, wire_types) = parameter_types(plan)?;
        let type_refs: Vec<Option<&DataType>> = types.iter().map(Option::as_ref).collect();
        let wire_refs: Vec<Option<&Type>> = wire_types.iter().map(Some).collect();
        let values = deserialize_parameters_with_server_types(portal, &type_refs, &wire_refs)?;
        for hook in &self.parser.hooks {
            if let Some(response) = hook
                .handle_extended_query(statement, plan, &values, &SessionContext::new(), client)
                .await
            {
                return response;
            }
        }
        let mut bound = statement.clone();
        bind_parameters(&mut bound, &values)?;
        self.run(
            client,
            &actor,
            &bound.to_string(),
            &portal.result_column_format,
        )
        .await
    }
}

/// Parses SQL the Postgres way and plans prepared statements against the caller's
/// tables; session statements (`SET`, `SHOW`, `BEGIN`…) go to datafusion-postgres'
/// hooks, each call with a fresh session of its own (a client's `SET` must not reach
/// another's) and none of the platform's tables.
pub struct Parser {
    platform: Platform,
    sql: PostgresCompatibilityParser,
    hooks: Vec<Arc<dyn QueryHook>>,
}

impl Parser {
    fn statements(&self, sql: &str) -> PgWireResult<Vec<Statement>> {
        self.sql
            .parse(sql)
            .map_err(|e| user_error(&Error::InvalidQuery(e.to_string())))
    }
}

#[async_trait]
impl QueryParser for Parser {
    type Statement = Prepared;

    async fn parse_sql<C>(
        &self,
        client: &C,
        sql: &str,
        _types: &[Option<Type>],
    ) -> PgWireResult<Option<Prepared>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        let mut statements = self.statements(sql)?;
        if statements.is_empty() {
            return Ok(None);
        }
        if statements.len() > 1 {
            return Err(user_error(&Error::InvalidQuery(
                "a prepared statement is one statement".into(),
            )));
        }
        let statement = statements.remove(0);
        let text = statement.to_string();
        for hook in &self.hooks {
            if let Some(plan) = hook
                .handle_extended_parse_query(&statement, &SessionContext::new(), client)
                .await
            {
                return Ok(Some((text, Some((statement, plan?)))));
            }
        }
        crate::query::check_read_only(&text).map_err(|e| user_error(&e))?;
        let actor = caller(&self.platform, client).await?;
        let session = self
            .platform
            .session_as(&actor, true)
            .await
            .map_err(|e| user_error(&e))?;
        let plan = session
            .state()
            .statement_to_plan(datafusion::sql::parser::Statement::Statement(Box::new(
                statement.clone(),
            )))
            .await
            .map_err(|e| {
                user_error(&Error::InvalidQuery(sannong_catalog::one_line(
                    &e.to_string(),
                )))
            })?;
        Ok(Some((text, Some((statement, plan)))))
    }

    fn get_parameter_types(&self, prepared: &Prepared) -> PgWireResult<Vec<Type>> {
        match prepared {
            (_, Some((_, plan))) => Ok(parameter_types(plan)?.1),
            _ => Ok(Vec::new()),
        }
    }

    fn get_result_schema(
        &self,
        prepared: &Prepared,
        format: Option<&Format>,
    ) -> PgWireResult<Vec<FieldInfo>> {
        match prepared {
            (_, Some((_, plan))) if !matches!(plan, LogicalPlan::Ddl(_) | LogicalPlan::Dml(_)) => {
                arrow_schema_to_pg_fields(
                    plan.schema().as_arrow(),
                    format.unwrap_or(&Format::UnifiedText),
                    None,
                )
            }
            _ => Ok(Vec::new()),
        }
    }
}

/// The parameters `$1`, `$2`, … of a plan in order: their Arrow types (when the
/// planner could infer them) and the wire types announced to the client.
fn parameter_types(plan: &LogicalPlan) -> PgWireResult<(Vec<Option<DataType>>, Vec<Type>)> {
    let found = plan
        .get_parameter_types()
        .map_err(|e| user_error(&Error::InvalidQuery(e.to_string())))?;
    let mut ordered: Vec<(usize, Option<DataType>)> = found
        .into_iter()
        .filter_map(|(name, t)| Some((name.trim_start_matches('$').parse::<usize>().ok()?, t)))
        .collect();
    ordered.sort_by_key(|(n, _)| *n);
    let mut wire = Vec::new();
    for (_, t) in &ordered {
        wire.push(match t {
            Some(t) => into_pg_type(t)?,
            None => Type::UNKNOWN,
        });
    }
    Ok((ordered.into_iter().map(|(_, t)| t).collect(), wire))
}

/// Writes the bound values into the statement in place of `$1`, `$2`, … as literals.
fn bind_parameters(
    statement: &mut Statement,
    values: &datafusion::common::ParamValues,
) -> PgWireResult<()> {
    struct Binder<'a> {
        values: &'a datafusion::common::ParamValues,
        error: Option<PgWireError>,
    }
    impl VisitorMut for Binder<'_> {
        type Break = ();
        fn pre_visit_expr(&mut self, expr: &mut Expr) -> std::ops::ControlFlow<()> {
            if let Expr::Value(value) = expr
                && let Value::Placeholder(name) = &value.value
            {
                let bound = self
                    .values
                    .get_placeholders_with_values(name)
                    .map_err(|e| e.to_string())
                    .and_then(|v| expr_to_sql(&lit(v.value)).map_err(|e| e.to_string()));
                match bound {
                    Ok(sql) => *expr = sql,
                    Err(e) => {
                        self.error = Some(user_error(&Error::InvalidQuery(format!(
                            "parameter {name}: {e}"
                        ))));
                        return std::ops::ControlFlow::Break(());
                    }
                }
            }
            std::ops::ControlFlow::Continue(())
        }
    }
    let mut binder = Binder {
        values,
        error: None,
    };
    let _ = statement.visit(&mut binder);
    binder.error.map_or(Ok(()), Err)
}

/// Rows of a finished query, encoded for the client.
fn encode<C: ClientInfo>(
    result: QueryResult,
    format: &Format,
    client: &C,
) -> PgWireResult<QueryResponse> {
    let options = Arc::new(FormatOptions::from_client_metadata(client.metadata()));
    let fields = Arc::new(arrow_schema_to_pg_fields(
        &result.schema,
        format,
        Some(options),
    )?);
    let rows: Vec<_> = result
        .batches
        .into_iter()
        .flat_map(|batch| encode_recordbatch(fields.clone(), batch))
        .collect();
    Ok(QueryResponse::new(fields, stream::iter(rows)))
}

/// The SQLSTATE of an error: what psql and drivers show and branch on.
fn sqlstate(error: &Error) -> &'static str {
    match error {
        Error::Refused { .. } => "25006",
        Error::Forbidden(_) => "42501",
        Error::Unauthorized(_) => "28000",
        Error::Timeout { .. } => "57014",
        Error::MemoryLimit { .. } => "53200",
        Error::InvalidQuery(message) if message.contains("not found") => "42P01",
        Error::InvalidQuery(_) | Error::InvalidArgument(_) => "42601",
        Error::Execution(_) => "22000",
        _ => "XX000",
    }
}

fn user_error(error: &Error) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "ERROR".into(),
        sqlstate(error).into(),
        error.to_string(),
    )))
}

fn fatal(code: &str, error: &Error) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "FATAL".into(),
        code.into(),
        error.to_string(),
    )))
}
