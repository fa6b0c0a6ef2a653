//! unchecked-privileges: what could not be checked for lack of privilege (information).

use super::RuleInfo;
use crate::audit::Audit;
use crate::finding::{Finding, ObjectKind, Severity};

pub static RULE: RuleInfo = RuleInfo {
    id: "unchecked-privileges",
    severity: Severity::Info,
    summary: "Parts of the catalog the audit could not read (for lack of privilege) or parse, so the rules that need them saw less.",
    check,
};

fn check(a: &Audit) -> Vec<Finding> {
    a.snapshot
        .unreadable
        .iter()
        .map(|what| {
            Finding::new(RULE.id, RULE.severity, ObjectKind::Database, a.snapshot.database.clone())
                .message(format!("not checked: {what}"))
                .fix(format!("Run the audit as a role that can read the system catalogs (now: {})", a.snapshot.read_as))
        })
        .collect()
}
