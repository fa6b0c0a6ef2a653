//! verify finds each kind of tampering at its row, tells erased from tampered, and an
//! anchor catches a superuser who recomputed the chain.
mod common;

use tenantguard_auditlog::anchor;
use tenantguard_auditlog::ops::{erase, seal_all};
use tenantguard_auditlog::verify::{verify, verify_with, FindingKind, Report, VerifyOptions};

async fn logged_env() -> common::Env {
    let env = common::setup();
    let app = common::connect(&env.app_url).await;
    for t in ["t1", "t2", "t3"] {
        common::write_invoices(&app, t, 20).await;
    }
    seal_all(&common::connect(&env.url).await, "audit").await.unwrap();
    env
}

/// verify over one connection, and over three at once (verify_with, as the CLI does with
/// --connections): every scenario must give the same report either way.
async fn check(env: &common::Env, opts: &VerifyOptions) -> Report {
    let mut c = common::connect(&env.url).await;
    let one = verify(&mut c, opts).await.expect("verify runs");
    let helpers = vec![common::connect(&env.url).await, common::connect(&env.url).await];
    let three = verify_with(&mut c, &helpers, opts).await.expect("verify runs over three connections");
    // Tenants come in the order their rows arrive: compare as sorted sets.
    let digest = |r: &Report| {
        let sorted = |v: Vec<serde_json::Value>| {
            let mut v: Vec<String> = v.iter().map(|x| x.to_string()).collect();
            v.sort();
            v
        };
        let f = sorted(r.findings.iter().map(|x| serde_json::to_value(x).unwrap()).collect());
        let h = sorted(r.heads.iter().map(|x| serde_json::to_value(x).unwrap()).collect());
        (r.tenants, r.events, r.erased, r.unsealed, f, h)
    };
    assert_eq!(digest(&one), digest(&three));
    // The helpers' repeatable-read transactions ended: a new statement runs at the default level.
    for h in &helpers {
        let level: String = h.query_one("SHOW transaction_isolation", &[]).await.unwrap().get(0);
        assert_eq!(level, "read committed", "a helper was left inside verify's transaction");
    }
    one
}

fn kinds(r: &Report, tenant: &str) -> Vec<(Option<i64>, FindingKind)> {
    r.findings.iter().filter(|f| f.tenant == tenant).map(|f| (f.seq, f.kind)).collect()
}

#[tokio::test]
async fn a_clean_log_verifies() {
    let env = logged_env().await;
    let r = check(&env, &VerifyOptions::default()).await;
    assert!(r.ok(), "{:?}", r.findings);
    assert_eq!(r.tenants, 3);
    let total: u64 = env.cluster.query("app", "SELECT count(*) FROM audit.log").unwrap().trim().parse().unwrap();
    assert_eq!(r.events, total);
    assert!(total > 60);
    assert!(r.holes.iter().any(|h| h.code == "superuser"));
    assert!(!r.holes.iter().any(|h| h.code == "event_trigger" || h.code == "replica_mode" || h.code == "privileges"));
}

#[tokio::test]
async fn each_tampering_is_found_at_its_row() {
    let env = logged_env().await;
    let row = common::row_of;
    common::tamper(&env, &format!("UPDATE audit.log SET actor = 'mallory' WHERE id = {}", row("t1", 5)));
    common::tamper(&env, &format!("UPDATE audit.log SET new_value = new_value || '{{\"amount\": 0}}' WHERE id = {}", row("t1", 8)));
    common::tamper(&env, &format!("DELETE FROM audit.log WHERE id IN ({}, {})", row("t2", 10), row("t2", 11)));
    // Reorder: the links of seq 3 and 4 swap their rows.
    common::tamper(
        &env,
        &format!(
            "CREATE TEMP TABLE swap AS SELECT seq, id FROM audit.link WHERE tenant_id = 't3' AND seq IN (3, 4);
             {}; {}",
            common::link_set("t3", 3, "id", "(SELECT id FROM swap WHERE seq = 4)"),
            common::link_set("t3", 4, "id", "(SELECT id FROM swap WHERE seq = 3)")
        ),
    );
    let r = check(&env, &VerifyOptions::default()).await;
    let t1 = kinds(&r, "t1");
    assert!(t1.contains(&(Some(5), FindingKind::RowEdited)), "{t1:?}");
    assert!(t1.contains(&(Some(8), FindingKind::PayloadEdited)), "{t1:?}");
    assert_eq!(t1.len(), 2, "only the edited rows: {t1:?}");
    assert_eq!(kinds(&r, "t2"), vec![(Some(10), FindingKind::MissingRows)]);
    let t3 = kinds(&r, "t3");
    assert!(t3.contains(&(Some(3), FindingKind::RowEdited)) && t3.contains(&(Some(4), FindingKind::RowEdited)), "{t3:?}");
}

