//! policy-not-tenant-scoped: what the app role may read is not pinned to its tenant.

use super::RuleInfo;
use crate::audit::{Audit, Op};
use crate::finding::{Finding, ObjectKind, Severity};
use crate::predicate::Gap;
use crate::scoping::policy_gaps;

pub static RULE: RuleInfo = RuleInfo {
    id: "policy-not-tenant-scoped",
    severity: Severity::Critical,
    summary: "The policies on a tenant table do not constrain the tenant column to the tenant context (always true, context-only, other tenants, wrong setting).",
    check,
};

fn check(a: &Audit) -> Vec<Finding> {
    policy_gaps(a, &[Op::Select])
        .into_iter()
        .filter(|g| !g.verdict.pinned() && !g.beside_scoped_policy)
        .filter(|g| g.verdict.main_gap().is_none_or(|(gap, _)| *gap != Gap::FailOpen))
        .map(|g| {
            let who = a.who(g.app, g.role);
            let what = match g.policy {
                Some(p) => format!("policy {} {}", p.name, g.verdict.describe()),
                None => format!("the policies together: {}", g.verdict.describe()),
            };
            let mut f = Finding::new(RULE.id, RULE.severity, ObjectKind::Table, g.rel.qualified().to_string())
                .message(format!("{what}; as {who}, SELECT returns other tenants' rows"))
                .fix(format!(
                    "Make every branch compare the tenant column with the context: USING (tenant_id = (SELECT current_setting('app.current_tenant', true)::uuid)) on {}",
                    g.rel.qualified()
                ));
            if let Some(p) = g.policy {
                f = f.detail(p.name.clone());
            }
            f
        })
        .collect()
}
