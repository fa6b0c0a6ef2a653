//! The probe against the demo schema (every flaw a real leak) and the reference service
//! (no leak), and proof that a full probe changes nothing (on the reference service, nothing
//! but the audit log's id sequence, which its capture triggers advance and a rollback cannot undo).

mod common;

use common::*;
use tenantguard_probe::fingerprint;
use tenantguard_probe::{Operation as Op, Outcome};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_schema_leaks_where_it_should_and_nothing_changes() {
    let c = cluster_with("saas", &read("crates/cli/demo/saas.sql"));
    let client = tenantguard_catalog::reader::connect(&c.url("saas")).await.unwrap();
    let before = fingerprint::take(&client).await.unwrap();
    let m = run(&c, "saas", config("app_roles = ['app_user']")).await;
    let text = show(&m);
    println!("{text}");
    let after = fingerprint::take(&client).await.unwrap();
    assert_eq!(before, after, "the probe changed the database");
    let cell = |o: &str, op| m.find(o, op).unwrap_or_else(|| panic!("no {o} {op:?} in\n{text}"));
    assert_eq!(cell("public.projects", Op::Select), Outcome::Isolated, "{text}");
    assert_eq!(cell("public.projects", Op::Insert), Outcome::Isolated, "{text}");
    assert_eq!(cell("public.projects", Op::Move), Outcome::Isolated, "{text}");
    assert_eq!(cell("public.projects", Op::NoContext), Outcome::Isolated, "{text}");
    assert_eq!(cell("public.invoices", Op::Select), Outcome::Leak, "{text}");
    assert_eq!(cell("public.invoices", Op::Delete), Outcome::Leak, "{text}");
    assert_eq!(cell("public.invoices", Op::Move), Outcome::Leak, "{text}");
    assert_eq!(cell("public.comments", Op::Select), Outcome::Leak, "{text}");
    assert_eq!(cell("public.users", Op::Select), Outcome::Leak, "{text}");
    assert_eq!(cell("public.tasks", Op::Select), Outcome::Leak, "{text}");
    assert_eq!(cell("public.invoice_totals", Op::Select), Outcome::Leak, "{text}");
    assert_eq!(cell("public.set_tenant(t uuid)", Op::Session), Outcome::Leak, "{text}");
    assert!(m.has_leak());
}

/// The reference service, migrated from empty: every row is synthesised, nothing leaks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reference_invoicing_service_has_no_leak() {
    let mut files: Vec<_> = std::fs::read_dir(root().join("examples/invoicing/migrations")).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    let sql: String = files.iter().map(|p| std::fs::read_to_string(p).unwrap() + "\n").collect();
    let c = cluster_with("invoicing", &sql);
    let client = tenantguard_catalog::reader::connect(&c.url("invoicing")).await.unwrap();
    let before = fingerprint::take(&client).await.unwrap();
    let m = run(&c, "invoicing", config(&read("examples/invoicing/tenantguard.toml"))).await;
    let text = show(&m);
    println!("{text}");
    let after = fingerprint::take(&client).await.unwrap();
    // The capture triggers (005) call nextval() on the audit log's id sequence for every
    // rolled-back write the probe makes, and a rollback does not undo that: the only thing
    // allowed to move, and the probe must say so. Every other sequence, row count and
    // checksum is unchanged.
    const AUDIT_SEQ: &str = "audit.log_id_seq";
    assert_ne!(before.sequences.get(AUDIT_SEQ), after.sequences.get(AUDIT_SEQ), "the probe's writes on captured tables did not reach the capture triggers");
    assert_eq!(without_sequences(&before, &[AUDIT_SEQ]), without_sequences(&after, &[AUDIT_SEQ]), "the probe changed the database");
    assert!(
        m.notes.iter().any(|n| n.starts_with(&format!("sequence {AUDIT_SEQ} moved from ")) && n.contains("nextval() is not undone by a rollback")),
        "no note on the moved {AUDIT_SEQ}: {:?}\n{text}",
        m.notes
    );
    assert!(!m.notes.iter().any(|n| n.starts_with("sequence ") && !n.starts_with(&format!("sequence {AUDIT_SEQ} "))), "another sequence moved: {:?}", m.notes);
    assert!(!m.has_leak(), "{text}");
    assert_eq!(m.summary().error, 0, "{text}");
    // Empty tables were attacked with synthesised rows, not skipped.
    assert_eq!(m.find("public.invoice_lines", Op::Select), Some(Outcome::Isolated), "{text}");
    assert_eq!(m.find("public.invoice_lines", Op::Move), Some(Outcome::Isolated), "{text}");
    assert_eq!(m.find("public.invoices", Op::Insert), Some(Outcome::Isolated), "{text}");
}

