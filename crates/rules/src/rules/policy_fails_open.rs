//! policy-fails-open: with no tenant context set, the policy admits every tenant's rows.

use super::RuleInfo;
use crate::audit::{Audit, Op};
use crate::finding::{Finding, ObjectKind, Severity};
use crate::predicate::Gap;
use crate::scoping::policy_gaps;

pub static RULE: RuleInfo = RuleInfo {
    id: "policy-fails-open",
    severity: Severity::Critical,
    summary: "A policy admits every tenant's rows when the tenant context is unset or empty (IS NULL OR …, coalesce with the row's own tenant).",
    check,
};

fn check(a: &Audit) -> Vec<Finding> {
    policy_gaps(a, &[Op::Select, Op::Insert, Op::UpdateExisting, Op::UpdateNew, Op::Delete])
        .into_iter()
        .filter(|g| g.verdict.gaps.iter().any(|(gap, _)| *gap == Gap::FailOpen))
        .map(|g| {
            let branch = g.verdict.gaps.iter().find(|(gap, _)| *gap == Gap::FailOpen).map(|(_, b)| b.clone()).unwrap_or_default();
            let name = g.policy.map(|p| format!("policy {}", p.name)).unwrap_or_else(|| "the policies".into());
            let mut f = Finding::new(RULE.id, RULE.severity, ObjectKind::Table, g.rel.qualified().to_string())
                .message(format!(
                    "{name} fails open for {}: when the tenant context is unset or empty, `{branch}` admits every tenant's rows (as {})",
                    g.op.describe(),
                    a.who(g.app, g.role)
                ))
                .fix("Fail closed: compare the tenant column with the context only, e.g. USING (tenant_id = (SELECT current_setting('app.current_tenant', true)::uuid)); an unset context then matches nothing");
            if let Some(p) = g.policy {
                f = f.detail(p.name.clone());
            }
            f
        })
        .collect()
}
