//! One file per rule, named by its id. Each exports `RULE`.

use crate::audit::Audit;
use crate::finding::{Finding, Severity};

mod app_role_bypasses_rls;
mod app_roles_assumed;
mod audit_log_mutable;
mod cross_tenant_foreign_key;
mod isolation_model;
mod materialized_view_exposes_tenant_data;
mod partition_without_rls;
mod permissive_policy_widens;
mod policy_context_per_row;
mod policy_exists_rls_disabled;
mod policy_fails_open;
mod policy_not_tenant_scoped;
mod policy_pins_user_not_tenant;
mod policy_trusts_writable_table;
mod public_grant_on_tenant_table;
mod rls_disabled;
mod rls_not_forced_for_owner;
mod schema_per_tenant_shared_role;
mod security_definer_search_path;
mod security_definer_unscoped;
mod session_level_tenant_context;
mod tenant_index_missing;
mod tenant_table_not_audited;
mod trigger_copies_tenant_rows;
mod unchecked_privileges;
mod unique_without_tenant;
mod view_bypasses_rls;
mod write_policy_not_tenant_scoped;

/// A rule: its id (also the name of its file and doc page), default tier and check.
pub struct RuleInfo {
    pub id: &'static str,
    pub severity: Severity,
    /// One line: what it catches.
    pub summary: &'static str,
    pub check: fn(&Audit) -> Vec<Finding>,
}

static RULES: &[&RuleInfo] = &[
    &rls_disabled::RULE,
    &policy_exists_rls_disabled::RULE,
    &rls_not_forced_for_owner::RULE,
    &app_role_bypasses_rls::RULE,
    &policy_not_tenant_scoped::RULE,
    &policy_fails_open::RULE,
    &permissive_policy_widens::RULE,
    &write_policy_not_tenant_scoped::RULE,
    &view_bypasses_rls::RULE,
    &materialized_view_exposes_tenant_data::RULE,
    &security_definer_unscoped::RULE,
    &trigger_copies_tenant_rows::RULE,
    &partition_without_rls::RULE,
    &public_grant_on_tenant_table::RULE,
    &policy_trusts_writable_table::RULE,
    &session_level_tenant_context::RULE,
    &schema_per_tenant_shared_role::RULE,
    &audit_log_mutable::RULE,
    &cross_tenant_foreign_key::RULE,
    &security_definer_search_path::RULE,
    &policy_pins_user_not_tenant::RULE,
    &unique_without_tenant::RULE,
    &policy_context_per_row::RULE,
    &tenant_index_missing::RULE,
    &tenant_table_not_audited::RULE,
    &isolation_model::RULE,
    &app_roles_assumed::RULE,
    &unchecked_privileges::RULE,
];

pub fn all_rules() -> &'static [&'static RuleInfo] {
    RULES
}

pub fn rule(id: &str) -> Option<&'static RuleInfo> {
    RULES.iter().copied().find(|r| r.id == id)
}
