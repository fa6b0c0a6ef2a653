#![allow(dead_code)]
//! Shared by the probe's tests: a cluster with a schema loaded, and a probe run on it.

use std::path::{Path, PathBuf};

use tenantguard_probe::fingerprint::Fingerprint;
use tenantguard_probe::{probe, Matrix, ProbeOptions};
use tenantguard_rules::Config;
use tenantguard_testkit::Cluster;

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// A fresh cluster with `sql` loaded into database `db`.
pub fn cluster_with(db: &str, sql: &str) -> Cluster {
    let c = Cluster::start().expect("cluster");
    c.create_database(db).expect("create database");
    c.psql(db, sql).expect("load schema");
    c
}

pub fn config(toml: &str) -> Config {
    Config::parse(toml, "test.toml").expect("config")
}

pub fn opts(url: String, config: Config) -> ProbeOptions {
    ProbeOptions { url, app_url: None, config, tenants: None, connections: 2 }
}

pub async fn run(c: &Cluster, db: &str, config: Config) -> Matrix {
    probe(&opts(c.url(db), config)).await.expect("probe")
}

/// `f` without the named sequences (`schema.name`, as `fingerprint` spells them): for a
/// comparison that lets exactly those move.
pub fn without_sequences(f: &Fingerprint, names: &[&str]) -> Fingerprint {
    let mut f = f.clone();
    f.sequences.retain(|name, _| !names.contains(&name.as_str()));
    f
}

pub fn show(m: &Matrix) -> String {
    tenantguard_probe::render::text::render(m)
}

/// A rule fixture (`crates/rules/tests/cases/<case>`): its SQL with includes, and its config lines.
pub fn load_case(case: &str) -> (String, String) {
    let text = read(&format!("crates/rules/tests/cases/{case}"));
    let (mut sql, mut config) = (String::new(), String::new());
    for line in text.lines() {
        if let Some(inc) = line.strip_prefix("-- include: ") {
            sql.push_str(&read(&format!("crates/rules/tests/cases/{}.sql", inc.trim())));
            sql.push('\n');
        } else if let Some(c) = line.strip_prefix("-- config: ") {
            config.push_str(c);
            config.push('\n');
        }
    }
    sql.push_str(&text);
    (sql, config)
}
