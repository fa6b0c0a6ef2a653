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
