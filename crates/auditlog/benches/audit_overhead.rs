//! pgbench-style overhead of the audit log: no audit vs a plain jsonb trigger (reference)
//! vs trigger audit vs trigger audit + chain (sealer running alongside as a background
//! worker), pgbench driving 2 clients, 1 and 100 tenants, insert and update, variants
//! interleaved in rounds. The log as it was before the perf work (benches/baseline/log_v0.sql with the
//! SQL sealer) can run in the same rounds (TG_BENCH_V0=1), so before and after are measured side by side.
//! Ratios are medians over rounds of each round's variant tps / that round's no-audit tps.
//! Two kinds of workload: "bare", one INSERT or UPDATE a transaction as the superuser on a table
//! with a primary key only (the cheapest write, so the audit's share is the largest), and
//! "RLS tx", a tenant table as tenantguard's rules want it (RLS forced with a tenant policy, an
//! index led by tenant_id) written by an app role as the runtime crate writes (BEGIN; tenant and
//! actor set with set_config(..., true); the statement with its tenant predicate; COMMIT).
//! Then verify throughput over everything written.
//!
//!     cargo bench -p tenantguard-auditlog --bench audit_overhead
//!
//! Needs pgbench (Debian ships it with postgresql-15's client package, next to initdb).
//! TG_BENCH_SECS sets the whole seconds per phase (default 3), TG_BENCH_ROUNDS the rounds (3),
//! TG_BENCH_SEAL_MS the sealer's period (200, as docs/runtime.md deploys it); TG_BENCH_V0=1
//! adds the log as it was before the perf work (always in the smoke run); TG_BENCH_WORKLOADS
//! picks `bare`, `rls` or `all` (the default); TG_BENCH_VARIANTS=ref,trigc,chainc runs only
//! the variants named (and no audit), so that the same time buys more rounds.
//! Under `cargo test --all-targets` (no `--bench` argument) it runs 200 transactions per
//! client per phase, one round.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tenantguard_auditlog::ops::{seal_once, seal_round, Round};
use tokio_postgres::Client as PgClient;
use tenantguard_auditlog::scaffold::{render, Capture, CapturedTable, ScaffoldConfig};
use tenantguard_auditlog::verify::{verify_with, VerifyOptions};
use tenantguard_testkit::{Cluster, ClusterOptions};
use tokio_postgres::{Client, NoTls};

const PRELOAD: i64 = 20_000;
const LOG_SQL_NOW: &str = include_str!("../src/sql/log.sql");
const LOG_SQL_V0: &str = include_str!("baseline/log_v0.sql");

#[derive(Clone, Copy, PartialEq)]
enum Variant {
    Plain,
    /// In-run reference: a plain tenant jsonb trigger (no guards, no chain, no partitions).
    Reference,
    /// The log before the perf work (baseline/log_v0.sql), no sealer.
    Trigger0,
    /// The log before the perf work with its SQL sealer (`seal()`) alongside.
    Chain0,
    Trigger,
    Chain,
    /// The current log with the C capture trigger (`--capture c`), no sealer.
    TriggerC,
    /// The current log with the C capture trigger and `ops::seal_once` alongside.
    ChainC,
}

const VARIANTS: [Variant; 8] = [
    Variant::Plain,
    Variant::Reference,
    Variant::Trigger0,
    Variant::Trigger,
    Variant::TriggerC,
    Variant::Chain0,
    Variant::Chain,
    Variant::ChainC,
];

