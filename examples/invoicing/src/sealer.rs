//! The audit log's sealer, run beside the service when `--sealer-url` is given: every
//! `period` it chains the events committed since (windows of `BATCH` ids, again at once
//! while there is a backlog). It logs in as its own role (`invoicing_sealer`, migration 007),
//! never as the app role: sealing touches every tenant's chain, so no request path may
//! reach it. A lost connection is retried with the period as back-off; an error never
//! stops the service, and rows left unsealed are what `tenantguard audit-log verify`
//! reports once they are older than its bound.

use std::time::Duration;

use tenantguard_auditlog::{db, ops};

const BATCH: i32 = 5_000;

pub async fn run(url: String, schema: String, period: Duration) {
    loop {
        let client = match db::connect(Some(&url)).await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "sealer cannot connect; retrying");
                tokio::time::sleep(period).await;
                continue;
            }
        };
        loop {
            match ops::seal_round(&client, &schema, BATCH).await {
                Ok(round) if round.more => continue,
                Ok(round) => {
                    if round.sealed > 0 {
                        tracing::debug!(sealed = round.sealed, "audit events chained");
                    }
                    tokio::time::sleep(period).await;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "sealing failed; reconnecting");
                    tokio::time::sleep(period).await;
                    break;
                }
            }
        }
    }
}
