use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{AssertSqlSafe, PgConnection, PgPool, Postgres, SqlSafeStr, SqlStr, Transaction};

use crate::limits::{TenantConcurrency, TenantPermit};
use crate::{AuditEvent, Error, TenantId};

/// How a [`TenantPool`] talks to the database. Table and setting names are checked once
/// here: they are the only names ever placed into SQL text, and tenants never are.
#[derive(Clone, Debug)]
pub struct TenantPoolOptions {
    pub tenant_setting: String,
    /// Schema of the audit log made by `tenantguard scaffold audit-log` (crate
    /// `tenantguard-auditlog`): [`TenantTx::audit`] calls `<audit_schema>.record(...)`.
    /// That function reads the tenant from `app.current_tenant`, so keep `tenant_setting`
    /// at its default when auditing.
    pub audit_schema: String,
    /// Transaction-local setting [`TenantPool::begin_as`] puts the actor in. The scaffolded
    /// log's capture triggers read `app.current_actor` for the `actor` of captured rows.
    pub actor_setting: String,
    pub jobs_table: String,
    pub job_candidates_function: String,
    pub max_connections: u32,
    /// Concurrent transactions one tenant may hold, so one tenant cannot take the pool.
    pub max_tenant_transactions: u32,
    /// How long `begin` waits for a tenant's slot before answering 429.
    pub tenant_wait: Duration,
    /// PgBouncer in transaction mode: use unnamed statements, which never outlive the
    /// transaction (named ones would collide across server connections).
    pub pgbouncer: bool,
}

impl Default for TenantPoolOptions {
    fn default() -> Self {
        Self {
            tenant_setting: "app.current_tenant".into(),
            audit_schema: "audit".into(),
            actor_setting: "app.current_actor".into(),
            jobs_table: "public.jobs".into(),
            job_candidates_function: "public.job_candidates".into(),
            max_connections: 10,
            max_tenant_transactions: 4,
            tenant_wait: Duration::from_secs(2),
            pgbouncer: false,
        }
    }
}

struct Inner {
    pool: PgPool,
    options: TenantPoolOptions,
    concurrency: TenantConcurrency,
    sql: Statements,
}

/// Every SQL text the runtime sends, built once from the checked option names (the only
/// things ever placed into SQL text; tenants, actors and payloads are always parameters).
/// `SqlStr` clones are reference counts, so a query costs no string building.
pub(crate) struct Statements {
    pub(crate) set_tenant: SqlStr,
    pub(crate) set_tenant_and_actor: SqlStr,
    pub(crate) audit_record: SqlStr,
    pub(crate) enqueue_job: SqlStr,
    pub(crate) job_candidates: SqlStr,
    pub(crate) lock_job: SqlStr,
    pub(crate) job_done: SqlStr,
    pub(crate) job_failed: SqlStr,
}

impl Statements {
    fn new(o: &TenantPoolOptions) -> Self {
        let (jobs, tenant, actor) = (&o.jobs_table, &o.tenant_setting, &o.actor_setting);
        Self {
            set_tenant: checked(format!("SELECT set_config('{tenant}', $1, true)")),
            // Same round trip for the actor: one statement, two transaction-local settings.
            set_tenant_and_actor: checked(format!(
                "SELECT set_config('{tenant}', $1, true), set_config('{actor}', $2, true)"
            )),
            audit_record: checked(audit_record_sql(&o.audit_schema)),
            enqueue_job: checked(format!(
                "INSERT INTO {jobs} (tenant_id, kind, payload) VALUES ($1, $2, $3) RETURNING id"
            )),
            job_candidates: checked(format!("SELECT job_id, tenant_id FROM {}($1)", o.job_candidates_function)),
            lock_job: checked(format!(
                "SELECT id, kind, payload, attempts FROM {jobs} WHERE id = $1 AND status = 'queued' FOR UPDATE SKIP LOCKED"
            )),
            job_done: checked(format!(
                "UPDATE {jobs} SET status = 'done', attempts = attempts + 1, done_at = now() WHERE id = $1"
            )),
            job_failed: checked(format!(
                "UPDATE {jobs} SET attempts = attempts + 1, last_error = $2, \
                 status = CASE WHEN attempts + 1 >= $3 THEN 'failed' ELSE 'queued' END \
                 WHERE id = $1 AND status = 'queued'"
            )),
        }
    }
}

/// SQL whose only interpolations are names `check_name` accepted.
fn checked(sql: String) -> SqlStr {
    AssertSqlSafe(Arc::<str>::from(sql)).into_sql_str()
}

/// A pool that hands out tenant-scoped transactions only.
#[derive(Clone)]
pub struct TenantPool {
    inner: Arc<Inner>,
}