/// verify joins links to rows itself: a link naming another link's row, and a stored hash
/// that is not 32 bytes long, are each found where they are.
#[tokio::test]
async fn forged_links_and_malformed_hashes_are_found() {
    let env = logged_env().await;
    common::tamper(
        &env,
        &format!(
            "{}; {}",
            common::link_set("t1", 6, "id", &common::row_of("t1", 5)),
            common::link_set("t2", 4, "hash", "'\\x010203'")
        ),
    );
    let r = check(&env, &VerifyOptions::default()).await;
    let t1 = kinds(&r, "t1");
    assert!(t1.contains(&(Some(6), FindingKind::RowEdited)), "{t1:?}");
    assert!(t1.contains(&(None, FindingKind::Unlinked)), "seq 6's own row is in no chain now: {t1:?}");
    // In a run a link's prev is the hash before it: seq 5 is hashed over the cut hash too.
    assert_eq!(kinds(&r, "t2"), vec![(Some(4), FindingKind::RowEdited), (Some(5), FindingKind::RowEdited)]);
    assert!(kinds(&r, "t3").is_empty());
}

#[tokio::test]
async fn a_truncated_tail_and_an_inserted_row_are_found() {
    let env = logged_env().await;
    common::tamper(
        &env,
        &format!(
            "DELETE FROM audit.log WHERE id IN (SELECT id FROM audit.link WHERE tenant_id = 't1' AND seq > 25); {}",
            common::cut_links("t1", 25)
        ),
    );
    // A forged row under an id a link already covers, and one under an id below the floor
    // that no link covers.
    common::tamper(
        &env,
        &format!(
            "INSERT INTO audit.log (id, tenant_id, action, entity, at, txid)
             SELECT id, tenant_id, 'DELETE', entity, at, txid FROM audit.log WHERE id = {};
             INSERT INTO audit.log (id, tenant_id, action, entity) VALUES (-5, 't3', 'DELETE', 'public.invoices')",
            common::row_of("t2", 7)
        ),
    );
    let r = check(&env, &VerifyOptions::default()).await;
    assert_eq!(kinds(&r, "t1"), vec![(Some(26), FindingKind::TruncatedTail)]);
    let t2 = kinds(&r, "t2");
    assert!(t2.contains(&(Some(7), FindingKind::DuplicateSeq)), "{t2:?}");
    assert_eq!(kinds(&r, "t3"), vec![(None, FindingKind::Unlinked)]);
}

