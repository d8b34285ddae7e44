//! The server's commands: `serve` (with `--demo`: the sample county and demo tokens),
//! `token create|list|revoke` and `audit verify`.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Subcommand;
use sannong::Platform;
use sannong::auth::{Actor, Role};
use sannong::server::ServerConfig;

use super::cli_actor;

/// `sannong serve …`
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0: any free port; the URL is printed).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: String,
    /// Address of the PostgreSQL wire protocol (psql, DBeaver, psycopg…; the password
    /// is a token), or `off`.
    #[arg(long, default_value = "127.0.0.1:5433")]
    pub pg_addr: String,
    /// Address of Arrow Flight SQL (ADBC, pyarrow; `authorization: Bearer <token>`), or
    /// `off`.
    #[arg(long, default_value = "127.0.0.1:8815")]
    pub flight_addr: String,
    /// Load the sample county first (idempotent) and print demo tokens.
    #[arg(long)]
    pub demo: bool,
    /// Largest request body, in MB.
    #[arg(long, default_value_t = 256)]
    pub max_body_mb: usize,
    /// Most data rows in one uploaded file.
    #[arg(long, default_value_t = 10_000_000)]
    pub max_upload_rows: usize,
    /// Longest a request may take, in seconds (reading its body included).
    #[arg(long, default_value_t = 300)]
    pub request_timeout: u64,
    /// Queries running at once.
    #[arg(long, default_value_t = 4)]
    pub query_slots: usize,
    /// Uploads running at once.
    #[arg(long, default_value_t = 2)]
    pub upload_slots: usize,
}

/// `sannong token …`
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token and print it (once; only its hash is stored).
    Create {
        /// admin, analyst, auditor or department:<id>, e.g. department:post.
        #[arg(long)]
        role: String,
        /// Whose token it is.
        #[arg(long, default_value = "")]
        name: String,
    },
    /// List the tokens (never their secrets).
    List,
    /// Revoke a token.
    Revoke {
        /// The token id (the part after `sn_`).
        id: String,
    },
}

/// `sannong audit …`
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Walk the audit log's hash chain and report the first broken link (exit 1).
    Verify,
}

/// The roles demo tokens are made for.
const DEMO_ROLES: [&str; 4] = ["admin", "analyst", "auditor", "department:post"];

/// `sannong serve`.
pub async fn serve(platform: Platform, args: ServeArgs, data: &str) -> anyhow::Result<()> {
    // Every address first: a port in use is said at once, not after loading the demo.
    let listener = bind(&args.addr, "--addr").await?;
    let pg = bind_unless_off(&args.pg_addr, "--pg-addr").await?;
    let flight = bind_unless_off(&args.flight_addr, "--flight-addr").await?;
    if args.demo {
        super::load_demo(&platform, data, sample_county::Options::default()).await?;
        demo_tokens(&platform).await?;
    }
    platform.check_programme().await?;
    if let Some(pg) = pg {
        println!(
            "PostgreSQL wire protocol on postgresql://{}/sannong (password: a token; see docs/connect.md)",
            pg.local_addr()?
        );
        beside("PostgreSQL", sannong::postgres::serve(pg, platform.clone()));
    }
    if let Some(flight) = flight {
        println!(
            "Arrow Flight SQL on grpc://{} (authorization: Bearer <token>; see docs/connect.md)",
            flight.local_addr()?
        );
        beside(
            "Flight SQL",
            sannong::flight::serve(flight, platform.clone()),
        );
    }
    let addr = listener.local_addr()?;
    println!(
        "sannong serving {data} on http://{addr} (API description: http://{addr}/api/openapi.json)"
    );
    use std::io::Write;
    std::io::stdout().flush()?;
    let config = ServerConfig {
        max_body_bytes: args.max_body_mb.max(1) << 20,
        max_upload_rows: args.max_upload_rows.max(1),
        request_timeout: Duration::from_secs(args.request_timeout.max(1)),
        query_slots: args.query_slots,
        upload_slots: args.upload_slots,
        ..ServerConfig::default()
    };
    sannong::server::serve(
        listener,
        platform,
        config,
        sannong::server::shutdown_signal(),
    )
    .await
    .context("the server stopped")?;
    println!("sannong stopped");
    Ok(())
}

