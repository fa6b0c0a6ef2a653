//! Killed backends and abandoned clients: nothing partial commits, the audit rows exist if
//! and only if the business write does (and every tenant's chain verifies after sealing),
//! and jobs are neither lost nor run twice.

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;
use tenantguard_runtime::jobs::Worker;
use tenantguard_runtime::TenantId;

/// Every committed invoice has exactly its line, one job, one `invoice.created` event and one
/// captured INSERT of itself and of its line in the audit log; nothing else.
fn assert_consistent(env: &Env) {
    let bad = env
        .cluster
        .query(DB, "SELECT count(*) FROM invoices i WHERE \
            (SELECT count(*) FROM invoice_lines l WHERE l.tenant_id = i.tenant_id AND l.invoice_id = i.id) <> 1 \
            OR (SELECT count(*) FROM audit.log a WHERE a.tenant_id = i.tenant_id::text AND a.action = 'invoice.created' AND a.entity_id = i.id::text) <> 1 \
            OR (SELECT count(*) FROM audit.log a WHERE a.tenant_id = i.tenant_id::text AND a.action = 'INSERT' AND a.entity = 'public.invoices' AND a.entity_id = i.id::text) <> 1 \
            OR (SELECT count(*) FROM audit.log a WHERE a.tenant_id = i.tenant_id::text AND a.action = 'INSERT' AND a.entity = 'public.invoice_lines' AND a.new_value->>'invoice_id' = i.id::text) <> 1 \
            OR (SELECT count(*) FROM jobs j WHERE j.tenant_id = i.tenant_id AND j.payload->>'invoice_id' = i.id::text) <> 1")
        .unwrap();
    assert_eq!(bad.trim(), "0", "inconsistent invoices");
    let orphans = env
        .cluster
        .query(DB, "SELECT (SELECT count(*) FROM audit.log a WHERE a.entity IN ('invoice', 'public.invoices') AND NOT EXISTS \
              (SELECT 1 FROM invoices i WHERE i.tenant_id::text = a.tenant_id AND i.id::text = a.entity_id)) \
            + (SELECT count(*) FROM audit.log a WHERE a.entity = 'public.invoice_lines' AND NOT EXISTS \
              (SELECT 1 FROM invoice_lines l WHERE l.tenant_id::text = a.tenant_id AND l.id::text = a.entity_id)) \
            + (SELECT count(*) FROM jobs j WHERE NOT EXISTS (SELECT 1 FROM invoices i WHERE i.id::text = j.payload->>'invoice_id'))")
        .unwrap();
    assert_eq!(orphans.trim(), "0", "audit rows or jobs without their invoice");
}

/// Sealed by the owner, every tenant's chain verifies and holds every event written.
async fn assert_chains_intact(env: &Env) {
    let report = seal_and_verify(&env.cluster).await;
    assert!(report.ok(), "audit chains broken: {:?}", report.findings);
    let events: u64 = env.cluster.query(DB, "SELECT count(*) FROM audit.log").unwrap().trim().parse().unwrap();
    assert_eq!((report.events, report.unsealed), (events, 0), "every event sealed and verified");
    let tenants: usize = env.cluster.query(DB, "SELECT count(DISTINCT tenant_id) FROM audit.log").unwrap().trim().parse().unwrap();
    assert_eq!(report.tenants, tenants);
}

#[tokio::test]
async fn terminated_backend_mid_transaction_commits_nothing() {
    let env = env().await;
    let a = tenant(1);
    let customer = onboard(&env.app, &a).await;
    let tenant_id = TenantId::parse(&a).unwrap();

    let mut tx = env.pool.begin(&tenant_id).await.unwrap();
    sqlx::query("INSERT INTO invoices (tenant_id, customer_id, number) VALUES ($1, $2::uuid, 'killed')")
        .bind(tenant_id.as_uuid()).bind(&customer).execute(tx.conn()).await.unwrap();
    tx.audit("u", "invoice.created", "invoice", None, Some(json!({ "number": "killed" }))).await.unwrap();
    assert_eq!(env.cluster.query(DB, "SELECT count(*) FROM audit.log WHERE entity IN ('invoice', 'public.invoices')").unwrap().trim(), "0", "uncommitted events and captured rows are not visible");
    tx.enqueue("export_invoice", json!({})).await.unwrap();
    let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()").fetch_one(tx.conn()).await.unwrap();
    env.cluster.query(DB, &format!("SELECT pg_terminate_backend({pid})")).unwrap();
    assert!(tx.commit().await.is_err(), "commit on a terminated backend must fail");

    let left = env.cluster.query(DB, "SELECT (SELECT count(*) FROM invoices) + (SELECT count(*) FROM jobs) + (SELECT count(*) FROM audit.log WHERE entity IN ('invoice', 'public.invoices'))").unwrap();
    assert_eq!(left.trim(), "0");
    // The pool recovers: the next request gets a live connection.
    let (status, _) = as_tenant(&env.app, &a, "POST", "/invoices", Some(invoice_body(&customer, "after"))).await;
    assert_eq!(status.as_u16(), 201);
    assert_consistent(&env);
    assert_chains_intact(&env).await;
}

