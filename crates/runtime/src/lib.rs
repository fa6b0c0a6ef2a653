//! The tenantguard runtime: the safe path for a Rust service on sqlx and axum/tower.
//!
//! * [`TenantId`] is parsed once at the edge and only ever bound as a parameter.
//! * [`TenantPool`] hands out [`TenantTx`] only: every transaction starts with
//!   `set_config(<setting>, <tenant>, true)` and checks the value read back. There is
//!   no method that returns a raw pooled connection, so tenant work cannot forget the tenant.
//! * [`CrossTenantAdmin`] is the one explicitly named way to touch another tenant, and it
//!   writes an audit event in every transaction it opens.
//! * [`http::TenantLayer`] resolves the tenant from a verified JWT, a header or a subdomain,
//!   applies per-tenant rate limits and wraps the request in a span carrying the tenant.
//! * [`jobs`] stamps the tenant into every job (an outbox written in the request's
//!   transaction) and runs each job inside that tenant's transaction.
//!
//! Forgetting the tenant does not compile: there is no tenant-less `begin`,
//!
//! ```compile_fail
//! async fn f(pool: tenantguard_runtime::TenantPool) {
//!     let _tx = pool.begin().await;
//! }
//! ```
//!
//! no way to reach the underlying pool,
//!
//! ```compile_fail
//! async fn f(pool: tenantguard_runtime::TenantPool) {
//!     let _conn = pool.raw().acquire().await;
//! }
//! ```
//!
//! and a tenant is only made by parsing (no `From<String>` or public constructor):
//!
//! ```compile_fail
//! let _t: tenantguard_runtime::TenantId = String::from("acme").into();
//! ```
//!
//! whereas the tenant-scoped path does:
//!
//! ```no_run
//! async fn f(pool: tenantguard_runtime::TenantPool) -> Result<(), tenantguard_runtime::Error> {
//!     let tenant = tenantguard_runtime::TenantId::parse("7b0c2a5e-3f1d-4c8e-9a7b-1d2e3f4a5b6c")?;
//!     let mut tx = pool.begin(&tenant).await?;
//!     sqlx::query("SELECT 1").execute(tx.conn()).await?;
//!     tx.commit().await
//! }
//! ```

mod audit;
mod error;
pub mod http;
pub mod jobs;
mod limits;
pub mod metrics;
mod pool;
mod tenant;

pub use audit::AuditEvent;
pub use error::Error;
pub use limits::{RateLimits, Tier};
pub use pool::{CrossTenantAdmin, TenantPool, TenantPoolOptions, TenantTx};
pub use tenant::TenantId;
