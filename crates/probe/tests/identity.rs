//! Tenant contexts other than a tenant setting: users resolved through a membership table
//! (`auth.uid()`), roles per tenant (`current_user`), and several app roles attacked each.

mod common;

use common::*;
use tenantguard_probe::{fingerprint, Operation as Op, Outcome};

async fn probe_case(case: &str) -> (tenantguard_testkit::Cluster, tenantguard_probe::Matrix) {
    let (sql, toml) = load_case(case);
    let c = cluster_with("case", &sql);
    let client = tenantguard_catalog::reader::connect(&c.url("case")).await.unwrap();
    let before = fingerprint::take(&client).await.unwrap();
    let m = run(&c, "case", config(&toml)).await;
    assert_eq!(before, fingerprint::take(&client).await.unwrap(), "{case}: the probe changed the database");
    assert_eq!(m.summary().error, 0, "{case}\n{}", show(&m));
    (c, m)
}

/// Membership isolation: attacked as a user of tenant A (found in, or synthesised into, the
/// membership table), with the user id where `auth.uid()` reads it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn membership_policies_are_attacked_as_a_member_of_a() {
    for case in [
        "policy-not-tenant-scoped/clean-membership.sql",
        "policy-not-tenant-scoped/clean-membership-sql-function.sql",
        "policy-not-tenant-scoped/clean-membership-plpgsql-function.sql",
        "policy-not-tenant-scoped/clean-tenant-set-function.sql",
        "policy-trusts-writable-table/clean.sql",
    ] {
        let (_c, m) = probe_case(case).await;
        let text = show(&m);
        println!("{case}\n{text}");
        assert!(!m.has_leak(), "{case}: clean\n{text}");
        for op in [Op::Select, Op::Update, Op::Delete] {
            assert_eq!(m.find("public.invoices", op), Some(Outcome::Isolated), "{case} {op:?}\n{text}");
        }
        assert!(m.notes.iter().any(|n| n.contains("member of tenant A") && n.contains("public.memberships")), "{case}: {:?}", m.notes);
        // The attack really ran as a member: the context carries the user id.
        let cell = m.cell("public.invoices", Op::Select).unwrap();
        let ctx = cell.attempt.as_ref().unwrap().context.to_string();
        assert!(ctx.contains("request.jwt.claim.sub"), "{case}: {ctx}");
        // Positive control: with that context the app role does see tenant A's invoices.
        let client = tenantguard_catalog::reader::connect(&_c.url("case")).await.unwrap();
        let tx = format!(
            "BEGIN; SET LOCAL ROLE app_user; SELECT set_config(k, v, true) FROM json_each_text('{}'::json) c(k, v); \
             CREATE TEMP TABLE seen ON COMMIT DROP AS SELECT count(*) AS n FROM invoices WHERE tenant_id = 'aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa'",
            ctx.replace('\'', "''")
        );
        let a_context = cell.attempt.as_ref().unwrap().context.to_string();
        assert!(a_context.contains("aaaaaaaa"), "{case}: tenant A is the first tenant: {a_context}");
        client.batch_execute(&tx).await.unwrap();
        let n: i64 = client.query_one("SELECT n FROM seen", &[]).await.unwrap().get(0);
        client.batch_execute("ROLLBACK").await.unwrap();
        assert!(n > 0, "{case}: the member of A sees none of A's invoices with {ctx}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn membership_leaks_are_found() {
    // The helper checks membership of *some* tenant: a member of A reads B's invoices.
    let (_c, m) = probe_case("policy-not-tenant-scoped/member-check-any-tenant.sql").await;
    assert_eq!(m.find("public.invoices", Op::Select), Some(Outcome::Leak), "{}", show(&m));
    // The user may write their own memberships: they join tenant B.
    let (_c, m) = probe_case("policy-trusts-writable-table/leak.sql").await;
    let cell = m.cell("public.memberships", Op::Insert).unwrap_or_else(|| panic!("{}", show(&m)));
    assert_eq!(cell.outcome, Outcome::Leak, "{}", show(&m));
    assert!(cell.detail.contains("membership"), "{}", cell.detail);
}

/// A user who is a member of A only is synthesised when the data has none (no rows kept).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_of_a_is_synthesised_when_there_is_none() {
    let (sql, toml) = load_case("policy-not-tenant-scoped/member-check-any-tenant.sql");
    let sql = format!("{sql}\nDELETE FROM memberships;");
    let c = cluster_with("case", &sql);
    let m = run(&c, "case", config(&toml)).await;
    let cell = m.cell("public.invoices", Op::Select).unwrap();
    assert_eq!(cell.outcome, Outcome::Leak, "{}", show(&m));
    assert!(cell.setup.iter().any(|s| s.contains("\"memberships\"")), "{:?}", cell.setup);
}

