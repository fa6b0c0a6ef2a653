//! app-role-bypasses-rls: the application is a superuser, has BYPASSRLS, or can become such a role.

use super::RuleInfo;
use crate::audit::Audit;
use crate::finding::{Finding, ObjectKind, Severity};

pub static RULE: RuleInfo = RuleInfo {
    id: "app-role-bypasses-rls",
    severity: Severity::Critical,
    summary: "The app role is a superuser or has BYPASSRLS (or can SET ROLE to one): no policy applies to it.",
    check,
};

fn check(a: &Audit) -> Vec<Finding> {
    let mut out = Vec::new();
    for (app, role) in a.acting_roles() {
        let Some(r) = a.access.role(role) else { continue };
        if !(r.superuser || r.bypass_rls) {
            continue;
        }
        let what = if r.superuser { "a superuser" } else { "BYPASSRLS" };
        let who = if app == role {
            format!("{} is {what}", r.name)
        } else {
            format!("{} can SET ROLE to {}, which is {what}", a.access.role_name(app), r.name)
        };
        out.push(
            Finding::new(RULE.id, RULE.severity, ObjectKind::Role, a.access.role_name(app))
                .message(format!("{who}: row-level security never applies, so every tenant's rows are readable and writable"))
                .fix(format!(
                    "Run the application as an ordinary role: ALTER ROLE {} NOSUPERUSER NOBYPASSRLS (or REVOKE {} FROM {})",
                    r.name,
                    r.name,
                    a.access.role_name(app)
                )),
        );
    }
    out
}
