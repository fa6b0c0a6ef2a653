use tenantguard_catalog::{read_snapshot, reader::connect, PolicyCommand, ReadOptions, RelKind};
use tenantguard_testkit::Cluster;

#[tokio::test]
async fn reads_tables_policies_roles_and_views_without_writing() {
    let cluster = Cluster::start().unwrap();
    cluster.create_database("app").unwrap();
    cluster
        .psql(
            "app",
            r#"
            CREATE ROLE owner_role NOLOGIN;
            CREATE ROLE app_user LOGIN;
            GRANT owner_role TO app_user;
            CREATE TABLE invoices (id bigint PRIMARY KEY, tenant_id uuid NOT NULL, total numeric);
            ALTER TABLE invoices OWNER TO owner_role;
            ALTER TABLE invoices ENABLE ROW LEVEL SECURITY;
            CREATE POLICY iso ON invoices TO app_user USING (tenant_id = (SELECT current_setting('app.current_tenant')::uuid));
            GRANT SELECT, INSERT ON invoices TO app_user;
            CREATE VIEW "Invoice Totals" WITH (security_invoker = true) AS SELECT tenant_id, sum(total) FROM invoices WHERE total > 0 GROUP BY tenant_id;
            CREATE FUNCTION set_tenant(t text) RETURNS void LANGUAGE sql AS $$ SELECT set_config('app.current_tenant', t, false) $$;
            ALTER ROLE app_user SET app.current_tenant = 'x';
            "#,
        )
        .unwrap();
    let before = cluster.query("app", "SELECT pg_current_wal_lsn()").unwrap();
    let client = connect(&cluster.url("app")).await.unwrap();
    let snap = read_snapshot(&client, &ReadOptions::default()).await.unwrap();
    assert!(snap.unreadable.is_empty(), "{:?}", snap.unreadable);

    let inv = snap.relations.iter().find(|r| r.name == "invoices").unwrap();
    assert_eq!(inv.kind, RelKind::Table);
    assert!(inv.rls_enabled && !inv.rls_forced);
    assert_eq!(inv.columns.len(), 3);
    let pol = snap.policies.iter().find(|p| p.name == "iso").unwrap();
    assert_eq!(pol.command, PolicyCommand::All);
    assert!(pol.using.is_some());
    let app = snap.role_by_name("app_user").unwrap();
    assert_eq!(pol.roles, vec![app.oid]);
    assert!(snap.memberships.iter().any(|m| m.member == app.oid));

    let view = snap.relations.iter().find(|r| r.name == "Invoice Totals").unwrap();
    assert!(view.security_invoker);
    assert_eq!(view.reads, vec![inv.oid]);
    assert_eq!(view.qualified().to_string(), "public.\"Invoice Totals\"");
    let f = snap.functions.iter().find(|f| f.name == "set_tenant").unwrap();
    assert!(f.sql_body.is_some());
    assert!(snap.role_settings.iter().any(|s| s.name == "app.current_tenant" && s.role.as_deref() == Some("app_user")));

    // Reading wrote nothing: the WAL position did not move.
    let after = cluster.query("app", "SELECT pg_current_wal_lsn()").unwrap();
    assert_eq!(before, after);
}

#[tokio::test]
async fn bad_urls_and_unreachable_hosts_are_clear_errors() {
    let err = connect("not a url").await.unwrap_err().to_string();
    assert!(err.contains("not a PostgreSQL connection URL"), "{err}");
    let err = connect("postgres://u:secret@127.0.0.1:1/db").await.unwrap_err().to_string();
    assert!(err.contains("cannot connect") && !err.contains("secret"), "{err}");
}

#[tokio::test]
async fn generated_columns_and_defaults_are_read() {
    let cluster = Cluster::start().unwrap();
    cluster.create_database("app").unwrap();
    cluster
        .psql("app", "CREATE TABLE t (id bigserial PRIMARY KEY, a int, b int GENERATED ALWAYS AS (a * 2) STORED, c uuid DEFAULT gen_random_uuid());")
        .unwrap();
    let client = connect(&cluster.url("app")).await.unwrap();
    let snap = read_snapshot(&client, &ReadOptions::default()).await.unwrap();
    assert!(snap.unreadable.is_empty(), "{:?}", snap.unreadable);
    let t = snap.relations.iter().find(|r| r.name == "t").unwrap();
    assert!(t.column("id").unwrap().default.as_deref().unwrap().contains("nextval"));
    assert!(t.column("b").unwrap().generated);
    assert!(t.column("b").unwrap().default.as_deref().unwrap().contains('a'));
    assert!(t.column("c").unwrap().default.as_deref().unwrap().contains("gen_random_uuid"));
}
