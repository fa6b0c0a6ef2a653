//! The attempts. Each one runs through `pg_temp.tg_attack` (see [`crate::sql::HELPER`]),
//! inside a subtransaction it always aborts, inside a transaction that is rolled back.

pub mod context;
pub mod login;
pub mod read;
pub mod session;
pub mod table;
pub mod write;

use serde_json::{json, Map, Value};
use tokio_postgres::Client;

use crate::matrix::{Attempt, Operation, Outcome, ProbeResult};

/// How the tenant context is spelled: tenant settings, plus a JWT claims object when the
/// schema reads one (`request.jwt.claims`, Supabase `auth.jwt()`).
#[derive(Debug, Clone)]
pub struct ContextSpec {
    pub settings: Vec<String>,
    pub jwt: bool,
    pub claims: Vec<String>,
    /// Settings that carry the user id (what `auth.uid()` reads), set when a user is chosen.
    pub identity_settings: Vec<String>,
    /// JWT claims that carry the user id (`sub`...), in `request.jwt.claims`.
    pub identity_claims: Vec<String>,
}

impl ContextSpec {
    /// Tenant settings only (no user).
    pub fn new(settings: Vec<String>, jwt: bool, claims: Vec<String>) -> Self {
        ContextSpec { settings, jwt, claims, identity_settings: Vec::new(), identity_claims: Vec::new() }
    }

    pub fn tenant(&self, tenant: &str) -> Value {
        self.as_user(tenant, None)
    }

    /// Tenant A's context, as user `user` when the schema resolves tenants through users.
    pub fn as_user(&self, tenant: &str, user: Option<&str>) -> Value {
        let mut m = Map::new();
        for s in &self.settings {
            m.insert(s.clone(), Value::String(tenant.to_string()));
        }
        if let Some(u) = user {
            for s in &self.identity_settings {
                m.insert(s.clone(), Value::String(u.to_string()));
            }
        }
        if self.jwt || (user.is_some() && !self.identity_claims.is_empty()) {
            let mut claims: Map<String, Value> = self.claims.iter().map(|c| (c.clone(), Value::String(tenant.to_string()))).collect();
            if let Some(u) = user {
                for c in &self.identity_claims {
                    claims.insert(c.clone(), Value::String(u.to_string()));
                }
            }
            m.insert("request.jwt.claims".into(), Value::String(Value::Object(claims).to_string()));
        }
        Value::Object(m)
    }

    pub fn empty(&self) -> Value {
        let mut m = Map::new();
        for s in &self.settings {
            m.insert(s.clone(), Value::String(String::new()));
        }
        for s in &self.identity_settings {
            m.insert(s.clone(), Value::String(String::new()));
        }
        if self.jwt || !self.identity_claims.is_empty() {
            m.insert("request.jwt.claims".into(), Value::String(String::new()));
        }
        Value::Object(m)
    }

    pub fn none() -> Value {
        json!({})
    }
}

/// An attempt, how to word a leak of n rows, and how to word isolation; or why it was skipped.
pub type Built = Result<(Attempt, Box<dyn Fn(i64) -> String + Send + Sync>, String), String>;

/// Run one attempt; the helper's raw answer (`n:..`, `skip:..`, `<stage>:<sqlstate>:<msg>`).
pub async fn run_attempt(client: &Client, a: &Attempt) -> String {
    let ctx = a.context.to_string();
    let r = client
        .query_one(
            "SELECT pg_temp.tg_attack($1, $2::text::json, $3, $4, $5, $6, $7)",
            &[&a.role, &ctx, &a.prepare, &a.attack, &a.reads, &a.verify, &a.delta],
        )
        .await;
    match r {
        Ok(row) => row.get::<_, Option<String>>(0).unwrap_or_else(|| "prepare:XX000:no answer".into()),
        Err(e) => format!("prepare:XX000:{}", tenantguard_catalog::reader::error_text(&e)),
    }
}

/// SQLSTATEs that mean the server refused the attempt (the isolation held), as opposed to
/// the probe being unable to tell (timeouts, its own synthesised data clashing).
fn refused(state: &str, write: bool) -> bool {
    let class = &state[..state.len().min(2)];
    match class {
        "57" | "55" | "53" | "58" | "XX" | "08" => false,
        // Unique/FK/NOT NULL clashes come from the probe's own row; a CHECK can be a tenant guard.
        "23" if write => state == "23514",
        _ => true,
    }
}

/// Turn the helper's answer into a matrix cell; `leak` words the evidence for n > 0 rows.
pub fn classify(object: &str, op: Operation, a: Attempt, raw: &str, leak: impl Fn(i64) -> String, isolated: &str) -> ProbeResult {
    let write = matches!(op, Operation::Insert | Operation::Update | Operation::Delete | Operation::Move);
    let (outcome, detail) = if let Some(n) = raw.strip_prefix("n:") {
        match n.trim().parse::<i64>() {
            Ok(k) if k > 0 => (Outcome::Leak, leak(k)),
            Ok(_) => (Outcome::Isolated, isolated.to_string()),
            Err(_) => (Outcome::Error, format!("unexpected answer {n}")),
        }
    } else if let Some(why) = raw.strip_prefix("skip:") {
        (Outcome::Skipped, why.to_string())
    } else {
        let mut parts = raw.splitn(3, ':');
        let stage = parts.next().unwrap_or("");
        let state = parts.next().unwrap_or("");
        let msg = parts.next().unwrap_or("");
        match stage {
            "attack" if refused(state, write) => (Outcome::Isolated, format!("refused: {msg} (SQLSTATE {state})")),
            "attack" => (Outcome::Error, format!("the attempt failed without proving anything: {msg} (SQLSTATE {state})")),
            "verify" => (Outcome::Error, format!("checking the result failed: {msg}")),
            _ => (Outcome::Error, format!("preparing the attempt failed: {msg} (SQLSTATE {state})")),
        }
    };
    let statement = Some(a.attack.clone());
    ProbeResult { role: a.role.clone(), object: object.to_string(), operation: op, outcome, detail, statement, attempt: Some(a), setup: Vec::new(), check: None }
}

/// Shorten a tenant value for evidence text.
pub fn short(t: &str) -> String {
    if t.chars().count() > 40 {
        format!("{}…", t.chars().take(40).collect::<String>())
    } else {
        t.to_string()
    }
}
