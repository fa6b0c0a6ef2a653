//! pgbench-style overhead of the audit log: no audit vs a plain jsonb trigger (reference)
//! vs trigger audit vs trigger audit +
//! chain (sealer running alongside), 2 clients, 1 and 100 tenants, insert and update,
//! variants interleaved in rounds. Then verify throughput over everything written.
//!
//!     cargo bench -p tenantguard-auditlog --bench audit_overhead
//!
//! TG_BENCH_SECS sets the seconds per phase (default 3), TG_BENCH_ROUNDS the rounds (3).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tenantguard_auditlog::ops::{seal_all, seal_once};
use tenantguard_auditlog::scaffold::{render, CapturedTable, ScaffoldConfig};
use tenantguard_auditlog::verify::{verify, VerifyOptions};
use tenantguard_testkit::{Cluster, ClusterOptions};
use tokio_postgres::{Client, NoTls};

const PRELOAD: i64 = 20_000;

#[derive(Clone, Copy, PartialEq)]
enum Variant {
    Plain,
    /// In-run reference: a plain tenant jsonb trigger (no guards, no chain, no partitions).
    Reference,
    Trigger,
    Chain,
}

impl Variant {
    fn table(self, tenants: u32) -> String {
        let v = match self {
            Variant::Plain => "plain",
            Variant::Reference => "ref",
            Variant::Trigger => "trig",
            Variant::Chain => "chain",
        };
        format!("public.inv_{v}_{tenants}")
    }
}

async fn connect(url: &str) -> Client {
    let (c, conn) = tokio_postgres::connect(url, NoTls).await.expect("connect");
    tokio::spawn(async move {
        let _ = conn.await;
    });
    c
}

/// One client: single-statement transactions for `secs`, returns how many committed.
async fn client(url: String, table: String, tenants: u32, update: bool, seed: u64, stop: Arc<AtomicBool>) -> u64 {
    let c = connect(&url).await;
    c.batch_execute("SET app.current_actor = 'bench'").await.unwrap();
    let sql = if update {
        format!("UPDATE {table} SET amount = amount + 1 WHERE id = $1::int8 AND $2::text IS NOT NULL")
    } else {
        format!("INSERT INTO {table} (id, tenant_id, amount, note) VALUES (nextval('{table}_id_seq') + 0 * $1::int8, $2, 1, 'bench')")
    };
    let stmt = c.prepare(&sql).await.unwrap();
    let mut x = seed | 1;
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let id = (x % PRELOAD as u64) as i64 + 1;
        let tenant = format!("t{}", x % tenants as u64);
        c.execute(&stmt, &[&id, &tenant]).await.unwrap();
        n += 1;
    }
    n
}

