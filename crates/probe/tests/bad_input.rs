//! Bad input: clear messages, correct quoting, never a panic, never a committed change.

mod common;

use common::*;
use tenantguard_probe::fingerprint;
use tenantguard_probe::{probe, Operation as Op, Outcome};

const EXOTIC: &str = r#"
CREATE ROLE "App Role" LOGIN; CREATE ROLE owner_role NOLOGIN; CREATE ROLE nopriv LOGIN;
GRANT USAGE ON SCHEMA public TO "App Role";
CREATE SCHEMA "Tenant Data"; GRANT USAGE ON SCHEMA "Tenant Data" TO "App Role", owner_role;
CREATE TYPE "Mood" AS ENUM ('ok', 'sad');
CREATE DOMAIN positive AS integer CHECK (VALUE > 0);
CREATE TABLE "Tenant Data"."Orgs ""Ünïcode""" (tenant_id uuid PRIMARY KEY, "Display Name" text NOT NULL);
CREATE TABLE "Tenant Data"."Weird ""Table"" ñ" (
  id bigint GENERATED ALWAYS AS IDENTITY,
  tenant_id uuid NOT NULL REFERENCES "Tenant Data"."Orgs ""Ünïcode""" (tenant_id),
  "Mixed Case" text NOT NULL,
  tags text[] NOT NULL,
  mood "Mood" NOT NULL,
  qty positive NOT NULL,
  period int4range NOT NULL,
  doc jsonb NOT NULL,
  serial_no bigserial,
  total numeric(10, 2) NOT NULL,
  doubled numeric GENERATED ALWAYS AS (total * 2) STORED,
  PRIMARY KEY (tenant_id, id)
);
ALTER TABLE "Tenant Data"."Orgs ""Ünïcode""" OWNER TO owner_role;
ALTER TABLE "Tenant Data"."Weird ""Table"" ñ" OWNER TO owner_role;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "Tenant Data" TO "App Role";
GRANT USAGE ON ALL SEQUENCES IN SCHEMA "Tenant Data" TO "App Role";
ALTER TABLE "Tenant Data"."Orgs ""Ünïcode""" ENABLE ROW LEVEL SECURITY;
ALTER TABLE "Tenant Data"."Orgs ""Ünïcode""" FORCE ROW LEVEL SECURITY;
CREATE POLICY t ON "Tenant Data"."Orgs ""Ünïcode""" USING (tenant_id = (SELECT nullif(current_setting('app.current_tenant', true), '')::uuid));
ALTER TABLE "Tenant Data"."Weird ""Table"" ñ" ENABLE ROW LEVEL SECURITY;
ALTER TABLE "Tenant Data"."Weird ""Table"" ñ" FORCE ROW LEVEL SECURITY;
CREATE POLICY t ON "Tenant Data"."Weird ""Table"" ñ" USING (tenant_id = (SELECT nullif(current_setting('app.current_tenant', true), '')::uuid));
"#;

/// Exotic types and identifiers, all tables empty: every row synthesised, no error, nothing kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exotic_types_and_identifiers_are_quoted_and_synthesised() {
    let c = cluster_with("Odd DB ñ", EXOTIC);
    let client = tenantguard_catalog::reader::connect(&c.url("Odd DB ñ")).await.unwrap();
    let before = fingerprint::take(&client).await.unwrap();
    let m = run(&c, "Odd DB ñ", config("app_roles = ['App Role']\ntenant_settings = ['app.current_tenant']")).await;
    let text = show(&m);
    println!("{text}");
    assert_eq!(before, fingerprint::take(&client).await.unwrap(), "the probe changed the database (sequences included)");
    let weird = r#""Tenant Data"."Weird ""Table"" ñ""#;
    for op in [Op::Select, Op::Insert, Op::Update, Op::Delete, Op::Move, Op::NoContext, Op::EmptyContext] {
        assert_eq!(m.find(weird, op), Some(Outcome::Isolated), "{op:?}\n{text}");
    }
    assert!(m.notes.iter().all(|n| !n.contains("sequence")), "{:?}", m.notes);
    // Every renderer copes with the names.
    let html = tenantguard_probe::render::html::render(&m);
    assert!(html.contains("&quot;Weird &quot;&quot;Table&quot;&quot; ñ&quot;"), "{html}");
    let json: serde_json::Value = serde_json::from_str(&tenantguard_probe::render::json::render(&m)).unwrap();
    assert_eq!(json["summary"]["leak"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_that_cannot_become_the_app_role_gets_a_clear_message() {
    let c = cluster_with("db", &format!("{EXOTIC}\nCREATE ROLE stranger LOGIN;"));
    let opts = opts(c.role_url("stranger", None, "db"), config("app_roles = ['App Role']"));
    let err = probe(&opts).await.expect_err("must refuse").to_string();
    assert!(err.contains("cannot SET ROLE") && err.contains("GRANT"), "{err}");
    let opts = opts_missing(&c);
    let err = probe(&opts).await.expect_err("must refuse").to_string();
    assert!(err.contains("does not exist"), "{err}");
}

fn opts_missing(c: &tenantguard_testkit::Cluster) -> tenantguard_probe::ProbeOptions {
    opts(c.url("db"), config("app_roles = ['no_such_role']"))
}

/// An app role with no privileges at all: everything is refused, nothing leaks, nothing errors.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_role_without_privileges_is_isolated_everywhere() {
    let c = cluster_with("db", &format!("{EXOTIC}\nINSERT INTO \"Tenant Data\".\"Orgs \"\"Ünïcode\"\"\" VALUES ('11111111-1111-4111-8111-111111111111', 'x');"));
    let m = run(&c, "db", config("app_roles = ['nopriv']\ntenant_settings = ['app.current_tenant']")).await;
    let text = show(&m);
    println!("{text}");
    assert!(!m.has_leak(), "{text}");
    assert_eq!(m.summary().error, 0, "{text}");
    assert!(m.results.iter().any(|r| r.detail.contains("permission denied")), "{text}");
    assert!(m.notes.iter().any(|n| n.contains("no privilege on any tenant table")), "{:?}", m.notes);
}
