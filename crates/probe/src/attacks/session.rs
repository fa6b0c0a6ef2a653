//! Session leaks: call each function that sets the tenant, COMMIT, and look whether the
//! next transaction on the same connection still carries it (what a transaction pooler
//! hands to the next client).
//!
//! This is the one place the probe commits. It does so only in a `READ ONLY` transaction
//! (a setter that writes fails and is reported as skipped), on a dedicated connection that
//! is closed right after, so the only thing that outlives the COMMIT is that connection's
//! settings, which die with it.

use tenantguard_catalog::reader::{connect, error_text};
use tokio_postgres::SimpleQueryMessage;

use super::short;
use crate::matrix::{Check, Operation, Outcome, ProbeResult};
use crate::sql::{ident, lit};
use crate::targets::{FunctionArgs, SetterTarget};

pub async fn attack_setter(url: &str, s: &SetterTarget, info: &FunctionArgs, role: &str, tenant: &str) -> ProbeResult {
    let fail = |outcome, detail: String| ProbeResult::new(&s.display, Operation::Session, outcome, detail);
    let Some(fi) = info.get(&s.oid) else { return fail(Outcome::Error, "the function vanished while probing".into()) };
    let args: Vec<String> = fi
        .arg_types
        .iter()
        .enumerate()
        .map(|(i, ty)| if i == 0 { format!("CAST({} AS {ty})", lit(tenant)) } else { format!("CAST(NULL AS {ty})") })
        .collect();
    let name = s.display.split('(').next().unwrap_or(&s.display).to_string();
    let call = if fi.procedure { format!("CALL {name}({})", args.join(", ")) } else { format!("SELECT {name}({})", args.join(", ")) };
    let client = match connect(url).await {
        Ok(c) => c,
        Err(e) => return fail(Outcome::Error, format!("cannot open the dedicated connection: {e}")),
    };
    let first = format!(
        "BEGIN READ ONLY; SET LOCAL statement_timeout = '10s'; SET LOCAL lock_timeout = '2s'; SET LOCAL ROLE {}; {call}; COMMIT",
        ident(role)
    );
    if let Err(e) = client.batch_execute(&first).await {
        let _ = client.batch_execute("ROLLBACK").await;
        let state = e.code().map(|c| c.code().to_string()).unwrap_or_default();
        return if state == "25006" {
            fail(Outcome::Skipped, format!("{call} writes, and the probe commits only read-only transactions: {}", error_text(&e)))
        } else {
            fail(Outcome::Error, format!("{call} failed: {}", error_text(&e)))
        };
    }
    let reads: Vec<String> = s.settings.iter().map(|n| format!("SELECT coalesce(current_setting({}, true), '')", lit(n))).collect();
    let mut survived = Vec::new();
    for (setting, sql) in s.settings.iter().zip(&reads) {
        let sql = format!("BEGIN READ ONLY; SET LOCAL ROLE {}; {sql}; ROLLBACK", ident(role));
        if let Ok(msgs) = client.simple_query(&sql).await {
            for m in msgs {
                if let SimpleQueryMessage::Row(r) = m {
                    if let Some(v) = r.get(0) {
                        if !v.is_empty() && v.contains(tenant) {
                            survived.push(format!("{setting} = {}", short(v)));
                        }
                    }
                }
            }
        }
    }
    drop(client);
    let mut r = if survived.is_empty() {
        fail(Outcome::Isolated, format!("after {call} and COMMIT the next transaction on the connection carries no tenant"))
    } else {
        fail(
            Outcome::Leak,
            format!(
                "after {call} and COMMIT the next transaction on the same connection still has {}: behind a transaction pooler the next client gets tenant {}'s rows; use set_config(..., true)",
                survived.join(", "),
                short(tenant)
            ),
        )
    };
    r.statement = Some(format!("{call}; COMMIT; SELECT current_setting(...)"));
    r.check = Some(Check::Session { call, procedure: fi.procedure, settings: s.settings.clone(), tenant: tenant.to_string() });
    r
}
