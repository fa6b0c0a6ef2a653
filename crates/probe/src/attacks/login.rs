//! Login defaults: does logging in as the app role already set a tenant
//! (`ALTER ROLE ... SET` / `ALTER DATABASE ... SET`)? Live when a login URL is given,
//! from pg_db_role_setting otherwise.

use tenantguard_catalog::reader::connect;
use tenantguard_catalog::Snapshot;

use crate::matrix::{Check, Operation, Outcome, ProbeResult};
use crate::sql::lit;

async fn attack_login_inner(snapshot: &Snapshot, app_url: Option<&str>, role: &str, settings: &[String]) -> ProbeResult {
    let object = format!("role {role}");
    let catalog: Vec<String> = snapshot
        .role_settings
        .iter()
        .filter(|s| s.role.as_deref().is_none_or(|r| r == role) && s.database.as_deref().is_none_or(|d| d == snapshot.database))
        .filter(|s| settings.iter().any(|n| n.eq_ignore_ascii_case(&s.name)))
        .map(|s| {
            format!(
                "ALTER {} SET {} = {}",
                match (&s.role, &s.database) {
                    (Some(r), Some(d)) => format!("ROLE {r} IN DATABASE {d}"),
                    (Some(r), None) => format!("ROLE {r}"),
                    (None, Some(d)) => format!("DATABASE {d}"),
                    (None, None) => "ROLE ALL".into(),
                },
                s.name,
                lit(&s.value)
            )
        })
        .collect();
    let Some(url) = app_url else {
        return if catalog.is_empty() {
            ProbeResult::new(&object, Operation::LoginDefault, Outcome::Isolated, "no role or database default sets a tenant (read from pg_db_role_setting; pass --app-url to log in and check live)")
        } else {
            ProbeResult::new(&object, Operation::LoginDefault, Outcome::Leak, format!("every login as {role} starts inside a tenant: {}", catalog.join("; ")))
        };
    };
    let client = match connect(url).await {
        Ok(c) => c,
        Err(e) => return ProbeResult::new(&object, Operation::LoginDefault, Outcome::Error, format!("cannot log in with --app-url: {e}")),
    };
    let mut found = Vec::new();
    for s in settings {
        if let Ok(row) = client.query_one("SELECT coalesce(current_setting($1, true), '')", &[s]).await {
            let v: String = row.get(0);
            if !v.is_empty() {
                found.push(format!("{s} = {}", lit(&v)));
            }
        }
    }
    let who = client.query_one("SELECT current_user::text", &[]).await.map(|r| r.get::<_, String>(0)).unwrap_or_default();
    drop(client);
    if found.is_empty() {
        ProbeResult::new(&object, Operation::LoginDefault, Outcome::Isolated, format!("a fresh login as {who} carries no tenant"))
    } else {
        let mut r = ProbeResult::new(
            &object,
            Operation::LoginDefault,
            Outcome::Leak,
            format!("a fresh login as {who} already has {}{}", found.join(", "), if catalog.is_empty() { String::new() } else { format!(" ({})", catalog.join("; ")) }),
        );
        r.statement = Some("SELECT current_setting(<tenant setting>, true) right after login".into());
        r
    }
}

pub async fn attack_login(snapshot: &Snapshot, app_url: Option<&str>, role: &str, settings: &[String]) -> ProbeResult {
    let mut r = attack_login_inner(snapshot, app_url, role, settings).await;
    r.check = Some(Check::LoginDefault { settings: settings.to_vec() });
    r
}
