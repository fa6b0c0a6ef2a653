use serde_json::Value;
use sqlx::{PgConnection, SqlStr};

use crate::Error;

/// One audit event, written by [`crate::TenantTx::audit_event`] into the log scaffolded by
/// `tenantguard scaffold audit-log` (columns `actor, action, entity, entity_id, old_value,
/// new_value`; `tenant_id` and `at` are filled in by the database). The tenant is not a
/// field: `record()` takes it from the transaction's context, so it is always the
/// transaction's own.
#[derive(Debug, Clone)]
pub struct AuditEvent<'a> {
    pub actor: &'a str,
    /// What happened: `login`, `invoice.created`, `user.role_changed`, ...
    pub action: &'a str,
    /// The kind of thing it happened to: `session`, `invoice`, `user`, ...
    pub entity: &'a str,
    /// Which one (the row's id), when there is one.
    pub entity_id: Option<&'a str>,
    pub old: Option<Value>,
    pub new: Option<Value>,
}

impl AuditEvent<'_> {
    /// Runs `sql` (`SELECT <schema>.record($1..$6)`) and returns the new event's id.
    pub(crate) async fn record(self, sql: SqlStr, persistent: bool, conn: &mut PgConnection) -> Result<i64, Error> {
        let id: i64 = sqlx::query_scalar(sql)
            .bind(self.actor)
            .bind(self.action)
            .bind(self.entity)
            .bind(self.entity_id)
            .bind(self.old)
            .bind(self.new)
            .persistent(persistent)
            .fetch_one(conn)
            .await?;
        Ok(id)
    }
}
