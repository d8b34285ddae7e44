//! What is wrong with an upload, in the department's terms: file row (header = row 1,
//! as Excel shows), column (Chinese header and key), the value, and what is expected,
//! in Chinese and English.
//!
//! Values are shortened when long and masked when the column holds personal data, so a
//! problem list can be printed, stored and sent without leaking anything.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::plugin::Severity;
use crate::plugin::manifest::TemplateColumn;

/// Longest value shown in a problem, in characters.
const VALUE_DISPLAY_LIMIT: usize = 60;

/// One problem of an upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// Row of the file (header = 1); none for the file as a whole.
    pub row: Option<u32>,
    /// Column key.
    pub column: Option<String>,
    /// Column's Chinese header.
    pub column_zh: Option<String>,
    /// The offending value (shortened, masked if personal).
    pub value: Option<String>,
    /// Stable rule id, e.g. `not-a-date`, `not-in-table`.
    pub rule: String,
    /// What is wrong and what is expected, in Chinese.
    pub message_zh: String,
    /// The same in English.
    pub message_en: String,
    /// Error (refuses the upload) or warning.
    pub severity: Severity,
}

impl Problem {
    /// A problem with the whole file.
    pub fn file(rule: &str, message_zh: impl Into<String>, message_en: impl Into<String>) -> Self {
        Problem {
            row: None,
            column: None,
            column_zh: None,
            value: None,
            rule: rule.to_owned(),
            message_zh: message_zh.into(),
            message_en: message_en.into(),
            severity: Severity::Error,
        }
    }

    /// A problem in one cell.
    pub fn cell(
        row: u32,
        column: &TemplateColumn,
        value: Option<&str>,
        rule: &str,
        message_zh: impl Into<String>,
        message_en: impl Into<String>,
    ) -> Self {
        Problem {
            row: Some(row),
            column: Some(column.key.clone()),
            column_zh: Some(column.header_zh.clone()),
            value: value.map(|v| shown_value(v, column.personal)),
            rule: rule.to_owned(),
            message_zh: message_zh.into(),
            message_en: message_en.into(),
            severity: Severity::Error,
        }
    }

    /// The same problem as a warning.
    pub fn warning(mut self) -> Self {
        self.severity = Severity::Warning;
        self
    }

    /// Whether it refuses the upload.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// A value as it may be shown: masked if personal, shortened if long.
pub fn shown_value(value: &str, personal: bool) -> String {
    let mut shown = String::new();
    push_shown_value(&mut shown, value, personal);
    shown
}

/// Appends [`shown_value`] to `out` (without a string of its own for a short value).
pub fn push_shown_value(out: &mut String, value: &str, personal: bool) {
    if personal {
        out.push_str(&mask(value));
        return;
    }
    // Bytes bound characters: a value of few bytes is short.
    if value.len() <= VALUE_DISPLAY_LIMIT {
        out.push_str(value);
        return;
    }
    let chars = value.chars().count();
    if chars <= VALUE_DISPLAY_LIMIT {
        out.push_str(value);
    } else {
        let head: String = value.chars().take(VALUE_DISPLAY_LIMIT).collect();
        out.push_str(&format!("{head}… ({chars} characters)"));
    }
}

/// Masks personal data: a name keeps its first character (张*), an identifier its first
/// four and last two characters (4401************11).
pub fn mask(value: &str) -> String {
    let chars: Vec<char> = value.trim().chars().collect();
    match chars.len() {
        0 => String::new(),
        1..=4 => format!("{}{}", chars[0], "*".repeat(chars.len() - 1)),
        n => format!(
            "{}{}{}",
            chars[..4].iter().collect::<String>(),
            "*".repeat(n - 6),
            chars[n - 2..].iter().collect::<String>()
        ),
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.severity {
            Severity::Error => "错误 error",
            Severity::Warning => "警告 warning",
        };
        write!(f, "{level}")?;
        if let Some(row) = self.row {
            write!(f, " · 第{row}行 row {row}")?;
        }
        if let (Some(key), Some(zh)) = (&self.column, &self.column_zh) {
            write!(f, " · {zh} [{key}]")?;
        }
        if let Some(value) = &self.value {
            write!(f, " · \"{value}\"")?;
        }
        write!(f, ": {} / {}", self.message_zh, self.message_en)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn personal_values_are_masked_and_long_ones_shortened() {
        assert_eq!(mask("440103199003072811"), "4401************11");
        assert_eq!(mask("张三"), "张*");
        assert_eq!(mask("欧阳娜娜"), "欧***");
        assert_eq!(
            shown_value(&"x".repeat(100), false),
            format!("{}… (100 characters)", "x".repeat(60))
        );
        assert_eq!(shown_value("石角镇", false), "石角镇");
    }
}
