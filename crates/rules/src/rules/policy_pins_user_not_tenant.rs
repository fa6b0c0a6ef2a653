//! policy-pins-user-not-tenant: rows are scoped to the user, not to the tenant.

use super::RuleInfo;
use crate::audit::{Audit, Op};
use crate::finding::{Finding, ObjectKind, Severity};
use crate::scoping::policy_gaps;

pub static RULE: RuleInfo = RuleInfo {
    id: "policy-pins-user-not-tenant",
    severity: Severity::Major,
    summary: "A policy on a tenant table checks only the user (auth.uid() = user_id), so a user in several tenants sees and writes across them.",
    check,
};

fn check(a: &Audit) -> Vec<Finding> {
    let membership_tables = a.lookup_tables();
    policy_gaps(a, &[Op::Select, Op::Insert, Op::UpdateExisting, Op::UpdateNew, Op::Delete])
        .into_iter()
        .filter(|g| g.verdict.pinned() && g.verdict.user_only)
        .filter(|g| !membership_tables.contains(&g.rel.oid))
        .map(|g| {
            let name = g.policy.map(|p| format!("policy {}", p.name)).unwrap_or_else(|| "the policies".into());
            let mut f = Finding::new(RULE.id, RULE.severity, ObjectKind::Table, g.rel.qualified().to_string())
                .message(format!(
                    "{name} scopes {} to the user, not the tenant: a user who belongs to several tenants reaches this table's rows of all of them from any one",
                    g.op.describe()
                ))
                .fix("Add the tenant to the check: USING (user_id = auth.uid() AND tenant_id = (SELECT current_setting('app.current_tenant', true)::uuid))");
            if let Some(p) = g.policy {
                f = f.detail(p.name.clone());
            }
            f
        })
        .collect()
}
