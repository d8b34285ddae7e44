//! The glue between [`crate::Plugin`] and the generated bindings (WebAssembly only):
//! converts the manifest and diagnostics to the contract's types and rows to and from
//! Arrow IPC. Used by [`crate::export_plugin!`]; plugin authors never call it.

#[cfg(target_arch = "wasm32")]
pub use imp::*;

#[cfg(target_arch = "wasm32")]
mod imp {
    use crate::bindings::sannong::plugin::types as wit;
    use crate::manifest as sdk;
    use crate::{Call, Diagnostics, Plugin, Rows};
    use arrow_array::RecordBatch;

    fn data_type(t: sdk::DataType) -> wit::DataType {
        match t {
            sdk::DataType::Utf8 => wit::DataType::Utf8,
            sdk::DataType::Boolean => wit::DataType::Boolean,
            sdk::DataType::Int64 => wit::DataType::Int64,
            sdk::DataType::Float64 => wit::DataType::Float64,
            sdk::DataType::Decimal(precision, scale) => {
                wit::DataType::Decimal(wit::DecimalType { precision, scale })
            }
            sdk::DataType::Date => wit::DataType::Date,
            sdk::DataType::Timestamp => wit::DataType::Timestamp,
        }
    }

    fn bound(b: &sdk::Bound) -> wit::Bound {
        wit::Bound {
            value: b.value.clone(),
            inclusive: b.inclusive,
        }
    }

    fn duty(d: &sdk::Duty) -> wit::Duty {
        wit::Duty {
            id: d.id.clone(),
            name_zh: d.name_zh.clone(),
            name_en: d.name_en.clone(),
            table: d.table.clone(),
            mode: match d.mode {
                sdk::DutyMode::Snapshot => wit::DutyMode::Snapshot,
                sdk::DutyMode::Period => wit::DutyMode::Period,
            },
            cadence: match d.cadence {
                sdk::Cadence::Monthly => wit::Cadence::Monthly,
                sdk::Cadence::OnChange => wit::Cadence::OnChange,
            },
            period_column: d.period_column.clone(),
            columns: d
                .columns
                .iter()
                .map(|c| wit::TemplateColumn {
                    key: c.key.clone(),
                    header_zh: c.header_zh.clone(),
                    description_en: c.description_en.clone(),
                    data_type: data_type(c.data_type),
                    required: c.required,
                    allowed_values: c.allowed_values.clone(),
                    range: (c.min.is_some() || c.max.is_some()).then(|| wit::ValueRange {
                        min: c.min.as_ref().map(bound),
                        max: c.max.as_ref().map(bound),
                    }),
                    personal: c.personal,
                })
                .collect(),
            unique_keys: d
                .unique_keys
                .iter()
                .map(|k| wit::UniqueKey {
                    columns: k.columns.clone(),
                    across_periods: k.across_periods,
                })
                .collect(),
            references: d
                .references
                .iter()
                .map(|r| wit::TableReference {
                    columns: r.columns.clone(),
                    table: r.table.clone(),
                    table_columns: r.table_columns.clone(),
                })
                .collect(),
            stored_columns: d
                .stored_columns()
                .iter()
                .map(|c| wit::StoredColumn {
                    name: c.name.clone(),
                    data_type: data_type(c.data_type),
                    nullable: c.nullable,
                })
                .collect(),
            transforms: d.transforms,
        }
    }

    /// The plugin's manifest in the contract's types.
    pub fn manifest<P: Plugin>() -> wit::Manifest {
        let m = P::manifest();
        wit::Manifest {
            plugin_id: m.plugin_id,
            version: m.version,
            description: m.description,
            department: wit::Department {
                id: m.department.id,
                name_zh: m.department.name_zh,
                name_en: m.department.name_en,
            },
            duties: m.duties.iter().map(duty).collect(),
        }
    }

    /// The call and its rows, decoded where the host put them.
    fn call(request: wit::Request) -> Result<(Call, RecordBatch), String> {
        let wit::Request { duty, period, rows } = request;
        let batch = crate::ipc::decode(rows).map_err(|e| e.0)?;
        Ok((Call { duty, period }, batch))
    }

    /// `validate` of the contract.
    pub fn validate<P: Plugin>(request: wit::Request) -> Result<Vec<wit::Diagnostic>, String> {
        let (call, batch) = call(request)?;
        let mut out = Diagnostics::default();
        P::validate(&call, &Rows::new(&batch), &mut out).map_err(|e| e.0)?;
        Ok(out
            .into_items()
            .into_iter()
            .map(|d| wit::Diagnostic {
                row: d.row,
                column: d.column,
                value: d.value,
                rule: d.rule,
                message_zh: d.message_zh,
                message_en: d.message_en,
                severity: match d.severity {
                    crate::Severity::Error => wit::Severity::Error,
                    crate::Severity::Warning => wit::Severity::Warning,
                },
            })
            .collect())
    }

    /// `transform` of the contract.
    pub fn transform<P: Plugin>(request: wit::Request) -> Result<Vec<u8>, String> {
        let (call, batch) = call(request)?;
        let out = P::transform(&call, batch).map_err(|e| e.0)?;
        crate::ipc::encode(&out).map_err(|e| e.0)
    }
}
