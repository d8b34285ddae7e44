//! A plugin's manifest as the platform keeps it: serialisable, validated, and turned
//! into Arrow schemas for parsing uploads and storing rows.
//!
//! Built from the contract's types when a component is loaded ([`from_wit`]), checked
//! by [`PluginManifest::validate`] before a plugin is installed, stored as JSON in the
//! plugin registry, shown by `sannong plugin inspect` ([`PluginManifest::to_text`]).

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use sannong_catalog::TableName;
use serde::{Deserialize, Serialize};

use super::sandbox::wit;
use crate::error::{Error, Result};

/// The type of a template or stored column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum ColumnType {
    /// Text.
    Utf8,
    /// Yes/no.
    Boolean,
    /// Whole numbers.
    Int64,
    /// Floating point.
    Float64,
    /// Exact decimal.
    Decimal {
        /// Total digits.
        precision: u8,
        /// Digits after the point.
        scale: i8,
    },
    /// Date.
    Date,
    /// Beijing wall-clock time to the second.
    Timestamp,
}

impl ColumnType {
    /// The Arrow type.
    pub fn arrow(&self) -> DataType {
        match *self {
            ColumnType::Utf8 => DataType::Utf8,
            ColumnType::Boolean => DataType::Boolean,
            ColumnType::Int64 => DataType::Int64,
            ColumnType::Float64 => DataType::Float64,
            ColumnType::Decimal { precision, scale } => DataType::Decimal128(precision, scale),
            ColumnType::Date => DataType::Date32,
            ColumnType::Timestamp => DataType::Timestamp(TimeUnit::Second, None),
        }
    }
}

impl fmt::Display for ColumnType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ColumnType::Utf8 => f.write_str("text"),
            ColumnType::Boolean => f.write_str("boolean"),
            ColumnType::Int64 => f.write_str("integer"),
            ColumnType::Float64 => f.write_str("float"),
            ColumnType::Decimal { precision, scale } => write!(f, "decimal({precision},{scale})"),
            ColumnType::Date => f.write_str("date"),
            ColumnType::Timestamp => f.write_str("timestamp"),
        }
    }
}

/// One end of a range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bound {
    /// The value, as text in the column's type.
    pub value: String,
    /// Whether the bound itself is allowed.
    pub inclusive: bool,
}

/// A range of allowed values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValueRange {
    /// Lower bound.
    pub min: Option<Bound>,
    /// Upper bound.
    pub max: Option<Bound>,
}

/// One column of an upload template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateColumn {
    /// Key: English header and stored column name.
    pub key: String,
    /// Chinese header.
    pub header_zh: String,
    /// English description.
    pub description_en: String,
    /// Type.
    pub data_type: ColumnType,
    /// Whether every row needs a value.
    pub required: bool,
    /// Allowed values (empty: any).
    pub allowed_values: Vec<String>,
    /// Allowed range.
    pub range: Option<ValueRange>,
    /// Personal data: masked in problems, never stored unchanged.
    #[serde(default)]
    pub personal: bool,
}

/// Columns unique together.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UniqueKey {
    /// Column keys.
    pub columns: Vec<String>,
    /// Also against other periods' stored rows.
    pub across_periods: bool,
}

/// Columns that must match another table's key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableReference {
    /// Template columns.
    pub columns: Vec<String>,
    /// Referenced table.
    pub table: String,
    /// Referenced columns.
    pub table_columns: Vec<String>,
}

/// One column of the stored table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredColumn {
    /// Name.
    pub name: String,
    /// Type.
    pub data_type: ColumnType,
    /// Whether nulls are allowed.
    pub nullable: bool,
}

/// Snapshot or period replace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DutyMode {
    /// Replaces the table.
    Snapshot,
    /// Replaces one period.
    Period,
}

/// How often a duty is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Cadence {
    /// Monthly.
    Monthly,
    /// When the facts change.
    OnChange,
}

/// One reporting duty.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DutySpec {
    /// Duty id.
    pub id: String,
    /// Chinese name.
    pub name_zh: String,
    /// English name.
    pub name_en: String,
    /// Table written.
    pub table: String,
    /// Replace mode.
    pub mode: DutyMode,
    /// Cadence.
    pub cadence: Cadence,
    /// Column whose month is the period.
    pub period_column: Option<String>,
    /// Upload template.
    pub columns: Vec<TemplateColumn>,
    /// Unique keys.
    pub unique_keys: Vec<UniqueKey>,
    /// References.
    pub references: Vec<TableReference>,
    /// Stored table columns.
    pub stored_columns: Vec<StoredColumn>,
    /// Whether `transform` is called.
    pub transforms: bool,
}

