//! `--emit-tests pgtap`: a suite emitted from a leaky database fails under pg_prove, and the
//! same suite passes once the leak is fixed.

mod common;

use std::process::Command;

use common::*;
use tenantguard_probe::emit_tests::{self, Kind};

const LEAKY: &str = r#"
CREATE ROLE app_owner NOLOGIN; CREATE ROLE app_user LOGIN;
GRANT USAGE ON SCHEMA public TO app_user;
CREATE TABLE tenants (id uuid PRIMARY KEY, name text NOT NULL);
CREATE TABLE invoices (id bigserial PRIMARY KEY, tenant_id uuid NOT NULL REFERENCES tenants (id), total numeric NOT NULL);
CREATE TABLE lines (id bigserial PRIMARY KEY, invoice_id bigint NOT NULL REFERENCES invoices (id), qty int NOT NULL);
ALTER TABLE tenants OWNER TO app_owner; ALTER TABLE invoices OWNER TO app_owner; ALTER TABLE lines OWNER TO app_owner;
GRANT SELECT ON tenants TO app_user;
GRANT SELECT, INSERT, UPDATE, DELETE ON invoices, lines TO app_user;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO app_user;
ALTER TABLE tenants ENABLE ROW LEVEL SECURITY; ALTER TABLE tenants FORCE ROW LEVEL SECURITY;
CREATE POLICY t ON tenants USING (id = (SELECT current_setting('app.current_tenant', true)::uuid));
CREATE POLICY t ON invoices USING (tenant_id = (SELECT current_setting('app.current_tenant', true)::uuid));
CREATE POLICY t ON lines USING (EXISTS (SELECT 1 FROM invoices i WHERE i.id = invoice_id));
INSERT INTO tenants VALUES ('aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa', 'A'), ('bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb', 'B');
-- invoices has a policy but RLS was never enabled; lines is left empty (rows are synthesised).
INSERT INTO invoices (tenant_id, total) VALUES ('aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa', 1), ('bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb', 2);
"#;

const FIX: &str = "ALTER TABLE invoices ENABLE ROW LEVEL SECURITY; ALTER TABLE invoices FORCE ROW LEVEL SECURITY;
ALTER TABLE lines ENABLE ROW LEVEL SECURITY; ALTER TABLE lines FORCE ROW LEVEL SECURITY;";

fn pg_prove(c: &tenantguard_testkit::Cluster, db: &str, file: &std::path::Path) -> (bool, String) {
    let out = Command::new("pg_prove")
        .args(["-h", "127.0.0.1", "-p", &c.port().to_string(), "-U", "postgres", "-d", db])
        .arg(file)
        .output()
        .expect("pg_prove (Debian package pgtap) must be installed");
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emitted_pgtap_suite_fails_on_the_leak_and_passes_once_fixed() {
    let c = cluster_with("leaky", LEAKY);
    let m = run(&c, "leaky", config("app_roles = ['app_user']")).await;
    assert!(m.has_leak(), "{}", show(&m));
    let dir = tempfile::tempdir().unwrap();
    let file = emit_tests::write(&m, Kind::Pgtap, dir.path()).unwrap();
    let (ok, out) = pg_prove(&c, "leaky", &file);
    assert!(!ok, "the suite must fail on today's leak:\n{out}");
    assert!(out.contains("Failed"), "{out}");
    // Emitting touched nothing: the same suite still fails, and passes after the fix.
    c.psql("leaky", FIX).unwrap();
    let (ok, out) = pg_prove(&c, "leaky", &file);
    assert!(ok, "the suite must pass once fixed:\n{out}\n{}", std::fs::read_to_string(&file).unwrap());
    // The plain-SQL flavour fails the same way without pgTAP.
    let sql = emit_tests::suite(&m, Kind::Sql);
    assert!(c.psql("leaky", &sql).is_ok(), "fixed database passes the sql suite");
}

/// The session-leak and login-default checks are in the suite too: a setter whose tenant
/// outlives COMMIT and a role default that sets a tenant fail it; fixed, it passes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_and_login_default_checks_are_in_the_suite() {
    let sql = format!(
        "{}\n{}\nCREATE FUNCTION set_tenant(t uuid) RETURNS void LANGUAGE sql AS $$ SELECT set_config('app.current_tenant', t::text, false) $$;\n\
         GRANT EXECUTE ON FUNCTION set_tenant(uuid) TO app_user;\n\
         ALTER ROLE app_user SET app.current_tenant = 'bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb';",
        read("crates/rules/tests/cases/base.sql"),
        read("crates/rules/tests/cases/invoices.sql")
    );
    let c = cluster_with("db", &sql);
    let m = run(&c, "db", config("app_roles = ['app_user']")).await;
    use tenantguard_probe::{Operation as Op, Outcome};
    assert_eq!(m.find("public.set_tenant(t uuid)", Op::Session), Some(Outcome::Leak), "{}", show(&m));
    assert_eq!(m.find("role app_user", Op::LoginDefault), Some(Outcome::Leak), "{}", show(&m));
    let dir = tempfile::tempdir().unwrap();
    let file = emit_tests::write(&m, Kind::Pgtap, dir.path()).unwrap();
    let suite = std::fs::read_to_string(&file).unwrap();
    let prove = |c: &tenantguard_testkit::Cluster| {
        let out = Command::new("pg_prove")
            .args(["--verbose", "-h", "127.0.0.1", "-p", &c.port().to_string(), "-U", "postgres", "-d", "db"])
            .arg(&file)
            .output()
            .unwrap();
        (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
    };
    let (ok, out) = prove(&c);
    assert!(!ok, "{out}\n{suite}");
    assert!(out.contains("not ok") && out.contains("session: the tenant set by public.set_tenant(t uuid) does not outlive COMMIT"), "{out}\n{suite}");
    assert!(out.lines().any(|l| l.starts_with("not ok") && l.contains("login-default")), "{out}");
    assert!(out.lines().any(|l| l.starts_with("ok") && l.contains("public.invoices select")), "the attempts still pass: {out}");
    let plain = emit_tests::suite(&m, Kind::Sql);
    assert!(c.psql("db", &plain).is_err(), "the sql flavour fails too");
    // Fixed: the setter is transaction-local and the role default is gone.
    c.psql(
        "db",
        "CREATE OR REPLACE FUNCTION set_tenant(t uuid) RETURNS void LANGUAGE sql AS $$ SELECT set_config('app.current_tenant', t::text, true) $$;\n\
         ALTER ROLE app_user RESET app.current_tenant;",
    )
    .unwrap();
    let (ok, out) = prove(&c);
    assert!(ok, "{out}\n{suite}");
    assert!(c.psql("db", &plain).is_ok(), "the fixed database passes the sql suite");
    // The suite left nothing behind: no role default, no stored setting.
    let client = tenantguard_catalog::reader::connect(&c.url("db")).await.unwrap();
    let n: i64 = client.query_one("SELECT count(*) FROM pg_db_role_setting", &[]).await.unwrap().get(0);
    assert_eq!(n, 0);
}
