//! materialized-view-exposes-tenant-data: materialized views have no row-level security.

use tenantguard_catalog::{Privilege, RelKind};

use super::RuleInfo;
use crate::audit::Audit;
use crate::finding::{Finding, ObjectKind, Severity};

pub static RULE: RuleInfo = RuleInfo {
    id: "materialized-view-exposes-tenant-data",
    severity: Severity::Critical,
    summary: "A materialized view built from tenant tables is readable by the app role; materialized views cannot have RLS.",
    check,
};

fn check(a: &Audit) -> Vec<Finding> {
    let mut out = Vec::new();
    for mv in a.snapshot.relations.iter().filter(|r| r.kind == RelKind::MaterializedView) {
        let sources: Vec<String> = tenant_sources(a, mv.oid, 0).into_iter().collect();
        if sources.is_empty() {
            continue;
        }
        let readers: Vec<String> = a
            .acting_roles()
            .into_iter()
            .filter(|(_, role)| a.access.any_column_privilege(*role, mv, Privilege::Select))
            .map(|(app, role)| a.who(app, role))
            .collect();
        if readers.is_empty() {
            continue;
        }
        out.push(
            Finding::new(RULE.id, RULE.severity, ObjectKind::View, mv.qualified().to_string())
                .message(format!(
                    "materializes tenant data from {} with no row-level security (materialized views cannot have it), and {} can read it: every tenant's rows",
                    sources.join(", "),
                    readers.join(", ")
                ))
                .fix(format!(
                    "REVOKE SELECT ON {0} FROM the application roles and PUBLIC, and serve it through a security_invoker view or a SECURITY DEFINER function that filters on the tenant context",
                    mv.qualified()
                )),
        );
    }
    out
}

/// Tenant tables a relation reads, through views, transitively.
fn tenant_sources(a: &Audit, oid: tenantguard_catalog::Oid, depth: usize) -> std::collections::BTreeSet<String> {
    let mut out = std::collections::BTreeSet::new();
    let Some(rel) = a.relation(oid) else { return out };
    if depth > 8 {
        return out;
    }
    for r in &rel.reads {
        if a.model.holds_tenant_data(*r) {
            if let Some(t) = a.relation(*r) {
                out.insert(t.qualified().to_string());
            }
        } else if a.relation(*r).is_some_and(|x| crate::tenant::is_view_like(x.kind)) {
            out.extend(tenant_sources(a, *r, depth + 1));
        }
    }
    out
}
