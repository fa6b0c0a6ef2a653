//! Small SQL-text helpers shared by the generators.

use tenantguard_catalog::{quote_ident, Relation};
use tenantguard_rules::Audit;

/// The expression that reads the tenant context, cast to the tenant column's type, evaluated
/// once per statement: `(SELECT current_setting('app.current_tenant', true)::uuid)`.
pub fn context_expr(audit: &Audit, column_type: &str) -> String {
    let setting = audit.model.tenant_settings.first().cloned().unwrap_or_else(|| "app.current_tenant".into());
    let read = if setting.ends_with("jwt.claims") {
        let claim = audit.config.tenant_claims().first().cloned().unwrap_or_else(|| "tenant_id".into());
        format!("current_setting('{setting}', true)::jsonb ->> '{}'", claim.replace('\'', "''"))
    } else {
        format!("current_setting('{}', true)", setting.replace('\'', "''"))
    };
    match column_type {
        "text" | "character varying" => format!("(SELECT {read})"),
        t => format!("(SELECT ({read})::{t})"),
    }
}

pub fn column_type(rel: &Relation, column: &str) -> String {
    rel.column(column).map(|c| c.type_name.clone()).unwrap_or_else(|| "text".into())
}

pub fn ident(s: &str) -> String {
    quote_ident(s)
}
