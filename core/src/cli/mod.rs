//! Command-line arguments and dispatch of the `sannong` command.
//!
//! Global options choose the data location and query limits; each subcommand calls the
//! service layer ([`sannong::Platform`]) and prints its result. The programme office's
//! commands are in [`programme`], the server's in [`server`].

mod memory;
mod programme;
mod server;

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use sannong::auth::Actor;
use sannong::output::{OutputFormat, write_result};
use sannong::plugin::registry::InstallOutcome;
use sannong::query::{QueryLimits, QueryResult};
use sannong::{Platform, PlatformConfig};

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

    /// Memory for tables kept decoded between queries, in MB (0: read every query's
    /// tables from their files). The latest version of each table that fits in half of it
    /// is decoded on its second query (on its first for the KPIs, which read each table
    /// many times); the least recently used leave first. Default: a quarter of the
    /// machine's memory (or of its control group's limit), at least 1024, for `serve`;
    /// 0 for the one-shot commands, whose process ends before a later query could find a
    /// table there (even `kpi`, which reads each table many times: reading only the
    /// columns and periods each KPI needs from the files costs less than decoding every
    /// table whole once).
    #[arg(long, global = true, env = "SANNONG_TABLE_MEMORY")]
    pub table_memory: Option<u64>,

    /// A directory of programme files (departments.toml, duties.toml, kpis.toml,
    /// schedule.toml) to use instead of the data location's own or the built-in ones.
    #[arg(long, global = true, env = "SANNONG_PROGRAMME")]
    pub programme: Option<std::path::PathBuf>,

    /// In a deployment of several counties (see `sannong county`), the county to act
    /// on: its tables, plugins, tokens, audit log and programme.
    #[arg(long, global = true, env = "SANNONG_COUNTY")]
    pub county: Option<String>,

    /// How log lines are written: text, or one JSON object per line.
    #[arg(
        long,
        global = true,
        value_enum,
        default_value_t,
        env = "SANNONG_LOG_FORMAT"
    )]
    pub log_format: LogFormat,

    /// Log more (repeat for more detail).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// Whether the command is `serve`: a long-lived process (its logging differs from a
    /// one-shot command's).
    pub fn serving(&self) -> bool {
        matches!(self.command, Command::Serve(_))
    }

    /// Bytes of tables kept decoded in memory (see `--table-memory`): a share of the
    /// machine's memory for the server, none for the one-shot commands.
    pub fn table_memory_bytes(&self) -> usize {
        use sannong_catalog::sql::DEFAULT_TABLE_MEMORY_BYTES;
        match (self.table_memory, &self.command) {
            (Some(mb), _) => usize::try_from(mb << 20).unwrap_or(usize::MAX),
            (None, Command::Serve(_)) => memory::quarter_of_memory_or(DEFAULT_TABLE_MEMORY_BYTES),
            (None, _) => 0,
        }
    }
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
    /// Upload a department's file to a duty: accepted whole, or refused whole with every
    /// problem listed.
    Upload(UploadArgs),
    /// Build, install, list, inspect and remove department plugins.
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// Load the synthetic sample county (示例数据) through the upload path and show the
    /// tables; loading it again changes nothing.
    Demo {
        /// Seed of the sample generator.
        #[arg(long, default_value_t = 2021)]
        seed: u64,
        /// Multiplies the parcels (1: about 40,000 a year).
        #[arg(long, default_value_t = 1)]
        scale: u32,
    },
    /// Start the HTTP server (API, OpenAPI at /api/openapi.json, metrics at /metrics).
    Serve(server::ServeArgs),
    /// Create, list and revoke access tokens of the HTTP API.
    #[command(subcommand)]
    Token(server::TokenCommand),
    /// The audit log: verify its hash chain.
    #[command(subcommand)]
    Audit(server::AuditCommand),
    /// Every KPI (T1–T16) for a year against its target; --trend month by month;
    /// --by-town town by town; --explain one KPI's SQL and the submissions it aggregated.
    Kpi(programme::KpiArgs),
    /// Reporting duties: each department's completeness and timeliness, or (--periods)
    /// every duty's periods as on time, late, missing or not yet due.
    Duties(programme::DutiesArgs),
    /// Milestones M1–M13: due month, latest reported status, on time, late or overdue.
    Milestones(programme::MilestonesArgs),
    /// Write the performance self-evaluation (绩效自评) as XLSX or Markdown.
    Report(programme::ReportArgs),
    /// Counties of a deployment serving several: add and list them.
    #[command(subcommand)]
    County(CountyCommand),
}

