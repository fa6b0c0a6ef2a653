//! policy-context-per-row: the tenant context is computed for every row instead of once.

use tenantguard_catalog::expr::{Expr, SubKind};

use super::RuleInfo;
use crate::audit::Audit;
use crate::context::Value;
use crate::finding::{Finding, ObjectKind, Severity};

pub static RULE: RuleInfo = RuleInfo {
    id: "policy-context-per-row",
    severity: Severity::Minor,
    summary: "A policy calls current_setting()/auth.uid()/auth.jwt() per row; wrapped in (SELECT …) it runs once per statement as an InitPlan.",
    check,
};

/// Context calls outside any scalar subquery.
fn bare_context_calls(a: &Audit, e: &Expr, out: &mut Vec<String>) {
    match e {
        Expr::Sub { kind: SubKind::Scalar, .. } => {}
        Expr::Call { name, .. } if matches!(a.classify(e), Value::Context(_) | Value::Lookup { .. }) => {
            out.push(format!("{}()", name.join(".")));
        }
        Expr::Sub { test, query, .. } => {
            if let Some(t) = test {
                bare_context_calls(a, t, out);
            }
            if let Some(f) = &query.filter {
                bare_context_calls(a, f, out);
            }
        }
        _ => {
            for c in direct_children(e) {
                bare_context_calls(a, c, out);
            }
        }
    }
}

fn direct_children(e: &Expr) -> Vec<&Expr> {
    match e {
        Expr::Call { args, .. } | Expr::And(args) | Expr::Or(args) | Expr::Coalesce(args) | Expr::Array(args) | Expr::Row(args) => args.iter().collect(),
        Expr::Op { left, right, .. } => left.iter().map(|b| b.as_ref()).chain([right.as_ref()]).collect(),
        Expr::ArrayOp { left, right, .. } | Expr::Distinct { left, right, .. } | Expr::NullIf(left, right) => vec![left, right],
        Expr::In { expr, list, .. } => std::iter::once(expr.as_ref()).chain(list.iter()).collect(),
        Expr::Between { expr, low, high, .. } => vec![expr, low, high],
        Expr::Not(x) | Expr::Cast { expr: x, .. } | Expr::NullTest { expr: x, .. } | Expr::BoolTest { expr: x, .. } => vec![x],
        Expr::Case { arg, whens, default } => arg.iter().map(|b| b.as_ref()).chain(whens.iter().flat_map(|(w, r)| [w, r])).chain(default.iter().map(|b| b.as_ref())).collect(),
        _ => vec![],
    }
}

fn check(a: &Audit) -> Vec<Finding> {
    let mut out = Vec::new();
    for rel in a.tenant_tables() {
        for p in a.snapshot.policies_on(rel.oid) {
            let mut calls = Vec::new();
            for e in p.using.iter().chain(p.check.iter()) {
                bare_context_calls(a, e, &mut calls);
            }
            calls.sort();
            calls.dedup();
            if calls.is_empty() {
                continue;
            }
            out.push(
                Finding::new(RULE.id, RULE.severity, ObjectKind::Table, rel.qualified().to_string())
                    .message(format!(
                        "policy {} calls {} for every row it checks; on large tables that dominates the query",
                        p.name,
                        calls.join(", ")
                    ))
                    .fix("Wrap the context in a scalar subquery so it runs once per statement: tenant_id = (SELECT current_setting('app.current_tenant', true)::uuid)")
                    .detail(p.name.clone()),
            );
        }
    }
    out
}
