//! End-to-end: migrations applied to a real shadow cluster, findings pinned to lines.

use std::path::{Path, PathBuf};
use std::process::Command;

use tenantguard_lint::cli::{run, LintArgs, Format};
use tenantguard_lint::{source, Linter};
use tenantguard_rules::{Config, Finding};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

async fn lint_dir(dir: &Path, config: &Config) -> Vec<Finding> {
    let set = source::read_dir(dir, None).unwrap();
    let mut linter = Linter::start().await.unwrap();
    linter.lint(&set, config).await.unwrap().findings
}

fn find<'a>(fs: &'a [Finding], rule: &str, object: &str) -> Option<&'a Finding> {
    fs.iter().find(|f| f.rule == rule && f.object == object)
}

#[tokio::test]
async fn clean_reference_service_has_no_serious_findings() {
    let dir = repo().join("examples/invoicing/migrations");
    let config = Config::load(&repo().join("examples/invoicing/tenantguard.toml").to_string_lossy()).unwrap();
    let fs = lint_dir(&dir, &config).await;
    let serious: Vec<_> = fs.iter().filter(|f| f.severity >= tenantguard_rules::Severity::Major).collect();
    assert!(serious.is_empty(), "{serious:#?}");
}

#[tokio::test]
async fn findings_point_at_the_statement_that_caused_them() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "001_roles.sql", "CREATE ROLE app_user NOLOGIN;\n");
    write(
        tmp.path(),
        "002_tables.sql",
        "-- invoices\nCREATE TABLE invoices (\n  id int PRIMARY KEY,\n  tenant_id uuid NOT NULL\n);\nCREATE INDEX ON invoices (tenant_id);\nGRANT SELECT ON invoices TO app_user;\n",
    );
    write(
        tmp.path(),
        "003_notes.sql",
        "CREATE TABLE notes (id int, tenant_id uuid NOT NULL);\nCREATE INDEX ON notes (tenant_id);\nALTER TABLE notes ENABLE ROW LEVEL SECURITY;\nCREATE POLICY notes_open ON notes\n  USING (true);\nGRANT SELECT ON notes TO app_user;\n",
    );
    let config = Config { app_roles: vec!["app_user".into()], ..Default::default() };
    let fs = lint_dir(tmp.path(), &config).await;
    let rls = find(&fs, "rls-disabled", "public.invoices").expect("rls-disabled on invoices");
    assert_eq!((rls.file.as_deref(), rls.line, rls.column), (Some(&*format!("{}/002_tables.sql", tmp.path().display())), Some(2), Some(1)), "{rls:?}");
    let open = fs.iter().find(|f| f.object == "public.notes" && f.detail.as_deref() == Some("notes_open")).expect("a finding on the open policy");
    assert_eq!(open.line, Some(4), "{open:?}");
}

#[tokio::test]
async fn failing_migration_is_a_finding_and_the_rest_still_lints() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "001_a.sql", "CREATE TABLE a (id int, tenant_id uuid);\nCREATE TABLEX broken (id int);\nCREATE TABLE c (id int, tenant_id uuid);\n");
    write(tmp.path(), "002_b.sql", "SELECT 1;\nINSERT INTO missing_table VALUES (1);\n");
    let fs = lint_dir(tmp.path(), &Config::default()).await;
    let syntax = fs.iter().find(|f| f.rule == "migration-failed" && f.object.ends_with("001_a.sql")).expect("syntax error reported");
    assert_eq!((syntax.line, syntax.column), (Some(2), Some(8)), "{syntax:?}");
    assert!(syntax.message.contains("syntax error"), "{}", syntax.message);
    let missing = fs.iter().find(|f| f.rule == "migration-failed" && f.object.ends_with("002_b.sql")).expect("missing table reported");
    assert_eq!((missing.line, missing.column), (Some(2), Some(13)), "{missing:?}");
    // Statements after the broken one were applied and audited.
    assert!(fs.iter().any(|f| f.object == "public.c"), "{fs:#?}");
}