impl Variant {
    fn name(self) -> &'static str {
        match self {
            Variant::Plain => "plain",
            Variant::Reference => "ref",
            Variant::Trigger0 => "trig0",
            Variant::Chain0 => "chain0",
            Variant::Trigger => "trig",
            Variant::Chain => "chain",
            Variant::TriggerC => "trigc",
            Variant::ChainC => "chainc",
        }
    }

    /// The log as it was before the perf work: measured in smoke runs and with TG_BENCH_V0=1
    /// (its SQL sealer's catch-up took a third of a full run).
    fn is_v0(self) -> bool {
        matches!(self, Variant::Trigger0 | Variant::Chain0)
    }

    /// The variant's table for bare (`inv_`) or RLS (`ten_`) writes over `tenants` tenants.
    fn table(self, rls_tx: bool, tenants: u32) -> String {
        format!("public.{}_{}_{tenants}", if rls_tx { "ten" } else { "inv" }, self.name())
    }

    /// Every table the variant writes: bare and RLS, 1 and 100 tenants.
    fn tables(self) -> Vec<String> {
        [false, true]
            .into_iter()
            .flat_map(|rls_tx| [1, 100].map(|tenants| self.table(rls_tx, tenants)))
            .collect()
    }

    /// The log schema a chained variant seals.
    fn sealed_schema(self) -> Option<&'static str> {
        match self {
            Variant::Chain0 => Some("audit_c0"),
            Variant::Chain => Some("audit_c"),
            Variant::ChainC => Some("audit_cc"),
            _ => None,
        }
    }

    /// The log schema the variant's captures write into.
    fn log_schema(self) -> Option<&'static str> {
        match self {
            Variant::Plain | Variant::Reference => None,
            Variant::Trigger0 => Some("audit_t0"),
            Variant::Trigger => Some("audit_t"),
            Variant::TriggerC => Some("audit_tc"),
            v => v.sealed_schema(),
        }
    }

}

/// The sealer as each log version ships it: v0 the SQL `seal()` (a full batch means more
/// waits), now `ops::seal_round`.
async fn seal_step(c: &PgClient, v: Variant, max_rows: i32) -> Round {
    match v {
        Variant::Chain0 => {
            let sealed: i64 = c.query_one("SELECT audit_c0.seal($1)", &[&max_rows]).await.unwrap().get(0);
            Round { sealed, more: sealed >= max_rows as i64 }
        }
        _ => seal_round(c, v.sealed_schema().unwrap(), max_rows).await.unwrap(),
    }
}

/// Rows not linked yet: v0 marks them `seq IS NULL`, the current log keeps links apart and
/// links in id order, so they are the rows above the sealer's floor.
fn unsealed_sql(v: Variant, schema: &str) -> String {
    match v {
        Variant::Chain0 | Variant::Trigger0 => format!("SELECT count(*) FROM {schema}.log WHERE seq IS NULL"),
        _ => format!("SELECT count(*) FROM {schema}.log WHERE id > (SELECT floor FROM {schema}.seal_state)"),
    }
}

/// What the clients run: an insert or an update, over 1 or 100 tenants, bare or as a tenant
/// transaction on an RLS table (see the header).
#[derive(Clone, Copy, PartialEq)]
struct Workload {
    update: bool,
    tenants: u32,
    rls_tx: bool,
}

impl Workload {
    fn name(self) -> String {
        let kind = if self.update { "update" } else { "insert" };
        match (self.rls_tx, self.tenants) {
            (false, 1) => format!("{kind} 1 tenant"),
            (false, n) => format!("{kind} {n} tenants"),
            (true, n) => format!("RLS tx {kind} {n}"),
        }
    }
}

struct Phase {
    /// Business transactions per second while the clients ran (sealer alongside).
    tps: f64,
    /// The same count over the clients' time plus the sealer's catch-up after they stopped.
    tps_with_catch_up: f64,
    /// Unsealed rows when the clients stopped, and the seconds the sealer then needed.
    backlog: i64,
    catch_up_secs: f64,
}

async fn connect(url: &str) -> Client {
    let (c, conn) = tokio_postgres::connect(url, NoTls).await.expect("connect");
    tokio::spawn(async move {
        let _ = conn.await;
    });
    c
}

/// The load driver: pgbench, as the anchors were measured ("pgbench-style"): a C
/// client that leaves the two cores to the server (a client written on tokio-postgres took
/// about a third of the machine and made every server-side cost look larger; docs/audit-log.md,
/// Speed). Two connections, two threads, prepared statements, one statement a transaction.
struct Driver {
    pgbench: std::path::PathBuf,
    url: String,
    /// The app role's URL: RLS applies to it (the superuser bypasses every policy).
    app_url: String,
    /// The pgbench scripts' directory, removed when the driver is dropped.
    scripts: tempfile::TempDir,
}

