//! Pooling, for real: PgBouncer in transaction mode in front of a throwaway cluster, many
//! interleaved clients. Session-level context (`SET`, `set_config(..., false)`) hands one
//! tenant's rows to another client; `set_config(..., true)` inside the transaction does
//! not; and the probe flags the former.

mod common;

use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use tenantguard_probe::{Operation as Op, Outcome};
use tokio_postgres::{NoTls, SimpleQueryMessage};

const SCHEMA: &str = r#"
CREATE ROLE app_owner NOLOGIN; CREATE ROLE app_user LOGIN;
GRANT USAGE ON SCHEMA public TO app_user;
CREATE TABLE invoices (id int PRIMARY KEY, tenant_id text NOT NULL, total int NOT NULL);
INSERT INTO invoices SELECT g, CASE WHEN g % 2 = 0 THEN 'tenant-a' ELSE 'tenant-b' END, g FROM generate_series(1, 20) g;
ALTER TABLE invoices OWNER TO app_owner;
GRANT SELECT ON invoices TO app_user;
ALTER TABLE invoices ENABLE ROW LEVEL SECURITY; ALTER TABLE invoices FORCE ROW LEVEL SECURITY;
CREATE POLICY t ON invoices USING (tenant_id = current_setting('app.current_tenant', true));
CREATE FUNCTION set_tenant_session(t text) RETURNS void LANGUAGE sql AS $$ SELECT set_config('app.current_tenant', t, false) $$;
CREATE FUNCTION set_tenant_local(t text) RETURNS void LANGUAGE sql AS $$ SELECT set_config('app.current_tenant', t, true) $$;
"#;

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

fn start_pgbouncer(pg_port: u16, db: &str) -> Bouncer {
    let dir = tempfile::tempdir().unwrap();
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let d = dir.path().display();
    std::fs::write(dir.path().join("users.txt"), "\"app_user\" \"\"\n\"postgres\" \"\"\n").unwrap();
    std::fs::write(
        dir.path().join("pgbouncer.ini"),
        format!(
            "[databases]\n{db} = host=127.0.0.1 port={pg_port} dbname={db}\n\n[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {port}\n\
             unix_socket_dir =\nauth_type = trust\nauth_file = {d}/users.txt\npool_mode = transaction\ndefault_pool_size = 2\n\
             max_client_conn = 200\nlogfile = {d}/pgbouncer.log\npidfile = {d}/pgbouncer.pid\n\
             ignore_startup_parameters = extra_float_digits,options\n"
        ),
    )
    .unwrap();
    let mut cmd = Command::new("/usr/sbin/pgbouncer");
    cmd.arg(dir.path().join("pgbouncer.ini")).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
    // PgBouncer refuses to run as root: drop to the postgres OS user.
    if nix::unistd::geteuid().is_root() {
        let user = nix::unistd::User::from_name("postgres").unwrap().expect("a postgres OS user");
        for p in [dir.path().to_path_buf(), dir.path().join("users.txt"), dir.path().join("pgbouncer.ini")] {
            nix::unistd::chown(&p, Some(user.uid), Some(user.gid)).unwrap();
        }
        cmd.uid(user.uid.as_raw()).gid(user.gid.as_raw());
    }
    let child = cmd.spawn().expect("pgbouncer (Debian package pgbouncer; scripts/ensure-deps installs it)");
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "pgbouncer did not start: {}", std::fs::read_to_string(dir.path().join("pgbouncer.log")).unwrap_or_default());
        std::thread::sleep(Duration::from_millis(20));
    }
    Bouncer { child, port, _dir: dir }
}

async fn client(port: u16, db: &str) -> tokio_postgres::Client {
    let url = format!("host=127.0.0.1 port={port} user=app_user dbname={db}");
    let (c, conn) = tokio_postgres::connect(&url, NoTls).await.expect("connect through pgbouncer");
    tokio::spawn(async move {
        let _ = conn.await;
    });
    c
}

fn tenants_seen(msgs: &[SimpleQueryMessage]) -> Vec<String> {
    msgs.iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(r) => r.get(0).map(str::to_string),
            _ => None,
        })
        .collect()
}

/// `clients` interleaved clients, half tenant A and half B, `rounds` queries each; how many
/// rows of the other tenant they saw in total.
async fn foreign_rows(port: u16, db: &str, session_level: bool) -> usize {
    let mut handles = Vec::new();
    for i in 0..8 {
        let c = client(port, db).await;
        let me = if i % 2 == 0 { "tenant-a" } else { "tenant-b" };
        handles.push(tokio::spawn(async move {
            if session_level {
                // What an app does "once per connection": wrong behind a transaction pooler.
                c.simple_query(&format!("SELECT set_tenant_session('{me}')")).await.unwrap();
            }
            let mut foreign = 0;
            for _ in 0..15 {
                let sql = if session_level {
                    "SELECT tenant_id FROM invoices, pg_sleep(0.002) LIMIT 3".to_string()
                } else {
                    format!("BEGIN; SELECT set_tenant_local('{me}'); SELECT tenant_id FROM invoices, pg_sleep(0.002) LIMIT 3; COMMIT")
                };
                let msgs = c.simple_query(&sql).await.unwrap();
                foreign += tenants_seen(&msgs).iter().filter(|t| t.starts_with("tenant-") && *t != me).count();
            }
            foreign
        }));
    }
    let mut total = 0;
    for h in handles {
        total += h.await.unwrap();
    }
    total
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transaction_pooling_leaks_session_context_and_the_probe_flags_it() {
    let c = cluster_with("pooled", SCHEMA);
    let bouncer = start_pgbouncer(c.port(), "pooled");
    let leaked = foreign_rows(bouncer.port, "pooled", true).await;
    assert!(leaked > 0, "session-level context must hand one tenant's rows to another client behind a transaction pooler");
    let held = foreign_rows(bouncer.port, "pooled", false).await;
    assert_eq!(held, 0, "set_config(..., true) inside the transaction must never leak");

    let m = run(&c, "pooled", config("app_roles = ['app_user']\ntenant_settings = ['app.current_tenant']")).await;
    let text = show(&m);
    println!("{text}");
    assert_eq!(m.find("public.set_tenant_session(t text)", Op::Session), Some(Outcome::Leak), "{text}");
    assert_eq!(m.find("public.set_tenant_local(t text)", Op::Session), Some(Outcome::Isolated), "{text}");
    assert!(Path::new("/usr/sbin/pgbouncer").exists());
}
