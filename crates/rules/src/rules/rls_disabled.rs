//! rls-disabled: a tenant table without row-level security.

use super::RuleInfo;
use crate::audit::Audit;
use crate::finding::{Finding, ObjectKind, Severity};

pub static RULE: RuleInfo = RuleInfo {
    id: "rls-disabled",
    severity: Severity::Critical,
    summary: "A tenant table has row-level security disabled: every role that can query it sees every tenant's rows.",
    check,
};

fn check(a: &Audit) -> Vec<Finding> {
    let mut out = Vec::new();
    for rel in a.tenant_tables() {
        // Tables with policies are policy-exists-rls-disabled; children of tenant tables are partition-without-rls.
        let has_policies = a.snapshot.policies_on(rel.oid).next().is_some();
        let child = rel.parents.iter().any(|p| a.model.is_tenant_table(*p));
        if rel.rls_enabled || has_policies || child {
            continue;
        }
        let reachers: Vec<String> = a
            .acting_roles()
            .into_iter()
            .filter(|(_, role)| a.access.reaches(*role, rel))
            .map(|(app, role)| a.as_role(app, role))
            .collect();
        let f = Finding::new(RULE.id, RULE.severity, ObjectKind::Table, rel.qualified().to_string()).fix(format!(
            "ALTER TABLE {0} ENABLE ROW LEVEL SECURITY; ALTER TABLE {0} FORCE ROW LEVEL SECURITY; then add a policy such as \
             CREATE POLICY tenant_isolation ON {0} USING (tenant_id = (SELECT current_setting('app.current_tenant', true)::uuid))",
            rel.qualified()
        ));
        out.push(if reachers.is_empty() {
            f.message("holds tenant data without row-level security; no application role can reach it today, so the first GRANT will leak every tenant's rows")
                .severity_override(Severity::Minor)
        } else {
            f.message(format!(
                "holds tenant data without row-level security: {} reads and writes every tenant's rows",
                reachers.join(", ")
            ))
        });
    }
    out
}
