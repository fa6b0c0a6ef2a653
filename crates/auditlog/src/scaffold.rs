//! The migration that creates the audit log: `tenantguard scaffold audit-log`.
//!
//! `render` is pure (no database), so the same text is the reviewed migration, the
//! fixture for the audit rules and what the tests apply.

use std::fmt::Write as _;

const LOG_SQL: &str = include_str!("sql/log.sql");
const GUARD_SQL: &str = include_str!("sql/guard.sql");

/// A business table whose changes are captured, with its key columns baked into the trigger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapturedTable {
    pub schema: String,
    pub name: String,
    pub key_columns: Vec<String>,
    pub tenant_column: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScaffoldConfig {
    /// Schema holding the log (default `audit`).
    pub schema: String,
    /// NOLOGIN role owning every log object (default `<schema>_owner`).
    pub owner: String,
    /// Application roles: they may read their tenant's events and call record(), nothing else.
    pub app_roles: Vec<String>,
    pub tables: Vec<CapturedTable>,
    /// How the capture triggers are written (default PL/pgSQL).
    pub capture: Capture,
}

/// The capture trigger's language. Both write the same rows; see docs/audit-log.md, Speed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Capture {
    /// A generated PL/pgSQL function per table: runs on any PostgreSQL, managed ones included.
    #[default]
    Plpgsql,
    /// The C trigger in crates/auditlog/ext (tenantguard_audit.so, installed on the server
    /// with `make -C crates/auditlog/ext install`): writes the row without the executor.
    C,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ScaffoldError {
    #[error("`{0}` is not a plain SQL identifier (use lower-case letters, digits and _, not starting with a digit)")]
    BadIdentifier(String),
    #[error("table `{0}` must be written schema.table or schema.table(key1,key2)")]
    BadTable(String),
}

impl Default for ScaffoldConfig {
    fn default() -> Self {
        ScaffoldConfig {
            schema: "audit".into(),
            owner: "audit_owner".into(),
            app_roles: vec![],
            tables: vec![],
            capture: Capture::default(),
        }
    }
}

/// Plain identifiers only: the migration is read by a person, and quoting rules are
/// where injection and review mistakes hide.
pub fn check_ident(s: &str) -> Result<&str, ScaffoldError> {
    let mut chars = s.chars();
    let ok_first = matches!(chars.next(), Some('a'..='z' | '_'));
    let ok_rest = chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_'));
    if ok_first && ok_rest && s.len() <= 63 {
        Ok(s)
    } else {
        Err(ScaffoldError::BadIdentifier(s.to_string()))
    }
}

impl CapturedTable {
    /// `schema.table` (key `id`) or `schema.table(k1,k2)`.
    pub fn parse(spec: &str, tenant_column: &str) -> Result<Self, ScaffoldError> {
        let bad = || ScaffoldError::BadTable(spec.to_string());
        let (qualified, keys) = match spec.split_once('(') {
            Some((q, rest)) => (q, rest.strip_suffix(')').ok_or_else(bad)?.split(',').map(|k| k.trim().to_string()).collect()),
            None => (spec, vec!["id".to_string()]),
        };
        let (schema, name) = qualified.trim().split_once('.').ok_or_else(bad)?;
        let table = CapturedTable {
            schema: schema.to_string(),
            name: name.to_string(),
            key_columns: keys,
            tenant_column: tenant_column.to_string(),
        };
        table.check()?;
        Ok(table)
    }

    fn check(&self) -> Result<(), ScaffoldError> {
        check_ident(&self.schema)?;
        check_ident(&self.name)?;
        check_ident(&self.tenant_column)?;
        if self.key_columns.is_empty() {
            return Err(ScaffoldError::BadTable(self.qualified()));
        }
        self.key_columns.iter().try_for_each(|k| check_ident(k).map(|_| ()))
    }

    pub fn qualified(&self) -> String {
        format!("{}.{}", self.schema, self.name)
    }

    fn function_name(&self) -> String {
        format!("capture__{}__{}", self.schema, self.name)
    }

    /// The entity id expression for OLD or NEW, keys baked in (no per-row catalog lookups).
    fn entity_id(&self, row: &str) -> String {
        match self.key_columns.as_slice() {
            [single] => format!("{row}.{single}::text"),
            many => {
                let cols: Vec<String> = many.iter().map(|k| format!("{row}.{k}")).collect();
                format!("jsonb_build_array({})::text", cols.join(", "))
            }
        }
    }
}

impl ScaffoldConfig {
    pub fn check(&self) -> Result<(), ScaffoldError> {
        check_ident(&self.schema)?;
        check_ident(&self.owner)?;
        self.app_roles.iter().try_for_each(|r| check_ident(r).map(|_| ()))?;
        self.tables.iter().try_for_each(CapturedTable::check)
    }