#[tokio::test]
async fn suppressions_need_a_reason_and_must_suppress_something() {
    let tmp = tempfile::tempdir().unwrap();
    write(
        tmp.path(),
        "001_a.sql",
        "-- tenantguard-ignore rls-disabled: rows are written by a trusted batch only\nCREATE TABLE a (id int, tenant_id uuid);\n\
         -- tenantguard-ignore rls-disabled\nCREATE TABLE b (id int, tenant_id uuid);\n\
         -- tenantguard-ignore rls-disabled: nothing to silence here\nSELECT 1;\n",
    );
    let fs = lint_dir(tmp.path(), &Config::default()).await;
    assert!(find(&fs, "rls-disabled", "public.a").is_none(), "{fs:#?}");
    assert!(find(&fs, "rls-disabled", "public.b").is_some());
    let unused: Vec<u32> = fs.iter().filter(|f| f.rule == "unused-suppression").filter_map(|f| f.line).collect();
    assert_eq!(unused, vec![3, 5], "{fs:#?}");
}

#[tokio::test]
async fn relint_reuses_the_shadow_database_and_stays_sound() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "001_roles.sql", "CREATE ROLE app_user NOLOGIN;\n");
    write(tmp.path(), "002_t.sql", "CREATE TABLE t (id int, tenant_id uuid);\n");
    let config = Config::default();
    let mut linter = Linter::start().await.unwrap();
    let first = linter.lint(&source::read_dir(tmp.path(), None).unwrap(), &config).await.unwrap();
    assert!(find(&first.findings, "rls-disabled", "public.t").is_some());
    // The tail changed: it now enables RLS and creates a role; the role must not leak into the next run.
    write(tmp.path(), "002_t.sql", "CREATE ROLE extra NOLOGIN;\nCREATE TABLE t (id int, tenant_id uuid);\nALTER TABLE t ENABLE ROW LEVEL SECURITY;\n");
    let second = linter.lint(&source::read_dir(tmp.path(), None).unwrap(), &config).await.unwrap();
    assert!(find(&second.findings, "rls-disabled", "public.t").is_none(), "{:#?}", second.findings);
    let third = linter.lint(&source::read_dir(tmp.path(), None).unwrap(), &config).await.unwrap();
    assert!(third.findings.iter().all(|f| f.rule != "migration-failed"), "role from the previous tail leaked: {:#?}", third.findings);
    // An early file changed: everything is reapplied, earlier runs' roles are gone.
    write(tmp.path(), "001_roles.sql", "CREATE ROLE app_user NOLOGIN;\nCREATE ROLE other NOLOGIN;\n");
    let fourth = linter.lint(&source::read_dir(tmp.path(), None).unwrap(), &config).await.unwrap();
    assert!(fourth.findings.iter().all(|f| f.rule != "migration-failed"), "{:#?}", fourth.findings);
}

/// 40 files: more than the rolled-back tail (32), so the first 8 are committed and cached.
fn history(dir: &Path, first: &str) {
    write(dir, "000_roles.sql", first);
    for i in 1..40 {
        write(dir, &format!("{i:03}_t.sql"), &format!("CREATE TABLE t{i} (id int, tenant_id uuid);\n"));
    }
}

#[tokio::test]
async fn separate_processes_reuse_the_cache_and_stay_sound() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    history(tmp.path(), "CREATE ROLE early NOLOGIN;\n");
    let config = Config::default();
    // Each "process" builds its own Linter and drops it: only the cache directory carries over.
    async fn process(dir: &Path, cache: &Path, config: &Config) -> tenantguard_lint::Outcome {
        let set = source::read_dir(dir, None).unwrap();
        let mut linter = Linter::start_cached(cache, &set).await.unwrap();
        let out = linter.lint(&set, config).await.unwrap();
        linter.save().await.unwrap();
        out
    }
    let first = process(tmp.path(), cache.path(), &config).await;
    assert_eq!(first.timings.reused_files, 0);
    assert!(find(&first.findings, "rls-disabled", "public.t39").is_some());

    // A tail file changed: the next process starts from the saved prefix.
    write(tmp.path(), "039_t.sql", "CREATE TABLE t39 (id int, tenant_id uuid);\nALTER TABLE t39 ENABLE ROW LEVEL SECURITY;\n");
    let second = process(tmp.path(), cache.path(), &config).await;
    assert_eq!(second.timings.reused_files, 8, "the cached prefix was not used");
    assert!(find(&second.findings, "rls-disabled", "public.t39").is_none(), "{:#?}", second.findings);
    assert!(find(&second.findings, "rls-disabled", "public.t1").is_some(), "objects from the cached prefix are audited");

    // A cached file changed: its role must not survive in the next process's cluster,
    // or the tail's CREATE ROLE early fails.
    history(tmp.path(), "CREATE ROLE other NOLOGIN;\n");
    write(tmp.path(), "039_t.sql", "CREATE ROLE early NOLOGIN;\nCREATE TABLE t39 (id int, tenant_id uuid);\n");
    let third = process(tmp.path(), cache.path(), &config).await;
    assert_eq!(third.timings.reused_files, 0, "a changed prefix must not be reused");
    assert!(third.findings.iter().all(|f| f.rule != "migration-failed"), "a role from the cached prefix leaked: {:#?}", third.findings);

    // Back to the first history: its entry is still there (the last three are kept).
    history(tmp.path(), "CREATE ROLE early NOLOGIN;\n");
    let fourth = process(tmp.path(), cache.path(), &config).await;
    assert_eq!(fourth.timings.reused_files, 8);
    assert!(find(&fourth.findings, "rls-disabled", "public.t39").is_some());
}

