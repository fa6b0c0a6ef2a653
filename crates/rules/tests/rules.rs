//! Every rule proves its leak against a real cluster, as the application role, and has
//! a clean counterpart that must stay silent. Cases live in `tests/cases/<rule-id>/*.sql`;
//! their header lines say what the audit must report and what the app role can do:
//!
//! ```text
//! -- include: base                 prepend tests/cases/base.sql
//! -- config: app_roles = ["x"]     a tenantguard.toml line (repeatable)
//! -- expect: <rule-id> <object>    this finding must be reported
//! -- forbid: <rule-id>             this rule must report nothing
//! -- clean                         nothing critical or major may be reported
//! -- as: <role>                    role for leak/isolated (default app_user)
//! -- tenant: <value>               tenant context (default tenant A); `<unset>`: a fresh
//!                                  connection that never set it; `<login>`: log in as the role itself
//! -- setting: <name>               the setting `tenant:` goes into (default app.current_tenant)
//! -- also: <name>=<value>          one more transaction-local setting (repeatable)
//! -- audit-as: <role>              read the catalog as this login instead of the superuser
//! -- leak: <query>                 run as the role in tenant A's context: first column > 0
//! -- isolated: <query>             likewise, but 0 (an error counts as 0)
//! ```

use std::path::{Path, PathBuf};

use tenantguard_catalog::reader::{connect, error_text};
use tenantguard_catalog::{read_snapshot, ReadOptions};
use tenantguard_rules::{all_rules, Config, Severity};
use tenantguard_testkit::Cluster;

const TENANT_A: &str = "aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa";

#[derive(Default, Debug)]
struct Case {
    path: PathBuf,
    sql: String,
    config: String,
    expect: Vec<(String, String)>,
    forbid: Vec<String>,
    clean: bool,
    role: Option<String>,
    tenant: Option<String>,
    leaks: Vec<String>,
    isolated: Vec<String>,
    setting: Option<String>,
    also: Vec<(String, String)>,
    audit_as: Option<String>,
}

fn cases_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases")
}

fn load(path: &Path) -> Case {
    let text = std::fs::read_to_string(path).unwrap();
    let mut case = Case { path: path.to_path_buf(), ..Case::default() };
    for line in text.lines() {
        let Some(h) = line.strip_prefix("-- ") else { continue };
        if let Some(v) = h.strip_prefix("include: ") {
            case.sql.push_str(&std::fs::read_to_string(cases_dir().join(format!("{}.sql", v.trim()))).unwrap());
        } else if let Some(v) = h.strip_prefix("config: ") {
            case.config.push_str(v);
            case.config.push('\n');
        } else if let Some(v) = h.strip_prefix("expect: ") {
            let (rule, object) = v.trim().split_once(' ').unwrap_or((v.trim(), ""));
            case.expect.push((rule.to_string(), object.trim().to_string()));
        } else if let Some(v) = h.strip_prefix("forbid: ") {
            case.forbid.push(v.trim().to_string());
        } else if h.trim() == "clean" {
            case.clean = true;
        } else if let Some(v) = h.strip_prefix("as: ") {
            case.role = Some(v.trim().to_string());
        } else if let Some(v) = h.strip_prefix("tenant:") {
            case.tenant = Some(v.trim().to_string());
        } else if let Some(v) = h.strip_prefix("setting: ") {
            case.setting = Some(v.trim().to_string());
        } else if let Some(v) = h.strip_prefix("also: ") {
            let (k, val) = v.trim().split_once('=').expect("also: name=value");
            case.also.push((k.to_string(), val.to_string()));
        } else if let Some(v) = h.strip_prefix("audit-as: ") {
            case.audit_as = Some(v.trim().to_string());
        } else if let Some(v) = h.strip_prefix("leak: ") {
            case.leaks.push(v.to_string());
        } else if let Some(v) = h.strip_prefix("isolated: ") {
            case.isolated.push(v.to_string());
        }
    }
    case.sql.push_str(&text);
    case
}

