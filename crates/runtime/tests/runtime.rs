//! The runtime against a real (throwaway) PostgreSQL with a minimal forced-RLS schema.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::get;
use axum::Router;
use http_body_util::BodyExt;
use serde_json::json;
use tenantguard_runtime::http::{Tenant, TenantLayer, TenantLayerConfig, TenantSources};
use tenantguard_runtime::jobs::Worker;
use tenantguard_runtime::metrics::TierMetrics;
use tenantguard_runtime::{Error, RateLimits, TenantId, TenantPool, TenantPoolOptions};
use tenantguard_auditlog::scaffold::{self, ScaffoldConfig};
use tenantguard_auditlog::verify::{verify, VerifyOptions};
use tenantguard_runtime::AuditEvent;
use tenantguard_testkit::Cluster;
use tower::ServiceExt;

const SCHEMA: &str = r#"
CREATE ROLE app LOGIN PASSWORD 'app';
CREATE ROLE dispatch NOLOGIN BYPASSRLS;
CREATE TABLE notes (tenant_id uuid NOT NULL, id bigserial, body text NOT NULL, PRIMARY KEY (tenant_id, id));
CREATE TABLE jobs (tenant_id uuid NOT NULL, id bigserial, kind text NOT NULL, payload jsonb NOT NULL DEFAULT '{}',
  status text NOT NULL DEFAULT 'queued', attempts int NOT NULL DEFAULT 0, last_error text, done_at timestamptz, PRIMARY KEY (tenant_id, id));
DO $$ DECLARE t text; BEGIN
  FOREACH t IN ARRAY ARRAY['notes', 'jobs'] LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY', t);
    EXECUTE format($p$CREATE POLICY p ON %I USING (tenant_id = (select current_setting('app.current_tenant', true)::uuid))
      WITH CHECK (tenant_id = (select current_setting('app.current_tenant', true)::uuid))$p$, t);
  END LOOP; END $$;