#[tokio::test]
async fn cli_runs_share_the_cache_dir() {
    let tmp = tempfile::tempdir().unwrap();
    let m = tmp.path().join("migrations");
    std::fs::create_dir(&m).unwrap();
    history(&m, "CREATE ROLE early NOLOGIN;\n");
    let cache = tmp.path().join("cache");
    let mut reports = Vec::new();
    for i in 0..2 {
        let out = tmp.path().join(format!("out{i}.json"));
        let mut a = args(vec![m.clone()], Format::Json, &out);
        (a.no_cache, a.cache_dir) = (false, Some(cache.clone()));
        run(a).await.unwrap();
        let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
        reports.push(doc["findings"].clone());
    }
    assert!(reports[0].as_array().unwrap().iter().any(|f| f["object"] == "public.t39"), "{:#}", reports[0]);
    assert_eq!(reports[0], reports[1], "a run from the cache must report what a cold run does");
    let entries = std::fs::read_dir(&cache).unwrap().flatten().filter(|e| e.path().join("data.tar").is_file()).count();
    assert_eq!(entries, 1, "the first run saves one entry, the second reuses it");
}

#[tokio::test]
async fn layouts_and_bad_files() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "1_init.up.sql", "CREATE TABLE t (id int, tenant_id uuid);\n");
    write(tmp.path(), "1_init.down.sql", "DROP TABLE t;\n");
    std::fs::write(tmp.path().join("2_bad.up.sql"), b"SELECT '\xff';\n").unwrap();
    let fs = lint_dir(tmp.path(), &Config::default()).await;
    assert!(find(&fs, "rls-disabled", "public.t").is_some(), "down file must not run: {fs:#?}");
    assert!(fs.iter().any(|f| f.rule == "migration-failed" && f.message.contains("not UTF-8")));

    let db = tempfile::tempdir().unwrap();
    write(db.path(), "20240101_a.sql", "-- migrate:up\nCREATE TABLE d (id int, tenant_id uuid);\n\n-- migrate:down\nDROP TABLE d;\n");
    let fs = lint_dir(db.path(), &Config::default()).await;
    let f = find(&fs, "rls-disabled", "public.d").expect("dbmate up section applied");
    assert_eq!(f.line, Some(2));
}

fn args(paths: Vec<PathBuf>, format: Format, out: &Path) -> LintArgs {
    LintArgs { paths, format: Some(format), output: Some(out.to_path_buf()), no_app: true, no_cache: true, ..Default::default() }
}

#[tokio::test]
async fn cli_sarif_has_lint_rules_and_regions() {
    let tmp = tempfile::tempdir().unwrap();
    let m = tmp.path().join("migrations");
    std::fs::create_dir(&m).unwrap();
    write(&m, "001.sql", "CREATE TABLE t (id int, tenant_id uuid);\nCREATE TABLEX;\n");
    let out = tmp.path().join("out.sarif");
    let code = run(args(vec![m.clone()], Format::Sarif, &out)).await.unwrap();
    assert_eq!(code, std::process::ExitCode::from(1));
    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let rules = doc["runs"][0]["tool"]["driver"]["rules"].as_array().unwrap();
    let ids: Vec<&str> = rules.iter().map(|r| r["id"].as_str().unwrap()).collect();
    for id in ["rls-disabled", "migration-failed", "unused-suppression", "app-job-without-tenant"] {
        assert!(ids.contains(&id), "{id} missing");
    }
    let results = doc["runs"][0]["results"].as_array().unwrap();
    let failed = results.iter().find(|r| r["ruleId"] == "migration-failed").unwrap();
    assert_eq!(failed["locations"][0]["physicalLocation"]["region"]["startLine"], 2);
    assert_eq!(ids[failed["ruleIndex"].as_u64().unwrap() as usize], "migration-failed");
    assert!(failed["partialFingerprints"]["tenantguard/v1"].is_string());
}

