#![allow(dead_code)]
//! A fresh cluster with the invoicing migrations applied, the app wired in process, and
//! helpers to mint JWTs and send requests.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use invoicing::{router, AppConfig, AppState};
use jsonwebtoken::{encode, EncodingKey, Header};
use serde_json::{json, Value};
use tenantguard_runtime::metrics::TierMetrics;
use tenantguard_runtime::{TenantPool, TenantPoolOptions};
use tenantguard_testkit::{Cluster, ClusterOptions};
use tower::ServiceExt;

pub const SECRET: &[u8] = b"test-secret-for-invoicing";
pub const DB: &str = "invoicing";

pub struct Env {
    pub cluster: Cluster,
    pub pool: TenantPool,
    pub app: Router,
    pub metrics: Arc<TierMetrics>,
}

pub fn cluster(options: ClusterOptions) -> Cluster {
    let cluster = Cluster::start_with(&options).expect("cluster");
    cluster.create_database(DB).expect("database");
    cluster
}

pub async fn migrate(cluster: &Cluster) {
    invoicing::migrate::apply(&cluster.url(DB)).await.expect("migrations");
}

pub fn app_url(cluster: &Cluster) -> String {
    cluster.role_url("invoicing_app", Some("invoicing-dev-password"), DB)
}

pub async fn env_with(options: ClusterOptions, config: AppConfig, pool_options: TenantPoolOptions) -> Env {
    let cluster = cluster(options);
    migrate(&cluster).await;
    let pool = TenantPool::connect(&app_url(&cluster), pool_options).await.expect("pool");
    let metrics = Arc::new(TierMetrics::default());
    let app = router(AppState { pool: pool.clone(), metrics: metrics.clone() }, &config).expect("router");
    Env { cluster, pool, app, metrics }
}

pub async fn env() -> Env {
    env_with(ClusterOptions::default(), AppConfig::new(SECRET), TenantPoolOptions::default()).await
}

pub fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

pub fn token_for(tenant: &str, plan: &str) -> String {
    token_with(json!({ "sub": "user-1", "tenant": tenant, "plan": plan, "exp": now() + 600 }), SECRET)
}

pub fn token_with(claims: Value, secret: &[u8]) -> String {
    encode(&Header::default(), &claims, &EncodingKey::from_secret(secret)).unwrap()
}

pub async fn send(app: &Router, method: &str, path: &str, headers: &[(&str, &str)], body: Option<Value>) -> (StatusCode, Value) {
    let mut request = Request::builder().method(method).uri(path);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let body = match body {
        Some(v) => {
            request = request.header("content-type", "application/json");
            Body::from(v.to_string())
        }
        None => Body::empty(),
    };
    let response = app.clone().oneshot(request.body(body).unwrap()).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, value)
}

pub async fn as_tenant(app: &Router, tenant: &str, method: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
    let auth = format!("Bearer {}", token_for(tenant, "pro"));
    send(app, method, path, &[("authorization", &auth)], body).await
}

/// Creates the tenant row, a customer and returns the customer id.
pub async fn onboard(app: &Router, tenant: &str) -> String {
    let (status, _) = as_tenant(app, tenant, "PUT", "/tenant", Some(json!({ "name": format!("t-{tenant}") }))).await;
    assert!(status.is_success(), "tenant upsert: {status}");
    let (status, customer) = as_tenant(app, tenant, "POST", "/customers", Some(json!({ "name": format!("c-{tenant}") }))).await;
    assert_eq!(status, StatusCode::CREATED, "{customer}");
    customer["id"].as_str().unwrap().to_string()
}

pub fn invoice_body(customer: &str, number: &str) -> Value {
    json!({ "customer_id": customer, "number": number,
            "lines": [{ "description": "work", "quantity": 2, "unit_cents": 1500 }] })
}

/// Seals every unsealed audit event as the superuser (the sealer runs as the owner, never
/// as the app role), then verifies every tenant's chain.
pub async fn seal_and_verify(cluster: &Cluster) -> tenantguard_auditlog::verify::Report {
    let mut client = tenantguard_auditlog::db::connect(Some(&cluster.url(DB))).await.expect("sealer connection");
    tenantguard_auditlog::ops::seal_all(&client, "audit").await.expect("seal");
    let options = tenantguard_auditlog::verify::VerifyOptions::default();
    tenantguard_auditlog::verify::verify(&mut client, &options).await.expect("verify")
}

/// `tenantguard audit-log seal --every-ms <period>` in process, as the superuser, until
/// `stop` is set; returns how many rows it sealed.
pub fn spawn_sealer(cluster: &Cluster, period: Duration, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<i64> {
    let url = cluster.url(DB);
    tokio::spawn(async move {
        let client = tenantguard_auditlog::db::connect(Some(&url)).await.expect("sealer connection");
        let mut sealed = 0;
        while !stop.load(Ordering::Relaxed) {
            sealed += tenantguard_auditlog::ops::seal_once(&client, "audit", 10_000).await.expect("seal");
            tokio::time::sleep(period).await;
        }
        sealed
    })
}

pub fn tenant(n: u32) -> String {
    format!("00000000-0000-4000-8000-{n:012}")
}
