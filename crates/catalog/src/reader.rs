//! Reads a [`Snapshot`] from a live database.
//!
//! Everything happens in one `READ ONLY` transaction with `statement_timeout` and
//! `lock_timeout` set, touching catalogs only: no temp objects, nothing written.
//! Each query runs under a savepoint so a catalog the login may not read is recorded
//! in [`Snapshot::unreadable`] instead of failing the whole audit.

use std::collections::HashMap;
use std::time::Duration;

use tokio_postgres::{Client, NoTls, Row};

use crate::expr::{parse_expr, parse_query, parse_statements, Expr};
use crate::model::*;

#[derive(Debug, Clone)]
pub struct ReadOptions {
    pub statement_timeout: Duration,
    pub lock_timeout: Duration,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions { statement_timeout: Duration::from_secs(60), lock_timeout: Duration::from_secs(5) }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("`{0}` is not a PostgreSQL connection URL or key=value string ({1}); use postgres://user:password@host:5432/database")]
    BadUrl(String, String),
    #[error("cannot connect to {target}: {reason}; check the host, port, user, password and database name, and that the server accepts connections from here")]
    Connect { target: String, reason: String },
    #[error("reading the catalog failed: {0}")]
    Query(String),
}

/// TLS settings libpq understands but tokio-postgres does not parse: `sslmode=verify-ca|verify-full`
/// and `sslrootcert`. They are taken out of the connection string before it is parsed.
#[derive(Debug, Default)]
struct TlsWish {
    verify_ca: bool,
    verify_host: bool,
    root_cert: Option<String>,
}

fn take_tls_options(url: &str) -> (String, TlsWish) {
    let mut wish = TlsWish::default();
    let mut keep = |key: &str, value: &str| -> Option<String> {
        match (key, value) {
            ("sslmode", "verify-full") => {
                wish.verify_ca = true;
                wish.verify_host = true;
                Some("sslmode=require".into())
            }
            ("sslmode", "verify-ca") => {
                wish.verify_ca = true;
                Some("sslmode=require".into())
            }
            ("sslrootcert", v) => {
                wish.root_cert = Some(v.to_string());
                None
            }
            _ => Some(format!("{key}={value}")),
        }
    };
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let Some((base, query)) = url.split_once('?') else { return (url.to_string(), wish) };
        let params: Vec<String> = query
            .split('&')
            .filter(|p| !p.is_empty())
            .filter_map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                keep(k, v)
            })
            .collect();
        let rebuilt = if params.is_empty() { base.to_string() } else { format!("{base}?{}", params.join("&")) };
        (rebuilt, wish)
    } else {
        let parts: Vec<String> = url
            .split_whitespace()
            .filter_map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                keep(k, v.trim_matches('\''))
            })
            .collect();
        (parts.join(" "), wish)
    }
}

fn tls_connector(wish: &TlsWish) -> Result<postgres_native_tls::MakeTlsConnector, String> {
    let mut builder = native_tls::TlsConnector::builder();
    // libpq semantics: `require` encrypts without checking the certificate; `verify-ca` checks the
    // chain; `verify-full` checks the chain and the host name.
    builder.danger_accept_invalid_certs(!wish.verify_ca);
    builder.danger_accept_invalid_hostnames(!wish.verify_host);
    if let Some(path) = &wish.root_cert {
        let pem = std::fs::read(path).map_err(|e| format!("cannot read sslrootcert {path}: {e}"))?;
        let cert = native_tls::Certificate::from_pem(&pem).map_err(|e| format!("sslrootcert {path} is not a PEM certificate: {e}"))?;
        builder.add_root_certificate(cert);
    }
    let connector = builder.build().map_err(|e| format!("cannot set up TLS: {e}"))?;
    Ok(postgres_native_tls::MakeTlsConnector::new(connector))
}

