//! `tenantguard`: thin glue from the command line to the pipeline crates.
//! Exit codes: 0 nothing at or above --fail-on, 1 something is, 2 errors of use.

mod audit_cmd;
mod demo;
mod output;
mod scaffold_cmd;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "tenantguard", version, about = "Prove that no tenant can see or change another tenant's data in PostgreSQL.")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start a throwaway PostgreSQL, load a flawed SaaS schema, audit it, and stop (needs no server).
    Demo(demo::DemoArgs),
    /// Read a live database's catalogs (read-only) and report every tenant-isolation failure.
    Audit(audit_cmd::AuditArgs),
    /// Attack isolation as the application role (always rolled back) and show what leaks.
    Probe(tenantguard_probe::cli::ProbeArgs),
    /// Run the audit's rules on SQL migrations (and app code) before they ship.
    Lint(tenantguard_lint::cli::LintArgs),
    /// Generate reviewed SQL: the append-only audit log, RLS policies, tenant erasure.
    #[command(subcommand)]
    Scaffold(ScaffoldCommand),
    /// Verify, anchor, seal and erase the tamper-evident audit log.
    #[command(subcommand, name = "audit-log")]
    AuditLog(tenantguard_auditlog::cli::AuditLogCommand),
    /// List the rules with their tier and documentation page.
    Rules(audit_cmd::RulesArgs),
}

#[derive(Subcommand)]
enum ScaffoldCommand {
    /// Write a migration creating the append-only, hash-chained audit log.
    AuditLog(tenantguard_auditlog::cli::ScaffoldAuditLogArgs),
    /// Write a migration adding forced RLS and a tenant guard to every tenant table the audit rejects.
    Rls(scaffold_cmd::ScaffoldArgs),
    /// Write the right-to-be-forgotten cascade for one tenant, planned from the foreign keys.
    Erasure(scaffold_cmd::ErasureArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => return fail(anyhow::anyhow!("cannot start the async runtime: {e}")),
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Demo(args) => demo::run(args).await,
            Command::Audit(args) => audit_cmd::run(args).await,
            Command::Probe(args) => tenantguard_probe::cli::run(args).await,
            Command::Lint(args) => tenantguard_lint::cli::run(args).await,
            Command::Scaffold(ScaffoldCommand::AuditLog(args)) => tenantguard_auditlog::cli::scaffold(args),
            Command::Scaffold(ScaffoldCommand::Rls(args)) => scaffold_cmd::rls(args).await,
            Command::Scaffold(ScaffoldCommand::Erasure(args)) => scaffold_cmd::erasure(args).await,
            Command::AuditLog(cmd) => tenantguard_auditlog::cli::run(cmd).await,
            Command::Rules(args) => audit_cmd::list_rules(args),
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => fail(e),
    }
}

/// Errors of use: one line naming the problem and what to do, exit 2.
fn fail(e: anyhow::Error) -> ExitCode {
    eprintln!("error: {e:#}");
    ExitCode::from(2)
}
