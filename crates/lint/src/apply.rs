//! The shadow database: migrations applied in order on a throwaway cluster of their own
//! (migrations create roles, which are cluster-wide). Each file goes as one simple-query
//! batch: one round trip, one implicit transaction, dollar-quoted bodies intact. When a
//! batch fails it is rolled back and replayed statement by statement, so the failure
//! gets an exact position and the file's other statements still apply.
//!
//! Re-linting reuses work without copying databases: all files but the last few are
//! committed; the tail is applied inside one transaction, the catalog is read on that same
//! connection, and the reader's closing ROLLBACK returns the database to the committed
//! state. The kept database is keyed by the chained content hash of its committed files:
//! a later run that still starts with them applies only its tail. Roles are cluster-wide
//! but CREATE ROLE is transactional, so the tail's roles roll back too; when an earlier
//! file changed, roles earlier runs created are dropped (or the cluster is replaced).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use tenantguard_testkit::{Cluster, ClusterOptions};
use tenantguard_catalog::{read_snapshot, ReadOptions, Snapshot};
use tokio_postgres::error::ErrorPosition;
use tokio_postgres::{Client, NoTls};

use crate::cache::Meta;
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
    pub failures: Vec<Failure>,
    /// Files whose effect was already committed in the shadow database by an earlier run.
    pub reused: usize,
}

/// The shadow database kept between runs: files `[0, committed)` are in it for good.
struct Kept {
    db: String,
    committed: usize,
    hash: [u8; 32],
    roles: String,
}

pub struct Shadow {
    cluster: Cluster,
    /// How long the cluster took to start (reported apart from the lint itself).
    pub startup: Duration,
    /// The last files are applied in a transaction that reading the catalog rolls back, so
    /// the database is left at the state before them: re-linting a change there reapplies
    /// only the tail (no database copy).
    pub tail: usize,
    kept: Option<Kept>,
    initial_roles: String,
    seq: u32,
}

/// Files applied in the rolled-back tail (see the module comment).
pub const TAIL: usize = 32;

const ROLE_STATE: &str = "SELECT coalesce(string_agg(x, E'\\n' ORDER BY x), '') FROM (\
    SELECT format('r|%s|%s|%s|%s|%s|%s|%s|%s', rolname, rolsuper, rolinherit, rolcreaterole, rolcreatedb, rolcanlogin, rolbypassrls, rolconfig) AS x FROM pg_roles \
    UNION ALL SELECT format('m|%s|%s|%s', roleid::regrole, member::regrole, admin_option) FROM pg_auth_members) s";

impl Shadow {
    pub async fn start() -> anyhow::Result<Shadow> {
        Shadow::start_from(None).await
    }

    /// Start on a copy of a saved cluster (see crate::cache), carrying on from its state.
    pub async fn start_from(saved: Option<(&Path, &Meta)>) -> anyhow::Result<Shadow> {
        let started = Instant::now();
        let options = match saved {
            Some((data, _)) => shadow_options().copy_of(data),
            None => shadow_options(),
        };
        let cluster = tokio::task::spawn_blocking(move || Cluster::start_with(&options)).await.context("starting the shadow cluster")?.context("starting the shadow cluster (needs local PostgreSQL server binaries; see docs/lint.md)")?;
        let startup = started.elapsed();
        let mut shadow = Shadow { cluster, startup, tail: TAIL, kept: None, initial_roles: String::new(), seq: 0 };
        match saved {
            Some((_, m)) => {
                let hash = hex::decode(&m.hash).ok().and_then(|h| <[u8; 32]>::try_from(h).ok()).context("the lint cache entry's hash is malformed")?;
                shadow.kept = Some(Kept { db: m.db.clone(), committed: m.committed, hash, roles: m.roles.clone() });
                shadow.initial_roles = m.initial_roles.clone();
                shadow.seq = m.seq;
            }
            None => shadow.initial_roles = shadow.role_state().await?,
        }
        Ok(shadow)
    }

    /// The committed state, for the cache (`None` when nothing is committed).
    pub fn state(&self, key: &str) -> Option<Meta> {
        let k = self.kept.as_ref().filter(|k| k.committed > 0)?;
        Some(Meta { key: key.to_string(), committed: k.committed, hash: hex::encode(k.hash), db: k.db.clone(), seq: self.seq, roles: k.roles.clone(), initial_roles: self.initial_roles.clone() })
    }

