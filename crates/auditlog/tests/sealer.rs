//! The Rust sealer (seal_claim, hashing in Rust, seal_store) and the SQL sealer (seal())
//! build one chain together, seal_store refuses a batch that does not continue it or is not
//! what was claimed, and sealing never passes a row still being written.
mod common;

use tenantguard_auditlog::ops::{seal_all, seal_once, seal_round};
use tenantguard_auditlog::verify::{verify, VerifyOptions};

/// A bad batch: first seq, first prev hash, every hash, claimed rows left out, the error.
type Case = (i64, Vec<u8>, Vec<u8>, usize, &'static str);

/// Log rows no link covers.
const UNSEALED: &str = "SELECT count(*) FROM audit.log l WHERE NOT EXISTS (SELECT 1 FROM audit.link k WHERE k.id = l.id)";

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
    let claimed = "SELECT array_agg(tenant_id ORDER BY id), array_agg(id ORDER BY id) FROM audit.seal_claim(100)";
    let zero = vec![0u8; 32];
    // (first seq, first prev hash, hashes, rows dropped from the batch): wrong start, a
    // wrong prev hash, wrong hashes, and a batch that leaves out a claimed row.
    let cases: [Case; 4] = [
        (2, zero.clone(), vec![7; 32], 0, "does not continue"),
        (1, vec![1; 32], vec![7; 32], 0, "does not continue"),
        (1, zero.clone(), vec![7; 32], 0, "does not match"),
        (1, zero.clone(), vec![7; 32], 1, "not the rows seal_claim returned"),
    ];
    for (first, prev, hash, dropped, expected) in cases {
        su.batch_execute("BEGIN").await.unwrap();
        let row = su.query_one(claimed, &[]).await.unwrap();
        let (mut tenants, mut ids): (Vec<String>, Vec<i64>) = (row.get(0), row.get(1));
        tenants.truncate(tenants.len() - dropped);
        ids.truncate(ids.len() - dropped);
        let n = ids.len() as i64;
        let seqs: Vec<i64> = (first..first + n).collect();
        let mut prevs = vec![prev.clone()];
        prevs.extend(std::iter::repeat_n(hash.clone(), ids.len() - 1));
        let hashes = vec![hash.clone(); ids.len()];
        store_refused(&su, Batch { tenants, ids, seqs, prevs, hashes }, expected).await;
    }
    let unsealed = env.cluster.query("app", UNSEALED).unwrap();
    assert_ne!(unsealed.trim(), "0", "nothing was stored");
    // seal_store without a claim in its transaction.
    let err = su.query_one("SELECT audit.seal_store('{t1}', '{1}', ARRAY['\\x00'::bytea], '{1}', '{1}', ARRAY['\\x00'::bytea], ARRAY['\\x00'::bytea])", &[]).await.unwrap_err();
    assert!(err.as_db_error().unwrap().message().contains("no seal_claim"), "{err:?}");
    // Another session's claim makes the tenant unavailable to a second sealer.
    let other = common::connect(&env.url).await;
    su.batch_execute("BEGIN").await.unwrap();
    assert!(!su.query("SELECT 1 FROM audit.seal_claim(100)", &[]).await.unwrap().is_empty());
    assert_eq!(seal_once(&other, "audit", 100).await.unwrap(), 0, "a second sealer skips the round");
    su.batch_execute("ROLLBACK").await.unwrap();
    seal_all(&other, "audit").await.unwrap();
    let mut c = common::connect(&env.url).await;
    assert!(verify(&mut c, &VerifyOptions::default()).await.unwrap().ok());
}

