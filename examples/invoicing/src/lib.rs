//! A small invoicing SaaS whose every database touch goes through tenantguard-runtime.

pub mod app;
pub mod jobs;
pub mod migrate;
pub mod sealer;

pub use app::{router, AppConfig, AppState};
