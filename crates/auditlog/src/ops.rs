//! The sealer and erasure, as the CLI and the tests call them.

use tokio_postgres::Client;

use crate::db::UseError;
use crate::scaffold::check_ident;

fn db(what: &'static str) -> impl Fn(tokio_postgres::Error) -> UseError {
    move |e| UseError::Other(format!("{what} failed: {}", e.as_db_error().map(|d| d.message().to_string()).unwrap_or_else(|| e.to_string())))
}

/// Seal up to `max_rows` rows in one short transaction; returns how many were sealed.
pub async fn seal_once(client: &Client, schema: &str, max_rows: i32) -> Result<i64, UseError> {
    check_ident(schema).map_err(|e| UseError::Other(e.to_string()))?;
    let row = client.query_one(&format!("SELECT {schema}.seal($1)"), &[&max_rows]).await.map_err(db("sealing"))?;
    Ok(row.get(0))
}

/// Seal until nothing is left (what a test or a one-off run wants).
pub async fn seal_all(client: &Client, schema: &str) -> Result<i64, UseError> {
    let mut total = 0;
    loop {
        let n = seal_once(client, schema, 10_000).await?;
        total += n;
        if n == 0 {
            return Ok(total);
        }
    }
}

/// Erase a tenant's payloads (or one entity's, or one entity instance's); returns rows erased.
pub async fn erase(
    client: &Client,
    schema: &str,
    tenant: &str,
    reason: &str,
    entity: Option<&str>,
    entity_id: Option<&str>,
) -> Result<i64, UseError> {
    check_ident(schema).map_err(|e| UseError::Other(e.to_string()))?;
    let row = client
        .query_one(&format!("SELECT {schema}.erase($1, $2, $3, $4)"), &[&tenant, &reason, &entity, &entity_id])
        .await
        .map_err(db("erasing"))?;
    Ok(row.get(0))
}
