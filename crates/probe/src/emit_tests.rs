//! `--emit-tests pgtap|sql`: the attacks as a regression suite the user keeps.
//!
//! The suite replays every read/write/context attempt through the same `pg_temp.tg_attack`
//! helper, in one transaction that is rolled back, after replaying the rows the probe had
//! to synthesise. An attempt fails only when it reaches tenant B's rows: a leak found today
//! fails the suite, and passes once fixed.
//!
//! Session checks run before that transaction (they need a COMMIT: a read-only one, as in
//! the probe) and keep what the next statement reads in a psql variable; login defaults are
//! read from pg_db_role_setting. Only the live login with `--app-url` stays with the probe.

use std::fmt::Write;
use std::path::{Path, PathBuf};

use crate::matrix::{Check, Matrix};
use crate::sql::{ident, lit, HELPER, TIMEOUTS};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    Pgtap,
    Sql,
}

fn setup_block(stmt: &str) -> String {
    // A synthesised row may already exist (several tables need the same parent): skip duplicates.
    format!("DO $tg_setup$ BEGIN {stmt}; EXCEPTION WHEN unique_violation THEN NULL; END $tg_setup$;\n")
}

/// `SELECT ok(cond, name)` or, without pgTAP, a check that raises on failure.
fn assert_line(kind: Kind, cond: &str, name: &str) -> String {
    match kind {
        Kind::Pgtap => format!("SELECT ok({cond}, {});\n", lit(name)),
        Kind::Sql => format!("SELECT pg_temp.tg_expect({cond}, {});\n", lit(name)),
    }
}

/// The session checks, before the suite's transaction: each setter runs as the app role in a
/// READ ONLY transaction that commits (the only COMMIT, as in the probe: it can write
/// nothing), then the next statement reads the settings into a psql variable and resets
/// them so the rest of the suite starts clean. Errors here do not stop the suite (a setter
/// that now fails sets nothing, so the check passes). Returns the block and (variable, tenant, name).
fn session_block(m: &Matrix) -> (String, Vec<(String, String, String)>) {
    let mut out = String::new();
    let mut checks = Vec::new();
    for r in &m.results {
        let Some(Check::Session { call, procedure, settings, tenant }) = &r.check else { continue };
        if checks.is_empty() {
            out.push_str("-- Session checks (outside the transaction below: they need a COMMIT).\n\\set ON_ERROR_STOP 0\n");
        }
        let var = format!("tg_session_{}", checks.len() + 1);
        let run = if *procedure { format!("{call};") } else { format!("SELECT 1 AS tg_ignore FROM ({call}) s \\gset") };
        let _ = writeln!(out, "BEGIN READ ONLY;\nSET LOCAL statement_timeout = '10s'; SET LOCAL lock_timeout = '2s'; SET LOCAL ROLE {};\n{run}\nCOMMIT;", ident(&r.role));
        let reads: Vec<String> = settings.iter().map(|s| format!("coalesce(current_setting({}, true), '')", lit(s))).collect();
        let _ = writeln!(out, "SELECT concat_ws(',', {}) AS {var} \\gset", reads.join(", "));
        let resets: Vec<String> = settings.iter().map(|s| format!("set_config({}, '', false)", lit(s))).collect();
        let _ = writeln!(out, "SELECT {} \\gset tg_reset_", resets.iter().enumerate().map(|(i, r)| format!("{r} AS r{i}")).collect::<Vec<_>>().join(", "));
        let name = format!("{} session: the tenant set by {} does not outlive COMMIT", m.label(&r.role, &r.object), r.object);
        checks.push((var, tenant.clone(), name));
    }
    if !checks.is_empty() {
        out.push_str("RESET ROLE;\n\\set ON_ERROR_STOP 1\n");
    }
    (out, checks)
}

/// Login defaults, from pg_db_role_setting: no `ALTER ROLE/DATABASE ... SET` gives the role a tenant.
fn login_default_cond(role: &str, settings: &[String]) -> String {
    let names: Vec<String> = settings.iter().map(|s| lit(&s.to_ascii_lowercase())).collect();
    format!(
        "NOT EXISTS (SELECT 1 FROM pg_db_role_setting s CROSS JOIN LATERAL unnest(s.setconfig) c(kv) \
          WHERE s.setrole IN (0, coalesce((SELECT oid FROM pg_roles WHERE rolname = {}), 0)) \
            AND s.setdatabase IN (0, (SELECT oid FROM pg_database WHERE datname = current_database())) \
            AND lower(split_part(c.kv, '=', 1)) = ANY(ARRAY[{}]::text[]))",
        lit(role),
        names.join(", ")
    )
}