/// JWT-claim mode (Supabase's `auth.jwt() ->> 'tenant_id'`): the context is a claims object.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwt_claim_context_is_set_end_to_end() {
    let sql = r#"
CREATE ROLE authenticated NOLOGIN; CREATE ROLE owner_role NOLOGIN;
GRANT USAGE ON SCHEMA public TO authenticated;
CREATE SCHEMA auth; GRANT USAGE ON SCHEMA auth TO authenticated;
CREATE FUNCTION auth.jwt() RETURNS jsonb LANGUAGE sql STABLE AS $$ SELECT nullif(current_setting('request.jwt.claims', true), '')::jsonb $$;
CREATE TABLE notes (id int PRIMARY KEY, tenant_id text NOT NULL, body text NOT NULL);
INSERT INTO notes VALUES (1, 't1', 'a'), (2, 't2', 'b');
CREATE TABLE drafts (id int PRIMARY KEY, tenant_id text NOT NULL);
INSERT INTO drafts VALUES (1, 't1'), (2, 't2');
ALTER TABLE notes OWNER TO owner_role; ALTER TABLE drafts OWNER TO owner_role;
GRANT SELECT, INSERT, UPDATE, DELETE ON notes, drafts TO authenticated;
ALTER TABLE notes ENABLE ROW LEVEL SECURITY; ALTER TABLE notes FORCE ROW LEVEL SECURITY;
CREATE POLICY by_claim ON notes USING (tenant_id = (SELECT auth.jwt() ->> 'tenant_id'));
-- drafts: the claim is read, but any signed-in user passes.
ALTER TABLE drafts ENABLE ROW LEVEL SECURITY; ALTER TABLE drafts FORCE ROW LEVEL SECURITY;
CREATE POLICY any_claim ON drafts USING ((SELECT auth.jwt()) IS NOT NULL);
"#;
    let c = cluster_with("jwt", sql);
    let m = run(&c, "jwt", config("app_roles = ['authenticated']\ntenant_settings = ['request.jwt.claim.tenant_id']")).await;
    let text = show(&m);
    println!("{text}");
    assert_eq!(m.find("public.notes", Op::Select), Some(Outcome::Isolated), "{text}");
    assert_eq!(m.find("public.notes", Op::Insert), Some(Outcome::Isolated), "{text}");
    assert_eq!(m.find("public.drafts", Op::Select), Some(Outcome::Leak), "{text}");
    assert_eq!(m.find("public.drafts", Op::NoContext), Some(Outcome::Isolated), "{text}");
}

/// A role default that sets a tenant: every login starts inside it. Checked live with the
/// app role's own login URL, and from pg_db_role_setting without one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_default_tenant_is_flagged_live_and_from_the_catalog() {
    let sql = format!("{}\n{}\nALTER ROLE app_user SET app.current_tenant = 'bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb';", read("crates/rules/tests/cases/base.sql"), read("crates/rules/tests/cases/invoices.sql"));
    let c = cluster_with("db", &sql);
    let mut o = opts(c.url("db"), config("app_roles = ['app_user']"));
    let m = tenantguard_probe::probe(&o).await.unwrap();
    assert_eq!(m.find("role app_user", Op::LoginDefault), Some(Outcome::Leak), "{}", show(&m));
    o.app_url = Some(c.role_url("app_user", None, "db"));
    let m = tenantguard_probe::probe(&o).await.unwrap();
    let cell = m.cell("role app_user", Op::LoginDefault).unwrap();
    assert_eq!(cell.outcome, Outcome::Leak, "{}", show(&m));
    assert!(cell.detail.contains("fresh login as app_user"), "{}", cell.detail);
    // The rest of base.sql is isolated, and JSON carries the contract's fields.
    assert_eq!(m.find("public.invoices", Op::Select), Some(Outcome::Isolated), "{}", show(&m));
    let json: serde_json::Value = serde_json::from_str(&tenantguard_probe::render::json::render(&m)).unwrap();
    assert_eq!(json["tool"], "tenantguard");
    assert!(json["results"].as_array().unwrap().iter().all(|r| r["object"].is_string() && r["operation"].is_string() && r["outcome"].is_string() && r["detail"].is_string()));
    assert_eq!(json["summary"]["leak"], 1);
    let html = tenantguard_probe::render::html::render(&m);
    assert!(html.starts_with("<!DOCTYPE html>") && !html.contains("http://") && !html.contains("https://") && html.contains("class=\"leak\""));
}
