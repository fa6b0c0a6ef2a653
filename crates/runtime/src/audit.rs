use serde_json::Value;
use sqlx::PgConnection;

use crate::{Error, TenantId};

/// One audit event. The tenant is not a field: it is always the transaction's own.
pub struct AuditEvent<'a> {
    pub actor: &'a str,
    pub action: &'a str,
    pub entity: &'a str,
    pub old: Option<Value>,
    pub new: Option<Value>,
}

impl AuditEvent<'_> {
    pub(crate) async fn insert(
        self,
        sql: &str,
        tenant: TenantId,
        persistent: bool,
        conn: &mut PgConnection,
    ) -> Result<(), Error> {
        sqlx::query(sql)
            .bind(tenant.as_uuid())
            .bind(self.actor)
            .bind(self.action)
            .bind(self.entity)
            .bind(self.old)
            .bind(self.new)
            .persistent(persistent)
            .execute(conn)
            .await?;
        Ok(())
    }
}
