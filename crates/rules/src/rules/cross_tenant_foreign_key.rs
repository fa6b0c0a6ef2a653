//! cross-tenant-foreign-key: a row of one tenant can reference another tenant's row.

use tenantguard_catalog::ConstraintKind;

use super::RuleInfo;
use crate::audit::Audit;
use crate::finding::{Finding, ObjectKind, Severity};
use crate::tenant::TenantVia;

pub static RULE: RuleInfo = RuleInfo {
    id: "cross-tenant-foreign-key",
    severity: Severity::Major,
    summary: "A foreign key between tenant tables leaves out the tenant column, so a row can point at another tenant's row (and its existence leaks through the check).",
    check,
};

fn check(a: &Audit) -> Vec<Finding> {
    let mut out = Vec::new();
    for fk in a.snapshot.constraints.iter().filter(|c| c.kind == ConstraintKind::ForeignKey) {
        let (Some(child), Some(parent_oid)) = (a.model.tables.get(&fk.relation), fk.referenced_relation) else { continue };
        let Some(parent) = a.model.tables.get(&parent_oid) else { continue };
        if parent.via == TenantVia::Registry || child.columns.is_empty() || parent.columns.is_empty() {
            continue;
        }
        // Tenant-aligned: some child tenant column maps onto a parent tenant column.
        let aligned = fk
            .columns
            .iter()
            .zip(&fk.referenced_columns)
            .any(|(c, p)| child.columns.contains(c) && parent.columns.contains(p));
        if aligned {
            continue;
        }
        let (Some(crel), Some(prel)) = (a.relation(fk.relation), a.relation(parent_oid)) else { continue };
        out.push(
            Finding::new(RULE.id, RULE.severity, ObjectKind::Table, crel.qualified().to_string())
                .message(format!(
                    "foreign key {} ({}) → {} ({}) leaves out the tenant column: a row of tenant A can reference tenant B's row, and the key check tells A which of B's ids exist",
                    fk.name,
                    fk.columns.join(", "),
                    prel.qualified(),
                    fk.referenced_columns.join(", ")
                ))
                .fix(format!(
                    "Make the key composite with the tenant: UNIQUE ({pt}, {pk}) on {prel}, then FOREIGN KEY ({ct}, {ck}) REFERENCES {prel} ({pt}, {pk})",
                    pt = parent.columns[0],
                    pk = fk.referenced_columns.join(", "),
                    prel = prel.qualified(),
                    ct = child.columns[0],
                    ck = fk.columns.join(", ")
                ))
                .detail(fk.name.clone()),
        );
    }
    out
}
