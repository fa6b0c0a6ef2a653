//! write-policy-not-tenant-scoped: INSERT, UPDATE or DELETE reach beyond the tenant.

use super::RuleInfo;
use crate::audit::{Audit, Op};
use crate::finding::{Finding, ObjectKind, Severity};
use crate::predicate::Gap;
use crate::scoping::policy_gaps;

pub static RULE: RuleInfo = RuleInfo {
    id: "write-policy-not-tenant-scoped",
    severity: Severity::Critical,
    summary: "INSERT/UPDATE checks do not pin the tenant column, or UPDATE/DELETE can touch other tenants' rows.",
    check,
};

fn check(a: &Audit) -> Vec<Finding> {
    policy_gaps(a, &[Op::Insert, Op::UpdateExisting, Op::UpdateNew, Op::Delete])
        .into_iter()
        .filter(|g| !g.verdict.pinned())
        .filter(|g| g.verdict.main_gap().is_none_or(|(gap, _)| *gap != Gap::FailOpen))
        .map(|g| {
            let name = g.policy.map(|p| format!("policy {}", p.name)).unwrap_or_else(|| "the policies together".into());
            let effect = match g.op {
                Op::Insert => "can insert rows for another tenant",
                Op::UpdateNew => "can move its rows into another tenant (UPDATE … SET tenant_id = …)",
                Op::UpdateExisting => "can update other tenants' rows",
                Op::Delete => "can delete other tenants' rows",
                Op::Select => "can read other tenants' rows",
            };
            let clause = if matches!(g.op, Op::Insert | Op::UpdateNew) { "WITH CHECK" } else { "USING" };
            let mut f = Finding::new(RULE.id, RULE.severity, ObjectKind::Table, g.rel.qualified().to_string())
                .message(format!("{name} {} for {}: {} {effect}", g.verdict.describe(), g.op.describe(), a.as_role(g.app, g.role)))
                .fix(format!(
                    "Give the {} policies a {clause} that pins the tenant: {clause} (tenant_id = (SELECT current_setting('app.current_tenant', true)::uuid)) on {}",
                    match g.op { Op::Insert => "INSERT", Op::Delete => "DELETE", _ => "UPDATE" },
                    g.rel.qualified()
                ));
            if let Some(p) = g.policy {
                f = f.detail(format!("{} ({})", p.name, match g.op { Op::Insert => "insert", Op::UpdateExisting => "update-using", Op::UpdateNew => "update-check", Op::Delete => "delete", Op::Select => "select" }));
            }
            f
        })
        .collect()
}
