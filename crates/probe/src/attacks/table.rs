//! One tenant table: choose tenants A and B, make sure both have rows (synthesising them
//! when needed), then every operation. Runs in one transaction that is rolled back.

use tokio_postgres::Client;

use super::{context, read, write, ContextSpec};
use crate::matrix::{Operation, Outcome, ProbeResult};
use crate::sql::{lit, HELPER, TIMEOUTS};
use crate::synth::{fill, TENANT};
use crate::targets::{TableTarget, Targets, Template};

/// What every attempt on one object needs.
pub struct Scope<'a> {
    pub role: &'a str,
    pub ctx: &'a ContextSpec,
    pub a: String,
    pub b: String,
    /// A user who is a member of A and not of B, when tenants are resolved through users.
    pub user: Option<String>,
}

impl Scope<'_> {
    /// Tenant A's context (as A's user when there is one).
    pub fn context(&self) -> serde_json::Value {
        self.ctx.as_user(&self.a, self.user.as_deref())
    }
}

pub const TABLE_OPS: [Operation; 7] = [
    Operation::Select,
    Operation::Insert,
    Operation::Update,
    Operation::Delete,
    Operation::Move,
    Operation::NoContext,
    Operation::EmptyContext,
];

/// Open the attack transaction: timeouts, the helper. Everything after is rolled back.
pub async fn begin(client: &Client) -> Result<(), String> {
    client
        .batch_execute(&format!("BEGIN; {TIMEOUTS}; {HELPER}"))
        .await
        .map_err(|e| format!("cannot start the attack transaction: {}", tenantguard_catalog::reader::error_text(&e)))
}

pub async fn rollback(client: &Client) {
    let _ = client.batch_execute("ROLLBACK").await;
}

pub fn skipped_all(object: &str, ops: &[Operation], why: &str) -> Vec<ProbeResult> {
    ops.iter().map(|op| ProbeResult::new(object, *op, Outcome::Skipped, why)).collect()
}

/// Run one attempt on the worker's pristine connection, which never sets a tenant setting:
/// once a custom setting has been set on a connection (even in a rolled-back transaction)
/// it reads '' instead of NULL afterwards, so "no context" is only honest on a connection
/// that never had one. Rows are ensured there too, in its own rolled-back transaction.
pub async fn on_fresh(fresh: &Client, targets: &Targets, ensure_rows: &[(u32, String)], attempt: &crate::matrix::Attempt) -> (String, Vec<String>) {
    if let Err(e) = begin(fresh).await {
        return (format!("prepare:XX000:{e}"), Vec::new());
    }
    let mut setup = Vec::new();
    for (oid, tenant) in ensure_rows {
        let _ = ensure(fresh, targets, *oid, Some(tenant), 0, &mut setup).await;
    }
    let raw = super::run_attempt(fresh, attempt).await;
    rollback(fresh).await;
    (raw, setup)
}

