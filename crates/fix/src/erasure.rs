//! `tenantguard scaffold erasure`: the right-to-be-forgotten cascade for one tenant, planned from
//! the catalog. Every table that holds tenant data is emptied of the tenant's rows — tables with a
//! tenant column directly, child tables through the foreign-key path to one — children before
//! parents, so no foreign key (with or without ON DELETE CASCADE) stops it; the tenant's own row
//! goes last. The plan is one SQL function that returns what it deleted per table, plus a
//! checklist for what lives outside the database.

use std::collections::{BTreeSet, HashMap};

use std::fmt::Write;

use tenantguard_catalog::{ConstraintKind, Oid, Relation};
use tenantguard_rules::tenant::TenantVia;
use tenantguard_rules::Audit;

use crate::sqltext::{column_type, ident};

/// One delete: the table, and how its rows reach the tenant.
struct Step<'a> {
    rel: &'a Relation,
    sql: String,
}

/// Tables that hold tenant data, in an order where every referencing table comes first.
fn order<'a>(audit: &'a Audit) -> (Vec<&'a Relation>, Vec<String>) {
    // The append-only audit log refuses DELETE by design; its payloads are erased by its own tool.
    let audit_schemas: BTreeSet<&str> = audit
        .model
        .audit_tables
        .iter()
        .filter_map(|o| audit.relation(*o))
        .map(|r| r.schema.as_str())
        .filter(|s| *s != "public")
        .collect();
    let tables: Vec<&Relation> = audit
        .tenant_tables()
        .filter(|r| !r.is_partition && !audit.model.audit_tables.contains(&r.oid) && !audit_schemas.contains(r.schema.as_str()))
        .collect();
    let set: BTreeSet<Oid> = tables.iter().map(|r| r.oid).collect();
    // parent -> children that reference it
    let mut referenced_by: HashMap<Oid, Vec<Oid>> = HashMap::new();
    for c in audit.snapshot.constraints.iter().filter(|c| c.kind == ConstraintKind::ForeignKey) {
        if let Some(p) = c.referenced_relation {
            if set.contains(&c.relation) && set.contains(&p) && p != c.relation {
                referenced_by.entry(p).or_default().push(c.relation);
            }
        }
    }
    let mut done: BTreeSet<Oid> = BTreeSet::new();
    let mut out = Vec::new();
    let mut notes = Vec::new();
    // Repeatedly take tables nothing undone references; what is left is a cycle.
    while done.len() < tables.len() {
        let ready: Vec<&Relation> = tables
            .iter()
            .copied()
            .filter(|r| !done.contains(&r.oid))
            .filter(|r| referenced_by.get(&r.oid).is_none_or(|kids| kids.iter().all(|k| done.contains(k))))
            .collect();
        if ready.is_empty() {
            let rest: Vec<String> = tables.iter().filter(|r| !done.contains(&r.oid)).map(|r| r.qualified().to_string()).collect();
            notes.push(format!("foreign keys form a cycle among {}: deleted in one statement order; make one of those keys DEFERRABLE if the function fails", rest.join(", ")));
            out.extend(tables.iter().copied().filter(|r| !done.contains(&r.oid)));
            break;
        }
        for r in ready {
            done.insert(r.oid);
            out.push(r);
        }
    }
    (out, notes)
}

/// The WHERE that selects the tenant's rows of `rel` (parameter `p_tenant`), following foreign keys.
fn selector(audit: &Audit, rel: &Relation, alias: &str, depth: usize) -> Option<String> {
    let t = audit.model.tables.get(&rel.oid)?;
    if let Some(col) = t.columns.first() {
        let ty = column_type(rel, col);
        return Some(format!("{alias}.{} = p_tenant::{ty}", ident(col)));
    }
    let TenantVia::ForeignKey { parent, columns } = &t.via else { return None };
    if depth > 6 {
        return None;
    }
    let p = audit.relation(*parent)?;
    let fk = audit.snapshot.constraints_on(rel.oid).find(|c| &c.columns == columns && c.referenced_relation == Some(*parent))?;
    let palias = format!("p{depth}");
    let join = fk
        .columns
        .iter()
        .zip(&fk.referenced_columns)
        .map(|(c, r)| format!("{palias}.{} = {alias}.{}", ident(r), ident(c)))
        .collect::<Vec<_>>()
        .join(" AND ");
    let inner = selector(audit, p, &palias, depth + 1)?;
    Some(format!("EXISTS (SELECT 1 FROM {} {palias} WHERE {join} AND {inner})", p.qualified()))
}