#[tokio::test]
async fn backends_killed_and_clients_aborted_under_load_leave_consistent_data() {
    let env = env().await;
    let tenants: Vec<String> = (1..=4).map(tenant).collect();
    let mut customers = Vec::new();
    for t in &tenants {
        customers.push(onboard(&env.app, t).await);
    }
    // A killer terminating the app role's backends while requests run, and the sealer
    // (as the owner, whose backend the killer leaves alone) chaining events as they commit.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sealer = spawn_sealer(&env.cluster, Duration::from_millis(20), stop.clone());
    let killer = {
        let url = env.cluster.url(DB);
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&url).await.unwrap();
            let mut kills = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let n: i64 = sqlx::query_scalar("SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'invoicing_app' AND state <> 'idle') k")
                    .fetch_one(&mut conn).await.unwrap();
                kills += n as u64;
                tokio::time::sleep(Duration::from_millis(7)).await;
            }
            kills
        })
    };
    let (mut created, mut failed, mut aborted) = (0, 0, 0);
    // 300 requests, then more (up to 3,000) until both outcomes were seen: on a loaded
    // machine the killer can take every early request, or no client times out.
    let mut i = 0usize;
    while i < 300 || ((created == 0 || aborted == 0) && i < 3000) {
        i += 1;
        let t = i % tenants.len();
        let request = as_tenant(&env.app, &tenants[t], "POST", "/invoices", Some(invoice_body(&customers[t], &format!("n-{i}"))));
        // Every third client gives up after a random-ish short time.
        let outcome = if i.is_multiple_of(3) {
            tokio::time::timeout(Duration::from_micros(200 + (i as u64 * 37) % 3000), request).await.ok()
        } else {
            Some(request.await)
        };
        match outcome {
            None => aborted += 1,
            Some((status, body)) if status.as_u16() == 201 => { created += 1; let _ = body; }
            Some((status, body)) => {
                assert_eq!(status.as_u16(), 500, "{body}");
                assert_eq!(body["error"], "database", "clean JSON error: {body}");
                failed += 1;
            }
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let kills = killer.await.unwrap();
    let sealed = sealer.await.unwrap();
    eprintln!("created {created}, failed {failed}, aborted {aborted}, backends killed {kills}, events sealed while running {sealed}");
    assert!(created > 0 && aborted > 0);
    tokio::time::sleep(Duration::from_millis(100)).await; // let abandoned rollbacks land
    assert_consistent(&env);
    let committed: usize = env.cluster.query(DB, "SELECT count(*) FROM invoices").unwrap().trim().parse().unwrap();
    assert!(committed >= created, "a 201 response whose invoice is missing");
    assert_chains_intact(&env).await;
}

#[tokio::test]
async fn job_interrupted_by_backend_termination_is_retried_and_runs_once() {
    let env = env().await;
    let a = tenant(9);
    let customer = onboard(&env.app, &a).await;
    as_tenant(&env.app, &a, "POST", "/invoices", Some(invoice_body(&customer, "slow"))).await;
    // A handler that writes its effect, then stalls so the backend can be killed mid-job.
    let worker = Worker::new(env.pool.clone()).handle("export_invoice", |tx, job| {
        Box::pin(async move {
            let invoice = job.payload["invoice_id"].as_str().unwrap_or_default().to_string();
            sqlx::query("INSERT INTO invoice_exports (tenant_id, invoice_id, format, body) VALUES ($1, $2::uuid, 'csv', '')")
                .bind(tx.tenant().as_uuid()).bind(invoice).execute(tx.conn()).await.map_err(|e| e.to_string())?;
            sqlx::query("SELECT pg_sleep(0.4)").execute(tx.conn()).await.map_err(|e| e.to_string())?;
            Ok(())
        })
    });
    let url = env.cluster.url(DB);
    let killer = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(150)).await;
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&url).await.unwrap();
        sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(0.4)%' AND pid <> pg_backend_pid()")
            .execute(&mut conn).await.unwrap();
    });
    // One pass: the killed attempt fails and rolls back, the retry in the same pass commits.
    let pass = worker.run_once().await.unwrap();
    killer.await.unwrap();
    assert_eq!((pass.done, pass.failed), (1, 1), "{pass:?}");
    let state = env.cluster.query(DB, "SELECT status, attempts, (SELECT count(*) FROM invoice_exports) FROM jobs").unwrap();
    assert_eq!(state.trim(), "done|2|1");
}