/// Connect with a URL (or libpq key=value string). TLS follows `sslmode` as libpq does
/// (disable, prefer — the default —, require, verify-ca, verify-full; `sslrootcert` for a private CA).
pub async fn connect(url: &str) -> Result<Client, ReadError> {
    let (cleaned, wish) = take_tls_options(url);
    let config: tokio_postgres::Config = cleaned.parse().map_err(|e: tokio_postgres::Error| {
        ReadError::BadUrl(redact(url), e.to_string())
    })?;
    let target = describe_target(&config);
    let timeout = Duration::from_secs(15);
    let timed_out = || ReadError::Connect { target: target.clone(), reason: "timed out after 15s".into() };
    let failed = |e: tokio_postgres::Error| ReadError::Connect { target: target.clone(), reason: error_text(&e) };
    if config.get_ssl_mode() == tokio_postgres::config::SslMode::Disable {
        let (client, connection) = tokio::time::timeout(timeout, config.connect(NoTls)).await.map_err(|_| timed_out())?.map_err(failed)?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        return Ok(client);
    }
    let tls = tls_connector(&wish).map_err(|reason| ReadError::Connect { target: target.clone(), reason })?;
    let (client, connection) = tokio::time::timeout(timeout, config.connect(tls)).await.map_err(|_| timed_out())?.map_err(failed)?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

/// The message a person needs from a driver error: the server's own text when there is one.
pub fn error_text(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return db.message().to_string();
    }
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text = format!("{text}: {s}");
        source = s.source();
    }
    text
}

fn describe_target(config: &tokio_postgres::Config) -> String {
    let host = config
        .get_hosts()
        .first()
        .map(|h| match h {
            tokio_postgres::config::Host::Tcp(h) => h.clone(),
            tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
        })
        .unwrap_or_else(|| "localhost".into());
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!(
        "{}@{}:{}/{}",
        config.get_user().unwrap_or("?"),
        host,
        port,
        config.get_dbname().unwrap_or(config.get_user().unwrap_or("?"))
    )
}

/// Remove a password from a URL before it is printed.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.find(':') {
                Some(colon) => format!("{}{}:***{}", &url[..scheme + 3], &userinfo[..colon], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

const SYSTEM_SCHEMAS: &str = "n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'";

fn grants_sql(acl: &str, kind: char, owner: &str) -> String {
    format!(
        "(SELECT coalesce(string_agg(a.grantee::text || ':' || a.privilege_type, ','), '') \
           FROM aclexplode(coalesce({acl}, acldefault('{kind}', {owner}))) a)"
    )
}

fn column_grants_sql() -> String {
    // Most columns carry no ACL: skip the per-row subquery for them. (Defaults are printed with
    // relation 0 in the query below: they cannot reference columns, and opening each relation
    // to print them cost more than the rest of the read; generated columns can, so they keep it.)
    "CASE WHEN a.attacl IS NULL THEN '' ELSE (SELECT coalesce(string_agg(g.grantee::text || ':' || g.privilege_type, ','), '') FROM aclexplode(a.attacl) g) END".to_string()
}

fn parse_grants(text: &str) -> Vec<Grant> {
    text.split(',')
        .filter_map(|entry| {
            let (grantee, privilege) = entry.split_once(':')?;
            Some(Grant { grantee: grantee.parse().ok()?, privilege: Privilege::parse(privilege) })
        })
        .collect()
}

struct Reader<'c> {
    client: &'c Client,
    unreadable: Vec<String>,
}

impl Reader<'_> {
    /// Run one catalog query under a savepoint; a failure is recorded, not fatal.
    async fn rows(&mut self, what: &str, sql: &str) -> Vec<Row> {
        let started = std::time::Instant::now();
        let rows = self.rows_inner(what, sql).await;
        if std::env::var_os("TENANTGUARD_TIMING").is_some() {
            eprintln!("tenantguard: read {what}: {} rows in {:.1} ms", rows.len(), started.elapsed().as_secs_f64() * 1000.0);
        }
        rows
    }

    async fn rows_inner(&mut self, what: &str, sql: &str) -> Vec<Row> {
        if let Err(e) = self.client.batch_execute("SAVEPOINT tg_read").await {
            self.unreadable.push(format!("{what}: {}", error_text(&e)));
            return Vec::new();
        }
        match self.client.query(sql, &[]).await {
            Ok(rows) => {
                let _ = self.client.batch_execute("RELEASE SAVEPOINT tg_read").await;
                rows
            }
            Err(e) => {
                let _ = self.client.batch_execute("ROLLBACK TO SAVEPOINT tg_read").await;
                self.unreadable.push(format!("{what}: {}", error_text(&e)));
                Vec::new()
            }
        }
    }
}

