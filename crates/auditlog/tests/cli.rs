//! Exit codes of the mounted subcommands: 0 verified, 1 broken, 2 errors of use.
mod common;

use std::process::ExitCode;

use clap::Parser;
use tenantguard_auditlog::cli::{run, scaffold, AuditLogCommand, ScaffoldAuditLogArgs};

#[derive(Parser)]
struct Top {
    #[command(subcommand)]
    cmd: AuditLogCommand,
}

async fn exit(args: &[&str]) -> ExitCode {
    let top = Top::try_parse_from(std::iter::once("audit-log").chain(args.iter().copied())).expect("arguments parse");
    run(top.cmd).await.expect("run returns an exit code")
}

#[tokio::test]
async fn exit_codes_follow_the_contract() {
    let env = common::setup();
    let app = common::connect(&env.app_url).await;
    common::write_invoices(&app, "t1", 5).await;
    let url = env.url.as_str();
    assert_eq!(exit(&["verify", "--database-url", "not a url"]).await, ExitCode::from(2));
    assert_eq!(exit(&["verify", "--database-url", "postgres://postgres@127.0.0.1:1/app"]).await, ExitCode::from(2));
    assert_eq!(exit(&["verify", "--database-url", url, "--schema", "nope"]).await, ExitCode::from(2));
    assert_eq!(exit(&["seal", "--database-url", url]).await, ExitCode::SUCCESS);
    assert_eq!(exit(&["verify", "--database-url", url, "--format", "json"]).await, ExitCode::SUCCESS);

    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("anchor.key");
    let out = dir.path().join("anchor-1.json");
    let (k, o) = (key.to_str().unwrap(), out.to_str().unwrap());
    assert_eq!(exit(&["anchor", "--database-url", url, "--key", k, "--output", o]).await, ExitCode::from(2), "no key, no --generate-key");
    assert_eq!(exit(&["anchor", "--database-url", url, "--key", k, "--generate-key", "--output", o]).await, ExitCode::SUCCESS);
    assert_eq!(exit(&["anchor", "--database-url", url, "--key", k, "--output", o]).await, ExitCode::from(2), "never overwrites an anchor");
    assert_eq!(exit(&["verify", "--database-url", url, "--anchor", o]).await, ExitCode::SUCCESS);

    common::tamper(&env, "UPDATE audit.log SET actor = 'mallory' WHERE id = (SELECT id FROM audit.link WHERE seq = 2 LIMIT 1)");
    assert_eq!(exit(&["verify", "--database-url", url, "--anchor", o]).await, ExitCode::from(1));
    assert_eq!(exit(&["erase", "--database-url", url, "--tenant", "t1", "--reason", "ticket 5"]).await, ExitCode::SUCCESS);
}

#[test]
fn scaffold_refuses_bad_identifiers() {
    let args = |tables: &str| ScaffoldAuditLogArgs {
        schema: "audit".into(),
        owner: None,
        app_roles: vec!["app_user".into()],
        tables: vec![tables.into()],
        tenant_column: "tenant_id".into(),
        capture: Default::default(),
        output: Some(std::env::temp_dir().join(format!("tg-audit-{}.sql", std::process::id()))),
    };
    assert_eq!(scaffold(args("public.invoices; DROP TABLE x")).unwrap(), ExitCode::from(2));
    assert_eq!(scaffold(args("public.order_lines(order_id+line_no)")).unwrap(), ExitCode::SUCCESS);
}