impl DutySpec {
    /// The table written.
    pub fn table_name(&self) -> Result<TableName> {
        Ok(self.table.parse()?)
    }

    /// The template column with this key.
    pub fn column(&self, key: &str) -> Option<&TemplateColumn> {
        self.columns.iter().find(|c| c.key == key)
    }

    /// The Arrow schema of a parsed upload (all columns nullable: a missing optional
    /// value is a null).
    pub fn template_schema(&self) -> SchemaRef {
        Arc::new(Schema::new(
            self.columns
                .iter()
                .map(|c| Field::new(&c.key, c.data_type.arrow(), true))
                .collect::<Vec<_>>(),
        ))
    }

    /// The Arrow schema of the stored rows.
    pub fn stored_schema(&self) -> SchemaRef {
        Arc::new(Schema::new(
            self.stored_columns
                .iter()
                .map(|c| Field::new(&c.name, c.data_type.arrow(), c.nullable))
                .collect::<Vec<_>>(),
        ))
    }
}

/// The department a plugin serves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DepartmentInfo {
    /// Id.
    pub id: String,
    /// Chinese name.
    pub name_zh: String,
    /// English name.
    pub name_en: String,
}

/// A plugin's manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginManifest {
    /// Plugin id.
    pub plugin_id: String,
    /// Version.
    pub version: String,
    /// What it does.
    pub description: String,
    /// Department.
    pub department: DepartmentInfo,
    /// Duties.
    pub duties: Vec<DutySpec>,
}

fn column_type(t: wit::DataType) -> ColumnType {
    match t {
        wit::DataType::Utf8 => ColumnType::Utf8,
        wit::DataType::Boolean => ColumnType::Boolean,
        wit::DataType::Int64 => ColumnType::Int64,
        wit::DataType::Float64 => ColumnType::Float64,
        wit::DataType::Decimal(d) => ColumnType::Decimal {
            precision: d.precision,
            scale: d.scale,
        },
        wit::DataType::Date => ColumnType::Date,
        wit::DataType::Timestamp => ColumnType::Timestamp,
    }
}

fn bound(b: wit::Bound) -> Bound {
    Bound {
        value: b.value,
        inclusive: b.inclusive,
    }
}

/// The manifest from the contract's types.
pub fn from_wit(m: wit::Manifest) -> PluginManifest {
    PluginManifest {
        plugin_id: m.plugin_id,
        version: m.version,
        description: m.description,
        department: DepartmentInfo {
            id: m.department.id,
            name_zh: m.department.name_zh,
            name_en: m.department.name_en,
        },
        duties: m
            .duties
            .into_iter()
            .map(|d| DutySpec {
                id: d.id,
                name_zh: d.name_zh,
                name_en: d.name_en,
                table: d.table,
                mode: match d.mode {
                    wit::DutyMode::Snapshot => DutyMode::Snapshot,
                    wit::DutyMode::Period => DutyMode::Period,
                },
                cadence: match d.cadence {
                    wit::Cadence::Monthly => Cadence::Monthly,
                    wit::Cadence::OnChange => Cadence::OnChange,
                },
                period_column: d.period_column,
                columns: d
                    .columns
                    .into_iter()
                    .map(|c| TemplateColumn {
                        key: c.key,
                        header_zh: c.header_zh,
                        description_en: c.description_en,
                        data_type: column_type(c.data_type),
                        required: c.required,
                        allowed_values: c.allowed_values,
                        range: c.range.map(|r| ValueRange {
                            min: r.min.map(bound),
                            max: r.max.map(bound),
                        }),
                        personal: c.personal,
                    })
                    .collect(),
                unique_keys: d
                    .unique_keys
                    .into_iter()
                    .map(|k| UniqueKey {
                        columns: k.columns,
                        across_periods: k.across_periods,
                    })
                    .collect(),
                references: d
                    .references
                    .into_iter()
                    .map(|r| TableReference {
                        columns: r.columns,
                        table: r.table,
                        table_columns: r.table_columns,
                    })
                    .collect(),
                stored_columns: d
                    .stored_columns
                    .into_iter()
                    .map(|c| StoredColumn {
                        name: c.name,
                        data_type: column_type(c.data_type),
                        nullable: c.nullable,
                    })
                    .collect(),
                transforms: d.transforms,
            })
            .collect(),
    }
}

