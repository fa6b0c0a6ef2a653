//! `[membership]` in tenantguard.toml: the membership table named, not detected.
//!
//! The schema resolves the tenant through `crew(account_ref, team_id)`: `team_id` is not a
//! tenant column name (and references nothing), so detection finds no membership table and
//! attacks as a user who belongs nowhere, which cannot tell a leaking "any member" policy from
//! an isolated one. Configured, the probe attacks as a real member of tenant A.

mod common;

use clap::Parser;
use common::*;
use tenantguard_probe::{fingerprint, probe, Operation as Op, Outcome};

const A: &str = "aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa";

/// base + invoices + Supabase's `auth.uid()`, then the crew table and a notes table, both
/// tenant tables scoped through the crew.
fn schema() -> String {
    format!(
        "{}\n{}\n{}\n{}",
        read("crates/rules/tests/cases/base.sql"),
        read("crates/rules/tests/cases/invoices.sql"),
        read("crates/rules/tests/cases/supabase.sql"),
        r#"
CREATE TABLE crew (account_ref uuid NOT NULL, team_id uuid NOT NULL, PRIMARY KEY (team_id, account_ref));
INSERT INTO crew VALUES ('11111111-1111-1111-1111-111111111111', 'aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa'),
                        ('22222222-2222-2222-2222-222222222222', 'bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb');
ALTER TABLE crew OWNER TO app_owner;
ALTER TABLE crew ENABLE ROW LEVEL SECURITY;
ALTER TABLE crew FORCE ROW LEVEL SECURITY;
CREATE POLICY own_crew ON crew FOR SELECT USING (account_ref = (SELECT auth.uid()));
GRANT SELECT ON crew TO app_user;
CREATE TABLE notes (id bigint PRIMARY KEY, tenant_id uuid NOT NULL REFERENCES tenants (id), body text NOT NULL DEFAULT '');
CREATE INDEX notes_tenant ON notes (tenant_id);
INSERT INTO notes VALUES (1, 'aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa', 'a'), (2, 'bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb', 'b');
ALTER TABLE notes OWNER TO app_owner;
GRANT SELECT, INSERT, UPDATE, DELETE ON notes TO app_user;
ALTER TABLE notes ENABLE ROW LEVEL SECURITY;
ALTER TABLE notes FORCE ROW LEVEL SECURITY;
CREATE POLICY crew_of ON notes USING (tenant_id IN (SELECT team_id FROM crew WHERE account_ref = (SELECT auth.uid())));
DROP POLICY tenant_isolation ON invoices;
CREATE POLICY crew_of ON invoices USING (tenant_id IN (SELECT team_id FROM crew WHERE account_ref = (SELECT auth.uid())));
DROP POLICY tenant_self ON tenants;
CREATE POLICY tenant_self ON tenants USING (id IN (SELECT team_id FROM crew WHERE account_ref = (SELECT auth.uid())));
"#
    )
}

/// Any member of any team reads every team's invoices.
const LEAK: &str = "DROP POLICY crew_of ON invoices; \
    CREATE POLICY crew_any ON invoices USING (EXISTS (SELECT 1 FROM crew WHERE account_ref = (SELECT auth.uid())));";

const CONFIGURED: &str = "app_roles = ['app_user']\n[membership]\ntable = 'public.crew'\nuser_column = 'account_ref'\ntenant_column = 'team_id'\n";