/// Read the whole snapshot in one READ ONLY transaction, then roll it back.
pub async fn read_snapshot(client: &Client, options: &ReadOptions) -> Result<Snapshot, ReadError> {
    let q = |e: tokio_postgres::Error| ReadError::Query(error_text(&e));
    client
        .batch_execute(&format!(
            "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; \
             SET LOCAL statement_timeout = {}; SET LOCAL lock_timeout = {}; \
             SET LOCAL search_path = pg_catalog, pg_temp;",
            options.statement_timeout.as_millis(),
            options.lock_timeout.as_millis()
        ))
        .await
        .map_err(q)?;
    let result = read_in_transaction(client).await;
    let _ = client.batch_execute("ROLLBACK").await;
    result
}

async fn read_in_transaction(client: &Client) -> Result<Snapshot, ReadError> {
    let q = |e: tokio_postgres::Error| ReadError::Query(error_text(&e));
    let head = client
        .query_one("SELECT current_setting('server_version_num')::int4, current_database()::text, current_user::text", &[])
        .await
        .map_err(q)?;
    let mut snap = Snapshot {
        server_version_num: head.get(0),
        database: head.get(1),
        read_as: head.get(2),
        ..Snapshot::default()
    };
    let mut r = Reader { client, unreadable: Vec::new() };

    for row in r.rows("roles", "SELECT oid, rolname::text, rolsuper, rolbypassrls, rolcanlogin, rolinherit FROM pg_roles").await {
        snap.roles.push(Role {
            oid: row.get(0),
            name: row.get(1),
            superuser: row.get(2),
            bypass_rls: row.get(3),
            can_login: row.get(4),
            inherit: row.get(5),
        });
    }
    let inherit_of: HashMap<Oid, bool> = snap.roles.iter().map(|r| (r.oid, r.inherit)).collect();
    let membership_sql = if snap.server_version_num >= 160000 {
        "SELECT roleid, member, admin_option, inherit_option, set_option FROM pg_auth_members"
    } else {
        "SELECT roleid, member, admin_option, NULL::bool, true FROM pg_auth_members"
    };
    for row in r.rows("role memberships", membership_sql).await {
        let member: Oid = row.get(1);
        let inherit: Option<bool> = row.get(3);
        snap.memberships.push(Membership {
            role: row.get(0),
            member,
            admin: row.get(2),
            inherit: inherit.unwrap_or_else(|| inherit_of.get(&member).copied().unwrap_or(true)),
            set: row.get(4),
        });
    }

    let sql = format!(
        "SELECT n.oid, n.nspname::text, n.nspowner, {} FROM pg_namespace n WHERE {SYSTEM_SCHEMAS}",
        grants_sql("n.nspacl", 'n', "n.nspowner")
    );
    for row in r.rows("schemas", &sql).await {
        snap.schemas.push(Schema { oid: row.get(0), name: row.get(1), owner: row.get(2), grants: parse_grants(row.get(3)) });
    }

    let sql = format!(
        "SELECT c.oid, n.nspname::text, c.relname::text, c.relkind::text, c.relowner, c.relrowsecurity, \
                c.relforcerowsecurity, {}, c.relispartition, coalesce(c.reloptions::text[], '{{}}'), \
                CASE WHEN c.relkind IN ('v','m') THEN pg_get_viewdef(c.oid) END, c.relpersistence = 't' \
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
          WHERE c.relkind IN ('r','p','v','m','f') AND {SYSTEM_SCHEMAS}",
        grants_sql("c.relacl", 'r', "c.relowner")
    );
    let mut rel_index: HashMap<Oid, usize> = HashMap::new();
    for row in r.rows("tables and views", &sql).await {
        let options: Vec<String> = row.get(9);
        let opt = |k: &str| options.iter().any(|o| o.eq_ignore_ascii_case(&format!("{k}=true")) || o.eq_ignore_ascii_case(&format!("{k}=on")));
        let kind: String = row.get(3);
        rel_index.insert(row.get(0), snap.relations.len());
        snap.relations.push(Relation {
            oid: row.get(0),
            schema: row.get(1),
            name: row.get(2),
            kind: RelKind::from_relkind(&kind),
            owner: row.get(4),
            rls_enabled: row.get(5),
            rls_forced: row.get(6),
            grants: parse_grants(row.get(7)),
            columns: Vec::new(),
            parents: Vec::new(),
            is_partition: row.get(8),
            security_invoker: opt("security_invoker"),
            security_barrier: opt("security_barrier"),
            view_definition: row.get(10),
            view_filter: None,
            reads: Vec::new(),
            is_temp: row.get(11),
        });
    }

    let sql = format!(
        "SELECT a.attrelid, a.attnum, a.attname::text, format_type(a.atttypid, a.atttypmod), a.attnotnull, \
                CASE WHEN a.attgenerated = '' THEN pg_get_expr(d.adbin, 0) ELSE pg_get_expr(d.adbin, d.adrelid) END, a.attidentity <> '', a.attgenerated <> '', {} \
           FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
           LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
          WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r','p','v','m','f') AND {SYSTEM_SCHEMAS} \
          ORDER BY a.attrelid, a.attnum",
        column_grants_sql()
    );
    for row in r.rows("columns", &sql).await {
        let rel: Oid = row.get(0);
        if let Some(&i) = rel_index.get(&rel) {
            snap.relations[i].columns.push(Column {
                num: row.get(1),
                name: row.get(2),
                type_name: row.get(3),
                not_null: row.get(4),
                default: row.get(5),
                identity: row.get(6),
                generated: row.get(7),
                grants: parse_grants(row.get(8)),
            });
        }
    }

    for row in r.rows("inheritance", "SELECT inhrelid, inhparent FROM pg_inherits").await {
        if let Some(&i) = rel_index.get(&row.get::<_, Oid>(0)) {
            snap.relations[i].parents.push(row.get(1));
        }
    }

    let deps = "SELECT DISTINCT r.ev_class, d.refobjid FROM pg_rewrite r \
                JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid \
                 AND d.refclassid = 'pg_class'::regclass AND d.refobjid <> r.ev_class";
    for row in r.rows("view dependencies", deps).await {
        if let Some(&i) = rel_index.get(&row.get::<_, Oid>(0)) {
            let target: Oid = row.get(1);
            if !snap.relations[i].reads.contains(&target) {
                snap.relations[i].reads.push(target);
            }
        }
    }

    // Key columns come back as attribute numbers and are named from the columns already read:
    // a correlated lookup per constraint or index costs more than the rest of the read.
    let column_name = |snap: &Snapshot, rel: Oid, num: i16| -> Option<String> {
        rel_index.get(&rel).and_then(|&i| snap.relations[i].columns.iter().find(|c| c.num == num)).map(|c| c.name.clone())
    };
    let sql = format!(
        "SELECT co.conname::text, co.conrelid, co.contype::text, coalesce(co.conkey, '{{}}'), co.confrelid, coalesce(co.confkey, '{{}}') \
           FROM pg_constraint co JOIN pg_class c ON c.oid = co.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
          WHERE {SYSTEM_SCHEMAS}"
    );
    for row in r.rows("constraints", &sql).await {
        let kind: String = row.get(2);
        let relation: Oid = row.get(1);
        let referenced: Oid = row.get(4);
        let keys: Vec<i16> = row.get(3);
        let fkeys: Vec<i16> = row.get(5);
        let columns = keys.iter().filter_map(|k| column_name(&snap, relation, *k)).collect();
        let referenced_columns = fkeys.iter().filter_map(|k| column_name(&snap, referenced, *k)).collect();
        snap.constraints.push(Constraint {
            name: row.get(0),
            relation,
            kind: match kind.as_str() {
                "p" => ConstraintKind::PrimaryKey,
                "u" => ConstraintKind::Unique,
                "f" => ConstraintKind::ForeignKey,
                "c" => ConstraintKind::Check,
                "x" => ConstraintKind::Exclusion,
                _ => ConstraintKind::Other,
            },
            columns,
            referenced_relation: (referenced != 0).then_some(referenced),
            referenced_columns,
        });
    }

    let sql = format!(
        "SELECT ic.relname::text, i.indrelid, i.indisunique, i.indisprimary, i.indkey::int2[], i.indnkeyatts, i.indpred IS NOT NULL \
           FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_class c ON c.oid = i.indrelid \
           JOIN pg_namespace n ON n.oid = c.relnamespace WHERE {SYSTEM_SCHEMAS}"
    );
    for row in r.rows("indexes", &sql).await {
        let relation: Oid = row.get(1);
        let keys: Vec<i16> = row.get(4);
        let key_count: i16 = row.get(5);
        // Attribute number 0 is an expression key.
        let columns = keys
            .iter()
            .take(key_count.max(0) as usize)
            .map(|k| if *k == 0 { None } else { column_name(&snap, relation, *k) })
            .collect();
        snap.indexes.push(Index {
            name: row.get(0),
            relation,
            unique: row.get(2),
            primary: row.get(3),
            columns,
            partial: row.get(6),
        });
    }

    let sql = "SELECT p.polname::text, p.polrelid, p.polcmd::text, p.polpermissive, p.polroles, \
                      pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid) FROM pg_policy p";
    let mut parsed: HashMap<String, Option<Expr>> = HashMap::new();
    let mut parse_cached = |text: &Option<String>, unreadable: &mut Vec<String>| -> Option<Expr> {
        let text = text.as_ref()?;
        parsed
            .entry(text.clone())
            .or_insert_with(|| match parse_expr(text) {
                Ok(e) => Some(e),
                Err(e) => {
                    unreadable.push(format!("policy expression: {e}"));
                    Some(Expr::Other("unparsed".into()))
                }
            })
            .clone()
    };
    for row in r.rows("policies", sql).await {
        let using_text: Option<String> = row.get(5);
        let check_text: Option<String> = row.get(6);
        let cmd: String = row.get(2);
        let using = parse_cached(&using_text, &mut r.unreadable);
        let check = parse_cached(&check_text, &mut r.unreadable);
        snap.policies.push(Policy {
            name: row.get(0),
            relation: row.get(1),
            command: PolicyCommand::from_polcmd(&cmd),
            permissive: row.get(3),
            roles: row.get(4),
            using_text,
            check_text,
            using,
            check,
        });
    }

    // C functions are library code with nothing to parse, except trigger functions: which
    // tables they fire on is what the audit-log rules read (tenantguard's C capture trigger).
    let sql = format!(
        "SELECT p.oid, n.nspname::text, p.proname::text, pg_get_function_identity_arguments(p.oid), p.pronargs, \
                l.lanname::text, p.prosecdef, p.provolatile::text, p.proowner, coalesce(p.proconfig, '{{}}'), \
                coalesce(p.prosrc, ''), p.proretset, format_type(p.prorettype, NULL), {}, \
                p.prorettype = 'pg_catalog.trigger'::regtype \
           FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace JOIN pg_language l ON l.oid = p.prolang \
          WHERE p.prokind IN ('f','p') AND {SYSTEM_SCHEMAS} \
            AND (l.lanname NOT IN ('c', 'internal') OR (l.lanname = 'c' AND p.prorettype = 'pg_catalog.trigger'::regtype))",
        grants_sql("p.proacl", 'f', "p.proowner")
    );
    for row in r.rows("functions", &sql).await {
        let language: String = row.get(5);
        let source: String = row.get(10);
        let sql_body = (language == "sql").then(|| parse_statements(&source).ok()).flatten();
        snap.functions.push(Function {
            oid: row.get(0),
            schema: row.get(1),
            name: row.get(2),
            arguments: row.get(3),
            arg_count: row.get(4),
            language,
            security_definer: row.get(6),
            volatility: row.get(7),
            owner: row.get(8),
            config: row.get(9),
            source,
            returns_set: row.get(11),
            return_type: row.get(12),
            grants: parse_grants(row.get(13)),
            sql_body,
            is_trigger: row.get(14),
        });
    }

    // tgargs is bytea, each argument followed by a NUL byte; 'escape' shows NUL as \000.
    let triggers_sql = "SELECT t.tgname::text, t.tgrelid, t.tgfoid, t.tgenabled::text, t.tgtype::int4, \
        CASE WHEN t.tgnargs = 0 THEN '{}'::text[] \
             ELSE (regexp_split_to_array(encode(t.tgargs, 'escape'), '\\\\000'))[1:t.tgnargs] END \
        FROM pg_trigger t WHERE NOT t.tgisinternal";
    for row in r.rows("triggers", triggers_sql).await {
        let ty: i32 = row.get(4);
        snap.triggers.push(Trigger {
            name: row.get(0),
            relation: row.get(1),
            function: row.get(2),
            enabled: row.get(3),
            row_level: ty & 1 != 0,
            before: ty & 2 != 0,
            instead: ty & 64 != 0,
            after: ty & 2 == 0 && ty & 64 == 0,
            on_insert: ty & 4 != 0,
            on_delete: ty & 8 != 0,
            on_update: ty & 16 != 0,
            on_truncate: ty & 32 != 0,
            args: row.get(5),
        });
    }

    for row in r.rows("event triggers", "SELECT evtname::text, evtevent::text, evtfoid, evtenabled::text, coalesce(evttags, '{}') FROM pg_event_trigger").await {
        snap.event_triggers.push(EventTrigger {
            name: row.get(0),
            event: row.get(1),
            function: row.get(2),
            enabled: row.get(3),
            tags: row.get(4),
        });
    }

    let sql = "SELECT r.rolname::text, d.datname::text, s.setconfig FROM pg_db_role_setting s \
               LEFT JOIN pg_roles r ON r.oid = s.setrole LEFT JOIN pg_database d ON d.oid = s.setdatabase";
    for row in r.rows("role and database settings", sql).await {
        let config: Vec<String> = row.get(2);
        for entry in config {
            if let Some((name, value)) = entry.split_once('=') {
                snap.role_settings.push(RoleSetting { role: row.get(0), database: row.get(1), name: name.into(), value: value.into() });
            }
        }
    }

    let sql = "SELECT name::text, coalesce(setting, ''), source::text FROM pg_settings \
               WHERE source NOT IN ('default', 'override', 'client', 'session', 'interactive')";
    for row in r.rows("server settings", sql).await {
        snap.settings.push(Setting { name: row.get(0), value: row.get(1), source: row.get(2) });
    }

    let sql = format!("SELECT d.datname::text, d.datdba, d.datistemplate, {} FROM pg_database d", grants_sql("d.datacl", 'd', "d.datdba"));
    for row in r.rows("databases", &sql).await {
        snap.databases.push(Database { name: row.get(0), owner: row.get(1), is_template: row.get(2), grants: parse_grants(row.get(3)) });
    }

    // Views: parse the query once so rules can see its filter and its tables.
    for rel in snap.relations.iter_mut() {
        if rel.kind == RelKind::View {
            if let Some(def) = &rel.view_definition {
                if let Ok(query) = parse_query(def) {
                    rel.view_filter = query.filter;
                }
            }
        }
    }

    snap.unreadable = r.unreadable;
    Ok(snap)
}