/// `text` padded with spaces to `width` terminal columns (Chinese characters take two).
fn pad(text: &str, width: usize) -> String {
    let used = unicode_width::UnicodeWidthStr::width(text);
    format!("{text}{}", " ".repeat(width.saturating_sub(used)))
}

fn is_id(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && s.len() <= 63
}

fn is_column_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && s.len() <= 63
}

impl PluginManifest {
    /// The duty with this id.
    pub fn duty(&self, id: &str) -> Option<&DutySpec> {
        self.duties.iter().find(|d| d.id == id)
    }

    /// Checks the manifest is coherent; the error names the plugin, duty and column.
    pub fn validate(&self) -> Result<()> {
        let fail = |what: String| {
            Err(Error::PluginRefused {
                plugin: self.plugin_id.clone(),
                reason: format!("its manifest is invalid: {what}"),
            })
        };
        if !is_id(&self.plugin_id) {
            return fail(format!(
                "plugin id '{}' must be lower-case letters, digits and '-'",
                self.plugin_id
            ));
        }
        if self.version.trim().is_empty() {
            return fail("the version is empty".into());
        }
        if !is_id(&self.department.id) {
            return fail(format!(
                "department id '{}' must be lower-case letters, digits and '-'",
                self.department.id
            ));
        }
        if self.duties.is_empty() {
            return fail("it declares no duty".into());
        }
        let mut duty_ids = HashSet::new();
        for duty in &self.duties {
            if !is_id(&duty.id) {
                return fail(format!(
                    "duty id '{}' must be lower-case letters, digits and '-'",
                    duty.id
                ));
            }
            if !duty_ids.insert(&duty.id) {
                return fail(format!("duty '{}' is declared twice", duty.id));
            }
            if let Err(e) = duty.validate() {
                return fail(format!("duty '{}': {e}", duty.id));
            }
        }
        Ok(())
    }
}

impl DutySpec {
    fn validate(&self) -> std::result::Result<(), String> {
        self.table.parse::<TableName>().map_err(|e| e.to_string())?;
        if self.columns.is_empty() {
            return Err("the template has no column".into());
        }
        let mut keys = HashSet::new();
        let mut headers = HashSet::new();
        for c in &self.columns {
            if !is_column_name(&c.key) {
                return Err(format!(
                    "column key '{}' must be lower-case letters, digits and '_'",
                    c.key
                ));
            }
            if !keys.insert(c.key.as_str()) {
                return Err(format!("column '{}' is declared twice", c.key));
            }
            if c.header_zh.trim().is_empty() || !headers.insert(c.header_zh.trim()) {
                return Err(format!(
                    "column '{}' has an empty or repeated Chinese header '{}'",
                    c.key, c.header_zh
                ));
            }
            if let ColumnType::Decimal { precision, scale } = c.data_type
                && !(1..=38).contains(&precision) | (scale < 0) | (scale as u8 > precision)
            {
                return Err(format!(
                    "column '{}' has an impossible decimal({precision},{scale})",
                    c.key
                ));
            }
            if !c.allowed_values.is_empty() && c.data_type != ColumnType::Utf8 {
                return Err(format!(
                    "column '{}' lists allowed values but is not text",
                    c.key
                ));
            }
            if let Some(range) = &c.range {
                for b in range.min.iter().chain(range.max.iter()) {
                    if crate::plugin::bounds::parse_bound(c.data_type, &b.value).is_none() {
                        return Err(format!(
                            "column '{}' has a bound '{}' that is not a {}",
                            c.key, b.value, c.data_type
                        ));
                    }
                }
            }
        }
        match (self.mode, &self.period_column) {
            (DutyMode::Period, Some(col)) => match self.column(col).map(|c| c.data_type) {
                Some(ColumnType::Date | ColumnType::Timestamp) => {}
                _ => {
                    return Err(format!(
                        "period column '{col}' must be a date or timestamp column of the template"
                    ));
                }
            },
            // Rows without a date of their own (attendance) belong to the period uploaded.
            (DutyMode::Period, None) => {}
            (DutyMode::Snapshot, Some(_)) => {
                return Err("a snapshot duty has no period column".into());
            }
            (DutyMode::Snapshot, None) => {}
        }
        for key in &self.unique_keys {
            if key.columns.is_empty() {
                return Err("a unique key has no column".into());
            }
            if let Some(missing) = key.columns.iter().find(|c| !keys.contains(c.as_str())) {
                return Err(format!(
                    "unique key column '{missing}' is not in the template"
                ));
            }
        }
        for reference in &self.references {
            reference
                .table
                .parse::<TableName>()
                .map_err(|e| e.to_string())?;
            if reference.columns.len() != reference.table_columns.len()
                || reference.columns.is_empty()
            {
                return Err(format!(
                    "the reference to {} pairs its columns wrongly",
                    reference.table
                ));
            }
            if let Some(missing) = reference
                .columns
                .iter()
                .find(|c| !keys.contains(c.as_str()))
            {
                return Err(format!(
                    "reference column '{missing}' is not in the template"
                ));
            }
        }
        let mut stored = HashSet::new();
        for c in &self.stored_columns {
            if !is_column_name(&c.name) || !stored.insert(c.name.as_str()) {
                return Err(format!("stored column '{}' is invalid or repeated", c.name));
            }
        }
        if let Some(personal) = self
            .columns
            .iter()
            .find(|c| c.personal && stored.contains(c.key.as_str()))
        {
            return Err(format!(
                "personal column '{}' would be stored as uploaded: store a pseudonym or masked value under another name",
                personal.key
            ));
        }
        if !self.transforms {
            let template: Vec<_> = self
                .columns
                .iter()
                .map(|c| (c.key.as_str(), c.data_type))
                .collect();
            let stored: Vec<_> = self
                .stored_columns
                .iter()
                .map(|c| (c.name.as_str(), c.data_type))
                .collect();
            if template != stored {
                return Err("without a transform the stored columns must be the template's".into());
            }
        }
        Ok(())
    }
}

