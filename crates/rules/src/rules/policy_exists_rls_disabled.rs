//! policy-exists-rls-disabled: policies written, but row-level security never switched on.

use super::RuleInfo;
use crate::audit::Audit;
use crate::finding::{Finding, ObjectKind, Severity};

pub static RULE: RuleInfo = RuleInfo {
    id: "policy-exists-rls-disabled",
    severity: Severity::Critical,
    summary: "A tenant table has policies but row-level security is disabled, so the policies are ignored.",
    check,
};

fn check(a: &Audit) -> Vec<Finding> {
    let mut out = Vec::new();
    for rel in a.tenant_tables() {
        let policies: Vec<&str> = a.snapshot.policies_on(rel.oid).map(|p| p.name.as_str()).collect();
        if rel.rls_enabled || policies.is_empty() {
            continue;
        }
        let reachable = a.acting_roles().iter().any(|(_, r)| a.access.reaches(*r, rel));
        let f = Finding::new(RULE.id, RULE.severity, ObjectKind::Table, rel.qualified().to_string())
            .message(format!(
                "has policies ({}) but row-level security is disabled, so PostgreSQL ignores them and {}",
                policies.join(", "),
                if reachable { "the application sees every tenant's rows" } else { "the first GRANT will expose every tenant's rows" }
            ))
            .fix(format!("ALTER TABLE {0} ENABLE ROW LEVEL SECURITY; ALTER TABLE {0} FORCE ROW LEVEL SECURITY;", rel.qualified()));
        out.push(if reachable { f } else { f.severity_override(Severity::Minor) });
    }
    out
}