/// Runs a protocol listener beside the HTTP server; if it stops, says so in the log.
fn beside<E: std::fmt::Display>(
    protocol: &'static str,
    listener: impl std::future::Future<Output = Result<(), E>> + Send + 'static,
) {
    tokio::spawn(async move {
        if let Err(e) = listener.await {
            tracing::error!("the {protocol} listener stopped: {e}");
        }
    });
}

async fn bind(addr: &str, flag: &str) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} ({flag})"))
}

async fn bind_unless_off(
    addr: &str,
    flag: &str,
) -> anyhow::Result<Option<tokio::net::TcpListener>> {
    if addr == "off" {
        return Ok(None);
    }
    Ok(Some(bind(addr, flag).await?))
}

/// Fresh demo tokens (earlier ones revoked), printed once.
async fn demo_tokens(platform: &Platform) -> anyhow::Result<()> {
    let admin = Actor::cli("demo");
    for old in platform.tokens_as(&admin).await? {
        if old.name.starts_with("demo ") && old.revoked_at.is_none() {
            platform.revoke_token_as(&admin, &old.id).await?;
        }
    }
    println!("Demo tokens (sample data only; shown once):");
    for role in DEMO_ROLES {
        let role: Role = role.parse()?;
        let token = platform
            .create_token_as(&admin, &role, &format!("demo {role}"))
            .await?;
        println!("  {:<16} {}", role.to_string(), token.token);
    }
    Ok(())
}

/// `sannong token …`.
pub async fn token(platform: &Platform, command: TokenCommand) -> anyhow::Result<()> {
    let actor = cli_actor();
    match command {
        TokenCommand::Create { role, name } => {
            let role: Role = role.parse()?;
            let name = if name.is_empty() {
                role.to_string()
            } else {
                name
            };
            let created = platform.create_token_as(&actor, &role, &name).await?;
            println!(
                "created token {} for {} ({}); it is shown only this once:\n{}",
                created.record.id, created.record.name, created.record.role, created.token
            );
        }
        TokenCommand::List => {
            println!(
                "{:<10} {:<18} {:<24} {:<20} revoked",
                "id", "role", "name", "created"
            );
            for t in platform.tokens_as(&actor).await? {
                println!(
                    "{:<10} {:<18} {:<24} {:<20} {}",
                    t.id,
                    t.role,
                    t.name,
                    sannong_catalog::sql::to_beijing(t.created_at).format("%Y-%m-%d %H:%M:%S"),
                    t.revoked_at
                        .map(|at| sannong_catalog::sql::to_beijing(at)
                            .format("%Y-%m-%d %H:%M:%S")
                            .to_string())
                        .unwrap_or_default()
                );
            }
        }
        TokenCommand::Revoke { id } => {
            platform.revoke_token_as(&actor, &id).await?;
            println!("revoked token {id}");
        }
    }
    Ok(())
}

/// `sannong audit verify`: exit 1 when the chain is broken.
pub async fn audit(platform: &Platform, command: AuditCommand) -> anyhow::Result<ExitCode> {
    match command {
        AuditCommand::Verify => {
            let verification = platform.verify_audit_log(&cli_actor()).await?;
            match verification.broken {
                None => {
                    println!(
                        "the audit log holds: {} entries, every link verified",
                        verification.entries
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Some(link) => {
                    println!(
                        "the audit log is BROKEN at entry {}: {} ({} entries before it verified)",
                        link.seq, link.reason, verification.entries
                    );
                    Ok(ExitCode::FAILURE)
                }
            }
        }
    }
}