GRANT SELECT, INSERT, UPDATE ON notes, jobs TO app;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO app;
GRANT SELECT (tenant_id, id, status) ON jobs TO dispatch;
CREATE FUNCTION job_candidates(p_limit bigint) RETURNS TABLE (job_id bigint, tenant_id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS
$$ SELECT id, tenant_id FROM public.jobs WHERE status = 'queued' ORDER BY id LIMIT p_limit $$;
ALTER FUNCTION job_candidates(bigint) OWNER TO dispatch;
"#;

const A: &str = "11111111-1111-4111-8111-111111111111";
const B: &str = "22222222-2222-4222-8222-222222222222";

/// The audit log exactly as `tenantguard scaffold audit-log --app-roles app --tables public.notes`
/// writes it.
fn audit_log_migration() -> String {
    let notes = scaffold::CapturedTable::parse("public.notes", "tenant_id").unwrap();
    let config = ScaffoldConfig { app_roles: vec!["app".into()], tables: vec![notes], ..Default::default() };
    config.check().unwrap();
    scaffold::render(&config)
}

async fn setup(options: TenantPoolOptions) -> (Cluster, TenantPool) {
    let cluster = Cluster::start().expect("cluster");
    cluster.create_database("rt").unwrap();
    cluster.psql("rt", SCHEMA).unwrap();
    cluster.psql("rt", &audit_log_migration()).unwrap();
    let pool = TenantPool::connect(&cluster.role_url("app", Some("app"), "rt"), options).await.unwrap();
    (cluster, pool)
}

fn t(s: &str) -> TenantId {
    TenantId::parse(s).unwrap()
}

#[tokio::test]
async fn tenant_transaction_reads_back_its_tenant_and_sees_only_its_rows() {
    let (cluster, pool) = setup(TenantPoolOptions { max_connections: 1, ..Default::default() }).await;
    for (tenant, body) in [(A, "a note"), (B, "b note")] {
        let mut tx = pool.begin(&t(tenant)).await.unwrap();
        let seen: String = sqlx::query_scalar("SELECT current_setting('app.current_tenant')").fetch_one(tx.conn()).await.unwrap();
        assert_eq!(seen, tenant);
        sqlx::query("INSERT INTO notes (tenant_id, body) VALUES ($1, $2)").bind(t(tenant).as_uuid()).bind(body).execute(tx.conn()).await.unwrap();
        tx.commit().await.unwrap();
    }
    // Same single pooled connection: the previous tenant's setting did not survive commit.
    let mut tx = pool.begin(&t(A)).await.unwrap();
    let rows: Vec<String> = sqlx::query_scalar("SELECT body FROM notes").fetch_all(tx.conn()).await.unwrap();
    assert_eq!(rows, ["a note"]);
    // Writing another tenant's row is refused by the policy.
    let err = sqlx::query("INSERT INTO notes (tenant_id, body) VALUES ($1, 'x')").bind(t(B).as_uuid()).execute(tx.conn()).await;
    assert!(err.is_err());
    drop(tx);
    assert_eq!(cluster.query("rt", "SELECT count(*) FROM notes").unwrap().trim(), "2");
}

#[tokio::test]
async fn audit_event_commits_with_the_change_and_only_then() {
    let (cluster, pool) = setup(Default::default()).await;
    let mut tx = pool.begin(&t(A)).await.unwrap();
    sqlx::query("INSERT INTO notes (tenant_id, body) VALUES ($1, 'kept')").bind(t(A).as_uuid()).execute(tx.conn()).await.unwrap();
    tx.audit("alice", "note.created", "note", None, Some(json!({ "body": "kept" }))).await.unwrap();
    let event = AuditEvent { actor: "alice", action: "login", entity: "session", entity_id: Some("sess-9"), old: None, new: Some(json!({ "ip": "10.0.0.1" })) };
    tx.audit_event(event).await.unwrap();
    tx.commit().await.unwrap();
    let mut tx = pool.begin(&t(A)).await.unwrap();
    sqlx::query("INSERT INTO notes (tenant_id, body) VALUES ($1, 'dropped')").bind(t(A).as_uuid()).execute(tx.conn()).await.unwrap();
    tx.audit("alice", "note.created", "note", None, Some(json!({ "body": "dropped" }))).await.unwrap();
    tx.rollback().await.unwrap();
    let rows = cluster.query("rt", "SELECT tenant_id, actor, action, entity, coalesce(entity_id, '-'), new_value::text FROM audit.log WHERE entity <> 'public.notes' ORDER BY id").unwrap();
    assert_eq!(rows.trim(), format!("{A}|alice|note.created|note|-|{{\"body\": \"kept\"}}\n{A}|alice|login|session|sess-9|{{\"ip\": \"10.0.0.1\"}}"));
    assert_eq!(cluster.query("rt", "SELECT count(*) FROM notes").unwrap().trim(), "1");

    // The app role cannot write the log any other way, and reads only its tenant's events.
    let mut tx = pool.begin(&t(A)).await.unwrap();
    let direct = sqlx::query("INSERT INTO audit.log (tenant_id, action, entity) VALUES ($1, 'x', 'y')").bind(A).execute(tx.conn()).await;
    assert!(direct.is_err(), "direct INSERT into the log must be refused");
    drop(tx);
    let mut tx = pool.begin(&t(B)).await.unwrap();
    let seen: i64 = sqlx::query_scalar("SELECT count(*) FROM audit.log").fetch_one(tx.conn()).await.unwrap();
    assert_eq!(seen, 0);
    drop(tx);

    // Sealed by the owner (here the superuser), the chain verifies.
    let mut client = tenantguard_auditlog::db::connect(Some(&cluster.url("rt"))).await.unwrap();
    // Two app events and the capture trigger's row for the kept note; none for the dropped one.
    assert_eq!(tenantguard_auditlog::ops::seal_all(&client, "audit").await.unwrap(), 3);
    let report = verify(&mut client, &VerifyOptions::default()).await.unwrap();
    assert!(report.ok(), "{:?}", report.findings);
    assert_eq!((report.tenants, report.events, report.unsealed), (1, 3, 0));
}

#[tokio::test]
async fn begin_as_sets_the_actor_for_captured_rows_in_the_same_statement() {
    let (cluster, pool) = setup(TenantPoolOptions { max_connections: 1, ..Default::default() }).await;
    let mut tx = pool.begin_as(&t(A), "carol").await.unwrap();
    let (tenant, actor): (String, String) = sqlx::query_as("SELECT current_setting('app.current_tenant'), current_setting('app.current_actor')")
        .fetch_one(tx.conn()).await.unwrap();
    assert_eq!((tenant.as_str(), actor.as_str()), (A, "carol"));
    sqlx::query("INSERT INTO notes (tenant_id, body) VALUES ($1, 'n')").bind(t(A).as_uuid()).execute(tx.conn()).await.unwrap();
    // record() with no actor of its own falls back to the transaction's.
    sqlx::query("SELECT audit.record(NULL, 'export', 'report')").execute(tx.conn()).await.unwrap();
    tx.commit().await.unwrap();
    // Transaction-local: the same pooled connection has no actor in its next transaction.
    let mut tx = pool.begin(&t(A)).await.unwrap();
    let actor: Option<String> = sqlx::query_scalar("SELECT nullif(current_setting('app.current_actor', true), '')").fetch_one(tx.conn()).await.unwrap();
    assert_eq!(actor, None);
    drop(tx);
    let rows = cluster.query("rt", "SELECT actor, action, entity FROM audit.log ORDER BY id").unwrap();
    assert_eq!(rows.trim(), "carol|INSERT|public.notes\ncarol|export|report");
}

#[tokio::test]
async fn cross_tenant_admin_is_explicit_and_audited() {
    let (cluster, pool) = setup(Default::default()).await;
    let admin = pool.cross_tenant_admin("ops@example.com", "support ticket 42");
    for tenant in [A, B] {
        admin.begin(&t(tenant)).await.unwrap().commit().await.unwrap();
    }
    let rows = cluster.query("rt", "SELECT tenant_id, actor, action, entity_id, new_value->>'reason' FROM audit.log ORDER BY tenant_id").unwrap();
    assert_eq!(rows.trim(), format!("{A}|ops@example.com|cross_tenant_admin|{A}|support ticket 42\n{B}|ops@example.com|cross_tenant_admin|{B}|support ticket 42"));
}

#[tokio::test]
async fn audit_schema_is_configurable_and_checked() {
    // A log scaffolded under another schema, named in the options.
    let (cluster, _) = setup(Default::default()).await;
    let config = ScaffoldConfig { schema: "events".into(), owner: "events_owner".into(), app_roles: vec!["app".into()], ..Default::default() };
    cluster.psql("rt", &scaffold::render(&config)).unwrap();
    let options = TenantPoolOptions { audit_schema: "events".into(), ..Default::default() };
    let pool = TenantPool::connect(&cluster.role_url("app", Some("app"), "rt"), options).await.unwrap();
    let mut tx = pool.begin(&t(B)).await.unwrap();
    tx.audit("bob", "export", "report", None, None).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(cluster.query("rt", "SELECT tenant_id, action FROM events.log").unwrap().trim(), format!("{B}|export"));
    assert_eq!(cluster.query("rt", "SELECT count(*) FROM audit.log").unwrap().trim(), "0");
    for bad in ["audit.log", "Audit", "audit; DROP TABLE notes", ""] {
        let options = TenantPoolOptions { audit_schema: bad.into(), ..Default::default() };
        let result = TenantPool::connect(&cluster.role_url("app", Some("app"), "rt"), options).await;
        assert!(matches!(result, Err(Error::Config(_))), "{bad:?} accepted");
    }
}

#[tokio::test]
async fn one_tenant_cannot_take_the_whole_pool() {
    let options = TenantPoolOptions { max_connections: 6, max_tenant_transactions: 2, tenant_wait: Duration::from_millis(50), ..Default::default() };
    let (_cluster, pool) = setup(options).await;
    let held = [pool.begin(&t(A)).await.unwrap(), pool.begin(&t(A)).await.unwrap()];
    let third = pool.begin(&t(A)).await;
    assert!(matches!(third, Err(Error::TooManyTransactions { .. })), "third transaction for A should wait then 429");
    let response = axum::response::IntoResponse::into_response(third.err().unwrap());
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(response.headers().contains_key("retry-after"));
    // Tenant B still gets a transaction.
    pool.begin(&t(B)).await.unwrap().commit().await.unwrap();
    drop(held);
    assert_eq!(pool.tracked_tenants(), 0, "idle tenants are forgotten");
    pool.begin(&t(A)).await.unwrap().commit().await.unwrap();
}

#[test]
fn rate_limiter_memory_stays_bounded_under_many_tenants() {
    let limits = RateLimits::new(&[("free", 1_000_000, 5)]).unwrap().with_max_tracked(1_000);
    let tier = limits.tier(None);
    for n in 0..20_000u32 {
        let tenant = t(&format!("00000000-0000-4000-8000-{n:012}"));
        limits.check(&tenant, &tier).unwrap();
        if n % 1000 == 999 {
            std::thread::sleep(Duration::from_millis(2)); // their quota refills, entries become purgeable
        }
    }
    assert!(limits.tracked() <= 2_001, "tracked {}", limits.tracked());
    // Unknown plans fall back to the default tier: metrics labels stay low-cardinality.
    assert_eq!(&*limits.tier(Some("made-up-plan")), "free");
}

#[tokio::test]
async fn jobs_run_in_their_tenant_and_a_job_without_tenant_is_rejected() {
    let (cluster, pool) = setup(Default::default()).await;
    for tenant in [A, B] {
        let mut tx = pool.begin(&t(tenant)).await.unwrap();
        tx.enqueue("note", json!({ "body": format!("from job {tenant}") })).await.unwrap();
        tx.commit().await.unwrap();
    }
    // Enqueued in a rolled-back transaction: the job never exists.
    let mut tx = pool.begin(&t(A)).await.unwrap();
    tx.enqueue("note", json!({ "body": "never" })).await.unwrap();
    tx.rollback().await.unwrap();
    // A row with the nil tenant ("no tenant") smuggled in by a superuser.
    cluster.query("rt", "INSERT INTO jobs (tenant_id, kind) VALUES ('00000000-0000-0000-0000-000000000000', 'note')").unwrap();

    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    let worker = Worker::new(pool.clone()).handle("note", move |tx, job| {
        seen.fetch_add(1, Ordering::SeqCst);
        Box::pin(async move {
            let body = job.payload["body"].as_str().unwrap_or_default().to_string();
            sqlx::query("INSERT INTO notes (tenant_id, body) VALUES ($1, $2)").bind(tx.tenant().as_uuid()).bind(body)
                .execute(tx.conn()).await.map_err(|e| e.to_string())?;
            Ok(())
        })
    });
    let pass = worker.run_once().await.unwrap();
    assert_eq!((pass.done, pass.rejected), (2, 1), "{pass:?}");
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    let rows = cluster.query("rt", "SELECT tenant_id, body FROM notes ORDER BY tenant_id").unwrap();
    assert_eq!(rows.trim(), format!("{A}|from job {A}\n{B}|from job {B}"));
}

async fn call(app: &Router, headers: &[(&str, &str)]) -> (StatusCode, serde_json::Value) {
    let mut req = Request::get("/who");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = app.clone().oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
    let status = res.status();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&body).unwrap_or(json!(String::from_utf8_lossy(&body))))
}

