//! tenant-table-not-audited: the database has an audit log, but the app's changes to a tenant
//! table never reach it. Only the triage's "audit log missing some actions" (minor): nothing
//! leaks, but a change to this table leaves no trace a tenant or an investigator can read.
//!
//! A change counts as captured when a trigger that fires normally covers the operation and
//! its function writes into an audit table, directly or through one function it calls (a
//! `record()`-style helper), or it is tenantguard's C capture trigger pointed at the log's
//! schema. Changes an application records itself, beside the write
//! (`TenantTx::audit`), are not visible in the catalog: exempt the table in tenantguard.toml
//! with that reason.

use tenantguard_catalog::{Function, Privilege, Relation, Trigger};

use super::RuleInfo;
use crate::audit::Audit;
use crate::body::strip_comments;
use crate::finding::{Finding, ObjectKind, Severity};

pub static RULE: RuleInfo = RuleInfo {
    id: "tenant-table-not-audited",
    severity: Severity::Minor,
    summary: "An audit log exists, but no trigger records the app's INSERT/UPDATE/DELETE on a tenant table into it.",
    check,
};

/// An operation: its name, the privilege that allows it, whether a trigger fires on it.
type OpCheck = (&'static str, Privilege, fn(&Trigger) -> bool);

const OPS: [OpCheck; 3] = [
    ("INSERT", Privilege::Insert, |t| t.on_insert),
    ("UPDATE", Privilege::Update, |t| t.on_update),
    ("DELETE", Privilege::Delete, |t| t.on_delete),
];

fn check(a: &Audit) -> Vec<Finding> {
    let mut out = Vec::new();
    let Some(log) = a.model.audit_tables.first().and_then(|o| a.relation(*o)) else { return out };
    let writers: Vec<&Function> = a.snapshot.functions.iter().filter(|f| writes_audit(a, f)).collect();
    let mut tables: Vec<&Relation> = a
        .tenant_tables()
        .filter(|r| r.kind.is_table() && !r.is_partition && !a.model.audit_tables.contains(&r.oid))
        .collect();
    tables.sort_by_key(|r| r.qualified().to_string());
    for rel in tables {
        let capturing: Vec<&Trigger> = a
            .snapshot
            .triggers
            .iter()
            .filter(|t| t.relation == rel.oid && t.fires_normally() && !t.instead)
            .filter(|t| {
                a.snapshot.function(t.function).is_some_and(|f| writes_audit(a, f) || calls_any(f, &writers) || c_capture_into_audit(a, t, f))
            })
            .collect();
        let missing: Vec<&str> = OPS
            .iter()
            .filter(|(_, p, _)| a.acting_roles().iter().any(|(_, role)| a.access.any_column_privilege(*role, rel, *p)))
            .filter(|(_, _, fires)| !capturing.iter().any(|t| fires(t)))
            .map(|(name, _, _)| *name)
            .collect();
        if missing.is_empty() {
            continue;
        }
        let object = rel.qualified().to_string();
        out.push(
            Finding::new(RULE.id, RULE.severity, ObjectKind::Table, object.clone())
                .message(format!(
                    "the application can {} rows of {object}, but no trigger records {} in the audit log {}",
                    missing.join("/"),
                    if missing.len() == 1 { "it" } else { "them" },
                    log.qualified()
                ))
                .fix(format!(
                    "Capture the table: tenantguard scaffold audit-log --tables {object} (a trigger with the key baked in, old and new rows, actor and tenant); or, if the service records these changes itself in the same transaction, exempt the table for this rule in tenantguard.toml with that reason"
                )),
        );
    }
    out
}

/// The function's body writes into an audit table.
fn writes_audit(a: &Audit, f: &Function) -> bool {
    a.body_tables(f).iter().any(|u| u.writes && a.model.audit_tables.contains(&u.rel.oid))
}

/// tenantguard's C capture trigger (`--capture c`): its body is a symbol, so what it writes is
/// in the trigger's first argument, the schema of the audit log it appends to (`<schema>.log`).
fn c_capture_into_audit(a: &Audit, t: &Trigger, f: &Function) -> bool {
    f.language == "c"
        && f.source == "tg_capture"
        && t.args.first().is_some_and(|schema| {
            a.model.audit_tables.iter().filter_map(|o| a.relation(*o)).any(|r| r.schema == *schema && r.name == "log")
        })
}

/// The body calls one of `writers` by name (schema-qualified or not).
fn calls_any(f: &Function, writers: &[&Function]) -> bool {
    let src = strip_comments(&f.source).to_ascii_lowercase();
    writers.iter().any(|w| w.oid != f.oid && src.contains(&format!("{}(", w.name.to_ascii_lowercase())))
}
