//! app-roles-assumed: which roles were audited as the application, and why (information).

use super::RuleInfo;
use crate::audit::Audit;
use crate::finding::{Finding, ObjectKind, Severity};

pub static RULE: RuleInfo = RuleInfo {
    id: "app-roles-assumed",
    severity: Severity::Info,
    summary: "No app role was named, so tenantguard says which roles it assumed are the application, and why.",
    check,
};

fn check(a: &Audit) -> Vec<Finding> {
    let Some(why) = &a.model.app_roles_assumed else { return vec![] };
    let names: Vec<String> = a.model.app_roles.iter().map(|r| a.access.role_name(*r)).collect();
    let bypassing: Vec<String> = a
        .snapshot
        .roles
        .iter()
        .filter(|r| (r.superuser || r.bypass_rls) && r.can_login && !r.name.starts_with("pg_"))
        .map(|r| r.name.clone())
        .collect();
    let mut message = if names.is_empty() {
        format!("no application role found ({why})")
    } else {
        format!("audited as the application: {} ({why})", names.join(", "))
    };
    if !bypassing.is_empty() {
        message.push_str(&format!(
            "; not assumed: {} (superuser or BYPASSRLS) — if the application connects as one of them, every table leaks",
            bypassing.join(", ")
        ));
    }
    vec![Finding::new(RULE.id, RULE.severity, ObjectKind::Database, a.snapshot.database.clone())
        .message(message)
        .fix("Name the roles the application uses: --app-role NAME (repeatable) or app_roles = [...] in tenantguard.toml")]
}