#[tokio::test]
async fn cli_errors_of_use() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("o");
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let mut a = args(vec![], Format::Text, &out);
    a.migrations_dir = Some(empty.clone());
    let e = run(a).await.unwrap_err().to_string();
    assert!(e.contains("no migrations in"), "{e}");

    // A path that is not there is named, not taken for "nothing to lint".
    let e = run(args(vec![tmp.path().join("nope")], Format::Text, &out)).await.unwrap_err().to_string();
    assert!(e.contains("nope does not exist"), "{e}");

    // --base outside a git repository.
    let m = tmp.path().join("m");
    std::fs::create_dir(&m).unwrap();
    write(&m, "1.sql", "SELECT 1;\n");
    let mut a = args(vec![m.clone()], Format::Text, &out);
    a.base = Some("HEAD".into());
    let e = format!("{:#}", run(a).await.unwrap_err());
    assert!(e.contains("git repository"), "{e}");
}

fn git(dir: &Path, args: &[&str]) {
    let ok = Command::new("git").arg("-C").arg(dir).args(["-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"]).args(args).output().unwrap();
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
}

#[tokio::test]
async fn base_reports_only_new_findings() {
    let tmp = tempfile::tempdir().unwrap();
    let m = tmp.path().join("migrations");
    std::fs::create_dir(&m).unwrap();
    write(&m, "002_old.sql", "CREATE TABLE old_t (id int, tenant_id uuid);\n");
    git(tmp.path(), &["init", "-q"]);
    git(tmp.path(), &["add", "."]);
    git(tmp.path(), &["commit", "-qm", "base"]);
    write(&m, "003_new.sql", "CREATE TABLE new_t (id int, tenant_id uuid);\n");
    write(&m, "001_late.sql", "SELECT 1;\n");
    let out = tmp.path().join("out.json");
    let mut a = args(vec![m.clone()], Format::Json, &out);
    a.base = Some("HEAD".into());
    a.fail_on = Some(tenantguard_lint::cli::FailOn::Never);
    run(a).await.unwrap();
    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let fs = doc["findings"].as_array().unwrap();
    assert!(fs.iter().any(|f| f["object"] == "public.new_t" && f["line"] == 1 && f["file"].as_str().unwrap().ends_with("003_new.sql")), "{fs:#?}");
    assert!(!fs.iter().any(|f| f["object"] == "public.old_t"), "{fs:#?}");
    assert!(fs.iter().any(|f| f["rule"] == "migration-order" && f["object"].as_str().unwrap().ends_with("001_late.sql")), "{fs:#?}");

    let mut a = args(vec![m.clone()], Format::Json, &out);
    a.base = Some("no-such-ref".into());
    let e = format!("{:#}", run(a).await.unwrap_err());
    assert!(e.contains("no such commit"), "{e}");
}

#[test]
fn app_code_scan_reports_file_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "jobs.py", "def f(invoice):\n    send_invoice.apply_async(args=[invoice.id])\n");
    write(tmp.path(), "db.go", "func f() {\n\tdb.Exec(\"SET app.current_tenant = '\" + t + \"'\")\n}\n");
    let files = tenantguard_lint::appcode::collect(&[tmp.path().to_path_buf()], &[]);
    let ctx = tenantguard_lint::appcode::AppContext { tenant_words: vec!["tenant".into()], ..Default::default() };
    let fs = tenantguard_lint::appcode::scan_files(&files, &ctx);
    assert!(fs.iter().any(|f| f.rule == "app-job-without-tenant" && f.file.as_deref().unwrap().ends_with("jobs.py") && f.line == Some(2)), "{fs:#?}");
    assert!(fs.iter().any(|f| f.rule == "session-level-tenant-context" && f.file.as_deref().unwrap().ends_with("db.go") && f.line == Some(2)), "{fs:#?}");
}

