//! The Rust sealer (seal_claim, hashing in Rust, seal_store) and the SQL sealer (seal())
//! build one chain together, and seal_store refuses a batch that does not continue it.
mod common;

use tenantguard_auditlog::ops::{seal_all, seal_once};
use tenantguard_auditlog::verify::{verify, VerifyOptions};

#[tokio::test]
async fn rust_and_sql_sealers_interleave_into_one_verifiable_chain() {
    let env = common::setup();
    let app = common::connect(&env.app_url).await;
    let su = common::connect(&env.url).await;
    for round in 0..4 {
        for t in ["t1", "t2", "t3"] {
            common::write_invoices(&app, t, 7 + round).await;
        }
        if round % 2 == 0 {
            su.query_one("SELECT audit.seal(25)", &[]).await.unwrap();
        } else {
            assert!(seal_once(&su, "audit", 25).await.unwrap() > 0);
        }
    }
    seal_all(&su, "audit").await.unwrap();
    let mut c = common::connect(&env.url).await;
    let r = verify(&mut c, &VerifyOptions::default()).await.unwrap();
    assert!(r.ok(), "{:?}", r.findings);
    assert_eq!(r.unsealed, 0);
    assert_eq!(r.tenants, 3);
}

#[tokio::test]
async fn seal_store_refuses_a_batch_that_does_not_continue_the_chain() {
    let env = common::setup();
    let app = common::connect(&env.app_url).await;
    common::write_invoices(&app, "t1", 3).await;
    let su = common::connect(&env.url).await;
    let claimed = "SELECT array_agg(tenant_id ORDER BY id), array_agg(id ORDER BY id), array_agg(at ORDER BY id), \
                   array_agg(part ORDER BY id), array_agg(ctid_text ORDER BY id) FROM audit.seal_claim(100)";
    let zero = vec![0u8; 32];
    // (first seq, first prev hash, hashes): wrong start, a gap, and wrong hashes.
    let cases: [(i64, Vec<u8>, Vec<u8>, &str); 3] = [
        (2, zero.clone(), vec![7; 32], "does not continue"),
        (1, vec![1; 32], vec![7; 32], "does not continue"),
        (1, zero.clone(), vec![7; 32], "does not match"),
    ];
    for (first, prev, hash, expected) in cases {
        su.batch_execute("BEGIN").await.unwrap();
        let row = su.query_one(claimed, &[]).await.unwrap();
        let (tenants, ids, ats): (Vec<String>, Vec<i64>, Vec<std::time::SystemTime>) = (row.get(0), row.get(1), row.get(2));
        let (parts, ctids): (Vec<u32>, Vec<String>) = (row.get(3), row.get(4));
        let n = ids.len() as i64;
        let seqs: Vec<i64> = (first..first + n).collect();
        let mut prevs = vec![prev.clone()];
        prevs.extend(std::iter::repeat_n(hash.clone(), ids.len() - 1));
        let hashes = vec![hash.clone(); ids.len()];
        let err = su
            .query_one(
                "SELECT audit.seal_store($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                &[&tenants, &ids, &ats, &seqs, &hashes, &prevs, &hashes, &parts, &ctids],
            )
            .await
            .expect_err(expected);
        let msg = err.as_db_error().map(|d| d.message().to_string()).unwrap_or_default();
        assert!(msg.contains(expected), "{expected}: {msg}");
        su.batch_execute("ROLLBACK").await.unwrap();
    }
    let unsealed = env.cluster.query("app", "SELECT count(*) FROM audit.log WHERE seq IS NULL").unwrap();
    assert_ne!(unsealed.trim(), "0", "nothing was stored");
    // Another session's claim makes the tenant unavailable to a second sealer.
    let other = common::connect(&env.url).await;
    su.batch_execute("BEGIN").await.unwrap();
    assert!(!su.query("SELECT 1 FROM audit.seal_claim(100)", &[]).await.unwrap().is_empty());
    assert_eq!(seal_once(&other, "audit", 100).await.unwrap(), 0, "the claimed tenant is skipped");
    su.batch_execute("ROLLBACK").await.unwrap();
    seal_all(&other, "audit").await.unwrap();
    let mut c = common::connect(&env.url).await;
    assert!(verify(&mut c, &VerifyOptions::default()).await.unwrap().ok());
}

#[tokio::test]
async fn a_log_migrated_before_seal_claim_is_sealed_by_its_sql_sealer() {
    let env = common::setup();
    let app = common::connect(&env.app_url).await;
    common::write_invoices(&app, "t1", 5).await;
    env.cluster.psql("app", "DROP FUNCTION audit.seal_claim(integer)").unwrap();
    let su = common::connect(&env.url).await;
    assert!(seal_all(&su, "audit").await.unwrap() > 0);
    let mut c = common::connect(&env.url).await;
    let r = verify(&mut c, &VerifyOptions::default()).await.unwrap();
    assert!(r.ok() && r.unsealed == 0, "{:?}", r.findings);
}

/// The sealer's floor never passes a row still being written: a transaction that drew its
/// id before several sealing rounds (which seal later rows and move the floor) and commits
/// after them still has its row sealed.
#[tokio::test]
async fn a_row_committed_after_later_rows_were_sealed_is_still_sealed() {
    let env = common::setup();
    let slow = common::connect(&env.app_url).await;
    let app = common::connect(&env.app_url).await;
    let su = common::connect(&env.url).await;
    slow.batch_execute("BEGIN").await.unwrap();
    slow.batch_execute("SELECT set_config('app.current_tenant', 't1', true); INSERT INTO public.invoices (tenant_id, amount) VALUES ('t1', 1)")
        .await
        .unwrap();
    let slow_id: i64 = slow.query_one("SELECT max(id) FROM audit.log", &[]).await.unwrap().get(0);
    let floor = || env.cluster.query("app", "SELECT floor FROM audit.seal_state").unwrap().trim().parse::<i64>().unwrap();
    for _ in 0..4 {
        common::write_invoices(&app, "t2", 3).await;
        seal_all(&su, "audit").await.unwrap();
    }
    assert!(floor() < slow_id, "the floor stays below a row still being written");
    slow.batch_execute("COMMIT").await.unwrap();
    for _ in 0..3 {
        common::write_invoices(&app, "t2", 1).await;
        seal_all(&su, "audit").await.unwrap();
    }
    let unsealed = env.cluster.query("app", "SELECT count(*) FROM audit.log WHERE seq IS NULL").unwrap();
    assert_eq!(unsealed.trim(), "0", "the slow writer's row was sealed");
    assert!(floor() > slow_id, "the floor moves on once the writer has ended");
    let mut c = common::connect(&env.url).await;
    let r = verify(&mut c, &VerifyOptions::default()).await.unwrap();
    assert!(r.ok() && r.unsealed == 0, "{:?}", r.findings);
    assert_eq!(r.tenants, 2);
}
