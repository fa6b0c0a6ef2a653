//! schema-per-tenant-shared-role: one role reaches every tenant's schema.

use super::RuleInfo;
use crate::audit::Audit;
use crate::finding::{Finding, ObjectKind, Severity};

pub static RULE: RuleInfo = RuleInfo {
    id: "schema-per-tenant-shared-role",
    severity: Severity::Critical,
    summary: "In a schema-per-tenant layout, one app role has USAGE and table privileges in several tenants' schemas: isolation rests on search_path alone.",
    check,
};

fn check(a: &Audit) -> Vec<Finding> {
    let mut out = Vec::new();
    if a.model.tenant_schemas.len() < 2 {
        return out;
    }
    for (app, role) in a.acting_roles() {
        let reached: Vec<&str> = a
            .model
            .tenant_schemas
            .iter()
            .filter(|s| a.access.schema_usage(role, s))
            .filter(|s| a.snapshot.relations.iter().filter(|r| &r.schema == *s && r.kind.is_table()).any(|r| a.access.reaches(role, r)))
            .map(String::as_str)
            .collect();
        if reached.len() < 2 {
            continue;
        }
        out.push(
            Finding::new(RULE.id, RULE.severity, ObjectKind::Role, a.access.role_name(app))
                .message(format!(
                    "{} can read and write the tables of {} tenant schemas ({}{}): one wrong search_path or qualified name reads another tenant",
                    a.who(app, role),
                    reached.len(),
                    reached.iter().take(5).copied().collect::<Vec<_>>().join(", "),
                    if reached.len() > 5 { ", …" } else { "" }
                ))
                .fix("Give each tenant schema its own role (GRANT USAGE ON SCHEMA tenant_x TO tenant_x_role) and have the application SET LOCAL ROLE per transaction, or move to shared tables with RLS"),
        );
        break;
    }
    out
}
