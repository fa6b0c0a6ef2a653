//! unique-without-tenant: a unique key across tenants tells tenant A what tenant B has.

use tenantguard_catalog::Relation;

use super::RuleInfo;
use crate::audit::Audit;
use crate::finding::{Finding, ObjectKind, Severity};
use crate::tenant::TenantVia;

pub static RULE: RuleInfo = RuleInfo {
    id: "unique-without-tenant",
    severity: Severity::Minor,
    summary: "A unique constraint or index on a tenant table leaves out the tenant column: a duplicate-key error reveals another tenant's values.",
    check,
};

/// Generated surrogate keys (identity, sequences, random UUIDs) reveal nothing chosen by a tenant.
fn surrogate(rel: &Relation, col: &str) -> bool {
    rel.column(col).is_some_and(|c| {
        c.identity
            || c.generated
            || c.default.as_deref().is_some_and(|d| {
                let d = d.to_ascii_lowercase();
                d.contains("nextval(") || d.contains("gen_random_uuid") || d.contains("uuid_generate") || d.contains("uuidv7")
            })
    })
}

fn check(a: &Audit) -> Vec<Finding> {
    let mut out = Vec::new();
    for rel in a.tenant_tables() {
        let Some(t) = a.model.tables.get(&rel.oid) else { continue };
        if t.columns.is_empty() || t.via == TenantVia::Registry {
            continue;
        }
        for idx in a.snapshot.indexes_on(rel.oid).filter(|i| i.unique) {
            let cols: Vec<&str> = idx.columns.iter().flatten().map(String::as_str).collect();
            if cols.iter().any(|c| t.columns.iter().any(|tc| tc == c)) {
                continue;
            }
            // Generated surrogate keys reveal nothing a tenant chose; a bare `id` primary key
            // without a generator is the application's own surrogate too.
            if cols.len() == 1 && idx.columns.len() == 1 && (surrogate(rel, cols[0]) || (idx.primary && cols[0] == "id")) {
                continue;
            }
            out.push(
                Finding::new(RULE.id, RULE.severity, ObjectKind::Table, rel.qualified().to_string())
                    .message(format!(
                        "unique index {} on ({}) spans all tenants: inserting a value another tenant already has fails, which tells the caller it exists",
                        idx.name,
                        idx.columns.iter().map(|c| c.as_deref().unwrap_or("<expression>")).collect::<Vec<_>>().join(", ")
                    ))
                    .fix(format!("Include the tenant: UNIQUE ({}, {})", t.columns[0], cols.join(", ")))
                    .detail(idx.name.clone()),
            );
        }
    }
    out
}
