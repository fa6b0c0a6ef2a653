//! security-definer-search-path: a SECURITY DEFINER function without a pinned search_path.

use super::RuleInfo;
use crate::audit::Audit;
use crate::finding::{Finding, ObjectKind, Severity};

pub static RULE: RuleInfo = RuleInfo {
    id: "security-definer-search-path",
    severity: Severity::Major,
    summary: "A SECURITY DEFINER function the app can execute has no SET search_path: a temp table or function of the caller's can stand in for the real one.",
    check,
};

fn check(a: &Audit) -> Vec<Finding> {
    a.snapshot
        .functions
        .iter()
        .filter(|f| f.security_definer && !f.search_path_pinned() && !f.is_trigger)
        .filter(|f| a.acting_roles().iter().any(|(_, role)| a.access.can_execute(*role, f)))
        .map(|f| {
            Finding::new(RULE.id, RULE.severity, ObjectKind::Function, f.qualified().to_string())
                .message(format!(
                    "is SECURITY DEFINER (runs as {}) without SET search_path: the caller controls name resolution (pg_temp is searched first), so its unqualified names can be hijacked",
                    a.access.role_name(f.owner)
                ))
                .fix(format!("ALTER FUNCTION {} SET search_path = pg_catalog, pg_temp; and schema-qualify the objects it uses", f.signature()))
                .detail(f.signature())
        })
        .collect()
}