#[tokio::test]
async fn an_anchor_catches_a_recomputed_chain() {
    let env = logged_env().await;
    let clean = check(&env, &VerifyOptions::default()).await;
    let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
    let file = anchor::sign(&key, "audit", &clean.heads);
    let heads = anchor::check(&file, Some(&key.verifying_key())).expect("signature verifies");
    // The superuser edits a payload and recomputes every hash and the head after it.
    common::tamper(
        &env,
        "UPDATE audit.log SET new_value = '{\"amount\": 1}' WHERE id = (SELECT id FROM audit.link WHERE tenant_id = 't1' AND seq = 3);
         DO $$ DECLARE r record; prev bytea; ph bytea; h bytea; BEGIN
           SELECT hash INTO prev FROM audit.link WHERE tenant_id = 't1' AND seq = 2;
           FOR r IN SELECT l.*, k.seq FROM audit.link k JOIN audit.log l ON l.id = k.id
                     WHERE k.tenant_id = 't1' AND k.seq >= 3 ORDER BY k.seq LOOP
             ph := audit.payload_hash(r.old_value, r.new_value);
             h := audit.link_hash(prev, r.tenant_id, r.seq, r.actor, r.action, r.entity, r.entity_id, r.at, r.txid, ph);
             UPDATE audit.link_run SET payload_hashes[r.seq - first_seq + 1] = ph, hashes[r.seq - first_seq + 1] = h,
                    prev_hash = CASE WHEN first_seq = r.seq THEN prev ELSE prev_hash END
              WHERE tenant_id = 't1' AND r.seq BETWEEN first_seq AND first_seq + cardinality(ids) - 1;
             prev := h;
           END LOOP;
           UPDATE audit.head SET hash = prev WHERE tenant_id = 't1';
         END $$",
    );
    assert!(check(&env, &VerifyOptions::default()).await.ok(), "without an anchor the rewrite verifies");
    let r = check(&env, &VerifyOptions { anchor: Some(heads.clone()), ..VerifyOptions::default() }).await;
    let t1_head = clean.heads.iter().find(|h| h.tenant == "t1").unwrap().seq;
    assert_eq!(kinds(&r, "t1"), vec![(Some(t1_head), FindingKind::AnchorMismatch)]);
    // Deleting the tail together with the head is also caught by the anchor.
    common::tamper(
        &env,
        &format!(
            "DELETE FROM audit.log WHERE id IN (SELECT id FROM audit.link WHERE tenant_id = 't2' AND seq > 20);
             {};
             UPDATE audit.head SET seq = 20, hash = (SELECT hash FROM audit.link WHERE tenant_id = 't2' AND seq = 20) WHERE tenant_id = 't2'",
            common::cut_links("t2", 20)
        ),
    );
    let r = check(&env, &VerifyOptions { anchor: Some(heads), ..VerifyOptions::default() }).await;
    assert_eq!(kinds(&r, "t2"), vec![(Some(21), FindingKind::AnchorTruncated)]);
    // A forged anchor does not pass the signature check.
    let mut forged = file.clone();
    forged.heads[0].seq += 1;
    assert!(anchor::check(&forged, Some(&key.verifying_key())).is_err());
}

#[tokio::test]
async fn erased_payloads_still_verify_and_are_told_from_tampering() {
    let env = logged_env().await;
    let su = common::connect(&env.url).await;
    let app = common::connect(&env.app_url).await;
    common::write_invoices(&app, "t1", 2).await; // unsealed rows: erase seals them first
    let n = erase(&su, "audit", "t1", "GDPR request 17", Some("public.invoices"), Some("4")).await.unwrap();
    assert!(n >= 1);
    let t2 = env.cluster.query("app", "SELECT count(*) FROM audit.log WHERE tenant_id = 't2'").unwrap().trim().parse::<i64>().unwrap();
    let n = erase(&su, "audit", "t2", "tenant offboarded", None, None).await.unwrap();
    assert_eq!(n, t2);
    seal_all(&su, "audit").await.unwrap();
    let r = check(&env, &VerifyOptions::default()).await;
    assert!(r.ok(), "{:?}", r.findings);
    assert_eq!(r.erased, t2 as u64 + n_t1(&env));
    // Removing a payload by hand (no erasure recorded) is tampering.
    common::tamper(&env, &format!("UPDATE audit.log SET old_value = NULL, new_value = NULL WHERE id = {}", common::row_of("t3", 2)));
    let r = check(&env, &VerifyOptions::default()).await;
    assert_eq!(kinds(&r, "t3"), vec![(Some(2), FindingKind::PayloadRemoved)]);
}

fn n_t1(env: &common::Env) -> u64 {
    env.cluster.query("app", "SELECT count(*) FROM audit.log WHERE tenant_id = 't1' AND erased_at IS NOT NULL").unwrap().trim().parse().unwrap()
}

#[tokio::test]
async fn unsealed_rows_past_the_bound_are_a_finding() {
    let env = logged_env().await;
    let app = common::connect(&env.app_url).await;
    common::write_invoices(&app, "t9", 1).await;
    let r = check(&env, &VerifyOptions { seal_bound_secs: 0.0, ..VerifyOptions::default() }).await;
    assert_eq!(kinds(&r, "t9"), vec![(None, FindingKind::UnsealedOverdue)]);
    assert!(r.holes.iter().any(|h| h.code == "unsealed"));
}
