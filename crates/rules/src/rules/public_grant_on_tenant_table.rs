//! public-grant-on-tenant-table: PUBLIC (every role, present and future) may read or write unprotected tenant data.

use tenantguard_catalog::PUBLIC;

use super::RuleInfo;
use crate::audit::Audit;
use crate::finding::{Finding, ObjectKind, Severity};

pub static RULE: RuleInfo = RuleInfo {
    id: "public-grant-on-tenant-table",
    severity: Severity::Critical,
    summary: "PUBLIC holds privileges on a tenant table that has no row-level security.",
    check,
};

fn check(a: &Audit) -> Vec<Finding> {
    let mut out = Vec::new();
    for rel in a.tenant_tables().filter(|r| !r.rls_enabled) {
        let mut privs: Vec<String> = rel
            .grants
            .iter()
            .chain(rel.columns.iter().flat_map(|c| c.grants.iter()))
            .filter(|g| g.grantee == PUBLIC)
            .map(|g| format!("{:?}", g.privilege).to_uppercase())
            .collect();
        privs.sort();
        privs.dedup();
        if privs.is_empty() || !a.access.schema_usage(PUBLIC, &rel.schema) {
            continue;
        }
        out.push(
            Finding::new(RULE.id, RULE.severity, ObjectKind::Table, rel.qualified().to_string())
                .message(format!(
                    "grants {} to PUBLIC without row-level security: every role, including ones created later, reaches every tenant's rows",
                    privs.join(", ")
                ))
                .fix(format!("REVOKE ALL ON {0} FROM PUBLIC; grant the application role only what it needs, and ENABLE and FORCE ROW LEVEL SECURITY on {0}", rel.qualified())),
        );
    }
    out
}
