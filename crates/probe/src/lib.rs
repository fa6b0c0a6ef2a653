//! The probe: proves isolation by attacking it as the application role.
//!
//! It reuses the audit's snapshot and tenant model (which tables hold tenant data, which
//! role is the application, which settings carry the tenant), then for every tenant table,
//! view, row-returning function and tenant setter runs live attempts inside transactions
//! that are always rolled back, and reports an isolation matrix.
//!
//! * [`targets`]: what to attack, as owned SQL fragments built from the snapshot;
//! * [`synth`]: choosing two tenants per table, and synthesising rows when there are none;
//! * [`attacks`]: the attempts (read, write, context, session, login defaults);
//! * [`matrix`]: results; [`render`]: text, JSON, HTML; [`emit_tests`]: a pgTAP suite;
//! * [`identity`]: who the caller is (tenant setting, user through a membership table, role);
//! * [`fingerprint`]: row counts, checksums and sequences, to prove nothing changed.

pub mod attacks;
pub mod cli;
pub mod emit_tests;
pub mod fingerprint;
pub mod identity;
pub mod matrix;
pub mod render;
pub mod run;
pub mod sql;
pub mod synth;
pub mod targets;

pub use matrix::{Matrix, Operation, Outcome, ProbeResult};
pub use run::{probe, ProbeOptions};
