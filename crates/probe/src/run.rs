//! Orchestration: read the snapshot, build the targets, attack them over a small pool of
//! connections (each attempt in its own rolled-back transaction), then the session and
//! login checks, and note anything a rollback could not undo.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use anyhow::{anyhow, bail, Context};
use tenantguard_catalog::reader::{connect, error_text, redact};
use tenantguard_catalog::{read_snapshot, ReadOptions};
use tenantguard_catalog::Oid;
use tenantguard_rules::{Audit, Config};
use tokio_postgres::Client;

use crate::attacks::{login, read, session, table, ContextSpec};
use crate::fingerprint;
use crate::identity::{self, IdentityModel};
use crate::matrix::{Matrix, ProbeResult};
use crate::sql::ident;
use crate::synth::{column_types, synthetic_tenants};
use crate::targets::{self, FunctionArgs, FunctionInfo, Targets};

#[derive(Debug, Clone)]
pub struct ProbeOptions {
    /// A login that can `SET ROLE` to the app role and read every row (superuser, or owner with BYPASSRLS).
    pub url: String,
    /// The app role's own login URL, for the login-default check.
    pub app_url: Option<String>,
    pub config: Config,
    pub tenants: Option<(String, String)>,
    /// Connections attacking in parallel (2-4 is plenty; each attempt is short).
    pub connections: usize,
}

async fn session(url: &str) -> anyhow::Result<Client> {
    let client = connect(url).await?;
    // Session settings only (nothing in the database): literal quoting relies on the first.
    client
        .batch_execute("SET standard_conforming_strings = on; SET application_name = 'tenantguard-probe'")
        .await
        .map_err(|e| anyhow!("cannot configure the session: {}", error_text(&e)))?;
    Ok(client)
}

pub async fn probe(opts: &ProbeOptions) -> anyhow::Result<Matrix> {
    let client = session(&opts.url).await.with_context(|| format!("probing {}", redact(&opts.url)))?;
    let snapshot = read_snapshot(&client, &ReadOptions::default()).await?;
    let audit = Audit::new(&snapshot, &opts.config);
    if !audit.model.missing_app_roles.is_empty() {
        bail!(
            "app role {} does not exist in database {}; check --app-role / app_roles",
            audit.model.missing_app_roles.join(", "),
            snapshot.database
        );
    }
    if audit.model.app_roles.is_empty() {
        bail!("no application role found: pass --app-role ROLE (the role the application queries as)");
    }
    let roles: Vec<(Oid, String)> = audit.model.app_roles.iter().map(|o| (*o, audit.access.role_name(*o))).collect();
    for (_, role) in &roles {
        check_set_role(&client, &snapshot.read_as, role).await?;
    }
    let first = roles[0].1.clone();
    let mut notes = Vec::new();
    if !snapshot.unreadable.is_empty() {
        notes.push(format!("parts of the catalog could not be read, so some targets may be missing: {}", snapshot.unreadable.join("; ")));
    }
    if let Some(why) = &audit.model.app_roles_assumed {
        notes.push(format!("app role {first} assumed: {why}; pass --app-role to choose"));
    }
    if let Some(me) = snapshot.role_by_name(&snapshot.read_as) {
        if !me.superuser && !me.bypass_rls {
            notes.push(format!(
                "the probing login {} is neither superuser nor BYPASSRLS: where row-level security hides rows from it, B's rows may go unseen and be reported isolated",
                me.name
            ));
        }
    }
    for (app, role) in &roles {
        if !audit.tenant_tables().any(|r| audit.access.reaches(*app, r)) {
            notes.push(format!("{role} holds no privilege on any tenant table: every attempt on a table is refused (check the role name and its grants)"));
        }
    }
    let mut identity = identity::build(&audit)?;
    let mut needed = targets::relations_needed(&audit);
    needed.extend(identity.membership.as_ref().map(|m| m.oid));
    let types = column_types(&client, &needed).await.map_err(|e| anyhow!("reading column types: {}", error_text(&e)))?;
    if let Some(m) = identity.membership.as_mut() {
        m.user_type = types.get(&(m.oid, m.user_name.clone())).cloned();
        m.tenant_type = types.get(&(m.oid, m.tenant_name.clone())).cloned();
    }
    notes.extend(identity_notes(&audit, &identity));
    let infos = function_info(&client).await?;
    let ctx = Arc::new(context_spec(&audit, &identity));
    let first_targets = targets::build(&audit, roles[0].0, &types, &infos, &identity);
    let pair = Arc::new(match &opts.tenants {
        Some(p) => p.clone(),
        None => global_pair(&client, &first_targets).await,
    });
    let before = fingerprint::sequences(&client).await.unwrap_or_default();

    let peers: Arc<Vec<String>> = Arc::new(roles.iter().map(|(_, r)| r.clone()).collect());
    let mut login_settings = audit.model.tenant_settings.clone();
    login_settings.push("request.jwt.claims".into());
    login_settings.extend(identity.settings.iter().cloned());
    let mut results = Vec::new();
    for (i, (app, role)) in roles.iter().enumerate() {
        let targets = Arc::new(if i == 0 { first_targets.clone() } else { targets::build(&audit, *app, &types, &infos, &identity) });
        let mut rs = attack_all(opts, &targets, role, &peers, &ctx, &pair).await?;
        for s in &targets.setters {
            rs.push(session::attack_setter(&opts.url, s, &infos, role, &pair.1).await);
        }
        // The live login check uses --app-url, the first role's own login.
        let app_url = if i == 0 { opts.app_url.as_deref() } else { None };
        rs.push(login::attack_login(&snapshot, app_url, role, &login_settings).await);
        for r in &mut rs {
            r.role = role.clone();
        }
        results.extend(rs);
    }

    let after = fingerprint::sequences(&client).await.unwrap_or_default();
    for (name, old) in &before {
        if let Some(new) = after.get(name).filter(|n| *n != old) {
            notes.push(format!(
                "sequence {name} moved from {} to {} during the probe: nextval() is not undone by a rollback (a default or trigger the probe could not avoid, or concurrent traffic); no row was kept",
                old.map(|v| v.to_string()).unwrap_or("unused".into()),
                new.map(|v| v.to_string()).unwrap_or("unused".into())
            ));
        }
    }
    let mut m = Matrix { database: snapshot.database.clone(), app_role: first, app_roles: peers.to_vec(), results, notes };
    m.sort();
    Ok(m)
}

