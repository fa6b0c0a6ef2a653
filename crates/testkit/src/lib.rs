//! Throwaway PostgreSQL clusters.
//!
//! A cluster is started from the server binaries already installed on the machine
//! (Debian's `/usr/lib/postgresql/<v>/bin`, or `TENANTGUARD_PG_BIN`), lives in a
//! temporary directory and is shut down and deleted when the [`Cluster`] is dropped.
//! `initdb` runs once per machine and PostgreSQL version: later clusters copy that
//! template data directory, which makes a fresh cluster cost a copy and a start.

mod binaries;
mod cluster;
mod error;

pub use binaries::PgBinaries;
pub use cluster::{Cluster, ClusterOptions};
pub use error::TestkitError;
