//! The generated log refuses every change but appending, for app roles and in replica mode.
mod common;

use tenantguard_auditlog::scaffold::{render, Capture, ScaffoldConfig};

#[tokio::test]
async fn app_role_can_only_append_and_read_its_own_tenant() {
    only_append(Capture::Plpgsql).await;
}

#[tokio::test]
async fn app_role_can_only_append_and_read_its_own_tenant_with_c_capture() {
    only_append(Capture::C).await;
}

async fn only_append(capture: Capture) {
    let env = common::setup_with(capture);
    let app = common::connect(&env.app_url).await;
    common::write_invoices(&app, "t1", 10).await;
    common::write_invoices(&app, "t2", 5).await;
    for sql in [
        "UPDATE audit.log SET actor = 'x'",
        "DELETE FROM audit.log",
        "TRUNCATE audit.log",
        "INSERT INTO audit.log (tenant_id, action, entity) VALUES ('t1', 'x', 'y')",
        "UPDATE audit.head SET seq = 0",
        "DELETE FROM audit.link_run",
        "SELECT audit.erase('t1', 'no')",
        "SELECT audit.seal()",
        "ALTER TABLE audit.log DISABLE TRIGGER audit_guard_update",
    ] {
        let err = app.batch_execute(sql).await.expect_err(sql);
        assert!(err.to_string().contains("denied") || err.as_db_error().is_some(), "{sql}: {err}");
    }
    app.batch_execute("SET app.current_tenant = 't2'").await.unwrap();
    let tenants: Vec<String> = app.query("SELECT DISTINCT tenant_id FROM audit.log", &[]).await.unwrap().iter().map(|r| r.get(0)).collect();
    assert_eq!(tenants, vec!["t2".to_string()]);
    let actor: String = app.query_one("SELECT actor FROM audit.log LIMIT 1", &[]).await.unwrap().get(0);
    assert_eq!(actor, "user@t2");
}

#[tokio::test]
async fn record_writes_app_events_in_the_callers_transaction() {
    let env = common::setup();
    let app = common::connect(&env.app_url).await;
    app.batch_execute(
        "BEGIN; SET LOCAL app.current_tenant = 't1';
         SELECT audit.record('alice', 'login', 'session', 's-1', NULL, '{\"ip\": \"10.0.0.1\"}');
         ROLLBACK;
         BEGIN; SET LOCAL app.current_tenant = 't1'; SET LOCAL app.current_actor = 'bob';
         SELECT audit.record(NULL, 'export', 'report', 'r-9');
         COMMIT;",
    )
    .await
    .unwrap();
    let out = env.cluster.query("app", "SELECT tenant_id || ' ' || actor || ' ' || action FROM audit.log").unwrap();
    assert_eq!(out.trim(), "t1 bob export");
    let err = app.batch_execute("SELECT audit.record('x', 'login', 'session')").await.expect_err("no tenant set");
    assert!(err.as_db_error().unwrap().message().contains("app.current_tenant"));
}

#[tokio::test]
async fn guards_hold_for_superusers_in_replica_mode_and_against_disabling() {
    guards_hold(Capture::Plpgsql).await;
}

#[tokio::test]
async fn guards_hold_for_superusers_in_replica_mode_and_against_disabling_with_c_capture() {
    guards_hold(Capture::C).await;
}

async fn guards_hold(capture: Capture) {
    let env = common::setup_with(capture);
    let app = common::connect(&env.app_url).await;
    common::write_invoices(&app, "t1", 3).await;
    let su = common::connect(&env.url).await;
    tenantguard_auditlog::ops::seal_all(&su, "audit").await.unwrap();
    for sql in [
        "SET session_replication_role = replica; DELETE FROM audit.log",
        "SET session_replication_role = replica; UPDATE audit.log SET actor = 'x'",
        "SET session_replication_role = replica; DELETE FROM audit.link_run",
        "SET session_replication_role = replica; UPDATE audit.link_run SET first_seq = first_seq + 1",
        "TRUNCATE audit.link_run",
        "TRUNCATE audit.log",
        "TRUNCATE audit.log_default",
        "ALTER TABLE audit.log DISABLE TRIGGER audit_guard_delete",
        "ALTER TABLE audit.log ENABLE TRIGGER audit_guard_delete",
        "ALTER TABLE public.invoices DISABLE TRIGGER audit_capture",
        "DROP TRIGGER audit_capture ON public.invoices",
    ] {
        let err = su.batch_execute(sql).await.expect_err(sql);
        let msg = err.as_db_error().map(|d| d.message().to_string()).unwrap_or_default();
        assert!(msg.contains("append-only") || msg.contains("ENABLE ALWAYS"), "{sql}: {msg}");
        su.batch_execute("RESET session_replication_role").await.unwrap();
    }
    let rows = env.cluster.query("app", "SELECT count(*) FROM audit.log").unwrap();
    assert_eq!(rows.trim(), "4", "3 inserts and 1 update, all still there");
    assert_eq!(env.cluster.query("app", "SELECT count(*) FROM audit.link").unwrap().trim(), "4", "their links too");
}

#[tokio::test]
async fn migration_is_idempotent_and_objects_belong_to_the_nologin_owner() {
    idempotent(Capture::Plpgsql).await;
}

#[tokio::test]
async fn migration_is_idempotent_and_objects_belong_to_the_nologin_owner_with_c_capture() {
    idempotent(Capture::C).await;
}

