//! rls-not-forced-for-owner: the application owns (or can act as the owner of) a tenant table.

use super::RuleInfo;
use crate::audit::Audit;
use crate::finding::{Finding, ObjectKind, Severity};

pub static RULE: RuleInfo = RuleInfo {
    id: "rls-not-forced-for-owner",
    severity: Severity::Critical,
    summary: "The app role owns a tenant table (or inherits or can SET ROLE to its owner) and RLS is not forced, so its policies are skipped.",
    check,
};

fn check(a: &Audit) -> Vec<Finding> {
    let mut out = Vec::new();
    for rel in a.tenant_tables().filter(|r| r.rls_enabled) {
        for (app, role) in a.acting_roles() {
            if !a.access.has_privs_of(role, rel.owner) || a.access.is_superuser(role) {
                continue;
            }
            let owner = a.access.role_name(rel.owner);
            let how = if role == rel.owner && app == role {
                format!("{} owns it", a.access.role_name(app))
            } else {
                format!("{} acts as its owner {owner}", a.who(app, role))
            };
            let fix = format!(
                "Give the table to a NOLOGIN owner the application is not a member of (ALTER TABLE {0} OWNER TO app_owner; REVOKE app_owner FROM {1}), and ALTER TABLE {0} FORCE ROW LEVEL SECURITY",
                rel.qualified(),
                a.access.role_name(app)
            );
            let f = Finding::new(RULE.id, RULE.severity, ObjectKind::Table, rel.qualified().to_string()).fix(fix);
            out.push(if rel.rls_forced {
                f.message(format!("{how}; RLS is forced, but the owner can turn it off with one ALTER TABLE … NO FORCE ROW LEVEL SECURITY"))
                    .severity_override(Severity::Major)
            } else {
                f.message(format!("{how} and row-level security is not forced, so its policies are skipped: every tenant's rows are visible"))
            });
            break;
        }
    }
    out
}