impl Driver {
    /// The workload's script: an insert of a new row, or an update of a preloaded one, for a
    /// random tenant of `tenants`; in an RLS workload inside a transaction that first sets the
    /// tenant and actor for itself only (set_config(..., true), as the runtime crate does).
    fn script(&self, table: &str, w: Workload) -> std::path::PathBuf {
        let name = format!("{}_{}.sql", table.replace('.', "_"), if w.update { "update" } else { "insert" });
        let path = self.scripts.path().join(name);
        let tenants = w.tenants;
        let (begin, end) = if w.rls_tx {
            ("BEGIN;\nSELECT set_config('app.current_tenant', 't' || :t, true), set_config('app.current_actor', 'bench', true);\n", "END;\n")
        } else {
            ("", "")
        };
        // A preloaded row g belongs to tenant 't' || (g % tenants).
        let sql = match (w.update, w.rls_tx) {
            (true, false) => format!("\\set id random(1, {PRELOAD})\nUPDATE {table} SET amount = amount + 1 WHERE id = :id;\n"),
            (true, true) => format!(
                "\\set id random(1, {PRELOAD})\n\\set t :id % {tenants}\n{begin}\
                 UPDATE {table} SET amount = amount + 1 WHERE tenant_id = 't' || :t AND id = :id;\n{end}"
            ),
            (false, _) => format!(
                "\\set t random(0, {})\n{begin}INSERT INTO {table} (tenant_id, amount, note) VALUES ('t' || :t, 1, 'bench');\n{end}",
                tenants - 1
            ),
        };
        std::fs::write(&path, sql).expect("write a pgbench script");
        path
    }

    /// Run the clients: for `secs` seconds (whole seconds, at least 1), or 200 transactions
    /// per client in a smoke run. Returns (transactions, seconds).
    fn run(&self, script: &std::path::Path, url: &str, secs: f64, smoke: bool) -> (u64, f64) {
        let mut cmd = std::process::Command::new(&self.pgbench);
        cmd.args(["-n", "-M", "prepared", "-c", "2", "-j", "2"]);
        if smoke {
            cmd.args(["-t", "200"]);
        } else {
            cmd.args(["-T", &format!("{}", secs.round().max(1.0) as u64)]);
        }
        let out = cmd.arg("-f").arg(script).arg(url).output().expect("run pgbench");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "pgbench failed: {text}{}", String::from_utf8_lossy(&out.stderr));
        let field = |key: &str| -> f64 {
            let line = text.lines().find(|l| l.starts_with(key)).unwrap_or_else(|| panic!("no {key:?} in pgbench output: {text}"));
            // `-t` runs print "400/400" (processed/planned).
            line[key.len()..].split_whitespace().next().and_then(|v| v.split('/').next()?.parse().ok()).unwrap_or_else(|| panic!("{line}"))
        };
        let txns = field("number of transactions actually processed:") as u64;
        let tps = field("tps =");
        (txns, txns as f64 / tps)
    }
}

