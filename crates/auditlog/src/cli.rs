//! The clap interface the `tenantguard` binary mounts; all logic lives here.
//! Exit codes: 0 all verified, 1 a broken chain or anchor mismatch, 2 an error of use.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};

use crate::db::{connect, require_log, UseError};
use crate::scaffold::{render, Capture, CapturedTable, ScaffoldConfig};
use crate::verify::{verify, verify_with, Report, VerifyOptions};
use crate::{anchor, ops};

#[derive(Debug, Subcommand)]
pub enum AuditLogCommand {
    /// Recompute every tenant's chain and report broken links (exit 1) and open holes.
    Verify(VerifyArgs),
    /// Verify, then write the signed per-tenant heads to a new, read-only anchor file.
    Anchor(AnchorArgs),
    /// Erase payloads for the right to be forgotten; the chain still verifies.
    Erase(EraseArgs),
    /// Seal unsealed rows into their tenants' chains (once, or every --every-ms).
    Seal(SealArgs),
}

#[derive(Debug, Clone, Args)]
pub struct DbArgs {
    /// PostgreSQL URL.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Schema of the audit log.
    #[arg(long, default_value = "audit")]
    pub schema: String,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// Anchor file from `audit-log anchor` to check the chains against.
    #[arg(long)]
    pub anchor: Option<PathBuf>,
    /// Trusted signer: hex public key, or a file holding it. Without it the anchor's own key is used.
    #[arg(long)]
    pub public_key: Option<String>,
    /// Unsealed rows older than this are a finding.
    #[arg(long, default_value_t = 300)]
    pub seal_bound_secs: u64,
    /// Connections that read the links and the log at once, in one snapshot (each a server
    /// process and most of verify's work; 1 on a server with one core to spare).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=16))]
    pub connections: u16,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct AnchorArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// ed25519 signing key file (32 hex bytes). Keep it away from the database host.
    #[arg(long)]
    pub key: PathBuf,
    /// Create the key file if it does not exist.
    #[arg(long)]
    pub generate_key: bool,
    /// The anchor file to create (never overwritten).
    #[arg(long)]
    pub output: PathBuf,
}

#[derive(Debug, Args)]
pub struct EraseArgs {
    #[command(flatten)]
    pub db: DbArgs,
    #[arg(long)]
    pub tenant: String,
    /// Why (kept in the erasure table), e.g. a ticket id.
    #[arg(long)]
    pub reason: String,
    /// Only events on this entity (e.g. public.customers).
    #[arg(long)]
    pub entity: Option<String>,
    /// Only events on this entity id (one data subject).
    #[arg(long, requires = "entity")]
    pub entity_id: Option<String>,
}

#[derive(Debug, Args)]
pub struct SealArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// Keep sealing: a round every this many milliseconds, sealing window after window
    /// while final rows wait (the bounded delay: an event is chained within about one period).
    #[arg(long)]
    pub every_ms: Option<u64>,
    /// Ids per window, one short transaction each (at most this many rows per batch).
    #[arg(long, default_value_t = 10_000)]
    pub max_rows: i32,
}

#[derive(Debug, Args)]
pub struct ScaffoldAuditLogArgs {
    /// Schema for the log.
    #[arg(long, default_value = "audit")]
    pub schema: String,
    /// NOLOGIN role that owns the log (default <schema>_owner).
    #[arg(long)]
    pub owner: Option<String>,
    /// Application roles: they read their tenant's events and call record(), nothing else.
    #[arg(long, value_delimiter = ',')]
    pub app_roles: Vec<String>,
    /// Tables to capture: schema.table (key id) or schema.table(key1+key2).
    #[arg(long, value_delimiter = ',')]
    pub tables: Vec<String>,
    /// The tenant column of the captured tables.
    #[arg(long, default_value = "tenant_id")]
    pub tenant_column: String,
    /// Capture triggers in PL/pgSQL (any server) or C (tenantguard_audit.so installed on the
    /// server: faster; see docs/audit-log.md).
    #[arg(long, value_enum, default_value_t = Capture::Plpgsql)]
    pub capture: Capture,
    /// Write the migration here instead of standard output.
    #[arg(long)]
    pub output: Option<PathBuf>,
}

impl ScaffoldAuditLogArgs {
    pub fn config(&self) -> Result<ScaffoldConfig, String> {
        let tables = self
            .tables
            .iter()
            .map(|t| CapturedTable::parse(&t.replace('+', ","), &self.tenant_column))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())?;
        let cfg = ScaffoldConfig {
            schema: self.schema.clone(),
            owner: self.owner.clone().unwrap_or_else(|| format!("{}_owner", self.schema)),
            app_roles: self.app_roles.clone(),
            tables,
            capture: self.capture,
        };
        cfg.check().map_err(|e| e.to_string())?;
        Ok(cfg)
    }
}

pub fn scaffold(args: ScaffoldAuditLogArgs) -> anyhow::Result<ExitCode> {
    let cfg = match args.config() {
        Ok(cfg) => cfg,
        Err(e) => return Ok(use_error(&e)),
    };
    let sql = render(&cfg);
    match &args.output {
        Some(path) => {
            if let Err(e) = std::fs::write(path, sql) {
                return Ok(use_error(&format!("cannot write {} ({e})", path.display())));
            }
            eprintln!("wrote {} (review it, then apply it as a superuser)", path.display());
        }
        None => print!("{sql}"),
    }
    Ok(ExitCode::SUCCESS)
}

fn use_error(msg: &str) -> ExitCode {
    eprintln!("error: {msg}");
    ExitCode::from(2)
}