/// The attempt's context, and how many of tenant A's invoices the app role sees with it.
async fn a_invoices_seen_with(c: &tenantguard_testkit::Cluster, m: &tenantguard_probe::Matrix) -> (String, i64) {
    let cell = m.cell("public.invoices", Op::Select).unwrap_or_else(|| panic!("{}", show(m)));
    let ctx = cell.attempt.as_ref().unwrap().context.to_string();
    let client = tenantguard_catalog::reader::connect(&c.url("db")).await.unwrap();
    let tx = format!(
        "BEGIN; SET LOCAL ROLE app_user; SELECT set_config(k, v, true) FROM json_each_text('{}'::json) c(k, v); \
         CREATE TEMP TABLE seen ON COMMIT DROP AS SELECT count(*) AS n FROM invoices WHERE tenant_id = '{A}'",
        ctx.replace('\'', "''")
    );
    client.batch_execute(&tx).await.unwrap();
    let n: i64 = client.query_one("SELECT n FROM seen", &[]).await.unwrap().get(0);
    client.batch_execute("ROLLBACK").await.unwrap();
    (ctx, n)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configured_membership_table_is_attacked_as_a_real_member() {
    let c = cluster_with("db", &schema());
    let client = tenantguard_catalog::reader::connect(&c.url("db")).await.unwrap();
    let before = fingerprint::take(&client).await.unwrap();

    // Detection does not find crew (team_id is no tenant column name): a user of no tenant.
    let m = run(&c, "db", config("app_roles = ['app_user']")).await;
    assert!(m.notes.iter().any(|n| n.contains("no membership table")), "detection found a membership table: {:?}", m.notes);

    let m = run(&c, "db", config(CONFIGURED)).await;
    let text = show(&m);
    println!("{text}");
    assert_eq!(before, fingerprint::take(&client).await.unwrap(), "the probe changed the database");
    assert_eq!(m.summary().error, 0, "{text}");
    assert!(!m.has_leak(), "isolated schema\n{text}");
    for table in ["public.invoices", "public.notes"] {
        for op in [Op::Select, Op::Insert, Op::Update, Op::Delete] {
            assert_eq!(m.find(table, op), Some(Outcome::Isolated), "{table} {op:?}\n{text}");
        }
    }
    // The membership table itself is attacked by its configured tenant column (team_id is no
    // tenant column the model knows): a member of A reads no member of B, adds none to B.
    for op in [Op::Select, Op::Insert] {
        assert_eq!(m.find("public.crew", op), Some(Outcome::Isolated), "crew {op:?}\n{text}");
    }
    assert!(
        m.notes.iter().any(|n| n.contains("member of tenant A") && n.contains("public.crew.account_ref by team_id") && n.contains("[membership]")),
        "{:?}",
        m.notes
    );
    // The attack ran as a real member of A: with its context the app role sees A's invoices.
    let (ctx, n) = a_invoices_seen_with(&c, &m).await;
    assert!(ctx.contains("request.jwt.claim.sub") && ctx.contains("11111111-1111-1111-1111-111111111111"), "{ctx}");
    assert!(n > 0, "the member of A sees none of A's invoices with {ctx}");

    // The tenant column defaults to the detected one; here there is none, and the error says so.
    let no_tenant = "app_roles = ['app_user']\n[membership]\ntable = 'public.crew'\nuser_column = 'account_ref'\n";
    let err = probe(&opts(c.url("db"), config(no_tenant))).await.expect_err("no tenant column").to_string();
    assert!(err.contains("[membership]") && err.contains("tenant_column") && err.contains("public.crew"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configured_membership_table_finds_the_leak() {
    let c = cluster_with("db", &format!("{}\n{LEAK}", schema()));
    let client = tenantguard_catalog::reader::connect(&c.url("db")).await.unwrap();
    let before = fingerprint::take(&client).await.unwrap();
    let m = run(&c, "db", config(CONFIGURED)).await;
    let text = show(&m);
    println!("{text}");
    assert_eq!(before, fingerprint::take(&client).await.unwrap(), "the probe changed the database");
    assert_eq!(m.summary().error, 0, "{text}");
    assert_eq!(m.find("public.invoices", Op::Select), Some(Outcome::Leak), "{text}");
    for op in [Op::Select, Op::Insert, Op::Update, Op::Delete] {
        assert_eq!(m.find("public.notes", op), Some(Outcome::Isolated), "{op:?}\n{text}");
    }
    let (ctx, n) = a_invoices_seen_with(&c, &m).await;
    assert!(n > 0, "the member of A sees none of A's invoices with {ctx}");

    // No member in the data: one is synthesised in crew, in tenant A (team_id is set though it
    // is no tenant column the model knows), and the leak is still found. Nothing is kept.
    c.psql("db", "DELETE FROM crew").unwrap();
    let before = fingerprint::take(&client).await.unwrap();
    let m = run(&c, "db", config(CONFIGURED)).await;
    let text = show(&m);
    assert_eq!(before, fingerprint::take(&client).await.unwrap(), "the probe changed the database");
    let cell = m.cell("public.invoices", Op::Select).unwrap_or_else(|| panic!("{text}"));
    assert_eq!(cell.outcome, Outcome::Leak, "{text}");
    assert!(cell.setup.iter().any(|s| s.contains("\"crew\"") && s.contains("\"team_id\"") && s.contains(A)), "{:?}", cell.setup);
    assert_eq!(m.find("public.notes", Op::Select), Some(Outcome::Isolated), "{text}");
}

/// A membership table every member may read (and join): the probe finds both on the table
/// itself, though it is a tenant table only by the column `[membership]` names.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configured_membership_table_is_itself_attacked() {
    let open = "DROP POLICY own_crew ON crew; CREATE POLICY any_crew ON crew USING (true); GRANT INSERT ON crew TO app_user;";
    let c = cluster_with("db", &format!("{}\n{open}", schema()));
    let client = tenantguard_catalog::reader::connect(&c.url("db")).await.unwrap();
    let before = fingerprint::take(&client).await.unwrap();
    let m = run(&c, "db", config(CONFIGURED)).await;
    let text = show(&m);
    assert_eq!(before, fingerprint::take(&client).await.unwrap(), "the probe changed the database");
    assert_eq!(m.summary().error, 0, "{text}");
    assert_eq!(m.find("public.crew", Op::Select), Some(Outcome::Leak), "{text}");
    assert_eq!(m.find("public.crew", Op::Insert), Some(Outcome::Leak), "{text}");
}

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: tenantguard_probe::cli::ProbeArgs,
}

/// A table or column `[membership]` names that does not exist: an error of use (exit 2) that
/// names the key, the missing object and what to do; never a panic, never a guess.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_misconfigured_membership_table_is_a_clear_error_of_use() {
    let c = cluster_with("db", &schema());
    let bad = |body: &str| config(&format!("app_roles = ['app_user']\n[membership]\n{body}"));
    let err = probe(&opts(c.url("db"), bad("table = 'public.crews'\nuser_column = 'account_ref'"))).await.expect_err("no such table").to_string();
    assert!(err.contains("[membership] table public.crews does not exist in database db") && err.contains("tenantguard.toml"), "{err}");
    let err = probe(&opts(c.url("db"), bad("table = 'public.crew'\nuser_column = 'user_id'\ntenant_column = 'team_id'"))).await.expect_err("no such column").to_string();
    assert!(err.contains("[membership] user_column user_id does not exist in table public.crew") && err.contains("account_ref"), "{err}");
    let err = probe(&opts(c.url("db"), bad("table = 'crew'\nuser_column = 'account_ref'\ntenant_column = 'tenant_id'"))).await.expect_err("no such column").to_string();
    assert!(err.contains("[membership] tenant_column tenant_id does not exist in table public.crew"), "{err}");

    // Through the command: the config file, then Err, which the binary turns into exit 2.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tenantguard.toml");
    std::fs::write(&path, "[membership]\ntable = 'public.crews'\nuser_column = 'account_ref'\n").unwrap();
    let cli = Cli::try_parse_from(["probe", "--database-url", &c.url("db"), "--app-role", "app_user", "--config", path.to_str().unwrap()]).unwrap();
    let err = tenantguard_probe::cli::run(cli.args).await.expect_err("an error of use").to_string();
    assert!(err.contains("[membership] table public.crews does not exist"), "{err}");
}
