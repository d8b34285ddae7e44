//! The benchmark plugin: ten parcel-like columns and the kind of rules department
//! plugins have (allowed values, orders of timestamps, code formats, ranges). The same
//! code runs natively and as a component, so the benchmark compares like with like.

use sannong_sdk::rows::timestamp_text;
use sannong_sdk::{Call, Column, Diagnostics, Duty, Manifest, Plugin, PluginError, Rows};

/// The plugin.
pub struct BenchPlugin;

const COURIERS: [&str; 6] = ["邮政", "韵达", "圆通", "顺丰", "京东", "其他"];

impl Plugin for BenchPlugin {
    fn manifest() -> Manifest {
        Manifest::new("bench", "0.1.0", "benchmark rules over parcel-like rows")
            .department("bench", "基准测试", "benchmark")
            .duty(
                Duty::snapshot("parcels", "bench.parcels", "包裹", "parcels")
                    .column(Column::text("parcel_id", "运单号", "waybill").required())
                    .column(Column::text("courier", "快递公司", "courier").required())
                    .column(Column::text("direction", "方向", "direction").required())
                    .column(Column::text("station_id", "服务站编号", "station").required())
                    .column(Column::text("village_code", "村代码", "village").required())
                    .column(Column::timestamp("handed_in_at", "收寄时间", "handed in").required())
                    .column(Column::timestamp(
                        "warehouse_at",
                        "到达县仓时间",
                        "at warehouse",
                    ))
                    .column(Column::timestamp("delivered_at", "妥投时间", "delivered"))
                    .column(Column::decimal("fee_yuan", "资费(元)", "fee", 14, 2).required())
                    .column(Column::float("weight_kg", "重量(kg)", "weight").required()),
            )
    }

    fn validate(_call: &Call, rows: &Rows, out: &mut Diagnostics) -> Result<(), PluginError> {
        let courier = rows.text("courier")?;
        let direction = rows.text("direction")?;
        let village = rows.text("village_code")?;
        let handed = rows.timestamp("handed_in_at")?;
        let warehouse = rows.timestamp("warehouse_at")?;
        let delivered = rows.timestamp("delivered_at")?;
        let fee = rows.decimal("fee_yuan")?;
        let weight = rows.float("weight_kg")?;
        for row in 0..rows.len() {
            if let Some(c) = courier.get(row)
                && !COURIERS.contains(&c)
            {
                out.error(
                    row,
                    "courier",
                    c,
                    "courier",
                    "快递公司不在名单中",
                    "unknown courier",
                );
            }
            let upstream = direction.get(row) == Some("上行");
            if let Some(d) = direction.get(row)
                && !upstream
                && d != "下行"
            {
                out.error(
                    row,
                    "direction",
                    d,
                    "direction",
                    "方向应为上行或下行",
                    "direction must be 上行 or 下行",
                );
            }
            if let Some(code) = village.get(row)
                && (code.len() != 12 || !code.bytes().all(|b| b.is_ascii_digit()))
            {
                out.error(
                    row,
                    "village_code",
                    code,
                    "village-code",
                    "村代码应为12位数字",
                    "village code must be 12 digits",
                );
            }
            if let (Some(h), Some(w)) = (handed.get(row), warehouse.get(row)) {
                if !upstream {
                    out.error(
                        row,
                        "warehouse_at",
                        timestamp_text(w),
                        "warehouse-upstream-only",
                        "只有上行包裹有到达县仓时间",
                        "only upstream parcels have a warehouse time",
                    );
                } else if w < h {
                    out.error(
                        row,
                        "warehouse_at",
                        timestamp_text(w),
                        "warehouse-before-handed-in",
                        "到达县仓时间早于收寄时间",
                        "reached the warehouse before it was handed in",
                    );
                }
            }
            if let (Some(h), Some(d)) = (handed.get(row), delivered.get(row))
                && d < h
            {
                out.error(
                    row,
                    "delivered_at",
                    timestamp_text(d),
                    "delivered-before-handed-in",
                    "妥投时间早于收寄时间",
                    "delivered before it was handed in",
                );
            }
            if fee.get(row).is_some_and(|f| f < 0) {
                out.error(
                    row,
                    "fee_yuan",
                    fee.text(row),
                    "negative-fee",
                    "资费不能为负",
                    "the fee cannot be negative",
                );
            }
            if weight.get(row).is_some_and(|w| w <= 0.0) {
                out.error(
                    row,
                    "weight_kg",
                    weight.get(row).unwrap_or_default(),
                    "weight",
                    "重量应大于0",
                    "the weight must be above 0",
                );
            }
        }
        Ok(())
    }
}

sannong_sdk::export_plugin!(BenchPlugin);
