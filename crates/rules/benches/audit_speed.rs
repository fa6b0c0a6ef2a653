//! Audit speed: catalog read + every rule, excluding connection set-up.
//!
//!   cargo bench -p tenantguard-rules --bench audit_speed
//!
//! Builds, in a throwaway cluster, (1) a shared-schema database with 1,000 tenant tables and
//! 2,000 policies and (2) a schema-per-tenant database with 10,000 tables (2,000 schemas × 5),
//! then times `read_snapshot` + `tenantguard_rules::run` several times on one open connection
//! and prints the median. Under `cargo test --all-targets` it runs a tiny smoke size instead.

use std::time::{Duration, Instant};

use tenantguard_catalog::reader::connect;
use tenantguard_catalog::{read_snapshot, ReadOptions};
use tenantguard_rules::Config;
use tenantguard_testkit::Cluster;

/// Shared schema: `tables` tenant tables, each with two policies, an index, a child FK and grants.
pub fn shared_schema(tables: usize) -> String {
    let mut sql = String::from(
        "CREATE ROLE app_owner NOLOGIN; CREATE ROLE app_user LOGIN;\n\
         CREATE TABLE tenants (id uuid PRIMARY KEY, name text);\n\
         ALTER TABLE tenants OWNER TO app_owner;\n",
    );
    for i in 0..tables {
        let flawed = i % 10 == 0;
        sql.push_str(&format!(
            "CREATE TABLE t{i} (id bigserial, tenant_id uuid NOT NULL REFERENCES tenants (id), parent_id bigint, name text, amount numeric, created_at timestamptz DEFAULT now(), PRIMARY KEY (tenant_id, id));\n\
             CREATE INDEX t{i}_created ON t{i} (tenant_id, created_at);\n\
             ALTER TABLE t{i} OWNER TO app_owner;\n\
             ALTER TABLE t{i} ENABLE ROW LEVEL SECURITY; ALTER TABLE t{i} FORCE ROW LEVEL SECURITY;\n\
             CREATE POLICY iso ON t{i} USING (tenant_id = (SELECT current_setting('app.current_tenant', true)::uuid));\n\
             CREATE POLICY {kind} ON t{i} FOR SELECT USING ({pred});\n\
             GRANT SELECT, INSERT, UPDATE, DELETE ON t{i} TO app_user;\n",
            kind = if flawed { "wide" } else { "guard" },
            pred = if flawed { "name = 'public'".to_string() } else { "tenant_id = (SELECT current_setting('app.current_tenant', true)::uuid)".to_string() },
        ));
    }
    sql
}

/// Schema per tenant: `schemas` schemas with the same 5 tables, one role per tenant.
pub fn schema_per_tenant(schemas: usize) -> String {
    let mut sql = String::new();
    for s in 0..schemas {
        sql.push_str(&format!("CREATE SCHEMA tenant_{s}; CREATE ROLE tenant_{s}_role;\nGRANT USAGE ON SCHEMA tenant_{s} TO tenant_{s}_role;\n"));
        for t in ["customers", "invoices", "lines", "payments", "notes"] {
            sql.push_str(&format!("CREATE TABLE tenant_{s}.{t} (id bigserial PRIMARY KEY, ref bigint, body text, created_at timestamptz DEFAULT now());\n"));
        }
        sql.push_str(&format!("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA tenant_{s} TO tenant_{s}_role;\n"));
    }
    sql
}

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

struct Timing {
    total: Duration,
    read: Duration,
    rules: Duration,
    relations: usize,
    findings: usize,
}

async fn time_audit(cluster: &Cluster, db: &str, runs: usize) -> Timing {
    let client = connect(&cluster.url(db)).await.expect("connect");
    let config = Config::default();
    let (mut total, mut read, mut rules) = (Vec::new(), Vec::new(), Vec::new());
    let mut counts = (0, 0);
    for _ in 0..runs {
        let start = Instant::now();
        let snapshot = read_snapshot(&client, &ReadOptions::default()).await.expect("snapshot");
        let mid = Instant::now();
        let findings = tenantguard_rules::run(&snapshot, &config);
        let end = Instant::now();
        total.push(end - start);
        read.push(mid - start);
        rules.push(end - mid);
        counts = (snapshot.relations.len(), findings.len());
    }
    Timing { total: median(total), read: median(read), rules: median(rules), relations: counts.0, findings: counts.1 }
}

fn report(label: &str, t: &Timing) {
    println!(
        "{label}: {} relations: median {:.3}s (catalog read {:.3}s + rules {:.3}s), {} findings",
        t.relations,
        t.total.as_secs_f64(),
        t.read.as_secs_f64(),
        t.rules.as_secs_f64(),
        t.findings
    );
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (tables, schemas, runs) = if full { (1000, 2000, 7) } else { (20, 10, 1) };
    let cluster = Cluster::start().expect("cluster");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();

    cluster.create_database("shared").unwrap();
    let t = Instant::now();
    cluster.psql("shared", &shared_schema(tables)).expect("generate shared schema");
    eprintln!("generated {tables} tenant tables / {} policies in {:.1}s", tables * 2, t.elapsed().as_secs_f64());
    let t = rt.block_on(time_audit(&cluster, "shared", runs));
    report(&format!("audit, shared schema: {tables} tenant tables, {} policies", tables * 2), &t);

    cluster.create_database("per_tenant").unwrap();
    let t = Instant::now();
    cluster.psql("per_tenant", &schema_per_tenant(schemas)).expect("generate schemas");
    eprintln!("generated {} tables in {schemas} schemas in {:.1}s", schemas * 5, t.elapsed().as_secs_f64());
    let t = rt.block_on(time_audit(&cluster, "per_tenant", runs));
    report(&format!("audit, schema per tenant: {} tables in {schemas} schemas", schemas * 5), &t);
}
