//! Arrow Flight SQL, for Python, Java and ADBC users who want query results as Arrow
//! without conversion (`sannong serve --flight-addr`).
//!
//! The token goes in the standard header, `authorization: Bearer sn_…`, on every call.
//! `GetFlightInfo` for a statement checks it is read-only and plans it against the
//! caller's tables to return its schema; its ticket carries the SQL, and `DoGet` runs it
//! through [`Platform::query_as`] — read-only, time- and memory-limited, audited, with
//! the caller's role, exactly as over HTTP and the PostgreSQL protocol — and streams the
//! batches. Updates and ingestion are refused: data enters only through uploads.

use std::pin::Pin;

use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::error::FlightError;
use arrow_flight::flight_service_server::{FlightService, FlightServiceServer};
use arrow_flight::sql::server::{FlightSqlService, PeekableFlightDataStream};
use arrow_flight::sql::{
    CommandStatementIngest, CommandStatementQuery, CommandStatementUpdate, ProstMessageExt,
    SqlInfo, TicketStatementQuery,
};
use arrow_flight::{FlightData, FlightDescriptor, FlightEndpoint, FlightInfo, Ticket};
use futures::{Stream, StreamExt, TryStreamExt, stream};
use prost::Message;
use tokio::net::TcpListener;
use tonic::{Request, Response, Status};

use crate::auth::Actor;
use crate::error::Error;
use crate::platform::Platform;

/// Serves Flight SQL on `listener` until the process ends.
pub async fn serve(
    listener: TcpListener,
    platform: Platform,
) -> Result<(), tonic::transport::Error> {
    tonic::transport::Server::builder()
        .add_service(FlightServiceServer::new(FlightSql { platform }))
        .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
        .await
}

/// The Flight SQL service.
struct FlightSql {
    platform: Platform,
}

type DataStream = Pin<Box<dyn Stream<Item = Result<FlightData, Status>> + Send + 'static>>;

impl FlightSql {
    /// The caller, from `authorization: Bearer …`.
    async fn caller<T>(&self, request: &Request<T>) -> Result<Actor, Status> {
        let header = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let token = header.strip_prefix("Bearer ").ok_or_else(|| {
            Status::unauthenticated(
                "send a token: authorization: Bearer sn_… (an admin creates one with `sannong token create`)",
            )
        })?;
        self.platform.authenticate(token).await.map_err(status)
    }
}

#[tonic::async_trait]
impl FlightSqlService for FlightSql {
    type FlightService = FlightSql;

    async fn get_flight_info_statement(
        &self,
        query: CommandStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let actor = self.caller(&request).await?;
        crate::query::check_read_only(&query.query).map_err(status)?;
        let session = self
            .platform
            .session_as(&actor, false)
            .await
            .map_err(status)?;
        let frame = session.sql(&query.query).await.map_err(|e| {
            status(Error::InvalidQuery(sannong_catalog::one_line(
                &e.to_string(),
            )))
        })?;
        let schema = frame.schema().as_arrow().clone();
        let ticket = TicketStatementQuery {
            statement_handle: query.query.into_bytes().into(),
        };
        let endpoint =
            FlightEndpoint::new().with_ticket(Ticket::new(ticket.as_any().encode_to_vec()));
        let info = FlightInfo::new()
            .try_with_schema(&schema)
            .map_err(|e| Status::internal(e.to_string()))?
            .with_endpoint(endpoint)
            .with_descriptor(request.into_inner());
        Ok(Response::new(info))
    }

    async fn do_get_statement(
        &self,
        ticket: TicketStatementQuery,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        let actor = self.caller(&request).await?;
        let sql = String::from_utf8(ticket.statement_handle.to_vec()).map_err(|_| {
            Status::invalid_argument("the ticket is not a statement of this server")
        })?;
        let result = self.platform.query_as(&actor, &sql).await.map_err(status)?;
        let batches = stream::iter(result.batches.into_iter().map(Ok::<_, FlightError>));
        let data: DataStream = FlightDataEncoderBuilder::new()
            .with_schema(result.schema)
            .build(batches)
            .map_err(|e| Status::internal(e.to_string()))
            .boxed();
        Ok(Response::new(data))
    }

    async fn do_put_statement_update(
        &self,
        _command: CommandStatementUpdate,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<i64, Status> {
        self.caller(&request).await?;
        Err(read_only("an update"))
    }

    async fn do_put_statement_ingest(
        &self,
        _command: CommandStatementIngest,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<i64, Status> {
        self.caller(&request).await?;
        Err(read_only("bulk ingestion"))
    }

    async fn register_sql_info(&self, _id: i32, _result: &SqlInfo) {}
}

fn read_only(what: &str) -> Status {
    Status::permission_denied(format!(
        "refused: {what} is not allowed: sannong SQL is read-only; data enters the platform only through uploads"
    ))
}

/// The gRPC status of an error.
fn status(error: Error) -> Status {
    let message = error.to_string();
    match error {
        Error::Unauthorized(_) => Status::unauthenticated(message),
        Error::Forbidden(_) | Error::Refused { .. } => Status::permission_denied(message),
        Error::Timeout { .. } => Status::deadline_exceeded(message),
        Error::MemoryLimit { .. } => Status::resource_exhausted(message),
        Error::InvalidQuery(_) | Error::InvalidArgument(_) | Error::Execution(_) => {
            Status::invalid_argument(message)
        }
        _ => Status::internal(message),
    }
}
