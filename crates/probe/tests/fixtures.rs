//! Every leak fixture of the audit's rule tests: the probe runs to the end (or refuses with a
//! clear message), never errors on its own attempts, and leaves every table, sequence and
//! role setting exactly as it found them.

mod common;

use std::path::PathBuf;

use common::*;
use tenantguard_probe::{fingerprint, probe, Outcome};
use tenantguard_testkit::Cluster;

fn cases() -> Vec<PathBuf> {
    let dir = root().join("crates/rules/tests/cases");
    let mut out = Vec::new();
    for rule in std::fs::read_dir(&dir).unwrap().flatten().filter(|e| e.path().is_dir()) {
        for f in std::fs::read_dir(rule.path()).unwrap().flatten() {
            if f.path().extension().is_some_and(|e| e == "sql") {
                out.push(f.path());
            }
        }
    }
    out.sort();
    out
}

/// The id sequence of the fixtures' audit log (tests/cases/audit-base.sql and others).
const AUDIT_SEQ: &str = "public.audit_log_id_seq";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rule_fixture_is_probed_without_a_trace() {
    let mut report = Vec::new();
    for case in cases() {
        let name = case.strip_prefix(root().join("crates/rules/tests/cases")).unwrap_or(&case).display().to_string();
        let (sql, toml) = load_case(&name);
        let c = Cluster::start().unwrap();
        c.create_database("case").unwrap();
        if c.psql("case", &sql).is_err() {
            continue; // a fixture that needs extensions this server lacks
        }
        let client = tenantguard_catalog::reader::connect(&c.url("case")).await.unwrap();
        let before = fingerprint::take(&client).await.unwrap();
        let after = match probe(&opts(c.url("case"), config(&toml))).await {
            Ok(m) => {
                let errors: Vec<String> =
                    m.results.iter().filter(|r| r.outcome == Outcome::Error).map(|r| format!("{} {}: {}", r.object, r.operation.as_str(), r.detail)).collect();
                assert!(errors.is_empty(), "{name}: {errors:#?}");
                report.push(format!("{name}: {} leak(s)", m.summary().leak));
                let after = fingerprint::take(&client).await.unwrap();
                // An audit log's capture trigger takes its id with nextval(), which the rollback
                // cannot undo: allowed for that one sequence, and only when the probe says so.
                if before.sequences.get(AUDIT_SEQ) != after.sequences.get(AUDIT_SEQ) {
                    assert!(name.starts_with("tenant-table-not-audited"), "{name}: only a case with a capture trigger may move {AUDIT_SEQ}");
                    assert!(m.notes.iter().any(|n| n.starts_with(&format!("sequence {AUDIT_SEQ} moved from "))), "{name}: {AUDIT_SEQ} moved without a note: {:?}", m.notes);
                }
                after
            }
            Err(e) => {
                report.push(format!("{name}: refused: {e:#}"));
                fingerprint::take(&client).await.unwrap()
            }
        };
        assert_eq!(without_sequences(&before, &[AUDIT_SEQ]), without_sequences(&after, &[AUDIT_SEQ]), "{name}: the probe changed the database");
    }
    println!("{}", report.join("\n"));
    assert!(report.len() > 10);
}

/// Leaks only an unfiltered write or a never-set connection shows: a DELETE/UPDATE policy of
/// `true` hidden behind a scoped SELECT policy, and `IS NULL OR ...` that opens up when unset.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_policies_and_fail_open_leaks_are_found() {
    use tenantguard_probe::Operation as Op;
    for (case, op) in [
        ("write-policy-not-tenant-scoped/delete-any.sql", Op::Delete),
        ("write-policy-not-tenant-scoped/move-to-other-tenant.sql", Op::Move),
        ("policy-fails-open/is-null-or.sql", Op::NoContext),
    ] {
        let (sql, toml) = load_case(case);
        let c = Cluster::start().unwrap();
        c.create_database("case").unwrap();
        c.psql("case", &sql).unwrap();
        let m = probe(&opts(c.url("case"), config(&toml))).await.unwrap();
        assert_eq!(m.find("public.invoices", op), Some(Outcome::Leak), "{case}\n{}", show(&m));
    }
}
