//! tenant-index-missing: every tenant query filters on the tenant column, and nothing indexes it.

use super::RuleInfo;
use crate::audit::Audit;
use crate::finding::{Finding, ObjectKind, Severity};
use crate::tenant::TenantVia;

pub static RULE: RuleInfo = RuleInfo {
    id: "tenant-index-missing",
    severity: Severity::Minor,
    summary: "A tenant table has no index whose first column is the tenant column, so every RLS-filtered query scans all tenants' rows.",
    check,
};

fn check(a: &Audit) -> Vec<Finding> {
    let mut out = Vec::new();
    for rel in a.tenant_tables().filter(|r| r.kind != tenantguard_catalog::RelKind::ForeignTable) {
        let Some(t) = a.model.tables.get(&rel.oid) else { continue };
        if t.columns.is_empty() || t.via == TenantVia::Registry {
            continue;
        }
        let leading = a
            .snapshot
            .indexes_on(rel.oid)
            .any(|i| i.columns.first().and_then(|c| c.as_deref()).is_some_and(|c| t.columns.iter().any(|tc| tc == c)));
        if leading {
            continue;
        }
        out.push(
            Finding::new(RULE.id, RULE.severity, ObjectKind::Table, rel.qualified().to_string())
                .message(format!("has no index leading on {}: each tenant's queries scan every tenant's rows", t.columns[0]))
                .fix(format!("CREATE INDEX ON {} ({}, …) — or lead the primary key with it", rel.qualified(), t.columns[0])),
        );
    }
    out
}