const ROLE_LEAK: &str = "DROP POLICY own_rows ON docs; CREATE POLICY own_rows ON docs USING (tenant = current_user OR current_user::text LIKE 'tenant_a%');";

/// Role per tenant: each app role attacks as itself against the other role's rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn role_per_tenant_is_attacked_with_each_role() {
    let (_c, m) = probe_case("policy-not-tenant-scoped/clean-role-per-tenant.sql").await;
    let text = show(&m);
    println!("{text}");
    assert_eq!(m.app_roles, vec!["tenant_a", "tenant_b"]);
    for role in ["tenant_a", "tenant_b"] {
        for op in [Op::Select, Op::Insert, Op::Update, Op::Delete] {
            assert_eq!(m.find_as(role, "public.docs", op), Some(Outcome::Isolated), "{role} {op:?}\n{text}");
        }
    }
    assert!(m.cell_as("tenant_a", "public.docs", Op::Select).unwrap().detail.contains("tenant_b"), "{text}");
    assert!(text.contains("public.docs [as tenant_b]"), "{text}");

    let (sql, toml) = load_case("policy-not-tenant-scoped/clean-role-per-tenant.sql");
    let c = cluster_with("case", &format!("{sql}\n{ROLE_LEAK}"));
    let m = run(&c, "case", config(&toml)).await;
    let text = show(&m);
    assert_eq!(m.find_as("tenant_a", "public.docs", Op::Select), Some(Outcome::Leak), "{text}");
    assert_eq!(m.find_as("tenant_b", "public.docs", Op::Select), Some(Outcome::Isolated), "{text}");
    let json: serde_json::Value = serde_json::from_str(&tenantguard_probe::render::json::render(&m)).unwrap();
    let results = json["results"].as_array().unwrap();
    assert!(results.iter().all(|r| r["object"].is_string() && r["operation"].is_string() && r["outcome"].is_string() && r["detail"].is_string() && r["role"].is_string()));
    assert!(results.iter().any(|r| r["role"] == "tenant_a" && r["object"] == "public.docs" && r["operation"] == "select" && r["outcome"] == "leak"));
    assert!(results.iter().any(|r| r["role"] == "tenant_b" && r["object"] == "public.docs" && r["operation"] == "select" && r["outcome"] == "isolated"));
}

/// Every configured app role is attacked, not only the first: a reporting role with a
/// policy of its own leaks where the main role is isolated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_app_role_is_attacked_and_reported() {
    let sql = format!(
        "{}\n{}\nCREATE ROLE reporting LOGIN; GRANT USAGE ON SCHEMA public TO reporting; GRANT SELECT ON invoices TO reporting;\n\
         CREATE POLICY reporting_all ON invoices FOR SELECT TO reporting USING (true);",
        read("crates/rules/tests/cases/base.sql"),
        read("crates/rules/tests/cases/invoices.sql")
    );
    let c = cluster_with("db", &sql);
    let m = run(&c, "db", config("app_roles = ['app_user', 'reporting']")).await;
    let text = show(&m);
    println!("{text}");
    assert_eq!(m.find_as("app_user", "public.invoices", Op::Select), Some(Outcome::Isolated), "{text}");
    assert_eq!(m.find_as("reporting", "public.invoices", Op::Select), Some(Outcome::Leak), "{text}");
    assert_eq!(m.find_as("reporting", "public.invoices", Op::Insert), Some(Outcome::Isolated), "{text}");
    assert!(m.cell_as("reporting", "role reporting", Op::LoginDefault).is_some(), "{text}");
    assert!(!m.notes.iter().any(|n| n.contains("run again with --app-role")), "{:?}", m.notes);
    let html = tenantguard_probe::render::html::render(&m);
    assert!(html.contains("public.invoices [as reporting]"));
}
