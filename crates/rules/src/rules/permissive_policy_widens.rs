//! permissive-policy-widens: a second permissive policy ORs other tenants' rows back in.

use super::RuleInfo;
use crate::audit::{Audit, Op};
use crate::finding::{Finding, ObjectKind, Severity};
use crate::predicate::Gap;
use crate::scoping::policy_gaps;

pub static RULE: RuleInfo = RuleInfo {
    id: "permissive-policy-widens",
    severity: Severity::Critical,
    summary: "Permissive policies are ORed: one tenant-scoped policy beside a wider one admits more than the tenant's rows.",
    check,
};

fn check(a: &Audit) -> Vec<Finding> {
    policy_gaps(a, &[Op::Select])
        .into_iter()
        .filter(|g| !g.verdict.pinned() && g.beside_scoped_policy)
        .filter(|g| g.verdict.main_gap().is_none_or(|(gap, _)| *gap != Gap::FailOpen))
        .filter_map(|g| {
            let p = g.policy?;
            Some(
                Finding::new(RULE.id, RULE.severity, ObjectKind::Table, g.rel.qualified().to_string())
                    .message(format!(
                        "permissive policy {} {}; PostgreSQL ORs it with the tenant-scoped policies, so as {}, SELECT returns other tenants' rows",
                        p.name,
                        g.verdict.describe(),
                        a.who(g.app, g.role)
                    ))
                    .fix(format!(
                        "Add the tenant check to {0} too, or keep a RESTRICTIVE tenant guard that every query must pass: CREATE POLICY tenant_guard ON {1} AS RESTRICTIVE USING (tenant_id = (SELECT current_setting('app.current_tenant', true)::uuid))",
                        p.name,
                        g.rel.qualified()
                    ))
                    .detail(p.name.clone()),
            )
        })
        .collect()
}
