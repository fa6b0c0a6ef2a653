//! Connecting, with errors that name the problem and what to do about it.

use tokio_postgres::{Client, NoTls};

#[derive(Debug, thiserror::Error)]
pub enum UseError {
    #[error("no database URL: pass --database-url or set DATABASE_URL (e.g. postgres://user@host:5432/db)")]
    NoUrl,
    #[error("the database URL is not valid ({0}); expected postgres://user[:password]@host[:port]/database")]
    BadUrl(String),
    #[error("cannot connect to the database ({0}); check the host, port, user and that the server is running")]
    Connect(String),
    #[error("the audit log schema `{0}` was not found (or is not readable); run the migration from `tenantguard scaffold audit-log` or pass --schema")]
    NoLog(String),
    #[error("{0}")]
    Other(String),
}

pub async fn connect(url: Option<&str>) -> Result<Client, UseError> {
    let url = url.filter(|u| !u.trim().is_empty()).ok_or(UseError::NoUrl)?;
    let config: tokio_postgres::Config = url.parse().map_err(|e: tokio_postgres::Error| UseError::BadUrl(e.to_string()))?;
    let (client, connection) = config.connect(NoTls).await.map_err(|e| UseError::Connect(e.to_string()))?;
    tokio::spawn(async move {
        // The client reports errors on its own calls; a broken connection surfaces there.
        let _ = connection.await;
    });
    Ok(client)
}

/// Fail early and clearly when the schema has no log table.
pub async fn require_log(client: &Client, schema: &str) -> Result<(), UseError> {
    let row = client
        .query_one("SELECT to_regclass(format('%I.log', $1::text)) IS NOT NULL", &[&schema])
        .await
        .map_err(|e| UseError::Other(format!("cannot read the catalog: {e}")))?;
    if row.get::<_, bool>(0) {
        Ok(())
    } else {
        Err(UseError::NoLog(schema.to_string()))
    }
}
