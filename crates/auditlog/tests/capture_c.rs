//! The C capture trigger writes exactly the rows the PL/pgSQL capture writes: the same
//! business writes on twin tables, in the same transactions, give identical log rows (but
//! for the entity name), and the chain over both verifies.
mod common;

use tenantguard_auditlog::ops::seal_all;
use tenantguard_auditlog::scaffold::{render, Capture, CapturedTable, ScaffoldConfig};
use tenantguard_auditlog::verify::{verify, VerifyOptions};

const TABLES: &str = "
CREATE ROLE app_user LOGIN PASSWORD 'pw';
CREATE TABLE public.docs_p (id bigserial PRIMARY KEY, tenant_id text NOT NULL, amount numeric, due timestamptz,
                            meta jsonb, tags text[], note text);
CREATE TABLE public.docs_c (id bigserial PRIMARY KEY, tenant_id text NOT NULL, amount numeric, due timestamptz,
                            meta jsonb, tags text[], note text);
CREATE TABLE public.lines_p (order_id bigint, line_no int, code text, tenant_id uuid NOT NULL, qty int,
                             PRIMARY KEY (order_id, line_no, code));
CREATE TABLE public.lines_c (LIKE public.lines_p INCLUDING ALL);
GRANT SELECT, INSERT, UPDATE, DELETE ON public.docs_p, public.docs_c, public.lines_p, public.lines_c TO app_user;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO app_user;";

fn config(capture: Capture, suffix: &str) -> ScaffoldConfig {
    ScaffoldConfig {
        app_roles: vec!["app_user".into()],
        tables: vec![
            CapturedTable::parse(&format!("public.docs_{suffix}"), "tenant_id").unwrap(),
            CapturedTable::parse(&format!("public.lines_{suffix}(order_id,line_no,code)"), "tenant_id").unwrap(),
        ],
        capture,
        ..ScaffoldConfig::default()
    }
}

/// The same statement on both twins, in one transaction: same txid, same `at`.
fn twice(sql: &str) -> String {
    format!("{}; {}", sql.replace("@t", "_p"), sql.replace("@t", "_c"))
}

