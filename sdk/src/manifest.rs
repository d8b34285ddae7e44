//! The manifest a plugin declares: its department, duties and upload templates.
//!
//! Built with small builders so that a duty reads like the data model's table:
//!
//! ```
//! use sannong_sdk::{Column, Duty, Manifest};
//! let manifest = Manifest::new("prices", "1.0.0", "Reference prices for T13")
//!     .department("prices", "县发改局", "Development and reform bureau")
//!     .duty(
//!         Duty::period("reference-prices", "prices.reference", "参考价格", "Reference prices")
//!             .monthly()
//!             .period_column("month")
//!             .column(Column::date("month", "月份", "month").required())
//!             .column(Column::text("service", "服务", "service").required().one_of(["上行快递1kg"]))
//!             .column(Column::decimal("price_yuan", "主流平台价格(元)", "price (yuan)", 14, 2).required().at_least("0")),
//!     );
//! assert_eq!(manifest.duties[0].columns.len(), 3);
//! ```

/// The Arrow type of a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataType {
    /// Text.
    Utf8,
    /// 是/否, Y/N, true/false, 1/0.
    Boolean,
    /// Whole numbers.
    Int64,
    /// Floating-point numbers (never money).
    Float64,
    /// Exact decimals (precision, scale), for money.
    Decimal(u8, i8),
    /// Dates.
    Date,
    /// Beijing wall-clock times, to the second.
    Timestamp,
}

impl DataType {
    /// The Arrow type it maps to.
    pub fn arrow(&self) -> arrow_schema::DataType {
        use arrow_schema::{DataType as A, TimeUnit};
        match *self {
            DataType::Utf8 => A::Utf8,
            DataType::Boolean => A::Boolean,
            DataType::Int64 => A::Int64,
            DataType::Float64 => A::Float64,
            DataType::Decimal(p, s) => A::Decimal128(p, s),
            DataType::Date => A::Date32,
            DataType::Timestamp => A::Timestamp(TimeUnit::Second, None),
        }
    }
}

/// One end of a range, as text in the column's type (decimals stay exact).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bound {
    /// The bound value, e.g. `0`, `0.01`, `2020-07-01`.
    pub value: String,
    /// Whether the bound itself is allowed.
    pub inclusive: bool,
}

/// One column of an upload template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// Key (English header and stored name).
    pub key: String,
    /// Chinese header.
    pub header_zh: String,
    /// English description.
    pub description_en: String,
    /// Type.
    pub data_type: DataType,
    /// Whether every row needs a value.
    pub required: bool,
    /// Allowed values; empty = any.
    pub allowed_values: Vec<String>,
    /// Lower bound.
    pub min: Option<Bound>,
    /// Upper bound.
    pub max: Option<Bound>,
    /// Personal data, never stored or shown in clear (see [`Column::personal`]).
    pub personal: bool,
}

impl Column {
    /// A column of any type.
    pub fn new(key: &str, header_zh: &str, description_en: &str, data_type: DataType) -> Self {
        Column {
            key: key.into(),
            header_zh: header_zh.into(),
            description_en: description_en.into(),
            data_type,
            required: false,
            allowed_values: Vec::new(),
            min: None,
            max: None,
            personal: false,
        }
    }

    /// A text column.
    pub fn text(key: &str, header_zh: &str, description_en: &str) -> Self {
        Self::new(key, header_zh, description_en, DataType::Utf8)
    }

    /// A yes/no column.
    pub fn boolean(key: &str, header_zh: &str, description_en: &str) -> Self {
        Self::new(key, header_zh, description_en, DataType::Boolean)
    }

    /// A whole-number column.
    pub fn int(key: &str, header_zh: &str, description_en: &str) -> Self {
        Self::new(key, header_zh, description_en, DataType::Int64)
    }

    /// A floating-point column.
    pub fn float(key: &str, header_zh: &str, description_en: &str) -> Self {
        Self::new(key, header_zh, description_en, DataType::Float64)
    }

    /// A decimal column with precision and scale.
    pub fn decimal(
        key: &str,
        header_zh: &str,
        description_en: &str,
        precision: u8,
        scale: i8,
    ) -> Self {
        Self::new(
            key,
            header_zh,
            description_en,
            DataType::Decimal(precision, scale),
        )
    }

