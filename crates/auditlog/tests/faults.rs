//! Aborts and killed backends during heavy writing, with two sealers racing: every
//! committed write has its audit row, no rolled-back one has, and no chain forks.
mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tenantguard_auditlog::ops::{seal_all, seal_once};
use tenantguard_auditlog::scaffold::Capture;
use tenantguard_auditlog::verify::{verify, VerifyOptions};

async fn writer(url: String, tenant: &'static str, id: u64, stop: Arc<AtomicBool>, attempts: Arc<AtomicU64>) {
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let Ok((client, conn)) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await else { continue };
        tokio::spawn(async move {
            let _ = conn.await;
        });
        while !stop.load(Ordering::Relaxed) {
            n += 1;
            attempts.fetch_add(1, Ordering::Relaxed);
            let note = format!("w{id}-{n}");
            // Every fifth transaction rolls back, every seventh fails on an error.
            let end = if n.is_multiple_of(5) { "ROLLBACK" } else if n.is_multiple_of(7) { "SELECT 1/0" } else { "COMMIT" };
            let sql = format!(
                "BEGIN; SET LOCAL app.current_tenant = '{tenant}'; SET LOCAL app.current_actor = 'w{id}';
                 INSERT INTO public.invoices (tenant_id, amount, note) VALUES ('{tenant}', {n}, '{note}'), ('{tenant}', 1, '{note}-b');
                 UPDATE public.invoices SET amount = amount + 1 WHERE note = '{note}';
                 {end};"
            );
            if client.batch_execute(&sql).await.is_err() {
                if client.is_closed() {
                    break; // terminated: reconnect
                }
                let _ = client.batch_execute("ROLLBACK").await;
            }
        }
    }
}

async fn sealer(url: String, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Relaxed) {
        let Ok((client, conn)) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await else { continue };
        tokio::spawn(async move {
            let _ = conn.await;
        });
        while !stop.load(Ordering::Relaxed) {
            if seal_once(&client, "audit", 500).await.is_err() && client.is_closed() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn aborts_and_killed_backends_leave_a_complete_unforked_log() {
    faults(Capture::Plpgsql).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn aborts_and_killed_backends_leave_a_complete_unforked_log_with_c_capture() {
    faults(Capture::C).await;
}

async fn faults(capture: Capture) {
    let env = common::setup_with(capture);
    let stop = Arc::new(AtomicBool::new(false));
    let attempts = Arc::new(AtomicU64::new(0));
    let mut tasks = vec![];
    // Three writers on one hot tenant, one on another, two sealers racing each other.
    for (i, tenant) in ["hot", "hot", "hot", "cold"].into_iter().enumerate() {
        tasks.push(tokio::spawn(writer(env.app_url.clone(), tenant, i as u64, stop.clone(), attempts.clone())));
    }
    for _ in 0..2 {
        tasks.push(tokio::spawn(sealer(env.url.clone(), stop.clone())));
    }
    let killer = common::connect(&env.url).await;
    let mut killed = 0i64;
    for round in 0..40 {
        tokio::time::sleep(Duration::from_millis(75)).await;
        // Writers every round, the sealers every fourth: mid-transaction, mid-commit, mid-seal.
        let who = if round % 4 == 0 { "usename IN ('app_user', 'postgres')" } else { "usename = 'app_user'" };
        let sql = format!("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE {who} AND pid <> pg_backend_pid() AND backend_type = 'client backend'");
        killed += killer.query_one(&sql, &[]).await.unwrap().get::<_, i64>(0);
    }
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.unwrap();
    }
    let su = common::connect(&env.url).await;
    seal_all(&su, "audit").await.unwrap();

    let q = |sql: &str| env.cluster.query("app", sql).unwrap().trim().to_string();
    let committed: i64 = q("SELECT count(*) FROM public.invoices").parse().unwrap();
    assert!(committed > 100 && killed > 20, "enough load: {committed} rows, {killed} kills, {} attempts", attempts.load(Ordering::Relaxed));
    // Each committed insert has exactly one INSERT audit row and no audit row lacks its write.
    let unmatched = q("SELECT count(*) FROM public.invoices i
                       FULL JOIN (SELECT new_value->>'note' AS note, count(*) AS n FROM audit.log WHERE action = 'INSERT' GROUP BY 1) a
                       ON a.note = i.note WHERE i.note IS NULL OR a.note IS NULL OR a.n <> 1");
    assert_eq!(unmatched, "0");
    let updates = q("SELECT count(*) FROM audit.log WHERE action = 'UPDATE'");
    assert_eq!(updates, q("SELECT count(*) FROM public.invoices WHERE note NOT LIKE '%-b'"));
    assert_eq!(q("SELECT count(*) FROM (SELECT prev_hash FROM audit.link GROUP BY tenant_id, prev_hash HAVING count(*) > 1) f"), "0", "no fork");
    let mut c = common::connect(&env.url).await;
    let r = verify(&mut c, &VerifyOptions::default()).await.unwrap();
    assert!(r.ok(), "{:?}", r.findings);
    assert_eq!(r.unsealed, 0);
}