impl PluginManifest {
    /// A readable description for `sannong plugin inspect`.
    pub fn to_text(&self) -> String {
        let mut out = format!(
            "plugin {} {} — {}\ndepartment: {} {} ({})\n",
            self.plugin_id,
            self.version,
            self.description,
            self.department.id,
            self.department.name_zh,
            self.department.name_en
        );
        for duty in &self.duties {
            out.push_str(&format!(
                "\nduty {} — {} / {}\n  table: {} ({}, {})\n",
                duty.id,
                duty.name_zh,
                duty.name_en,
                duty.table,
                match duty.mode {
                    DutyMode::Snapshot => "snapshot",
                    DutyMode::Period => "period",
                },
                match duty.cadence {
                    Cadence::Monthly => "monthly",
                    Cadence::OnChange => "on change",
                }
            ));
            if let Some(col) = &duty.period_column {
                out.push_str(&format!("  period: the month of {col}\n"));
            }
            out.push_str("  template:\n");
            for c in &duty.columns {
                let mut rules = Vec::new();
                if c.required {
                    rules.push("required".to_owned());
                }
                if c.personal {
                    rules.push("personal data".to_owned());
                }
                if !c.allowed_values.is_empty() {
                    rules.push(format!("one of {}", c.allowed_values.join(", ")));
                }
                if let Some(range) = &c.range {
                    if let Some(min) = &range.min {
                        rules.push(format!(
                            "{} {}",
                            if min.inclusive { "≥" } else { ">" },
                            min.value
                        ));
                    }
                    if let Some(max) = &range.max {
                        rules.push(format!(
                            "{} {}",
                            if max.inclusive { "≤" } else { "<" },
                            max.value
                        ));
                    }
                }
                let line = format!(
                    "    {} {} {} {}",
                    pad(&c.key, 22),
                    pad(&c.header_zh, 20),
                    pad(&c.data_type.to_string(), 14),
                    rules.join("; ")
                );
                out.push_str(line.trim_end());
                out.push('\n');
            }
            for key in &duty.unique_keys {
                out.push_str(&format!(
                    "  unique: ({}){}\n",
                    key.columns.join(", "),
                    if key.across_periods {
                        " across all periods"
                    } else {
                        ""
                    }
                ));
            }
            for r in &duty.references {
                out.push_str(&format!(
                    "  reference: ({}) → {}({})\n",
                    r.columns.join(", "),
                    r.table,
                    r.table_columns.join(", ")
                ));
            }
            if duty.transforms {
                let stored: Vec<String> = duty
                    .stored_columns
                    .iter()
                    .map(|c| format!("{} {}", c.name, c.data_type))
                    .collect();
                out.push_str(&format!(
                    "  stores (after transform): {}\n",
                    stored.join(", ")
                ));
            }
        }
        out
    }
}