    /// Stop the server and copy its data directory to `dest` (the shadow is done with).
    pub async fn save(self, dest: PathBuf) -> anyhow::Result<()> {
        let mut cluster = self.cluster;
        tokio::task::spawn_blocking(move || cluster.stop_and_save(&dest)).await.context("saving the shadow cluster")?.context("saving the shadow cluster to the lint cache")
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

    /// Files already committed that `files` still starts with (0: a new database was made).
    async fn reuse_or_reset(&mut self) -> anyhow::Result<()> {
        let admin = self.admin().await?;
        if let Some(k) = self.kept.take() {
            admin.batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", ident(&k.db))).await?;
        }
        let now: String = admin.query_one(ROLE_STATE, &[]).await?.get(0);
        if now != self.initial_roles {
            // Roles are cluster-wide: drop the ones earlier runs created, or start afresh.
            let keep: std::collections::HashSet<&str> = self.initial_roles.lines().filter_map(|l| l.strip_prefix("r|")?.split('|').next()).collect();
            for line in now.lines() {
                if let Some(name) = line.strip_prefix("r|").and_then(|l| l.split('|').next()) {
                    if !keep.contains(name) {
                        let _ = admin.batch_execute(&format!("DROP ROLE IF EXISTS {}", ident(name))).await;
                    }
                }
            }
            let again: String = admin.query_one(ROLE_STATE, &[]).await?.get(0);
            if again != self.initial_roles {
                drop(admin);
                let fresh = Shadow::start_from(None).await?;
                let tail = self.tail;
                *self = Shadow { tail, startup: self.startup, ..fresh };
            }
        }
        Ok(())
    }

    /// Apply `files` and read the resulting catalog. `parsed(i)` gives file i's statements
    /// (needed before applying it: some statements cannot run in a transaction block).
    pub async fn apply_and_read(&mut self, files: &[MigrationFile], parsed: &mut dyn FnMut(usize) -> ParsedFile) -> anyhow::Result<(Applied, Vec<ParsedFile>, Snapshot)> {
        let t0 = Instant::now();
        let usable = self.kept.as_ref().is_some_and(|k| k.committed == 0 || (k.committed <= files.len() && files[k.committed - 1].chain_hash == k.hash));
        let roles_same = match &self.kept {
            Some(k) if usable => self.role_state().await? == k.roles,
            _ => false,
        };
        if !(usable && roles_same) {
            self.reuse_or_reset().await?;
            self.seq += 1;
            let db = format!("tenantguard_shadow_{}", self.seq);
            self.admin().await?.batch_execute(&format!("CREATE DATABASE {} TEMPLATE template1", ident(&db))).await.with_context(|| format!("creating shadow database {db}"))?;
            self.kept = Some(Kept { db, committed: 0, hash: [0; 32], roles: self.initial_roles.clone() });
        }
        trace("shadow database ready", t0);
        let (db, from) = self.kept.as_ref().map(|k| (k.db.clone(), k.committed)).unwrap_or_default();
        let url = self.cluster.url(&db);
        let mut client = connect(&url).await?;
        let commit_to = files.len().saturating_sub(self.tail).max(from);
        let mut failures = Vec::new();
        let mut all = Vec::with_capacity(files.len());
        let t0 = Instant::now();
        // Committed files go one implicit transaction each (one transaction for all of them
        // with savepoints measured no faster, and holds a lock per relation).
        for (i, file) in files.iter().enumerate() {
            let p = parsed(i);
            if i == commit_to {
                trace("committed files applied", t0);
                let roles = self.role_state().await?;
                self.kept = Some(Kept { db: db.clone(), committed: i, hash: if i == 0 { [0; 32] } else { files[i - 1].chain_hash }, roles });
                client.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ").await?; // the reader asks for this level: it must match
            }
            if i >= from {
                if client.is_closed() {
                    client = connect(&url).await?; // a migration ended its own session
                }
                let failure = if i < commit_to { apply_file(&client, i, file, &p).await } else { apply_in_transaction(&client, i, file, &p).await };
                failures.extend(failure);
            }
            all.push(p);
        }
        if commit_to == files.len() {
            let roles = self.role_state().await?;
            self.kept = Some(Kept { db: db.clone(), committed: files.len(), hash: files.last().map(|f| f.chain_hash).unwrap_or([0; 32]), roles });
            client.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ").await?; // the reader asks for this level: it must match
        }
        trace("all files applied", t0);
        // The reader opens its own transaction block (a no-op here: BEGIN inside one only
        // warns), sees the uncommitted tail, and its closing ROLLBACK undoes the tail.
        let t0 = Instant::now();
        let snapshot = read_snapshot(&client, &ReadOptions::default()).await.context("reading the shadow database's catalog")?;
        let _ = client.batch_execute("ROLLBACK").await;
        trace("catalog read", t0);
        Ok((Applied { failures, reused: from }, all, snapshot))
    }
}

/// Applying DDL is catalog churn on two cores: keep the whole catalog in memory, never
/// checkpoint or WAL-log more than needed, keep autovacuum from competing for CPU, and put
/// the files on a tmpfs. (wal_level=replica, track_counts=off, wal_buffers and 128 MB/1 GB
/// shared buffers measured within noise of these; see docs/lint.md.)
fn shadow_options() -> ClusterOptions {
    let o = ClusterOptions::default()
        .set("shared_buffers", "256MB")
        .set("max_wal_size", "8GB")
        .set("checkpoint_timeout", "1h")
        .set("autovacuum", "off")
        .set("wal_level", "minimal")
        .set("max_wal_senders", "0")
        // The tail transaction locks every relation it creates.
        .set("max_connections", "30")
        .set("max_locks_per_transaction", "4096")
        .set("jit", "off");
    match scratch_dir() {
        Some(d) => o.in_dir(d),
        None => o,
    }
}

/// Where the shadow cluster lives: a tmpfs when there is room (`TENANTGUARD_LINT_TMPDIR`
/// overrides; empty means the system temp dir). Creating ~9,000 relation files on the disk
/// filesystem cost more server time than the catalog work itself (see docs/lint.md).
fn scratch_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("TENANTGUARD_LINT_TMPDIR") {
        return (!d.is_empty()).then(|| PathBuf::from(d));
    }
    let shm = Path::new("/dev/shm");
    let free = nix::sys::statvfs::statvfs(shm).ok().map(|s| s.blocks_available() * s.fragment_size())?;
    // A 2,000-file history needs ~200 MB; leave plenty for everything else using the tmpfs.
    (free >= 2 << 30).then(|| shm.to_path_buf())
}

