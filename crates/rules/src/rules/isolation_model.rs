//! isolation-model: which isolation model the database uses (information).

use super::RuleInfo;
use crate::audit::Audit;
use crate::finding::{Finding, ObjectKind, Severity};

pub static RULE: RuleInfo = RuleInfo {
    id: "isolation-model",
    severity: Severity::Info,
    summary: "Reports the isolation model detected: shared schema with RLS, schema-per-tenant, db-per-tenant, or mixed.",
    check,
};

fn check(a: &Audit) -> Vec<Finding> {
    let shared = a.model.tables.len();
    let schemas = a.model.tenant_schemas.len();
    let similar_dbs = similar_databases(a);
    let model = match (shared > 0, schemas >= 2) {
        (true, true) => "mixed: shared tables with a tenant column and per-tenant schemas".to_string(),
        (true, false) => format!("shared schema with row-level security: {shared} tenant tables"),
        (false, true) => format!("schema-per-tenant: {schemas} schemas with the same tables"),
        (false, false) if similar_dbs >= 2 => format!("database-per-tenant (likely): {similar_dbs} databases with one naming pattern on this server"),
        (false, false) => "no tenant data found: no table has a tenant column (looked for {cols}); set tenant_columns in tenantguard.toml if yours is named differently"
            .replace("{cols}", &a.config.tenant_columns().join(", ")),
    };
    let mut message = format!("isolation model: {model}; tenant setting(s): {}", a.model.tenant_settings.join(", "));
    if !a.model.settings_configured {
        message.push_str(" (detected from the policies)");
    }
    vec![Finding::new(RULE.id, RULE.severity, ObjectKind::Database, a.snapshot.database.clone())
        .message(message)
        .fix("Nothing to fix; confirm this is the model you chose on purpose")]
}

/// Databases whose names share a prefix with the audited one (tenant_a, tenant_b, …).
fn similar_databases(a: &Audit) -> usize {
    let name = &a.snapshot.database;
    let prefix: String = name.chars().take_while(|c| !c.is_ascii_digit() && *c != '_' && *c != '-').collect();
    if prefix.len() < 3 {
        return 0;
    }
    a.snapshot.databases.iter().filter(|d| !d.is_template && d.name.starts_with(&prefix)).count()
}
