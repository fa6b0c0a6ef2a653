//! The isolation matrix: object x operation -> outcome, with the evidence.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Operation {
    Select,
    Insert,
    Update,
    Delete,
    Move,
    NoContext,
    EmptyContext,
    Session,
    LoginDefault,
}

impl Operation {
    pub const ALL: [Operation; 9] = [
        Operation::Select,
        Operation::Insert,
        Operation::Update,
        Operation::Delete,
        Operation::Move,
        Operation::NoContext,
        Operation::EmptyContext,
        Operation::Session,
        Operation::LoginDefault,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Select => "select",
            Operation::Insert => "insert",
            Operation::Update => "update",
            Operation::Delete => "delete",
            Operation::Move => "move",
            Operation::NoContext => "no-context",
            Operation::EmptyContext => "empty-context",
            Operation::Session => "session",
            Operation::LoginDefault => "login-default",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Leak,
    Isolated,
    Error,
    Skipped,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Leak => "leak",
            Outcome::Isolated => "isolated",
            Outcome::Error => "error",
            Outcome::Skipped => "skipped",
        }
    }
}

/// One attempt, replayable: what the emitted pgTAP suite runs through `pg_temp.tg_attack`.
#[derive(Debug, Clone, Serialize)]
pub struct Attempt {
    pub role: String,
    /// Settings (name -> value) set with `set_config(..., true)` before the attack.
    pub context: serde_json::Value,
    pub prepare: Option<String>,
    pub attack: String,
    pub reads: bool,
    pub verify: Option<String>,
    pub delta: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProbeResult {
    pub object: String,
    pub operation: Operation,
    pub outcome: Outcome,
    pub detail: String,
    /// The statement that did it (for leaks) or was refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub statement: Option<String>,
    #[serde(skip)]
    pub attempt: Option<Attempt>,
    /// Rows written as the probing login (rolled back) so the attack had B's data to aim at.
    #[serde(skip)]
    pub setup: Vec<String>,
}

impl ProbeResult {
    pub fn new(object: &str, operation: Operation, outcome: Outcome, detail: impl Into<String>) -> Self {
        ProbeResult { object: object.to_string(), operation, outcome, detail: detail.into(), statement: None, attempt: None, setup: Vec::new() }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub leak: usize,
    pub isolated: usize,
    pub error: usize,
    pub skipped: usize,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Matrix {
    pub database: String,
    pub app_role: String,
    pub results: Vec<ProbeResult>,
    /// Things a rollback cannot undo, and other facts a reader needs (sequences moved, truth read with RLS).
    pub notes: Vec<String>,
}

impl Matrix {
    pub fn summary(&self) -> Summary {
        let mut s = Summary::default();
        for r in &self.results {
            match r.outcome {
                Outcome::Leak => s.leak += 1,
                Outcome::Isolated => s.isolated += 1,
                Outcome::Error => s.error += 1,
                Outcome::Skipped => s.skipped += 1,
            }
        }
        s
    }

    pub fn has_leak(&self) -> bool {
        self.results.iter().any(|r| r.outcome == Outcome::Leak)
    }

    /// Objects in first-seen order, for rendering rows.
    pub fn objects(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for r in &self.results {
            if !out.contains(&r.object.as_str()) {
                out.push(&r.object);
            }
        }
        out
    }

    pub fn cell(&self, object: &str, op: Operation) -> Option<&ProbeResult> {
        self.results.iter().find(|r| r.object == object && r.operation == op)
    }

    pub fn find(&self, object: &str, op: Operation) -> Option<Outcome> {
        self.cell(object, op).map(|r| r.outcome)
    }

    pub fn sort(&mut self) {
        self.results.sort_by(|a, b| a.object.cmp(&b.object).then(a.operation.cmp(&b.operation)));
    }
}
