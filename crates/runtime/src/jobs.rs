//! Tenant-stamped background jobs on a Postgres table.
//!
//! `TenantTx::enqueue` inserts the job in the request's own transaction (an outbox): the job
//! exists if and only if the request committed. The worker asks a SECURITY DEFINER function
//! for candidate `(job id, tenant id)` pairs, which reveals no tenant data, then opens that
//! tenant's transaction, locks the job row under RLS with `FOR UPDATE SKIP LOCKED`, runs the
//! handler and marks the job done in the same transaction. A crash anywhere rolls all of it
//! back and leaves the job queued, so no job is lost and none commits twice.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tracing::Instrument;
use uuid::Uuid;

use crate::{Error, TenantId, TenantPool, TenantTx};

/// A job as the handler sees it; the tenant is the transaction's.
#[derive(Debug, Clone)]
pub struct Job {
    pub id: i64,
    pub kind: String,
    pub payload: Value,
    pub attempts: i32,
}

pub type JobFuture<'a> = Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>;
type Handler = Arc<dyn for<'a> Fn(&'a mut TenantTx, Job) -> JobFuture<'a> + Send + Sync>;

impl TenantTx {
    /// Adds a job for this transaction's tenant; it becomes visible when this commits.
    pub async fn enqueue(&mut self, kind: &str, payload: Value) -> Result<i64, Error> {
        let sql = self.pool().sql().enqueue_job.clone();
        let tenant = self.tenant().as_uuid();
        let persistent = self.persistent();
        let id = sqlx::query_scalar(sql)
            .bind(tenant)
            .bind(kind)
            .bind(payload)
            .persistent(persistent)
            .fetch_one(self.conn())
            .await?;
        Ok(id)
    }
}

/// What one `run_once` pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pass {
    pub done: usize,
    pub failed: usize,
    pub skipped: usize,
    pub rejected: usize,
}

#[derive(Clone)]
pub struct Worker {
    pool: TenantPool,
    handlers: HashMap<String, Handler>,
    batch: i64,
    max_attempts: i32,
}

impl Worker {
    pub fn new(pool: TenantPool) -> Self {
        Self { pool, handlers: HashMap::new(), batch: 16, max_attempts: 5 }
    }

    pub fn max_attempts(mut self, n: i32) -> Self {
        self.max_attempts = n.max(1);
        self
    }

    pub fn handle<F>(mut self, kind: &str, handler: F) -> Self
    where
        F: for<'a> Fn(&'a mut TenantTx, Job) -> JobFuture<'a> + Send + Sync + 'static,
    {
        self.handlers.insert(kind.to_string(), Arc::new(handler));
        self
    }

    /// Runs the queued jobs it can lock now; returns when none are left.
    pub async fn run_once(&self) -> Result<Pass, Error> {
        let mut pass = Pass::default();
        let mut rejected = std::collections::HashSet::new();
        loop {
            let sql = self.pool.sql().job_candidates.clone();
            // In a transaction so that behind PgBouncer (transaction mode) the statement's
            // Parse and Execute reach the same server connection.
            let mut listing = self.pool.raw().begin().await?;
            let candidates: Vec<(i64, Option<Uuid>)> = sqlx::query_as(sql)
                .bind(self.batch)
                .persistent(self.pool.persistent())
                .fetch_all(&mut *listing)
                .await?;
            listing.commit().await?;
            if candidates.is_empty() {
                return Ok(pass);
            }
            let before = pass;
            for (job_id, tenant) in candidates {
                match tenant.and_then(TenantId::from_uuid) {
                    Some(tenant) => {
                        let span = tracing::info_span!("job", tenant = %tenant, job_id);
                        self.run_job(job_id, tenant, &mut pass).instrument(span).await?
                    }
                    None => {
                        // Never run unscoped: without a tenant there is no context to run in.
                        if rejected.insert(job_id) {
                            tracing::error!(job_id, "job without a tenant rejected");
                            pass.rejected += 1;
                        }
                    }
                }
            }
            if pass.done == before.done && pass.failed == before.failed {
                return Ok(pass); // everything left is locked by another worker or rejected
            }
        }
    }

    async fn run_job(&self, job_id: i64, tenant: TenantId, pass: &mut Pass) -> Result<(), Error> {
        let mut tx = self.pool.begin(&tenant).await?;
        let lock = self.pool.sql().lock_job.clone();
        let persistent = tx.persistent();
        let row: Option<(i64, String, Value, i32)> =
            sqlx::query_as(lock).bind(job_id).persistent(persistent).fetch_optional(tx.conn()).await?;
        let Some((id, kind, payload, attempts)) = row else {
            pass.skipped += 1;
            return Ok(());
        };
        let job = Job { id, kind: kind.clone(), payload, attempts };
        let outcome = match self.handlers.get(&kind) {
            Some(handler) => handler(&mut tx, job).await,
            None => Err(format!("no handler for job kind {kind:?}")),
        };
        let result = match outcome {
            Ok(()) => {
                let done = self.pool.sql().job_done.clone();
                match sqlx::query(done).bind(id).persistent(persistent).execute(tx.conn()).await {
                    Ok(_) => tx.commit().await.map_err(|e| e.to_string()),
                    Err(e) => Err(e.to_string()),
                }
            }
            Err(e) => {
                let _ = tx.rollback().await;
                Err(e)
            }
        };
        match result {
            Ok(()) => {
                tracing::info!(tenant = %tenant, job_id, kind, "job done");
                pass.done += 1;
            }
            Err(error) => {
                tracing::warn!(tenant = %tenant, job_id, kind, %error, "job failed");
                self.record_failure(job_id, &tenant, &error).await?;
                pass.failed += 1;
            }
        }
        Ok(())
    }

    /// Counts the attempt in a fresh transaction (the failed one was rolled back).
    async fn record_failure(&self, job_id: i64, tenant: &TenantId, error: &str) -> Result<(), Error> {
        let sql = self.pool.sql().job_failed.clone();
        let mut tx = self.pool.begin(tenant).await?;
        let persistent = tx.persistent();
        sqlx::query(sql).bind(job_id).bind(error).bind(self.max_attempts).persistent(persistent).execute(tx.conn()).await?;
        tx.commit().await
    }

    /// Polls until `stop` resolves.
    pub async fn run(&self, poll: Duration, stop: impl Future<Output = ()>) {
        tokio::pin!(stop);
        loop {
            if let Err(e) = self.run_once().await {
                tracing::warn!(error = %e, "job pass failed");
            }
            tokio::select! {
                _ = &mut stop => return,
                _ = tokio::time::sleep(poll) => {}
            }
        }
    }
}