    pub fn event_trigger_name(&self) -> String {
        format!("{}_guard_ddl", self.schema)
    }
}

/// The full migration for `cfg`. Call `cfg.check()` first: identifiers are not quoted.
pub fn render(cfg: &ScaffoldConfig) -> String {
    let fill = |sql: &str| {
        sql.replace("@schema@", &cfg.schema)
            .replace("@owner@", &cfg.owner)
            .replace("@event_trigger@", &cfg.event_trigger_name())
    };
    let mut out = String::new();
    let _ = write!(
        out,
        "-- tenantguard audit log (canonical encoding v1), generated by `tenantguard scaffold audit-log`.\n\
         -- Review before applying. Run as a superuser (event triggers need one); safe to run again.\n\
         -- Schema {schema}, owner {owner} (NOLOGIN), app roles: {roles}.\n\n\
         BEGIN;\n\n\
         -- The DDL guard would refuse the trigger re-creation below; it is re-enabled at the end of this transaction.\n\
         ALTER EVENT TRIGGER {et} DISABLE;\n",
        schema = cfg.schema,
        owner = cfg.owner,
        roles = if cfg.app_roles.is_empty() { "none listed".to_string() } else { cfg.app_roles.join(", ") },
        et = cfg.event_trigger_name(),
    );
    // ALTER EVENT TRIGGER fails when it does not exist yet; wrap it so the first run works.
    out = out.replace(
        &format!("ALTER EVENT TRIGGER {} DISABLE;\n", cfg.event_trigger_name()),
        &format!(
            "DO $$ BEGIN\n    IF EXISTS (SELECT 1 FROM pg_event_trigger WHERE evtname = '{0}') THEN\n        ALTER EVENT TRIGGER {0} DISABLE;\n    END IF;\nEND $$;\n",
            cfg.event_trigger_name()
        ),
    );
    let _ = write!(
        out,
        "\nDO $$ BEGIN\n    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{owner}') THEN\n        CREATE ROLE {owner} NOLOGIN;\n    END IF;\nEND $$;\n\
         ALTER ROLE {owner} NOLOGIN NOSUPERUSER NOBYPASSRLS;\n\
         CREATE SCHEMA IF NOT EXISTS {schema} AUTHORIZATION {owner};\n\
         ALTER SCHEMA {schema} OWNER TO {owner};\n\n",
        owner = cfg.owner,
        schema = cfg.schema
    );
    out.push_str(&fill(LOG_SQL));
    out.push('\n');
    out.push_str(&render_privileges(cfg));
    for table in &cfg.tables {
        out.push('\n');
        out.push_str(&render_capture(cfg, table));
    }
    out.push('\n');
    out.push_str(&fill(&GUARD_SQL.replace("@expected_triggers@", &expected_triggers(cfg))));
    out.push_str("\nCOMMIT;\n");
    out
}

fn render_privileges(cfg: &ScaffoldConfig) -> String {
    let s = &cfg.schema;
    let mut grantees = vec!["PUBLIC".to_string()];
    grantees.extend(cfg.app_roles.iter().cloned());
    let all = grantees.join(", ");
    let mut out = format!(
        "-- Nobody but the owner may change the log: no INSERT (record() and the capture triggers\n\
         -- are the way in), no UPDATE, DELETE or TRUNCATE, for the app roles and PUBLIC.\n\
         REVOKE ALL ON SCHEMA {s} FROM {all};\n\
         REVOKE ALL ON ALL TABLES IN SCHEMA {s} FROM {all};\n\
         REVOKE ALL ON ALL SEQUENCES IN SCHEMA {s} FROM {all};\n\
         REVOKE ALL ON ALL FUNCTIONS IN SCHEMA {s} FROM {all};\n\
         ALTER DEFAULT PRIVILEGES FOR ROLE {o} IN SCHEMA {s} REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;\n",
        o = cfg.owner
    );
    if !cfg.app_roles.is_empty() {
        let roles = cfg.app_roles.join(", ");
        let _ = write!(
            out,
            "GRANT USAGE ON SCHEMA {s} TO {roles};\n\
             GRANT SELECT ON {s}.log TO {roles};\n\
             GRANT EXECUTE ON FUNCTION {s}.record(text, text, text, text, jsonb, jsonb) TO {roles};\n\
             -- {s}.seal() touches every tenant's chain: it is for the sealer (the owner, or a role\n\
             -- granted EXECUTE on purpose), never for the request-serving app roles.\n"
        );
    }
    out
}

fn render_capture(cfg: &ScaffoldConfig, t: &CapturedTable) -> String {
    match cfg.capture {
        Capture::Plpgsql => render_capture_plpgsql(cfg, t),
        Capture::C => render_capture_c(cfg, t),
    }
}