/// What, besides the files, shapes a saved shadow cluster: the cache key's input.
pub fn cache_settings() -> anyhow::Result<String> {
    let bins = tenantguard_testkit::PgBinaries::discover().context("finding the PostgreSQL server binaries")?;
    let settings: Vec<String> = shadow_options().settings.iter().map(|(k, v)| format!("{k}={v}")).collect();
    Ok(format!("pg{} {} tail={TAIL} {}", bins.version, bins.bin_dir.display(), settings.join(" ")))
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

/// `TENANTGUARD_LINT_TRACE=1`: where the time goes, on stderr.
fn trace(what: &str, since: Instant) {
    if std::env::var_os("TENANTGUARD_LINT_TRACE").is_some() {
        eprintln!("  [lint] {what}: {:.3}s", since.elapsed().as_secs_f64());
    }
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

/// A tail file inside the open transaction: savepoints stand in for the per-file transaction.
async fn apply_in_transaction(client: &Client, index: usize, file: &MigrationFile, parsed: &ParsedFile) -> Option<Failure> {
    let one_by_one = parsed.stmts.iter().any(|s| s.needs_own_transaction);
    if !one_by_one && parsed.parse_error.is_none() {
        let _ = client.batch_execute("SAVEPOINT tg_file").await;
        match client.batch_execute(file.up_sql()).await {
            Ok(()) => {
                let _ = client.batch_execute("RELEASE SAVEPOINT tg_file").await;
                return None;
            }
            Err(_) => {
                let _ = client.batch_execute("ROLLBACK TO SAVEPOINT tg_file; RELEASE SAVEPOINT tg_file").await;
            }
        }
    }
    let mut first: Option<Failure> = None;
    for s in &parsed.stmts {
        let Some(text) = in_transaction_text(&file.text[s.start..s.end], s.needs_own_transaction) else { continue };
        let _ = client.batch_execute("SAVEPOINT tg_stmt").await;
        match client.batch_execute(&text).await {
            Ok(()) => {
                let _ = client.batch_execute("RELEASE SAVEPOINT tg_stmt").await;
            }
            Err(e) => {
                let _ = client.batch_execute("ROLLBACK TO SAVEPOINT tg_stmt; RELEASE SAVEPOINT tg_stmt").await;
                match &mut first {
                    Some(f) => f.also_failed += 1,
                    None => {
                        let (within, message) = describe(&e, &text);
                        first = Some(Failure { file: index, offset: s.start + within, stmt_start: Some(s.start), message, also_failed: 0 });
                    }
                }
            }
        }
    }
    first
}

/// What to run inside the tail transaction: transaction control is dropped (the tail is one
/// transaction already), CONCURRENTLY is blanked (same catalog result), and statements
/// that cannot run in a block at all (VACUUM, CREATE DATABASE, ALTER SYSTEM) are skipped:
/// they change nothing the audit reads.
fn in_transaction_text(text: &str, needs_own: bool) -> Option<String> {
    if !needs_own {
        return Some(text.to_string());
    }
    let upper = text.to_ascii_uppercase();
    let first = upper.split_whitespace().next().unwrap_or("");
    if matches!(first, "BEGIN" | "START" | "COMMIT" | "END" | "ROLLBACK" | "SAVEPOINT" | "RELEASE" | "VACUUM" | "ALTER" | "REINDEX" | "PREPARE") && !upper.contains("CONCURRENTLY") {
        return None;
    }
    if let Some(i) = upper.find("CONCURRENTLY") {
        let mut t = text.to_string();
        t.replace_range(i..i + "CONCURRENTLY".len(), "            ");
        return Some(t);
    }
    None
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
