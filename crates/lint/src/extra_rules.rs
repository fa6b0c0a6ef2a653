//! Rule ids only the lint reports (migration problems, suppressions, application code).
//! They live here, not in the rules crate: the audit never sees files. Each has a page
//! at `docs/rules/<id>.md` and an entry in the SARIF `rules` array.

use tenantguard_rules::{Finding, Severity};

pub struct ExtraRule {
    pub id: &'static str,
    pub severity: Severity,
    pub summary: &'static str,
}

pub const MIGRATION_FAILED: &str = "migration-failed";
pub const MIGRATION_ORDER: &str = "migration-order";
pub const UNUSED_SUPPRESSION: &str = "unused-suppression";
pub const APP_CONTEXT_OUTSIDE_TX: &str = "app-context-outside-transaction";
pub const APP_QUERY_OUTSIDE_TX: &str = "app-query-outside-tenant-transaction";
pub const APP_JOB_WITHOUT_TENANT: &str = "app-job-without-tenant";
pub const APP_TENANT_INTERPOLATED: &str = "app-tenant-interpolated-into-sql";
/// The audit's rule, reused for application code that sets the tenant per session.
pub const SESSION_LEVEL: &str = "session-level-tenant-context";

pub static EXTRA_RULES: &[ExtraRule] = &[
    ExtraRule {
        id: MIGRATION_FAILED,
        severity: Severity::Critical,
        summary: "A migration does not apply (or cannot be read): the deploy breaks and the lint's verdict on later objects is incomplete.",
    },
    ExtraRule {
        id: MIGRATION_ORDER,
        severity: Severity::Major,
        summary: "Migration versions collide or a new migration sorts before one already shipped: fresh and existing databases end up different.",
    },
    ExtraRule {
        id: UNUSED_SUPPRESSION,
        severity: Severity::Minor,
        summary: "A tenantguard-ignore comment suppresses nothing or gives no reason: stale or unexplained exceptions hide future findings.",
    },
    ExtraRule {
        id: APP_CONTEXT_OUTSIDE_TX,
        severity: Severity::Major,
        summary: "Application code sets the transaction-local tenant outside a transaction: the setting ends with its own statement and later queries run without a tenant.",
    },
    ExtraRule {
        id: APP_QUERY_OUTSIDE_TX,
        severity: Severity::Major,
        summary: "Application code queries a tenant table straight on the pool: the connection carries no (or another request's) tenant context.",
    },
    ExtraRule {
        id: APP_JOB_WITHOUT_TENANT,
        severity: Severity::Major,
        summary: "A background job is enqueued without a tenant in its arguments: the worker cannot set the tenant context and runs unscoped.",
    },
    ExtraRule {
        id: APP_TENANT_INTERPOLATED,
        severity: Severity::Critical,
        summary: "Application code puts the tenant into SQL text by string interpolation: a crafted tenant value rewrites the statement and switches to another tenant's rows, RLS included.",
    },
];

pub fn severity_of(id: &str) -> Severity {
    EXTRA_RULES
        .iter()
        .find(|r| r.id == id)
        .map(|r| r.severity)
        .or_else(|| tenantguard_rules::rules::rule(id).map(|r| r.severity))
        .unwrap_or(Severity::Major)
}

pub fn is_known(id: &str) -> bool {
    EXTRA_RULES.iter().any(|r| r.id == id) || tenantguard_rules::rules::rule(id).is_some()
}

/// A finding pinned to a file position (1-based line and column).
pub fn at(rule: &str, object: &str, file: &str, line: u32, column: u32, message: String, fix: &str) -> Finding {
    Finding {
        rule: rule.to_string(),
        severity: severity_of(rule),
        object: object.to_string(),
        message,
        fix: fix.to_string(),
        object_kind: None,
        detail: None,
        file: Some(file.to_string()),
        line: Some(line.max(1)),
        column: Some(column.max(1)),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_lint_rule_has_a_doc_page() {
        let docs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/rules");
        for r in super::EXTRA_RULES {
            assert!(docs.join(format!("{}.md", r.id)).is_file(), "lint rule {} has no docs/rules/{}.md", r.id, r.id);
        }
    }
}