async fn idempotent(capture: Capture) {
    let env = common::setup_with(capture);
    // A sealer login granted the sealing step keeps it when the migration runs again.
    env.cluster
        .psql(
            "app",
            "CREATE ROLE sealer LOGIN; GRANT USAGE ON SCHEMA audit TO sealer;
             GRANT EXECUTE ON FUNCTION audit.seal_claim(integer),
                 audit.seal_store(text[], bigint[], bytea[], integer[], bigint[], bytea[], bytea[]) TO sealer;",
        )
        .unwrap();
    env.cluster.psql("app", &render(&ScaffoldConfig { capture, ..common::config() })).expect("second run applies");
    let kept = env
        .cluster
        .query(
            "app",
            "SELECT has_function_privilege('sealer', 'audit.seal_claim(integer)', 'EXECUTE')
                AND has_function_privilege('sealer', 'audit.seal_store(text[], bigint[], bytea[], integer[], bigint[], bytea[], bytea[])', 'EXECUTE')",
        )
        .unwrap();
    assert_eq!(kept.trim(), "t", "the sealer's grants survive the second run");
    let functions = env
        .cluster
        .query(
            "app",
            "SELECT string_agg(DISTINCT pg_get_userbyid(proowner) || ' ' || l.lanname || ' ' || prosecdef, ',')
               FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
              WHERE pronamespace = 'audit'::regnamespace AND proname LIKE 'capture\\_\\_%'",
        )
        .unwrap();
    let lang = if capture == Capture::C { "c" } else { "plpgsql" };
    // The C capture inserts past the log's privilege checks: it needs no definer's rights.
    let definer = capture == Capture::Plpgsql;
    assert_eq!(functions.trim(), format!("audit_owner {lang} {definer}"));
    let owners = env
        .cluster
        .query("app", "SELECT DISTINCT pg_get_userbyid(relowner) FROM pg_class WHERE relnamespace = 'audit'::regnamespace")
        .unwrap();
    assert_eq!(owners.trim(), "audit_owner");
    let can_login = env.cluster.query("app", "SELECT rolcanlogin FROM pg_roles WHERE rolname = 'audit_owner'").unwrap();
    assert_eq!(can_login.trim(), "f");
    let states = env
        .cluster
        .query("app", "SELECT string_agg(DISTINCT tgenabled::text, '') FROM pg_trigger WHERE tgname LIKE 'audit\\_%'")
        .unwrap();
    assert_eq!(states.trim(), "A");
}

/// A log scaffolded before the links moved out of its rows is refused, not half-converted.
#[tokio::test]
async fn the_migration_refuses_a_log_of_the_earlier_layout() {
    let env = common::setup();
    env.cluster.psql("app", "ALTER TABLE audit.log ADD COLUMN seq bigint").unwrap();
    let err = env.cluster.psql("app", &render(&common::config())).expect_err("earlier layout");
    assert!(err.to_string().contains("earlier layout"), "{err}");
    let still = env.cluster.query("app", "SELECT count(*) FROM pg_attribute WHERE attrelid = 'audit.log'::regclass AND attname = 'seq'").unwrap();
    assert_eq!(still.trim(), "1", "nothing was changed");
}

/// A log whose links are one row each (a table named link, before stop 15) is converted
/// by the migration: each link becomes a run of one, link becomes the view, the chains
/// verify, and sealing goes on in runs.
#[tokio::test]
async fn the_migration_turns_links_of_one_row_each_into_runs() {
    let env = common::setup();
    let app = common::connect(&env.app_url).await;
    common::write_invoices(&app, "t1", 5).await;
    let su = common::connect(&env.url).await;
    tenantguard_auditlog::ops::seal_all(&su, "audit").await.unwrap();
    let links: u64 = env.cluster.query("app", "SELECT count(*) FROM audit.link").unwrap().trim().parse().unwrap();
    env.cluster
        .psql(
            "app",
            "ALTER EVENT TRIGGER audit_guard_ddl DISABLE;
             CREATE TABLE audit.link_old AS SELECT tenant_id, seq, id, payload_hash, prev_hash, hash FROM audit.link;
             DROP VIEW audit.link;
             DROP TABLE audit.link_run;
             ALTER TABLE audit.link_old RENAME TO link;
             ALTER TABLE audit.link ADD PRIMARY KEY (tenant_id, seq);
             ALTER TABLE audit.link OWNER TO audit_owner;
             ALTER EVENT TRIGGER audit_guard_ddl ENABLE ALWAYS;",
        )
        .unwrap();
    env.cluster.psql("app", &render(&common::config())).expect("the migration converts");
    let shape = env
        .cluster
        .query("app", "SELECT (SELECT relkind::text FROM pg_class WHERE oid = 'audit.link'::regclass) || ' ' || count(*) || ' ' || max(cardinality(ids)) FROM audit.link_run")
        .unwrap();
    assert_eq!(shape.trim(), format!("v {links} 1"));
    let mut c = common::connect(&env.url).await;
    let r = tenantguard_auditlog::verify::verify(&mut c, &Default::default()).await.unwrap();
    assert!(r.ok() && r.events == links, "{:?}", r.findings);
    common::write_invoices(&app, "t1", 3).await;
    tenantguard_auditlog::ops::seal_all(&su, "audit").await.unwrap();
    let r = tenantguard_auditlog::verify::verify(&mut c, &Default::default()).await.unwrap();
    assert!(r.ok() && r.events > links, "{:?}", r.findings);
    let runs = env.cluster.query("app", "SELECT max(cardinality(ids)) FROM audit.link_run").unwrap();
    assert!(runs.trim().parse::<i32>().unwrap() > 1, "new links go in runs");
}
