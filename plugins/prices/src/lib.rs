//! prices: the duty of the development and reform bureau (县发改局) — the mainstream
//! platforms' price of the services T13 compares the county's upstream postage with.
//! Rules and their reasons: see README.md.

use county::first_day_of_month;
use sannong_sdk::{Call, Column, Diagnostics, Duty, Manifest, Plugin, PluginError, Rows};

/// The plugin.
pub struct Prices;

impl Plugin for Prices {
    fn manifest() -> Manifest {
        Manifest::new(
            "prices",
            env!("CARGO_PKG_VERSION"),
            "Reference prices of mainstream platforms",
        )
        .department("prices", "县发改局", "Development and reform bureau")
        .duty(
            Duty::period(
                "reference-prices",
                "prices.reference",
                "主流平台参考价格",
                "Reference prices",
            )
            .period_column("month")
            .column(Column::date("month", "月份", "month (its first day)").required())
            .column(
                Column::text("service", "服务", "service")
                    .required()
                    .one_of(["上行快递1kg"]),
            )
            .column(
                Column::decimal(
                    "price_yuan",
                    "主流平台价格(元)",
                    "mainstream platforms' price (yuan)",
                    14,
                    2,
                )
                .required()
                .greater_than("0"),
            )
            .unique(["month", "service"]),
        )
    }

    fn validate(call: &Call, rows: &Rows, out: &mut Diagnostics) -> Result<(), PluginError> {
        match call.duty() {
            "reference-prices" => first_day_of_month(rows, "month", out),
            _ => Ok(()),
        }
    }
}

sannong_sdk::export_plugin!(Prices);

#[cfg(test)]
mod tests {
    use sannong_sdk::testing::{errors, rows, validate};

    use super::*;

    #[test]
    fn months_are_first_days() {
        let batch = rows::<Prices>(
            "reference-prices",
            &[
                &["2021-03-01", "上行快递1kg", "6.00"],
                &["2021-03-15", "上行快递1kg", "6.00"],
            ],
        );
        let found = validate::<Prices>("reference-prices", Some("2021-03"), &batch).unwrap();
        assert_eq!(
            errors(&found),
            [(Some(1), "month-not-first-day".to_owned())]
        );
    }
}
