//! One lint of a migration set: parse (on a thread, alongside the apply), apply to the
//! shadow database, read the catalog, run the audit's rules, pin findings to statements,
//! apply suppressions. A [`Linter`] keeps its cluster, checkpoints and parses between runs.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use tenantguard_catalog::Snapshot;
use tenantguard_rules::{Audit, Config, Finding};

use crate::appcode::AppContext;
use crate::apply::{self, Shadow};
use crate::cache::{Cache, Meta};
use crate::extra_rules::{at, MIGRATION_FAILED, UNUSED_SUPPRESSION};
use crate::locate::{Index, StmtRef};
use crate::source::{line_col, MigrationSet};
use crate::statements::{parse_file, ParsedFile};
use crate::suppress;

#[derive(Debug, Default, Clone, Copy)]
pub struct Timings {
    /// Parsing, applying and reading the shadow catalog (the read shares the apply's session).
    pub parse_and_apply: Duration,
    /// The rules, locations and suppressions.
    pub audit: Duration,
    pub total: Duration,
    pub reused_files: usize,
}

pub struct Outcome {
    pub findings: Vec<Finding>,
    pub app: AppContext,
    pub timings: Timings,
}

pub struct Linter {
    shadow: Shadow,
    /// Parses by chained content hash, with the search_path after each file.
    parses: HashMap<[u8; 32], (ParsedFile, String)>,
    /// The on-disk cache this linter started from and saves to, with the state it started at.
    cache: Option<(Cache, Option<Meta>)>,
}

impl Linter {
    /// Start the shadow cluster; later lints reuse what they share with earlier ones.
    pub async fn start() -> anyhow::Result<Linter> {
        let shadow = Shadow::start().await?;
        Ok(Linter { shadow, parses: HashMap::new(), cache: None })
    }

    /// Start from the saved cluster in `cache_dir` with the longest prefix `set` starts with
    /// (a fresh one when none fits); [`Linter::save`] stores the state the lint leaves.
    /// A cache that cannot be used is reported on stderr and the lint runs without it.
    pub async fn start_cached(cache_dir: &Path, set: &MigrationSet) -> anyhow::Result<Linter> {
        let cache = match apply::cache_settings().and_then(|s| Cache::open(cache_dir, &s)) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("tenantguard lint: not using the lint cache: {e:#}");
                return Linter::start().await;
            }
        };
        let hit = cache.lookup(&set.files).unwrap_or_else(|e| {
            eprintln!("tenantguard lint: not using the lint cache: {e:#}");
            None
        });
        let shadow = match &hit {
            Some(h) => match Shadow::start_from(Some((&h.data, &h.meta))).await {
                Ok(s) => Some(s),
                Err(e) => {
                    eprintln!("tenantguard lint: the cached shadow cluster did not start ({e:#}); starting afresh");
                    None
                }
            },
            None => None,
        };
        let from = shadow.as_ref().and(hit.map(|h| h.meta));
        let shadow = match shadow {
            Some(s) => s,
            None => Shadow::start().await?,
        };
        Ok(Linter { shadow, parses: HashMap::new(), cache: Some((cache, from)) })
    }

    /// Save the committed state to the cache when it is new (stops the cluster). Without a
    /// cache, or when the lint committed nothing new, this just shuts the cluster down.
    pub async fn save(self) -> anyhow::Result<()> {
        let Some((cache, from)) = self.cache else { return Ok(()) };
        let Some(meta) = self.shadow.state(&cache.key) else { return Ok(()) };
        if from.is_some_and(|f| f.hash == meta.hash && f.committed == meta.committed) || cache.entry_for(&meta).1 {
            return Ok(());
        }
        let staged = cache.staging()?;
        if let Err(e) = self.shadow.save(staged.join("data.tar")).await {
            let _ = std::fs::remove_dir_all(&staged);
            return Err(e);
        }
        cache.publish(&staged, &meta)
    }

    pub fn startup(&self) -> Duration {
        self.shadow.startup
    }

    pub async fn lint(&mut self, set: &MigrationSet, config: &Config) -> anyhow::Result<Outcome> {
        let started = Instant::now();
        // (up SQL, its first line, chain hash, cached parse)
        type Job = (String, usize, [u8; 32], Option<(ParsedFile, String)>);
        let jobs: Vec<Job> =
            set.files.iter().map(|f| (f.up_sql().to_string(), f.up.0, f.chain_hash, self.parses.get(&f.chain_hash).cloned())).collect();
        let (tx, rx) = std::sync::mpsc::channel::<(ParsedFile, String)>();
        // Parsing runs on its own thread while the server applies: the two overlap on two cores.
        let parser = std::thread::spawn(move || {
            let mut search_path = "public".to_string();
            for (sql, base, _, cached) in jobs {
                let item = match cached {
                    Some(c) => c,
                    None => {
                        let p = parse_file(&sql, base, &mut search_path);
                        (p, search_path.clone())
                    }
                };
                search_path = item.1.clone();
                if tx.send(item).is_err() {
                    return;
                }
            }
        });
        let mut received: Vec<String> = Vec::new();
        let mut next = |_: usize| -> ParsedFile {
            match rx.recv() {
                Ok((p, sp)) => {
                    received.push(sp);
                    p
                }
                Err(_) => ParsedFile::default(),
            }
        };
        let (applied, parsed, snapshot) = self.shadow.apply_and_read(&set.files, &mut next).await?;
        let _ = parser.join();
        for ((f, p), sp) in set.files.iter().zip(&parsed).zip(&received) {
            self.parses.entry(f.chain_hash).or_insert_with(|| (p.clone(), sp.clone()));
        }
        let applied_at = Instant::now();

        if applied.failures.is_empty() {
            check_app_roles(&snapshot, config)?;
        }
        let mut findings = tenantguard_rules::run(&snapshot, config);
        let app = app_context(&snapshot, config);

        let index = Index::build(&parsed);
        let mut at_stmt: Vec<Option<StmtRef>> = Vec::with_capacity(findings.len());
        for f in &mut findings {
            let s = index.locate(f);
            if let Some(s) = s {
                let file = &set.files[s.file];
                let (line, col) = line_col(&file.text, s.start);
                f.file = Some(file.display.clone());
                f.line = Some(line);
                f.column = Some(col);
            }
            at_stmt.push(s);
        }
        for fail in &applied.failures {
            let file = &set.files[fail.file];
            let (line, col) = line_col(&file.text, fail.offset);
            let mut message = format!("the migration fails to apply: {}", fail.message);
            if fail.also_failed > 0 {
                message.push_str(&format!(" ({} later statement(s) in this file failed too)", fail.also_failed));
            }
            let mut f = at(MIGRATION_FAILED, &file.display, &file.display, line, col, message, "Fix the statement; objects it would have created are missing from the rest of this lint");
            f.detail = Some(fail.message.clone());
            findings.push(f);
            at_stmt.push(fail.stmt_start.map(|start| StmtRef { file: fail.file, start }));
        }
        let mut findings = suppress_findings(set, &parsed, findings, at_stmt);
        findings.extend(set.problems.iter().cloned());
        let audit = applied_at.elapsed();
        let total = started.elapsed();
        Ok(Outcome {
            findings,
            app,
            timings: Timings { parse_and_apply: applied_at.duration_since(started), audit, total, reused_files: applied.reused },
        })
    }
}

