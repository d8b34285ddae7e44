//! hr: the duties of the HR and social security bureau (县人社局) — training sessions,
//! who attended them (T9) and job fairs (T10).
//!
//! Attendance holds personal data: the resident ID number is checked (format, birth
//! date, check digit) and then stored only as the platform's keyed pseudonym
//! (`trainee_hash`, the same person matches across uploads), the name only masked
//! (`name_masked`, 张*). Rules and their reasons: see README.md.

use std::sync::Arc;

use county::TOWNS;
use sannong_sdk::arrow_array::{ArrayRef, RecordBatch, StringArray};
use sannong_sdk::checks::{ResidentIdProblem, masked_name, resident_id, resident_id_sex};
use sannong_sdk::{
    Call, Column, DataType, Diagnostics, Duty, Manifest, Plugin, PluginError, Rows, StoredColumn,
    host,
};

/// The plugin.
pub struct Hr;

/// Kinds of training, in Chinese (stored) and English (accepted too).
const KINDS: [(&str, &str); 4] = [
    ("基础", "basic"),
    ("增值", "value_added"),
    ("干部", "cadre"),
    ("企业", "enterprise"),
];
const GROUPS: [&str; 7] = [
    "返乡农民工",
    "大学生",
    "退伍军人",
    "贫困户",
    "基层干部",
    "创业青年",
    "其他",
];

fn stored(name: &str, data_type: DataType, nullable: bool) -> StoredColumn {
    StoredColumn {
        name: name.into(),
        data_type,
        nullable,
    }
}

impl Plugin for Hr {
    fn manifest() -> Manifest {
        let kinds = KINDS.iter().flat_map(|(zh, en)| [*zh, *en]);
        Manifest::new(
            "hr",
            env!("CARGO_PKG_VERSION"),
            "Training sessions, attendance and job fairs",
        )
        .department("hr", "县人社局", "HR and social security bureau")
        .duty(
            Duty::period(
                "training-sessions",
                "training.sessions",
                "培训场次",
                "Training sessions",
            )
            .period_column("start_date")
            .column(Column::text("session_id", "培训编号", "session number").required())
            .column(
                Column::text(
                    "kind",
                    "培训类型",
                    "kind (基础 basic, 增值 value_added, 干部 cadre, 企业 enterprise)",
                )
                .required()
                .one_of(kinds),
            )
            .column(Column::text("topic", "主题", "topic").required())
            .column(Column::text("town", "镇", "town").required().one_of(TOWNS))
            .column(Column::date("start_date", "开始日期", "start date").required())
            .column(
                Column::float("hours", "学时", "hours")
                    .required()
                    .greater_than("0"),
            )
            .unique_across_periods(["session_id"])
            .transforms(),
        )
        .duty(
            Duty::period(
                "training-attendance",
                "training.attendance",
                "培训签到",
                "Training attendance",
            )
            .column(Column::text("session_id", "培训编号", "session number").required())
            .column(
                Column::text("trainee_id", "身份证号", "resident ID number")
                    .required()
                    .personal(),
            )
            .column(Column::text("name", "姓名", "name").required().personal())
            .column(Column::text("gender", "性别", "gender").one_of(["男", "女"]))
            .column(
                Column::text("group", "人员类别", "group")
                    .required()
                    .one_of(GROUPS),
            )
            .unique(["session_id", "trainee_id"])
            .references("session_id", "training.sessions", "session_id")
            .stores(vec![
                stored("session_id", DataType::Utf8, false),
                stored("trainee_hash", DataType::Utf8, false),
                stored("name_masked", DataType::Utf8, false),
                stored("gender", DataType::Utf8, true),
                stored("group", DataType::Utf8, false),
            ]),
        )
        .duty(
            Duty::period(
                "job-fairs",
                "training.job_fairs",
                "电商招聘对接会",
                "E-commerce job fairs",
            )
            .period_column("held_on")
            .column(Column::text("fair_id", "招聘会编号", "fair number").required())
            .column(Column::date("held_on", "日期", "date held").required())
            .column(Column::text("venue", "地点", "venue").required())
            .column(
                Column::int(
                    "trainee_participants",
                    "参加学员人次",
                    "trainee participants",
                )
                .required()
                .at_least("0"),
            )
            .column(Column::int("employers", "企业数", "employers").at_least("0"))
            .column(Column::int("offers", "达成意向数", "offers").at_least("0"))
            .unique_across_periods(["fair_id"]),
        )
    }

    fn validate(call: &Call, rows: &Rows, out: &mut Diagnostics) -> Result<(), PluginError> {
        match call.duty() {
            "training-attendance" => resident_ids_are_valid(rows, out),
            _ => Ok(()),
        }
    }

    fn transform(call: &Call, rows: RecordBatch) -> Result<RecordBatch, PluginError> {
        match call.duty() {
            "training-sessions" => kinds_in_chinese(rows),
            "training-attendance" => pseudonymise(rows),
            _ => Ok(rows),
        }
    }
}

