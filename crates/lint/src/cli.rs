//! `tenantguard lint`: flags mirror `tenantguard audit` (the tenant flags are the rules crate's
//! `TenantOptions`; the output format and `--fail-on` are the report and rules crates' types too).

use std::collections::HashSet;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::Args;
pub use tenantguard_report::Format;
use tenantguard_report::{render, Report, DEFAULT_DOCS_URL};
use tenantguard_rules::baseline::Baseline;
pub use tenantguard_rules::FailOn;
use tenantguard_rules::{Config, Finding, TenantOptions};

use crate::appcode::{self, AppContext};
use crate::extra_rules::{at, MIGRATION_ORDER};
use crate::layout::{self, Layout};
use crate::pipeline::{tenant_words, Linter, Outcome};
use crate::source::{self, MigrationSet};

/// `tenantguard lint` options.
#[derive(Args, Default)]
pub struct LintArgs {
    /// Migration directories and application source trees (default: the current directory).
    #[arg(value_name = "PATHS")]
    pub paths: Vec<PathBuf>,
    /// The migrations directory (default: [lint] migrations_dir, a PATH holding *.sql files, or ./migrations, ./db/migrations …).
    #[arg(long, value_name = "DIR")]
    pub migrations_dir: Option<PathBuf>,
    /// Migration layout: plain (sqlx, refinery), flyway, golang-migrate, dbmate (default: detected).
    #[arg(long, value_name = "LAYOUT")]
    pub layout: Option<String>,
    /// Report only findings that are new compared with the migrations at this git ref.
    #[arg(long, value_name = "REF")]
    pub base: Option<String>,
    /// Do not scan application code.
    #[arg(long)]
    pub no_app: bool,
    #[command(flatten)]
    pub tenant: TenantOptions,
    #[arg(long, value_enum, default_value = "text")]
    pub format: Option<Format>,
    /// Exit 1 when a finding is at or above this tier.
    #[arg(long, value_enum, default_value = "critical")]
    pub fail_on: Option<FailOn>,
    /// Accept the findings listed in this file (each with a reason); only new ones count.
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
    /// Write the report to this file instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Base URL of the rule pages, for links in reports.
    #[arg(long, default_value = DEFAULT_DOCS_URL)]
    pub docs_url: Option<String>,
    /// Print the cluster start-up and lint times to stderr.
    #[arg(long)]
    pub timings: bool,
    /// Keep the shadow cluster here between runs (default: target/tenantguard-lint-cache in a
    /// cargo project, else $XDG_CACHE_HOME/tenantguard/lint).
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Start every run from an empty shadow cluster and keep nothing.
    #[arg(long, conflicts_with = "cache_dir")]
    pub no_cache: bool,
}

/// The `[lint]` table of tenantguard.toml.
#[derive(Default)]
struct LintSettings {
    migrations_dir: Option<PathBuf>,
    layout: Option<String>,
    app_paths: Vec<PathBuf>,
}

fn settings(config: &Config) -> anyhow::Result<LintSettings> {
    let mut s = LintSettings::default();
    let Some(t) = &config.lint else { return Ok(s) };
    for (k, v) in t {
        match (k.as_str(), v) {
            ("migrations_dir", toml::Value::String(d)) => s.migrations_dir = Some(PathBuf::from(d)),
            ("layout", toml::Value::String(l)) => s.layout = Some(l.clone()),
            ("app_paths", toml::Value::Array(a)) => s.app_paths = a.iter().filter_map(|v| v.as_str().map(PathBuf::from)).collect(),
            _ => bail!("[lint] {k} is not a lint setting (known: migrations_dir = \"…\", layout = \"…\", app_paths = [\"…\"]); see docs/lint.md"),
        }
    }
    Ok(s)
}

const COMMON_DIRS: &[&str] = &["migrations", "db/migrations", "db/migrate", "database/migrations", "sql/migrations", "src/main/resources/db/migration", "supabase/migrations"];

fn has_sql(dir: &Path) -> bool {
    std::fs::read_dir(dir).map(|rd| rd.flatten().any(|e| e.path().extension().is_some_and(|x| x.eq_ignore_ascii_case("sql")))).unwrap_or(false)
}

/// Where migrations are, and which paths hold application code.
fn resolve(a: &LintArgs, s: &LintSettings) -> (Option<PathBuf>, bool, Vec<PathBuf>) {
    let mut app = Vec::new();
    let mut migrations = a.migrations_dir.clone().or_else(|| s.migrations_dir.clone());
    let explicit = migrations.is_some();
    for p in &a.paths {
        if migrations.is_none() && p.is_dir() && has_sql(p) {
            migrations = Some(p.clone());
        } else if p.extension().is_some_and(|x| x.eq_ignore_ascii_case("sql")) && migrations.is_none() {
            migrations = p.parent().map(Path::to_path_buf);
        } else {
            app.push(p.clone());
        }
    }
    let roots: Vec<PathBuf> = if a.paths.is_empty() { vec![PathBuf::from(".")] } else { app.clone() };
    if migrations.is_none() {
        migrations = roots.iter().flat_map(|r| COMMON_DIRS.iter().map(move |d| r.join(d))).find(|d| has_sql(d));
    }
    if a.paths.is_empty() {
        app = if s.app_paths.is_empty() { vec![PathBuf::from(".")] } else { s.app_paths.clone() };
    }
    (migrations, explicit, app)
}

