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

/// The C capture builds most rows' jsonb itself (numbers, text and booleans straight from the
/// datum, other scalars through to_jsonb per column) and falls back to to_jsonb(row) for a
/// value that is not a scalar: every column type, edge value and key order must come out as
/// the PL/pgSQL capture's to_jsonb(NEW) / to_jsonb(OLD) gives it.
#[tokio::test]
async fn c_capture_encodes_every_column_type_as_to_jsonb_does() {
    let cluster = common::start_cluster(Capture::C);
    cluster.create_database("app").unwrap();
    let columns = "id int PRIMARY KEY, tenant_id text NOT NULL, gone int, s smallint, b bigint, n numeric(12,2), nn numeric,
        t text, v varchar(20), c char(5), flag boolean, ts timestamptz, d date, lt timestamp, u uuid, f float8, r real,
        j jsonb, js json, mood mood, pos positive, iv interval, raw bytea, ip inet, \"Ünï\" text, aa int, a int, ab int,
        total numeric GENERATED ALWAYS AS (n * 2) STORED";
    cluster
        .psql(
            "app",
            &format!(
                "CREATE TYPE mood AS ENUM ('ok', 'meh'); CREATE DOMAIN positive AS int CHECK (VALUE > 0);
                 CREATE TABLE public.kinds_p ({columns}); CREATE TABLE public.kinds_c ({columns});
                 ALTER TABLE public.kinds_p DROP COLUMN gone; ALTER TABLE public.kinds_c DROP COLUMN gone;"
            ),
        )
        .unwrap();
    let cfg = |capture, suffix: &str| ScaffoldConfig {
        tables: vec![CapturedTable::parse(&format!("public.kinds_{suffix}"), "tenant_id").unwrap()],
        capture,
        ..ScaffoldConfig::default()
    };
    cluster.psql("app", &render(&cfg(Capture::Plpgsql, "p"))).expect("the PL/pgSQL migration applies");
    cluster.psql("app", &render(&cfg(Capture::C, "c"))).expect("the C migration applies");
    let su = common::connect(&cluster.url("app")).await;
    let rows = [
        // every column NULL but the keys
        "(1, 'a', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
        "(2, 'a', -32768, 9223372036854775807, 1.5, 'NaN', 'é \"q\" \\ \t\n tab', 'x', 'ab', true, '2026-11-27 10:00:00.123456+03', '2026-02-28', '2026-01-01 00:00', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'NaN', 1.25, '\"just a string\"', '3.50', 'meh', 7, '1 day 02:00', '\\x00ff', '10.0.0.1/8', 'ü', 1, 2, 3)",
        "(3, 'b', 0, -1, -0.01, 'Infinity', '', '', '', false, 'infinity', '-infinity', '1999-12-31 23:59:59', '00000000-0000-0000-0000-000000000000', '-Infinity', -0.0, '{\"obj\": [1, {\"x\": null}]}', '[1, 2]', 'ok', 1, '-3 months', '\\x', '::1', '', 0, 0, 0)",
        "(4, 'b', 1, 1, 1e9, '-Infinity', 'x', 'y', 'z', true, '2000-01-01 00:00+00', '2000-01-01', '2000-01-01', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12', 1e300, 3.4e38, 'null', 'null', 'ok', 2147483647, '0', '\\xdeadbeef', '192.168.0.1', 'x', -1, -2, -3)",
        "(5, 'b', 5, 5, 12345678.9, 123456789012345678901234567890.000000001, 'x', 'y', 'z', NULL, NULL, NULL, NULL, NULL, 0.1, 0.1, '12.500', '\"s\"', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
    ];
    let cols = "id, tenant_id, s, b, n, nn, t, v, c, flag, ts, d, lt, u, f, r, j, js, mood, pos, iv, raw, ip, \"Ünï\", aa, a, ab";
    let mut script = String::from("BEGIN; SET LOCAL app.current_actor = 'tester';");
    for row in rows {
        script.push_str(&twice(&format!("INSERT INTO public.kinds@t ({cols}) VALUES {row}")));
        script.push(';');
    }
    script.push_str(&twice("UPDATE public.kinds@t SET n = n + 1, t = t || '!', j = coalesce(j, '{}') || '{\"k\": 1}'"));
    script.push(';');
    script.push_str(&twice("DELETE FROM public.kinds@t WHERE id IN (2, 3)"));
    script.push_str("; COMMIT");
    su.batch_execute(&script).await.unwrap_or_else(|e| panic!("{e:?}"));
    let log = |entity: &str| {
        cluster
            .query(
                "app",
                &format!(
                    "SELECT action, entity_id, coalesce(old_value::text, '-'), coalesce(new_value::text, '-')
                       FROM audit.log WHERE entity = 'public.{entity}' ORDER BY id"
                ),
            )
            .unwrap()
    };
    let (p, c) = (log("kinds_p"), log("kinds_c"));
    assert_eq!(p.lines().count(), 5 + 5 + 2, "{p}");
    assert_eq!(p, c);
    assert!(c.contains(r#""Ünï": "ü""#) && c.contains(r#""nn": "NaN""#) && c.contains(r#""f": "-Infinity""#), "{c}");
    // jsonb equality too, not only the text: the C capture's numbers are numerics like to_jsonb's.
    let same = cluster
        .query(
            "app",
            "SELECT count(*) FROM audit.log p JOIN audit.log c ON c.entity = 'public.kinds_c' AND p.entity = 'public.kinds_p'
                 AND c.entity_id = p.entity_id AND c.action = p.action
              WHERE c.new_value IS NOT DISTINCT FROM p.new_value AND c.old_value IS NOT DISTINCT FROM p.old_value
                AND jsonb_hash_extended(coalesce(c.new_value, 'null'), 0) = jsonb_hash_extended(coalesce(p.new_value, 'null'), 0)",
        )
        .unwrap();
    assert_eq!(same.trim(), "12");
}

/// The C capture keeps the log partition it writes into open from a transaction's first event
/// to its end. Savepoints rolled back, errors caught in PL/pgSQL, DDL on the log in the middle
/// of the transaction and partitions created on the fly must neither lose nor misplace an
/// event, leave an index behind, nor leak a relation reference (a WARNING in the server log).
#[tokio::test]
async fn c_capture_keeps_the_log_open_across_savepoints_ddl_and_errors() {
    let env = common::setup_with(Capture::C);
    let su = common::connect(&env.url).await;
    let ins = |note: &str| format!("INSERT INTO public.invoices (tenant_id, amount, note) VALUES ('t', 1, '{note}')");
    let steps = [
        // DDL on the log between two events of one transaction (the writer closes first).
        format!("BEGIN; {}; CREATE INDEX log_note ON audit.log ((new_value ->> 'note')); {}; COMMIT", ins("kept-1"), ins("kept-2")),
        // A savepoint rolled back after an error, then more events.
        format!("BEGIN; {}; SAVEPOINT s; {}; SELECT 1/0", ins("kept-3"), ins("gone-1")),
        format!("ROLLBACK TO SAVEPOINT s; {}; RELEASE SAVEPOINT s; COMMIT", ins("kept-4")),
        // The first event inside a savepoint that is rolled back: the writer outlives it.
        format!("BEGIN; SAVEPOINT s; {}; ROLLBACK TO SAVEPOINT s; {}; COMMIT", ins("gone-2"), ins("kept-5")),
        // An error caught inside PL/pgSQL (a subtransaction), DDL through EXECUTE.
        format!(
            "DO $$ BEGIN BEGIN {}; PERFORM 1/0; EXCEPTION WHEN division_by_zero THEN NULL; END; {};
                 EXECUTE 'ALTER TABLE audit.log ADD COLUMN scratch int'; {}; END $$",
            ins("gone-3"),
            ins("kept-6"),
            ins("kept-7")
        ),
        // A whole transaction rolled back.
        format!("BEGIN; {}; ROLLBACK", ins("gone-4")),
        // A new partition for this month's neighbour, created between two events.
        format!("BEGIN; {}; SELECT audit.ensure_partitions(5); {}; COMMIT", ins("kept-8"), ins("kept-9")),
    ];
    for sql in &steps {
        match su.batch_execute(sql).await {
            Ok(()) => {}
            Err(e) if sql.ends_with("SELECT 1/0") => assert!(format!("{e:?}").contains("division"), "{e:?}"),
            Err(e) => panic!("{sql}: {e:?}"),
        }
    }
    let notes = |hint: &str| {
        env.cluster
            .query("app", &format!("{hint} SELECT string_agg(new_value ->> 'note', ',' ORDER BY id) FROM audit.log"))
            .unwrap()
    };
    let expected = "kept-1,kept-2,kept-3,kept-4,kept-5,kept-6,kept-7,kept-8,kept-9";
    assert_eq!(notes("").trim(), expected);
    // Through the index created mid-transaction too: every event after it is in it.
    let through_index = env
        .cluster
        .query(
            "app",
            "SET enable_seqscan = off; SELECT count(*) FROM audit.log WHERE (new_value ->> 'note') LIKE 'kept-%' AND (new_value ->> 'note') > ''",
        )
        .unwrap();
    assert_eq!(through_index.lines().last().unwrap().trim(), "9");
    let log = env.cluster.log();
    assert!(!log.contains("leak") && !log.contains("WARNING"), "{log}");
}
