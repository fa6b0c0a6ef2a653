//! Dropping old months keeps every chain verifiable through the recorded checkpoints.
mod common;

use tenantguard_auditlog::ops::seal_all;
use tenantguard_auditlog::verify::{verify, VerifyOptions};

#[tokio::test]
async fn dropping_a_month_leaves_checkpoints_and_chains_verify() {
    drop_a_month(true).await;
}

/// Sealed in one batch, each tenant's old and new links share a run that straddles the
/// month: retention keeps the run's later links, continuing from the checkpoint.
#[tokio::test]
async fn dropping_a_month_cuts_a_run_that_straddles_it() {
    drop_a_month(false).await;
}

async fn drop_a_month(seal_between: bool) {
    let env = common::setup();
    // An old month, created the way ensure_partitions does, and rows that fall in it.
    env.cluster
        .psql(
            "app",
            "BEGIN; SET LOCAL ROLE audit_owner;
             CREATE TABLE audit.log_y2020m01 PARTITION OF audit.log FOR VALUES FROM ('2020-01-01 00:00+00') TO ('2020-02-01 00:00+00');
             SELECT audit.guard_partition('audit.log_y2020m01'::regclass);
             COMMIT;
             INSERT INTO audit.log (tenant_id, actor, action, entity, entity_id, new_value, at)
             SELECT 't' || (g % 2), 'old', 'INSERT', 'public.invoices', g::text, jsonb_build_object('g', g), '2020-01-10 00:00+00'::timestamptz + g * interval '1 minute'
               FROM generate_series(1, 50) g;",
        )
        .unwrap();
    let su = common::connect(&env.url).await;
    if seal_between {
        seal_all(&su, "audit").await.unwrap();
    }
    let app = common::connect(&env.app_url).await;
    common::write_invoices(&app, "t0", 5).await;
    common::write_invoices(&app, "t1", 5).await;
    seal_all(&su, "audit").await.unwrap();

    let dropped: i32 = su.query_one("SELECT audit.drop_partitions_before('2020-03-01')", &[]).await.unwrap().get(0);
    assert_eq!(dropped, 1);
    let checkpoints = env.cluster.query("app", "SELECT string_agg(tenant_id || ':' || seq, ',' ORDER BY tenant_id) FROM audit.checkpoint").unwrap();
    assert_eq!(checkpoints.trim(), "t0:25,t1:25");
    let mut c = common::connect(&env.url).await;
    let r = verify(&mut c, &VerifyOptions::default()).await.unwrap();
    assert!(r.ok(), "{:?}", r.findings);
    assert!(r.events > 0 && r.heads.iter().all(|h| h.seq > 25));
    let runs = env.cluster.query("app", "SELECT string_agg(tenant_id || ':' || first_seq, ',' ORDER BY tenant_id) FROM audit.link_run").unwrap();
    if !seal_between {
        assert_eq!(runs.trim(), "t0:26,t1:26", "each straddling run kept from its first later link");
    }
}
