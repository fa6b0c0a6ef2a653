//! Requests per second of `GET /invoices` with the full isolation stack (JWT verification,
//! tenant layer, rate limiter, per-tenant transaction cap, tenant transaction, forced RLS)
//! against the same query served without any of it (tenant id taken raw from a header,
//! superuser pool, explicit WHERE). Both servers listen on 127.0.0.1; runs are interleaved.
//!
//!     cargo bench -p invoicing --bench http

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::get;
use axum::{Json, Router};
use invoicing::{router, AppConfig, AppState};
use jsonwebtoken::{encode, EncodingKey, Header};
use serde_json::json;
use sqlx::PgPool;
use tenantguard_runtime::metrics::TierMetrics;
use tenantguard_runtime::{TenantPool, TenantPoolOptions};
use tenantguard_testkit::Cluster;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tower::ServiceExt;
use uuid::Uuid;

const SECRET: &[u8] = b"bench-secret";
const TENANTS: usize = 50;
const CLIENTS: usize = 8;

fn tenant(n: usize) -> String {
    format!("00000000-0000-4000-8000-{:012}", n + 1)
}

fn token(tenant: &str) -> String {
    let exp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 3600;
    encode(&Header::default(), &json!({ "sub": "bench", "tenant": tenant, "plan": "pro", "exp": exp }), &EncodingKey::from_secret(SECRET)).unwrap()
}

/// The same listing without isolation: what a service without tenantguard would do.
async fn bare_list(State(pool): State<PgPool>, headers: HeaderMap) -> Json<Vec<invoicing::app::Invoice>> {
    let tenant: Uuid = headers.get("x-tenant-id").and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok()).unwrap_or_default();
    let rows = sqlx::query_as("SELECT tenant_id, id, customer_id, number, status, total_cents FROM invoices WHERE tenant_id = $1 ORDER BY created_at DESC, id LIMIT 50")
        .bind(tenant).fetch_all(&pool).await.unwrap();
    Json(rows)
}

async fn serve(app: Router) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    port
}

/// A minimal keep-alive HTTP/1.1 client: one request at a time on one connection.
async fn client(port: u16, requests: Vec<String>) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let mut buf = Vec::with_capacity(64 * 1024);
    for request in requests {
        stream.write_all(request.as_bytes()).await.unwrap();
        buf.clear();
        loop {
            let mut chunk = [0u8; 16 * 1024];
            let n = stream.read(&mut chunk).await.unwrap();
            assert!(n > 0, "server closed the connection");
            buf.extend_from_slice(&chunk[..n]);
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = std::str::from_utf8(&buf[..end]).unwrap().to_ascii_lowercase();
                assert!(head.starts_with("http/1.1 200"), "{head}");
                let len: usize = head.lines().find_map(|l| l.strip_prefix("content-length:")).unwrap().trim().parse().unwrap();
                if buf.len() >= end + 4 + len {
                    break;
                }
            }
        }
    }
}

async fn run(port: u16, make: &(dyn Fn(usize) -> String + Sync), per_client: usize, round: usize) -> Duration {
    let start = Instant::now();
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let requests = (0..per_client).map(|i| make(round * 7 + c * per_client + i)).collect();
            tokio::spawn(client(port, requests))
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    start.elapsed()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // `cargo test --all-targets` runs this binary without `--bench`: a quick smoke run then.
    let quick = !std::env::args().any(|a| a == "--bench");
    let cluster = Cluster::start().unwrap();
    cluster.create_database("invoicing").unwrap();
    invoicing::migrate::apply(&cluster.url("invoicing")).await.unwrap();
    let app_url = cluster.role_url("invoicing_app", Some("invoicing-dev-password"), "invoicing");
    let pool = TenantPool::connect(&app_url, TenantPoolOptions { max_connections: 8, max_tenant_transactions: 8, ..Default::default() }).await.unwrap();
    let mut config = AppConfig::new(SECRET);
    config.tiers = vec![("pro".into(), 1_000_000, 1_000_000)];
    let full = router(AppState { pool, metrics: Arc::new(TierMetrics::default()) }, &config).unwrap();

    // Seed 50 tenants x 20 invoices through the service itself.
    let tokens: Vec<String> = (0..TENANTS).map(|n| token(&tenant(n))).collect();
    for (n, tok) in tokens.iter().enumerate() {
        let call = |method: &str, path: &str, body: serde_json::Value| {
            axum::http::Request::builder().method(method).uri(path).header("authorization", format!("Bearer {tok}"))
                .header("content-type", "application/json").body(axum::body::Body::from(body.to_string())).unwrap()
        };
        full.clone().oneshot(call("PUT", "/tenant", json!({ "name": tenant(n) }))).await.unwrap();
        let res = full.clone().oneshot(call("POST", "/customers", json!({ "name": "c" }))).await.unwrap();
        let bytes = http_body_util::BodyExt::collect(res.into_body()).await.unwrap().to_bytes();
        let customer: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        for i in 0..if quick { 2 } else { 20 } {
            let body = json!({ "customer_id": customer["id"], "number": format!("{i}"), "lines": [{ "description": "x", "quantity": 1, "unit_cents": 100 }] });
            full.clone().oneshot(call("POST", "/invoices", body)).await.unwrap();
        }
    }

    let bare_pool = sqlx::postgres::PgPoolOptions::new().max_connections(8).connect(&cluster.url("invoicing")).await.unwrap();
    let bare = Router::new().route("/invoices", get(bare_list)).with_state(bare_pool);
    let (full_port, bare_port) = (serve(full).await, serve(bare).await);
    let full_req = |i: usize| format!("GET /invoices HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer {}\r\n\r\n", tokens[i % TENANTS]);
    let bare_req = |i: usize| format!("GET /invoices HTTP/1.1\r\nhost: 127.0.0.1\r\nx-tenant-id: {}\r\n\r\n", tenant(i % TENANTS));

    let (per_client, round_count) = if quick { (5, 2) } else { (250, 15) };
    run(full_port, &full_req, per_client, 0).await;
    run(bare_port, &bare_req, per_client, 0).await;
    let mut rounds = Vec::new();
    for round in 0..round_count {
        let (tb, tf) = if round % 2 == 0 {
            let tb = run(bare_port, &bare_req, per_client, round).await;
            (tb, run(full_port, &full_req, per_client, round).await)
        } else {
            let tf = run(full_port, &full_req, per_client, round).await;
            (run(bare_port, &bare_req, per_client, round).await, tf)
        };
        rounds.push((tb, tf));
    }
    let n = (CLIENTS * per_client) as f64;
    let median = |mut v: Vec<f64>| {
        v.sort_by(|a, b| a.total_cmp(b));
        v[v.len() / 2]
    };
    let bare_rps = median(rounds.iter().map(|r| n / r.0.as_secs_f64()).collect());
    let full_rps = median(rounds.iter().map(|r| n / r.1.as_secs_f64()).collect());
    let ratio = median(rounds.iter().map(|r| r.0.as_secs_f64() / r.1.as_secs_f64()).collect());
    println!("GET /invoices (20 rows of one tenant, 50 tenants), {CLIENTS} keep-alive clients on 127.0.0.1");
    println!("  A: no isolation (header tenant, superuser pool, WHERE)   {bare_rps:>8.0} req/s (median round)");
    println!("  B: full stack (JWT, layer, limits, tenant tx, RLS)        {full_rps:>8.0} req/s");
    println!("  throughput ratio B/A {ratio:.3} (median of {} interleaved rounds)", rounds.len());
}