/// Run `query` as the case's role inside a transaction with the tenant context set; always rolled back.
async fn attempt(cluster: &Cluster, shared: &tokio_postgres::Client, case: &Case, query: &str) -> Result<i64, String> {
    let role = case.role.clone().unwrap_or_else(|| "app_user".into());
    let tenant = case.tenant.clone().unwrap_or_else(|| TENANT_A.into());
    let setting = case.setting.clone().unwrap_or_else(|| "app.current_tenant".into());
    let fresh;
    let client = match tenant.as_str() {
        "<unset>" => {
            fresh = connect(&cluster.url("app")).await.map_err(|e| e.to_string())?;
            &fresh
        }
        "<login>" => {
            fresh = connect(&cluster.role_url(&role, None, "app")).await.map_err(|e| e.to_string())?;
            &fresh
        }
        _ => shared,
    };
    client.batch_execute("BEGIN").await.map_err(|e| error_text(&e))?;
    let result = async {
        if tenant != "<login>" {
            client.batch_execute(&format!("SET LOCAL ROLE \"{role}\"")).await.map_err(|e| error_text(&e))?;
        }
        if !tenant.starts_with('<') {
            client.query("SELECT set_config($1, $2, true)", &[&setting, &tenant]).await.map_err(|e| error_text(&e))?;
        }
        for (k, v) in &case.also {
            client.query("SELECT set_config($1, $2, true)", &[k, v]).await.map_err(|e| error_text(&e))?;
        }
        let rows = client.simple_query(query).await.map_err(|e| error_text(&e))?;
        let value = rows.iter().find_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(|s| s.parse::<i64>().unwrap_or(if s == "t" { 1 } else { 0 })),
            _ => None,
        });
        Ok(value.unwrap_or(0))
    }
    .await;
    client.batch_execute("ROLLBACK").await.map_err(|e| error_text(&e))?;
    result
}

async fn run_case(case: &Case) -> Vec<String> {
    let mut failures = Vec::new();
    let name = case.path.file_name().unwrap().to_string_lossy().to_string();
    let cluster = Cluster::start().expect("cluster");
    cluster.create_database("app").unwrap();
    if let Err(e) = cluster.psql("app", &case.sql) {
        return vec![format!("{name}: setup SQL failed: {e}")];
    }
    let config = Config::parse(&case.config, &name).expect("case config");
    let client = connect(&cluster.url("app")).await.unwrap();
    let reader = match &case.audit_as {
        Some(role) => connect(&cluster.role_url(role, None, "app")).await.unwrap(),
        None => connect(&cluster.url("app")).await.unwrap(),
    };
    let snapshot = read_snapshot(&reader, &ReadOptions::default()).await.unwrap();
    let findings = tenantguard_rules::run(&snapshot, &config);
    let listing = findings.iter().map(|f| format!("  {} {} {}: {}", f.severity, f.rule, f.object, f.message)).collect::<Vec<_>>().join("\n");
    for (rule, object) in &case.expect {
        if !findings.iter().any(|f| &f.rule == rule && (object.is_empty() || &f.object == object)) {
            failures.push(format!("{name}: expected {rule} on {object}, got:\n{listing}"));
        }
    }
    for rule in &case.forbid {
        if findings.iter().any(|f| &f.rule == rule) {
            failures.push(format!("{name}: {rule} must stay silent, got:\n{listing}"));
        }
    }
    if case.clean && findings.iter().any(|f| f.severity >= Severity::Major) {
        failures.push(format!("{name}: clean case reported critical/major findings:\n{listing}"));
    }
    for q in &case.leaks {
        match attempt(&cluster, &client, case, q).await {
            Ok(n) if n > 0 => {}
            Ok(n) => failures.push(format!("{name}: leak not reproduced (got {n}) by: {q}")),
            Err(e) => failures.push(format!("{name}: leak query failed ({e}): {q}")),
        }
    }
    for q in &case.isolated {
        if let Ok(n) = attempt(&cluster, &client, case, q).await {
            if n != 0 {
                failures.push(format!("{name}: expected isolation, but got {n} from: {q}"));
            }
        }
    }
    failures
}

