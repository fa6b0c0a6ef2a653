//! Side-by-side throughput of the isolation stack against its unprotected equivalent, on a
//! throwaway cluster. A and B runs are interleaved (alternating order each round) so machine
//! noise hits both. Run with:
//!
//!     cargo bench -p tenantguard-runtime --bench isolation
//!
//! Set TG_BENCH_ROWS to change the 1M-row table size (e.g. 100000 for a quick run).

use std::future::Future;
use std::time::{Duration, Instant};

use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;
use tenantguard_runtime::{TenantId, TenantPool, TenantPoolOptions};
use tenantguard_testkit::{Cluster, ClusterOptions};

const SETUP: &str = r#"
CREATE ROLE app LOGIN PASSWORD 'app';
CREATE TABLE kv (k int PRIMARY KEY, v text NOT NULL);
INSERT INTO kv SELECT g, 'value ' || g FROM generate_series(1, 1000) g;
GRANT SELECT ON kv TO app;
"#;

fn tenant(n: u64) -> TenantId {
    TenantId::parse(&format!("00000000-0000-4000-8000-{:012}", n + 1)).unwrap()
}

/// Runs `a` and `b` `iters` times per round, alternating which goes first, and returns the
/// per-round times of each. The median of per-round ratios resists bursts of noise from
/// other processes better than a ratio of totals.
async fn interleave<FA, FB, A, B>(rounds: usize, iters: usize, mut a: FA, mut b: FB) -> Vec<(Duration, Duration)>
where
    FA: FnMut(usize) -> A,
    FB: FnMut(usize) -> B,
    A: Future<Output = ()>,
    B: Future<Output = ()>,
{
    let mut out = Vec::with_capacity(rounds);
    for round in 0..rounds {
        let (mut ta, mut tb) = (Duration::ZERO, Duration::ZERO);
        for first_a in [round % 2 == 0, round % 2 == 1] {
            let start = Instant::now();
            if first_a {
                for i in 0..iters {
                    a(round * iters + i).await;
                }
                ta = start.elapsed();
            } else {
                for i in 0..iters {
                    b(round * iters + i).await;
                }
                tb = start.elapsed();
            }
        }
        out.push((ta, tb));
    }
    out
}

fn report(name: &str, label_a: &str, label_b: &str, iters: usize, rounds: Vec<(Duration, Duration)>) {
    let rate = |d: Duration| iters as f64 / d.as_secs_f64();
    let median = |mut v: Vec<f64>| {
        v.sort_by(|x, y| x.total_cmp(y));
        v[v.len() / 2]
    };
    let ra = median(rounds.iter().map(|r| rate(r.0)).collect());
    let rb = median(rounds.iter().map(|r| rate(r.1)).collect());
    let ratio = median(rounds.iter().map(|r| r.0.as_secs_f64() / r.1.as_secs_f64()).collect());
    println!(
        "{name}\n  {label_a:<46} {ra:>9.0} /s (median round)\n  {label_b:<46} {rb:>9.0} /s\n  throughput ratio B/A {ratio:.3} (median of {} interleaved rounds)\n",
        rounds.len()
    );
}

async fn plain_tx(pool: &PgPool, k: i32) {
    let mut tx = pool.begin().await.unwrap();
    let _: String = sqlx::query_scalar("SELECT v FROM kv WHERE k = $1").bind(k).fetch_one(&mut *tx).await.unwrap();
    tx.commit().await.unwrap();
}