    /// A date column.
    pub fn date(key: &str, header_zh: &str, description_en: &str) -> Self {
        Self::new(key, header_zh, description_en, DataType::Date)
    }

    /// A timestamp column.
    pub fn timestamp(key: &str, header_zh: &str, description_en: &str) -> Self {
        Self::new(key, header_zh, description_en, DataType::Timestamp)
    }

    /// Every row must have a value.
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }

    /// Only these values are allowed.
    pub fn one_of<S: Into<String>>(mut self, values: impl IntoIterator<Item = S>) -> Self {
        self.allowed_values = values.into_iter().map(Into::into).collect();
        self
    }

    /// The column holds personal data (resident ID numbers, names): the platform masks
    /// its values in every problem it reports and refuses to store it unchanged, so the
    /// duty must [`Duty::stores`] something derived from it instead.
    pub fn personal(mut self) -> Self {
        self.personal = true;
        self
    }

    /// Values must be ≥ `min`.
    pub fn at_least(mut self, min: &str) -> Self {
        self.min = Some(Bound {
            value: min.into(),
            inclusive: true,
        });
        self
    }

    /// Values must be > `min`.
    pub fn greater_than(mut self, min: &str) -> Self {
        self.min = Some(Bound {
            value: min.into(),
            inclusive: false,
        });
        self
    }

    /// Values must be ≤ `max`.
    pub fn at_most(mut self, max: &str) -> Self {
        self.max = Some(Bound {
            value: max.into(),
            inclusive: true,
        });
        self
    }
}

/// Columns whose values together are unique.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UniqueKey {
    /// The column keys.
    pub columns: Vec<String>,
    /// Also unique against other periods' stored rows.
    pub across_periods: bool,
}

/// Columns that must match another table's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// This template's columns.
    pub columns: Vec<String>,
    /// The referenced table, `schema.table`.
    pub table: String,
    /// The referenced columns.
    pub table_columns: Vec<String>,
}

/// A column of the stored table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredColumn {
    /// Name.
    pub name: String,
    /// Type.
    pub data_type: DataType,
    /// Whether nulls are allowed.
    pub nullable: bool,
}

/// Snapshot or period replace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DutyMode {
    /// An upload replaces the table.
    Snapshot,
    /// An upload replaces one period's rows.
    Period,
}

/// How often a duty is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cadence {
    /// Monthly.
    Monthly,
    /// When the facts change.
    OnChange,
}

/// One reporting duty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Duty {
    /// Duty id.
    pub id: String,
    /// Chinese name.
    pub name_zh: String,
    /// English name.
    pub name_en: String,
    /// Table written, `schema.table`.
    pub table: String,
    /// Replace mode.
    pub mode: DutyMode,
    /// Cadence.
    pub cadence: Cadence,
    /// For period duties: the column whose month must be the upload's period.
    pub period_column: Option<String>,
    /// The template.
    pub columns: Vec<Column>,
    /// Unique keys.
    pub unique_keys: Vec<UniqueKey>,
    /// References to other tables.
    pub references: Vec<Reference>,
    /// Stored columns when they differ from the template (see [`Duty::stores`]).
    pub stored_columns: Option<Vec<StoredColumn>>,
    /// Whether `transform` changes rows.
    pub transforms: bool,
}

impl Duty {
    fn new(
        id: &str,
        table: &str,
        name_zh: &str,
        name_en: &str,
        mode: DutyMode,
        cadence: Cadence,
    ) -> Self {
        Duty {
            id: id.into(),
            name_zh: name_zh.into(),
            name_en: name_en.into(),
            table: table.into(),
            mode,
            cadence,
            period_column: None,
            columns: Vec::new(),
            unique_keys: Vec::new(),
            references: Vec::new(),
            stored_columns: None,
            transforms: false,
        }
    }

    /// A snapshot duty (an upload replaces the table), due on change.
    pub fn snapshot(id: &str, table: &str, name_zh: &str, name_en: &str) -> Self {
        Self::new(
            id,
            table,
            name_zh,
            name_en,
            DutyMode::Snapshot,
            Cadence::OnChange,
        )
    }

    /// A period duty (an upload replaces one month), due monthly.
    pub fn period(id: &str, table: &str, name_zh: &str, name_en: &str) -> Self {
        Self::new(
            id,
            table,
            name_zh,
            name_en,
            DutyMode::Period,
            Cadence::Monthly,
        )
    }

