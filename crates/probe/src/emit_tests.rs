//! `--emit-tests pgtap|sql`: the attacks as a regression suite the user keeps.
//!
//! The suite replays every read/write/context attempt through the same `pg_temp.tg_attack`
//! helper, in one transaction that is rolled back, after replaying the rows the probe had
//! to synthesise. An attempt fails only when it reaches tenant B's rows: a leak found today
//! fails the suite, and passes once fixed. Session and login-default checks need a COMMIT
//! or a fresh login, so they stay with `tenantguard probe`.

use std::fmt::Write;
use std::path::{Path, PathBuf};

use crate::matrix::Matrix;
use crate::sql::{lit, HELPER, TIMEOUTS};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    Pgtap,
    Sql,
}

fn setup_block(stmt: &str) -> String {
    // A synthesised row may already exist (several tables need the same parent): skip duplicates.
    format!("DO $tg_setup$ BEGIN {stmt}; EXCEPTION WHEN unique_violation THEN NULL; END $tg_setup$;\n")
}

pub fn suite(m: &Matrix, kind: Kind) -> String {
    let attempts: Vec<_> = m.results.iter().filter_map(|r| r.attempt.as_ref().map(|a| (r, a))).collect();
    let mut out = String::new();
    let _ = writeln!(out, "-- tenantguard probe regression suite for database {} as role {}.", m.database, m.app_role);
    let _ = writeln!(out, "-- Generated; every attack runs in a subtransaction that is aborted, and the whole file is rolled back.");
    match kind {
        Kind::Pgtap => out.push_str("-- Run with: pg_prove -d <database> tenantguard_probe.sql (as a superuser)\n\\set QUIET 1\n\\set ON_ERROR_STOP 1\n"),
        Kind::Sql => out.push_str("-- Run with: psql -v ON_ERROR_STOP=1 -d <database> -f tenantguard_probe.sql (as a superuser); fails on a leak\n\\set ON_ERROR_STOP 1\n"),
    }
    let _ = writeln!(out, "BEGIN;\n{TIMEOUTS};");
    if kind == Kind::Pgtap {
        out.push_str(
            "DO $tg$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pgtap') THEN \
             RAISE EXCEPTION 'pgTAP is not installed on this server (Debian: apt install postgresql-15-pgtap)'; END IF; END $tg$;\n\
             CREATE EXTENSION IF NOT EXISTS pgtap;\n",
        );
    }
    let _ = writeln!(out, "{HELPER};");
    if kind == Kind::Pgtap {
        let _ = writeln!(out, "SELECT plan({});", attempts.len());
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
        let name = format!("{} {}: tenant A cannot reach tenant B", r.object, r.operation.as_str());
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
