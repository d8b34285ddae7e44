//! post: the duty of China Post's Fogang branch (邮政佛冈分公司) — every parcel handed
//! in or delivered through the county's shared logistics system, by all couriers.
//! Rules and their reasons: see this crate's README.md.

use std::collections::HashMap;

use sannong_sdk::checks::not_before;
use sannong_sdk::rows::timestamp_text;
use sannong_sdk::{Call, Column, Diagnostics, Duty, Manifest, Plugin, PluginError, Rows, host};

/// The plugin.
pub struct Post;

const COURIERS: [&str; 6] = ["邮政", "韵达", "圆通", "顺丰", "京东", "其他"];

impl Plugin for Post {
    fn manifest() -> Manifest {
        Manifest::new(
            "post",
            env!("CARGO_PKG_VERSION"),
            "Parcel flow and delivery logs of all couriers",
        )
        .department("post", "邮政佛冈分公司", "China Post, Fogang branch")
        .duty(
            Duty::period("parcels", "logistics.parcels", "快递包裹流向", "Parcels")
                .period_column("handed_in_at")
                .column(Column::text("parcel_id", "运单号", "waybill number").required())
                .column(
                    Column::text("courier", "快递公司", "courier")
                        .required()
                        .one_of(COURIERS),
                )
                .column(
                    Column::text(
                        "direction",
                        "方向",
                        "direction (上行 upstream, 下行 downstream)",
                    )
                    .required()
                    .one_of(["上行", "下行"]),
                )
                .column(Column::text("station_id", "服务站编号", "service station").required())
                .column(Column::text("village_code", "村代码", "village code").required())
                .column(Column::timestamp("handed_in_at", "收寄时间", "handed in").required())
                .column(Column::timestamp(
                    "warehouse_at",
                    "到达县仓时间",
                    "reached the county warehouse",
                ))
                .column(Column::timestamp("delivered_at", "妥投时间", "delivered"))
                .column(
                    Column::decimal("fee_yuan", "资费(元)", "postage (yuan)", 14, 2)
                        .required()
                        .at_least("0"),
                )
                .column(
                    Column::float("weight_kg", "重量(kg)", "weight (kg)")
                        .required()
                        .greater_than("0"),
                )
                .unique_across_periods(["parcel_id"])
                .references("station_id", "logistics.stations", "station_id")
                .references("village_code", "admin.villages", "village_code"),
        )
    }

    fn validate(call: &Call, rows: &Rows, out: &mut Diagnostics) -> Result<(), PluginError> {
        if call.duty() != "parcels" {
            return Ok(());
        }
        warehouse_time_only_upstream(rows, out)?;
        not_before(
            rows,
            ("warehouse_at", "到达县仓时间"),
            ("handed_in_at", "收寄时间"),
            "warehouse-before-handed-in",
            out,
        )?;
        not_before(
            rows,
            ("delivered_at", "妥投时间"),
            ("handed_in_at", "收寄时间"),
            "delivered-before-handed-in",
            out,
        )?;
        station_serves_the_village(rows, out)
    }
}

/// Only upstream parcels (village → city) pass through the county warehouse on their
/// way out; a downstream parcel with a warehouse time mixes up the two flows (T11).
fn warehouse_time_only_upstream(rows: &Rows, out: &mut Diagnostics) -> Result<(), PluginError> {
    let (direction, warehouse) = (rows.text("direction")?, rows.timestamp("warehouse_at")?);
    for row in 0..rows.len() {
        if direction.get(row) == Some("下行")
            && let Some(at) = warehouse.get(row)
        {
            out.error(row, "warehouse_at", timestamp_text(at), "warehouse-downstream", "下行包裹不应有到达县仓时间（只有上行包裹经县仓发出）", "downstream parcels have no warehouse time (only upstream parcels leave through the county warehouse)");
        }
    }
    Ok(())
}