#[allow(clippy::too_many_arguments)]
pub async fn attack_table(client: &Client, fresh: &Client, targets: &Targets, t: &TableTarget, role: &str, peers: &[String], ctx: &ContextSpec, pair: &(String, String), fixed: bool) -> Vec<ProbeResult> {
    if let Some(why) = &t.skip {
        return skipped_all(&t.display, &TABLE_OPS, why);
    }
    if t.role_pinned && t.tenant_type.as_ref().is_some_and(|ty| ty.category != 'S') {
        return skipped_all(
            &t.display,
            &TABLE_OPS,
            &format!("its policies pin the role itself (current_user), but its tenant column is {}, not a role name: the probe attacks role-per-tenant tables whose rows carry the role's name", t.tenant_type.as_ref().map(|ty| ty.format.as_str()).unwrap_or("?")),
        );
    }
    let Some(expr) = t.tenant_expr.clone() else {
        return skipped_all(&t.display, &TABLE_OPS, "the tenant of its rows cannot be traced (no tenant column, and the foreign key to a tenant table could not be followed)");
    };
    if let Err(e) = begin(client).await {
        return vec![ProbeResult::new(&t.display, Operation::Select, Outcome::Error, e)];
    }
    let out = async {
        let (a, b) = if t.role_pinned {
            role_pair(client, t, &expr, role, peers).await?
        } else if fixed {
            pair.clone()
        } else {
            choose(client, t, &expr, pair).await?
        };
        let mut setup = Vec::new();
        let mut missing = Vec::new();
        for tenant in [&a, &b] {
            if let Err(why) = ensure(client, targets, t.oid, Some(tenant), 0, &mut setup).await {
                missing.push(why);
            }
        }
        let user = if t.role_pinned { None } else { user_for(client, targets, &a, &b, &mut setup).await? };
        let scope = Scope { role, ctx, a, b, user };
        let mut results = Vec::new();
        let mut pending = None;
        for op in TABLE_OPS {
            let attempt = match op {
                Operation::Select => read::select(t, &expr, &scope),
                Operation::Insert => write::insert(t, &expr, &scope),
                Operation::Update => write::update(t, &expr, &scope, false, false),
                Operation::Delete => write::update(t, &expr, &scope, true, false),
                Operation::Move => write::moving(t, &expr, &scope),
                Operation::NoContext => context::none(t, &scope),
                _ => context::empty(t, &scope),
            };
            let mut r = match attempt {
                // Later, on the pristine connection, once this transaction (and its rows) is gone.
                Ok(built) if op == Operation::NoContext => {
                    pending = Some((built, [(t.oid, scope.a.clone()), (t.oid, scope.b.clone())]));
                    continue;
                }
                Ok((attempt, leak, isolated)) => {
                    let raw = super::run_attempt(client, &attempt).await;
                    let clash = raw.starts_with("attack:23503:") || raw.starts_with("attack:23505:");
                    match op {
                        Operation::Update | Operation::Delete if clash => {
                            let first = raw.splitn(3, ':').nth(2).unwrap_or("").to_string();
                            match write::update(t, &expr, &scope, op == Operation::Delete, true) {
                                Ok((attempt, leak, isolated)) => {
                                    let raw = super::run_attempt(client, &attempt).await;
                                    let mut r = super::classify(&t.display, op, attempt, &raw, leak, &isolated);
                                    r.detail = format!("{} (the unfiltered attempt hit \"{first}\"; retried on B's rows only, where SELECT policies apply too)", r.detail);
                                    r
                                }
                                Err(why) => ProbeResult::new(&t.display, op, Outcome::Skipped, why),
                            }
                        }
                        _ => super::classify(&t.display, op, attempt, &raw, leak, &isolated),
                    }
                }
                Err(why) => ProbeResult::new(&t.display, op, Outcome::Skipped, why),
            };
            if r.outcome == Outcome::Skipped && !missing.is_empty() && r.detail.starts_with("no rows") {
                r.detail = format!("{}: {}", r.detail, missing.join("; "));
            }
            r.setup = setup.clone();
            results.push(r);
        }
        Ok::<_, String>((results, pending))
    }
    .await;
    rollback(client).await;
    match out {
        Ok((mut results, pending)) => {
            if let Some(((attempt, leak, isolated), rows)) = pending {
                let (raw, setup) = on_fresh(fresh, targets, &rows, &attempt).await;
                let mut r = super::classify(&t.display, Operation::NoContext, attempt, &raw, leak, &isolated);
                r.setup = setup;
                results.push(r);
            }
            results
        }
        Err(e) => vec![ProbeResult::new(&t.display, Operation::Select, Outcome::Error, e)],
    }
}

/// Role per tenant: A is the attacking role's own name, B another app role's (or another
/// value from the data, or a synthetic one).
async fn role_pair(client: &Client, t: &TableTarget, expr: &str, role: &str, peers: &[String]) -> Result<(String, String), String> {
    if let Some(b) = peers.iter().find(|p| p.as_str() != role) {
        return Ok((role.to_string(), b.clone()));
    }
    let other = one(client, &format!("SELECT ({expr})::text FROM {} x WHERE ({expr})::text <> {} LIMIT 1", t.sql, lit(role))).await?;
    Ok((role.to_string(), other.unwrap_or_else(|| "tenantguard-probe-b".into())))
}

