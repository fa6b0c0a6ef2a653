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
mod links;
pub mod holes;
pub mod verify;
pub mod anchor;
pub mod ops;
pub mod cli;

/// The `dynamic_library_path` a throwaway cluster needs to load the C capture trigger this
/// build compiled (build.rs), or why it cannot. The server may run as another OS user (testkit
/// runs it as `postgres` when started by root), who cannot always read the build directory (a
/// clone in a `mktemp -d` directory is 0700): the library is served from a copy in a
/// world-readable directory under the system temp dir, one per build directory, replaced
/// atomically so concurrent test binaries never see half a file; once per process.
pub fn capture_library_path() -> Result<String, String> {
    static SERVED: std::sync::OnceLock<Result<String, String>> = std::sync::OnceLock::new();
    SERVED.get_or_init(serve_capture_library).clone()
}

fn serve_capture_library() -> Result<String, String> {
    use std::hash::{Hash, Hasher};
    let built = match (option_env!("TG_AUDIT_EXT_DIR"), option_env!("TG_AUDIT_EXT_MISSING")) {
        (Some(dir), _) => std::path::Path::new(dir).join("tenantguard_audit.so"),
        (None, why) => return Err(why.unwrap_or("build.rs did not run").to_string()),
    };
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    built.hash(&mut hasher);
    let served = std::env::temp_dir().join(format!("tenantguard-capture-{:016x}", hasher.finish()));
    let copy = || -> std::io::Result<()> {
        std::fs::create_dir_all(&served)?;
        let partial = served.join(format!(".tenantguard_audit.so.{}", std::process::id()));
        std::fs::copy(&built, &partial)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&served, std::fs::Permissions::from_mode(0o755))?;
            std::fs::set_permissions(&partial, std::fs::Permissions::from_mode(0o644))?;
        }
        std::fs::rename(&partial, served.join("tenantguard_audit.so"))
    };
    copy().map_err(|e| format!("copying {} to {}: {e}", built.display(), served.display()))?;
    Ok(format!("{}:$libdir", served.display()))
}

/// The statement the runtime runs in its tenant transaction to record an app-level event
/// (login, export, role change): parameters actor, action, entity, entity_id (text) and
/// old, new (jsonb). The tenant comes from `app.current_tenant`; see docs/audit-log.md.
pub fn record_sql(schema: &str) -> String {
    format!("SELECT {schema}.record($1::text, $2::text, $3::text, $4::text, $5::jsonb, $6::jsonb)")
}
