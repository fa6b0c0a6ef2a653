//! write-policy-not-tenant-scoped: INSERT, UPDATE or DELETE reach beyond the tenant.

use super::RuleInfo;
use crate::audit::{Audit, Op};
use crate::finding::{Finding, ObjectKind, Severity};
use crate::predicate::Gap;
use crate::scoping::{policy_gaps, PolicyGap};

pub static RULE: RuleInfo = RuleInfo {
    id: "write-policy-not-tenant-scoped",
    severity: Severity::Critical,
    summary: "INSERT/UPDATE checks do not pin the tenant column, or UPDATE/DELETE can touch other tenants' rows.",
    check,
};

fn effect(op: Op) -> &'static str {
    match op {
        Op::Insert => "insert rows for another tenant",
        Op::UpdateNew => "move rows into another tenant (UPDATE … SET tenant_id = …)",
        Op::UpdateExisting => "update other tenants' rows",
        Op::Delete => "delete other tenants' rows",
        Op::Select => "read other tenants' rows",
    }
}

fn check(a: &Audit) -> Vec<Finding> {
    let gaps: Vec<PolicyGap> = policy_gaps(a, &[Op::Insert, Op::UpdateExisting, Op::UpdateNew, Op::Delete])
        .into_iter()
        .filter(|g| !g.verdict.pinned())
        .filter(|g| g.verdict.main_gap().is_none_or(|(gap, _)| *gap != Gap::FailOpen))
        .collect();
    // One finding per table and policy, naming every write it lets through.
    let mut out: Vec<Finding> = Vec::new();
    let mut done: Vec<(u32, Option<String>)> = Vec::new();
    for g in &gaps {
        let key = (g.rel.oid, g.policy.map(|p| p.name.clone()));
        if done.contains(&key) {
            continue;
        }
        done.push(key.clone());
        let same: Vec<&PolicyGap> = gaps.iter().filter(|x| (x.rel.oid, x.policy.map(|p| p.name.clone())) == key).collect();
        let effects: Vec<&str> = same.iter().map(|x| effect(x.op)).collect();
        let name = g.policy.map(|p| format!("policy {}", p.name)).unwrap_or_else(|| "the policies together".into());
        let needs_check = same.iter().any(|x| matches!(x.op, Op::Insert | Op::UpdateNew));
        let needs_using = same.iter().any(|x| matches!(x.op, Op::UpdateExisting | Op::Delete));
        let clause = match (needs_using, needs_check) {
            (true, true) => "USING and WITH CHECK",
            (true, false) => "USING",
            _ => "WITH CHECK",
        };
        let mut f = Finding::new(RULE.id, RULE.severity, ObjectKind::Table, g.rel.qualified().to_string())
            .message(format!("{name} {}; {} can {}", g.verdict.describe(), a.who(g.app, g.role), effects.join(", ")))
            .fix(format!(
                "Give the write policies a {clause} that pins the tenant, e.g. (tenant_id = (SELECT current_setting('app.current_tenant', true)::uuid)) on {}; an ALL policy's USING also serves as its WITH CHECK",
                g.rel.qualified()
            ));
        if let Some(p) = g.policy {
            f = f.detail(p.name.clone());
        }
        out.push(f);
    }
    out
}