/// A parcel's station should be in the parcel's village; otherwise coverage (T1, T16)
/// is credited to the wrong village. Checked against the committed station registry,
/// as a warning (a station may serve a neighbouring village).
fn station_serves_the_village(rows: &Rows, out: &mut Diagnostics) -> Result<(), PluginError> {
    let stations = host::query("SELECT station_id, village_code FROM logistics.stations")?;
    let registry = Rows::new(&stations);
    let (ids, villages) = (registry.text("station_id")?, registry.text("village_code")?);
    let village_of: HashMap<&str, &str> = (0..registry.len())
        .filter_map(|i| Some((ids.get(i)?, villages.get(i)?)))
        .collect();
    let (station, village) = (rows.text("station_id")?, rows.text("village_code")?);
    for row in 0..rows.len() {
        if let (Some(s), Some(v)) = (station.get(row), village.get(row))
            && let Some(home) = village_of.get(s)
            && *home != v
        {
            out.warning(
                row,
                "station_id",
                s,
                "station-in-other-village",
                format!("服务站 {s} 位于 {home}，不在 {v}"),
                format!("station {s} is in village {home}, not {v}"),
            );
        }
    }
    Ok(())
}

sannong_sdk::export_plugin!(Post);

#[cfg(test)]
mod tests {
    use sannong_sdk::arrow_array::{RecordBatch, StringArray};
    use sannong_sdk::arrow_schema::{DataType, Field, Schema};
    use sannong_sdk::testing::{answer_queries_with, errors, rows, validate};

    use super::*;

    fn stations() {
        answer_queries_with(|_| {
            let schema = std::sync::Arc::new(Schema::new(vec![
                Field::new("station_id", DataType::Utf8, true),
                Field::new("village_code", DataType::Utf8, true),
            ]));
            Ok(RecordBatch::try_new(
                schema,
                vec![
                    std::sync::Arc::new(StringArray::from(vec!["ST1"])),
                    std::sync::Arc::new(StringArray::from(vec!["441821101001"])),
                ],
            )
            .unwrap())
        });
    }

    #[test]
    fn timestamps_must_follow_the_parcel() {
        stations();
        let batch = rows::<Post>(
            "parcels",
            &[
                &[
                    "P1",
                    "邮政",
                    "上行",
                    "ST1",
                    "441821101001",
                    "2021-03-05 10:00:00",
                    "2021-03-05 09:00:00",
                    "",
                    "5.00",
                    "1.0",
                ],
                &[
                    "P2",
                    "韵达",
                    "下行",
                    "ST1",
                    "441821101001",
                    "2021-03-05 10:00:00",
                    "2021-03-05 12:00:00",
                    "2021-03-04 10:00:00",
                    "5.00",
                    "1.0",
                ],
                &[
                    "P3",
                    "邮政",
                    "上行",
                    "ST1",
                    "441821101001",
                    "2021-03-05 10:00:00",
                    "2021-03-05 13:00:00",
                    "2021-03-07 10:00:00",
                    "5.00",
                    "1.0",
                ],
            ],
        );
        let found = validate::<Post>("parcels", Some("2021-03"), &batch).unwrap();
        assert_eq!(
            errors(&found),
            [
                (Some(1), "warehouse-downstream".to_owned()),
                (Some(0), "warehouse-before-handed-in".to_owned()),
                (Some(1), "delivered-before-handed-in".to_owned()),
            ]
        );
    }

    #[test]
    fn a_station_elsewhere_is_a_warning() {
        stations();
        let batch = rows::<Post>(
            "parcels",
            &[&[
                "P1",
                "邮政",
                "下行",
                "ST1",
                "441821102001",
                "2021-03-05 10:00:00",
                "",
                "",
                "5.00",
                "1.0",
            ]],
        );
        let found = validate::<Post>("parcels", Some("2021-03"), &batch).unwrap();
        assert!(errors(&found).is_empty());
        assert_eq!(found[0].rule, "station-in-other-village");
    }
}
