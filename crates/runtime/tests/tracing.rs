//! The request span carries the tenant, and refusals are logged with their reason.

use std::io::Write;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::Request;
use axum::routing::get;
use axum::Router;
use tenantguard_runtime::http::{Tenant, TenantLayer, TenantLayerConfig, TenantSources};
use tenantguard_runtime::metrics::TierMetrics;
use tower::ServiceExt;

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "current_thread")]
async fn span_carries_tenant_and_refusals_log_their_reason() {
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt().with_writer(move || writer.clone()).with_ansi(false).finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let config = TenantLayerConfig {
        sources: TenantSources { header: Some("x-tenant-id".into()), ..Default::default() },
        limits: None,
        metrics: Arc::new(TierMetrics::default()),
    };
    let app = Router::new()
        .route("/", get(|Tenant(_): Tenant| async { tracing::info!("handler ran"); "ok" }))
        .layer(TenantLayer::new(config));
    let tenant = "33333333-3333-4333-8333-333333333333";
    for value in [tenant, "robert'); drop table students;--"] {
        let req = Request::get("/").header("x-tenant-id", value).body(Body::empty()).unwrap();
        app.clone().oneshot(req).await.unwrap();
    }
    let log = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    let handler_line = log.lines().find(|l| l.contains("handler ran")).expect(&log);
    assert!(handler_line.contains(&format!("tenant={tenant}")), "{handler_line}");
    let refused = log.lines().find(|l| l.contains("refused at the edge")).expect(&log);
    assert!(refused.contains("invalid_tenant") && refused.contains("not a valid id"), "{refused}");
}
