//! The `tenantguard` binary end to end: exit codes, formats, config, baselines, bad input,
//! and the reference service passing its own audit.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tenantguard_testkit::Cluster;

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tenantguard"));
    c.env_remove("DATABASE_URL").env("NO_COLOR", "1");
    c
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("runs")
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

const LEAKY: &str = "CREATE ROLE app_user LOGIN; CREATE ROLE owner NOLOGIN;
    CREATE TABLE notes (id int PRIMARY KEY, tenant_id uuid NOT NULL, body text);
    CREATE INDEX ON notes (tenant_id);
    ALTER TABLE notes OWNER TO owner; GRANT SELECT ON notes TO app_user;";

#[test]
fn reference_service_passes_its_own_audit() {
    let cluster = Cluster::start().unwrap();
    cluster.create_database("invoicing").unwrap();
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo().join("examples/invoicing/migrations"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "sql"))
        .collect();
    files.sort();
    for f in files {
        cluster.psql("invoicing", &std::fs::read_to_string(&f).unwrap()).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
    }
    let config = repo().join("examples/invoicing/tenantguard.toml");
    let out = run(&["audit", "--database-url", &cluster.url("invoicing"), "--config", config.to_str().unwrap(), "--fail-on", "major", "--format", "json"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}{}", stdout(&out), stderr(&out)));
    assert_eq!(json["summary"]["critical"], 0, "{}", stdout(&out));
    assert_eq!(json["summary"]["major"], 0, "{}", stdout(&out));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn exit_codes_follow_fail_on_and_json_follows_the_contract() {
    let cluster = Cluster::start().unwrap();
    cluster.create_database("app").unwrap();
    cluster.psql("app", LEAKY).unwrap();
    let url = cluster.url("app");
    let out = run(&["audit", "--database-url", &url, "--app-role", "app_user", "--format", "json"]);
    assert_eq!(out.status.code(), Some(1), "critical blocks by default: {}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["tool"], "tenantguard");
    assert_eq!(json["database"], "app");
    assert!(json["version"].is_string());
    let f = json["findings"].as_array().unwrap().iter().find(|f| f["rule"] == "rls-disabled").expect("rls-disabled");
    assert_eq!(f["severity"], "critical");
    assert_eq!(f["object"], "public.notes");
    assert!(f["message"].as_str().unwrap().contains("app_user"));
    assert!(f["fix"].as_str().unwrap().contains("ENABLE ROW LEVEL SECURITY"));
    for key in ["critical", "major", "minor", "info"] {
        assert!(json["summary"][key].is_u64());
    }
    assert_eq!(run(&["audit", "--database-url", &url, "--app-role", "app_user", "--fail-on", "never"]).status.code(), Some(0));

    // DATABASE_URL is the default for --database-url.
    let out = bin().env("DATABASE_URL", &url).args(["audit", "--app-role", "app_user", "--format", "sarif"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let sarif: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    assert!(sarif["runs"][0]["tool"]["driver"]["rules"].as_array().unwrap().len() >= 27);
    assert!(sarif["runs"][0]["results"][0]["partialFingerprints"]["tenantguard/v1"].is_string());

    let md = stdout(&run(&["audit", "--database-url", &url, "--app-role", "app_user", "--format", "markdown"]));
    assert!(md.contains("release blocked") && md.contains("| [rls-disabled]"), "{md}");
    let html = std::env::temp_dir().join(format!("tg-audit-{}.html", std::process::id()));
    let out = run(&["audit", "--database-url", &url, "--app-role", "app_user", "--format", "html", "-o", html.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let page = std::fs::read_to_string(&html).unwrap();
    let _ = std::fs::remove_file(&html);
    assert!(page.starts_with("<!DOCTYPE html>") && page.contains("release blocked") && page.contains("rls-disabled.md\">rls-disabled</a>"), "{page}");
    let text = stdout(&run(&["audit", "--database-url", &url, "--app-role", "app_user"]));
    assert!(text.contains("CRITICAL") && text.contains("fix: ") && !text.contains("\x1b["), "{text}");
}

#[test]
fn a_baseline_accepts_known_findings_with_a_reason() {
    let cluster = Cluster::start().unwrap();
    cluster.create_database("app").unwrap();
    cluster.psql("app", LEAKY).unwrap();
    let url = cluster.url("app");
    let dir = tempfile::tempdir().unwrap();
    let baseline = dir.path().join("baseline.toml");
    let out = run(&["audit", "--database-url", &url, "--app-role", "app_user", "--write-baseline", baseline.to_str().unwrap(), "--fail-on", "never"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // An unjustified baseline is refused.
    let out = run(&["audit", "--database-url", &url, "--app-role", "app_user", "--baseline", baseline.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("justification"), "{}", stderr(&out));
    let justified = std::fs::read_to_string(&baseline).unwrap().replace("TODO: say why this is acceptable", "legacy table, fix tracked in TICKET-1");
    std::fs::write(&baseline, justified).unwrap();
    let out = run(&["audit", "--database-url", &url, "--app-role", "app_user", "--baseline", baseline.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(stdout(&out).contains("accepted by the baseline"));
    // A new leak still fails.
    cluster.psql("app", "CREATE TABLE more_notes (tenant_id uuid, body text); GRANT SELECT ON more_notes TO app_user;").unwrap();
    let out = run(&["audit", "--database-url", &url, "--app-role", "app_user", "--baseline", baseline.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("public.more_notes"));
}

#[test]
fn bad_input_exits_2_with_one_clear_line() {
    let cluster = Cluster::start().unwrap();
    cluster.create_database("app").unwrap();
    let url = cluster.url("app");
    let dir = tempfile::tempdir().unwrap();
    let bad_config = dir.path().join("bad.toml");
    std::fs::write(&bad_config, "app_roles = ['x']\nsurprise = true\n").unwrap();
    let wrong_type = dir.path().join("wrong.toml");
    std::fs::write(&wrong_type, "app_roles = 'x'\n").unwrap();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec!["audit".into()], "no database given"),
        (vec!["audit".into(), "--database-url".into(), "not a url".into()], "not a PostgreSQL connection URL"),
        (vec!["audit".into(), "--database-url".into(), "postgres://u:pw@127.0.0.1:1/db".into()], "cannot connect"),
        (vec!["audit".into(), "--database-url".into(), cluster.url("missing_db")], "does not exist"),
        (vec!["audit".into(), "--database-url".into(), cluster.role_url("nobody", Some("pw"), "app")], "nobody"),
        (vec!["audit".into(), "--database-url".into(), url.clone(), "--app-role".into(), "ghost".into()], "app role ghost does not exist"),
        (vec!["audit".into(), "--database-url".into(), url.clone(), "--config".into(), bad_config.to_string_lossy().into()], "surprise"),
        (vec!["audit".into(), "--database-url".into(), url.clone(), "--config".into(), wrong_type.to_string_lossy().into()], "invalid"),
        (vec!["audit".into(), "--database-url".into(), url.clone(), "--config".into(), "/nonexistent/t.toml".into()], "cannot read config"),
        (vec!["audit".into(), "--database-url".into(), url.clone(), "--format".into(), "yaml".into()], "invalid value"),
    ];
    for (args, expected) in cases {
        let out = bin().args(&args).output().unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(expected), "{args:?}: expected `{expected}` in: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(!err.contains(":pw@"), "password leaked: {err}");
    }
}

#[test]
fn an_empty_database_is_a_clear_note_not_an_error() {
    let cluster = Cluster::start().unwrap();
    cluster.create_database("empty").unwrap();
    let out = run(&["audit", "--database-url", &cluster.url("empty")]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("no tenant data found"), "{}", stdout(&out));
}

#[test]
fn a_non_superuser_login_audits_and_reports_what_it_could_not_check() {
    let cluster = Cluster::start().unwrap();
    cluster.create_database("app").unwrap();
    cluster.psql("app", LEAKY).unwrap();
    cluster.psql("app", "CREATE ROLE auditor LOGIN PASSWORD 'pw'; REVOKE SELECT ON pg_catalog.pg_db_role_setting FROM PUBLIC;").unwrap();
    let out = run(&["audit", "--database-url", &cluster.role_url("auditor", Some("pw"), "app"), "--app-role", "app_user", "--format", "json"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rules: Vec<&str> = json["findings"].as_array().unwrap().iter().map(|f| f["rule"].as_str().unwrap()).collect();
    assert!(rules.contains(&"rls-disabled") && rules.contains(&"unchecked-privileges"), "{rules:?}");
}

#[test]
fn the_demo_runs_on_an_embedded_cluster() {
    let out = run(&["demo", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(json["summary"]["critical"].as_u64().unwrap() >= 5);
    let out = run(&["demo", "--fail-on", "critical"]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn a_saved_snapshot_audits_the_same_without_the_database() {
    let cluster = Cluster::start().unwrap();
    cluster.create_database("app").unwrap();
    cluster.psql("app", LEAKY).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let snap = dir.path().join("snap.json");
    let live = run(&["audit", "--database-url", &cluster.url("app"), "--app-role", "app_user", "--format", "json", "--save-snapshot", snap.to_str().unwrap()]);
    drop(cluster);
    let offline = run(&["audit", "--from-snapshot", snap.to_str().unwrap(), "--app-role", "app_user", "--format", "json"]);
    assert_eq!(live.status.code(), offline.status.code());
    assert_eq!(stdout(&live), stdout(&offline));
    std::fs::write(&snap, "{ not json").unwrap();
    let bad = run(&["audit", "--from-snapshot", snap.to_str().unwrap()]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("not a tenantguard snapshot"), "{}", stderr(&bad));
}
