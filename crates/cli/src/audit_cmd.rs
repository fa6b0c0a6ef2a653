//! `tenantguard audit` and `tenantguard rules`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::Args;
use tenantguard_catalog::reader::{connect, redact};
use tenantguard_catalog::{read_snapshot, ReadOptions, Snapshot};
use tenantguard_report::{render, Format, Report, DEFAULT_DOCS_URL};
use tenantguard_rules::baseline::Baseline;
use tenantguard_rules::{all_rules, Config, FailOn, Finding, TenantOptions};

use crate::output::{color_wanted, emit, write_atomically};

#[derive(Args)]
pub struct AuditArgs {
    /// Connection URL; defaults to $DATABASE_URL.
    #[arg(long, env = "DATABASE_URL", value_name = "URL", hide_env_values = true)]
    pub database_url: Option<String>,
    #[command(flatten)]
    pub tenant: TenantOptions,
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Exit 1 when a finding is at or above this tier.
    #[arg(long, value_enum, default_value = "critical")]
    pub fail_on: FailOn,
    /// Accept the findings listed in this file (each with a reason); only new ones count.
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
    /// Write the current findings as a baseline to fill in with reasons.
    #[arg(long, value_name = "FILE")]
    pub write_baseline: Option<PathBuf>,
    /// Write the report to this file instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Base URL of the rule pages, for links in reports.
    #[arg(long, default_value = DEFAULT_DOCS_URL)]
    pub docs_url: String,
    /// Also save the catalog snapshot (JSON) to this file, to audit again later without the database.
    #[arg(long, value_name = "FILE")]
    pub save_snapshot: Option<PathBuf>,
    /// Audit a snapshot saved with --save-snapshot instead of connecting.
    #[arg(long, value_name = "FILE", conflicts_with = "database_url")]
    pub from_snapshot: Option<PathBuf>,
}

/// Connect, read the snapshot (read-only) and run the rules.
pub async fn audit_database(url: &str, config: &Config) -> anyhow::Result<(Snapshot, Vec<Finding>)> {
    let client = connect(url).await?;
    let snapshot = read_snapshot(&client, &ReadOptions::default()).await?;
    check_app_roles(&snapshot, config)?;
    let findings = tenantguard_rules::run(&snapshot, config);
    Ok((snapshot, findings))
}

fn check_app_roles(snapshot: &Snapshot, config: &Config) -> anyhow::Result<()> {
    let missing: Vec<&str> = config.app_roles.iter().filter(|r| snapshot.role_by_name(r).is_none()).map(String::as_str).collect();
    if !missing.is_empty() {
        bail!(
            "app role {} does not exist in database {}; check --app-role / app_roles (roles there: {})",
            missing.join(", "),
            snapshot.database,
            snapshot.roles.iter().filter(|r| !r.name.starts_with("pg_")).map(|r| r.name.as_str()).collect::<Vec<_>>().join(", ")
        );
    }
    Ok(())
}

pub fn exit_code(findings: &[Finding], fail_on: FailOn) -> ExitCode {
    if fail_on.blocks(findings) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

pub async fn run(args: AuditArgs) -> anyhow::Result<ExitCode> {
    let config = args.tenant.load()?;
    let baseline = match &args.baseline {
        Some(p) => Some(Baseline::load(&p.to_string_lossy())?),
        None => None,
    };
    let (snapshot, findings) = match (&args.from_snapshot, args.database_url.as_deref()) {
        (Some(path), _) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("cannot read snapshot {}", path.display()))?;
            let snapshot: Snapshot = serde_json::from_str(&text)
                .with_context(|| format!("{} is not a tenantguard snapshot (write one with --save-snapshot)", path.display()))?;
            check_app_roles(&snapshot, &config)?;
            let findings = tenantguard_rules::run(&snapshot, &config);
            (snapshot, findings)
        }
        (None, Some(url)) => audit_database(url, &config).await.with_context(|| format!("auditing {}", redact(url)))?,
        (None, None) => bail!("no database given: pass --database-url postgres://user@host/db or set DATABASE_URL (or try `tenantguard demo`)"),
    };
    if let Some(path) = &args.save_snapshot {
        let json = serde_json::to_string(&snapshot).context("serialising the snapshot")?;
        write_atomically(path, json.as_bytes())?;
    }
    if let Some(path) = &args.write_baseline {
        write_atomically(path, Baseline::from_findings(&findings).to_toml().as_bytes())?;
        eprintln!("wrote {} finding(s) to {}; replace each TODO reason with a justification", findings.len(), path.display());
    }
    let (findings, accepted) = match &baseline {
        Some(b) => b.split(findings),
        None => (findings, Vec::new()),
    };
    let report = Report { database: &snapshot.database, findings: &findings, accepted: accepted.len(), docs_url: &args.docs_url };
    let text = render(&report, args.format, color_wanted(args.output.is_some()));
    emit(&text, args.output.as_deref())?;
    Ok(exit_code(&findings, args.fail_on))
}

#[derive(Args)]
pub struct RulesArgs {
    #[arg(long, default_value = DEFAULT_DOCS_URL)]
    pub docs_url: String,
}

pub fn list_rules(args: RulesArgs) -> anyhow::Result<ExitCode> {
    // The audit's rules (which lint also runs on migrations), then those only lint reports.
    let lint_only = tenantguard_lint::extra_rules::EXTRA_RULES.iter().map(|r| (r.severity, r.id, r.summary));
    for (severity, id, summary) in all_rules().iter().map(|r| (r.severity, r.id, r.summary)).chain(lint_only) {
        println!("{:<8} {:<40} {}", severity.as_str(), id, summary);
        println!("{:<8} {:<40} {}/{}.md", "", "", args.docs_url.trim_end_matches('/'), id);
    }
    Ok(ExitCode::SUCCESS)
}
