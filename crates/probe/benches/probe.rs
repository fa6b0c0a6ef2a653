//! 1,000 tenant tables with data, every operation, on a throwaway cluster.
//! Run: cargo bench -p tenantguard-probe   (prints the wall-clock figure recorded in docs/probe.md)

use std::time::Instant;

use tenantguard_probe::{probe, ProbeOptions};
use tenantguard_rules::Config;
use tenantguard_testkit::{Cluster, ClusterOptions};

const TABLES: usize = 1000;

fn schema() -> String {
    format!(
        r#"
CREATE ROLE app_owner NOLOGIN; CREATE ROLE app_user LOGIN;
GRANT USAGE ON SCHEMA public TO app_user;
CREATE TABLE tenants (id uuid PRIMARY KEY, name text NOT NULL);
INSERT INTO tenants VALUES ('aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa', 'A'), ('bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb', 'B');
ALTER TABLE tenants OWNER TO app_owner;
DO $$
BEGIN
  FOR i IN 1..{TABLES} LOOP
    EXECUTE format('CREATE TABLE t%s (id bigint PRIMARY KEY, tenant_id uuid NOT NULL REFERENCES tenants (id), body text NOT NULL, n int NOT NULL DEFAULT 0)', i);
    EXECUTE format('INSERT INTO t%s SELECT g, CASE WHEN g %% 2 = 0 THEN ''aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa''::uuid ELSE ''bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb''::uuid END, ''row '' || g FROM generate_series(1, 20) g', i);
    EXECUTE format('ALTER TABLE t%s OWNER TO app_owner', i);
    EXECUTE format('ALTER TABLE t%s ENABLE ROW LEVEL SECURITY', i);
    EXECUTE format('ALTER TABLE t%s FORCE ROW LEVEL SECURITY', i);
    EXECUTE format('CREATE POLICY tenant_isolation ON t%s USING (tenant_id = (SELECT current_setting(''app.current_tenant'', true)::uuid))', i);
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON t%s TO app_user', i);
  END LOOP;
END $$;
ANALYZE;
"#
    )
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let cluster = match Cluster::start_with(&ClusterOptions::default().set("max_locks_per_transaction", "256")) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("cannot start a cluster: {e}");
            std::process::exit(2);
        }
    };
    let setup = Instant::now();
    if let Err(e) = cluster.create_database("bench").and_then(|_| cluster.psql("bench", &schema())) {
        eprintln!("cannot build the schema: {e}");
        std::process::exit(2);
    }
    eprintln!("built {TABLES} tenant tables with data in {:.1}s", setup.elapsed().as_secs_f64());
    let config = Config { app_roles: vec!["app_user".into()], tenant_settings: vec!["app.current_tenant".into()], ..Config::default() };
    for connections in [2, 3, 4] {
        let opts = ProbeOptions { url: cluster.url("bench"), app_url: None, config: config.clone(), tenants: None, connections };
        let start = Instant::now();
        match probe(&opts).await {
            Ok(m) => {
                let s = m.summary();
                println!(
                    "probe: {TABLES} tenant tables, {} results ({} leak, {} isolated, {} error, {} skipped), {connections} connections: {:.2}s",
                    m.results.len(),
                    s.leak,
                    s.isolated,
                    s.error,
                    s.skipped,
                    start.elapsed().as_secs_f64()
                );
            }
            Err(e) => {
                eprintln!("probe failed: {e:#}");
                std::process::exit(1);
            }
        }
    }
}