/// `sannong county …`
#[derive(Debug, Subcommand)]
pub enum CountyCommand {
    /// Add a county: its data lives under counties/<id>/ of the data location, and
    /// `--county <id>` (or a token of the county) acts on it.
    Add {
        /// Lower-case letters and digits, e.g. xinfeng.
        id: String,
        /// Chinese name, e.g. 新丰县.
        #[arg(long)]
        name_zh: String,
        /// English name, e.g. "Xinfeng County".
        #[arg(long)]
        name_en: String,
        /// A directory of programme files (departments.toml, duties.toml, kpis.toml,
        /// schedule.toml) to store as the county's own (default: the built-in programme).
        #[arg(long)]
        with_programme: Option<std::path::PathBuf>,
    },
    /// List the counties.
    List {
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: OutputFormat,
    },
}

/// `sannong upload …`
#[derive(Debug, clap::Args)]
pub struct UploadArgs {
    /// The duty, e.g. parcels (see `SELECT * FROM sys.duties`).
    #[arg(long)]
    pub duty: String,
    /// The period YYYY-MM, for monthly duties.
    #[arg(long)]
    pub period: Option<String>,
    /// Who uploads (recorded with the submission).
    #[arg(long = "as", default_value = "cli")]
    pub uploader: String,
    /// Text encoding of a CSV file.
    #[arg(long, value_enum, default_value_t)]
    pub encoding: sannong::ingest::text::Encoding,
    /// The XLSX sheet to read (default: the first).
    #[arg(long)]
    pub sheet: Option<String>,
    /// The file's format, when its name does not tell.
    #[arg(long = "file-format", value_enum)]
    pub file_format: Option<sannong::ingest::source::FileFormat>,
    /// Check everything, write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Problems listed (all are counted and recorded).
    #[arg(long, default_value_t = 50)]
    pub max_problems: usize,
    /// Largest unpacked size of an XLSX file, in MB.
    #[arg(long, default_value_t = 1024)]
    pub max_unpacked_mb: u64,
    /// How much of a large CSV file is read, checked and written at a time, in MB: what
    /// the upload's memory grows with, whatever the file's size.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub block_mb: u64,
    /// Print the outcome as JSON.
    #[arg(long)]
    pub json: bool,
    /// When the department sent the file, if before now ("YYYY-MM-DD HH:MM:SS" or
    /// "YYYY-MM-DD", Beijing): for entering reports that came by e-mail.
    #[arg(long, value_parser = parse_received_at)]
    pub received_at: Option<chrono::DateTime<chrono::Utc>>,
    /// The file.
    pub file: std::path::PathBuf,
}

/// `sannong plugin …`
#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Build a plugin crate to a WebAssembly component and print its path.
    Build {
        /// The plugin crate's directory (holding its Cargo.toml).
        dir: std::path::PathBuf,
    },
    /// Install a plugin component (a new version replaces the current one), or the
    /// built-in department plugins with --builtin.
    Install {
        /// The component, e.g. target/wasm32-wasip2/release/my_plugin.wasm.
        #[arg(required_unless_present = "builtin")]
        file: Option<std::path::PathBuf>,
        /// Install the department plugins built into this binary (all 13 duties).
        #[arg(long, conflicts_with = "file")]
        builtin: bool,
        /// Who installs it (recorded in the registry).
        #[arg(long = "as", default_value = "admin")]
        by: String,
    },
    /// List the installed plugins.
    List {
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: OutputFormat,
    },
    /// Show a plugin's manifest: department, duties, templates.
    Inspect {
        /// The plugin id.
        plugin: String,
        /// `text` or `json`.
        #[arg(long, value_enum, default_value_t)]
        format: ManifestFormat,
    },
    /// Remove a plugin (its earlier versions stay recorded).
    Remove {
        /// The plugin id.
        plugin: String,
        /// Who removes it.
        #[arg(long = "as", default_value = "admin")]
        by: String,
    },
}

