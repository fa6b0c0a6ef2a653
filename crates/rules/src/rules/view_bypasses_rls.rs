//! view-bypasses-rls: a view runs as its owner, and its owner is not held to the tenant.

use tenantguard_catalog::{Privilege, RelKind};

use super::RuleInfo;
use crate::audit::Audit;
use crate::finding::{Finding, ObjectKind, Severity};
use crate::predicate::Scope;

pub static RULE: RuleInfo = RuleInfo {
    id: "view-bypasses-rls",
    severity: Severity::Critical,
    summary: "A view the app can read runs with its owner's rights (no security_invoker) and its owner skips or is not scoped by the tenant policies.",
    check,
};

fn check(a: &Audit) -> Vec<Finding> {
    let mut out = Vec::new();
    for view in a.snapshot.relations.iter().filter(|r| r.kind == RelKind::View && !r.security_invoker) {
        let readers: Vec<String> = a
            .acting_roles()
            .into_iter()
            .filter(|(_, role)| a.access.any_column_privilege(*role, view, Privilege::Select))
            .map(|(app, role)| a.who(app, role))
            .collect();
        if readers.is_empty() {
            continue;
        }
        for base in view.reads.iter().filter_map(|o| a.relation(*o)).filter(|b| a.model.holds_tenant_data(b.oid)) {
            // Views run their base-table access as the view owner: that role's RLS (or lack of it) decides.
            let owner_scoped = a.read_scoped(base, view.owner, 0);
            if owner_scoped {
                continue;
            }
            let filter_scoped = view.view_filter.as_ref().is_some_and(|f| {
                let aliases = view_aliases(view.view_definition.as_deref().unwrap_or(""), &base.name);
                aliases.iter().any(|alias| {
                    let scope = Scope { alias: Some(alias.as_str()), ..Scope::new(base, view.owner) };
                    let v = a.analyse(f, scope);
                    v.pinned() && !v.user_only
                })
            });
            if filter_scoped {
                continue;
            }
            let why = if !base.rls_enabled {
                format!("{} has no row-level security", base.qualified())
            } else if a.access.skips_rls(view.owner, base) {
                format!("its owner {} skips row-level security on {}", a.access.role_name(view.owner), base.qualified())
            } else {
                format!("the policies on {} do not scope its owner {} to the tenant", base.qualified(), a.access.role_name(view.owner))
            };
            out.push(
                Finding::new(RULE.id, RULE.severity, ObjectKind::View, view.qualified().to_string())
                    .message(format!(
                        "runs with its owner's rights and {why}, so {} reads every tenant's rows through it",
                        readers.join(", ")
                    ))
                    .fix(format!(
                        "ALTER VIEW {} SET (security_invoker = true) so the caller's policies apply (PostgreSQL 15+), or filter the view on the tenant context",
                        view.qualified()
                    ))
                    .detail(base.qualified().to_string()),
            );
        }
    }
    out
}

/// Names the view's query uses for `table`: the table name and any alias after it.
fn view_aliases(definition: &str, table: &str) -> Vec<String> {
    let mut names = vec![table.to_string()];
    let lower = definition.to_ascii_lowercase();
    let needle = table.to_ascii_lowercase();
    let mut start = 0;
    while let Some(i) = lower[start..].find(&needle) {
        let after = &definition[start + i + needle.len()..];
        let mut words = after.split_whitespace();
        if let Some(w) = words.next() {
            let w = w.trim_end_matches([',', ')', ';']);
            let candidate = if w.eq_ignore_ascii_case("as") { words.next().unwrap_or("") } else { w };
            let candidate = candidate.trim_end_matches([',', ')', ';']);
            let keyword = ["where", "join", "on", "left", "right", "inner", "group", "order", "limit", "union", "cross", "full", "natural", "using"]
                .contains(&candidate.to_ascii_lowercase().as_str());
            if !candidate.is_empty() && !keyword && candidate.chars().all(|c| c.is_alphanumeric() || c == '_') {
                names.push(candidate.to_string());
            }
        }
        start += i + needle.len();
    }
    names
}
