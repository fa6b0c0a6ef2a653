//! The export job: renders an invoice as CSV into `invoice_exports`, in the tenant's
//! transaction, so the export and the job's `done` mark commit together.

use serde_json::json;
use tenantguard_runtime::jobs::{Job, Worker};
use tenantguard_runtime::{AuditEvent, TenantPool, TenantTx};
use uuid::Uuid;

pub const EXPORT_INVOICE: &str = "export_invoice";

pub fn worker(pool: TenantPool) -> Worker {
    Worker::new(pool).handle(EXPORT_INVOICE, |tx, job| Box::pin(export_invoice(tx, job)))
}

async fn export_invoice(tx: &mut TenantTx, job: Job) -> Result<(), String> {
    let invoice_id: Uuid = job
        .payload
        .get("invoice_id")
        .and_then(|v| v.as_str())
        .and_then(|s| Uuid::try_parse(s).ok())
        .ok_or("payload has no invoice_id")?;
    let p = tx.persistent();
    let lines: Vec<(String, i32, i64)> =
        sqlx::query_as("SELECT description, quantity, unit_cents FROM invoice_lines WHERE invoice_id = $1 ORDER BY description")
            .bind(invoice_id).persistent(p).fetch_all(tx.conn()).await.map_err(|e| e.to_string())?;
    let mut body = String::from("description,quantity,unit_cents\n");
    for (description, quantity, unit_cents) in &lines {
        body.push_str(&format!("{:?},{quantity},{unit_cents}\n", description));
    }
    sqlx::query("INSERT INTO invoice_exports (tenant_id, invoice_id, format, body) VALUES ($1, $2, 'csv', $3)")
        .bind(tx.tenant().as_uuid()).bind(invoice_id).bind(&body)
        .persistent(p).execute(tx.conn()).await.map_err(|e| e.to_string())?;
    let new = json!({ "invoice_id": invoice_id, "format": "csv", "job_id": job.id });
    let id = invoice_id.to_string();
    let event = AuditEvent { actor: "worker", action: "invoice.exported", entity: "invoice", entity_id: Some(&id), old: None, new: Some(new) };
    tx.audit_event(event).await.map_err(|e| e.to_string())?;
    Ok(())
}
