//! Lint: the audit's rules on SQL migrations applied to a shadow database, with every
//! finding pinned to the statement that caused it, plus a scan of application code for
//! the runtime anti-patterns the catalog cannot show. See docs/lint.md.

pub mod appcode;
pub mod apply;
pub mod base;
pub mod cache;
pub mod corpus;
pub mod cli;
pub mod extra_rules;
pub mod layout;
pub mod locate;
pub mod pipeline;
pub mod sarif;
pub mod source;
pub mod statements;
pub mod suppress;

pub use pipeline::{Linter, Outcome, Timings};
