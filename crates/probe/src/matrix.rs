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
    /// The app role the attempt ran as (every configured app role is attacked).
    pub role: String,
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
    /// A session or login-default check, replayable by the emitted suite.
    #[serde(skip)]
    pub check: Option<Check>,
}

/// The checks that are not an attempt through the helper (they need a COMMIT, or read the catalog).
#[derive(Debug, Clone)]
pub enum Check {
    /// `BEGIN READ ONLY; SET LOCAL ROLE; <call>; COMMIT`, then the settings must not carry `tenant`.
    Session { call: String, procedure: bool, settings: Vec<String>, tenant: String },
    /// No role or database default (pg_db_role_setting) sets any of these for the role.
    LoginDefault { settings: Vec<String> },
}

impl ProbeResult {
    pub fn new(object: &str, operation: Operation, outcome: Outcome, detail: impl Into<String>) -> Self {
        ProbeResult { role: String::new(), object: object.to_string(), operation, outcome, detail: detail.into(), statement: None, attempt: None, setup: Vec::new(), check: None }
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
    /// Every app role attacked, in configuration order (`app_role` is the first).
    pub app_roles: Vec<String>,
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

    /// The cell of one app role.
    pub fn cell_as(&self, role: &str, object: &str, op: Operation) -> Option<&ProbeResult> {
        self.results.iter().find(|r| r.role == role && r.object == object && r.operation == op)
    }

    pub fn find_as(&self, role: &str, object: &str, op: Operation) -> Option<Outcome> {
        self.cell_as(role, object, op).map(|r| r.outcome)
    }

    /// Rows of the grid: (role, object) in first-seen order.
    pub fn rows(&self) -> Vec<(&str, &str)> {
        let mut out: Vec<(&str, &str)> = Vec::new();
        for r in &self.results {
            if !out.contains(&(r.role.as_str(), r.object.as_str())) {
                out.push((&r.role, &r.object));
            }
        }
        out
    }

    /// A row's label: the object, with the role when several roles were attacked.
    pub fn label(&self, role: &str, object: &str) -> String {
        if self.app_roles.len() > 1 {
            format!("{object} [as {role}]")
        } else {
            object.to_string()
        }
    }

    pub fn sort(&mut self) {
        let order = |r: &str| self.app_roles.iter().position(|x| x == r).unwrap_or(usize::MAX);
        let mut results = std::mem::take(&mut self.results);
        results.sort_by(|a, b| order(&a.role).cmp(&order(&b.role)).then(a.object.cmp(&b.object)).then(a.operation.cmp(&b.operation)));
        self.results = results;
    }
}
