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
        let child = rel.parents.iter().any(|p| a.model.holds_tenant_data(*p));
        if rel.rls_enabled || has_policies || child {
            continue;
        }
        let reachers: Vec<String> = a
            .acting_roles()
            .into_iter()
            .filter(|(_, role)| a.access.reaches(*role, rel))
            .map(|(app, role)| a.who(app, role))
            .collect();
        let f = Finding::new(RULE.id, RULE.severity, ObjectKind::Table, rel.qualified().to_string()).fix(fix_for(a, rel));
        out.push(if reachers.is_empty() {
            f.message("holds tenant data without row-level security; no application role can reach it today, so the first GRANT will leak every tenant's rows")
                .severity_override(Severity::Minor)
        } else {
            f.message(format!(
                "holds tenant data without row-level security: {} can read and write every tenant's rows",
                reachers.join(", ")
            ))
        });
    }
    out
}

/// The policy to add: on the tenant column, or through the parent for a child table.
pub(crate) fn fix_for(a: &Audit, rel: &tenantguard_catalog::Relation) -> String {
    let t = a.model.tables.get(&rel.oid);
    let policy = match t.map(|t| (&t.columns, &t.via)) {
        Some((_, crate::tenant::TenantVia::ForeignKey { parent, columns })) => {
            let parent = a.relation(*parent).map(|p| p.qualified().to_string()).unwrap_or_default();
            let key = a
                .snapshot
                .constraints_on(rel.oid)
                .find(|c| c.columns == *columns)
                .map(|c| c.referenced_columns.join(", "))
                .unwrap_or_else(|| "id".into());
            format!(
                "CREATE POLICY tenant_isolation ON {} USING (EXISTS (SELECT 1 FROM {parent} p WHERE p.{key} = {}.{})) — or better, add the tenant column",
                rel.qualified(),
                rel.name,
                columns.join(", ")
            )
        }
        Some((cols, _)) if !cols.is_empty() => format!(
            "CREATE POLICY tenant_isolation ON {} USING ({} = (SELECT current_setting('app.current_tenant', true)::uuid))",
            rel.qualified(),
            cols[0]
        ),
        _ => format!("CREATE POLICY tenant_isolation ON {} USING (…tenant check…)", rel.qualified()),
    };
    format!(
        "ALTER TABLE {0} ENABLE ROW LEVEL SECURITY; ALTER TABLE {0} FORCE ROW LEVEL SECURITY; {policy}",
        rel.qualified()
    )
}