async fn tenant_tx(pool: &TenantPool, tenant: &TenantId, k: i32) {
    let mut tx = pool.begin(tenant).await.unwrap();
    let _: String = sqlx::query_scalar("SELECT v FROM kv WHERE k = $1").bind(k).fetch_one(tx.conn()).await.unwrap();
    tx.commit().await.unwrap();
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    // `cargo test --all-targets` runs this binary without `--bench`: a quick smoke run then.
    let quick = !std::env::args().any(|a| a == "--bench");
    let scale = |n: usize| if quick { 2 } else { n };
    let default_rows = if quick { 10_000 } else { 1_000_000 };
    let rows: u64 = std::env::var("TG_BENCH_ROWS").ok().and_then(|v| v.parse().ok()).unwrap_or(default_rows);
    let cluster = Cluster::start_with(&ClusterOptions::default().set("shared_buffers", "256MB")).unwrap();
    cluster.create_database("bench").unwrap();
    cluster.psql("bench", SETUP).unwrap();
    let app_url = cluster.role_url("app", Some("app"), "bench");
    let tenants: Vec<TenantId> = (0..1000).map(tenant).collect();

    // 1. Transaction overhead: same query, same role, same (non-RLS) table.
    let scoped = TenantPool::connect(&app_url, TenantPoolOptions { max_connections: 1, ..Default::default() }).await.unwrap();
    let plain = PgPoolOptions::new().max_connections(1).connect(&app_url).await.unwrap();
    let plain_noping = PgPoolOptions::new().max_connections(1).test_before_acquire(false).connect(&app_url).await.unwrap();
    let (rounds, iters) = (scale(41), scale(500));
    for i in 0..scale(500) as i32 {
        plain_tx(&plain, i % 1000 + 1).await;
        tenant_tx(&scoped, &tenants[0], i % 1000 + 1).await;
    }
    let t = interleave(rounds, iters, |i| plain_tx(&plain, (i % 1000 + 1) as i32), |i| tenant_tx(&scoped, &tenants[i % 1000], (i % 1000 + 1) as i32)).await;
    report("tenant transaction vs plain sqlx transaction (pool defaults), 1 connection", "A: plain pool.begin() + query + commit", "B: TenantPool::begin + query + commit", iters, t);
    let t = interleave(rounds, iters, |i| plain_tx(&plain_noping, (i % 1000 + 1) as i32), |i| tenant_tx(&scoped, &tenants[i % 1000], (i % 1000 + 1) as i32)).await;
    report("tenant transaction vs plain sqlx transaction with test_before_acquire(false)", "A: plain pool.begin() (no ping) + query + commit", "B: TenantPool::begin + query + commit", iters, t);

    // 2. RLS policy vs explicit WHERE, same data twice.
    let started = Instant::now();
    let per_tenant = rows / 1000;
    cluster
        .psql(
            "bench",
            &format!(
                "CREATE TABLE items_rls (tenant_id uuid NOT NULL, id bigint NOT NULL, amount int NOT NULL, PRIMARY KEY (tenant_id, id));
                 INSERT INTO items_rls SELECT ('00000000-0000-4000-8000-' || lpad((g % 1000 + 1)::text, 12, '0'))::uuid, g, g % 997
                   FROM generate_series(0, {rows} - 1) g;
                 CREATE TABLE items_plain AS TABLE items_rls;
                 ALTER TABLE items_plain ADD PRIMARY KEY (tenant_id, id);
                 ALTER TABLE items_rls ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
                 CREATE POLICY tenant_isolation ON items_rls
                   USING (tenant_id = (select current_setting('app.current_tenant', true)::uuid))
                   WITH CHECK (tenant_id = (select current_setting('app.current_tenant', true)::uuid));
                 GRANT SELECT ON items_rls, items_plain TO app;
                 VACUUM ANALYZE items_rls; VACUUM ANALYZE items_plain;"
            ),
        )
        .unwrap();
    println!("loaded {rows} rows x2 for 1000 tenants ({per_tenant} each) in {:.1?}\n", started.elapsed());
    let rls_count = |i: usize| {
        let (pool, tenant) = (&scoped, tenants[(i * 7) % 1000]);
        async move {
            let mut tx = pool.begin(&tenant).await.unwrap();
            let _: (i64, Option<i64>) = sqlx::query_as("SELECT count(*), sum(amount) FROM items_rls").fetch_one(tx.conn()).await.unwrap();
            tx.commit().await.unwrap();
        }
    };
    let where_count = |i: usize| {
        let (pool, tenant) = (&scoped, tenants[(i * 7) % 1000]);
        async move {
            let mut tx = pool.begin(&tenant).await.unwrap();
            let _: (i64, Option<i64>) = sqlx::query_as("SELECT count(*), sum(amount) FROM items_plain WHERE tenant_id = $1")
                .bind(tenant.as_uuid()).fetch_one(tx.conn()).await.unwrap();
            tx.commit().await.unwrap();
        }
    };
    for i in 0..scale(300) {
        rls_count(i).await;
        where_count(i).await;
    }
    let (rounds, iters) = (scale(31), scale(200));
    let t = interleave(rounds, iters, where_count, rls_count).await;
    report(&format!("aggregate over one tenant's rows, {rows} rows / 1000 tenants"), "A: no RLS, WHERE tenant_id = $1", "B: forced RLS policy, no WHERE", iters, t);
    let rls_page = |i: usize| {
        let (pool, tenant) = (&scoped, tenants[(i * 13) % 1000]);
        async move {
            let mut tx = pool.begin(&tenant).await.unwrap();
            let _: Vec<(i64, i32)> = sqlx::query_as("SELECT id, amount FROM items_rls ORDER BY id DESC LIMIT 20").fetch_all(tx.conn()).await.unwrap();
            tx.commit().await.unwrap();
        }
    };
    let where_page = |i: usize| {
        let (pool, tenant) = (&scoped, tenants[(i * 13) % 1000]);
        async move {
            let mut tx = pool.begin(&tenant).await.unwrap();
            let _: Vec<(i64, i32)> = sqlx::query_as("SELECT id, amount FROM items_plain WHERE tenant_id = $1 ORDER BY id DESC LIMIT 20")
                .bind(tenant.as_uuid()).fetch_all(tx.conn()).await.unwrap();
            tx.commit().await.unwrap();
        }
    };
    let (rounds, iters) = (scale(31), scale(500));
    let t = interleave(rounds, iters, where_page, rls_page).await;
    report(&format!("page of 20 newest rows of one tenant, {rows} rows / 1000 tenants"), "A: no RLS, WHERE tenant_id = $1", "B: forced RLS policy, no WHERE", iters, t);
}
