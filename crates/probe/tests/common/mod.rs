#![allow(dead_code)]
//! Shared by the probe's tests: a cluster with a schema loaded, and a probe run on it.

use std::path::{Path, PathBuf};

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

pub fn show(m: &Matrix) -> String {
    tenantguard_probe::render::text::render(m)
}