/// What the reader needs to know about how the caller was impersonated.
fn identity_notes(audit: &Audit, id: &IdentityModel) -> Vec<String> {
    let mut notes = Vec::new();
    if id.identity {
        match &id.membership {
            Some(m) => notes.push(format!(
                "policies resolve the tenant through the user: every attempt runs as a user who is a member of tenant A and not of B (from {}.{} by {}{}, synthesised there when none exists), with the user id in {}{}",
                m.display,
                m.user_name,
                m.tenant_name,
                if m.configured { ", as [membership] configures" } else { "" },
                id.settings.join(", "),
                if id.claims.is_empty() { String::new() } else { format!(" and request.jwt.claims {{{}}}", id.claims.join(", ")) }
            )),
            None => notes.push(format!(
                "policies read the user ({}), but no membership table (a table they look up with a user column and a tenant column) was found: attempts run as a synthetic user who belongs to no tenant",
                id.settings.join(", ")
            )),
        }
    }
    if !id.identity {
        if let Some(cfg) = &audit.config.membership {
            notes.push(format!(
                "[membership] names {}, but no policy resolves the tenant through the user (auth.uid(), request.jwt.claim.sub): it is not used",
                cfg.table
            ));
        }
    }
    let pinned: Vec<String> = id
        .tables
        .keys()
        .filter(|o| id.role_pinned(**o))
        .filter_map(|o| audit.relation(*o))
        .map(|r| crate::sql::display(&r.schema, &r.name))
        .collect();
    if !pinned.is_empty() {
        notes.push(format!(
            "role per tenant (policies pin current_user) on {}: each app role attacks as itself, tenant A being its own name and tenant B another app role's",
            pinned.join(", ")
        ));
    }
    notes
}

async fn check_set_role(client: &Client, login: &str, role: &str) -> anyhow::Result<()> {
    let sql = format!("BEGIN READ ONLY; SET LOCAL ROLE {}; ROLLBACK", ident(role));
    if let Err(e) = client.batch_execute(&sql).await {
        let _ = client.batch_execute("ROLLBACK").await;
        bail!(
            "the probing login {login} cannot SET ROLE {role} ({}); connect as a superuser, or GRANT {} TO {}",
            error_text(&e),
            ident(role),
            ident(login)
        );
    }
    Ok(())
}

