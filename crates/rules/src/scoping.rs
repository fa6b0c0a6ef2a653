//! Shared by the policy rules: for every tenant table, app role and operation where
//! row-level security is what keeps tenants apart, which policy lets rows through.

use tenantguard_catalog::{Oid, Policy, Privilege, Relation};

use crate::audit::{Audit, Op};
use crate::predicate::Verdict;

pub struct PolicyGap<'a> {
    pub rel: &'a Relation,
    pub app: Oid,
    pub role: Oid,
    pub op: Op,
    /// The permissive policy to blame; `None` when only the combination leaks.
    pub policy: Option<&'a Policy>,
    pub verdict: Verdict,
    /// Another applicable permissive policy on its own is tenant-scoped.
    pub beside_scoped_policy: bool,
}

/// Every (table, role, operation) whose effective predicate is not tenant-scoped.
pub fn policy_gaps<'a>(a: &'a Audit, ops: &[Op]) -> Vec<PolicyGap<'a>> {
    let mut out: Vec<PolicyGap<'a>> = Vec::new();
    for (app, role) in a.acting_roles() {
        for rel in a.tenant_tables() {
            if !rel.rls_enabled || a.access.skips_rls(role, rel) {
                continue;
            }
            for &op in ops {
                if !relevant(a, rel, role, op) {
                    continue;
                }
                let verdict = a.verdict(rel, role, op);
                if verdict.pinned() && !verdict.user_only {
                    continue;
                }
                if op == Op::Select && shared_rows_only(a, rel, role, &verdict) {
                    continue;
                }
                let permissive: Vec<&Policy> =
                    a.applicable(rel, role, op).into_iter().filter(|p| p.permissive && op.expression(p).is_some()).collect();
                let per_policy: Vec<(&Policy, Verdict)> =
                    permissive.iter().filter_map(|p| a.policy_verdict(rel, role, op, p).map(|v| (*p, v))).collect();
                let any_scoped = per_policy.iter().any(|(_, v)| v.pinned() && !v.user_only);
                let mut blamed = false;
                for (p, v) in &per_policy {
                    let bad = if verdict.pinned() { v.user_only } else { !v.pinned() };
                    if bad {
                        blamed = true;
                        push(&mut out, PolicyGap { rel, app, role, op, policy: Some(p), verdict: v.clone(), beside_scoped_policy: any_scoped });
                    }
                }
                if !blamed {
                    push(&mut out, PolicyGap { rel, app, role, op, policy: None, verdict, beside_scoped_policy: false });
                }
            }
        }
    }
    out
}

fn push<'a>(out: &mut Vec<PolicyGap<'a>>, gap: PolicyGap<'a>) {
    let dup = out.iter().any(|g| {
        g.rel.oid == gap.rel.oid && g.op == gap.op && g.policy.map(|p| &p.name) == gap.policy.map(|p| &p.name)
    });
    if !dup {
        out.push(gap);
    }
}

/// Does the role hold the privilege this operation needs (so the predicate is all that stands in the way)?
fn relevant(a: &Audit, rel: &Relation, role: Oid, op: Op) -> bool {
    if !a.access.any_column_privilege(role, rel, op.privilege()) {
        return false;
    }
    match op {
        // A new row version can only move tenants if the tenant column can be written.
        Op::UpdateNew => {
            tenant_write_columns(a, rel).iter().any(|c| a.access.column_privilege(role, rel, c, Privilege::Update))
                && !trigger_pins_tenant(a, rel, false)
        }
        Op::Insert => !trigger_pins_tenant(a, rel, true),
        _ => true,
    }
}

/// The columns whose value decides a row's tenant: tenant columns, or a child's foreign key.
pub fn tenant_write_columns(a: &Audit, rel: &Relation) -> Vec<String> {
    match a.model.tables.get(&rel.oid) {
        Some(t) if !t.columns.is_empty() => t.columns.clone(),
        Some(t) => match &t.via {
            crate::tenant::TenantVia::ForeignKey { columns, .. } => columns.clone(),
            _ => vec![],
        },
        None => vec![],
    }
}

/// A BEFORE row trigger that overwrites the tenant column from the context pins every write.
pub fn trigger_pins_tenant(a: &Audit, rel: &Relation, insert: bool) -> bool {
    let cols = tenant_write_columns(a, rel);
    a.snapshot.triggers_on(rel.oid).any(|t| {
        t.before && t.row_level && t.fires_normally() && if insert { t.on_insert } else { t.on_update }
            && a.snapshot.function(t.function).is_some_and(|f| {
                let src = f.source.to_ascii_lowercase();
                cols.iter().any(|c| {
                    let assign = format!("new.{} :=", c.to_ascii_lowercase());
                    let assign2 = format!("new.{}:=", c.to_ascii_lowercase());
                    let assign3 = format!("new.{} =", c.to_ascii_lowercase());
                    [assign, assign2, assign3].iter().any(|pat| {
                        src.find(pat.as_str()).is_some_and(|i| {
                            let rest: String = src[i..].chars().take(200).collect();
                            let stmt = rest.split(';').next().unwrap_or("");
                            a.model.tenant_settings.iter().any(|s| stmt.contains(&s.to_ascii_lowercase()))
                                || stmt.contains("auth.jwt()")
                                || stmt.contains("request.jwt")
                        })
                    })
                })
            })
    })
}

/// Reads that also admit rows with a NULL tenant are shared reference rows, not another tenant's
/// data, as long as this role cannot write such rows itself (its writes are pinned, or it cannot
/// write at all): then only the owner can have put them there.
fn shared_rows_only(a: &Audit, rel: &Relation, role: Oid, verdict: &Verdict) -> bool {
    if verdict.gaps.is_empty() || !verdict.gaps.iter().all(|(g, _)| *g == crate::predicate::Gap::NullTenant) || verdict.constants.len() > 1 {
        return false;
    }
    [Op::Insert, Op::UpdateNew].into_iter().all(|op| {
        !relevant(a, rel, role, op) || {
            let v = a.verdict(rel, role, op);
            v.pinned() && !v.user_only
        }
    })
}
