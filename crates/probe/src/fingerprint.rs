//! What a probe must leave unchanged: every table's row count and checksum, every
//! sequence, and the role/database settings. Used by the tests, and by the probe itself to
//! report sequences that moved (nextval() is not undone by a rollback).

use std::collections::BTreeMap;

use tokio_postgres::Client;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Fingerprint {
    pub tables: BTreeMap<String, (i64, String)>,
    pub sequences: BTreeMap<String, Option<i64>>,
    pub role_settings: Vec<String>,
}

pub async fn sequences(client: &Client) -> Result<BTreeMap<String, Option<i64>>, tokio_postgres::Error> {
    let rows = client
        .query("SELECT format('%I.%I', schemaname, sequencename), last_value FROM pg_sequences", &[])
        .await?;
    Ok(rows.into_iter().map(|r| (r.get::<_, String>(0), r.get::<_, Option<i64>>(1))).collect())
}

/// Counts and `md5(string_agg(t::text, ',' ORDER BY t::text))` of every user table.
pub async fn take(client: &Client) -> Result<Fingerprint, tokio_postgres::Error> {
    let names = client
        .query(
            "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
              WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%' \
              ORDER BY 1",
            &[],
        )
        .await?;
    let mut tables = BTreeMap::new();
    for r in names {
        let name: String = r.get(0);
        let row = client
            .query_one(&format!("SELECT count(*), coalesce(md5(string_agg(t::text, ',' ORDER BY t::text)), '') FROM {name} t"), &[])
            .await?;
        tables.insert(name, (row.get(0), row.get(1)));
    }
    let settings = client
        .query("SELECT coalesce(setrole::text, '') || '/' || coalesce(setdatabase::text, '') || '=' || array_to_string(setconfig, ',') FROM pg_db_role_setting ORDER BY 1", &[])
        .await?;
    Ok(Fingerprint { tables, sequences: sequences(client).await?, role_settings: settings.into_iter().map(|r| r.get(0)).collect() })
}
