//! Writes with A's context: a row for B, B's rows changed or deleted, A's rows moved to B.
//! A write counts as a leak only when the login, back from the app role inside the same
//! (aborted) subtransaction, sees that it really landed in B.

use super::table::Scope;
use super::{short, Built};
use crate::matrix::Attempt;
use crate::sql::{ident, lit};
use crate::synth::{fill, synthetic_tenants};
use crate::targets::TableTarget;

/// Up to 50 of one tenant's rows, as json keys (`$1::json->'keys'` in the attack).
fn keys_of(t: &TableTarget, expr: &str, tenant: &str) -> String {
    format!("SELECT json_agg(k) FROM (SELECT {} AS k FROM {} x WHERE ({expr})::text = {} LIMIT 50) s", t.key_expr, t.sql, lit(tenant))
}

fn count_of(t: &TableTarget, expr: &str, tenant: &str) -> String {
    format!("SELECT count(*) FROM {} x WHERE ({expr})::text = {}", t.sql, lit(tenant))
}

pub fn insert(t: &TableTarget, expr: &str, s: &Scope) -> Built {
    let template = t.template.as_ref().map_err(|e| format!("no row can be synthesised: {e}"))?;
    // The registry's key is the tenant: B already has its row, so aim at a new tenant that is not A.
    let target = if t.registry {
        let (x, y) = synthetic_tenants(t.tenant_type.as_ref());
        if x != s.a && x != s.b { x } else { y }
    } else {
        s.b.clone()
    };
    let mut row = "r".to_string();
    let mut cols: Vec<String> = template.columns.clone();
    // The membership table: the row makes the attacking user a member of B (what a user
    // who may write their own memberships would do), so the user column is theirs.
    let member = match (&t.membership_user, &s.user) {
        (Some(col), Some(u)) => {
            row = format!("jsonb_set(to_jsonb(r), ARRAY[{}], to_jsonb({}::text))", lit(col), lit(u));
            if !cols.contains(&ident(col)) {
                cols.push(ident(col));
            }
            Some(u.clone())
        }
        _ => None,
    };
    let prepare = format!("SELECT json_build_object('row', {row})::text FROM (SELECT {} AS r) j WHERE r IS NOT NULL", fill(&template.json(), &target));
    let cols = cols.join(", ");
    let attack = format!(
        "INSERT INTO {table} ({cols}) OVERRIDING SYSTEM VALUE SELECT {cols} FROM json_populate_record(NULL::{table}, $1::json->'row')",
        table = t.sql
    );
    let (a, b) = (short(&s.a), short(&target));
    Ok((
        Attempt { role: s.role.into(), context: s.context(), prepare: Some(prepare), attack, reads: false, verify: Some(count_of(t, expr, &target)), delta: true },
        Box::new(move |n| match &member {
            Some(u) => format!(
                "as user {} (a member of tenant {a}) the app role inserted {n} membership row(s) for themself in tenant {b}: every table scoped through this membership now opens tenant {b}'s rows to them",
                short(u)
            ),
            None => format!("with tenant {a}'s context the app role inserted {n} row(s) that landed in tenant {b}"),
        }),
        format!("tenant {}'s context cannot insert a row for tenant {}", short(&s.a), short(&target)),
    ))
}

/// UPDATE or DELETE with no WHERE clause, as an attacker would write it: a filter on any
/// column (even ctid) makes PostgreSQL apply the SELECT policies too, which would hide a
/// write policy that lets everything through. The login then counts how many of B's rows
/// (up to 50, chosen beforehand) no longer sit where they were.
pub fn update(t: &TableTarget, expr: &str, s: &Scope, delete: bool, filtered: bool) -> Built {
    let prepare = format!(
        "SELECT json_build_object('keys', k, 'row', (SELECT row_to_json(x) FROM {} x WHERE ({expr})::text = {} LIMIT 1))::text FROM ({}) j(k) WHERE k IS NOT NULL",
        t.sql,
        lit(&s.b),
        keys_of(t, expr, &s.b)
    );
    // `filtered`: the fallback when the unfiltered write trips over A's rows (a foreign key
    // restricting the delete, a unique column): B's rows only, where SELECT policies apply too.
    let filter = if filtered { format!(" WHERE {}", t.key_pred) } else { String::new() };
    let attack = if delete {
        format!("DELETE FROM {}{filter}", t.sql)
    } else {
        // Assign a value taken from one of B's rows (not the column itself, which would be a read).
        let col = t.update_column.as_ref().ok_or("the table has no column that can be updated")?;
        format!("UPDATE {table} SET {col} = (SELECT {col} FROM json_populate_record(NULL::{table}, $1::json->'row')){filter}", table = t.sql)
    };
    let verify = format!(
        "SELECT json_array_length($1::json->'keys') - count(*) FROM {} WHERE {}",
        t.sql, t.key_pred
    );
    let (a, b) = (short(&s.a), short(&s.b));
    let verb = if delete { "deleted" } else { "updated" };
    Ok((
        Attempt { role: s.role.into(), context: s.context(), prepare: Some(prepare), attack, reads: false, verify: Some(verify), delta: false },
        Box::new(move |n| format!("with tenant {a}'s context the app role {verb} {n} row(s) of tenant {b}")),
        format!("tenant {}'s context cannot {} tenant {}'s rows", short(&s.a), if delete { "delete" } else { "update" }, short(&s.b)),
    ))
}

/// Re-point A's rows at B: the tenant columns, and foreign keys that carry the tenant, take a B row's values.
pub fn moving(t: &TableTarget, expr: &str, s: &Scope) -> Built {
    if t.registry {
        return Err("the table of tenants itself: its key is the tenant, so there is nothing to move".into());
    }
    let template = t.template.as_ref().map_err(|e| format!("no row for tenant B can be synthesised: {e}"))?;
    if t.move_columns.is_empty() {
        return Err("no column carries the tenant".into());
    }
    let prepare = format!(
        "SELECT json_build_object('keys', k, 'row', r)::text FROM ({}) a(k), (SELECT {} AS r) b WHERE k IS NOT NULL AND r IS NOT NULL",
        keys_of(t, expr, &s.a),
        fill(&template.json(), &s.b)
    );
    // No WHERE clause (see `update`): every row the app can update is re-pointed at B.
    let cols = t.move_columns.join(", ");
    let attack = format!(
        "UPDATE {table} SET ({cols}) = (SELECT {cols} FROM json_populate_record(NULL::{table}, $1::json->'row'))",
        table = t.sql
    );
    let (a, b) = (short(&s.a), short(&s.b));
    Ok((
        Attempt { role: s.role.into(), context: s.context(), prepare: Some(prepare), attack, reads: false, verify: Some(count_of(t, expr, &s.b)), delta: true },
        Box::new(move |n| format!("with tenant {a}'s context the app role moved {n} of its row(s) into tenant {b}")),
        format!("tenant {}'s context cannot move its rows to tenant {}", short(&s.a), short(&s.b)),
    ))
}
