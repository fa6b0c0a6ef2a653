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

/// Schemas on the function's pinned search_path that an app role can create objects in.
fn writable_path_schemas(a: &Audit, f: &tenantguard_catalog::Function) -> Vec<String> {
    let Some(path) = f.config.iter().find_map(|c| c.strip_prefix("search_path=")) else { return vec![] };
    path.split(',')
        .map(|s| s.trim().trim_matches('"').to_string())
        .filter(|s| {
            a.snapshot.schemas.iter().any(|schema| {
                &schema.name == s && a.acting_roles().iter().any(|(_, role)| !a.access.has_privs_of(*role, schema.owner) && a.access.schema_create(*role, schema))
            })
        })
        .collect()
}

fn check(a: &Audit) -> Vec<Finding> {
    let mut out: Vec<Finding> = a
        .snapshot
        .functions
        .iter()
        .filter(|f| f.security_definer && f.search_path_pinned() && !f.is_trigger)
        .filter(|f| a.acting_roles().iter().any(|(_, role)| a.access.can_execute(*role, f)))
        .filter_map(|f| {
            let writable = writable_path_schemas(a, f);
            (!writable.is_empty()).then(|| {
                Finding::new(RULE.id, RULE.severity, ObjectKind::Function, f.qualified().to_string())
                    .message(format!(
                        "is SECURITY DEFINER (runs as {}) and its search_path includes {}, where the application can create objects that shadow the ones it means",
                        a.access.role_name(f.owner),
                        writable.join(", ")
                    ))
                    .fix(format!("ALTER FUNCTION {} SET search_path = pg_catalog, pg_temp; and schema-qualify the objects it uses (or REVOKE CREATE on {})", f.signature(), writable.join(", ")))
                    .detail(f.signature())
            })
        })
        .collect();
    out.extend(a.snapshot
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
        }));
    out
}
