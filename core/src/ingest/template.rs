//! The blank upload template of a duty, as an XLSX workbook a department fills in: the
//! first sheet has the Chinese headers in the order the duty reads them, with each
//! column formatted for its type; the second, 说明, explains every column (key, type,
//! required, allowed values, range) in Chinese and English.

use rust_xlsxwriter::{Format, FormatBorder, Workbook, XlsxError};

use crate::error::{Error, Result};
use crate::plugin::manifest::{ColumnType, DutySpec, TemplateColumn, ValueRange};

/// The workbook's bytes.
pub fn template_xlsx(duty: &DutySpec) -> Result<Vec<u8>> {
    build(duty).map_err(|e| Error::Output(format!("template of duty {}: {e}", duty.id)))
}

/// The file name a browser saves it as, e.g. `parcels_模板.xlsx`.
pub fn template_file_name(duty: &DutySpec) -> String {
    format!("{}_模板.xlsx", duty.id)
}

fn build(duty: &DutySpec) -> std::result::Result<Vec<u8>, XlsxError> {
    let mut workbook = Workbook::new();
    let header = Format::new()
        .set_bold()
        .set_border_bottom(FormatBorder::Thin);
    let data = workbook.add_worksheet();
    data.set_name(sheet_name(&duty.name_zh))?;
    for (col, column) in duty.columns.iter().enumerate() {
        let col = col as u16;
        data.write_string_with_format(0, col, &column.header_zh, &header)?;
        data.set_column_width(
            col,
            (column.header_zh.chars().count() as f64 * 2.2).max(12.0),
        )?;
        if let Some(format) = cell_format(&column.data_type) {
            data.set_column_format(col, &format)?;
        }
    }
    data.set_freeze_panes(1, 0)?;

    let notes = workbook.add_worksheet();
    notes.set_name("说明")?;
    let titles = [
        "列名 header",
        "字段 key",
        "类型 type",
        "必填 required",
        "允许值 allowed",
        "范围 range",
        "说明 description",
    ];
    for (col, title) in titles.iter().enumerate() {
        notes.write_string_with_format(0, col as u16, *title, &header)?;
    }
    for (row, column) in duty.columns.iter().enumerate() {
        let row = row as u32 + 1;
        let cells = explain(column);
        for (col, text) in cells.iter().enumerate() {
            notes.write_string(row, col as u16, text)?;
        }
    }
    for (col, width) in [14.0, 20.0, 16.0, 10.0, 28.0, 18.0, 48.0]
        .into_iter()
        .enumerate()
    {
        notes.set_column_width(col as u16, width)?;
    }
    workbook.save_to_buffer()
}

/// Excel allows 31 characters and none of `[]:*?/\`.
fn sheet_name(name: &str) -> String {
    let clean: String = name
        .chars()
        .filter(|c| !matches!(c, '[' | ']' | ':' | '*' | '?' | '/' | '\\'))
        .take(31)
        .collect();
    if clean.is_empty() {
        "数据".to_owned()
    } else {
        clean
    }
}

/// Dates and times typed as text stay text: `2021-03-05` is what the parser expects.
fn cell_format(data_type: &ColumnType) -> Option<Format> {
    match data_type {
        ColumnType::Utf8 | ColumnType::Date | ColumnType::Timestamp => {
            Some(Format::new().set_num_format("@"))
        }
        ColumnType::Decimal { scale, .. } if *scale > 0 => {
            Some(Format::new().set_num_format(format!("0.{}", "0".repeat(*scale as usize))))
        }
        _ => None,
    }
}

fn explain(column: &TemplateColumn) -> [String; 7] {
    let kind = match column.data_type {
        ColumnType::Utf8 => "文本 text".to_owned(),
        ColumnType::Boolean => "是/否 boolean".to_owned(),
        ColumnType::Int64 => "整数 integer".to_owned(),
        ColumnType::Float64 => "数字 number".to_owned(),
        ColumnType::Decimal { scale, .. } => format!("数字，{scale} 位小数 decimal"),
        ColumnType::Date => "日期 YYYY-MM-DD".to_owned(),
        ColumnType::Timestamp => "时间 YYYY-MM-DD HH:MM:SS".to_owned(),
    };
    let required = if column.required { "是 yes" } else { "否 no" };
    let mut description = column.description_en.clone();
    if column.personal {
        description.push_str(" (个人信息：系统只保存脱敏值 personal data: stored masked)");
    }
    [
        column.header_zh.clone(),
        column.key.clone(),
        kind,
        required.to_owned(),
        column.allowed_values.join("、"),
        column.range.as_ref().map(range_text).unwrap_or_default(),
        description,
    ]
}

fn range_text(range: &ValueRange) -> String {
    let sign = |inclusive: bool| if inclusive { "≤" } else { "<" };
    let mut text = String::new();
    if let Some(min) = &range.min {
        text.push_str(&format!("{} {} ", min.value, sign(min.inclusive)));
    }
    text.push('值');
    if let Some(max) = &range.max {
        text.push_str(&format!(" {} {}", sign(max.inclusive), max.value));
    }
    text
}