/// `app-tenant-interpolated-into-sql`, proved as the app role: the statement the flagged line
/// builds, given the tenant a client sent, switches the context to tenant B and reads B's rows
/// through forced RLS. The bound form of the same call, with the same value, reads nothing,
/// and the scan is silent on it.
#[test]
fn interpolated_tenant_reads_another_tenant_through_rls() {
    let flagged = r#"tx.execute(&*format!("SET LOCAL app.current_tenant = '{}'", tenant)).await?;"#;
    let bound = r#"sqlx::query("SELECT set_config('app.current_tenant', $1, true)").bind(tenant).execute(&mut *tx).await?;"#;
    let ctx = tenantguard_lint::appcode::AppContext { tenant_words: vec!["tenant".into()], ..Default::default() };
    let rules_of = |code: &str| -> Vec<String> {
        let text = format!("let mut tx = pool.begin().await?;\n{code}\n");
        tenantguard_lint::appcode::scan_text("app.rs", &text, &ctx).into_iter().map(|f| f.rule).collect()
    };
    assert!(rules_of(flagged).contains(&"app-tenant-interpolated-into-sql".to_string()), "{:?}", rules_of(flagged));
    assert!(rules_of(bound).is_empty(), "{:?}", rules_of(bound));

    let cluster = tenantguard_testkit::Cluster::start().unwrap();
    cluster
        .psql(
            "postgres",
            "CREATE ROLE app LOGIN PASSWORD 'app';
             CREATE TABLE notes (tenant_id text NOT NULL, body text NOT NULL);
             INSERT INTO notes VALUES ('aaaa', 'a-note'), ('bbbb', 'b-secret');
             ALTER TABLE notes ENABLE ROW LEVEL SECURITY;
             ALTER TABLE notes FORCE ROW LEVEL SECURITY;
             CREATE POLICY tenant_rows ON notes USING (tenant_id = current_setting('app.current_tenant', true));
             GRANT SELECT ON notes TO app;",
        )
        .unwrap();
    let app = cluster.role_url("app", Some("app"), "postgres");
    // What tenant A's client sends as its tenant, e.g. in a header the service trusts.
    let tenant = "aaaa'; SET LOCAL app.current_tenant = 'bbbb";
    let statement = format!("SET LOCAL app.current_tenant = '{}'", tenant); // as the flagged line builds it
    let leaked = cluster.psql_as(&app, &format!("BEGIN;\n{statement};\nSELECT body FROM notes;\nCOMMIT;\n"), &["-At"]).unwrap();
    assert_eq!(leaked.trim(), "b-secret", "the interpolated tenant switched the context to tenant B");
    // The bound form: the whole value is one (nonexistent) tenant.
    let script = "BEGIN;\nSELECT set_config('app.current_tenant', :'tenant', true) \\g /dev/null\nSELECT body FROM notes;\nCOMMIT;\n";
    let kept = cluster.psql_as(&app, script, &["-At", "-v", &format!("tenant={tenant}")]).unwrap();
    assert_eq!(kept.trim(), "", "bound, the value is data: no tenant's rows");
}

/// The reference service's own code passes the application-code scan (its jobs go through the
/// runtime's TenantTx::enqueue, which stamps the tenant).
#[test]
fn reference_service_code_has_no_serious_app_findings() {
    let files = tenantguard_lint::appcode::collect(&[repo().join("examples/invoicing/src"), repo().join("crates/runtime/src")], &[]);
    assert!(files.len() >= 5, "{files:?}");
    let ctx = tenantguard_lint::appcode::AppContext {
        tenant_settings: vec!["app.current_tenant".into()],
        tenant_tables: vec!["invoices".into(), "customers".into(), "users".into(), "invoice_lines".into(), "jobs".into()],
        tenant_words: vec!["tenant".into()],
    };
    let fs = tenantguard_lint::appcode::scan_files(&files, &ctx);
    let serious: Vec<_> = fs.iter().filter(|f| f.severity >= tenantguard_rules::Severity::Major).collect();
    assert!(serious.is_empty(), "{serious:#?}");
}