/// A user id that is a member of tenant `a` and not of `b`, from the membership table, or
/// synthesised there (as the probing login, rolled back). `None` when no policy resolves
/// tenants through users. Without a membership table, a synthetic user who belongs nowhere.
pub async fn user_for(client: &Client, targets: &Targets, a: &str, b: &str, setup: &mut Vec<String>) -> Result<Option<String>, String> {
    let id = &targets.identity;
    if !id.identity {
        return Ok(None);
    }
    let Some(m) = &id.membership else {
        return Ok(Some(synthetic_user(None)));
    };
    let (u, tc) = (&m.user_column, &m.tenant_column);
    let found = one(
        client,
        &format!(
            "SELECT x.{u}::text FROM {ms} x WHERE x.{tc}::text = {la} AND x.{u} IS NOT NULL \
               AND NOT EXISTS (SELECT 1 FROM {ms} y WHERE y.{u} = x.{u} AND y.{tc}::text = {lb}) LIMIT 1",
            ms = m.sql,
            la = lit(a),
            lb = lit(b)
        ),
    )
    .await?;
    if found.is_some() {
        return Ok(found);
    }
    let mt = targets.table(m.oid).ok_or_else(|| format!("membership table {} is not among the targets", m.display))?;
    let owned = a.to_string();
    for (p, scoped) in mt.parents.clone() {
        ensure(client, targets, p, if scoped { Some(&owned) } else { None }, 1, setup).await?;
    }
    let mut template = mt.template.clone().map_err(|e| format!("cannot synthesise a member of tenant {a} in {}: {e}", m.display))?;
    let user = synthetic_user(m.user_type.as_ref());
    let value = match &m.user_type {
        Some(ty) => format!("CAST({} AS {})", lit(&user), ty.format),
        None => lit(&user),
    };
    match template.columns.iter().position(|c| c == u) {
        // A user column that is a foreign key (to a users table) keeps its parent's value.
        Some(i) if template.exprs[i].starts_with('f') => {}
        Some(i) => template.exprs[i] = value,
        None => {
            template.columns.push(u.clone());
            template.exprs.push(value);
        }
    }
    // The member belongs to tenant A: a tenant column the tenant model does not know (one
    // `[membership]` names) would otherwise get an arbitrary value.
    let tenant_value = match &m.tenant_type {
        Some(ty) => format!("CAST({TENANT} AS {})", ty.format),
        None => TENANT.to_string(),
    };
    match template.columns.iter().position(|c| c == tc) {
        Some(i) if tenant_bound(&template, &template.exprs[i]) => {}
        Some(i) => template.exprs[i] = tenant_value,
        None => {
            template.columns.push(tc.clone());
            template.exprs.push(tenant_value);
        }
    }
    let sql = format!("{} RETURNING {u}::text", fill(&template.insert(&mt.sql), a));
    client.batch_execute("SAVEPOINT tg_member").await.map_err(|e| tenantguard_catalog::reader::error_text(&e))?;
    match one(client, &sql).await {
        Ok(Some(v)) => {
            let _ = client.batch_execute("RELEASE SAVEPOINT tg_member").await;
            setup.push(sql.trim_end_matches(&format!(" RETURNING {u}::text")).to_string());
            Ok(Some(v))
        }
        Ok(None) => {
            let _ = client.batch_execute("ROLLBACK TO SAVEPOINT tg_member").await;
            Err(format!("cannot synthesise a member of tenant {a} in {}: a parent row is missing", m.display))
        }
        Err(e) => {
            let _ = client.batch_execute("ROLLBACK TO SAVEPOINT tg_member").await;
            Err(format!("cannot synthesise a member of tenant {a} in {}: {e}", m.display))
        }
    }
}

/// A template value that already carries the tenant: the placeholder itself, or a column of
/// a parent row chosen by tenant (`fN.col` with `fN`'s subquery filtered on the placeholder).
fn tenant_bound(template: &Template, expr: &str) -> bool {
    if expr.contains(TENANT) {
        return true;
    }
    let Some((alias, _)) = expr.split_once('.') else { return false };
    template.from.iter().any(|f| f.ends_with(&format!(" {alias}")) && f.contains(TENANT))
}

