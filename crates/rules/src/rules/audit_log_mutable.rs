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
            && a.snapshot.function(t.function).is_some_and(|f| raises_error(&f.source))
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
        let mut minor: Vec<String> = Vec::new();
        for (op, g) in &guards {
            // A missing TRUNCATE guard matters only to whoever may truncate (owner, TRUNCATE grant): minor
            // on its own; missing UPDATE/DELETE guards are the "no guard trigger" of the triage.
            let missing = match g {
                None => Some(format!("no guard trigger rejects {op}")),
                Some(t) if t.enabled == "D" => Some(format!("the {op} guard trigger {} is disabled", t.name)),
                Some(t) if t.enabled == "R" => Some(format!("the {op} guard trigger {} fires only in replica mode", t.name)),
                Some(t) if t.enabled == "O" => {
                    minor.push(format!("the {op} guard trigger {} is ENABLE, not ENABLE ALWAYS, so replica mode skips it", t.name));
                    None
                }
                _ => None,
            };
            if let Some(what) = missing {
                if *op == "TRUNCATE" { minor.push(what) } else { problems.push(what) }
            }
        }
        for (app, role) in a.acting_roles() {
            if a.access.has_privs_of(role, rel.owner) {
                problems.push(format!("{} acts as its owner {} (can disable triggers, truncate, drop)", a.who(app, role), a.access.role_name(rel.owner)));
                continue;
            }
            for ((p, name), (_, g)) in [(Privilege::Update, "UPDATE"), (Privilege::Delete, "DELETE"), (Privilege::Truncate, "TRUNCATE")].into_iter().zip(&guards) {
                if a.access.any_column_privilege(role, rel, p) {
                    let guarded = g.is_some_and(|t| t.fires_normally());
                    problems.push(format!("{} holds {name}{}", a.who(app, role), if guarded { " (a guard trigger rejects it, but a grant is one DISABLE TRIGGER away from working)" } else { "" }));
                }
            }
        }
        if let Some(owner) = a.access.role(rel.owner) {
            if owner.can_login || owner.superuser {
                problems.push(format!(
                    "its owner {} {}, so whoever holds that login can disable the guards",
                    owner.name,
                    if owner.superuser { "is a superuser" } else { "can log in" }
                ));
            }
        }
        // A DDL guard (event trigger) that exists but is off no longer stops ALTER TABLE … DISABLE TRIGGER.
        for e in a.snapshot.event_triggers.iter().filter(|e| e.enabled == "D" && guards_schema(a, e, &rel.schema)) {
            problems.push(format!("the DDL guard event trigger {} is disabled", e.name));
        }
        problems.dedup();
        if problems.is_empty() {
            if !minor.is_empty() {
                out.push(
                    Finding::new(RULE.id, Severity::Minor, ObjectKind::Table, object.clone())
                        .message(format!("append-only for the application, but: {}", minor.join("; ")))
                        .fix(format!("Add the missing guards and ALTER TABLE {object} ENABLE ALWAYS TRIGGER <guard> for each (tenantguard scaffold audit-log does both)")),
                );
            }
            continue;
        }
        problems.extend(minor);
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

/// An event trigger whose function mentions the log's schema guards it.
fn guards_schema(a: &Audit, e: &tenantguard_catalog::EventTrigger, schema: &str) -> bool {
    e.name.contains(schema) || a.snapshot.function(e.function).is_some_and(|f| f.source.contains(schema) || f.schema == schema)
}

/// The function body raises an error (not just a NOTICE): `RAISE EXCEPTION`, `RAISE SQLSTATE`,
/// `RAISE 'message'`, `RAISE USING …`, or a bare `RAISE;`.
fn raises_error(source: &str) -> bool {
    let src = source.to_ascii_lowercase();
    src.match_indices("raise").any(|(i, _)| {
        let rest = src[i + 5..].trim_start();
        ["exception", "sqlstate", "'", "using", ";"].iter().any(|k| rest.starts_with(k))
    })
}
