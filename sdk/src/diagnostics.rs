//! Problems a plugin finds in rows, in Chinese and English.

/// How bad a problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// The upload is refused.
    Error,
    /// The upload is accepted with a warning.
    Warning,
}

/// One problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Row index in the batch (0-based); `None` for the whole upload.
    pub row: Option<u32>,
    /// Column key.
    pub column: Option<String>,
    /// Offending value as text.
    pub value: Option<String>,
    /// Stable rule id.
    pub rule: String,
    /// Chinese message.
    pub message_zh: String,
    /// English message.
    pub message_en: String,
    /// Error or warning.
    pub severity: Severity,
}

/// Collects the problems of one call.
#[derive(Debug, Default, Clone)]
pub struct Diagnostics {
    items: Vec<Diagnostic>,
}

impl Diagnostics {
    /// Records an error in a row's column.
    pub fn error(
        &mut self,
        row: usize,
        column: &str,
        value: impl ToString,
        rule: &str,
        zh: impl Into<String>,
        en: impl Into<String>,
    ) {
        self.push(
            Some(row),
            Some(column),
            Some(value.to_string()),
            rule,
            zh.into(),
            en.into(),
            Severity::Error,
        );
    }

    /// Records a warning in a row's column.
    pub fn warning(
        &mut self,
        row: usize,
        column: &str,
        value: impl ToString,
        rule: &str,
        zh: impl Into<String>,
        en: impl Into<String>,
    ) {
        self.push(
            Some(row),
            Some(column),
            Some(value.to_string()),
            rule,
            zh.into(),
            en.into(),
            Severity::Warning,
        );
    }

    /// Records an error about the upload as a whole.
    pub fn file_error(&mut self, rule: &str, zh: impl Into<String>, en: impl Into<String>) {
        self.push(
            None,
            None,
            None,
            rule,
            zh.into(),
            en.into(),
            Severity::Error,
        );
    }

    /// Records a warning about the upload as a whole.
    pub fn file_warning(&mut self, rule: &str, zh: impl Into<String>, en: impl Into<String>) {
        self.push(
            None,
            None,
            None,
            rule,
            zh.into(),
            en.into(),
            Severity::Warning,
        );
    }

    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        row: Option<usize>,
        column: Option<&str>,
        value: Option<String>,
        rule: &str,
        message_zh: String,
        message_en: String,
        severity: Severity,
    ) {
        self.items.push(Diagnostic {
            row: row.map(|r| u32::try_from(r).unwrap_or(u32::MAX)),
            column: column.map(str::to_owned),
            value,
            rule: rule.to_owned(),
            message_zh,
            message_en,
            severity,
        });
    }

    /// The problems recorded, in order.
    pub fn items(&self) -> &[Diagnostic] {
        &self.items
    }

    /// Takes the problems out.
    pub fn into_items(self) -> Vec<Diagnostic> {
        self.items
    }

    /// Whether any problem is an error.
    pub fn has_errors(&self) -> bool {
        self.items.iter().any(|d| d.severity == Severity::Error)
    }
}
