//! trigger-copies-tenant-rows: a trigger on a tenant table copies rows somewhere other tenants can read.

use tenantguard_catalog::Privilege;

use super::RuleInfo;
use crate::audit::Audit;
use crate::finding::{Finding, ObjectKind, Severity};

pub static RULE: RuleInfo = RuleInfo {
    id: "trigger-copies-tenant-rows",
    severity: Severity::Critical,
    summary: "A trigger on a tenant table writes into a table the app can read without tenant scoping.",
    check,
};

fn check(a: &Audit) -> Vec<Finding> {
    let mut out = Vec::new();
    for t in a.snapshot.triggers.iter().filter(|t| t.fires_normally() && a.model.holds_tenant_data(t.relation)) {
        let (Some(source), Some(f)) = (a.relation(t.relation), a.snapshot.function(t.function)) else { continue };
        for target in a.body_tables(f).into_iter().filter(|u| u.writes && u.rel.oid != source.oid) {
            let leaking: Vec<String> = a
                .acting_roles()
                .into_iter()
                .filter(|(_, role)| a.access.any_column_privilege(*role, target.rel, Privilege::Select))
                .filter(|(_, role)| !a.read_scoped(target.rel, *role, 0))
                .map(|(app, role)| a.who(app, role))
                .collect();
            if leaking.is_empty() || a.model.audit_tables.contains(&target.rel.oid) {
                continue;
            }
            out.push(
                Finding::new(RULE.id, RULE.severity, ObjectKind::Table, target.rel.qualified().to_string())
                    .message(format!(
                        "trigger {} on {} copies tenant rows into {}, which {} can read without tenant scoping",
                        t.name,
                        source.qualified(),
                        target.rel.qualified(),
                        leaking.join(", ")
                    ))
                    .fix(format!(
                        "Carry the tenant into {0} (a tenant_id column) and protect it with ENABLE/FORCE ROW LEVEL SECURITY and a tenant policy, or REVOKE SELECT on it from the application",
                        target.rel.qualified()
                    ))
                    .detail(format!("{} on {}", t.name, source.qualified())),
            );
        }
    }
    out
}
