//! A throwaway cluster with a business table, an app role and the generated log.
#![allow(dead_code)]

use tenantguard_auditlog::scaffold::{render, Capture, CapturedTable, ScaffoldConfig};
use tenantguard_testkit::{Cluster, ClusterOptions};
use tokio_postgres::{Client, NoTls};

pub struct Env {
    pub cluster: Cluster,
    pub url: String,
    pub app_url: String,
}

pub fn config() -> ScaffoldConfig {
    ScaffoldConfig {
        app_roles: vec!["app_user".into()],
        tables: vec![CapturedTable::parse("public.invoices", "tenant_id").unwrap()],
        ..ScaffoldConfig::default()
    }
}

/// A cluster that can load the C capture trigger this build compiled.
pub fn start_cluster(capture: Capture) -> Cluster {
    let mut options = ClusterOptions::default();
    if capture == Capture::C {
        let path = tenantguard_auditlog::capture_library_path()
            .unwrap_or_else(|why| panic!("the C capture trigger is needed by this test and was not built: {why}"));
        options = options.set("dynamic_library_path", &path);
    }
    Cluster::start_with(&options).expect("start a throwaway cluster")
}

pub fn setup() -> Env {
    setup_with(Capture::Plpgsql)
}

pub fn setup_with(capture: Capture) -> Env {
    let cluster = start_cluster(capture);
    cluster.create_database("app").unwrap();
    cluster
        .psql(
            "app",
            "CREATE ROLE app_user LOGIN PASSWORD 'pw';
             CREATE TABLE public.invoices (id bigserial PRIMARY KEY, tenant_id text NOT NULL, amount numeric NOT NULL, note text);
             GRANT SELECT, INSERT, UPDATE, DELETE ON public.invoices TO app_user;
             GRANT USAGE ON SEQUENCE public.invoices_id_seq TO app_user;",
        )
        .unwrap();
    cluster.psql("app", &render(&ScaffoldConfig { capture, ..config() })).expect("the migration applies");
    let url = cluster.url("app");
    let app_url = cluster.role_url("app_user", Some("pw"), "app");
    Env { cluster, url, app_url }
}

pub async fn connect(url: &str) -> Client {
    let (client, conn) = tokio_postgres::connect(url, NoTls).await.expect("connect");
    tokio::spawn(async move {
        let _ = conn.await;
    });
    client
}

/// Business writes as the app would do them: tenant and actor set for the transaction.
pub async fn write_invoices(client: &Client, tenant: &str, n: usize) {
    let sql = format!(
        "BEGIN; SET LOCAL app.current_tenant = '{tenant}'; SET LOCAL app.current_actor = 'user@{tenant}';
         INSERT INTO public.invoices (tenant_id, amount, note) SELECT '{tenant}', g, 'n' || g FROM generate_series(1, {n}) g;
         UPDATE public.invoices SET amount = amount + 1 WHERE tenant_id = '{tenant}' AND id % 3 = 0;
         DELETE FROM public.invoices WHERE tenant_id = '{tenant}' AND id % 7 = 0;
         COMMIT;"
    );
    client.batch_execute(&sql).await.expect("business writes");
}

/// What a superuser attacker does: switch the guards off, change rows, switch them back.
/// The log row id of a tenant's link `seq`, as SQL.
pub fn row_of(tenant: &str, seq: i64) -> String {
    format!("(SELECT id FROM audit.link WHERE tenant_id = '{tenant}' AND seq = {seq})")
}

/// SQL that sets one field of a tenant's link `seq` inside its run (`id`, `hash`,
/// `payload_hash`, or `prev_hash`: the run's own for its first link, else the hash of the
/// link before it, which is what a link's prev is in a run).
pub fn link_set(tenant: &str, seq: i64, field: &str, value: &str) -> String {
    let target = match field {
        "id" => format!("ids[{seq} - first_seq + 1]"),
        "hash" => format!("hashes[{seq} - first_seq + 1]"),
        "payload_hash" => format!("payload_hashes[{seq} - first_seq + 1]"),
        "prev_hash" => {
            return format!(
                "UPDATE audit.link_run SET prev_hash = {value} WHERE tenant_id = '{tenant}' AND first_seq = {seq};
                 UPDATE audit.link_run SET hashes[{seq} - first_seq] = {value}
                  WHERE tenant_id = '{tenant}' AND {seq} > first_seq AND {seq} < first_seq + cardinality(ids)"
            )
        }
        other => panic!("no link field {other}"),
    };
    format!(
        "UPDATE audit.link_run SET {target} = {value}
          WHERE tenant_id = '{tenant}' AND {seq} BETWEEN first_seq AND first_seq + cardinality(ids) - 1"
    )
}

/// SQL that deletes a tenant's links after `keep` (its runs shortened or gone).
pub fn cut_links(tenant: &str, keep: i64) -> String {
    format!(
        "DELETE FROM audit.link_run WHERE tenant_id = '{tenant}' AND first_seq > {keep};
         UPDATE audit.link_run SET ids = ids[1:{keep} - first_seq + 1], payload_hashes = payload_hashes[1:{keep} - first_seq + 1],
                hashes = hashes[1:{keep} - first_seq + 1]
          WHERE tenant_id = '{tenant}' AND {keep} BETWEEN first_seq AND first_seq + cardinality(ids) - 2"
    )
}

pub fn tamper(env: &Env, sql: &str) {
    let script = format!(
        "ALTER EVENT TRIGGER audit_guard_ddl DISABLE;
         ALTER TABLE audit.log DISABLE TRIGGER audit_guard_update, DISABLE TRIGGER audit_guard_delete;
         ALTER TABLE audit.head DISABLE TRIGGER audit_guard_update, DISABLE TRIGGER audit_guard_delete;
         ALTER TABLE audit.link_run DISABLE TRIGGER audit_guard_update, DISABLE TRIGGER audit_guard_delete;
         {sql};
         ALTER TABLE audit.log ENABLE ALWAYS TRIGGER audit_guard_update, ENABLE ALWAYS TRIGGER audit_guard_delete;
         ALTER TABLE audit.head ENABLE ALWAYS TRIGGER audit_guard_update, ENABLE ALWAYS TRIGGER audit_guard_delete;
         ALTER TABLE audit.link_run ENABLE ALWAYS TRIGGER audit_guard_update, ENABLE ALWAYS TRIGGER audit_guard_delete;
         ALTER EVENT TRIGGER audit_guard_ddl ENABLE ALWAYS;"
    );
    env.cluster.psql("app", &script).expect("tampering as superuser");
}
