//! What this server still lets someone do unseen: verify says so instead of claiming more.

use serde::Serialize;
use tokio_postgres::Transaction;

use crate::db::UseError;

#[derive(Debug, Clone, Serialize)]
pub struct Hole {
    pub code: &'static str,
    pub detail: String,
}

pub async fn find_holes(tx: &Transaction<'_>, schema: &str, anchored: bool, unsealed: u64) -> Result<Vec<Hole>, UseError> {
    let db = |e: tokio_postgres::Error| UseError::Other(format!("reading the catalog failed: {e}"));
    let mut holes = vec![];
    let supers: Vec<String> = tx
        .query("SELECT rolname FROM pg_roles WHERE rolsuper AND rolcanlogin ORDER BY 1", &[])
        .await
        .map_err(db)?
        .iter()
        .map(|r| r.get(0))
        .collect();
    if !supers.is_empty() {
        let caught = if anchored {
            "rewrites up to the anchored heads are caught; later ones are not"
        } else {
            "without --anchor a recomputed chain verifies"
        };
        holes.push(Hole {
            code: "superuser",
            detail: format!("login superusers ({}) can rewrite rows and recompute chains; {caught}", supers.join(", ")),
        });
    }
    let weak: Vec<String> = tx
        .query(
            "SELECT format('%s on %s is %s', t.tgname, t.tgrelid::regclass,
                    CASE t.tgenabled WHEN 'D' THEN 'disabled' WHEN 'O' THEN 'silenced by replica mode'
                                     ELSE 'fired only in replica mode' END)
               FROM pg_trigger t
              WHERE t.tgname LIKE 'audit\\_%' AND t.tgenabled <> 'A'
                AND (t.tgrelid = to_regclass(format('%I.log', $1::text)) OR t.tgrelid = to_regclass(format('%I.head', $1::text))
                     OR t.tgrelid = to_regclass(format('%I.link_run', $1::text)) OR t.tgname = 'audit_capture')",
            &[&schema],
        )
        .await
        .map_err(db)?
        .iter()
        .map(|r| r.get(0))
        .collect();
    if !weak.is_empty() {
        holes.push(Hole { code: "replica_mode", detail: format!("guard triggers not ENABLE ALWAYS: {}", weak.join("; ")) });
    }
    let evt = tx
        .query_opt("SELECT evtenabled::text FROM pg_event_trigger WHERE evtname = $1", &[&format!("{schema}_guard_ddl")])
        .await
        .map_err(db)?;
    match evt.map(|r| r.get::<_, String>(0)) {
        None => holes.push(Hole { code: "event_trigger", detail: "the DDL guard event trigger is missing: guards can be disabled unnoticed".into() }),
        Some(s) if s == "D" => {
            holes.push(Hole { code: "event_trigger", detail: "the DDL guard event trigger is disabled: guards can be disabled unnoticed".into() })
        }
        Some(_) => {}
    }
    let writers: Vec<String> = tx
        .query(
            "SELECT r.rolname FROM pg_roles r
              WHERE NOT r.rolsuper AND r.oid <> (SELECT relowner FROM pg_class WHERE oid = to_regclass(format('%I.log', $1::text)))
                AND has_table_privilege(r.oid, to_regclass(format('%I.log', $1::text)), 'INSERT,UPDATE,DELETE,TRUNCATE')
                AND r.rolname NOT LIKE 'pg\\_%' ORDER BY 1",
            &[&schema],
        )
        .await
        .map_err(db)?
        .iter()
        .map(|r| r.get(0))
        .collect();
    if !writers.is_empty() {
        holes.push(Hole { code: "privileges", detail: format!("roles that may write the log directly: {}", writers.join(", ")) });
    }
    if unsealed > 0 {
        holes.push(Hole {
            code: "unsealed",
            detail: format!("{unsealed} rows are not sealed yet: until sealed, a superuser can change or drop them unseen"),
        });
    }
    if !anchored {
        holes.push(Hole { code: "no_anchor", detail: "no anchor given: a deleted tail with a matching head, or a recomputed chain, is not caught".into() });
    }
    Ok(holes)
}
