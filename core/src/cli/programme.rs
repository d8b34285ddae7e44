//! The programme office's commands: `kpi` (scorecard, trend, explanation), `duties`
//! (timeliness and completeness), `milestones` and `report` (the self-evaluation).

use anyhow::Context;
use chrono::{DateTime, NaiveDate, Utc};
use sannong::Platform;
use sannong::output::{OutputFormat, write_result};
use sannong::programme::{tables, today};

use super::print;

/// `sannong kpi …`
#[derive(Debug, clap::Args)]
pub struct KpiArgs {
    /// The year evaluated; its baseline is the year before.
    #[arg(long, default_value_t = 2021)]
    pub year: i32,
    /// Evaluate the tables as they stood at this moment ("YYYY-MM-DD HH:MM:SS", or
    /// "YYYY-MM-DD" for the end of that day; Beijing time), to reproduce an earlier
    /// scorecard.
    #[arg(long, value_parser = parse_moment)]
    pub as_of: Option<DateTime<Utc>>,
    /// Each KPI month by month through the year.
    #[arg(long, conflicts_with = "explain")]
    pub trend: bool,
    /// The KPIs that have a town breakdown, town by town.
    #[arg(long, conflicts_with_all = ["explain", "trend"])]
    pub by_town: bool,
    /// Print one KPI's SQL, its value and the submissions whose rows it aggregated.
    #[arg(long, value_name = "KPI")]
    pub explain: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: OutputFormat,
}

/// `sannong duties …`
#[derive(Debug, clap::Args)]
pub struct DutiesArgs {
    /// Count what was due and received by the end of this day (default: today).
    #[arg(long, value_parser = parse_date)]
    pub as_of: Option<NaiveDate>,
    /// List every duty's periods instead of each department's rates.
    #[arg(long)]
    pub periods: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: OutputFormat,
}

/// `sannong milestones …`
#[derive(Debug, clap::Args)]
pub struct MilestonesArgs {
    /// Judge the milestones as of the end of this day (default: today).
    #[arg(long, value_parser = parse_date)]
    pub as_of: Option<NaiveDate>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: OutputFormat,
}

/// `sannong report …`
#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// The year evaluated.
    #[arg(long, default_value_t = 2021)]
    pub year: i32,
    /// Report on the data as it stood at this moment (as for `kpi --as-of`; default: now).
    #[arg(long, value_parser = parse_moment)]
    pub as_of: Option<DateTime<Utc>>,
    /// The file to write: .xlsx (a workbook, one sheet per section) or .md.
    #[arg(long)]
    pub out: std::path::PathBuf,
}

fn parse_moment(s: &str) -> Result<DateTime<Utc>, String> {
    sannong::programme::parse_moment(s).ok_or_else(|| {
        format!("'{s}' is not a moment YYYY-MM-DD HH:MM:SS or a date YYYY-MM-DD (Beijing time)")
    })
}

fn parse_date(s: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .map_err(|_| format!("'{s}' is not a date YYYY-MM-DD, e.g. 2021-06-30"))
}

/// `sannong kpi`.
pub async fn kpi(platform: &Platform, args: KpiArgs) -> anyhow::Result<()> {
    platform.check_programme().await?;
    if let Some(id) = &args.explain {
        return explain(platform, id, &args).await;
    }
    if args.trend {
        let trends = platform.kpi_trend(args.year, args.as_of).await?;
        return print(&tables::result(tables::trend_rows(&trends))?, args.format);
    }
    if args.by_town {
        let towns = platform.kpis_by_town(args.year, args.as_of).await?;
        return print(&tables::result(tables::town_rows(&towns))?, args.format);
    }
    let values = platform.kpis(args.year, args.as_of).await?;
    let rows = match args.format {
        OutputFormat::Table => tables::kpi_summary_rows(&values),
        _ => tables::kpi_rows(&values),
    };
    print(&tables::result(rows)?, args.format)
}

async fn explain(platform: &Platform, id: &str, args: &KpiArgs) -> anyhow::Result<()> {
    let explanation = platform.explain_kpi(id, args.year, args.as_of).await?;
    if args.format == OutputFormat::Json {
        let mut lineage = Vec::new();
        for (table, rows) in &explanation.lineage {
            let mut json = Vec::new();
            write_result(rows, OutputFormat::Json, &mut json)?;
            let submissions: serde_json::Value = serde_json::from_slice(&json)?;
            lineage.push(serde_json::json!({ "table": table, "submissions": submissions }));
        }
        let out = serde_json::json!({
            "kpi": explanation.value,
            "sql": explanation.sql,
            "lineage": lineage,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    let v = &explanation.value;
    let value = v
        .value
        .map_or_else(|| "no data".to_owned(), |x| format!("{x:.4}"));
    println!("{} {} / {}", v.id, v.name_zh, v.name_en);
    println!(
        "value {value} ({}), target {} {}, year {}",
        v.status, v.op, v.target, v.year
    );
    if let Some(note) = &v.note {
        println!("note: {note}");
    }
    println!("\nSQL:\n{}\n", explanation.sql.trim());
    for (table, rows) in &explanation.lineage {
        println!("Rows of {table} aggregated, by submission:");
        print(rows, args.format)?;
        println!();
    }
    Ok(())
}

/// `sannong duties`.
pub async fn duties(platform: &Platform, args: DutiesArgs) -> anyhow::Result<()> {
    let as_of = args.as_of.unwrap_or_else(today);
    let periods = platform.duty_status(as_of).await?;
    if args.format == OutputFormat::Table {
        println!("as of {as_of} (Beijing); monthly reports are due on the 10th of the next month");
    }
    if args.periods {
        return print(
            &tables::result(tables::duty_period_rows(&periods))?,
            args.format,
        );
    }
    let compliance = sannong::programme::duties::compliance(platform.programme(), &periods);
    print(
        &tables::result(tables::compliance_rows(&compliance))?,
        args.format,
    )
}

/// `sannong milestones`.
pub async fn milestones(platform: &Platform, args: MilestonesArgs) -> anyhow::Result<()> {
    let milestones = platform
        .milestones(args.as_of.unwrap_or_else(today))
        .await?;
    print(
        &tables::result(tables::milestone_rows(&milestones))?,
        args.format,
    )
}

/// `sannong report`.
pub async fn report(platform: &Platform, args: ReportArgs) -> anyhow::Result<()> {
    let extension = args
        .out
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let render = match extension.as_deref() {
        Some("xlsx") => |r: &sannong::programme::report::SelfEvaluation| r.to_xlsx(),
        Some("md") => {
            |r: &sannong::programme::report::SelfEvaluation| Ok(r.to_markdown().into_bytes())
        }
        _ => anyhow::bail!(
            "{}: the report is written as .xlsx or .md; name the file so",
            args.out.display()
        ),
    };
    platform.check_programme().await?;
    let report = platform.self_evaluation(args.year, args.as_of).await?;
    let bytes = render(&report)?;
    std::fs::write(&args.out, bytes)
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    let met = report.sections.first().map_or(0, |s| {
        s.rows
            .iter()
            .filter(|r| r.get(7) == Some(&sannong::programme::report::Cell::Text("达成".into())))
            .count()
    });
    println!(
        "wrote the {} self-evaluation (绩效自评) to {}: {} sections, {met} of {} targets met",
        args.year,
        args.out.display(),
        report.sections.len(),
        report.sections.first().map_or(0, |s| s.rows.len())
    );
    Ok(())
}