/// A user id of the membership table's user type that no real user is likely to have.
pub fn synthetic_user(ty: Option<&crate::synth::ColType>) -> String {
    match ty.map(|t| (t.category, t.base.as_str())) {
        Some(('N', _)) => "2146999101".into(),
        Some(('S', _)) => "tenantguard-probe-user".into(),
        _ => "7e9a0000-0000-4000-8000-0000000000a1".into(),
    }
}

/// Two tenants from the table's own data when it has them; the run's pair fills the gaps.
async fn choose(client: &Client, t: &TableTarget, expr: &str, pair: &(String, String)) -> Result<(String, String), String> {
    let first = one(client, &format!("SELECT ({expr})::text FROM {} x WHERE ({expr}) IS NOT NULL LIMIT 1", t.sql)).await?;
    let Some(a) = first else { return Ok(pair.clone()) };
    let second = one(client, &format!("SELECT ({expr})::text FROM {} x WHERE ({expr})::text <> {} LIMIT 1", t.sql, lit(&a))).await?;
    Ok(match second {
        Some(b) => (a, b),
        None if pair.1 != a => (a, pair.1.clone()),
        None => (a, pair.0.clone()),
    })
}

async fn one(client: &Client, sql: &str) -> Result<Option<String>, String> {
    let rows = client.simple_query(sql).await.map_err(|e| tenantguard_catalog::reader::error_text(&e))?;
    Ok(rows.iter().find_map(|m| match m {
        tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_string),
        _ => None,
    }))
}

/// Make sure `oid` has a row for `tenant` (any row, for a global table), writing one as the
/// probing login when it has none; parents first. The statements go to `setup`.
pub fn ensure<'a>(
    client: &'a Client,
    targets: &'a Targets,
    oid: u32,
    tenant: Option<&'a String>,
    depth: usize,
    setup: &'a mut Vec<String>,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>> + Send + 'a>> {
    Box::pin(async move {
        let Some(t) = targets.table(oid) else { return Err(format!("table {oid} is not in the snapshot")) };
        if depth > 6 {
            return Err(format!("foreign keys nest too deep at {}", t.display));
        }
        let filter = match (tenant, &t.tenant_expr) {
            (Some(tn), Some(e)) if t.tenant_scoped => format!(" WHERE ({e})::text = {}", lit(tn)),
            _ => String::new(),
        };
        if one(client, &format!("SELECT 1 FROM {} x{filter} LIMIT 1", t.sql)).await?.is_some() {
            return Ok(());
        }
        for (p, scoped) in t.parents.clone() {
            ensure(client, targets, p, if scoped { tenant } else { None }, depth + 1, setup).await?;
        }
        let template = t.template.as_ref().map_err(|e| format!("cannot synthesise a row in {}: {e}", t.display))?;
        let sql = fill(&template.insert(&t.sql), tenant.map(String::as_str).unwrap_or(""));
        // Another worker may be synthesising the same parent (the same new tenant) right now:
        // its transaction is short, so a lock timeout or deadlock is worth one more try.
        let mut last = String::new();
        for _ in 0..3 {
            client.batch_execute("SAVEPOINT tg_synth").await.map_err(|e| tenantguard_catalog::reader::error_text(&e))?;
            match client.execute(sql.as_str(), &[]).await {
                Ok(1) => {
                    let _ = client.batch_execute("RELEASE SAVEPOINT tg_synth").await;
                    setup.push(sql);
                    return Ok(());
                }
                Ok(_) => {
                    let _ = client.batch_execute("ROLLBACK TO SAVEPOINT tg_synth").await;
                    return Err(format!("cannot synthesise a row in {}: a parent row it needs is missing", t.display));
                }
                Err(e) => {
                    let _ = client.batch_execute("ROLLBACK TO SAVEPOINT tg_synth").await;
                    last = tenantguard_catalog::reader::error_text(&e);
                    let state = e.code().map(|c| c.code().to_string()).unwrap_or_default();
                    if state != "55P03" && state != "40P01" {
                        break;
                    }
                }
            }
        }
        Err(format!("cannot synthesise a row in {}: {last}", t.display))
    })
}
