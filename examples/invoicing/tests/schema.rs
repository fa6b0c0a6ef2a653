//! The migrations apply with plain psql and meet the isolation checklist that
//! `tenantguard audit` enforces (checked here in SQL until the audit runs in CI on them).

mod common;

use common::*;

fn q(cluster: &tenantguard_testkit::Cluster, sql: &str) -> String {
    cluster.query(DB, sql).unwrap().trim().to_string()
}

#[test]
fn migrations_apply_with_psql_and_meet_the_isolation_checklist() {
    let cluster = cluster(Default::default());
    let mut files: Vec<_> = std::fs::read_dir(invoicing::migrate::migrations_dir()).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    for file in &files {
        let sql = std::fs::read_to_string(file).unwrap();
        assert!(!sql.contains(", false)") && !sql.to_lowercase().contains("set app.current_tenant"), "{}: session-level tenant setting", file.display());
        cluster.psql(DB, &sql).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    }
    // Every table but the global price list has tenant_id, enabled and forced RLS.
    assert_eq!(q(&cluster, "SELECT string_agg(c.relname, ',' ORDER BY c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
        WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.relname <> 'plans' \
        AND (NOT c.relrowsecurity OR NOT c.relforcerowsecurity OR NOT EXISTS \
             (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'tenant_id' AND a.attnotnull))"), "");
    // Every policy reads the context through (select current_setting(...)).
    assert_eq!(q(&cluster, "SELECT string_agg(tablename || ': ' || coalesce(qual, with_check), E'\\n') FROM pg_policies WHERE schemaname = 'public' AND \
        (coalesce(qual, with_check) NOT LIKE '(tenant_id = ( SELECT (current_setting(''app.current_tenant''::text, true))::uuid AS current_setting))')"), "");
    // All tables owned by the NOLOGIN owner; the app role owns nothing and cannot bypass RLS.
    assert_eq!(q(&cluster, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tableowner <> 'invoicing_owner'"), "0");
    assert_eq!(q(&cluster, "SELECT rolcanlogin, rolbypassrls, rolsuper FROM pg_roles WHERE rolname = 'invoicing_owner'"), "f|f|f");
    assert_eq!(q(&cluster, "SELECT rolcanlogin, rolbypassrls, rolsuper FROM pg_roles WHERE rolname = 'invoicing_app'"), "t|f|f");
    // The app can only read the price list.
    assert_eq!(q(&cluster, "SELECT string_agg(privilege_type, ',' ORDER BY privilege_type) FROM information_schema.role_table_grants WHERE grantee = 'invoicing_app' AND table_name = 'plans'"), "SELECT");
    // The audit log is the scaffolded one (005): the old public.audit_log is gone, the app may
    // only read audit.log (through RLS) and call audit.record(), never write or seal.
    assert_eq!(q(&cluster, "SELECT to_regclass('public.audit_log') IS NULL"), "t");
    assert_eq!(q(&cluster, "SELECT string_agg(privilege_type, ',' ORDER BY privilege_type) FROM information_schema.role_table_grants WHERE grantee = 'invoicing_app' AND table_schema = 'audit'"), "SELECT");
    assert_eq!(q(&cluster, "SELECT has_function_privilege('invoicing_app', 'audit.record(text, text, text, text, jsonb, jsonb)', 'EXECUTE'), \
        has_function_privilege('invoicing_app', 'audit.seal(integer)', 'EXECUTE')"), "t|f");
    // Guard triggers fire ALWAYS.
    assert_eq!(q(&cluster, "SELECT string_agg(tgname || ':' || tgenabled::text, ',' ORDER BY tgname) FROM pg_trigger WHERE tgrelid = 'audit.log'::regclass AND NOT tgisinternal"),
        "audit_guard_delete:A,audit_guard_truncate:A,audit_guard_update:A");
    // The business tables' changes are captured, also ALWAYS (the DDL guard insists on them).
    assert_eq!(q(&cluster, "SELECT string_agg(tgrelid::regclass::text || ':' || tgenabled::text, ',' ORDER BY tgrelid::regclass::text) FROM pg_trigger WHERE tgname = 'audit_capture'"),
        "customers:A,invoice_lines:A,invoices:A,tenants:A,users:A");
    // SECURITY DEFINER functions pin search_path.
    assert_eq!(q(&cluster, "SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public' AND p.prosecdef \
        AND NOT coalesce(p.proconfig::text LIKE '%search_path=pg_catalog, pg_temp%', false)"), "0");
    // Foreign keys between tenant tables carry the tenant column.
    assert_eq!(q(&cluster, "SELECT count(*) FROM pg_constraint c WHERE c.contype = 'f' AND c.confrelid <> 'plans'::regclass AND c.confrelid <> 'tenants'::regclass \
        AND NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.conrelid AND a.attnum = c.conkey[1] AND a.attname = 'tenant_id')"), "0");
}