/// Resident ID numbers must be real: 18 characters, a real birth date, the right check
/// digit. The value is never shown in clear (the platform masks it). The recorded gender
/// should agree with the ID's sex digit (a warning: the form may be wrong either way).
fn resident_ids_are_valid(rows: &Rows, out: &mut Diagnostics) -> Result<(), PluginError> {
    let (ids, genders) = (rows.text("trainee_id")?, rows.text("gender")?);
    for row in 0..rows.len() {
        let Some(id) = ids.get(row) else { continue };
        match resident_id(id) {
            Err(ResidentIdProblem::Format) => out.error(
                row,
                "trainee_id",
                id,
                "resident-id-format",
                "身份证号应为18位（17位数字加数字或X）",
                "a resident ID number has 18 characters: 17 digits and a digit or X",
            ),
            Err(ResidentIdProblem::BirthDate) => out.error(
                row,
                "trainee_id",
                id,
                "resident-id-birth-date",
                "身份证号中的出生日期无效",
                "the birth date in the resident ID number is not a real date",
            ),
            Err(ResidentIdProblem::CheckDigit) => out.error(
                row,
                "trainee_id",
                id,
                "resident-id-check-digit",
                "身份证号校验位不正确",
                "the check digit of the resident ID number is wrong",
            ),
            Ok(()) => {
                if let (Some(gender), Some(sex)) = (genders.get(row), resident_id_sex(id))
                    && gender != sex
                {
                    out.warning(
                        row,
                        "gender",
                        gender,
                        "gender-differs-from-id",
                        format!("性别与身份证号不符（身份证为{sex}）"),
                        format!("the gender differs from the resident ID number ({sex})"),
                    );
                }
            }
        }
    }
    Ok(())
}

fn replace_column(
    batch: &RecordBatch,
    key: &str,
    values: ArrayRef,
) -> Result<RecordBatch, PluginError> {
    let index = batch
        .schema()
        .index_of(key)
        .map_err(|e| PluginError(e.to_string()))?;
    let mut columns = batch.columns().to_vec();
    columns[index] = values;
    RecordBatch::try_new(batch.schema(), columns).map_err(|e| PluginError(e.to_string()))
}

/// Kinds are stored in Chinese whichever language the department wrote them in, so KPI
/// T9 (basic and value-added training) counts them all.
fn kinds_in_chinese(batch: RecordBatch) -> Result<RecordBatch, PluginError> {
    let rows = Rows::new(&batch);
    let kinds = rows.text("kind")?;
    let chinese = StringArray::from_iter((0..rows.len()).map(|i| {
        kinds.get(i).map(|k| {
            KINDS
                .iter()
                .find(|(zh, en)| k == *zh || k == *en)
                .map_or(k, |(zh, _)| *zh)
                .to_owned()
        })
    }));
    replace_column(&batch, "kind", Arc::new(chinese))
}

/// The stored attendance: the ID becomes the platform's keyed pseudonym, the name is
/// masked; nothing personal leaves the plugin in clear.
fn pseudonymise(batch: RecordBatch) -> Result<RecordBatch, PluginError> {
    let rows = Rows::new(&batch);
    let (sessions, ids, names, genders, groups) = (
        rows.text("session_id")?,
        rows.text("trainee_id")?,
        rows.text("name")?,
        rows.text("gender")?,
        rows.text("group")?,
    );
    let column = |f: &dyn Fn(usize) -> Option<String>| -> ArrayRef {
        Arc::new(StringArray::from_iter((0..rows.len()).map(f)))
    };
    let schema = Hr::manifest()
        .find_duty("training-attendance")
        .map(|d| d.stored_schema())
        .ok_or("no attendance duty")?;
    RecordBatch::try_new(
        schema,
        vec![
            column(&|i| sessions.get(i).map(str::to_owned)),
            column(&|i| {
                ids.get(i)
                    .map(|id| host::pseudonym(&id.trim().to_ascii_uppercase()))
            }),
            column(&|i| names.get(i).map(masked_name)),
            column(&|i| genders.get(i).map(str::to_owned)),
            column(&|i| groups.get(i).map(str::to_owned)),
        ],
    )
    .map_err(|e| PluginError(e.to_string()))
}

sannong_sdk::export_plugin!(Hr);

#[cfg(test)]
mod tests {
    use sannong_sdk::testing::{errors, rows, transform, validate};

    use super::*;

    #[test]
    fn resident_ids_are_checked_and_never_stored_in_clear() {
        let batch = rows::<Hr>(
            "training-attendance",
            &[
                &["T1", "440103199003072817", "张三", "男", "大学生"],
                &["T1", "440103199003072811", "李四", "男", "其他"],
                &["T1", "11010519491231002X", "王五", "男", "贫困户"],
            ],
        );
        let found = validate::<Hr>("training-attendance", Some("2021-03"), &batch).unwrap();
        assert_eq!(
            errors(&found),
            [(Some(1), "resident-id-check-digit".to_owned())]
        );
        assert!(
            found
                .iter()
                .any(|d| d.rule == "gender-differs-from-id" && d.row == Some(2))
        );

        let stored = transform::<Hr>("training-attendance", Some("2021-03"), batch).unwrap();
        let text = format!("{stored:?}");
        assert!(
            !text.contains("440103199003072817") && !text.contains("张三"),
            "{text}"
        );
        let rows = Rows::new(&stored);
        assert_eq!(rows.text("name_masked").unwrap().get(0), Some("张*"));
        assert!(
            rows.text("trainee_hash")
                .unwrap()
                .get(0)
                .unwrap()
                .starts_with("test-")
        );
    }

    #[test]
    fn kinds_are_stored_in_chinese() {
        let batch = rows::<Hr>(
            "training-sessions",
            &[
                &["S1", "basic", "直播带货", "石角镇", "2021-03-02", "4"],
                &["S2", "增值", "短视频", "汤塘镇", "2021-03-03", "2.5"],
            ],
        );
        let stored = transform::<Hr>("training-sessions", Some("2021-03"), batch).unwrap();
        let kinds = Rows::new(&stored).text("kind").unwrap();
        assert_eq!((kinds.get(0), kinds.get(1)), (Some("基础"), Some("增值")));
    }
}
