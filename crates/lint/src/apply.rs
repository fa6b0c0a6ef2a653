//! The shadow database: migrations applied in order on a throwaway cluster of their own
//! (migrations create roles, which are cluster-wide). Each file goes as one simple-query
//! batch: one round trip, one implicit transaction, dollar-quoted bodies intact. When a
//! batch fails it is rolled back and replayed statement by statement, so the failure
//! gets an exact position and the file's other statements still apply.
//!
//! Re-linting reuses work: after a run the database state before the last few files is
//! kept as a template (a checkpoint keyed by the chained content hash of the files before
//! it). A later run whose files share that prefix copies the template
//! (`CREATE DATABASE … TEMPLATE … STRATEGY FILE_COPY`) and applies only the rest.
//! Roles are cluster-wide, so a checkpoint is used only when the cluster's roles are
//! exactly as they were when it was taken (roles created since are dropped first);
//! otherwise the cluster is replaced.

use std::time::{Duration, Instant};

use anyhow::Context;
use tenantguard_testkit::Cluster;
use tokio_postgres::error::ErrorPosition;
use tokio_postgres::{Client, NoTls};

use crate::source::MigrationFile;
use crate::statements::ParsedFile;

/// A statement the server refused; `offset` is a byte offset in the file's text.
#[derive(Debug, Clone)]
pub struct Failure {
    pub file: usize,
    pub offset: usize,
    /// The failing statement's first token (for suppression comments).
    pub stmt_start: Option<usize>,
    pub message: String,
    /// Later statements of the same file that failed too (often because of this one).
    pub also_failed: usize,
}

#[derive(Debug)]
pub struct Applied {
    pub url: String,
    pub failures: Vec<Failure>,
    /// Files whose effect came from a checkpoint instead of being applied.
    pub reused: usize,
}

struct Checkpoint {
    /// Files applied in the template.
    count: usize,
    hash: [u8; 32],
    db: String,
    roles: String,
}

pub struct Shadow {
    cluster: Cluster,
    /// How long the cluster took to start (reported apart from the lint itself).
    pub startup: Duration,
    /// Keep templates for re-linting (long-lived linters); a one-shot CLI run skips their cost.
    pub keep_checkpoints: bool,
    checkpoints: Vec<Checkpoint>,
    current: Option<String>,
    seq: u32,
}

const ROLE_STATE: &str = "SELECT coalesce(string_agg(x, E'\\n' ORDER BY x), '') FROM (\
    SELECT format('r|%s|%s|%s|%s|%s|%s|%s|%s', rolname, rolsuper, rolinherit, rolcreaterole, rolcreatedb, rolcanlogin, rolbypassrls, rolconfig) AS x FROM pg_roles \
    UNION ALL SELECT format('m|%s|%s|%s', roleid::regrole, member::regrole, admin_option) FROM pg_auth_members) s";

impl Shadow {
    pub async fn start() -> anyhow::Result<Shadow> {
        let started = Instant::now();
        let cluster = tokio::task::spawn_blocking(Cluster::start).await.context("starting the shadow cluster")?.context("starting the shadow cluster (needs local PostgreSQL server binaries; see docs/lint.md)")?;
        let startup = started.elapsed();
        let mut shadow = Shadow { cluster, startup, keep_checkpoints: false, checkpoints: Vec::new(), current: None, seq: 0 };
        let roles = shadow.role_state().await?;
        shadow.checkpoints.push(Checkpoint { count: 0, hash: [0; 32], db: "template1".into(), roles });
        Ok(shadow)
    }

    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    async fn admin(&self) -> anyhow::Result<Client> {
        connect(&self.cluster.url("postgres")).await
    }

    async fn role_state(&self) -> anyhow::Result<String> {
        let c = self.admin().await?;
        Ok(c.query_one(ROLE_STATE, &[]).await?.get(0))
    }

    /// The newest checkpoint the files still share, with the cluster's roles restored to it.
    async fn restore_point(&mut self, files: &[MigrationFile]) -> anyhow::Result<usize> {
        let admin = self.admin().await?;
        if let Some(db) = self.current.take() {
            admin.batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", ident(&db))).await?;
        }
        let usable = |c: &Checkpoint| c.count == 0 || (c.count <= files.len() && files[c.count - 1].chain_hash == c.hash);
        let keep = self.checkpoints.iter().rposition(usable).unwrap_or(0);
        for c in self.checkpoints.drain(keep + 1..) {
            admin.batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", ident(&c.db))).await?;
        }
        let wanted = self.checkpoints[keep].roles.clone();
        let now: String = admin.query_one(ROLE_STATE, &[]).await?.get(0);
        if now != wanted {
            let keep_names: std::collections::HashSet<&str> = wanted.lines().filter_map(|l| l.strip_prefix("r|")?.split('|').next()).collect();
            for line in now.lines() {
                if let Some(name) = line.strip_prefix("r|").and_then(|l| l.split('|').next()) {
                    if !keep_names.contains(name) {
                        let _ = admin.batch_execute(&format!("DROP ROLE IF EXISTS {}", ident(name))).await;
                    }
                }
            }
            let again: String = admin.query_one(ROLE_STATE, &[]).await?.get(0);
            if again != wanted {
                // Roles that existed were altered: only a fresh cluster is sound.
                drop(admin);
                let fresh = Shadow::start().await?;
                let keep_checkpoints = self.keep_checkpoints;
                *self = Shadow { startup: self.startup, keep_checkpoints, ..fresh };
                return Ok(0);
            }
        }
        Ok(keep)
    }

