use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, put};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tenantguard_runtime::http::{JwtSource, Tenant, TenantLayer, TenantLayerConfig, TenantSources};
use tenantguard_runtime::metrics::TierMetrics;
use tenantguard_runtime::{AuditEvent, Error, RateLimits, TenantPool, TenantTx};
use uuid::Uuid;

#[derive(Clone)]
pub struct AppState {
    pub pool: TenantPool,
    pub metrics: Arc<TierMetrics>,
}

pub struct AppConfig {
    pub jwt_secret: Vec<u8>,
    /// (tier, requests per second, burst): tiers match `plans.id`.
    pub tiers: Vec<(String, u32, u32)>,
}

impl AppConfig {
    pub fn new(jwt_secret: &[u8]) -> Self {
        Self { jwt_secret: jwt_secret.to_vec(), tiers: vec![("free".into(), 50, 100), ("pro".into(), 500, 1000)] }
    }
}

/// Tenant routes sit behind the isolation layer; `/metrics` does not need a tenant.
pub fn router(state: AppState, config: &AppConfig) -> Result<Router, Error> {
    let tiers: Vec<(&str, u32, u32)> = config.tiers.iter().map(|(n, r, b)| (n.as_str(), *r, *b)).collect();
    let layer = TenantLayer::new(TenantLayerConfig {
        sources: TenantSources {
            jwt: Some(JwtSource::hs256(&config.jwt_secret)),
            header: Some("x-tenant-id".into()),
            ..TenantSources::default()
        },
        limits: Some(RateLimits::new(&tiers)?),
        metrics: state.metrics.clone(),
    });
    let tenant_routes = Router::new()
        .route("/tenant", put(upsert_tenant))
        .route("/customers", get(list_customers).post(create_customer))
        .route("/invoices", get(list_invoices).post(create_invoice))
        .route("/invoices/{id}", get(get_invoice))
        .layer(layer);
    Ok(Router::new()
        .route("/metrics", get(metrics))
        .merge(tenant_routes)
        .with_state(state))
}

type ApiResult<T> = Result<T, Error>;

async fn metrics(State(state): State<AppState>) -> String {
    state.metrics.render()
}

#[derive(Deserialize)]
struct TenantBody {
    name: String,
}

async fn upsert_tenant(State(s): State<AppState>, Tenant(ctx): Tenant, Json(body): Json<TenantBody>) -> ApiResult<StatusCode> {
    let mut tx = s.pool.begin_as(&ctx.tenant, &ctx.actor).await?;
    let plan = if ctx.tier.as_ref() == "pro" { "pro" } else { "free" };
    let inserted = sqlx::query("INSERT INTO tenants (tenant_id, name, plan_id) VALUES ($1, $2, $3) ON CONFLICT (tenant_id) DO NOTHING")
        .bind(ctx.tenant.as_uuid()).bind(&body.name).bind(plan)
        .persistent(tx.persistent()).execute(tx.conn()).await?.rows_affected();
    if inserted == 1 {
        let id = ctx.tenant.to_string();
        let new = json!({ "name": body.name, "plan": plan });
        tx.audit_event(AuditEvent { actor: &ctx.actor, action: "tenant.created", entity: "tenant", entity_id: Some(&id), old: None, new: Some(new) }).await?;
    }
    tx.commit().await?;
    Ok(if inserted == 1 { StatusCode::CREATED } else { StatusCode::OK })
}

#[derive(Serialize, sqlx::FromRow)]
pub struct Customer {
    pub tenant_id: Uuid,
    pub id: Uuid,
    pub name: String,
    pub email: Option<String>,
}

#[derive(Deserialize)]
struct NewCustomer {
    name: String,
    email: Option<String>,
}

async fn create_customer(State(s): State<AppState>, Tenant(ctx): Tenant, Json(body): Json<NewCustomer>) -> ApiResult<(StatusCode, Json<Customer>)> {
    let mut tx = s.pool.begin_as(&ctx.tenant, &ctx.actor).await?;
    let customer: Customer = sqlx::query_as(
        "INSERT INTO customers (tenant_id, name, email) VALUES ($1, $2, $3) RETURNING tenant_id, id, name, email",
    )
    .bind(ctx.tenant.as_uuid()).bind(&body.name).bind(&body.email)
    .persistent(tx.persistent()).fetch_one(tx.conn()).await?;
    let new = json!({ "id": customer.id, "name": customer.name });
    let id = customer.id.to_string();
    tx.audit_event(AuditEvent { actor: &ctx.actor, action: "customer.created", entity: "customer", entity_id: Some(&id), old: None, new: Some(new) }).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(customer)))
}

