//! partition-without-rls: a partition or inheritance child queried directly skips its parent's policies.

use super::RuleInfo;
use crate::audit::Audit;
use crate::finding::{Finding, ObjectKind, Severity};

pub static RULE: RuleInfo = RuleInfo {
    id: "partition-without-rls",
    severity: Severity::Critical,
    summary: "A partition or inheritance child of a tenant table has no RLS of its own; queried directly, the parent's policies do not apply.",
    check,
};

fn check(a: &Audit) -> Vec<Finding> {
    let mut out = Vec::new();
    for rel in a.tenant_tables().filter(|r| !r.rls_enabled) {
        let Some(parent) = rel.parents.iter().filter_map(|p| a.relation(*p)).find(|p| a.model.holds_tenant_data(p.oid)) else {
            continue;
        };
        let reachers: Vec<String> = a
            .acting_roles()
            .into_iter()
            .filter(|(_, role)| a.access.reaches(*role, rel))
            .map(|(app, role)| a.who(app, role))
            .collect();
        let kind = if rel.is_partition { "partition" } else { "inheritance child" };
        let f = Finding::new(RULE.id, RULE.severity, ObjectKind::Table, rel.qualified().to_string())
            .fix(format!(
                "ALTER TABLE {0} ENABLE ROW LEVEL SECURITY; ALTER TABLE {0} FORCE ROW LEVEL SECURITY; and copy {1}'s policies to it (or REVOKE the application's privileges on {0})",
                rel.qualified(),
                parent.qualified()
            ))
            .detail(parent.qualified().to_string());
        out.push(if reachers.is_empty() {
            f.message(format!("is a {kind} of {} without row-level security of its own; nothing can query it directly today", parent.qualified()))
                .severity_override(Severity::Minor)
        } else {
            f.message(format!(
                "is a {kind} of {} without row-level security of its own: queried directly ({}), the parent's policies do not apply and every tenant's rows are visible",
                parent.qualified(),
                reachers.join(", ")
            ))
        });
    }
    out
}
