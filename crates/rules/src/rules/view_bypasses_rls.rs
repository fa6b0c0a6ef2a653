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
        for (base, reader) in tenant_reads(a, view) {
            // Base tables are read with the rights of `reader`: the view's owner, or the owner of
            // the innermost definer-rights view on the way.
            let owner_scoped = a.read_scoped(base, reader, 0);
            if owner_scoped {
                continue;
            }
            let filter_scoped = view.view_filter.as_ref().is_some_and(|f| {
                let aliases = view_aliases(view.view_definition.as_deref().unwrap_or(""), &base.name);
                aliases.iter().any(|alias| {
                    let scope = Scope { alias: Some(alias.as_str()), ..Scope::new(base, reader) };
                    let v = a.analyse(f, scope);
                    v.pinned() && !v.user_only
                })
            });
            if filter_scoped {
                continue;
            }
            let why = if !base.rls_enabled {
                format!("{} has no row-level security", base.qualified())
            } else if a.access.skips_rls(reader, base) {
                format!("{} skips row-level security on {}", a.access.role_name(reader), base.qualified())
            } else {
                format!("the policies on {} do not scope {} to the tenant", base.qualified(), a.access.role_name(reader))
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

/// Tenant tables a definer-rights view reads, directly or through other views, with the role whose
/// rights apply to each read.
fn tenant_reads<'a>(a: &Audit<'a>, view: &'a tenantguard_catalog::Relation) -> Vec<(&'a tenantguard_catalog::Relation, u32)> {
    let mut out = Vec::new();
    let mut stack = vec![(view, view.owner, 0usize)];
    while let Some((v, reader, depth)) = stack.pop() {
        for r in v.reads.iter().filter_map(|o| a.relation(*o)) {
            if a.model.holds_tenant_data(r.oid) {
                if !out.iter().any(|(b, who): &(&tenantguard_catalog::Relation, u32)| b.oid == r.oid && *who == reader) {
                    out.push((r, reader));
                }
            } else if r.kind == RelKind::View && depth < 8 && !r.security_invoker {
                // A security_invoker view checks its tables as the user running the query, even
                // inside a definer-rights view (PostgreSQL leaves their checkAsUser unset), so only
                // definer-rights views change whose rights apply.
                stack.push((r, r.owner, depth + 1));
            }
        }
    }
    out
}