async fn list_customers(State(s): State<AppState>, Tenant(ctx): Tenant) -> ApiResult<Json<Vec<Customer>>> {
    let mut tx = s.pool.begin(&ctx.tenant).await?;
    let rows = sqlx::query_as("SELECT tenant_id, id, name, email FROM customers ORDER BY created_at, id LIMIT 100")
        .persistent(tx.persistent()).fetch_all(tx.conn()).await?;
    tx.commit().await?;
    Ok(Json(rows))
}

#[derive(Deserialize)]
pub struct NewLine {
    pub description: String,
    pub quantity: i32,
    pub unit_cents: i64,
}

#[derive(Deserialize)]
struct NewInvoice {
    customer_id: Uuid,
    number: String,
    lines: Vec<NewLine>,
}

#[derive(Serialize, sqlx::FromRow)]
pub struct Invoice {
    pub tenant_id: Uuid,
    pub id: Uuid,
    pub customer_id: Uuid,
    pub number: String,
    pub status: String,
    pub total_cents: i64,
}

/// The columns `Invoice` reads, spliced into static SQL (a macro so `concat!` keeps every
/// statement a `&'static str`: nothing built at run time reaches the database as SQL).
macro_rules! invoice_columns {
    () => {
        "tenant_id, id, customer_id, number, status, total_cents"
    };
}

async fn create_invoice(State(s): State<AppState>, Tenant(ctx): Tenant, Json(body): Json<NewInvoice>) -> ApiResult<(StatusCode, Json<Invoice>)> {
    let total: i64 = body.lines.iter().map(|l| l.unit_cents * i64::from(l.quantity)).sum();
    let mut tx = s.pool.begin_as(&ctx.tenant, &ctx.actor).await?;
    // The composite FK (tenant_id, customer_id) makes another tenant's customer id fail here.
    let invoice: Invoice = sqlx::query_as(concat!(
        "INSERT INTO invoices (tenant_id, customer_id, number, total_cents) VALUES ($1, $2, $3, $4) RETURNING ",
        invoice_columns!()
    ))
    .bind(ctx.tenant.as_uuid()).bind(body.customer_id).bind(&body.number).bind(total)
    .persistent(tx.persistent()).fetch_one(tx.conn()).await?;
    for line in &body.lines {
        sqlx::query("INSERT INTO invoice_lines (tenant_id, invoice_id, description, quantity, unit_cents) VALUES ($1, $2, $3, $4, $5)")
            .bind(ctx.tenant.as_uuid()).bind(invoice.id).bind(&line.description).bind(line.quantity).bind(line.unit_cents)
            .persistent(tx.persistent()).execute(tx.conn()).await?;
    }
    let new = json!({ "id": invoice.id, "number": invoice.number, "total_cents": total });
    let id = invoice.id.to_string();
    tx.audit_event(AuditEvent { actor: &ctx.actor, action: "invoice.created", entity: "invoice", entity_id: Some(&id), old: None, new: Some(new) }).await?;
    tx.enqueue(crate::jobs::EXPORT_INVOICE, json!({ "invoice_id": invoice.id })).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(invoice)))
}

async fn list_invoices(State(s): State<AppState>, Tenant(ctx): Tenant) -> ApiResult<Json<Vec<Invoice>>> {
    let mut tx = s.pool.begin(&ctx.tenant).await?;
    let rows = sqlx::query_as(concat!("SELECT ", invoice_columns!(), " FROM invoices ORDER BY created_at DESC, id LIMIT 50"))
        .persistent(tx.persistent()).fetch_all(tx.conn()).await?;
    tx.commit().await?;
    Ok(Json(rows))
}

async fn get_invoice(State(s): State<AppState>, Tenant(ctx): Tenant, Path(id): Path<String>) -> Result<Json<Value>, (StatusCode, Json<Value>)> {
    let not_found = || (StatusCode::NOT_FOUND, Json(json!({ "error": "not_found", "message": "no such invoice" })));
    let id = Uuid::try_parse(&id).map_err(|_| not_found())?;
    let load = async {
        let mut tx: TenantTx = s.pool.begin(&ctx.tenant).await?;
        let invoice: Option<Invoice> = sqlx::query_as(concat!("SELECT ", invoice_columns!(), " FROM invoices WHERE id = $1"))
            .bind(id).persistent(tx.persistent()).fetch_optional(tx.conn()).await?;
        let lines: Vec<(String, i32, i64)> = sqlx::query_as("SELECT description, quantity, unit_cents FROM invoice_lines WHERE invoice_id = $1 ORDER BY description")
            .bind(id).persistent(tx.persistent()).fetch_all(tx.conn()).await?;
        tx.commit().await?;
        Ok::<_, Error>(invoice.map(|i| json!({ "invoice": i, "lines": lines })))
    };
    match load.await {
        Ok(Some(body)) => Ok(Json(body)),
        Ok(None) => Err(not_found()),
        Err(e) => Err((e.status(), Json(json!({ "error": e.code(), "message": "request failed" })))),
    }
}
