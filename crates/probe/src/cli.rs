//! `tenantguard probe`. Exit 1 on any leak, 0 otherwise; errors of use surface as `Err` (exit 2).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;
use tenantguard_rules::TenantOptions;

use crate::emit_tests::{self, Kind};
use crate::render::{render, Format};
use crate::run::{probe, ProbeOptions};

/// `tenantguard probe` options.
// The probe attacks as the first app role: its --app-role help says so (the flag is shared).
#[derive(clap::Args, Debug, Clone)]
#[command(mut_arg("app_roles", |a| a.help("The role the application queries as (repeatable; the first is attacked)")))]
pub struct ProbeArgs {
    /// A login that can SET ROLE to the app role and read every row; defaults to $DATABASE_URL.
    #[arg(long, env = "DATABASE_URL", value_name = "URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// The app role's own login URL: also checks whether logging in sets a tenant.
    #[arg(long, value_name = "URL")]
    pub app_url: Option<String>,
    #[command(flatten)]
    pub tenant: TenantOptions,
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

pub fn parse_tenants(s: &str) -> anyhow::Result<(String, String)> {
    match s.split_once(',') {
        Some((a, b)) if !a.trim().is_empty() && !b.trim().is_empty() && a.trim() != b.trim() => Ok((a.trim().to_string(), b.trim().to_string())),
        _ => bail!("--tenants takes two different tenant values separated by a comma, like --tenants 1111...,2222..."),
    }
}

pub fn options(args: &ProbeArgs) -> anyhow::Result<ProbeOptions> {
    let config = args.tenant.load()?;
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