fn check_app_roles(snapshot: &Snapshot, config: &Config) -> anyhow::Result<()> {
    let missing: Vec<&str> = config.app_roles.iter().filter(|r| snapshot.role_by_name(r).is_none()).map(String::as_str).collect();
    if !missing.is_empty() {
        anyhow::bail!(
            "app role {} is not created by the migrations; check --app-role / app_roles (roles they create: {})",
            missing.join(", "),
            snapshot.roles.iter().filter(|r| !r.name.starts_with("pg_") && r.name != "postgres").map(|r| r.name.as_str()).collect::<Vec<_>>().join(", ")
        );
    }
    Ok(())
}

/// What the application-code scan should treat as tenant settings and tables.
pub fn app_context(snapshot: &Snapshot, config: &Config) -> AppContext {
    let audit = Audit::new(snapshot, config);
    let mut tables = Vec::new();
    for r in &snapshot.relations {
        if audit.model.is_tenant_table(r.oid) {
            tables.push(r.name.to_ascii_lowercase());
            tables.push(format!("{}.{}", r.schema, r.name).to_ascii_lowercase());
        }
    }
    AppContext { tenant_settings: audit.model.tenant_settings.iter().map(|s| s.to_ascii_lowercase()).collect(), tenant_tables: tables, tenant_words: tenant_words(config) }
}

pub fn tenant_words(config: &Config) -> Vec<String> {
    let cols: Vec<String> = if config.tenant_columns.is_empty() {
        tenantguard_rules::config::DEFAULT_TENANT_COLUMNS.iter().map(|s| s.to_string()).collect()
    } else {
        config.tenant_columns.clone()
    };
    let mut words: Vec<String> = cols.iter().map(|c| c.to_ascii_lowercase().replace('_', "").trim_end_matches("uuid").trim_end_matches("id").to_string()).filter(|w| w.len() >= 3).collect();
    words.push("tenant".into());
    words.sort();
    words.dedup();
    words
}

/// Drop findings an ignore comment names on their statement; report ignores that matched nothing.
fn suppress_findings(set: &MigrationSet, parsed: &[ParsedFile], findings: Vec<Finding>, at_stmt: Vec<Option<StmtRef>>) -> Vec<Finding> {
    struct Entry {
        stmt: Option<StmtRef>,
        file: usize,
        offset: usize,
        result: Result<suppress::Ignore, String>,
        used: bool,
    }
    let mut entries: Vec<Entry> = Vec::new();
    for (fi, (file, p)) in set.files.iter().zip(parsed).enumerate() {
        for (off, comment) in suppress::comments_in(file.up_sql()) {
            let Some(result) = suppress::parse(comment) else { continue };
            let offset = file.up.0 + off;
            let next = p.stmts.iter().find(|s| s.start > offset).map(|s| StmtRef { file: fi, start: s.start });
            entries.push(Entry { stmt: next, file: fi, offset, result, used: false });
        }
    }
    let mut out = Vec::new();
    for (f, s) in findings.into_iter().zip(at_stmt) {
        let hit = s.and_then(|s| entries.iter_mut().find(|e| e.stmt == Some(s) && e.result.as_ref().is_ok_and(|ig| ig.rules.contains(&f.rule))));
        match hit {
            Some(e) => e.used = true,
            None => out.push(f),
        }
    }
    for e in entries {
        let file = &set.files[e.file];
        let (line, col) = line_col(&file.text, e.offset);
        match e.result {
            Err(msg) => out.push(at(UNUSED_SUPPRESSION, &file.display, &file.display, line, col, msg, "Write `-- tenantguard-ignore <rule-id>: <reason>` right above the statement")),
            Ok(ig) if !e.used => out.push(at(
                UNUSED_SUPPRESSION,
                &file.display,
                &file.display,
                line,
                col,
                format!("`tenantguard-ignore {}` suppresses nothing on the next statement", ig.rules.join(", ")),
                "Remove the stale comment, or move it right above the statement the finding points at",
            )),
            Ok(_) => {}
        }
    }
    out
}
