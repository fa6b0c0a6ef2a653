//! Append-only, tamper-evident, per-tenant audit log on PostgreSQL.
//!
//! * [`scaffold`] renders the migration (log table, guards, capture triggers, sealer).
//! * [`encoding`] is the canonical encoding v1 and its hashes, shared with the SQL side.
//! * [`verify`] recomputes every chain in Rust; [`anchor`] signs the heads outside the database.
//! * [`cli`] is the clap interface the `tenantguard` binary mounts.

pub mod scaffold;
pub mod encoding;
pub mod db;
mod copy_rows;
pub mod holes;
pub mod verify;
pub mod anchor;
pub mod ops;
pub mod cli;

/// The `dynamic_library_path` a throwaway cluster needs to load the C capture trigger this
/// build compiled (build.rs): its directory first, then the server's own; or why it was not built.
pub fn capture_library_path() -> Result<String, &'static str> {
    match (option_env!("TG_AUDIT_EXT_DIR"), option_env!("TG_AUDIT_EXT_MISSING")) {
        (Some(dir), _) => Ok(format!("{dir}:$libdir")),
        (None, why) => Err(why.unwrap_or("build.rs did not run")),
    }
}

/// The statement the runtime runs in its tenant transaction to record an app-level event
/// (login, export, role change): parameters actor, action, entity, entity_id (text) and
/// old, new (jsonb). The tenant comes from `app.current_tenant`; see docs/audit-log.md.
pub fn record_sql(schema: &str) -> String {
    format!("SELECT {schema}.record($1::text, $2::text, $3::text, $4::text, $5::jsonb, $6::jsonb)")
}
