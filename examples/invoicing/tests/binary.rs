//! The service binary runs as documented: migrates, serves on loopback, answers a tenant,
//! and chains its audit events with the sealer it runs as its own role.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

fn get(port: u16, path: &str, token: &str) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET {path} HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer {token}\r\nconnection: close\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    Some(response)
}

fn put_tenant(port: u16, token: &str) -> Option<String> {
    let body = r#"{"name":"acme"}"#;
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "PUT /tenant HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer {token}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    Some(response)
}

#[test]
fn binary_migrates_and_serves_on_loopback() {
    let cluster = cluster(Default::default());
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_invoicing"))
        .args(["--database-url", &app_url(&cluster), "--migrate-with", &cluster.url(DB)])
        .args(["--listen", &format!("127.0.0.1:{port}"), "--jwt-secret", std::str::from_utf8(SECRET).unwrap()])
        .args(["--sealer-url", &cluster.role_url("invoicing_sealer", Some("invoicing-sealer-dev-password"), DB)])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let token = token_for(&tenant(1), "free");
    let deadline = Instant::now() + Duration::from_secs(20);
    let response = loop {
        if let Some(r) = get(port, "/customers", &token) {
            break r;
        }
        assert!(Instant::now() < deadline, "service did not come up");
        std::thread::sleep(Duration::from_millis(50));
    };
    let unauthenticated = get(port, "/customers", "not-a-jwt").unwrap();
    // A write: its events (the app's tenant.created and the captured row) are chained by the
    // sealer the binary runs as invoicing_sealer, within a few of its 200 ms periods.
    let created = put_tenant(port, &token).unwrap();
    let sealed = loop {
        let counts = cluster.query(DB, "SELECT (SELECT count(*) FROM audit.link) || ' ' || (SELECT count(*) FROM audit.log l WHERE NOT EXISTS (SELECT 1 FROM audit.link k WHERE k.id = l.id))").unwrap();
        let (sealed, unsealed) = counts.trim().split_once(' ').unwrap();
        if unsealed == "0" && sealed != "0" {
            break sealed.to_string();
        }
        assert!(Instant::now() < deadline + Duration::from_secs(10), "the sealer did not chain the events: {counts}");
        std::thread::sleep(Duration::from_millis(50));
    };
    let _ = child.kill();
    let _ = child.wait();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.ends_with("[]"), "{response}");
    assert!(unauthenticated.starts_with("HTTP/1.1 401"), "{unauthenticated}");
    assert!(unauthenticated.contains("\"error\":\"unauthenticated\""), "{unauthenticated}");
    assert!(created.starts_with("HTTP/1.1 201"), "{created}");
    assert!(sealed.parse::<i64>().unwrap() >= 2, "tenant.created and the captured tenants row: {sealed}");
}
