use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use invoicing::{router, AppConfig, AppState};
use tenantguard_runtime::metrics::TierMetrics;
use tenantguard_runtime::{TenantPool, TenantPoolOptions};

/// The reference invoicing service.
#[derive(Parser)]
struct Args {
    /// Login URL of the app role, e.g. postgres://invoicing_app:invoicing-dev-password@127.0.0.1:5432/invoicing
    #[arg(long, env = "DATABASE_URL")]
    database_url: String,
    /// Superuser URL: apply migrations/ first (fresh database only).
    #[arg(long)]
    migrate_with: Option<String>,
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    #[arg(long, env = "INVOICING_JWT_SECRET")]
    jwt_secret: String,
    /// The database URL points at PgBouncer in transaction mode.
    #[arg(long)]
    pgbouncer: bool,
    /// Also run the audit log's sealer, logged in with this URL (the invoicing_sealer role of
    /// migration 007, never the app role); without it, run `tenantguard audit-log seal` beside.
    #[arg(long, env = "INVOICING_SEALER_URL", hide_env_values = true)]
    sealer_url: Option<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_default_env()).init();
    let args = Args::parse();
    anyhow::ensure!(args.listen.ip().is_loopback(), "the reference service only listens on loopback");
    if let Some(url) = &args.migrate_with {
        invoicing::migrate::apply(url).await?;
    }
    let pool = TenantPool::connect(&args.database_url, TenantPoolOptions { pgbouncer: args.pgbouncer, ..Default::default() }).await?;
    let state = AppState { pool: pool.clone(), metrics: Arc::new(TierMetrics::default()) };
    let app = router(state, &AppConfig::new(args.jwt_secret.as_bytes()))?;
    let worker = invoicing::jobs::worker(pool);
    tokio::spawn(async move { worker.run(Duration::from_millis(200), std::future::pending()).await });
    if let Some(url) = args.sealer_url {
        tokio::spawn(invoicing::sealer::run(url, "audit".into(), Duration::from_millis(200)));
    }
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    tracing::info!(addr = %args.listen, "invoicing listening");
    axum::serve(listener, app).with_graceful_shutdown(async { let _ = tokio::signal::ctrl_c().await; }).await?;
    Ok(())
}
