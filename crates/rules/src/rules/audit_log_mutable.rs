//! audit-log-mutable: the application can rewrite or erase the audit log.

use tenantguard_catalog::{Privilege, Relation, Trigger};

use super::RuleInfo;
use crate::audit::Audit;
use crate::finding::{Finding, ObjectKind, Severity};

pub static RULE: RuleInfo = RuleInfo {
    id: "audit-log-mutable",
    severity: Severity::Major,
    summary: "The audit log is not append-only for the app: UPDATE/DELETE/TRUNCATE granted, owned by the app, or no guard triggers (or guards disabled).",
    check,
};

fn guard<'a>(a: &'a Audit, rel: &Relation, pick: fn(&Trigger) -> bool) -> Option<&'a Trigger> {
    a.snapshot.triggers.iter().filter(|t| t.relation == rel.oid).find(|t| {
        pick(t)
            && (t.before || t.instead)
            && a.snapshot.function(t.function).is_some_and(|f| f.source.to_ascii_lowercase().contains("raise"))
    })
}

fn check(a: &Audit) -> Vec<Finding> {
    let mut out = Vec::new();
    for rel in a.model.audit_tables.iter().filter_map(|o| a.relation(*o)) {
        let object = rel.qualified().to_string();
        let mut problems: Vec<String> = Vec::new();
        let guards = [
            ("UPDATE", guard(a, rel, |t| t.on_update && t.row_level)),
            ("DELETE", guard(a, rel, |t| t.on_delete && t.row_level)),
            ("TRUNCATE", guard(a, rel, |t| t.on_truncate)),
        ];
        for (op, g) in &guards {
            match g {
                None => problems.push(format!("no guard trigger rejects {op}")),
                Some(t) if t.enabled == "D" => problems.push(format!("the {op} guard trigger {} is disabled", t.name)),
                Some(t) if t.enabled == "R" => problems.push(format!("the {op} guard trigger {} fires only in replica mode", t.name)),
                _ => {}
            }
        }
        for (app, role) in a.acting_roles() {
            if a.access.has_privs_of(role, rel.owner) {
                problems.push(format!("{} acts as its owner {} (can disable triggers, truncate, drop)", a.who(app, role), a.access.role_name(rel.owner)));
                continue;
            }
            for (p, name) in [(Privilege::Update, "UPDATE"), (Privilege::Delete, "DELETE"), (Privilege::Truncate, "TRUNCATE")] {
                if a.access.any_column_privilege(role, rel, p) {
                    problems.push(format!("{} holds {name}", a.who(app, role)));
                }
            }
        }
        problems.dedup();
        if problems.is_empty() {
            // Guards that replica mode (session_replication_role = replica) silences are a weaker, minor hole.
            let origin_only: Vec<&str> = guards.iter().filter_map(|(op, g)| g.filter(|t| t.enabled == "O").map(|_| *op)).collect();
            if !origin_only.is_empty() {
                out.push(
                    Finding::new(RULE.id, Severity::Minor, ObjectKind::Table, object.clone())
                        .message(format!(
                            "the {} guard triggers are not ENABLE ALWAYS, so a session in replica mode skips them",
                            origin_only.join("/")
                        ))
                        .fix(format!("ALTER TABLE {object} ENABLE ALWAYS TRIGGER <guard>; for each guard trigger")),
                );
            }
            continue;
        }
        out.push(
            Finding::new(RULE.id, RULE.severity, ObjectKind::Table, object.clone())
                .message(format!("is not append-only: {}", problems.join("; ")))
                .fix(format!(
                    "REVOKE UPDATE, DELETE, TRUNCATE ON {object} FROM PUBLIC and the application roles; own it by a NOLOGIN role; add BEFORE UPDATE OR DELETE (row) and BEFORE TRUNCATE (statement) triggers that RAISE, set ENABLE ALWAYS (tenantguard scaffold audit-log writes all of this)"
                )),
        );
    }
    out
}
