//! `tenantguard demo`: the embedded default. A throwaway cluster from the local server
//! binaries, a realistic SaaS schema with real flaws, the audit, then the cluster is gone.

use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use tenantguard_report::{render, Format, Report, DEFAULT_DOCS_URL};
use tenantguard_rules::{Config, FailOn};
use tenantguard_testkit::Cluster;

use crate::audit_cmd::{audit_database, exit_code};
use crate::output::{color_wanted, emit};

const SCHEMA: &str = include_str!("../demo/saas.sql");
const CONFIG: &str = include_str!("../demo/tenantguard.toml");

#[derive(Args)]
pub struct DemoArgs {
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Exit 1 when a finding is at or above this tier (the demo's schema is flawed on purpose).
    #[arg(long, value_enum, default_value = "never")]
    pub fail_on: FailOn,
    /// Print the demo schema instead of running it.
    #[arg(long)]
    pub print_schema: bool,
    /// Skip the proof: by default the text demo also attacks the schema as app_user (rolled back).
    #[arg(long)]
    pub no_probe: bool,
}

pub async fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    if args.print_schema {
        print!("{SCHEMA}");
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!("tenantguard demo: starting a throwaway PostgreSQL from the local server binaries…");
    let started = std::time::Instant::now();
    let cluster = Cluster::start().context("starting the throwaway cluster")?;
    eprintln!(
        "  PostgreSQL {} from {} on 127.0.0.1:{} (up in {:.2}s)",
        cluster.binaries().version,
        cluster.binaries().bin_dir.display(),
        cluster.port(),
        started.elapsed().as_secs_f64()
    );
    cluster.create_database("saas").context("creating the demo database")?;
    cluster.psql("saas", SCHEMA).context("loading the demo schema")?;
    eprintln!("  loaded a project-management SaaS schema (tenantguard demo --print-schema shows it); auditing as app_user…\n");
    let config = Config::parse(CONFIG, "demo/tenantguard.toml")?;
    let (snapshot, findings) = audit_database(&cluster.url("saas"), &config).await?;
    let report = Report { database: &snapshot.database, findings: &findings, accepted: 0, docs_url: DEFAULT_DOCS_URL };
    emit(&render(&report, args.format, color_wanted(false)), None)?;
    if matches!(args.format, Format::Text) && !args.no_probe {
        eprintln!("\n  now proving it: tenantguard probe attacks as app_user with tenant acme's context (every attempt rolled back)…\n");
        let options = tenantguard_probe::ProbeOptions {
            url: cluster.url("saas"),
            app_url: Some(cluster.role_url("app_user", Some("demo"), "saas")),
            config: config.clone(),
            tenants: None,
            connections: 2,
        };
        let matrix = tenantguard_probe::probe(&options).await.context("probing the demo schema")?;
        emit(&tenantguard_probe::render::render(&matrix, tenantguard_probe::render::Format::Text), None)?;
    }
    drop(cluster);
    eprintln!("\n  throwaway cluster stopped and removed.");
    Ok(exit_code(&findings, args.fail_on))
}
