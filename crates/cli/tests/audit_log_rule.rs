//! `tenantguard audit` recognises the scaffolded append-only audit log as clean and flags
//! each weakened variant (grants, owner, disabled or missing guards) as major.

use std::process::Command;

use tenantguard_testkit::{Cluster, ClusterOptions};

const APP: &str = "CREATE ROLE app_user LOGIN; CREATE ROLE app_owner NOLOGIN;
  CREATE TABLE tenants (id uuid PRIMARY KEY); ALTER TABLE tenants OWNER TO app_owner;
  CREATE TABLE invoices (id bigint NOT NULL, tenant_id uuid NOT NULL REFERENCES tenants (id), total numeric, PRIMARY KEY (tenant_id, id));
  ALTER TABLE invoices OWNER TO app_owner;
  ALTER TABLE invoices ENABLE ROW LEVEL SECURITY; ALTER TABLE invoices FORCE ROW LEVEL SECURITY;
  CREATE POLICY iso ON invoices USING (tenant_id = (SELECT current_setting('app.current_tenant', true)::uuid));
  GRANT SELECT, INSERT, UPDATE, DELETE ON invoices TO app_user;";

fn tenantguard(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_tenantguard")).env("NO_COLOR", "1").args(args).output().unwrap()
}

/// Apply the scaffolded log, weaken it with `weaken` (run as superuser), and audit.
fn audit_with(weaken: &str) -> serde_json::Value {
    audit_capture_with("plpgsql", weaken)
}

fn audit_capture_with(capture: &str, weaken: &str) -> serde_json::Value {
    let scaffold = tenantguard(&["scaffold", "audit-log", "--app-roles", "app_user", "--tables", "public.invoices", "--capture", capture]);
    assert_eq!(scaffold.status.code(), Some(0), "{}", String::from_utf8_lossy(&scaffold.stderr));
    let mut options = ClusterOptions::default();
    if capture == "c" {
        let path = tenantguard_auditlog::capture_library_path().unwrap_or_else(|why| panic!("C capture not built: {why}"));
        options = options.set("dynamic_library_path", &path);
    }
    let cluster = Cluster::start_with(&options).unwrap();
    cluster.create_database("app").unwrap();
    cluster.psql("app", APP).unwrap();
    cluster.psql("app", &String::from_utf8_lossy(&scaffold.stdout)).unwrap();
    if !weaken.is_empty() {
        cluster.psql("app", weaken).unwrap_or_else(|e| panic!("weakening `{weaken}`: {e}"));
    }
    let out = tenantguard(&["audit", "--database-url", &cluster.url("app"), "--app-role", "app_user", "--format", "json", "--fail-on", "never"]);
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)))
}

fn log_findings(report: &serde_json::Value) -> Vec<String> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == "audit-log-mutable")
        .map(|f| format!("{} {}: {}", f["severity"], f["object"], f["message"]))
        .collect()
}

#[test]
fn the_scaffolded_log_is_clean() {
    let report = audit_with("");
    assert!(log_findings(&report).is_empty(), "{:?}", log_findings(&report));
    let blocking: Vec<_> = report["findings"].as_array().unwrap().iter().filter(|f| f["severity"] == "critical" || f["severity"] == "major").collect();
    assert!(blocking.is_empty(), "{blocking:#?}");
}

/// The C capture trigger's body is a symbol: the rules read where it writes from its trigger
/// arguments, so the captured table is not reported as unaudited.
#[test]
fn the_scaffolded_log_with_c_capture_is_clean() {
    let report = audit_capture_with("c", "");
    let findings: Vec<_> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == "audit-log-mutable" || f["rule"] == "tenant-table-not-audited" || f["severity"] == "critical" || f["severity"] == "major")
        .collect();
    assert!(findings.is_empty(), "{findings:#?}");
}

#[test]
fn each_weakened_variant_is_major() {
    // The DDL guard refuses most weakening while it is on: switch it off first, as an attacker with superuser would.
    let off = "ALTER EVENT TRIGGER audit_guard_ddl DISABLE;";
    let variants = [
        ("grant", format!("{off} GRANT UPDATE, DELETE ON audit.log TO app_user; ALTER EVENT TRIGGER audit_guard_ddl ENABLE ALWAYS;")),
        ("login owner", "ALTER ROLE audit_owner LOGIN;".to_string()),
        ("disabled guard", format!("{off} ALTER TABLE audit.log DISABLE TRIGGER audit_guard_update; ALTER EVENT TRIGGER audit_guard_ddl ENABLE ALWAYS;")),
        ("missing guard", format!("{off} DROP TRIGGER audit_guard_delete ON audit.log; ALTER EVENT TRIGGER audit_guard_ddl ENABLE ALWAYS;")),
        ("ddl guard off", off.to_string()),
    ];
    for (name, sql) in variants {
        let report = audit_with(&sql);
        let found = log_findings(&report);
        assert!(found.iter().any(|f| f.starts_with("\"major\"")), "{name}: expected a major audit-log-mutable finding, got {found:?}");
    }
    // Guards that replica mode skips, or a missing TRUNCATE guard while nobody may truncate: minor.
    for (name, sql) in [
        ("not always", format!("{off} ALTER TABLE audit.log ENABLE TRIGGER audit_guard_delete; ALTER EVENT TRIGGER audit_guard_ddl ENABLE ALWAYS;")),
        ("no truncate guard", format!("{off} DROP TRIGGER audit_guard_truncate ON audit.log; ALTER EVENT TRIGGER audit_guard_ddl ENABLE ALWAYS;")),
    ] {
        let found = log_findings(&audit_with(&sql));
        assert!(found.iter().any(|f| f.starts_with("\"minor\"")) && !found.iter().any(|f| f.starts_with("\"major\"")), "{name}: {found:?}");
    }
}