impl TenantPool {
    pub async fn connect(url: &str, options: TenantPoolOptions) -> Result<Self, Error> {
        let connect: PgConnectOptions = url.parse()?;
        let connect = if options.pgbouncer { connect.statement_cache_capacity(0) } else { connect };
        // No ping before acquire: the set_config that opens every tenant transaction is the
        // liveness check (retried once on a dead connection), which is what keeps a tenant
        // transaction at the same round trips as a plain `pool.begin()` (ping + BEGIN).
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections)
            .test_before_acquire(false)
            .connect_with(connect)
            .await?;
        Self::from_parts(pool, options)
    }

    fn from_parts(pool: PgPool, options: TenantPoolOptions) -> Result<Self, Error> {
        check_name("tenant_setting", &options.tenant_setting)?;
        check_schema("audit_schema", &options.audit_schema)?;
        check_name("actor_setting", &options.actor_setting)?;
        check_name("jobs_table", &options.jobs_table)?;
        check_name("job_candidates_function", &options.job_candidates_function)?;
        let sql = Statements::new(&options);
        let concurrency = TenantConcurrency::new(options.max_tenant_transactions);
        let inner = Inner { pool, options, concurrency, sql };
        Ok(Self { inner: Arc::new(inner) })
    }

    pub fn options(&self) -> &TenantPoolOptions {
        &self.inner.options
    }

    /// Opens a transaction in which `<tenant_setting>` is `tenant` and nothing else.
    pub async fn begin(&self, tenant: &TenantId) -> Result<TenantTx, Error> {
        self.begin_with(tenant, None).await
    }

    /// [`TenantPool::begin`] that also sets `<actor_setting>` (transaction-local, in the same
    /// statement, so no extra round trip): rows the audit log's capture triggers record in
    /// this transaction carry `actor`, as do [`TenantTx::audit`] events.
    pub async fn begin_as(&self, tenant: &TenantId, actor: &str) -> Result<TenantTx, Error> {
        self.begin_with(tenant, Some(actor)).await
    }

    async fn begin_with(&self, tenant: &TenantId, actor: Option<&str>) -> Result<TenantTx, Error> {
        let opts = &self.inner.options;
        let permit = self.inner.concurrency.acquire(tenant, opts.tenant_wait).await?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.open(tenant, actor).await {
                Ok(tx) => {
                    return Ok(TenantTx { tx, tenant: *tenant, pool: self.clone(), _permit: permit })
                }
                // Only a dead pooled connection is retried: nothing has run on it yet.
                Err(Error::Database(e)) if attempt == 1 && is_connection_error(&e) => {
                    tracing::debug!(error = %e, "stale pooled connection, retrying once");
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn open(&self, tenant: &TenantId, actor: Option<&str>) -> Result<Transaction<'static, Postgres>, Error> {
        let mut tx = self.inner.pool.begin().await?;
        let want = tenant.to_string();
        let persistent = self.persistent();
        let got: Option<String> = match actor {
            None => sqlx::query_scalar(self.inner.sql.set_tenant.clone()).bind(&want).persistent(persistent).fetch_one(&mut *tx).await?,
            Some(actor) => {
                let (got, _): (Option<String>, Option<String>) = sqlx::query_as(self.inner.sql.set_tenant_and_actor.clone())
                    .bind(&want)
                    .bind(actor)
                    .persistent(persistent)
                    .fetch_one(&mut *tx)
                    .await?;
                got
            }
        };
        if got.as_deref() != Some(want.as_str()) {
            return Err(Error::ContextMismatch { want, got: got.unwrap_or_default() });
        }
        Ok(tx)
    }

    /// The explicitly named path for touching tenants other than the caller's. Every
    /// transaction it opens records who, why and which tenant in that tenant's audit log.
    pub fn cross_tenant_admin(&self, actor: &str, reason: &str) -> CrossTenantAdmin {
        CrossTenantAdmin { pool: self.clone(), actor: actor.to_string(), reason: reason.to_string() }
    }

    /// For the job worker only: the one query that runs outside a tenant transaction, and
    /// it returns ids, never tenant data.
    pub(crate) fn raw(&self) -> &PgPool {
        &self.inner.pool
    }

    pub(crate) fn persistent(&self) -> bool {
        !self.inner.options.pgbouncer
    }

    pub(crate) fn sql(&self) -> &Statements {
        &self.inner.sql
    }

    /// Tenants currently holding at least one transaction slot (bounded memory check).
    pub fn tracked_tenants(&self) -> usize {
        self.inner.concurrency.len()
    }
}

fn is_connection_error(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Io(_) | sqlx::Error::Protocol(_))
        || matches!(e, sqlx::Error::Database(d) if d.code().is_some_and(|c| c.starts_with("57P") || c.starts_with("08")))
}