    /// Due monthly.
    pub fn monthly(mut self) -> Self {
        self.cadence = Cadence::Monthly;
        self
    }

    /// The column whose month must equal the upload's period.
    pub fn period_column(mut self, key: &str) -> Self {
        self.period_column = Some(key.into());
        self
    }

    /// Adds a template column.
    pub fn column(mut self, column: Column) -> Self {
        self.columns.push(column);
        self
    }

    /// These columns together are unique within an upload.
    pub fn unique<S: Into<String>>(mut self, columns: impl IntoIterator<Item = S>) -> Self {
        self.unique_keys.push(UniqueKey {
            columns: columns.into_iter().map(Into::into).collect(),
            across_periods: false,
        });
        self
    }

    /// These columns together are unique within an upload and across all periods.
    pub fn unique_across_periods<S: Into<String>>(
        mut self,
        columns: impl IntoIterator<Item = S>,
    ) -> Self {
        self.unique_keys.push(UniqueKey {
            columns: columns.into_iter().map(Into::into).collect(),
            across_periods: true,
        });
        self
    }

    /// `column` must exist as `table_column` of `table`.
    pub fn references(mut self, column: &str, table: &str, table_column: &str) -> Self {
        self.references.push(Reference {
            columns: vec![column.into()],
            table: table.into(),
            table_columns: vec![table_column.into()],
        });
        self
    }

    /// The stored table differs from the template: `transform` produces these columns.
    pub fn stores(mut self, columns: Vec<StoredColumn>) -> Self {
        self.stored_columns = Some(columns);
        self.transforms = true;
        self
    }

    /// `transform` changes values but keeps the template's columns.
    pub fn transforms(mut self) -> Self {
        self.transforms = true;
        self
    }

    /// The template column with this key.
    pub fn template_column(&self, key: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.key == key)
    }

    /// The stored columns: declared ones, or the template's (nullable unless required).
    pub fn stored_columns(&self) -> Vec<StoredColumn> {
        self.stored_columns.clone().unwrap_or_else(|| {
            self.columns
                .iter()
                .map(|c| StoredColumn {
                    name: c.key.clone(),
                    data_type: c.data_type,
                    nullable: !c.required,
                })
                .collect()
        })
    }

    /// The Arrow schema of the stored columns.
    pub fn stored_schema(&self) -> arrow_schema::SchemaRef {
        std::sync::Arc::new(arrow_schema::Schema::new(
            self.stored_columns()
                .iter()
                .map(|c| arrow_schema::Field::new(&c.name, c.data_type.arrow(), c.nullable))
                .collect::<Vec<_>>(),
        ))
    }

    /// The Arrow schema of the template (as the host parses an upload).
    pub fn template_schema(&self) -> arrow_schema::SchemaRef {
        std::sync::Arc::new(arrow_schema::Schema::new(
            self.columns
                .iter()
                .map(|c| arrow_schema::Field::new(&c.key, c.data_type.arrow(), true))
                .collect::<Vec<_>>(),
        ))
    }
}

/// The department a plugin serves.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Department {
    /// Short id.
    pub id: String,
    /// Chinese name.
    pub name_zh: String,
    /// English name.
    pub name_en: String,
}

/// What a plugin declares about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// Plugin id.
    pub plugin_id: String,
    /// Version.
    pub version: String,
    /// One sentence on what it does.
    pub description: String,
    /// The department.
    pub department: Department,
    /// The duties.
    pub duties: Vec<Duty>,
}

impl Manifest {
    /// A manifest with no department or duties yet.
    pub fn new(plugin_id: &str, version: &str, description: &str) -> Self {
        Manifest {
            plugin_id: plugin_id.into(),
            version: version.into(),
            description: description.into(),
            department: Department::default(),
            duties: Vec::new(),
        }
    }

    /// Sets the department.
    pub fn department(mut self, id: &str, name_zh: &str, name_en: &str) -> Self {
        self.department = Department {
            id: id.into(),
            name_zh: name_zh.into(),
            name_en: name_en.into(),
        };
        self
    }

    /// Adds a duty.
    pub fn duty(mut self, duty: Duty) -> Self {
        self.duties.push(duty);
        self
    }

    /// The duty with this id.
    pub fn find_duty(&self, id: &str) -> Option<&Duty> {
        self.duties.iter().find(|d| d.id == id)
    }
}
