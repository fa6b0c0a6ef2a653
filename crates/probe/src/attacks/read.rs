//! Reads: B's rows from a table, a view, or a row-returning function, with A's context.

use tokio_postgres::Client;

use super::table::{begin, ensure, rollback, user_for, Scope};
use super::{short, Built, ContextSpec};
use crate::matrix::{Attempt, Operation, Outcome, ProbeResult};
use crate::sql::lit;
use crate::synth::fill;
use crate::targets::{tenant_literal, FunctionTarget, TableTarget, Targets, ViewTarget};

pub fn select(t: &TableTarget, expr: &str, s: &Scope) -> Built {
    let (attack, verify) = match &t.direct_column {
        // The row carries its tenant: count B's rows directly (what the app sees is the proof).
        Some(col) => (format!("SELECT count(*)::text FROM {} x WHERE x.{col} = {}", t.sql, tenant_literal(&s.b, t.tenant_type.as_ref())), None),
        // A child table: collect what the app sees, then attribute it as the login, since the
        // parent's own policies would hide the tenant from the app.
        None => (
            format!("SELECT coalesce(json_agg(k), '[]')::text FROM (SELECT {} AS k FROM {} x LIMIT 100000) s", t.key_expr, t.sql),
            Some(format!("SELECT count(*) FROM {} x WHERE {} AND ({expr})::text = {}", t.sql, t.key_pred.replace("$1::json->'keys'", "$2::json"), lit(&s.b))),
        ),
    };
    let (a, b) = (short(&s.a), short(&s.b));
    Ok((
        Attempt { role: s.role.into(), context: s.context(), prepare: None, attack, reads: true, verify, delta: false },
        Box::new(move |n| format!("with tenant {a}'s context the app role read {n} row(s) of tenant {b}")),
        format!("tenant {}'s context reads none of tenant {}'s rows", short(&s.a), short(&s.b)),
    ))
}

pub async fn attack_view(client: &Client, fresh: &Client, targets: &Targets, v: &ViewTarget, role: &str, ctx: &ContextSpec, pair: &(String, String)) -> Vec<ProbeResult> {
    if let Err(e) = begin(client).await {
        return vec![ProbeResult::new(&v.display, Operation::Select, Outcome::Error, e)];
    }
    let mut setup = Vec::new();
    for oid in &v.reads {
        let _ = ensure(client, targets, *oid, Some(&pair.1), 0, &mut setup).await;
    }
    let user = match user_for(client, targets, &pair.0, &pair.1, &mut setup).await {
        Ok(u) => u,
        Err(e) => {
            rollback(client).await;
            return vec![ProbeResult::new(&v.display, Operation::Select, Outcome::Skipped, e)];
        }
    };
    let s = Scope { role, ctx, a: pair.0.clone(), b: pair.1.clone(), user };
    let mut out = Vec::new();
    let select: Built = match &v.tenant_column {
        Some(col) => {
            let (a, b) = (short(&s.a), short(&s.b));
            Ok((
                Attempt { role: role.into(), context: s.context(), prepare: None, attack: format!("SELECT count(*)::text FROM {} x WHERE (x.{col})::text = {}", v.sql, lit(&s.b)), reads: true, verify: None, delta: false },
                Box::new(move |n| format!("with tenant {a}'s context the view returned {n} row(s) of tenant {b}")),
                format!("tenant {}'s context sees none of tenant {}'s rows through the view", short(&s.a), short(&s.b)),
            ))
        }
        None => Err("the view exposes no tenant column, so its rows cannot be attributed to a tenant (no-context still shows whether it returns anything)".into()),
    };
    let none: Built = Ok((
        Attempt { role: role.into(), context: ContextSpec::none(), prepare: None, attack: format!("SELECT count(*)::text FROM {}", v.sql), reads: true, verify: None, delta: false },
        Box::new(|n| format!("with no tenant set the view returned {n} row(s): it does not fail closed")),
        "with no tenant set the view returns nothing".into(),
    ));
    let empty: Built = Ok((
        Attempt { role: role.into(), context: ctx.empty(), prepare: None, attack: format!("SELECT count(*)::text FROM {}", v.sql), reads: true, verify: None, delta: false },
        Box::new(|n| format!("with an empty tenant the view returned {n} row(s)")),
        "with an empty tenant the view returns nothing".into(),
    ));
    for (op, built) in [(Operation::Select, select), (Operation::EmptyContext, empty)] {
        let mut r = match built {
            Ok((attempt, leak, iso)) => {
                let raw = super::run_attempt(client, &attempt).await;
                super::classify(&v.display, op, attempt, &raw, leak, &iso)
            }
            Err(why) => ProbeResult::new(&v.display, op, Outcome::Skipped, why),
        };
        r.setup = setup.clone();
        out.push(r);
    }
    rollback(client).await;
    if let Ok((attempt, leak, iso)) = none {
        let rows: Vec<(u32, String)> = v.reads.iter().map(|o| (*o, pair.1.clone())).collect();
        let (raw, setup) = super::table::on_fresh(fresh, targets, &rows, &attempt).await;
        let mut r = super::classify(&v.display, Operation::NoContext, attempt, &raw, leak, &iso);
        r.setup = setup;
        out.push(r);
    }
    out
}

pub async fn attack_function(client: &Client, targets: &Targets, f: &FunctionTarget, role: &str, ctx: &ContextSpec, pair: &(String, String)) -> Vec<ProbeResult> {
    let (Some(call), None) = (&f.call, &f.skip) else {
        return vec![ProbeResult::new(&f.display, Operation::Select, Outcome::Skipped, f.skip.clone().unwrap_or_default())];
    };
    if let Err(e) = begin(client).await {
        return vec![ProbeResult::new(&f.display, Operation::Select, Outcome::Error, e)];
    }
    let mut setup = Vec::new();
    for oid in &f.reads {
        let _ = ensure(client, targets, *oid, Some(&pair.1), 0, &mut setup).await;
    }
    let user = match user_for(client, targets, &pair.0, &pair.1, &mut setup).await {
        Ok(u) => u,
        Err(e) => {
            rollback(client).await;
            return vec![ProbeResult::new(&f.display, Operation::Select, Outcome::Skipped, e)];
        }
    };
    let b = lit(&pair.1);
    let tests: Vec<String> = targets.tenant_columns.iter().map(|c| format!("to_jsonb(r) ->> {} = {b}", lit(c))).collect();
    let attack = format!("SELECT count(*)::text FROM {} r WHERE {} OR to_jsonb(r) #>> '{{}}' = {b}", fill(call, &pair.1), tests.join(" OR "));
    let (sa, sb) = (short(&pair.0), short(&pair.1));
    let attempt = Attempt { role: role.into(), context: ctx.as_user(&pair.0, user.as_deref()), prepare: None, attack, reads: true, verify: None, delta: false };
    let raw = super::run_attempt(client, &attempt).await;
    let mut r = super::classify(
        &f.display,
        Operation::Select,
        attempt,
        &raw,
        move |n| format!("with tenant {sa}'s context the function returned {n} row(s) of tenant {sb}"),
        &format!("with tenant {}'s context the function returns none of tenant {}'s rows", short(&pair.0), short(&pair.1)),
    );
    r.setup = setup;
    rollback(client).await;
    vec![r]
}