/// One phase: pgbench's 2 clients for `secs`; for a chained variant the sealer runs
/// alongside as deployed (`audit-log seal --every-ms`): windows of 5000 ids, and after a
/// round that left nothing final behind it sleeps `period` (the bounded delay).
async fn phase(d: &Driver, v: Variant, w: Workload, secs: f64, smoke: bool, period: Duration) -> Phase {
    let sealing = Arc::new(AtomicBool::new(true));
    // Its own thread and runtime, as a separate sealer process would be.
    let sealer = v.sealed_schema().map(|_| {
        let (url, sealing) = (d.url.clone(), sealing.clone());
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async move {
                let c = connect(&url).await;
                c.batch_execute("SET synchronous_commit = off").await.unwrap();
                while sealing.load(Ordering::Relaxed) {
                    if !seal_step(&c, v, 5000).await.more {
                        tokio::time::sleep(period).await;
                    }
                }
            })
        })
    });
    let script = d.script(&v.table(w.rls_tx, w.tenants), w);
    let url = if w.rls_tx { &d.app_url } else { &d.url };
    let (total, ran) = tokio::task::block_in_place(|| d.run(&script, url, secs, smoke));
    let (mut backlog, mut catch_up_secs) = (0, 0.0);
    if let (Some(s), Some(schema)) = (sealer, v.sealed_schema()) {
        sealing.store(false, Ordering::Relaxed);
        tokio::task::spawn_blocking(move || s.join().unwrap()).await.unwrap();
        let c = connect(&d.url).await;
        backlog = c.query_one(&unsealed_sql(v, schema), &[]).await.unwrap().get(0);
        let t = Instant::now();
        while seal_step(&c, v, 5000).await.sealed > 0 {}
        catch_up_secs = t.elapsed().as_secs_f64();
    }
    Phase { tps: total as f64 / ran, tps_with_catch_up: total as f64 / (ran + catch_up_secs), backlog, catch_up_secs }
}

/// The q-quantile, interpolated between the two nearest ranks (q = 0.5: the median).
fn quantile(mut xs: Vec<f64>, q: f64) -> f64 {
    xs.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let at = (xs.len() - 1) as f64 * q;
    let (lo, hi) = (at.floor() as usize, at.ceil() as usize);
    xs[lo] + (xs[hi] - xs[lo]) * (at - lo as f64)
}

fn median(xs: Vec<f64>) -> f64 {
    quantile(xs, 0.5)
}