/// The C trigger with the table's names as trigger arguments: log schema, entity, tenant
/// column, key columns. Created as the migration's superuser (C functions need one), then
/// given to the owner, like every other log object. Not SECURITY DEFINER: it inserts the
/// log row itself, past the log's privilege checks, so it needs no one's rights, and the
/// user switch around every call was 0.7 us of a 95 us transaction (docs/audit-log.md, Speed).
fn render_capture_c(cfg: &ScaffoldConfig, t: &CapturedTable) -> String {
    let (s, f, q, o) = (&cfg.schema, t.function_name(), t.qualified(), &cfg.owner);
    let keys: Vec<String> = t.key_columns.iter().map(|k| format!("'{k}'")).collect();
    format!(
        "-- Capture {q} with the C trigger (tenantguard_audit.so must be installed on the server:\n\
         -- make -C crates/auditlog/ext install). It writes the same row the PL/pgSQL capture would.\n\
         CREATE OR REPLACE FUNCTION {s}.{f}() RETURNS trigger\n\
         LANGUAGE c SECURITY INVOKER\n\
         AS 'tenantguard_audit', 'tg_capture';\n\
         ALTER FUNCTION {s}.{f}() OWNER TO {o};\n\
         REVOKE ALL ON FUNCTION {s}.{f}() FROM PUBLIC;\n\
         CREATE OR REPLACE TRIGGER audit_capture AFTER INSERT OR UPDATE OR DELETE ON {q}\n    \
             FOR EACH ROW EXECUTE FUNCTION {s}.{f}('{s}', '{q}', '{tc}', {keys});\n\
         ALTER TABLE {q} ENABLE ALWAYS TRIGGER audit_capture;\n",
        tc = t.tenant_column,
        keys = keys.join(", "),
    )
}

fn render_capture_plpgsql(cfg: &ScaffoldConfig, t: &CapturedTable) -> String {
    let s = &cfg.schema;
    let f = t.function_name();
    let q = t.qualified();
    let tc = &t.tenant_column;
    let insert = |action: &str, row: &str, old: &str, new: &str| {
        format!(
            "INSERT INTO {s}.log (tenant_id, actor, action, entity, entity_id, old_value, new_value)\n            \
             VALUES ({row}.{tc}::text, current_setting('app.current_actor', true), '{action}', '{q}', {id}, {old}, {new});",
            id = t.entity_id(row)
        )
    };
    format!(
        "-- Capture {q}: old and new rows as jsonb, actor from app.current_actor, tenant from the row.\n\
         -- No SET search_path: it costs a GUC save and restore on every row; every name below\n\
         -- is schema-qualified or resolves in pg_catalog, which is searched first.\n\
         SET LOCAL ROLE {o};\n\
         CREATE OR REPLACE FUNCTION {s}.{f}() RETURNS trigger\n\
         LANGUAGE plpgsql SECURITY DEFINER\n\
         AS $f$\n\
         BEGIN\n    \
             IF TG_OP = 'INSERT' THEN\n        {ins}\n    \
             ELSIF TG_OP = 'UPDATE' THEN\n        {upd}\n    \
             ELSE\n        {del}\n    \
             END IF;\n    \
             RETURN NULL;\n\
         END $f$;\n\
         REVOKE ALL ON FUNCTION {s}.{f}() FROM PUBLIC;\n\
         RESET ROLE;\n\
         CREATE OR REPLACE TRIGGER audit_capture AFTER INSERT OR UPDATE OR DELETE ON {q}\n    \
             FOR EACH ROW EXECUTE FUNCTION {s}.{f}();\n\
         ALTER TABLE {q} ENABLE ALWAYS TRIGGER audit_capture;\n",
        o = cfg.owner,
        ins = insert("INSERT", "NEW", "NULL", "to_jsonb(NEW)"),
        upd = insert("UPDATE", "NEW", "to_jsonb(OLD)", "to_jsonb(NEW)"),
        del = insert("DELETE", "OLD", "to_jsonb(OLD)", "NULL"),
    )
}

/// (relation, trigger) pairs the DDL guard insists on, in a VALUES list.
fn expected_triggers(cfg: &ScaffoldConfig) -> String {
    let s = &cfg.schema;
    let mut pairs = vec![];
    for rel in ["log", "head", "link_run"] {
        for tg in ["audit_guard_update", "audit_guard_delete", "audit_guard_truncate"] {
            pairs.push(format!("('{s}.{rel}', '{tg}')"));
        }
    }
    for t in &cfg.tables {
        pairs.push(format!("('{}', 'audit_capture')", t.qualified()));
    }
    pairs.join(", ")
}