/// A batch must keep each tenant's rows together and in id order: one tenant's rows split
/// in two runs, or two of its rows swapped (every seq and prev hash otherwise continuing),
/// are refused before anything is stored.
#[tokio::test]
async fn seal_store_refuses_a_tenant_split_in_two_runs_or_out_of_id_order() {
    let env = common::setup();
    let app = common::connect(&env.app_url).await;
    common::write_invoices(&app, "t1", 2).await;
    common::write_invoices(&app, "t2", 2).await;
    let su = common::connect(&env.url).await;
    // Claimed rows per tenant in id order, as the sealer hands them to seal_store.
    let claimed = "SELECT array_agg(tenant_id ORDER BY tenant_id, id), array_agg(id ORDER BY tenant_id, id) FROM audit.seal_claim(100)";
    type Reorder = fn(&mut Vec<(String, i64)>);
    let cases: [(Reorder, &str); 2] = [
        // t1's first row moved behind t2's rows: t1 comes in two runs.
        (|rows| {
            let first = rows.remove(0);
            rows.push(first);
        }, "splits the rows of tenants t1"),
        // t1's first two rows swapped: seqs and prev hashes continue, ids go backwards.
        (|rows| rows.swap(0, 1), "does not continue the chain of tenants t1"),
    ];
    for (reorder, expected) in cases {
        su.batch_execute("BEGIN").await.unwrap();
        let row = su.query_one(claimed, &[]).await.unwrap();
        let (tenants, ids): (Vec<String>, Vec<i64>) = (row.get(0), row.get(1));
        let mut rows: Vec<(String, i64)> = tenants.into_iter().zip(ids).collect();
        assert!(rows.iter().filter(|(t, _)| t == "t1").count() >= 2);
        reorder(&mut rows);
        // Seqs and prev hashes that continue each tenant's chain in the order given.
        let (mut seqs, mut prevs, mut hashes) = (vec![], vec![], vec![]);
        let mut tips: std::collections::HashMap<String, (i64, Vec<u8>)> = Default::default();
        for (i, (t, _)) in rows.iter().enumerate() {
            let tip = tips.entry(t.clone()).or_insert((0, vec![0u8; 32]));
            let hash = vec![i as u8 + 1; 32];
            seqs.push(tip.0 + 1);
            prevs.push(tip.1.clone());
            hashes.push(hash.clone());
            *tip = (tip.0 + 1, hash);
        }
        let (tenants, ids): (Vec<String>, Vec<i64>) = rows.into_iter().unzip();
        store_refused(&su, Batch { tenants, ids, seqs, prevs, hashes }, expected).await;
    }
    assert_eq!(env.cluster.query("app", "SELECT count(*) FROM audit.head").unwrap().trim(), "0", "no head was stored");
    seal_all(&su, "audit").await.unwrap();
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
    let unsealed = env.cluster.query("app", UNSEALED).unwrap();
    assert_eq!(unsealed.trim(), "0", "the slow writer's row was sealed");
    assert!(floor() > slow_id, "the floor moves on once the writer has ended");
    let mut c = common::connect(&env.url).await;
    let r = verify(&mut c, &VerifyOptions::default()).await.unwrap();
    assert!(r.ok() && r.unsealed == 0, "{:?}", r.findings);
    assert_eq!(r.tenants, 2);
}

/// Sealing rounds on the empty log, between two writes of one transaction and after it
/// commits: both rows end up linked, neither skipped by the floor.
#[tokio::test]
async fn a_sealing_round_between_two_writes_of_one_transaction_skips_neither() {
    let env = common::setup();
    let writer = common::connect(&env.app_url).await;
    let su = common::connect(&env.url).await;
    assert_eq!(seal_once(&su, "audit", 100).await.unwrap(), 0, "an empty log: the floor must not pass id 1");
    writer.batch_execute("BEGIN").await.unwrap();
    writer.batch_execute("SELECT set_config('app.current_tenant', 't1', true); INSERT INTO public.invoices (tenant_id, amount) VALUES ('t1', 1)")
        .await
        .unwrap();
    assert_eq!(seal_once(&su, "audit", 100).await.unwrap(), 0, "nothing is final yet");
    writer.batch_execute("INSERT INTO public.invoices (tenant_id, amount) VALUES ('t1', 2)").await.unwrap();
    assert_eq!(seal_once(&su, "audit", 100).await.unwrap(), 0);
    writer.batch_execute("COMMIT").await.unwrap();
    let mut sealed = 0;
    for _ in 0..3 {
        sealed += seal_once(&su, "audit", 100).await.unwrap();
    }
    assert_eq!(sealed, 2, "{}", env.cluster.query("app", "SELECT row_to_json(s) FROM audit.seal_state s").unwrap());
    let mut c = common::connect(&env.url).await;
    let r = verify(&mut c, &VerifyOptions::default()).await.unwrap();
    assert!(r.ok() && r.unsealed == 0, "{:?}", r.findings);
}