/// How `plugin inspect` prints a manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum ManifestFormat {
    /// Readable text.
    #[default]
    Text,
    /// The manifest as JSON.
    Json,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum LogFormat {
    /// Readable text.
    #[default]
    Text,
    /// One JSON object per line (for log collectors), with the span's fields.
    Json,
}

/// Sets up logging to stderr: warnings by default, more with `-v`.
/// A server logs each request (method, path, status, latency, request id) at info.
pub fn init_logging(verbose: u8, serving: bool, format: LogFormat) {
    // Dependencies stay quiet unless asked: their warnings (e.g. the AWS SDK probing for
    // instance credentials) are not the user's business; our errors are printed anyway.
    let default = match verbose {
        0 if serving => "off,sannong=info,sannong_catalog=warn,tower_http=info",
        0 => "off,sannong=warn,sannong_catalog=warn",
        1 => "warn,sannong=info,sannong_catalog=info",
        _ => "info,sannong=debug,sannong_catalog=debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("SANNONG_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().with_current_span(true).try_init(),
    };
}

/// The local user, for the audit log.
pub(crate) fn cli_actor() -> Actor {
    Actor::cli(&format!(
        "cli:{}",
        std::env::var("USER").unwrap_or_else(|_| "local".into())
    ))
}

fn parse_received_at(s: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    sannong::programme::parse_moment(s)
        .ok_or_else(|| format!("'{s}' is not a time YYYY-MM-DD HH:MM:SS (Beijing)"))
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
    sannong_catalog::sql::set_table_memory_budget(cli.table_memory_bytes());
    if let Command::Plugin(PluginCommand::Build { dir }) = &cli.command {
        let component = build_plugin(dir)?;
        println!("{}", component.display());
        return Ok(ExitCode::SUCCESS);
    }
    let config = PlatformConfig {
        query_limits: limits,
        plugin_cache_dir: sannong::plugin::engine::default_cache_dir(),
        programme_dir: cli.programme.clone(),
        county: cli.county.clone(),
        ..PlatformConfig::default()
    };
    let platform = Platform::open(&cli.data, config).await?;
    // Where the data is, as messages name it: the location, and the county acted on.
    let data = match &cli.county {
        Some(county) => format!("{} (county {county})", cli.data),
        None => cli.data.clone(),
    };
    match cli.command {
        Command::Plugin(command) => plugin_command(&platform, command).await?,
        Command::Upload(args) => return upload_command(&platform, args).await,
        Command::Sql { sql, format } => {
            print(&platform.query_as(&cli_actor(), &sql).await?, format)?;
        }
        Command::Tables { format } => print(&platform.tables().await?, format)?,
        Command::History { table, format } => print(&platform.history(&table).await?, format)?,
        Command::Serve(args) => server::serve(platform, args, &data).await?,
        Command::Token(command) => server::token(&platform, command).await?,
        Command::Audit(command) => return server::audit(&platform, command).await,
        Command::Kpi(args) => programme::kpi(&platform, args).await?,
        Command::Duties(args) => programme::duties(&platform, args).await?,
        Command::Milestones(args) => programme::milestones(&platform, args).await?,
        Command::Report(args) => programme::report(&platform, args).await?,
        Command::County(command) => county_command(&platform, command).await?,
        Command::Demo { seed, scale } => {
            load_demo(&platform, &data, sample_county::Options { seed, scale }).await?;
            print(&platform.tables().await?, OutputFormat::Table)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Loads the sample county (idempotent) and says what it did.
pub(crate) async fn load_demo(
    platform: &Platform,
    data: &str,
    options: sample_county::Options,
) -> anyhow::Result<()> {
    let progress = ProgressBar::new();
    let summary = sannong::demo::load(platform, options, &progress).await?;
    drop(progress);
    if !summary.plugins_installed.is_empty() {
        println!(
            "installed the department plugins: {}",
            summary.plugins_installed.join(", ")
        );
    }
    if summary.files_accepted == 0 {
        println!(
            "The synthetic sample county (示例数据) is already loaded in {}.",
            data
        );
    } else {
        println!(
            "Loaded the synthetic sample county (示例数据, not real data) into {}: {} files accepted through the upload path, {} rows stored, {} warnings.",
            data, summary.files_accepted, summary.rows_stored, summary.warnings
        );
    }
    Ok(())
}

fn build_plugin(dir: &std::path::Path) -> anyhow::Result<std::path::PathBuf> {
    let manifest = dir.join("Cargo.toml");
    anyhow::ensure!(
        manifest.is_file(),
        "{} has no Cargo.toml: give the plugin crate's directory",
        dir.display()
    );
    let mut paths = sannong_plugin_build::PluginBuild::new(manifest).run()?;
    paths.pop().context("the build produced no component")
}

async fn plugin_command(platform: &Platform, command: PluginCommand) -> anyhow::Result<()> {
    match command {
        PluginCommand::Build { .. } => unreachable!("handled before opening the platform"),
        PluginCommand::Install { file: None, by, .. } => {
            let installed = sannong::plugin::builtin::install(platform, &by).await?;
            if installed.is_empty() {
                println!("the built-in department plugins are already installed");
            } else {
                println!("installed the built-in department plugins: {}", installed.join(", "));
            }
        }
        PluginCommand::Install { file: Some(file), by, .. } => {
            let bytes = std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let label = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            match platform.install_plugin_as(&Actor::cli(&by), &label, bytes.into()).await? {
                InstallOutcome::Installed(p) => println!(
                    "installed plugin {} {} for {} ({}), duties: {}; sha256 {}",
                    p.manifest.plugin_id,
                    p.manifest.version,
                    p.manifest.department.id,
                    p.manifest.department.name_zh,
                    p.manifest.duties.iter().map(|d| d.id.as_str()).collect::<Vec<_>>().join(", "),
                    p.event.sha256
                ),
                InstallOutcome::AlreadyInstalled(p) => println!(
                    "plugin {} {} is already installed with this very component (sha256 {}); nothing changed",
                    p.manifest.plugin_id, p.manifest.version, p.event.sha256
                ),
            }
        }
        PluginCommand::List { format } => print(
            &platform
                .sql("SELECT plugin_id, version, department, duties, installed_by, installed_at, sha256 FROM sys.plugins ORDER BY plugin_id")
                .await?,
            format,
        )?,
        PluginCommand::Inspect { plugin, format } => {
            let plugin = platform.plugin(&plugin).await?;
            match format {
                ManifestFormat::Text => print!("{}", plugin.manifest.to_text()),
                ManifestFormat::Json => println!("{}", serde_json::to_string_pretty(&plugin.manifest)?),
            }
        }
        PluginCommand::Remove { plugin, by } => {
            platform.remove_plugin_as(&Actor::cli(&by), &plugin).await?;
            println!("removed plugin {plugin}; its duties are served by no plugin until one is installed");
        }
    }
    Ok(())
}

async fn county_command(platform: &Platform, command: CountyCommand) -> anyhow::Result<()> {
    match command {
        CountyCommand::Add {
            id,
            name_zh,
            name_en,
            with_programme,
        } => {
            let actor = cli_actor();
            let county = sannong_catalog::CountyRecord {
                id,
                name_zh,
                name_en,
                created_by: actor.name.clone(),
                created_at: chrono::Utc::now(),
            };
            platform
                .add_county_as(&actor, &county, with_programme.as_deref())
                .await?;
            println!(
                "added county {} ({}, {}); act on it with --county {}",
                county.id, county.name_zh, county.name_en, county.id
            );
        }
        CountyCommand::List { format } => {
            print(
                &platform
                    .sql("SELECT id, name_zh, name_en, created_by, created_at FROM sys.counties ORDER BY id")
                    .await?,
                format,
            )?;
        }
    }
    Ok(())
}

/// Shows rows read and the step on a terminal; nothing otherwise.
struct ProgressBar(Option<indicatif::ProgressBar>);

impl ProgressBar {
    fn new() -> Self {
        use std::io::IsTerminal;
        ProgressBar(std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new_spinner();
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} {msg} — {pos} rows read ({per_sec}) {elapsed}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
            );
            bar.enable_steady_tick(std::time::Duration::from_millis(120));
            bar
        }))
    }
}

