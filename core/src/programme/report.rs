//! The performance self-evaluation (绩效自评) the programme office files with the
//! Ministry of Commerce's system: targets, milestones, funds, training and reporting
//! compliance, as an XLSX workbook or a Markdown document, with Chinese headings.
//!
//! The report is assembled once ([`SelfEvaluation`]: titled sections of rows) and
//! rendered by [`SelfEvaluation::to_xlsx`] or [`SelfEvaluation::to_markdown`].

use arrow::array::RecordBatch;
use chrono::NaiveDate;
use rust_xlsxwriter::{Format, Workbook};

use super::duties::DepartmentCompliance;
use super::kpi::KpiValue;
use super::milestones::MilestoneStatus;
use crate::error::{Error, Result};
use datafusion::prelude::SessionContext;

/// A cell of the report.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// Text.
    Text(String),
    /// A number.
    Number(f64),
    /// A fraction shown as a percentage.
    Percent(f64),
    /// Nothing (no data).
    Empty,
}

impl Cell {
    fn text(s: impl Into<String>) -> Cell {
        Cell::Text(s.into())
    }

    fn number(v: Option<f64>) -> Cell {
        v.map_or(Cell::Empty, Cell::Number)
    }

    fn percent(v: Option<f64>) -> Cell {
        v.map_or(Cell::Empty, Cell::Percent)
    }

    fn markdown(&self) -> String {
        match self {
            Cell::Text(s) => s.replace('|', "\\|"),
            Cell::Number(v) if v.fract() == 0.0 && v.abs() < 1e15 => format!("{v:.0}"),
            Cell::Number(v) => format!("{v:.4}"),
            Cell::Percent(v) => format!("{:.1}%", v * 100.0),
            Cell::Empty => "—".to_owned(),
        }
    }
}

/// One section: a sheet of the workbook, a table of the document.
#[derive(Debug, Clone)]
pub struct Section {
    /// Sheet name and heading.
    pub title: String,
    /// Column headings.
    pub headers: Vec<&'static str>,
    /// Rows.
    pub rows: Vec<Vec<Cell>>,
}

/// The assembled self-evaluation.
#[derive(Debug, Clone)]
pub struct SelfEvaluation {
    /// The title.
    pub title: String,
    /// When and from what it was made.
    pub subtitle: String,
    /// The sections.
    pub sections: Vec<Section>,
}

fn kpi_status(status: &str) -> &'static str {
    match status {
        "met" => "达成",
        "not_met" => "未达成",
        _ => "无数据",
    }
}

fn milestone_status(status: &str) -> &'static str {
    match status {
        "done_on_time" => "按期完成",
        "done_late" => "逾期完成",
        "overdue" => "逾期未完成",
        "in_progress" => "进行中",
        "not_started" => "未开始",
        _ => "未上报",
    }
}

/// Runs one of the report's queries; a table nobody has reported yet gives no rows.
async fn rows_of(session: &SessionContext, sql: &str) -> Result<Vec<RecordBatch>> {
    let frame = match session.sql(sql).await {
        Ok(frame) => frame,
        Err(e) if crate::query::is_missing_table(&e) => return Ok(Vec::new()),
        Err(e) => {
            return Err(Error::Execution(format!(
                "self-evaluation: {}",
                sannong_catalog::one_line(&e.to_string())
            )));
        }
    };
    frame.collect().await.map_err(|e| {
        Error::Execution(format!(
            "self-evaluation: {}",
            sannong_catalog::one_line(&e.to_string())
        ))
    })
}

fn cells(batches: &[RecordBatch], numeric: &[usize]) -> Vec<Vec<Cell>> {
    let mut out = Vec::new();
    for batch in batches {
        for row in 0..batch.num_rows() {
            out.push(
                (0..batch.num_columns())
                    .map(|c| {
                        let text = super::super::ingest::checks::cell_text(batch, c, row);
                        match (text, numeric.contains(&c)) {
                            (None, _) => Cell::Empty,
                            (Some(t), true) => t.parse().map(Cell::Number).unwrap_or(Cell::Text(t)),
                            (Some(t), false) => Cell::Text(t),
                        }
                    })
                    .collect(),
            );
        }
    }
    out
}

