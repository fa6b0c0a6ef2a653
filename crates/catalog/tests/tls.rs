//! TLS as libpq does it: `require` encrypts without checking the certificate, `verify-full`
//! checks it (a private CA via `sslrootcert`), `disable` never encrypts.

use std::process::Command;

use tenantguard_catalog::reader::connect;
use tenantguard_testkit::{Cluster, ClusterOptions};

fn self_signed(dir: &std::path::Path) -> (String, String) {
    let key = dir.join("server.key");
    let crt = dir.join("server.crt");
    let ok = Command::new("openssl")
        .args(["req", "-new", "-x509", "-days", "2", "-nodes", "-subj", "/CN=localhost", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&crt)
        .output()
        .expect("openssl runs")
        .status
        .success();
    assert!(ok, "openssl could not make a certificate");
    // The server runs as the postgres OS user when the tests run as root; it insists on 0600 keys.
    let _ = Command::new("chmod").arg("600").arg(&key).status();
    let _ = Command::new("chmod").arg("755").arg(dir).status();
    if nix_root() {
        let _ = Command::new("chown").arg("postgres").arg(&key).arg(&crt).status();
    }
    (key.to_string_lossy().into_owned(), crt.to_string_lossy().into_owned())
}

fn nix_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0").unwrap_or(false)
}

#[tokio::test]
async fn sslmodes_behave_like_libpq() {
    let dir = tempfile::tempdir().unwrap();
    let (key, crt) = self_signed(dir.path());
    let opts = ClusterOptions::default().set("ssl", "on").set("ssl_key_file", &key).set("ssl_cert_file", &crt);
    let cluster = Cluster::start_with(&opts).unwrap();
    let port = cluster.port();
    let is_ssl = "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()";

    let client = connect(&format!("postgres://postgres@localhost:{port}/postgres?sslmode=require")).await.unwrap();
    assert!(client.query_one(is_ssl, &[]).await.unwrap().get::<_, bool>(0));

    let err = connect(&format!("postgres://postgres@localhost:{port}/postgres?sslmode=verify-full")).await.unwrap_err().to_string();
    assert!(err.contains("cannot connect"), "{err}");

    let client = connect(&format!("postgres://postgres@localhost:{port}/postgres?sslmode=verify-full&sslrootcert={crt}")).await.unwrap();
    assert!(client.query_one(is_ssl, &[]).await.unwrap().get::<_, bool>(0));

    let client = connect(&format!("host=localhost port={port} user=postgres dbname=postgres sslmode=disable")).await.unwrap();
    assert!(!client.query_one(is_ssl, &[]).await.unwrap().get::<_, bool>(0));

    let err = connect(&format!("postgres://postgres@localhost:{port}/postgres?sslmode=verify-full&sslrootcert=/nonexistent.pem")).await.unwrap_err().to_string();
    assert!(err.contains("sslrootcert"), "{err}");
}