    /// Apply `files` to a new shadow database. `parsed(i)` gives file i's statements (needed
    /// before applying it: statements that cannot run in a transaction block go one by one).
    pub async fn apply(&mut self, files: &[MigrationFile], parsed: &mut dyn FnMut(usize) -> ParsedFile) -> anyhow::Result<(Applied, Vec<ParsedFile>)> {
        let keep = self.restore_point(files).await?;
        let from = self.checkpoints[keep].count;
        self.seq += 1;
        let db = format!("tenantguard_shadow_{}", self.seq);
        self.create_from(&db, &self.checkpoints[keep].db.clone()).await?;
        self.current = Some(db.clone());
        let url = self.cluster.url(&db);
        let mut client = connect(&url).await?;
        // Checkpoints just before the last file and a few files back: the files a pull request changes.
        let marks: Vec<usize> = if self.keep_checkpoints {
            let n = files.len();
            let mut m: Vec<usize> = [n.saturating_sub(1), n.saturating_sub(5)].into_iter().filter(|&c| c > from && c < n).collect();
            m.sort_unstable();
            m.dedup();
            m
        } else {
            Vec::new()
        };
        let mut failures = Vec::new();
        let mut all = Vec::with_capacity(files.len());
        for (i, file) in files.iter().enumerate() {
            let p = parsed(i);
            if i >= from {
                if marks.contains(&i) {
                    drop(client);
                    let name = format!("tenantguard_ck_{}_{}", self.seq, i);
                    self.create_from(&name, &db).await?;
                    let roles = self.role_state().await?;
                    self.checkpoints.push(Checkpoint { count: i, hash: files[i - 1].chain_hash, db: name, roles });
                    client = connect(&url).await?;
                }
                if client.is_closed() {
                    client = connect(&url).await?; // a migration ended its own session
                }
                if let Some(f) = apply_file(&client, i, file, &p).await {
                    failures.push(f);
                }
            }
            all.push(p);
        }
        Ok((Applied { url, failures, reused: from }, all))
    }

    async fn create_from(&self, db: &str, template: &str) -> anyhow::Result<()> {
        let admin = self.admin().await?;
        let sql = format!("CREATE DATABASE {} TEMPLATE {} STRATEGY FILE_COPY", ident(db), ident(template));
        if admin.batch_execute(&sql).await.is_err() {
            // Before PostgreSQL 15 there is no STRATEGY (and FILE_COPY was the only way).
            admin
                .batch_execute(&format!("CREATE DATABASE {} TEMPLATE {}", ident(db), ident(template)))
                .await
                .with_context(|| format!("creating shadow database {db}"))?;
        }
        Ok(())
    }
}

async fn connect(url: &str) -> anyhow::Result<Client> {
    let (client, conn) = tokio_postgres::connect(url, NoTls).await.with_context(|| "connecting to the shadow cluster")?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    // A stuck migration (waiting on a lock, sleeping) must not hang CI.
    client.batch_execute("SET statement_timeout = '60s'; SET lock_timeout = '10s'; SET client_min_messages = error").await?;
    Ok(client)
}

fn ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// One file: as a batch, or statement by statement when the batch fails or cannot be one.
async fn apply_file(client: &Client, index: usize, file: &MigrationFile, parsed: &ParsedFile) -> Option<Failure> {
    let one_by_one = parsed.stmts.iter().any(|s| s.needs_own_transaction);
    if !one_by_one && parsed.parse_error.is_none() {
        match client.batch_execute(file.up_sql()).await {
            Ok(()) => return None,
            Err(_) => {
                let _ = client.batch_execute("ROLLBACK").await;
            }
        }
    }
    let mut first: Option<Failure> = None;
    for s in &parsed.stmts {
        let text = &file.text[s.start..s.end];
        if let Err(e) = client.batch_execute(text).await {
            // An explicit transaction is now aborted; end it so the rest can run.
            let _ = client.batch_execute("ROLLBACK").await;
            match &mut first {
                Some(f) => f.also_failed += 1,
                None => {
                    let (within, message) = describe(&e, text);
                    first = Some(Failure { file: index, offset: s.start + within, stmt_start: Some(s.start), message, also_failed: 0 });
                }
            }
        }
    }
    if first.is_none() && parsed.stmts.is_empty() && !file.up_sql().trim().is_empty() {
        // Nothing split out (the scanner gave up): let the server say what is wrong.
        if let Err(e) = client.batch_execute(file.up_sql()).await {
            let (within, message) = describe(&e, file.up_sql());
            first = Some(Failure { file: index, offset: file.up.0 + within, stmt_start: None, message, also_failed: 0 });
        }
    }
    first
}

/// The server's message (with detail and hint) and the byte offset its position points at.
fn describe(e: &tokio_postgres::Error, text: &str) -> (usize, String) {
    let Some(db) = e.as_db_error() else {
        return (0, tenantguard_catalog::reader::error_text(e));
    };
    let mut message = format!("{}: {}", db.severity(), db.message());
    if let Some(d) = db.detail() {
        message.push_str(&format!(" ({d})"));
    }
    if let Some(h) = db.hint() {
        message.push_str(&format!(" Hint: {h}"));
    }
    let within = match db.position() {
        // 1-based, in characters of the statement sent.
        Some(ErrorPosition::Original(p)) => text.char_indices().nth((*p as usize).saturating_sub(1)).map(|(b, _)| b).unwrap_or(0),
        _ => 0,
    };
    (within, message)
}
