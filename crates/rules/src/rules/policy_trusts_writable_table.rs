//! policy-trusts-writable-table: a policy decides the tenant from a table the app can write.

use std::collections::BTreeSet;

use tenantguard_catalog::expr::Expr;
use tenantguard_catalog::{Oid, Privilege, Relation};

use super::RuleInfo;
use crate::audit::{Audit, Op};
use crate::finding::{Finding, ObjectKind, Severity};

pub static RULE: RuleInfo = RuleInfo {
    id: "policy-trusts-writable-table",
    severity: Severity::Critical,
    summary: "A policy looks the tenant up in a table (memberships, users) that the app role can insert into or update, so it can grant itself another tenant.",
    check,
};

fn check(a: &Audit) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    for (app, role) in a.acting_roles() {
        for rel in a.tenant_tables().filter(|r| r.rls_enabled && !a.access.skips_rls(role, r)) {
            for p in a.applicable(rel, role, Op::Select) {
                let Some(using) = &p.using else { continue };
                for trusted in trusted_tables(a, using, rel) {
                    if trusted.oid == rel.oid || !writable_beyond_tenant(a, trusted, role) {
                        continue;
                    }
                    if !seen.insert((rel.oid, p.name.clone(), trusted.oid)) {
                        continue;
                    }
                    out.push(
                        Finding::new(RULE.id, RULE.severity, ObjectKind::Table, rel.qualified().to_string())
                            .message(format!(
                                "policy {} takes the tenant from {}, which {} can insert into or update without tenant scoping: it can write itself a row for another tenant and then read that tenant's data",
                                p.name,
                                trusted.qualified(),
                                a.who(app, role)
                            ))
                            .fix(format!(
                                "REVOKE INSERT, UPDATE ON {0} FROM the application roles (manage it through an audited admin path), or give {0} a WITH CHECK that pins the tenant",
                                trusted.qualified()
                            ))
                            .detail(p.name.clone()),
                    );
                }
            }
        }
    }
    out
}

/// Tables whose rows a policy uses to decide the tenant: subquery sources and lookup-function sources.
fn trusted_tables<'a>(a: &Audit<'a>, e: &Expr, rel: &Relation) -> Vec<&'a Relation> {
    let mut names: Vec<(Option<String>, String)> = Vec::new();
    e.walk(&mut |x| match x {
        Expr::Sub { query, .. } => names.extend(query.tables()),
        Expr::Call { name, args } => {
            // Whatever a function in the policy reads decides the tenant too.
            if let Some(f) = a.resolve_function(name, args.len()) {
                names.extend(a.body_tables(f).into_iter().map(|u| (Some(u.rel.schema.clone()), u.rel.name.clone())));
            }
        }
        _ => {}
    });
    let mut out: Vec<&Relation> = Vec::new();
    for (schema, name) in names {
        if let Some(t) = a.relation_named(schema.as_deref(), &name) {
            if t.oid != rel.oid && !out.iter().any(|o| o.oid == t.oid) {
                out.push(t);
            }
        }
    }
    out
}

/// Can `role` put arbitrary tenant values into `t` (no RLS, or write checks not pinned to the tenant)?
fn writable_beyond_tenant(a: &Audit, t: &Relation, role: Oid) -> bool {
    let can_insert = a.access.any_column_privilege(role, t, Privilege::Insert);
    let can_update = a.access.any_column_privilege(role, t, Privilege::Update);
    if !can_insert && !can_update {
        return false;
    }
    if !a.access.rls_applies(role, t) {
        return true;
    }
    let scoped = |op: Op| {
        let v = a.verdict(t, role, op);
        v.pinned() && !v.user_only && a.model.tables.get(&t.oid).is_some_and(|tt| !tt.columns.is_empty())
    };
    (can_insert && !scoped(Op::Insert)) || (can_update && !scoped(Op::UpdateNew) && !scoped(Op::UpdateExisting))
}