/// The context spelling: the model's tenant settings, plus JWT claims when anything reads
/// them, plus the user id (identity settings, identity claims) when policies read the user.
fn context_spec(audit: &Audit, id: &IdentityModel) -> ContextSpec {
    let snap = audit.snapshot;
    let jwt = snap.policies.iter().flat_map(|p| p.using_text.iter().chain(p.check_text.iter())).any(|t| t.contains("jwt"))
        || snap.functions.iter().any(|f| f.source.contains("request.jwt"));
    let mut spec = ContextSpec::new(audit.model.tenant_settings.clone(), jwt, audit.config.tenant_claims());
    if id.identity {
        spec.identity_settings = id.settings.iter().filter(|s| !spec.settings.contains(s)).cloned().collect();
        if jwt {
            spec.identity_claims = id.claims.clone();
        }
    }
    spec
}

async fn function_info(client: &Client) -> anyhow::Result<FunctionArgs> {
    let rows = client
        .query(
            "SELECT p.oid, coalesce(p.proargnames[1:p.pronargs], '{}'::text[]), \
                    ARRAY(SELECT format_type(t, NULL) FROM unnest(p.proargtypes) WITH ORDINALITY u(t, i) ORDER BY i), \
                    coalesce(pg_get_function_result(p.oid), ''), p.prokind = 'p' \
               FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace \
              WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')",
            &[],
        )
        .await
        .map_err(|e| anyhow!("reading functions: {}", error_text(&e)))?;
    let mut out = HashMap::new();
    for r in rows {
        out.insert(
            r.get::<_, u32>(0),
            FunctionInfo { arg_names: r.get(1), arg_types: r.get(2), result: r.get(3), procedure: r.get(4) },
        );
    }
    Ok(out)
}

/// Tenants A and B for views, functions and sessions: the first two keys of the table of
/// tenants, else two values of the first tenant table that has them, else synthetic ones.
async fn global_pair(client: &Client, targets: &Targets) -> (String, String) {
    let mut ordered: Vec<&targets::TableTarget> = targets.tables.values().filter(|t| t.registry).collect();
    ordered.extend(targets.tables.values().filter(|t| !t.registry && t.direct_column.is_some()));
    for t in ordered.iter().take(20) {
        let (Some(col), Some(_)) = (&t.direct_column, &t.tenant_expr) else { continue };
        let sql = format!("SELECT DISTINCT x.{col}::text FROM (SELECT {col} FROM {} LIMIT 1000) x WHERE x.{col} IS NOT NULL ORDER BY 1 LIMIT 2", t.sql);
        if let Ok(rows) = client.query(sql.as_str(), &[]).await {
            if rows.len() == 2 {
                return (rows[0].get(0), rows[1].get(0));
            }
        }
    }
    synthetic_tenants(ordered.first().and_then(|t| t.tenant_type.as_ref()))
}

#[derive(Clone, Copy)]
enum Item {
    Table(u32),
    View(usize),
    Function(usize),
}

async fn attack_all(opts: &ProbeOptions, targets: &Arc<Targets>, role: &str, peers: &Arc<Vec<String>>, ctx: &Arc<ContextSpec>, pair: &Arc<(String, String)>) -> anyhow::Result<Vec<ProbeResult>> {
    let mut items: Vec<Item> = targets.tables.keys().map(|o| Item::Table(*o)).collect();
    items.extend((0..targets.views.len()).map(Item::View));
    items.extend((0..targets.functions.len()).map(Item::Function));
    let items = Arc::new(items);
    let next = Arc::new(AtomicUsize::new(0));
    let workers = opts.connections.clamp(1, 8).min(items.len().max(1));
    let fixed = opts.tenants.is_some();
    let mut handles = Vec::new();
    for _ in 0..workers {
        let client = session(&opts.url).await?;
        let fresh = session(&opts.url).await?;
        let (items, next, targets, ctx, pair, role, peers) = (items.clone(), next.clone(), targets.clone(), ctx.clone(), pair.clone(), role.to_string(), peers.clone());
        handles.push(tokio::spawn(async move {
            let mut out = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(item) = items.get(i).copied() else { break };
                let rs = match item {
                    Item::Table(oid) => match targets.tables.get(&oid) {
                        Some(t) => table::attack_table(&client, &fresh, &targets, t, &role, &peers, &ctx, &pair, fixed).await,
                        None => Vec::new(),
                    },
                    Item::View(v) => read::attack_view(&client, &fresh, &targets, &targets.views[v], &role, &ctx, &pair).await,
                    Item::Function(f) => read::attack_function(&client, &targets, &targets.functions[f], &role, &ctx, &pair).await,
                };
                out.extend(rs);
            }
            out
        }));
    }
    let mut results = Vec::new();
    for h in handles {
        results.extend(h.await.map_err(|e| anyhow!("an attack worker stopped: {e}"))?);
    }
    Ok(results)
}
