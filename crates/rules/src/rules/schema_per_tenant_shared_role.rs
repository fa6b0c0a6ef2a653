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
    let mut tables_in: std::collections::HashMap<&str, Vec<&tenantguard_catalog::Relation>> = std::collections::HashMap::new();
    for r in a.snapshot.relations.iter().filter(|r| r.kind.is_table()) {
        tables_in.entry(r.schema.as_str()).or_default().push(r);
    }
    // Schemas each grantee has USAGE on (or owns), so a role only looks at schemas it could reach.
    let mut usable: std::collections::HashMap<u32, Vec<&str>> = std::collections::HashMap::new();
    for s in a.snapshot.schemas.iter().filter(|s| a.model.tenant_schemas.contains(&s.name)) {
        usable.entry(s.owner).or_default().push(&s.name);
        for g in s.grants.iter().filter(|g| g.privilege == tenantguard_catalog::Privilege::Usage) {
            usable.entry(g.grantee).or_default().push(&s.name);
        }
    }
    for (app, role) in a.acting_roles() {
        let privs = a.access.privileges_of(role);
        let mut candidates: Vec<&str> = privs
            .iter()
            .chain(std::iter::once(&tenantguard_catalog::PUBLIC))
            .flat_map(|g| usable.get(g).into_iter().flatten().copied())
            .collect();
        if a.access.is_superuser(role) {
            candidates = a.model.tenant_schemas.iter().map(String::as_str).collect();
        }
        candidates.sort_unstable();
        candidates.dedup();
        let reached: Vec<&str> = candidates
            .into_iter()
            .filter(|s| tables_in.get(s).into_iter().flatten().any(|r| a.access.reaches(role, r)))
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
