//! The whole lint on a generated history (2,000 files, ~100,000 lines): cluster start-up,
//! a cold lint (shadow database included), and re-lints after one changed file.
//! `cargo bench -p tenantguard-lint` runs the full corpus; under `cargo test` (no `--bench`
//! argument) it runs a 60-file smoke version.

use std::time::Instant;

use tenantguard_lint::{corpus, source, statements, Linter};
use tenantguard_rules::Config;

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let files = std::env::var("LINT_BENCH_FILES").ok().and_then(|v| v.parse().ok()).unwrap_or(if full { 2000 } else { 60 });
    let dir = tempfile::tempdir().expect("temp dir");
    let lines = corpus::generate(dir.path(), files).expect("generate corpus");
    println!("corpus: {files} files, {lines} lines");

    let set = source::read_dir(dir.path(), None).expect("read corpus");
    let t = Instant::now();
    let mut sp = "public".to_string();
    let stmts: usize = set.files.iter().map(|f| statements::parse_file(f.up_sql(), f.up.0, &mut sp).stmts.len()).sum();
    println!("parse only (pg_query, locations and objects): {stmts} statements in {:.3}s", t.elapsed().as_secs_f64());

    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    rt.block_on(async {
        let config = Config::default();
        let t = Instant::now();
        let mut linter = Linter::start().await.expect("start cluster");
        println!("cluster start-up: {:.3}s", t.elapsed().as_secs_f64());

        let t = Instant::now();
        let out = linter.lint(&set, &config).await.expect("lint");
        let cold = t.elapsed();
        println!(
            "cold lint: {:.3}s (parse, apply and catalog read {:.3}s, rules and locations {:.3}s), {} findings, {} located",
            cold.as_secs_f64(),
            out.timings.parse_and_apply.as_secs_f64(),
            out.timings.audit.as_secs_f64(),
            out.findings.len(),
            out.findings.iter().filter(|f| f.line.is_some()).count()
        );
        assert!(out.findings.iter().all(|f| f.rule != "migration-failed"), "the corpus must apply: {:?}", out.findings.iter().find(|f| f.rule == "migration-failed"));

        for (what, back) in [("last file", 1usize), ("fifth-from-last file", 5), ("tenth-from-last file", 10)] {
            let k = files - back;
            let path = dir.path().join(&set.files[k].name);
            let mut text = std::fs::read_to_string(&path).expect("read");
            text.push_str(&format!("\nCREATE TABLE public.changed_{back} (id int, tenant_id uuid);\n"));
            std::fs::write(&path, text).expect("write");
            let changed = source::read_dir(dir.path(), None).expect("read corpus");
            let t = Instant::now();
            let out = linter.lint(&changed, &config).await.expect("relint");
            println!(
                "re-lint after changing the {what}: {:.3}s ({} of {files} files reused already in the shadow database), {} findings",
                t.elapsed().as_secs_f64(),
                out.timings.reused_files,
                out.findings.len()
            );
        }
        drop(linter);

        // Separate CLI processes: nothing survives between runs but the cache directory.
        let cache = tempfile::tempdir().expect("cache dir");
        let set = source::read_dir(dir.path(), None).expect("read corpus");
        let t = Instant::now();
        let linter = Linter::start_cached(cache.path(), &set).await.expect("start");
        let mut linter = linter;
        linter.lint(&set, &config).await.expect("lint");
        let linted = t.elapsed();
        linter.save().await.expect("save");
        println!("process 1 (empty cache): lint {:.3}s, then saving the cache {:.3}s", linted.as_secs_f64(), (t.elapsed() - linted).as_secs_f64());
        for run in 2..=4 {
            let path = dir.path().join(&set.files[files - 1].name);
            let mut text = std::fs::read_to_string(&path).expect("read");
            text.push_str(&format!("\nCREATE TABLE public.process_{run} (id int, tenant_id uuid);\n"));
            std::fs::write(&path, text).expect("write");
            let changed = source::read_dir(dir.path(), None).expect("read corpus");
            let t = Instant::now();
            let mut linter = Linter::start_cached(cache.path(), &changed).await.expect("start from cache");
            let startup = t.elapsed();
            let out = linter.lint(&changed, &config).await.expect("relint");
            let total = t.elapsed();
            linter.save().await.expect("save");
            println!(
                "process {run} (last file changed): start-up from the cache {:.3}s, re-lint {:.3}s, total {:.3}s ({} files reused), then shutdown {:.3}s",
                startup.as_secs_f64(),
                (total - startup).as_secs_f64(),
                total.as_secs_f64(),
                out.timings.reused_files,
                (t.elapsed() - total).as_secs_f64()
            );
        }
    });
}