/// Transactions per second of one phase; for Chain the sealer runs alongside and the
/// catch-up after the clients stop is counted in the time.
async fn phase(url: &str, v: Variant, tenants: u32, update: bool, secs: f64) -> f64 {
    let stop = Arc::new(AtomicBool::new(false));
    let sealing = Arc::new(AtomicBool::new(true));
    let sealer = (v == Variant::Chain).then(|| {
        let (url, sealing) = (url.to_string(), sealing.clone());
        tokio::spawn(async move {
            let c = connect(&url).await;
            while sealing.load(Ordering::Relaxed) {
                if seal_once(&c, "audit_c", 5000).await.unwrap() == 0 {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
            seal_all(&c, "audit_c").await.unwrap();
        })
    });
    let started = Instant::now();
    let clients: Vec<_> = (0..2u64)
        .map(|i| tokio::spawn(client(url.to_string(), v.table(tenants), tenants, update, 0x9E37_79B9 * (i + 1), stop.clone())))
        .collect();
    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
    stop.store(true, Ordering::Relaxed);
    let mut total = 0;
    for c in clients {
        total += c.await.unwrap();
    }
    if let Some(s) = sealer {
        sealing.store(false, Ordering::Relaxed);
        s.await.unwrap();
    }
    total as f64 / started.elapsed().as_secs_f64()
}

fn setup(cluster: &Cluster) {
    cluster.create_database("bench").unwrap();
    let mut ddl = String::from("CREATE ROLE app_user LOGIN;\n");
    for tenants in [1u32, 100] {
        for v in [Variant::Plain, Variant::Reference, Variant::Trigger, Variant::Chain] {
            let t = v.table(tenants);
            ddl.push_str(&format!(
                "CREATE TABLE {t} (id bigserial PRIMARY KEY, tenant_id text NOT NULL, amount numeric NOT NULL, note text);\n\
                 INSERT INTO {t} (tenant_id, amount, note) SELECT 't' || (g % {tenants}), g, 'preload' FROM generate_series(1, {PRELOAD}) g;\n"
            ));
        }
    }
    ddl.push_str(
        "CREATE TABLE public.jsonb_audit (id bigserial PRIMARY KEY, tenant_id text, actor text, action text, entity text,\n\
             old_value jsonb, new_value jsonb, at timestamptz NOT NULL DEFAULT now());\n\
         CREATE FUNCTION public.jsonb_audit_capture() RETURNS trigger LANGUAGE plpgsql AS $f$ BEGIN\n\
             INSERT INTO public.jsonb_audit (tenant_id, actor, action, entity, old_value, new_value)\n\
             VALUES (coalesce(NEW.tenant_id, OLD.tenant_id), current_setting('app.current_actor', true), TG_OP, TG_TABLE_NAME,\n\
                     CASE WHEN TG_OP <> 'INSERT' THEN to_jsonb(OLD) END, CASE WHEN TG_OP <> 'DELETE' THEN to_jsonb(NEW) END);\n\
             RETURN NULL; END $f$;\n",
    );
    for tenants in [1u32, 100] {
        ddl.push_str(&format!(
            "CREATE TRIGGER audit AFTER INSERT OR UPDATE OR DELETE ON {} FOR EACH ROW EXECUTE FUNCTION public.jsonb_audit_capture();\n",
            Variant::Reference.table(tenants)
        ));
    }
    cluster.psql("bench", &ddl).unwrap();
    for (schema, v) in [("audit_t", Variant::Trigger), ("audit_c", Variant::Chain)] {
        let cfg = ScaffoldConfig {
            schema: schema.into(),
            owner: format!("{schema}_owner"),
            app_roles: vec!["app_user".into()],
            tables: [1, 100].iter().map(|n| CapturedTable::parse(&v.table(*n), "tenant_id").unwrap()).collect(),
        };
        cluster.psql("bench", &render(&cfg)).unwrap();
    }
    cluster.psql("bench", "VACUUM ANALYZE").unwrap();
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let secs: f64 = std::env::var("TG_BENCH_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(3.0);
    let rounds: usize = std::env::var("TG_BENCH_ROUNDS").ok().and_then(|s| s.parse().ok()).unwrap_or(3);
    let cluster = Cluster::start_with(&ClusterOptions::default().set("synchronous_commit", "off").set("shared_buffers", "128MB"))
        .expect("start a throwaway cluster");
    setup(&cluster);
    let url = cluster.url("bench");
    println!("audit_overhead: 2 clients, {secs}s phases, {rounds} rounds interleaved, synchronous_commit off");
    println!(
        "{:<20} {:>9} {:>9} {:>9} {:>9} {:>7} {:>7} {:>7}",
        "workload", "none tps", "ref tps", "trig tps", "chain tps", "ref x", "trig x", "chain x"
    );
    for update in [false, true] {
        for tenants in [100u32, 1] {
            let mut tps = [0.0f64; 4];
            for _ in 0..rounds {
                for (i, v) in [Variant::Plain, Variant::Reference, Variant::Trigger, Variant::Chain].into_iter().enumerate() {
                    tps[i] += phase(&url, v, tenants, update, secs).await / rounds as f64;
                }
            }
            let name = format!("{} {} tenant{}", if update { "update" } else { "insert" }, tenants, if tenants > 1 { "s" } else { "" });
            println!(
                "{:<20} {:>9.0} {:>9.0} {:>9.0} {:>9.0} {:>6.2}x {:>6.2}x {:>6.2}x",
                name, tps[0], tps[1], tps[2], tps[3], tps[1] / tps[0], tps[2] / tps[0], tps[3] / tps[0]
            );
        }
    }
    let mut c = connect(&url).await;
    seal_all(&c, "audit_t").await.unwrap();
    for schema in ["audit_c", "audit_t"] {
        let r = verify(&mut c, &VerifyOptions { schema: schema.into(), ..VerifyOptions::default() }).await.unwrap();
        assert!(r.ok(), "{schema}: {:?}", &r.findings[..r.findings.len().min(5)]);
        println!(
            "verify {schema}: {} events, {} tenants in {:.2}s = {:.0} events/s end to end",
            r.events,
            r.tenants,
            r.seconds,
            r.events as f64 / r.seconds
        );
    }
}
