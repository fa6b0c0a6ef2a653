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
    report_rates(name, label_a, label_b, rounds.into_iter().map(|(a, b)| (rate(a), rate(b))).collect());
}

/// Client tasks and pool size for the transaction-overhead comparison.
const CLIENTS: usize = 8;
const POOL: u32 = 4;

/// Transactions per second: CLIENTS tasks calling `op` in a loop for `secs`.
async fn throughput<F, Fut>(secs: f64, op: F) -> f64
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let started = Instant::now();
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let (op, stop) = (op.clone(), stop.clone());
            tokio::spawn(async move {
                let mut n = 0usize;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    op(c * 1_000_003 + n).await;
                    n += 1;
                }
                n
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    total as f64 / started.elapsed().as_secs_f64()
}

/// Per-round rates of `a` and `b`, alternating which runs first.
async fn interleave_rates<FA, FB, A, B>(rounds: usize, a: FA, b: FB) -> Vec<(f64, f64)>
where
    FA: Fn() -> A,
    FB: Fn() -> B,
    A: Future<Output = f64>,
    B: Future<Output = f64>,
{
    let mut out = Vec::with_capacity(rounds);
    for round in 0..rounds {
        let (ra, rb) = if round % 2 == 0 {
            let ra = a().await;
            (ra, b().await)
        } else {
            let rb = b().await;
            (a().await, rb)
        };
        out.push((ra, rb));
    }
    out
}

fn report_rates(name: &str, label_a: &str, label_b: &str, rounds: Vec<(f64, f64)>) {
    let median = |mut v: Vec<f64>| {
        v.sort_by(|x, y| x.total_cmp(y));
        v[v.len() / 2]
    };
    let ra = median(rounds.iter().map(|r| r.0).collect());
    let rb = median(rounds.iter().map(|r| r.1).collect());
    let ratios: Vec<f64> = rounds.iter().map(|r| r.1 / r.0).collect();
    let (lo, hi) = ratios.iter().fold((f64::MAX, f64::MIN), |(l, h), r| (l.min(*r), h.max(*r)));
    println!(
        "{name}\n  {label_a:<46} {ra:>9.0} /s (median round)\n  {label_b:<46} {rb:>9.0} /s\n  throughput ratio B/A {:.3} (median of {} interleaved rounds; range {lo:.3} to {hi:.3})\n",
        median(ratios.clone()),
        rounds.len()
    );
}

/// The query both transactions run: one row by key (the smallest query, so the transaction's
/// own cost weighs most), or a page of 20 rows (closer to what a request reads).
#[derive(Clone, Copy)]
enum Query {
    Row,
    Page,
}

impl Query {
    fn sql(self) -> &'static str {
        match self {
            Query::Row => "SELECT k, v FROM kv WHERE k = $1",
            Query::Page => "SELECT k, v FROM kv WHERE k >= $1 ORDER BY k LIMIT 20",
        }
    }
}

async fn plain_tx(pool: &PgPool, q: Query, k: i32) {
    let mut tx = pool.begin().await.unwrap();
    let rows: Vec<(i32, String)> = sqlx::query_as(q.sql()).bind(k).fetch_all(&mut *tx).await.unwrap();
    assert!(!rows.is_empty());
    tx.commit().await.unwrap();
}

async fn tenant_tx(pool: &TenantPool, tenant: &TenantId, q: Query, k: i32) {
    let mut tx = pool.begin(tenant).await.unwrap();
    let rows: Vec<(i32, String)> = sqlx::query_as(q.sql()).bind(k).fetch_all(tx.conn()).await.unwrap();
    assert!(!rows.is_empty());
    tx.commit().await.unwrap();
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
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

    // 1. Transaction overhead: same query, same role, same (non-RLS) table, measured as
    // throughput: CLIENTS tasks sharing a pool of POOL connections on a two-thread runtime,
    // each phase a fixed time, A and B interleaved. One connection doing one transaction
    // at a time measures wake-up latency, not cost: on an idle 2-core VM that setup gave
    // ratios of 1.38 and 0.55 for the same two code paths in one run.
    let scoped = TenantPool::connect(&app_url, TenantPoolOptions { max_connections: POOL, ..Default::default() }).await.unwrap();
    let plain = PgPoolOptions::new().max_connections(POOL).connect(&app_url).await.unwrap();
    let plain_noping = PgPoolOptions::new().max_connections(POOL).test_before_acquire(false).connect(&app_url).await.unwrap();
    let (rounds, secs) = if quick { (2, 0.05) } else { (15, 2.0) };
    let tenants_arc = std::sync::Arc::new(tenants.clone());
    let run_plain = |pool: PgPool, q: Query| move || {
        let pool = pool.clone();
        throughput(secs, move |i| {
            let pool = pool.clone();
            async move { plain_tx(&pool, q, (i % 980 + 1) as i32).await }
        })
    };
    let run_tenant = |q: Query| {
        let (pool, tenants) = (scoped.clone(), tenants_arc.clone());
        move || {
            let (pool, tenants) = (pool.clone(), tenants.clone());
            throughput(secs, move |i| {
                let (pool, tenants) = (pool.clone(), tenants.clone());
                async move { tenant_tx(&pool, &tenants[i % 1000], q, (i % 980 + 1) as i32).await }
            })
        }
    };
    // Warm up both paths (prepared statements, connections, plpgsql caches).
    for q in [Query::Row, Query::Page] {
        run_plain(plain.clone(), q)().await;
        run_plain(plain_noping.clone(), q)().await;
        run_tenant(q)().await;
    }
    let t = interleave_rates(rounds, run_plain(plain.clone(), Query::Row), run_tenant(Query::Row)).await;
    report_rates(
        &format!("tenant transaction vs plain sqlx transaction (pool defaults), one row by key, {CLIENTS} clients, {POOL} connections"),
        "A: plain pool.begin() + query + commit",
        "B: TenantPool::begin + query + commit",
        t,
    );
    let t = interleave_rates(rounds, run_plain(plain_noping.clone(), Query::Row), run_tenant(Query::Row)).await;
    report_rates(
        "tenant transaction vs plain sqlx transaction with test_before_acquire(false), one row by key",
        "A: plain pool.begin() (no ping) + query + commit",
        "B: TenantPool::begin + query + commit",
        t,
    );
    let t = interleave_rates(rounds, run_plain(plain.clone(), Query::Page), run_tenant(Query::Page)).await;
    report_rates(
        "tenant transaction vs plain sqlx transaction (pool defaults), a page of 20 rows",
        "A: plain pool.begin() + query + commit",
        "B: TenantPool::begin + query + commit",
        t,
    );

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