fn shown(p: &Path) -> String {
    let s = p.display().to_string();
    s.strip_prefix("./").map(str::to_string).unwrap_or(s)
}

/// One lint; the linter comes back so its cluster can be saved to the cache after the report is out.
async fn lint_set(set: &MigrationSet, config: &Config, cache: Option<&Path>) -> anyhow::Result<(Outcome, std::time::Duration, Linter)> {
    let mut linter = match cache {
        Some(dir) => Linter::start_cached(dir, set).await?,
        None => Linter::start().await?,
    };
    let startup = linter.startup();
    Ok((linter.lint(set, config).await?, startup, linter))
}

pub async fn run(args: LintArgs) -> anyhow::Result<ExitCode> {
    if let Some(missing) = args.paths.iter().find(|p| !p.exists()) {
        bail!("{} does not exist; pass migration directories, source directories or files to lint", missing.display());
    }
    let config = args.tenant.load()?;
    let s = settings(&config)?;
    let layout = match args.layout.as_deref().or(s.layout.as_deref()) {
        Some(l) => Some(Layout::parse(l).ok_or_else(|| anyhow::anyhow!("unknown layout {l}; use plain, flyway, golang-migrate or dbmate"))?),
        None => None,
    };
    let (migrations, explicit, app_paths) = resolve(&args, &s);
    let docs_url = args.docs_url.clone().unwrap_or_else(|| DEFAULT_DOCS_URL.to_string());

    let mut findings: Vec<Finding> = Vec::new();
    let mut app_ctx = AppContext { tenant_words: tenant_words(&config), tenant_settings: config.tenant_settings.iter().map(|s| s.to_ascii_lowercase()).collect(), ..Default::default() };
    let mut root_for_base = None;
    if let Some(base) = &args.base {
        let dir = migrations.clone().unwrap_or_else(|| PathBuf::from("."));
        root_for_base = Some(crate::base::check(&dir, base)?);
    }
    let cache = if args.no_cache { None } else { args.cache_dir.clone().or_else(|| crate::cache::default_dir(Path::new("."))) };
    let mut finished: Vec<Linter> = Vec::new();
    let mut label = String::from("application code");
    if let Some(dir) = &migrations {
        if !dir.is_dir() {
            bail!("migrations directory {} does not exist", dir.display());
        }
        let set = source::read_dir(dir, layout)?;
        label = shown(dir);
        let set = MigrationSet { dir: label.clone(), ..set };
        let set = relabel(set, dir);
        if set.files.is_empty() && set.problems.is_empty() {
            if explicit || args.no_app {
                bail!("no migrations in {} (looked for *.sql files directly in it); pass --migrations-dir to point at them", dir.display());
            }
        } else {
            let head = lint_set(&set, &config, cache.as_deref());
            let outcome = if let Some(base) = &args.base {
                let base_files = crate::base::files_at(dir, base)?;
                let base_set = source::build(&label, base_files, set.layout);
                let (head, base_outcome) = if base_set.files.is_empty() {
                    (head.await?, None)
                } else {
                    let (h, b) = tokio::join!(head, lint_set(&base_set, &config, cache.as_deref()));
                    // A base that no longer lints (it failed in its time too) still gives its keys when possible.
                    if let Err(e) = &b {
                        eprintln!("tenantguard lint: the migrations at {base} did not lint ({e:#}); every finding counts as new");
                    }
                    (h?, b.ok())
                };
                let (mut outcome, startup, linter) = head;
                finished.push(linter);
                let old: HashSet<String> = match base_outcome {
                    Some((o, _, l)) => {
                        finished.push(l);
                        o.findings.iter().map(Finding::key).collect()
                    }
                    None => HashSet::new(),
                };
                outcome.findings.retain(|f| !old.contains(&f.key()));
                outcome.findings.extend(out_of_order(&set, &base_set));
                (outcome, startup)
            } else {
                let (outcome, startup, linter) = head.await?;
                finished.push(linter);
                (outcome, startup)
            };
            let (outcome, startup) = outcome;
            if args.timings {
                eprintln!(
                    "tenantguard lint: cluster up in {:.2}s; lint {:.2}s (parse, apply and catalog read {:.2}s, rules and locations {:.2}s) for {} files, {} already in the shadow (lint cache)",
                    startup.as_secs_f64(),
                    outcome.timings.total.as_secs_f64(),
                    outcome.timings.parse_and_apply.as_secs_f64(),
                    outcome.timings.audit.as_secs_f64(),
                    set.files.len(),
                    outcome.timings.reused_files
                );
            }
            app_ctx = outcome.app;
            findings.extend(outcome.findings);
        }
    } else if args.no_app || explicit {
        bail!("no migrations found (looked for {} under {}); pass --migrations-dir DIR", COMMON_DIRS.join(", "), if args.paths.is_empty() { ".".to_string() } else { args.paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ") });
    }

    if !args.no_app {
        let skip: Vec<PathBuf> = migrations.iter().cloned().collect();
        let files = appcode::collect(&app_paths, &skip);
        let mut app_findings = appcode::scan_files(&files, &app_ctx);
        if let (Some(base), Some(root)) = (&args.base, &root_for_base) {
            let changed: HashSet<PathBuf> = crate::base::changed_since(root, base)?.into_iter().filter_map(|p| p.canonicalize().ok()).collect();
            app_findings.retain(|f| f.file.as_ref().and_then(|p| Path::new(p).canonicalize().ok()).is_some_and(|p| changed.contains(&p)));
        }
        if migrations.is_none() && files.is_empty() {
            bail!("nothing to lint: no migrations directory (looked for {}) and no application sources; pass --migrations-dir DIR or PATHS", COMMON_DIRS.join(", "));
        }
        findings.extend(app_findings);
    }
    findings.sort_by(|a, b| b.severity.cmp(&a.severity).then_with(|| a.file.cmp(&b.file)).then_with(|| a.line.cmp(&b.line)).then_with(|| a.rule.cmp(&b.rule)).then_with(|| a.object.cmp(&b.object)));

    let (findings, accepted) = match &args.baseline {
        Some(p) => Baseline::load(&p.to_string_lossy())?.split(findings),
        None => (findings, Vec::new()),
    };
    let format = args.format.unwrap_or(Format::Text);
    let report = Report { database: &label, findings: &findings, accepted: accepted.len(), docs_url: &docs_url };
    let color = args.output.is_none() && std::env::var_os("NO_COLOR").is_none() && std::io::stdout().is_terminal();
    let mut text = render(&report, format, color);
    if format == Format::Sarif {
        text = crate::sarif::extend(&text, &docs_url);
    }
    if format == Format::Text && args.output.is_none() && std::env::var("GITHUB_ACTIONS").as_deref() == Ok("true") {
        // In Actions the text report also becomes annotations on the pull request's lines.
        text.push_str(&render(&report, Format::Github, false));
    }
    emit(&text, args.output.as_deref())?;
    // The report is out; keeping the shadow for the next run must not fail this one.
    let saving = std::time::Instant::now();
    for linter in finished {
        if let Err(e) = linter.save().await {
            eprintln!("tenantguard lint: could not save the shadow cluster to the lint cache: {e:#}");
        }
    }
    if args.timings && cache.is_some() {
        eprintln!("tenantguard lint: cache saved in {:.2}s", saving.elapsed().as_secs_f64());
    }
    Ok(if args.fail_on.unwrap_or(FailOn::Critical).blocks(&findings) { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

/// Report paths as the user wrote the directory (without a leading "./").
fn relabel(mut set: MigrationSet, dir: &Path) -> MigrationSet {
    let prefix = shown(dir);
    for f in &mut set.files {
        f.display = if prefix.is_empty() || prefix == "." { f.name.clone() } else { format!("{}/{}", prefix.trim_end_matches('/'), f.name) };
    }
    for p in &mut set.problems {
        let fix = |s: &mut String| {
            if let Some(rest) = s.strip_prefix(&format!("{}/", dir.display())) {
                *s = if prefix == "." { rest.to_string() } else { format!("{prefix}/{rest}") };
            }
        };
        fix(&mut p.object);
        if let Some(f) = &mut p.file {
            fix(f);
        }
    }
    set
}

/// New files that sort before a file the base already had: existing databases apply them last.
fn out_of_order(head: &MigrationSet, base: &MigrationSet) -> Vec<Finding> {
    let old: HashSet<&str> = base.files.iter().map(|f| f.name.as_str()).collect();
    let Some(max) = base.files.iter().filter(|f| !f.version.is_empty()).map(|f| &f.version).max_by(|a, b| layout::cmp_version(a, b)) else { return Vec::new() };
    head.files
        .iter()
        .filter(|f| !old.contains(f.name.as_str()) && !f.version.is_empty() && layout::cmp_version(&f.version, max).is_lt())
        .map(|f| {
            at(
                MIGRATION_ORDER,
                &f.display,
                &f.display,
                1,
                1,
                format!("new migration version {} sorts before {} already at the base: databases migrated before this change apply it last, fresh ones apply it in order", layout::version_text(&f.version), layout::version_text(max)),
                "Give the new migration a version after every shipped one",
            )
        })
        .collect()
}

fn emit(text: &str, output: Option<&Path>) -> anyhow::Result<()> {
    match output {
        None => std::io::stdout().lock().write_all(text.as_bytes()).context("writing to stdout"),
        Some(path) => {
            let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
            let tmp = dir.join(format!(".{}.tmp-{}", path.file_name().and_then(|n| n.to_str()).unwrap_or("out"), std::process::id()));
            std::fs::write(&tmp, text).with_context(|| format!("cannot write {}; check that the directory exists and is writable", tmp.display()))?;
            std::fs::rename(&tmp, path).with_context(|| format!("cannot move the report into {}", path.display()))
        }
    }
}
