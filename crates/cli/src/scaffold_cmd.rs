//! `tenantguard scaffold rls` and `tenantguard scaffold erasure`: SQL generated from the same
//! snapshot and tenant model the audit uses, written whole to stdout or a file.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::Args;
use tenantguard_catalog::reader::redact;
use tenantguard_rules::{Audit, TenantOptions};

use crate::audit_cmd::audit_database;
use crate::output::emit;

#[derive(Args)]
pub struct ScaffoldArgs {
    /// Connection URL; defaults to $DATABASE_URL.
    #[arg(long, env = "DATABASE_URL", value_name = "URL", hide_env_values = true)]
    pub database_url: Option<String>,
    #[command(flatten)]
    pub tenant: TenantOptions,
    /// Write the migration here instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Args)]
pub struct ErasureArgs {
    #[command(flatten)]
    pub common: ScaffoldArgs,
    /// Name of the generated function.
    #[arg(long, default_value = "tenantguard_erase_tenant")]
    pub function_name: String,
}

async fn load(args: &ScaffoldArgs) -> anyhow::Result<(tenantguard_catalog::Snapshot, Vec<tenantguard_rules::Finding>, tenantguard_rules::Config)> {
    let config = args.tenant.load()?;
    let Some(url) = args.database_url.as_deref() else {
        bail!("no database given: pass --database-url postgres://user@host/db or set DATABASE_URL");
    };
    let (snapshot, findings) = audit_database(url, &config).await.with_context(|| format!("reading {}", redact(url)))?;
    Ok((snapshot, findings, config))
}

pub async fn rls(args: ScaffoldArgs) -> anyhow::Result<ExitCode> {
    let (snapshot, findings, config) = load(&args).await?;
    let audit = Audit::new(&snapshot, &config);
    emit(&tenantguard_fix::rls::render(&audit, &findings), args.output.as_deref())?;
    Ok(ExitCode::SUCCESS)
}

pub async fn erasure(args: ErasureArgs) -> anyhow::Result<ExitCode> {
    let valid = !args.function_name.is_empty()
        && args.function_name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.');
    if !valid {
        bail!("--function-name `{}` must be a plain lower-case identifier (letters, digits, _ and an optional schema.)", args.function_name);
    }
    let (snapshot, _, config) = load(&args.common).await?;
    let audit = Audit::new(&snapshot, &config);
    emit(&tenantguard_fix::erasure::render(&audit, &args.function_name), args.common.output.as_deref())?;
    Ok(ExitCode::SUCCESS)
}