fn setup(cluster: &Cluster) {
    cluster.create_database("bench").unwrap();
    let mut ddl = String::from("CREATE ROLE app_user LOGIN;\n");
    for rls_tx in [false, true] {
        for tenants in [1u32, 100] {
            for v in VARIANTS {
                let t = v.table(rls_tx, tenants);
                ddl.push_str(&format!(
                    "CREATE TABLE {t} (id bigserial PRIMARY KEY, tenant_id text NOT NULL, amount numeric NOT NULL, note text);\n\
                     INSERT INTO {t} (tenant_id, amount, note) SELECT 't' || (g % {tenants}), g, 'preload' FROM generate_series(1, {PRELOAD}) g;\n"
                ));
                if rls_tx {
                    // As tenantguard's rules want a tenant table: RLS forced, a policy on the
                    // tenant context, an index led by tenant_id; the app role writes it.
                    ddl.push_str(&format!(
                        "CREATE INDEX ON {t} (tenant_id, id);\n\
                         ALTER TABLE {t} ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;\n\
                         CREATE POLICY tenant_isolation ON {t} USING (tenant_id = (SELECT current_setting('app.current_tenant', true)));\n\
                         GRANT SELECT, INSERT, UPDATE ON {t} TO app_user;\n\
                         GRANT USAGE ON SEQUENCE {t}_id_seq TO app_user;\n"
                    ));
                }
            }
        }
    }
    ddl.push_str(
        "CREATE TABLE public.jsonb_audit (id bigserial PRIMARY KEY, tenant_id text, actor text, action text, entity text,\n\
             old_value jsonb, new_value jsonb, at timestamptz NOT NULL DEFAULT now());\n\
         CREATE FUNCTION public.jsonb_audit_capture() RETURNS trigger LANGUAGE plpgsql AS $f$ BEGIN\n\
             INSERT INTO public.jsonb_audit (tenant_id, actor, action, entity, old_value, new_value)\n\
             VALUES (coalesce(NEW.tenant_id, OLD.tenant_id), current_setting('app.current_actor', true), TG_OP, TG_TABLE_NAME,\n\
                     CASE WHEN TG_OP <> 'INSERT' THEN to_jsonb(OLD) END, CASE WHEN TG_OP <> 'DELETE' THEN to_jsonb(NEW) END);\n\
             RETURN NULL; END $f$;\n",
    );
    ddl.push_str("GRANT INSERT ON public.jsonb_audit TO app_user;\nGRANT USAGE ON SEQUENCE public.jsonb_audit_id_seq TO app_user;\n");
    for t in Variant::Reference.tables() {
        ddl.push_str(&format!(
            "CREATE TRIGGER audit AFTER INSERT OR UPDATE OR DELETE ON {t} FOR EACH ROW EXECUTE FUNCTION public.jsonb_audit_capture();\n"
        ));
    }
    cluster.psql("bench", &ddl).unwrap();
    for v in VARIANTS {
        let Some(schema) = v.log_schema() else { continue };
        let cfg = ScaffoldConfig {
            schema: schema.into(),
            owner: format!("{schema}_owner"),
            app_roles: vec!["app_user".into()],
            tables: v.tables().iter().map(|t| CapturedTable::parse(t, "tenant_id").unwrap()).collect(),
            capture: if matches!(v, Variant::TriggerC | Variant::ChainC) { Capture::C } else { Capture::Plpgsql },
        };
        let mut sql = render(&cfg);
        if matches!(v, Variant::Trigger0 | Variant::Chain0) {
            let fill = |t: &str| t.replace("@schema@", schema).replace("@owner@", &cfg.owner);
            let (now, before) = (fill(LOG_SQL_NOW), fill(LOG_SQL_V0));
            assert!(sql.contains(&now));
            sql = sql.replace(&now, &before);
            // v0 had no link_run table: its DDL guard must not expect guards on one.
            for tg in ["audit_guard_update", "audit_guard_delete", "audit_guard_truncate"] {
                let pair = format!(", ('{schema}.link_run', '{tg}')");
                assert!(sql.contains(&pair));
                sql = sql.replace(&pair, "");
            }
        }
        cluster.psql("bench", &sql).unwrap();
    }
    // The actor the captures record (pgbench has no per-connection setup statement).
    cluster.psql("bench", "ALTER DATABASE bench SET app.current_actor = 'bench'; VACUUM ANALYZE").unwrap();
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // `cargo test --all-targets` runs this binary without `--bench`: a quick smoke run then.
    let smoke = !std::env::args().any(|a| a == "--bench");
    let (default_secs, default_rounds) = if smoke { (0.3, 1) } else { (3.0, 3) };
    let secs: f64 = std::env::var("TG_BENCH_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(default_secs);
    let rounds: usize = std::env::var("TG_BENCH_ROUNDS").ok().and_then(|s| s.parse().ok()).unwrap_or(default_rounds);
    let period_ms: u64 = std::env::var("TG_BENCH_SEAL_MS").ok().and_then(|s| s.parse().ok()).unwrap_or(200);
    let period = Duration::from_millis(period_ms);
    assert!(rounds >= 1, "TG_BENCH_ROUNDS={rounds}: at least one round, please");
    let kinds: &[bool] = match std::env::var("TG_BENCH_WORKLOADS").as_deref() {
        Ok("bare") => &[false],
        Ok("rls") => &[true],
        Ok("all") | Err(_) => &[false, true],
        Ok(other) => panic!("TG_BENCH_WORKLOADS={other}: say bare, rls or all"),
    };
    let with_v0 = smoke || std::env::var("TG_BENCH_V0").is_ok_and(|v| v == "1");
    // TG_BENCH_VARIANTS=ref,trigc,chainc: only those besides no audit, so that a run affords
    // more rounds of the comparisons that matter (the ratios' spread shrinks with the rounds).
    let picked: Option<Vec<String>> = std::env::var("TG_BENCH_VARIANTS").ok().map(|list| {
        let names: Vec<String> = list.split(',').map(|n| n.trim().to_string()).filter(|n| !n.is_empty()).collect();
        for n in &names {
            assert!(
                VARIANTS.iter().any(|v| v.name() == n),
                "TG_BENCH_VARIANTS: no variant {n:?}; say some of {}",
                VARIANTS.iter().map(|v| v.name()).collect::<Vec<_>>().join(",")
            );
        }
        names
    });
    let variants: Vec<Variant> = VARIANTS
        .into_iter()
        .filter(|v| match &picked {
            Some(names) => *v == Variant::Plain || names.iter().any(|n| n == v.name()),
            None => with_v0 || !v.is_v0(),
        })
        .collect();
    // The chained variants, in `variants` order: their lag and catch-up are reported too.
    let chained: Vec<Variant> = variants.iter().copied().filter(|v| v.sealed_schema().is_some()).collect();
    let library_path =
        tenantguard_auditlog::capture_library_path().unwrap_or_else(|why| panic!("the C capture trigger was not built: {why}"));
    let cluster = Cluster::start_with(
        &ClusterOptions::default()
            .set("synchronous_commit", "off")
            .set("shared_buffers", "128MB")
            .set("dynamic_library_path", &library_path),
    )
    .expect("start a throwaway cluster");
    setup(&cluster);
    let url = cluster.url("bench");
    let scripts = tempfile::tempdir().expect("create a directory for the pgbench scripts");
    let app_url = cluster.role_url("app_user", None, "bench");
    let driver = Driver { pgbench: cluster.binaries().tool("pgbench"), url: url.clone(), app_url, scripts };
    println!("audit_overhead: pgbench, 2 clients, {secs}s phases, {rounds} rounds interleaved, synchronous_commit off, sealer every {period_ms} ms");
    println!(
        "ratios: median over rounds of variant tps / no-audit tps in the same round;{}",
        if with_v0 { " 0 = the log before the perf work," } else { "" }
    );
    println!("c = the C capture trigger; chain: business tps while the sealer ran alongside; +cu: counting its catch-up after");
    println!("bare: one statement a transaction as the superuser; RLS tx: BEGIN, set_config tenant and actor (local), the statement, COMMIT, as an app role on a table with forced RLS and a tenant index");
    let mut header = format!("{:<18} {:>8}", "workload", "none tps");
    for v in &variants[1..] {
        header.push_str(&format!(" {:>8}", format!("{} x", v.name())));
    }
    for v in &chained {
        header.push_str(&format!(" {:>9}", format!("{}+cu", v.name())));
    }
    for v in &chained {
        header.push_str(&format!(" {:>15}", format!("lag {} (s)", v.name())));
    }
    println!("{header}");
    // Workloads are interleaved too: every round runs each workload once, so no workload
    // always comes later in the run (measured at stop 15: with the workloads one after the
    // other, the second insert workload's no-audit tps came out 16% higher whichever it was,
    // and every audit ratio in it lower; the audit variants' own tps did not move).
    let workloads: Vec<Workload> = kinds
        .iter()
        .flat_map(|&rls_tx| [(false, 100), (false, 1), (true, 100), (true, 1)].map(|(update, tenants)| Workload { update, tenants, rls_tx }))
        .collect();
    let mut none: Vec<Vec<f64>> = vec![vec![]; workloads.len()];
    let mut ratios: Vec<Vec<Vec<f64>>> = vec![vec![vec![]; variants.len() - 1 + chained.len()]; workloads.len()];
    let mut lag: Vec<Vec<(Vec<f64>, Vec<f64>)>> = vec![vec![Default::default(); chained.len()]; workloads.len()];
    for round in 0..rounds {
        for (w, &workload) in workloads.iter().enumerate() {
            // Each round starts one variant later: a phase runs after a different one
            // each round (the last phase's autovacuum, checkpoint or sealer catch-up
            // lands on a different variant), results kept in `variants` order.
            let mut p: Vec<Option<(Variant, Phase)>> = (0..variants.len()).map(|_| None).collect();
            for k in 0..variants.len() {
                let i = (k + round) % variants.len();
                let v = variants[i];
                p[i] = Some((v, phase(&driver, v, workload, secs, smoke, period).await));
            }
            let p: Vec<(Variant, Phase)> = p.into_iter().map(Option::unwrap).collect();
            let base = p[0].1.tps;
            none[w].push(base);
            for (i, (_, q)) in p[1..].iter().enumerate() {
                ratios[w][i].push(q.tps / base);
            }
            for (k, (_, q)) in p.iter().filter(|(v, _)| chained.contains(v)).enumerate() {
                ratios[w][variants.len() - 1 + k].push(q.tps_with_catch_up / base);
                lag[w][k].0.push(q.backlog as f64);
                lag[w][k].1.push(q.catch_up_secs);
            }
        }
    }
    for (w, workload) in workloads.iter().enumerate() {
        let mut line = format!("{:<18} {:>8.0}", workload.name(), median(none[w].clone()));
        for (i, r) in ratios[w].iter().enumerate() {
            let width = if i < variants.len() - 1 { 7 } else { 8 };
            line.push_str(&format!(" {:>width$.2}x", median(r.clone())));
        }
        for (backlog, secs) in &lag[w] {
            line.push_str(&format!(" {:>15}", format!("{:.0} ({:.2})", median(backlog.clone()), median(secs.clone()))));
        }
        println!("{line}");
    }
    // How far the rounds spread: each round's ratio has the noise of two 3 s phases in it
    // (consecutive runs of one variant differ by up to 15% on the 2-core machine).
    println!("spread: each variant's per-round ratios, 25th / 50th / 75th percentile");
    for (w, workload) in workloads.iter().enumerate() {
        let mut line = format!("{:<18}", workload.name());
        for (v, r) in variants[1..].iter().zip(&ratios[w]) {
            line.push_str(&format!(
                "  {} {:.2}/{:.2}/{:.2}",
                v.name(),
                quantile(r.clone(), 0.25),
                quantile(r.clone(), 0.5),
                quantile(r.clone(), 0.75)
            ));
        }
        println!("{line}");
    }
    // Sealer cost per row: each version's sealer alone on the backlog its trigger-only
    // variant left (no clients running), batches of 5000 as in the phases.
    let mut c = connect(&url).await;
    for (schema, v) in [("audit_t0", Variant::Chain0), ("audit_t", Variant::Chain), ("audit_tc", Variant::ChainC)] {
        if !variants.contains(&v) {
            continue;
        }
        let backlog: i64 = c.query_one(&unsealed_sql(v, schema), &[]).await.unwrap().get(0);
        let t = Instant::now();
        let mut sealed = 0;
        loop {
            let n = match v {
                Variant::Chain0 => c.query_one(&format!("SELECT {schema}.seal(5000)"), &[]).await.unwrap().get(0),
                _ => seal_once(&c, schema, 5000).await.unwrap(),
            };
            if n == 0 {
                break;
            }
            sealed += n;
        }
        let secs = t.elapsed().as_secs_f64();
        assert_eq!(sealed, backlog);
        println!(
            "sealer {}: {sealed} rows in {secs:.2}s = {:.1} us/row",
            match v {
                Variant::Chain0 => "v0 (SQL seal()) on trig0's log",
                Variant::Chain => "now (ops::seal_once) on trig's log",
                _ => "now (ops::seal_once) on trigc's log",
            },
            secs * 1e6 / sealed.max(1) as f64
        );
    }
    // (The v0 log keeps its links in its rows, a layout the verifier no longer reads.)
    for (schema, v) in [("audit_cc", Variant::ChainC), ("audit_c", Variant::Chain), ("audit_tc", Variant::TriggerC), ("audit_t", Variant::Trigger)] {
        if !variants.contains(&v) {
            continue;
        }
        // Two connections, as `audit-log verify` reads by default (--connections 2).
        let helper = [connect(&url).await];
        let r = verify_with(&mut c, &helper, &VerifyOptions { schema: schema.into(), ..VerifyOptions::default() }).await.unwrap();
        assert!(r.ok(), "{schema}: {:?}", &r.findings[..r.findings.len().min(5)]);
        println!(
            "verify {schema}: {} events, {} tenants in {:.2}s = {:.0} events/s end to end",
            r.events,
            r.tenants,
            r.seconds,
            r.events as f64 / r.seconds
        );
    }
}
