//! Applies `migrations/*.sql` in name order as a superuser (each file is one implicit
//! transaction via the simple query protocol). The same files work with `psql -f`.

use std::path::{Path, PathBuf};

use sqlx::{Connection, PgConnection};

pub fn migrations_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations")
}

pub async fn apply(superuser_url: &str) -> anyhow::Result<()> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(migrations_dir())?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "sql"))
        .collect();
    files.sort();
    let mut conn = PgConnection::connect(superuser_url).await?;
    for file in files {
        let sql = std::fs::read_to_string(&file)?;
        // The project's own migration files, run as written by the superuser.
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&mut conn)
            .await
            .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    }
    conn.close().await?;
    Ok(())
}
