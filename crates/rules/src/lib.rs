//! Tenant-isolation rules.
//!
//! Every rule is a pure function from the analysed snapshot ([`Audit`]) to findings,
//! lives in its own file under `rules/` named by its kebab-case id, and has a page at
//! `docs/rules/<id>.md`. [`run`] applies them all, then the configuration's exemptions.

pub mod audit;
pub mod baseline;
pub mod body;
#[cfg(feature = "clap")]
pub mod cli_options;
pub mod config;
pub mod context;
pub mod finding;
pub mod predicate;
pub mod rules;
pub mod scoping;
pub mod sql;
pub mod tenant;

pub use audit::{Audit, Op};
#[cfg(feature = "clap")]
pub use cli_options::{FailOn, TenantOptions};
pub use config::Config;
pub use finding::{Finding, ObjectKind, Severity};
pub use rules::{all_rules, RuleInfo};

use tenantguard_catalog::Snapshot;

/// Findings of every rule, most severe first, with configured exemptions removed.
pub fn run(snapshot: &Snapshot, config: &Config) -> Vec<Finding> {
    let audit = Audit::new(snapshot, config);
    run_audit(&audit)
}

pub fn run_audit(audit: &Audit) -> Vec<Finding> {
    let mut findings: Vec<Finding> = all_rules().iter().flat_map(|r| (r.check)(audit)).collect();
    findings.retain(|f| !exempted(audit.config, f));
    findings.sort_by(|a, b| {
        b.severity.cmp(&a.severity).then_with(|| a.rule.cmp(&b.rule)).then_with(|| a.object.cmp(&b.object)).then_with(|| a.detail.cmp(&b.detail))
    });
    findings.dedup_by(|a, b| a.rule == b.rule && a.object == b.object && a.detail == b.detail && a.message == b.message);
    findings
}

fn exempted(config: &Config, f: &Finding) -> bool {
    config.exempt.iter().any(|e| {
        let same_object = e.table == f.object
            || tenantguard_catalog::QualifiedName::parse(&e.table).is_some_and(|q| q.to_string() == f.object);
        same_object && e.rule.as_ref().is_none_or(|r| r == &f.rule)
    })
}

/// Counts per severity, for summaries and exit codes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    pub critical: usize,
    pub major: usize,
    pub minor: usize,
    pub info: usize,
}

impl Summary {
    pub fn of(findings: &[Finding]) -> Summary {
        let mut s = Summary::default();
        for f in findings {
            match f.severity {
                Severity::Critical => s.critical += 1,
                Severity::Major => s.major += 1,
                Severity::Minor => s.minor += 1,
                Severity::Info => s.info += 1,
            }
        }
        s
    }
}