pub fn suite(m: &Matrix, kind: Kind) -> String {
    let attempts: Vec<_> = m.results.iter().filter_map(|r| r.attempt.as_ref().map(|a| (r, a))).collect();
    let logins: Vec<_> = m
        .results
        .iter()
        .filter_map(|r| match &r.check {
            Some(Check::LoginDefault { settings }) => Some((r, settings)),
            _ => None,
        })
        .collect();
    let mut out = String::new();
    let roles = if m.app_roles.is_empty() { m.app_role.clone() } else { m.app_roles.join(", ") };
    let _ = writeln!(out, "-- tenantguard probe regression suite for database {} as role(s) {roles}.", m.database);
    let _ = writeln!(out, "-- Generated; every attack runs in a subtransaction that is aborted, and the whole file is rolled back");
    let _ = writeln!(out, "-- (except the session checks, which commit read-only transactions that write nothing).");
    match kind {
        Kind::Pgtap => out.push_str("-- Run with: pg_prove -d <database> tenantguard_probe.sql (as a superuser)\n\\set QUIET 1\n\\set ON_ERROR_STOP 1\n"),
        Kind::Sql => out.push_str("-- Run with: psql -v ON_ERROR_STOP=1 -d <database> -f tenantguard_probe.sql (as a superuser); fails on a leak\n\\set ON_ERROR_STOP 1\n"),
    }
    let (session, sessions) = session_block(m);
    out.push_str(&session);
    let _ = writeln!(out, "BEGIN;\n{TIMEOUTS};");
    if kind == Kind::Pgtap {
        out.push_str(
            "DO $tg$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pgtap') THEN \
             RAISE EXCEPTION 'pgTAP is not installed on this server (Debian: apt install postgresql-15-pgtap)'; END IF; END $tg$;\n\
             CREATE EXTENSION IF NOT EXISTS pgtap;\n",
        );
    }
    let _ = writeln!(out, "{HELPER};");
    match kind {
        Kind::Pgtap => {
            let _ = writeln!(out, "SELECT plan({});", attempts.len() + sessions.len() + logins.len());
        }
        Kind::Sql => out.push_str(
            "CREATE FUNCTION pg_temp.tg_expect(ok boolean, name text) RETURNS void LANGUAGE plpgsql AS $tg$ \
             BEGIN IF ok IS NOT TRUE THEN RAISE EXCEPTION 'LEAK %', name; END IF; END $tg$;\n",
        ),
    }
    for (var, tenant, name) in &sessions {
        out.push_str(&assert_line(kind, &format!("strpos(:'{var}', {}) = 0", lit(tenant)), name));
    }
    for (r, settings) in &logins {
        let name = format!("{} login-default: no role or database default sets a tenant", m.label(&r.role, &r.object));
        out.push_str(&assert_line(kind, &login_default_cond(&r.role, settings), &name));
    }
    let mut done: Vec<&str> = Vec::new();
    for (r, a) in attempts {
        for s in &r.setup {
            if !done.contains(&s.as_str()) {
                out.push_str(&setup_block(s));
                done.push(s);
            }
        }
        let call = format!(
            "pg_temp.tg_attack({}, {}::json, {}, {}, {}, {}, {})",
            lit(&a.role),
            lit(&a.context.to_string()),
            a.prepare.as_deref().map(lit).unwrap_or("NULL".into()),
            lit(&a.attack),
            a.reads,
            a.verify.as_deref().map(lit).unwrap_or("NULL".into()),
            a.delta
        );
        let name = format!("{} {}: tenant A cannot reach tenant B", m.label(&r.role, &r.object), r.operation.as_str());
        match kind {
            Kind::Pgtap => {
                let _ = writeln!(out, "SELECT ok({call} !~ '^n:[1-9]', {});", lit(&name));
            }
            Kind::Sql => {
                let _ = writeln!(
                    out,
                    "DO $tg$ DECLARE r text := {call}; BEGIN IF r ~ '^n:[1-9]' THEN RAISE EXCEPTION 'LEAK %: %', {}, r; END IF; END $tg$;",
                    lit(&name)
                );
            }
        }
    }
    if kind == Kind::Pgtap {
        out.push_str("SELECT * FROM finish();\n");
    }
    out.push_str("ROLLBACK;\n");
    out
}

/// Write the suite to `dir/tenantguard_probe.sql`; returns the path.
pub fn write(m: &Matrix, kind: Kind, dir: &Path) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir).map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
    let path = dir.join("tenantguard_probe.sql");
    std::fs::write(&path, suite(m, kind)).map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    Ok(path)
}