/// Assembles the self-evaluation of `year`; `session` reads the tables as of the report.
pub async fn assemble(
    session: &SessionContext,
    year: i32,
    kpis: &[KpiValue],
    milestones: &[MilestoneStatus],
    compliance: &[DepartmentCompliance],
    as_of: NaiveDate,
) -> Result<SelfEvaluation> {
    let y_end = format!("{}-01-01", year + 1);
    let targets = Section {
        title: "目标完成情况".into(),
        headers: vec![
            "指标",
            "名称",
            "单位",
            "目标",
            "比较",
            "实际值",
            "基期值",
            "状态",
            "责任单位",
        ],
        rows: kpis
            .iter()
            .map(|k| {
                vec![
                    Cell::text(&k.id),
                    Cell::text(&k.name_zh),
                    Cell::text(&k.unit),
                    Cell::Number(k.target),
                    Cell::text(&k.op),
                    Cell::number(k.value),
                    Cell::number(k.baseline),
                    Cell::text(kpi_status(k.status)),
                    Cell::text(&k.department),
                ]
            })
            .collect(),
    };
    let schedule = Section {
        title: "里程碑".into(),
        headers: vec![
            "编号",
            "体系",
            "建设内容",
            "计划完成",
            "最新状态",
            "完成日期",
            "评价",
        ],
        rows: milestones
            .iter()
            .map(|m| {
                vec![
                    Cell::text(&m.id),
                    Cell::text(&m.system),
                    Cell::text(&m.name_zh),
                    Cell::text(&m.due),
                    m.reported_status.clone().map_or(Cell::Empty, Cell::Text),
                    m.completed_on
                        .map_or(Cell::Empty, |d| Cell::text(d.to_string())),
                    Cell::text(milestone_status(m.status)),
                ]
            })
            .collect(),
    };
    let funds_sql = format!(
        "SELECT b.system, b.source, CAST(sum(b.amount_yuan) AS DOUBLE) AS budget, \
                CAST(coalesce(sum(p.paid), 0) AS DOUBLE) AS paid, \
                CAST(coalesce(sum(p.paid), 0) AS DOUBLE) / CAST(sum(b.amount_yuan) AS DOUBLE) AS rate \
         FROM finance.budget b LEFT JOIN (SELECT budget_item, sum(amount_yuan) AS paid FROM finance.disbursements \
                                          WHERE paid_on < DATE '{y_end}' GROUP BY budget_item) p ON p.budget_item = b.budget_item \
         GROUP BY b.system, b.source ORDER BY b.system, b.source"
    );
    let mut funds_rows = cells(&rows_of(session, &funds_sql).await?, &[2, 3, 4]);
    for row in &mut funds_rows {
        if let Some(rate @ Cell::Number(_)) = row.get_mut(4) {
            *rate = Cell::percent(match rate {
                Cell::Number(v) => Some(*v),
                _ => None,
            });
        }
    }
    let funds = Section {
        title: "资金使用".into(),
        headers: vec![
            "所属体系",
            "资金来源",
            "预算金额(元)",
            "已支付(元)",
            "支付进度",
        ],
        rows: funds_rows,
    };
    let training_sql = format!(
        "SELECT s.kind, count(DISTINCT s.session_id) AS sessions, count(a.session_id) AS person_times \
         FROM training.sessions s LEFT JOIN training.attendance a ON a.session_id = s.session_id \
         WHERE s.start_date >= DATE '2020-07-01' AND s.start_date < DATE '{y_end}' GROUP BY s.kind ORDER BY s.kind"
    );
    let mut training_rows = cells(&rows_of(session, &training_sql).await?, &[1, 2]);
    let fairs_sql = format!(
        "SELECT '电商招聘对接会' AS kind, count(*) AS sessions, sum(trainee_participants) AS person_times \
         FROM training.job_fairs WHERE held_on >= DATE '2020-07-01' AND held_on < DATE '{y_end}'"
    );
    training_rows.extend(cells(&rows_of(session, &fairs_sql).await?, &[1, 2]));
    let training = Section {
        title: "培训".into(),
        headers: vec!["类型", "场次", "人次"],
        rows: training_rows,
    };
    let reporting = Section {
        title: "上报情况".into(),
        headers: vec![
            "部门",
            "名称",
            "应报",
            "按时",
            "逾期",
            "缺报",
            "完整率",
            "及时率",
        ],
        rows: compliance
            .iter()
            .map(|c| {
                vec![
                    Cell::text(&c.department),
                    Cell::text(&c.name_zh),
                    Cell::Number(c.due as f64),
                    Cell::Number(c.on_time as f64),
                    Cell::Number(c.late as f64),
                    Cell::Number(c.missing as f64),
                    Cell::percent(c.completeness),
                    Cell::percent(c.timeliness),
                ]
            })
            .collect(),
    };
    Ok(SelfEvaluation {
        title: format!("电子商务进农村综合示范县绩效自评（{year}年）"),
        subtitle: format!(
            "数据截至 {as_of}，由 sannong 根据各部门上报数据生成；比率与增长率以小数表示于数据表，以百分比显示于本报告"
        ),
        sections: vec![targets, schedule, funds, training, reporting],
    })
}