fn run_rule(rule: &str) {
    let dir = cases_dir().join(rule);
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|_| panic!("no cases for {rule} in {}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "sql"))
        .collect();
    paths.sort();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let mut failures = Vec::new();
    for p in &paths {
        failures.extend(rt.block_on(run_case(&load(p))));
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n\n"));
}

#[test]
fn every_rule_has_a_leak_case_a_clean_case_and_a_doc_page() {
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/rules");
    for rule in all_rules() {
        let dir = cases_dir().join(rule.id);
        let cases: Vec<Case> = std::fs::read_dir(&dir)
            .unwrap_or_else(|_| panic!("rule {} has no tests/cases/{} directory", rule.id, rule.id))
            .map(|e| load(&e.unwrap().path()))
            .collect();
        let proves = cases.iter().any(|c| c.expect.iter().any(|(r, _)| r == rule.id) && (!c.leaks.is_empty() || rule.severity <= Severity::Minor));
        let clean = cases.iter().any(|c| c.forbid.iter().any(|r| r == rule.id));
        assert!(proves, "rule {} needs a case that expects it and proves the leak as the app role", rule.id);
        assert!(clean || rule.severity == Severity::Info, "rule {} needs a clean counterpart with `-- forbid: {}`", rule.id, rule.id);
        assert!(docs.join(format!("{}.md", rule.id)).is_file(), "rule {} has no docs/rules/{}.md", rule.id, rule.id);
    }
}

macro_rules! rule_tests {
    ($($name:ident => $id:literal,)*) => {
        $(#[test] fn $name() { run_rule($id); })*
        #[test]
        fn the_list_of_rule_tests_is_complete() {
            let listed = [$($id),*];
            for r in all_rules() {
                assert!(listed.contains(&r.id), "add {} to rule_tests! in tests/rules.rs", r.id);
            }
        }
    };
}

rule_tests! {
    rls_disabled => "rls-disabled",
    policy_exists_rls_disabled => "policy-exists-rls-disabled",
    rls_not_forced_for_owner => "rls-not-forced-for-owner",
    app_role_bypasses_rls => "app-role-bypasses-rls",
    policy_not_tenant_scoped => "policy-not-tenant-scoped",
    policy_fails_open => "policy-fails-open",
    permissive_policy_widens => "permissive-policy-widens",
    write_policy_not_tenant_scoped => "write-policy-not-tenant-scoped",
    view_bypasses_rls => "view-bypasses-rls",
    materialized_view_exposes_tenant_data => "materialized-view-exposes-tenant-data",
    security_definer_unscoped => "security-definer-unscoped",
    trigger_copies_tenant_rows => "trigger-copies-tenant-rows",
    partition_without_rls => "partition-without-rls",
    public_grant_on_tenant_table => "public-grant-on-tenant-table",
    policy_trusts_writable_table => "policy-trusts-writable-table",
    session_level_tenant_context => "session-level-tenant-context",
    schema_per_tenant_shared_role => "schema-per-tenant-shared-role",
    audit_log_mutable => "audit-log-mutable",
    cross_tenant_foreign_key => "cross-tenant-foreign-key",
    security_definer_search_path => "security-definer-search-path",
    policy_pins_user_not_tenant => "policy-pins-user-not-tenant",
    unique_without_tenant => "unique-without-tenant",
    policy_context_per_row => "policy-context-per-row",
    tenant_index_missing => "tenant-index-missing",
    tenant_table_not_audited => "tenant-table-not-audited",
    isolation_model => "isolation-model",
    app_roles_assumed => "app-roles-assumed",
    unchecked_privileges => "unchecked-privileges",
}
