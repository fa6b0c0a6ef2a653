//! The probe against the demo schema (every flaw a real leak) and the reference service
//! (no leak), and proof that a full probe changes nothing.

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
