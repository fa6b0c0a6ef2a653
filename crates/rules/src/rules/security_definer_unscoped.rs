//! security-definer-unscoped: a SECURITY DEFINER function reads or writes tenant tables as a
//! role that skips their policies, without filtering on the tenant context.

use super::RuleInfo;
use crate::audit::Audit;
use crate::finding::{Finding, ObjectKind, Severity};

pub static RULE: RuleInfo = RuleInfo {
    id: "security-definer-unscoped",
    severity: Severity::Critical,
    summary: "A SECURITY DEFINER function the app can execute touches tenant tables as an owner that skips RLS, and never consults the tenant context.",
    check,
};

fn check(a: &Audit) -> Vec<Finding> {
    let mut out = Vec::new();
    for f in a.snapshot.functions.iter().filter(|f| f.security_definer && !f.is_trigger) {
        let callers: Vec<String> = a
            .acting_roles()
            .into_iter()
            .filter(|(_, role)| a.access.can_execute(*role, f))
            .map(|(app, role)| a.who(app, role))
            .collect();
        if callers.is_empty() || a.body_uses_context(f) {
            continue;
        }
        let exposed: Vec<String> = a
            .body_tables(f)
            .into_iter()
            .filter(|u| a.model.holds_tenant_data(u.rel.oid))
            .filter(|u| !u.rel.rls_enabled || a.access.skips_rls(f.owner, u.rel) || !a.read_scoped(u.rel, f.owner, 0))
            .map(|u| format!("{}{}", u.rel.qualified(), if u.writes { " (writes)" } else { "" }))
            .collect();
        if exposed.is_empty() {
            continue;
        }
        out.push(
            Finding::new(RULE.id, RULE.severity, ObjectKind::Function, f.qualified().to_string())
                .message(format!(
                    "runs as {} (SECURITY DEFINER), which is not held to the tenant on {}, and never reads the tenant context; {} can call it to reach every tenant's rows",
                    a.access.role_name(f.owner),
                    exposed.join(", "),
                    callers.join(", ")
                ))
                .fix(format!(
                    "Filter every query in {} on the tenant context (WHERE tenant_id = current_setting('app.current_tenant')::uuid), never on a tenant passed as an argument; or make it SECURITY INVOKER; and pin SET search_path = pg_catalog, pg_temp",
                    f.signature()
                ))
                .detail(f.signature()),
        );
    }
    out
}
