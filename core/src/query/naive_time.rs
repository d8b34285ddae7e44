//! `date_part` (and `EXTRACT`) of the hour or minute of the programme's timestamps by
//! integer arithmetic.
//!
//! The programme's times carry no time zone (Beijing wall-clock time), so a timestamp's
//! hour is its count of hours since the epoch modulo 24. DataFusion's `date_part` turns
//! every value into a calendar date and time first, which made it a tenth of the
//! same-day KPI's time. This function takes its place in query sessions: it answers the
//! hour and the minute of a timestamp without a zone itself, the same values, and hands
//! everything else to DataFusion's.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Int32Array};
use arrow::datatypes::{
    DataType, FieldRef, TimeUnit, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType,
};
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl,
    Signature,
};

/// `date_part` with the hour and minute of timestamps without a zone computed directly.
pub fn date_part() -> ScalarUDF {
    ScalarUDF::new_from_impl(DatePart {
        builtin: datafusion::functions::datetime::date_part(),
    })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct DatePart {
    /// DataFusion's `date_part`, for every other case.
    builtin: Arc<ScalarUDF>,
}

/// A part of the time of day this module computes, as its length in seconds and how many
/// of it make the next larger unit.
fn time_of_day_part(part: &str) -> Option<(i64, i64)> {
    match part.trim().to_ascii_lowercase().as_str() {
        "hour" | "hours" | "h" | "hr" | "hrs" => Some((3600, 24)),
        "minute" | "minutes" | "m" | "min" | "mins" => Some((60, 60)),
        _ => None,
    }
}

/// The part of each timestamp of `array` (a timestamp without a zone), or `None` for any
/// other array.
fn of_day(array: &ArrayRef, (seconds, modulus): (i64, i64)) -> Option<Int32Array> {
    let DataType::Timestamp(unit, None) = array.data_type() else {
        return None;
    };
    let per_second: i64 = match unit {
        TimeUnit::Second => 1,
        TimeUnit::Millisecond => 1_000,
        TimeUnit::Microsecond => 1_000_000,
        TimeUnit::Nanosecond => 1_000_000_000,
    };
    let length = seconds * per_second;
    let part = |v: i64| (v.div_euclid(length).rem_euclid(modulus)) as i32;
    Some(match unit {
        TimeUnit::Second => array.as_primitive::<TimestampSecondType>().unary(part),
        TimeUnit::Millisecond => array.as_primitive::<TimestampMillisecondType>().unary(part),
        TimeUnit::Microsecond => array.as_primitive::<TimestampMicrosecondType>().unary(part),
        TimeUnit::Nanosecond => array.as_primitive::<TimestampNanosecondType>().unary(part),
    })
}

impl ScalarUDFImpl for DatePart {
    fn name(&self) -> &str {
        self.builtin.name()
    }

    fn aliases(&self) -> &[String] {
        self.builtin.aliases()
    }

    fn signature(&self) -> &Signature {
        self.builtin.signature()
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.builtin.return_type(arg_types)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        self.builtin.return_field_from_args(args)
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        self.builtin.coerce_types(arg_types)
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.builtin.documentation()
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let part = match args.args.first() {
            Some(ColumnarValue::Scalar(
                ScalarValue::Utf8(Some(part)) | ScalarValue::Utf8View(Some(part)),
            )) => time_of_day_part(part),
            _ => None,
        };
        let values = match (part, args.args.get(1)) {
            (Some(part), Some(ColumnarValue::Array(array))) => of_day(array, part),
            _ => None,
        };
        match values {
            Some(values) if args.return_field.data_type() == &DataType::Int32 => {
                Ok(ColumnarValue::Array(Arc::new(values)))
            }
            _ => self.builtin.invoke_with_args(args),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{RecordBatch, TimestampMicrosecondArray, TimestampSecondArray};
    use arrow::datatypes::{Field, Schema};
    use datafusion::prelude::SessionContext;

    /// Microsecond timestamps on both sides of the epoch and of midnight, and a null.
    fn times() -> TimestampMicrosecondArray {
        let hour = 3_600_000_000i64;
        TimestampMicrosecondArray::from(vec![
            Some(0),
            Some(-1),
            Some(13 * hour + 59 * 60_000_000 + 59_999_999),
            Some(14 * hour),
            Some(1_609_459_200_000_000 + 23 * hour + 1),
            Some(-25 * hour - 1),
            None,
            Some(1_640_995_199_999_999),
        ])
    }

    /// The rows of `sql` over table `t` (column `at`), with this `date_part` or without.
    async fn rows(sql: &str, at: ArrayRef, ours: bool) -> String {
        let ctx = SessionContext::new();
        if ours {
            ctx.register_udf(date_part());
        }
        let schema = Arc::new(Schema::new(vec![Field::new(
            "at",
            at.data_type().clone(),
            true,
        )]));
        let batch = RecordBatch::try_new(schema, vec![at]).unwrap();
        ctx.register_batch("t", batch).unwrap();
        let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
        arrow::util::pretty::pretty_format_batches(&batches)
            .unwrap()
            .to_string()
    }

    #[tokio::test]
    async fn hours_and_minutes_are_datafusions_own() {
        let second = TimestampSecondArray::from(vec![Some(-3601), Some(86_399), None]);
        for at in [Arc::new(times()) as ArrayRef, Arc::new(second)] {
            for sql in [
                "SELECT at, date_part('hour', at) AS h, date_part('MINUTE', at) AS m FROM t",
                "SELECT EXTRACT(HOUR FROM at) AS h, datepart('minutes', at) AS m FROM t",
                "SELECT count(*) AS n FROM t WHERE date_part('hour', at) < 14",
                // Parts computed by DataFusion's own function, through this one.
                "SELECT date_part('year', at) AS y, date_part('second', at) AS s, date_part('epoch', at) AS e FROM t",
            ] {
                let ours = rows(sql, at.clone(), true).await;
                assert_eq!(ours, rows(sql, at.clone(), false).await, "{sql}");
                assert!(ours.lines().count() > 4, "{ours}");
            }
        }
    }

    #[test]
    fn the_hour_is_counted_in_wall_clock_time() {
        let at: ArrayRef = Arc::new(times());
        let hours = of_day(&at, (3600, 24)).unwrap();
        let hours: Vec<Option<i32>> = hours.iter().collect();
        assert_eq!(
            hours,
            [
                Some(0),
                Some(23),
                Some(13),
                Some(14),
                Some(23),
                Some(22),
                None,
                Some(23)
            ]
        );
        let zoned: ArrayRef = Arc::new(times().with_timezone("+08:00"));
        assert!(
            of_day(&zoned, (3600, 24)).is_none(),
            "a zone is left to DataFusion"
        );
    }
}
