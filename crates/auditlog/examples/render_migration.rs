//! Print the migration for a sample config: `cargo run -p tenantguard-auditlog --example render_migration`.
use tenantguard_auditlog::scaffold::{render, CapturedTable, ScaffoldConfig};

fn main() {
    let cfg = ScaffoldConfig {
        app_roles: vec!["app_user".into()],
        tables: vec![CapturedTable::parse("public.invoices", "tenant_id").expect("valid table spec")],
        ..ScaffoldConfig::default()
    };
    print!("{}", render(&cfg));
}