/// The call into the scaffolded log's only insert path for app roles. Kept in step with
/// `tenantguard_auditlog::record_sql` (the runtime does not link that crate, which brings
/// tokio-postgres, clap and the verifier; a test compares the two strings). Parameters:
/// actor, action, entity, entity_id (text), old, new (jsonb). The tenant is not one: the
/// function takes it from `app.current_tenant`, which `begin` set and checked.
pub(crate) fn audit_record_sql(schema: &str) -> String {
    format!("SELECT {schema}.record($1::text, $2::text, $3::text, $4::text, $5::jsonb, $6::jsonb)")
}

/// A schema name: one lower-case identifier.
fn check_schema(what: &str, name: &str) -> Result<(), Error> {
    check_name(what, name)?;
    if name.contains('.') {
        return Err(Error::Config(format!("{what} {name:?} is not a plain lower-case name")));
    }
    Ok(())
}

/// `schema.name` or `name`, lower-case identifiers only: no quoting games.
fn check_name(what: &str, name: &str) -> Result<(), Error> {
    let ok = !name.is_empty()
        && name.split('.').count() <= 2
        && name.split('.').all(|part| {
            let mut chars = part.chars();
            matches!(chars.next(), Some('a'..='z' | '_'))
                && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_'))
        });
    if ok {
        Ok(())
    } else {
        Err(Error::Config(format!("{what} {name:?} is not a plain lower-case name")))
    }
}

/// A transaction whose tenant context is set and verified. Use [`TenantTx::conn`] as the
/// sqlx executor; commit explicitly, or it rolls back on drop.
pub struct TenantTx {
    tx: Transaction<'static, Postgres>,
    tenant: TenantId,
    pool: TenantPool,
    _permit: TenantPermit,
}

impl TenantTx {
    pub fn tenant(&self) -> &TenantId {
        &self.tenant
    }

    /// The connection inside this tenant's transaction (never a bare pooled connection).
    pub fn conn(&mut self) -> &mut PgConnection {
        &mut self.tx
    }

    /// Whether queries should be prepared as named statements (false behind PgBouncer).
    pub fn persistent(&self) -> bool {
        self.pool.persistent()
    }

    pub(crate) fn pool(&self) -> &TenantPool {
        &self.pool
    }

    pub async fn commit(self) -> Result<(), Error> {
        Ok(self.tx.commit().await?)
    }

    pub async fn rollback(self) -> Result<(), Error> {
        Ok(self.tx.rollback().await?)
    }

    /// Records an audit event through `<audit_schema>.record(...)` in this transaction: it
    /// commits if and only if the change does, and its tenant is the transaction's own
    /// (the database function reads it from the context `begin` set; no argument names it).
    /// Returns the event's id in the log. For an entity id, use [`TenantTx::audit_event`].
    pub async fn audit(
        &mut self,
        actor: &str,
        action: &str,
        entity: &str,
        old: Option<Value>,
        new: Option<Value>,
    ) -> Result<i64, Error> {
        self.audit_event(AuditEvent { actor, action, entity, entity_id: None, old, new }).await
    }

    /// [`TenantTx::audit`] with every field of the event, including the entity id.
    pub async fn audit_event(&mut self, event: AuditEvent<'_>) -> Result<i64, Error> {
        let sql = self.pool.sql().audit_record.clone();
        let persistent = self.pool.persistent();
        event.record(sql, persistent, &mut self.tx).await
    }
}

/// Cross-tenant administration, opened with [`TenantPool::cross_tenant_admin`].
pub struct CrossTenantAdmin {
    pool: TenantPool,
    actor: String,
    reason: String,
}

impl CrossTenantAdmin {
    /// A transaction in `tenant`'s context whose first write is the audit event
    /// `cross_tenant_admin` naming the operator and the reason.
    pub async fn begin(&self, tenant: &TenantId) -> Result<TenantTx, Error> {
        tracing::warn!(actor = %self.actor, reason = %self.reason, tenant = %tenant, "cross-tenant administration");
        let mut tx = self.pool.begin_as(tenant, &self.actor).await?;
        let detail = serde_json::json!({ "reason": self.reason });
        let id = tenant.to_string();
        let event = AuditEvent {
            actor: &self.actor,
            action: "cross_tenant_admin",
            entity: "tenant",
            entity_id: Some(&id),
            old: None,
            new: Some(detail),
        };
        tx.audit_event(event).await?;
        Ok(tx)
    }
}

#[cfg(test)]
mod tests {
    /// The runtime hard-codes the call rather than linking tenantguard-auditlog (a
    /// dev-dependency only); this keeps the two in step.
    #[test]
    fn audit_call_matches_the_audit_log_crate() {
        for schema in ["audit", "tenant_audit"] {
            assert_eq!(super::audit_record_sql(schema), tenantguard_auditlog::record_sql(schema));
        }
    }
}