#[tokio::test]
async fn c_capture_writes_the_same_rows_as_plpgsql_capture() {
    let cluster = common::start_cluster(Capture::C);
    cluster.create_database("app").unwrap();
    cluster.psql("app", TABLES).unwrap();
    cluster.psql("app", &render(&config(Capture::Plpgsql, "p"))).expect("the PL/pgSQL migration applies");
    cluster.psql("app", &render(&config(Capture::C, "c"))).expect("the C migration applies");
    let app = common::connect(&cluster.role_url("app_user", Some("pw"), "app")).await;

    let tenant_b = "8a0e1c52-3f7e-4d0a-9a34-6f1f4c0b2d11";
    let script = [
        // No actor ever defined in this session: NULL actor.
        format!("BEGIN; {}; COMMIT", twice("INSERT INTO public.docs@t (tenant_id, amount, due, meta, tags, note) VALUES ('a', 12.50, '2026-11-26 10:00:00+00', '{\"k\": [1, \"x\\\"y\"]}', '{x,y}', NULL)")),
        format!(
            "BEGIN; SET LOCAL app.current_actor = 'alice'; {}; {}; COMMIT",
            twice("UPDATE public.docs@t SET amount = amount * 2, note = 'it''s é' WHERE tenant_id = 'a'"),
            twice(&format!("INSERT INTO public.lines@t VALUES (7, 1, 'a\"b''c', '{tenant_b}', 3), (7, 2, 'plain', '{tenant_b}', NULL)"))
        ),
        // The actor was defined by SET LOCAL earlier in this session: now '' (not NULL), as current_setting says.
        format!("BEGIN; {}; COMMIT", twice("DELETE FROM public.lines@t WHERE line_no = 2")),
        // Rolled back, in a savepoint and as a whole: no rows.
        format!("BEGIN; SAVEPOINT s; {}; ROLLBACK TO SAVEPOINT s; {}; COMMIT", twice("DELETE FROM public.docs@t"), twice("UPDATE public.lines@t SET qty = 4")),
        format!("BEGIN; {}; ROLLBACK", twice("INSERT INTO public.docs@t (tenant_id) VALUES ('rolled-back')")),
    ];
    for sql in &script {
        app.batch_execute(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    let rows = |entity: &str| {
        cluster
            .query(
                "app",
                &format!(
                    "SELECT tenant_id, coalesce(actor, '<null>'), action, entity_id, old_value::text, new_value::text, at, txid
                       FROM audit.log WHERE entity LIKE 'public.%{entity}' ORDER BY id"
                ),
            )
            .unwrap()
    };
    for (p, c) in [("docs_p", "docs_c"), ("lines_p", "lines_c")] {
        let (plpgsql, in_c) = (rows(p), rows(c));
        assert_eq!(plpgsql, in_c, "{p} vs {c}");
        assert!(plpgsql.lines().count() >= 2, "{p}: {plpgsql}");
    }
    let lines = rows("lines_c");
    assert!(lines.contains(r#"[7, 1, "a\"b'c"]"#), "composite keys as jsonb_build_array(...)::text: {lines}");
    assert!(!rows("docs_c").contains("rolled-back"));

    let su = common::connect(&cluster.url("app")).await;
    seal_all(&su, "audit").await.unwrap();
    let mut c = common::connect(&cluster.url("app")).await;
    let r = verify(&mut c, &VerifyOptions::default()).await.unwrap();
    assert!(r.ok() && r.unsealed == 0, "{:?}", r.findings);
}

/// Misuse gets an error that names the problem, never a crash or a silent row.
#[tokio::test]
async fn c_capture_refuses_misuse_with_a_clear_error() {
    let env = common::setup_with(Capture::C);
    let su = common::connect(&env.url).await;
    let cases = [
        // Not as a trigger.
        ("SELECT audit.capture__public__invoices()", "trigger"),
        // A BEFORE trigger, and too few arguments.
        (
            "CREATE TABLE t1 (id int, tenant_id text); CREATE TRIGGER x BEFORE INSERT ON t1 FOR EACH ROW EXECUTE FUNCTION audit.capture__public__invoices('audit', 'public.t1', 'tenant_id', 'id'); INSERT INTO t1 VALUES (1, 'a')",
            "AFTER",
        ),
        (
            "CREATE TABLE t2 (id int, tenant_id text); CREATE TRIGGER x AFTER INSERT ON t2 FOR EACH ROW EXECUTE FUNCTION audit.capture__public__invoices('audit'); INSERT INTO t2 VALUES (1, 'a')",
            "arguments",
        ),
        // A column that is not there, a NULL tenant, a log schema that is not there.
        (
            "CREATE TABLE t3 (id int, tenant_id text); CREATE TRIGGER x AFTER INSERT ON t3 FOR EACH ROW EXECUTE FUNCTION audit.capture__public__invoices('audit', 'public.t3', 'tenant', 'id'); INSERT INTO t3 VALUES (1, 'a')",
            "tenant column \"tenant\" does not exist",
        ),
        (
            "CREATE TABLE t4 (id int, tenant_id text); CREATE TRIGGER x AFTER INSERT ON t4 FOR EACH ROW EXECUTE FUNCTION audit.capture__public__invoices('audit', 'public.t4', 'tenant_id', 'id'); INSERT INTO t4 VALUES (1, NULL)",
            "is NULL",
        ),
        (
            "CREATE TABLE t5 (id int, tenant_id text); CREATE TRIGGER x AFTER INSERT ON t5 FOR EACH ROW EXECUTE FUNCTION audit.capture__public__invoices('nolog', 'public.t5', 'tenant_id', 'id'); INSERT INTO t5 VALUES (1, 'a')",
            "nolog",
        ),
    ];
    for (sql, expected) in cases {
        su.batch_execute("BEGIN").await.unwrap();
        let err = su.batch_execute(sql).await.expect_err(sql);
        let msg = err.as_db_error().map(|d| d.message().to_string()).unwrap_or_else(|| err.to_string());
        assert!(msg.contains(expected), "{sql}: {msg}");
        su.batch_execute("ROLLBACK").await.unwrap();
    }
    let rows = env.cluster.query("app", "SELECT count(*) FROM audit.log").unwrap();
    assert_eq!(rows.trim(), "0");
    // App roles cannot call it or attach it to a table of their own.
    let app = common::connect(&env.app_url).await;
    let err = app
        .batch_execute("CREATE TEMP TABLE mine (id int, tenant_id text); CREATE TRIGGER x AFTER INSERT ON mine FOR EACH ROW EXECUTE FUNCTION audit.capture__public__invoices('audit', 'public.mine', 'tenant_id', 'id')")
        .await
        .expect_err("EXECUTE is revoked from PUBLIC");
    let msg = err.as_db_error().map(|d| d.message().to_string()).unwrap_or_else(|| err.to_string());
    assert!(msg.contains("permission denied"), "{msg}");
}
