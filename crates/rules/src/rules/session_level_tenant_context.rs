//! session-level-tenant-context: the tenant is set for the session, not the transaction,
//! so a pooled connection hands it to the next client.

use std::sync::OnceLock;

use regex::Regex;

use super::RuleInfo;
use crate::audit::Audit;
use crate::body::{set_config_calls, strip_comments};
use crate::finding::{Finding, ObjectKind, Severity};

pub static RULE: RuleInfo = RuleInfo {
    id: "session-level-tenant-context",
    severity: Severity::Critical,
    summary: "The tenant setting is set at session level (set_config(..., false), SET without LOCAL, ALTER ROLE/DATABASE ... SET), which leaks across pooled connections.",
    check,
};

fn set_regex() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r#"(?i)\bset\s+(session\s+|local\s+)?("?[a-z_][a-z0-9_]*"?\s*\.\s*"?[a-z_][a-z0-9_]*"?)\s*(=|\bto\b)"#).expect("valid regex"))
}

fn check(a: &Audit) -> Vec<Finding> {
    let mut out = Vec::new();
    let fix = "Set the tenant inside each transaction only: SELECT set_config('app.current_tenant', $1, true) (or SET LOCAL) right after BEGIN";
    for f in &a.snapshot.functions {
        let mut reasons = Vec::new();
        for (name, is_local) in set_config_calls(f) {
            let local = is_local.trim().trim_matches('\'').to_ascii_lowercase();
            if a.is_tenant_setting(&name) && matches!(local.as_str(), "false" | "f" | "off" | "no" | "0") {
                reasons.push(format!("calls set_config('{name}', …, {is_local})"));
            }
        }
        let src = strip_comments(&f.source);
        for cap in set_regex().captures_iter(&src) {
            let name = cap[2].replace(['"', ' '], "");
            let local = cap.get(1).is_some_and(|m| m.as_str().trim().eq_ignore_ascii_case("local"));
            if a.is_tenant_setting(&name) && !local {
                reasons.push(format!("runs SET {name} without LOCAL"));
            }
        }
        if reasons.is_empty() {
            continue;
        }
        out.push(
            Finding::new(RULE.id, RULE.severity, ObjectKind::Function, f.qualified().to_string())
                .message(format!(
                    "{}: the tenant outlives the transaction and stays on the connection, so through a pool the next request runs as this tenant",
                    reasons.join(" and ")
                ))
                .fix(fix)
                .detail(f.signature()),
        );
    }
    // An empty default names no tenant (it is what a reset leaves behind).
    for s in a.snapshot.role_settings.iter().filter(|s| a.is_tenant_setting(&s.name) && !s.value.is_empty()) {
        let (object, kind, what) = match (&s.role, &s.database) {
            (Some(r), Some(d)) => (r.clone(), ObjectKind::Role, format!("ALTER ROLE {r} IN DATABASE {d} SET {}", s.name)),
            (Some(r), None) => (r.clone(), ObjectKind::Role, format!("ALTER ROLE {r} SET {}", s.name)),
            (None, Some(d)) => (d.clone(), ObjectKind::Database, format!("ALTER DATABASE {d} SET {}", s.name)),
            (None, None) => ("database".into(), ObjectKind::Database, format!("a default for {}", s.name)),
        };
        out.push(
            Finding::new(RULE.id, RULE.severity, kind, object)
                .message(format!(
                    "{what} = '{}' gives every new session a tenant before the application sets one: a request that forgets to set it reads that tenant's rows",
                    s.value
                ))
                .fix(match kind {
                    ObjectKind::Database => format!("ALTER DATABASE … RESET {}", s.name),
                    _ => format!("ALTER ROLE … RESET {}", s.name),
                }),
        );
    }
    for s in a.snapshot.settings.iter().filter(|s| a.is_tenant_setting(&s.name) && !s.value.is_empty()) {
        out.push(
            Finding::new(RULE.id, RULE.severity, ObjectKind::Database, a.snapshot.database.clone())
                .message(format!(
                    "the server configuration ({}) sets {} = '{}' for every session: a request that forgets to set the tenant runs as that tenant",
                    s.source, s.name, s.value
                ))
                .fix(format!("Remove {} from postgresql.conf / ALTER SYSTEM RESET {}", s.name, s.name)),
        );
    }
    out
}
