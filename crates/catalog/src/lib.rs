//! The catalog [`Snapshot`]: everything the isolation rules, the probe, the fixers and
//! the erasure planner need to know about a database, read once (from a live database
//! or from a shadow database built from migrations) and then analysed without I/O.
//!
//! * [`model`]: the plain data (serde, so snapshots can be saved and replayed);
//! * [`expr`]: SQL expressions parsed by PostgreSQL's own parser into a small AST;
//! * [`access`]: PostgreSQL's access semantics over the model (membership, privileges,
//!   who skips RLS, which policies apply to whom);
//! * [`reader`]: reads a snapshot in one READ ONLY transaction.

pub mod access;
pub mod expr;
pub mod model;
pub mod reader;

pub use model::*;
pub use reader::{read_snapshot, ReadError, ReadOptions};
