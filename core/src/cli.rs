//! Command-line arguments and dispatch of the `sannong` command.
//!
//! Global options choose the data location and query limits; each subcommand calls the
//! service layer ([`sannong::Platform`]) and prints its result.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use sannong::Platform;
use sannong::output::{OutputFormat, write_result};
use sannong::query::{QueryLimits, QueryResult};

/// sannong — data platform of the county's e-commerce into rural areas programme.
#[derive(Debug, Parser)]
#[command(name = "sannong", version, about)]
pub struct Cli {
    /// Data location: a directory, file:///path or s3://bucket/prefix (AWS_* variables
    /// configure S3; AWS_ENDPOINT_URL overrides the endpoint).
    #[arg(
        long,
        global = true,
        env = "SANNONG_DATA",
        default_value = "./sannong-data"
    )]
    pub data: String,

    /// Time limit per query, in seconds.
    #[arg(
        long,
        global = true,
        env = "SANNONG_QUERY_TIMEOUT",
        default_value_t = 60
    )]
    pub query_timeout: u64,

    /// Memory limit per query, in MB.
    #[arg(
        long,
        global = true,
        env = "SANNONG_QUERY_MEMORY",
        default_value_t = 2048
    )]
    pub query_memory: u64,

    /// Log more (repeat for more detail).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run read-only SQL over the platform's tables.
    Sql {
        /// The SQL statement (SELECT, WITH, EXPLAIN, DESCRIBE, SHOW).
        sql: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: OutputFormat,
    },
    /// List tables with their current version and row count.
    Tables {
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: OutputFormat,
    },
    /// List the versions of a table: when, which submission, duty, department, rows, mode.
    History {
        /// The table, e.g. logistics.parcels.
        table: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: OutputFormat,
    },
    /// Load the synthetic sample county and show the tables.
    Demo {
        /// Seed of the sample generator.
        #[arg(long, default_value_t = 2021)]
        seed: u64,
    },
}

/// Sets up logging to stderr: warnings by default, more with `-v`.
pub fn init_logging(verbose: u8) {
    // Dependencies stay quiet unless asked: their warnings (e.g. the AWS SDK probing for
    // instance credentials) are not the user's business; our errors are printed anyway.
    let default = match verbose {
        0 => "off,sannong=warn,sannong_catalog=warn",
        1 => "warn,sannong=info,sannong_catalog=info",
        _ => "info,sannong=debug,sannong_catalog=debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("SANNONG_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

fn print(result: &QueryResult, format: OutputFormat) -> anyhow::Result<()> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    write_result(result, format, &mut out)?;
    out.flush().context("cannot write to standard output")?;
    Ok(())
}

/// Runs a parsed command.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let limits = QueryLimits {
        timeout: Duration::from_secs(cli.query_timeout.max(1)),
        memory_bytes: usize::try_from(cli.query_memory.max(16) << 20).unwrap_or(usize::MAX),
    };
    let platform = Platform::open(&cli.data, limits).await?;
    match cli.command {
        Command::Sql { sql, format } => print(&platform.sql(&sql).await?, format)?,
        Command::Tables { format } => print(&platform.tables().await?, format)?,
        Command::History { table, format } => print(&platform.history(&table).await?, format)?,
        Command::Demo { seed } => {
            let written = sannong::demo::load(&platform, seed).await?;
            if written.is_empty() {
                println!("The sample county is already loaded in {}.", cli.data);
            } else {
                println!(
                    "Loaded the synthetic sample county (示例数据) into {}: {}",
                    cli.data,
                    written.join(", ")
                );
            }
            print(&platform.tables().await?, OutputFormat::Table)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