/// Rolled-back writes leave holes in the ids: a window holding some of them seals a short
/// batch and still says that more waits, so a sealer looping on `more` (the CLI, the
/// service's sealer) goes on at once instead of waiting out its period with a backlog.
#[tokio::test]
async fn a_short_batch_over_rolled_back_ids_still_reports_more() {
    let env = common::setup();
    let app = common::connect(&env.app_url).await;
    let su = common::connect(&env.url).await;
    let insert = |n: usize, end: &'static str| {
        format!(
            "BEGIN; SELECT set_config('app.current_tenant', 't1', true);
             INSERT INTO public.invoices (tenant_id, amount) SELECT 't1', g FROM generate_series(1, {n}) g; {end};"
        )
    };
    app.batch_execute(&insert(5, "COMMIT")).await.unwrap();
    app.batch_execute(&insert(5, "ROLLBACK")).await.unwrap();
    app.batch_execute(&insert(5, "COMMIT")).await.unwrap();
    let mut rounds = vec![];
    loop {
        let r = seal_round(&su, "audit", 4).await.unwrap();
        rounds.push((r.sealed, r.more));
        if !r.more {
            break;
        }
    }
    assert_eq!(rounds.iter().map(|r| r.0).sum::<i64>(), 10, "{rounds:?}");
    assert!(rounds.iter().any(|&(n, more)| n < 4 && more), "a short batch with more behind it: {rounds:?}");
    assert_eq!(seal_once(&su, "audit", 4).await.unwrap(), 0);
    let mut c = common::connect(&env.url).await;
    let r = verify(&mut c, &VerifyOptions::default()).await.unwrap();
    assert!(r.ok() && r.unsealed == 0, "{:?}", r.findings);
}

/// A batch as a sealer hands it to seal_store (the hashes serve as payload hashes too).
struct Batch {
    tenants: Vec<String>,
    ids: Vec<i64>,
    seqs: Vec<i64>,
    prevs: Vec<Vec<u8>>,
    hashes: Vec<Vec<u8>>,
}

/// seal_store refuses `b` with a message containing `expected`; ends the transaction. The
/// links go as runs the way a sealer would pack them: a new run wherever the tenant changes
/// or a link does not continue the one before it (seq + 1, prev = its hash).
async fn store_refused(su: &tokio_postgres::Client, b: Batch, expected: &str) {
    let (mut tenants, mut first_seqs, mut run_prevs, mut counts): (Vec<String>, Vec<i64>, Vec<Vec<u8>>, Vec<i32>) =
        (vec![], vec![], vec![], vec![]);
    for i in 0..b.ids.len() {
        let continues = i > 0 && b.tenants[i] == b.tenants[i - 1] && b.seqs[i] == b.seqs[i - 1] + 1 && b.prevs[i] == b.hashes[i - 1];
        if continues {
            *counts.last_mut().unwrap() += 1;
        } else {
            tenants.push(b.tenants[i].clone());
            first_seqs.push(b.seqs[i]);
            run_prevs.push(b.prevs[i].clone());
            counts.push(1);
        }
    }
    let err = su
        .query_one(
            "SELECT audit.seal_store($1, $2, $3, $4, $5, $6, $7)",
            &[&tenants, &first_seqs, &run_prevs, &counts, &b.ids, &b.hashes, &b.hashes],
        )
        .await
        .expect_err(expected);
    let msg = err.as_db_error().map(|d| d.message().to_string()).unwrap_or_default();
    assert!(msg.contains(expected), "{expected}: {msg}");
    su.batch_execute("ROLLBACK").await.unwrap();
}