pub fn render(audit: &Audit, function_name: &str) -> String {
    let (ordered, mut notes) = order(audit);
    let mut steps: Vec<Step> = Vec::new();
    for rel in ordered {
        match selector(audit, rel, "t", 0) {
            Some(w) => steps.push(Step { rel, sql: format!("DELETE FROM {} t WHERE {w}", rel.qualified()) }),
            None => notes.push(format!("{}: no path to a tenant column; erase it by hand", rel.qualified())),
        }
    }
    // The table(s) of tenants: deleted last, by their key.
    let registries: Vec<(&Relation, String)> = audit
        .model
        .tables
        .values()
        .filter(|t| t.via == TenantVia::Registry)
        .filter_map(|t| Some((audit.relation(t.oid)?, t.columns.first()?.clone())))
        .collect();
    let tenant_type = registries
        .first()
        .map(|(r, key)| column_type(r, key))
        .or_else(|| audit.tenant_tables().find_map(|r| audit.model.tables.get(&r.oid)?.columns.first().map(|c| column_type(r, c))))
        .unwrap_or_else(|| "text".into());
    let mut out = String::new();
    let _ = writeln!(
        out,
        "-- Generated by `tenantguard scaffold erasure` from database {db}. Review before applying.\n\
         -- Erases one tenant: children before parents, the tenant's own row last. Run it as the\n\
         -- tables' owner (not the application role), inside a transaction you can check first:\n\
         --   BEGIN; SELECT * FROM {f}('<tenant>'); -- inspect the counts --  COMMIT;\n",
        db = audit.snapshot.database,
        f = function_name
    );
    let _ = writeln!(
        out,
        "CREATE OR REPLACE FUNCTION {function_name}(p_tenant {tenant_type})\nRETURNS TABLE (table_name text, deleted bigint)\nLANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $erase$\nDECLARE n bigint;\nBEGIN"
    );
    for s in &steps {
        let _ = writeln!(out, "    {};\n    GET DIAGNOSTICS n = ROW_COUNT; table_name := '{}'; deleted := n; RETURN NEXT;", s.sql, s.rel.qualified().to_string().replace('\'', "''"));
    }
    for (r, key) in &registries {
        let _ = writeln!(
            out,
            "    DELETE FROM {} WHERE {} = p_tenant;\n    GET DIAGNOSTICS n = ROW_COUNT; table_name := '{}'; deleted := n; RETURN NEXT;",
            r.qualified(),
            ident(key),
            r.qualified().to_string().replace('\'', "''")
        );
    }
    out.push_str("END $erase$;\n");
    let _ = writeln!(out, "REVOKE ALL ON FUNCTION {function_name}({tenant_type}) FROM PUBLIC;\n");
    out.push_str(
        "-- Outside the database (the cascade is not done until these are):\n\
         --   [ ] caches keyed by the tenant (flush its keys/prefix)\n\
         --   [ ] search indexes (delete the tenant's documents)\n\
         --   [ ] object storage and exports (delete the tenant's prefix, expire signed URLs)\n\
         --   [ ] queued jobs and outbox rows already consumed by other systems\n\
         --   [ ] backups: record the erasure so restores re-apply it\n\
         --   [ ] the audit log: erase payloads with `tenantguard audit-log erase` (the chain still verifies)\n",
    );
    if !notes.is_empty() {
        out.push_str("\n-- Notes:\n");
        for n in notes {
            let _ = writeln!(out, "--   {n}");
        }
    }
    out
}
