//! 10,000 requests alternating 50 tenants through PgBouncer in transaction-pooling mode
//! over 4 server connections, with two job workers running at the same time: no row of
//! another tenant is ever returned or written.

mod common;

use std::fs;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use invoicing::{router, AppConfig, AppState};
use serde_json::json;
use tenantguard_runtime::metrics::TierMetrics;
use tenantguard_runtime::{TenantPool, TenantPoolOptions};

struct Bouncer {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Bouncer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_pgbouncer(pg_port: u16) -> Bouncer {
    let dir = tempfile::tempdir().unwrap();
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let d = dir.path().display();
    fs::write(dir.path().join("userlist.txt"), "\"invoicing_app\" \"invoicing-dev-password\"\n").unwrap();
    fs::write(
        dir.path().join("pgbouncer.ini"),
        format!(
            "[databases]\n{DB} = host=127.0.0.1 port={pg_port} dbname={DB}\n\
             [pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n\
             auth_type = trust\nauth_file = {d}/userlist.txt\npool_mode = transaction\n\
             default_pool_size = 4\nmin_pool_size = 0\nreserve_pool_size = 0\nmax_client_conn = 500\n\
             ignore_startup_parameters = extra_float_digits,options\nlogfile = {d}/pgbouncer.log\n"
        ),
    )
    .unwrap();
    let mut command = Command::new("/usr/sbin/pgbouncer");
    command.arg(dir.path().join("pgbouncer.ini")).stdout(Stdio::null()).stderr(Stdio::null());
    // PgBouncer refuses to run as root, like the postmaster.
    if nix::unistd::Uid::effective().is_root() {
        let user = nix::unistd::User::from_name("postgres").unwrap().expect("postgres OS user");
        nix::unistd::chown(dir.path(), Some(user.uid), Some(user.gid)).unwrap();
        command.uid(user.uid.as_raw()).gid(user.gid.as_raw());
    }
    let child = command.spawn().expect("start pgbouncer");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "pgbouncer did not start: {}", fs::read_to_string(dir.path().join("pgbouncer.log")).unwrap_or_default());
        std::thread::sleep(Duration::from_millis(20));
    }
    Bouncer { child, port, _dir: dir }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_requests_fifty_tenants_four_server_connections() {
    let cluster = cluster(Default::default());
    migrate(&cluster).await;
    let bouncer = start_pgbouncer(cluster.port());
    let url = format!("postgres://invoicing_app:invoicing-dev-password@127.0.0.1:{}/{DB}", bouncer.port);
    let options = TenantPoolOptions { pgbouncer: true, max_connections: 40, ..Default::default() };
    let pool = TenantPool::connect(&url, options).await.expect("pool through pgbouncer");
    let app = router(AppState { pool: pool.clone(), metrics: Arc::new(TierMetrics::default()) }, &AppConfig::new(SECRET)).unwrap();

    let tenants: Arc<Vec<String>> = Arc::new((1..=50).map(tenant).collect());
    let mut customers = Vec::new();
    for t in tenants.iter() {
        customers.push(onboard(&app, t).await);
    }
    let customers = Arc::new(customers);

    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let worker = invoicing::jobs::worker(pool.clone());
            let stop = stop.clone();
            tokio::spawn(async move {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    worker.run_once().await.expect("worker pass");
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            })
        })
        .collect();
    // The sealer, as the owner would run it (`tenantguard audit-log seal --every-ms 50`),
    // straight to PostgreSQL rather than through PgBouncer.
    let sealer = spawn_sealer(&cluster, Duration::from_millis(50), stop.clone());

    let started = Instant::now();
    const REQUESTS: usize = 10_000;
    const CLIENTS: usize = 32;
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let (app, tenants, customers) = (app.clone(), tenants.clone(), customers.clone());
            tokio::spawn(async move {
                let mut foreign = 0usize;
                for i in (c..REQUESTS).step_by(CLIENTS) {
                    let t = i % tenants.len();
                    let me = tenants[t].as_str();
                    let (status, body) = match i % 4 {
                        0 => as_tenant(&app, me, "POST", "/customers", Some(json!({ "name": format!("c-{me}-{i}") }))).await,
                        1 => as_tenant(&app, me, "GET", "/customers", None).await,
                        2 => as_tenant(&app, me, "POST", "/invoices", Some(invoice_body(&customers[t], &format!("{i}")))).await,
                        _ => as_tenant(&app, me, "GET", "/invoices", None).await,
                    };
                    assert!(status.is_success(), "request {i}: {status} {body}");
                    let rows = body.as_array().cloned().unwrap_or_else(|| vec![body.clone()]);
                    foreign += rows.iter().filter(|r| r["tenant_id"] != me).count();
                    foreign += rows.iter().filter(|r| r["name"].as_str().is_some_and(|n| !n.contains(me))).count();
                }
                foreign
            })
        })
        .collect();
    let mut foreign = 0;
    for client in clients {
        foreign += client.await.unwrap();
    }
    let elapsed = started.elapsed();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for w in workers {
        w.await.unwrap();
    }
    let sealed_while_running = sealer.await.unwrap();
    let pass = invoicing::jobs::worker(pool.clone()).run_once().await.unwrap();
    eprintln!("{REQUESTS} requests in {elapsed:?} ({:.0}/s); final worker pass {pass:?}; {sealed_while_running} audit events sealed while running", REQUESTS as f64 / elapsed.as_secs_f64());
    assert_eq!(foreign, 0, "rows of another tenant returned");

    // Written data, checked as the superuser: every row carries the tenant that wrote it.
    let q = |sql: &str| cluster.query(DB, sql).unwrap().trim().to_string();
    assert_eq!(q("SELECT count(*) FROM customers WHERE name NOT LIKE 'c-' || tenant_id::text || '%'"), "0");
    assert_eq!(q("SELECT count(*) FROM audit.log a WHERE a.action = 'customer.created' AND NOT EXISTS (SELECT 1 FROM customers c WHERE c.tenant_id::text = a.tenant_id AND c.id::text = a.entity_id)"), "0");
    assert_eq!(q("SELECT count(*) FROM invoices"), (REQUESTS / 4).to_string());
    assert_eq!(q("SELECT count(*) FROM jobs WHERE status = 'done'"), (REQUESTS / 4).to_string());
    assert_eq!(q("SELECT count(*) FROM invoice_exports"), (REQUESTS / 4).to_string(), "every job ran exactly once");
    assert_eq!(q("SELECT count(*) FROM audit.log WHERE action = 'invoice.exported'"), (REQUESTS / 4).to_string());
    assert_eq!(q("SELECT count(*) FROM audit.log WHERE action = 'invoice.created'"), (REQUESTS / 4).to_string());
    // Every event landed in its writer's chain; sealed by the owner, every chain verifies.
    assert_eq!(q("SELECT count(*) FROM audit.log a WHERE a.action = 'invoice.created' AND NOT EXISTS (SELECT 1 FROM invoices i WHERE i.tenant_id::text = a.tenant_id AND i.id::text = a.entity_id)"), "0");
    let report = seal_and_verify(&cluster).await;
    assert!(report.ok(), "{:?}", report.findings);
    assert_eq!((report.tenants, report.unsealed), (tenants.len(), 0));
    assert_eq!(report.events.to_string(), q("SELECT count(*) FROM audit.log"));
    // PgBouncer really multiplexed onto at most 4 server connections.
    let servers = q("SELECT count(*) FROM pg_stat_activity WHERE usename = 'invoicing_app'");
    assert!(servers.parse::<i32>().unwrap() <= 4, "{servers} server connections");
    assert!(elapsed < Duration::from_secs(120));
}