pub async fn run(cmd: AuditLogCommand) -> anyhow::Result<ExitCode> {
    let result = match cmd {
        AuditLogCommand::Verify(a) => run_verify(a).await,
        AuditLogCommand::Anchor(a) => run_anchor(a).await,
        AuditLogCommand::Erase(a) => run_erase(a).await,
        AuditLogCommand::Seal(a) => run_seal(a).await,
    };
    Ok(result.unwrap_or_else(|e| use_error(&e.to_string())))
}

async fn run_verify(a: VerifyArgs) -> Result<ExitCode, UseError> {
    let trusted = match &a.public_key {
        Some(k) => {
            let text = std::fs::read_to_string(k).unwrap_or_else(|_| k.clone());
            Some(anchor::parse_public_key(&text).map_err(UseError::Other)?)
        }
        None => None,
    };
    let heads = match &a.anchor {
        Some(path) => Some(anchor::check(&anchor::read(path)?, trusted.as_ref()).map_err(UseError::Other)?),
        None => None,
    };
    let mut client = connect(a.db.database_url.as_deref()).await?;
    let mut helpers = Vec::new();
    for _ in 1..a.connections {
        helpers.push(connect(a.db.database_url.as_deref()).await?);
    }
    let opts = VerifyOptions { schema: a.db.schema.clone(), anchor: heads, seal_bound_secs: a.seal_bound_secs as f64 };
    let mut report = verify_with(&mut client, &helpers, &opts).await?;
    if a.anchor.is_some() && trusted.is_none() {
        report.holes.push(crate::holes::Hole {
            code: "anchor_signer",
            detail: "the anchor was checked against its own embedded key; pass --public-key to pin the signer".into(),
        });
    }
    match a.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&report).map_err(|e| UseError::Other(e.to_string()))?),
        Format::Text => print!("{}", text_report(&report)),
    }
    Ok(if report.ok() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// The first broken link of each tenant, counts, then the holes.
pub fn text_report(r: &Report) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "audit log: {} tenants, {} sealed events ({} erased payloads), {} unsealed, {:.2}s{}",
        r.tenants,
        r.events,
        r.erased,
        r.unsealed,
        r.seconds,
        if r.anchor_checked { ", checked against the anchor" } else { "" }
    );
    if r.ok() {
        let _ = writeln!(out, "OK: every chain verifies");
    } else {
        let mut shown = std::collections::BTreeMap::new();
        for f in &r.findings {
            shown.entry(f.tenant.clone()).or_insert_with(Vec::new).push(f);
        }
        let _ = writeln!(out, "BROKEN: {} findings in {} tenants (first per tenant; --format json lists all)", r.findings.len(), shown.len());
        for (tenant, fs) in shown {
            let f = fs[0];
            let seq = f.seq.map(|s| format!(" seq {s}")).unwrap_or_default();
            let kind = serde_json::to_value(f.kind).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default();
            let _ = writeln!(out, "  tenant {tenant}{seq}: {kind}: {} ({} findings)", f.detail, fs.len());
        }
    }
    if !r.holes.is_empty() {
        let _ = writeln!(out, "open holes (what this verification cannot prove):");
        for h in &r.holes {
            let _ = writeln!(out, "  {}: {}", h.code, h.detail);
        }
    }
    out
}

async fn run_anchor(a: AnchorArgs) -> Result<ExitCode, UseError> {
    let key = anchor::load_key(&a.key, a.generate_key)?;
    let mut client = connect(a.db.database_url.as_deref()).await?;
    let report = verify(&mut client, &VerifyOptions { schema: a.db.schema.clone(), ..VerifyOptions::default() }).await?;
    if !report.ok() {
        eprint!("{}", text_report(&report));
        eprintln!("not anchoring a broken log");
        return Ok(ExitCode::from(1));
    }
    let file = anchor::sign(&key, &a.db.schema, &report.heads);
    anchor::write(&a.output, &file)?;
    println!("anchored {} tenant heads to {} (public key {})", file.heads.len(), a.output.display(), file.public_key);
    Ok(ExitCode::SUCCESS)
}

async fn run_erase(a: EraseArgs) -> Result<ExitCode, UseError> {
    let client = connect(a.db.database_url.as_deref()).await?;
    require_log(&client, &a.db.schema).await?;
    let n = ops::erase(&client, &a.db.schema, &a.tenant, &a.reason, a.entity.as_deref(), a.entity_id.as_deref()).await?;
    println!("erased the payloads of {n} events of tenant {}; their links still verify", a.tenant);
    Ok(ExitCode::SUCCESS)
}

async fn run_seal(a: SealArgs) -> Result<ExitCode, UseError> {
    let client = connect(a.db.database_url.as_deref()).await?;
    require_log(&client, &a.db.schema).await?;
    loop {
        let round = ops::seal_round(&client, &a.db.schema, a.max_rows).await?;
        let n = round.sealed;
        match a.every_ms {
            None if !round.more => {
                println!("sealed {n} rows");
                return Ok(ExitCode::SUCCESS);
            }
            None => println!("sealed {n} rows"),
            // Final rows beyond this window mean a backlog: go on at once. Otherwise wait out
            // the period, so that each round seals everything committed since the last one in
            // a few batches (the merge delay): sealing at once whatever trickled in meanwhile
            // would pay the per-round cost (floor, BRIN summary, claim) for a handful of rows,
            // over and over.
            Some(_) if round.more => {}
            Some(ms) => tokio::time::sleep(Duration::from_millis(ms)).await,
        }
    }
}