impl sannong::ingest::Progress for ProgressBar {
    fn rows_read(&self, rows: usize) {
        if let Some(bar) = &self.0 {
            bar.set_position(rows as u64);
        }
    }

    fn step(&self, name: &str) {
        if let Some(bar) = &self.0 {
            bar.set_message(name.to_owned());
        }
    }
}

impl Drop for ProgressBar {
    fn drop(&mut self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}

async fn upload_command(platform: &Platform, args: UploadArgs) -> anyhow::Result<ExitCode> {
    use sannong::ingest::{UploadRequest, UploadStatus};
    let file = std::fs::File::open(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let file_name = args
        .file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let uploader = args.uploader.clone();
    let request = UploadRequest {
        duty: args.duty,
        period: args.period,
        uploader: args.uploader,
        file_name: file_name.clone(),
        body: sannong::ingest::body::UploadBody::File(file),
        read: sannong::ingest::source::ReadOptions {
            format: args.file_format,
            encoding: args.encoding,
            sheet: args.sheet,
            max_unpacked_bytes: args.max_unpacked_mb << 20,
            block_bytes: (args.block_mb << 20) as usize,
            ..Default::default()
        },
        dry_run: args.dry_run,
        received_at: args.received_at,
    };
    let outcome = {
        let progress = ProgressBar::new();
        platform
            .upload_as(&Actor::cli(&uploader), request, &progress)
            .await?
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&outcome)?);
    } else {
        let period = outcome
            .period
            .as_ref()
            .map(|p| format!(", period {p}"))
            .unwrap_or_default();
        match outcome.status {
            UploadStatus::Accepted => println!(
                "已接收 accepted: {file_name} → {} version {}, {} rows stored{period}; submission {}",
                outcome.table,
                outcome.version.unwrap_or_default(),
                outcome.rows_stored,
                outcome.submission_id
            ),
            UploadStatus::AlreadyAccepted => println!(
                "已接收过 already accepted: this very file is already stored for duty {}{period} (submission {}, {} version {}); nothing written",
                outcome.duty,
                outcome.submission_id,
                outcome.table,
                outcome.version.unwrap_or_default()
            ),
            UploadStatus::WouldBeAccepted => println!(
                "检查通过 would be accepted (dry run): {file_name}, {} rows for {}{period}; nothing written",
                outcome.rows_stored, outcome.table
            ),
            UploadStatus::Refused => println!(
                "已拒绝 refused: {file_name} has {} error{} ({} rows read); nothing was written (submission {} records the refusal)",
                outcome.errors,
                if outcome.errors == 1 { "" } else { "s" },
                outcome.rows_read,
                outcome.submission_id
            ),
        }
        if outcome.warnings > 0 && outcome.status != UploadStatus::Refused {
            println!(
                "警告 {} warning{}:",
                outcome.warnings,
                if outcome.warnings == 1 { "" } else { "s" }
            );
        }
        let total = outcome.errors + outcome.warnings;
        for problem in outcome.problems.iter().take(args.max_problems) {
            println!("  {problem}");
        }
        let shown = (outcome.problems.len().min(args.max_problems)) as u64;
        if total > shown {
            println!(
                "  … {} more not shown (showing {shown} of {total}; all are in sys.submission_problems, submission {})",
                total - shown,
                outcome.submission_id
            );
        }
    }
    Ok(if outcome.status == UploadStatus::Refused {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
