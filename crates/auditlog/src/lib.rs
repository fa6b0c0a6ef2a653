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
