//! `tenantguard probe`. Exit 1 on any leak, 0 otherwise; errors of use surface as `Err` (exit 2).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::bail;
use tenantguard_rules::Config;

use crate::emit_tests::{self, Kind};
use crate::render::{render, Format};
use crate::run::{probe, ProbeOptions};

/// `tenantguard probe` options.
#[derive(clap::Args, Debug, Clone)]
pub struct ProbeArgs {
    /// A login that can SET ROLE to the app role and read every row; defaults to $DATABASE_URL.
    #[arg(long, env = "DATABASE_URL", value_name = "URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// The app role's own login URL: also checks whether logging in sets a tenant.
    #[arg(long, value_name = "URL")]
    pub app_url: Option<String>,
    /// The role the application queries as (repeatable; the first is attacked).
    #[arg(long = "app-role", value_name = "ROLE")]
    pub app_roles: Vec<String>,
    /// A setting that carries the tenant (repeatable); detected from the policies when absent.
    #[arg(long = "tenant-setting", value_name = "NAME")]
    pub tenant_settings: Vec<String>,
    /// A column name that holds the tenant (repeatable); replaces the defaults.
    #[arg(long = "tenant-column", value_name = "NAME")]
    pub tenant_columns: Vec<String>,
    /// tenantguard.toml (default: ./tenantguard.toml when it exists).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Attack as tenant A against tenant B (both values); picked from the data when absent.
    #[arg(long, value_name = "A,B")]
    pub tenants: Option<String>,
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Write the attacks as a regression suite into --out.
    #[arg(long, value_enum, requires = "out")]
    pub emit_tests: Option<Kind>,
    /// Directory for --emit-tests.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Write the report to this file instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Connections attacking in parallel.
    #[arg(long, default_value_t = 3)]
    pub connections: usize,
}

fn load_config(args: &ProbeArgs) -> anyhow::Result<Config> {
    let path = args.config.clone().or_else(|| Path::new("tenantguard.toml").is_file().then(|| PathBuf::from("tenantguard.toml")));
    let mut config = match &path {
        Some(p) => Config::load(&p.to_string_lossy()).map_err(|e| anyhow::anyhow!("{e}; see docs/configuration.md"))?,
        None => Config::default(),
    };
    if !args.app_roles.is_empty() {
        config.app_roles = args.app_roles.clone();
    }
    if !args.tenant_settings.is_empty() {
        config.tenant_settings = args.tenant_settings.clone();
    }
    if !args.tenant_columns.is_empty() {
        config.tenant_columns = args.tenant_columns.clone();
    }
    Ok(config)
}

pub fn parse_tenants(s: &str) -> anyhow::Result<(String, String)> {
    match s.split_once(',') {
        Some((a, b)) if !a.trim().is_empty() && !b.trim().is_empty() && a.trim() != b.trim() => Ok((a.trim().to_string(), b.trim().to_string())),
        _ => bail!("--tenants takes two different tenant values separated by a comma, like --tenants 1111...,2222..."),
    }
}

pub fn options(args: &ProbeArgs) -> anyhow::Result<ProbeOptions> {
    let config = load_config(args)?;
    let Some(url) = args.database_url.clone() else {
        bail!("no database given: pass --database-url postgres://user@host/db (a login that can SET ROLE to the app role) or set DATABASE_URL");
    };
    let tenants = args.tenants.as_deref().map(parse_tenants).transpose()?;
    Ok(ProbeOptions { url, app_url: args.app_url.clone(), config, tenants, connections: args.connections })
}

pub async fn run(args: ProbeArgs) -> anyhow::Result<ExitCode> {
    let opts = options(&args)?;
    let matrix = probe(&opts).await?;
    let text = render(&matrix, args.format);
    match &args.output {
        Some(p) => std::fs::write(p, &text).map_err(|e| anyhow::anyhow!("cannot write {}: {e}", p.display()))?,
        None => print!("{text}"),
    }
    if let (Some(kind), Some(dir)) = (args.emit_tests, &args.out) {
        let path = emit_tests::write(&matrix, kind, dir)?;
        eprintln!("wrote the regression suite to {}", path.display());
    }
    Ok(if matrix.has_leak() { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::*;

    #[derive(Parser)]
    struct Wrapper {
        #[command(flatten)]
        args: ProbeArgs,
    }

    #[test]
    fn flags_parse_and_errors_of_use_are_clear() {
        Wrapper::command().debug_assert();
        let w = Wrapper::try_parse_from([
            "probe", "--database-url", "postgres://x@h/db", "--app-role", "app_user", "--tenant-setting", "app.current_tenant",
            "--tenants", "a,b", "--format", "html", "--emit-tests", "pgtap", "--out", "dir",
        ])
        .unwrap();
        let o = options(&w.args).unwrap();
        assert_eq!(o.tenants, Some(("a".into(), "b".into())));
        assert_eq!(o.config.app_roles, vec!["app_user"]);
        assert!(Wrapper::try_parse_from(["probe", "--emit-tests", "pgtap"]).is_err(), "--emit-tests needs --out");
        assert!(parse_tenants("a").unwrap_err().to_string().contains("two different"));
        assert!(parse_tenants("a,a").is_err());
    }
}
