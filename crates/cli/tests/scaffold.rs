//! The generators end to end: `scaffold rls` turns the flawed demo schema into an isolated one,
//! and `scaffold erasure` erases exactly one tenant.

use std::process::Command;

use tenantguard_testkit::Cluster;

const DEMO: &str = include_str!("../demo/saas.sql");
const CONFIG: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/demo/tenantguard.toml");
const A: &str = "aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa";
const B: &str = "bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb";

fn tenantguard(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_tenantguard")).env("NO_COLOR", "1").env_remove("DATABASE_URL").args(args).output().unwrap()
}

fn demo() -> Cluster {
    let cluster = Cluster::start().unwrap();
    cluster.create_database("saas").unwrap();
    cluster.psql("saas", DEMO).unwrap();
    cluster
}

#[test]
fn scaffold_rls_closes_every_policy_finding() {
    let cluster = demo();
    let url = cluster.url("saas");
    let out = tenantguard(&["scaffold", "rls", "--database-url", &url, "--config", CONFIG]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let sql = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(sql.contains("AS RESTRICTIVE") && sql.contains("public.comments"), "{sql}");
    cluster.psql("saas", &sql).unwrap();

    let out = tenantguard(&["audit", "--database-url", &url, "--config", CONFIG, "--format", "json", "--fail-on", "never"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let fixed = ["rls-disabled", "policy-exists-rls-disabled", "policy-not-tenant-scoped", "policy-fails-open", "permissive-policy-widens", "write-policy-not-tenant-scoped"];
    let left: Vec<&serde_json::Value> = report["findings"].as_array().unwrap().iter().filter(|f| fixed.contains(&f["rule"].as_str().unwrap())).collect();
    assert!(left.is_empty(), "{left:#?}");
    // And the app role really is held to its tenant now.
    let leaked = cluster
        .query("saas", &format!(
            "BEGIN; SET LOCAL ROLE app_user; SELECT set_config('app.current_tenant', '{A}', true);
             SELECT (SELECT count(*) FROM invoices WHERE tenant_id <> '{A}') + (SELECT count(*) FROM tasks WHERE tenant_id <> '{A}')
                  + (SELECT count(*) FROM comments c JOIN tasks t ON t.id = c.task_id WHERE t.tenant_id <> '{A}') + (SELECT count(*) FROM users WHERE tenant_id <> '{A}'); ROLLBACK;"
        ))
        .unwrap();
    assert_eq!(leaked.lines().last().unwrap_or(""), "0", "{leaked}");
}

#[test]
fn scaffold_erasure_erases_one_tenant_and_nothing_else() {
    let cluster = demo();
    let url = cluster.url("saas");
    let out = tenantguard(&["scaffold", "erasure", "--database-url", &url, "--config", CONFIG]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let sql = String::from_utf8_lossy(&out.stdout).into_owned();
    // Children before parents; the tenant's own row last.
    let pos = |t: &str| sql.find(&format!("DELETE FROM {t} ")).unwrap_or_else(|| panic!("no delete for {t}: {sql}"));
    assert!(pos("public.comments") < pos("public.tasks") && pos("public.tasks") < pos("public.projects"));
    assert!(pos("public.projects") < pos("public.tenants"));
    cluster.psql("saas", &sql).unwrap();
    let count_b = "SELECT (SELECT count(*) FROM users WHERE tenant_id = '{B}') + (SELECT count(*) FROM tasks WHERE tenant_id = '{B}') + (SELECT count(*) FROM comments) + (SELECT count(*) FROM invoices WHERE tenant_id = '{B}')";
    let before_b = cluster.query("saas", &count_b.replace("{B}", B)).unwrap();
    let result = cluster.query("saas", &format!("SELECT table_name || '=' || deleted FROM tenantguard_erase_tenant('{A}')")).unwrap();
    assert!(result.contains("public.tenants=1"), "{result}");
    let left_a = cluster
        .query("saas", &format!("SELECT (SELECT count(*) FROM users WHERE tenant_id = '{A}') + (SELECT count(*) FROM projects WHERE tenant_id = '{A}') + (SELECT count(*) FROM tasks WHERE tenant_id = '{A}') + (SELECT count(*) FROM invoices WHERE tenant_id = '{A}') + (SELECT count(*) FROM tenants WHERE id = '{A}')"))
        .unwrap();
    assert_eq!(left_a, "0");
    // B keeps everything (comments: only B's one remains, so the total drops by A's one).
    let after_b = cluster.query("saas", &count_b.replace("{B}", B)).unwrap();
    assert_eq!(after_b.parse::<i64>().unwrap(), before_b.parse::<i64>().unwrap() - 1, "only A's comment went");
    assert_eq!(cluster.query("saas", "SELECT count(*) FROM tenants").unwrap(), "1");
}

#[test]
fn scaffold_rejects_bad_input_clearly() {
    let out = tenantguard(&["scaffold", "erasure", "--database-url", "postgres://u@127.0.0.1:1/db", "--function-name", "x; DROP"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--function-name"));
    let out = tenantguard(&["scaffold", "rls"]);
    assert_eq!(out.status.code(), Some(2));
}
