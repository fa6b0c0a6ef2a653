use serde::{Deserialize, Serialize};

/// The seed's triage tiers: Critical blocks the release, Major is fixed this sprint, Minor later.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Minor,
    Major,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::Major => "major",
            Severity::Minor => "minor",
            Severity::Info => "info",
        }
    }

    pub fn parse(s: &str) -> Option<Severity> {
        match s.to_ascii_lowercase().as_str() {
            "critical" => Some(Severity::Critical),
            "major" => Some(Severity::Major),
            "minor" => Some(Severity::Minor),
            "info" => Some(Severity::Info),
            _ => None,
        }
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What kind of object a finding names, so lint can map it back to the statement that made it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ObjectKind {
    Table,
    View,
    Function,
    Role,
    Schema,
    Database,
    Policy,
}

/// One isolation failure. `object` is the most specific thing to change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub rule: String,
    pub severity: Severity,
    pub object: String,
    pub message: String,
    pub fix: String,
    #[serde(skip)]
    pub object_kind: Option<ObjectKind>,
    /// A policy, constraint or trigger name inside `object`, when one is to blame.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub detail: Option<String>,
    /// Where in the source (lint: the migration statement that made the object), 1-based.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub line: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub column: Option<u32>,
}

impl Finding {
    pub fn new(rule: &str, severity: Severity, kind: ObjectKind, object: impl Into<String>) -> Self {
        Finding {
            rule: rule.to_string(),
            severity,
            object: object.into(),
            message: String::new(),
            fix: String::new(),
            object_kind: Some(kind),
            detail: None,
            file: None,
            line: None,
            column: None,
        }
    }

    pub fn message(mut self, m: impl Into<String>) -> Self {
        self.message = m.into();
        self
    }

    pub fn fix(mut self, f: impl Into<String>) -> Self {
        self.fix = f.into();
        self
    }

    /// A stable identity for baselines and SARIF fingerprints: rule, object and detail.
    pub fn key(&self) -> String {
        format!("{}|{}|{}", self.rule, self.object, self.detail.as_deref().unwrap_or(""))
    }

    pub fn detail(mut self, d: impl Into<String>) -> Self {
        self.detail = Some(d.into());
        self
    }
}

impl Finding {
    /// A rule's finding at a tier other than its default (a latent variant, for example).
    pub fn severity_override(mut self, s: Severity) -> Self {
        self.severity = s;
        self
    }
}