impl SelfEvaluation {
    /// The report as Markdown.
    pub fn to_markdown(&self) -> String {
        let mut out = format!("# {}\n\n{}\n", self.title, self.subtitle);
        for section in &self.sections {
            out.push_str(&format!(
                "\n## {}\n\n| {} |\n|{}\n",
                section.title,
                section.headers.join(" | "),
                " --- |".repeat(section.headers.len())
            ));
            if section.rows.is_empty() {
                out.push_str(&format!(
                    "| 无数据 |{}\n",
                    " |".repeat(section.headers.len() - 1)
                ));
            }
            for row in &section.rows {
                out.push_str(&format!(
                    "| {} |\n",
                    row.iter()
                        .map(Cell::markdown)
                        .collect::<Vec<_>>()
                        .join(" | ")
                ));
            }
        }
        out
    }

    /// The report as an XLSX workbook, one sheet per section.
    pub fn to_xlsx(&self) -> Result<Vec<u8>> {
        let fail = |e: rust_xlsxwriter::XlsxError| {
            Error::Output(format!("cannot write the XLSX report: {e}"))
        };
        let mut workbook = Workbook::new();
        let bold = Format::new().set_bold();
        let title = Format::new().set_bold().set_font_size(14);
        let percent = Format::new().set_num_format("0.0%");
        for section in &self.sections {
            let sheet = workbook.add_worksheet();
            sheet.set_name(&section.title).map_err(fail)?;
            sheet
                .write_string_with_format(0, 0, &self.title, &title)
                .map_err(fail)?;
            sheet.write_string(1, 0, &self.subtitle).map_err(fail)?;
            for (c, header) in section.headers.iter().enumerate() {
                sheet
                    .write_string_with_format(3, c as u16, *header, &bold)
                    .map_err(fail)?;
                sheet.set_column_width(c as u16, 14).map_err(fail)?;
            }
            for (r, row) in section.rows.iter().enumerate() {
                let r = r as u32 + 4;
                for (c, cell) in row.iter().enumerate() {
                    let c = c as u16;
                    match cell {
                        Cell::Text(s) => sheet.write_string(r, c, s).map(|_| ()),
                        Cell::Number(v) => sheet.write_number(r, c, *v).map(|_| ()),
                        Cell::Percent(v) => sheet
                            .write_number_with_format(r, c, *v, &percent)
                            .map(|_| ()),
                        Cell::Empty => sheet.write_string(r, c, "无数据").map(|_| ()),
                    }
                    .map_err(fail)?;
                }
            }
        }
        workbook.save_to_buffer().map_err(fail)
    }
}