#[tokio::test]
async fn layer_resolves_header_or_subdomain_and_extractor_refuses_without_layer() {
    let who = get(|Tenant(ctx): Tenant| async move { ctx.tenant.to_string() });
    let layered = |sources| {
        let config = TenantLayerConfig { sources, limits: None, metrics: Arc::new(TierMetrics::default()) };
        Router::new().route("/who", who.clone()).layer(TenantLayer::new(config))
    };
    let by_header = layered(TenantSources { header: Some("x-tenant-id".into()), ..Default::default() });
    assert_eq!(call(&by_header, &[("x-tenant-id", A)]).await, (StatusCode::OK, json!(A)));
    let (status, body) = call(&by_header, &[]).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("missing_tenant")));

    let by_host = layered(TenantSources { subdomain_of: Some("app.example".into()), ..Default::default() });
    assert_eq!(call(&by_host, &[("host", &format!("{B}.app.example:8080"))]).await, (StatusCode::OK, json!(B)));
    assert_eq!(call(&by_host, &[("host", "acme.app.example")]).await.0, StatusCode::BAD_REQUEST);

    let both = layered(TenantSources { header: Some("x-tenant-id".into()), subdomain_of: Some("app.example".into()), ..Default::default() });
    let (status, body) = call(&both, &[("x-tenant-id", A), ("host", &format!("{B}.app.example"))]).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("tenant_mismatch")));

    // A handler mounted without the layer can never run: the extractor answers 401.
    let bare = Router::new().route("/who", who);
    let (status, body) = call(&bare, &[("x-tenant-id", A)]).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("missing_tenant")));
}

#[tokio::test]
async fn configuration_names_are_checked() {
    let cluster = Cluster::start().unwrap();
    let options = TenantPoolOptions { audit_schema: "audit; DROP TABLE x".into(), ..Default::default() };
    let result = TenantPool::connect(&cluster.url("postgres"), options).await;
    assert!(matches!(result, Err(Error::Config(_))));
}
