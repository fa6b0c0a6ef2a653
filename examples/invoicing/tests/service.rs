//! The reference service end to end, in process, on a fresh cluster.

mod common;

use axum::http::StatusCode;
use common::*;
use serde_json::json;

#[tokio::test]
async fn tenants_see_and_write_only_their_own_rows() {
    let env = env().await;
    let (a, b) = (tenant(1), tenant(2));
    let ca = onboard(&env.app, &a).await;
    let cb = onboard(&env.app, &b).await;
    let (status, inv) = as_tenant(&env.app, &a, "POST", "/invoices", Some(invoice_body(&ca, "A-1"))).await;
    assert_eq!(status, StatusCode::CREATED, "{inv}");
    assert_eq!(inv["total_cents"], 3000);

    let (_, list_b) = as_tenant(&env.app, &b, "GET", "/invoices", None).await;
    assert_eq!(list_b.as_array().unwrap().len(), 0);
    let (_, customers_b) = as_tenant(&env.app, &b, "GET", "/customers", None).await;
    assert!(customers_b.as_array().unwrap().iter().all(|c| c["tenant_id"] == b.as_str()));

    // B cannot read A's invoice by id, nor attach an invoice to A's customer.
    let path = format!("/invoices/{}", inv["id"].as_str().unwrap());
    assert_eq!(as_tenant(&env.app, &b, "GET", &path, None).await.0, StatusCode::NOT_FOUND);
    assert_eq!(as_tenant(&env.app, &a, "GET", &path, None).await.0, StatusCode::OK);
    let (status, _) = as_tenant(&env.app, &b, "POST", "/invoices", Some(invoice_body(&ca, "B-1"))).await;
    assert!(!status.is_success());
    let (status, _) = as_tenant(&env.app, &b, "POST", "/invoices", Some(invoice_body(&cb, "B-1"))).await;
    assert_eq!(status, StatusCode::CREATED);

    // The app's events (audit.record()), in A's log only, in write order.
    let audit = env.cluster.query(DB, &format!("SELECT action FROM audit.log WHERE tenant_id = '{a}' AND action NOT IN ('INSERT', 'UPDATE', 'DELETE') ORDER BY id")).unwrap();
    assert_eq!(audit.lines().collect::<Vec<_>>(), ["tenant.created", "customer.created", "invoice.created"]);
    let event = env.cluster.query(DB, &format!("SELECT actor, entity_id FROM audit.log WHERE tenant_id = '{a}' AND action = 'invoice.created'")).unwrap();
    assert_eq!(event.trim(), format!("user-1|{}", inv["id"].as_str().unwrap()));
    // The capture triggers' rows (005): every business write of A, in write order.
    let captured = env.cluster.query(DB, &format!("SELECT action || ' ' || entity FROM audit.log WHERE tenant_id = '{a}' AND action IN ('INSERT', 'UPDATE', 'DELETE') ORDER BY id")).unwrap();
    assert_eq!(captured.lines().collect::<Vec<_>>(), ["INSERT public.tenants", "INSERT public.customers", "INSERT public.invoices", "INSERT public.invoice_lines"]);
    let row = env.cluster.query(DB, &format!("SELECT entity_id, new_value->>'number', old_value IS NULL FROM audit.log WHERE tenant_id = '{a}' AND action = 'INSERT' AND entity = 'public.invoices'")).unwrap();
    assert_eq!(row.trim(), format!("{}|A-1|t", inv["id"].as_str().unwrap()));
    // Every row, event or captured, names the request's actor (the handlers write through begin_as).
    let unattributed = env.cluster.query(DB, &format!("SELECT count(*) FROM audit.log WHERE tenant_id = '{a}' AND actor IS DISTINCT FROM 'user-1'")).unwrap();
    assert_eq!(unattributed.trim(), "0");
    // Through the app role, each tenant reads only its own events.
    let mut tx = env.pool.begin(&tenantguard_runtime::TenantId::parse(&b).unwrap()).await.unwrap();
    let seen: Vec<String> = sqlx::query_scalar("SELECT DISTINCT tenant_id FROM audit.log").fetch_all(tx.conn()).await.unwrap();
    assert_eq!(seen, std::slice::from_ref(&b));
    drop(tx);
    let report = seal_and_verify(&env.cluster).await;
    assert!(report.ok(), "{:?}", report.findings);
    assert_eq!((report.tenants, report.unsealed), (2, 0));
}

#[tokio::test]
async fn export_job_runs_once_in_its_tenant_transaction() {
    let env = env().await;
    let a = tenant(7);
    let ca = onboard(&env.app, &a).await;
    for n in 0..3 {
        as_tenant(&env.app, &a, "POST", "/invoices", Some(invoice_body(&ca, &format!("A-{n}")))).await;
    }
    let worker = invoicing::jobs::worker(env.pool.clone());
    let pass = worker.run_once().await.unwrap();
    assert_eq!(pass.done, 3, "{pass:?}");
    assert_eq!(worker.run_once().await.unwrap().done, 0);
    let counts = env.cluster.query(DB, "SELECT (SELECT count(*) FROM invoice_exports), (SELECT count(*) FROM jobs WHERE status = 'done'), (SELECT count(*) FROM audit.log WHERE action = 'invoice.exported')").unwrap();
    assert_eq!(counts.trim(), "3|3|3");
}

#[tokio::test]
async fn audit_log_is_append_only_even_for_the_superuser() {
    let env = env().await;
    onboard(&env.app, &tenant(3)).await;
    for sql in ["UPDATE audit.log SET actor = 'x'", "DELETE FROM audit.log", "TRUNCATE audit.log"] {
        let err = env.cluster.query(DB, sql).unwrap_err().to_string();
        assert!(err.contains("append-only"), "{sql}: {err}");
    }
    // The app role has no INSERT/UPDATE/DELETE grant at all (record() is its only way in),
    // may not seal, and sees nothing without a tenant.
    let app = app_url(&env.cluster);
    for sql in ["DELETE FROM audit.log", "UPDATE audit.log SET actor = 'x'",
                "INSERT INTO audit.log (tenant_id, action, entity) VALUES ('x', 'y', 'z')", "SELECT audit.seal(10)"] {
        let err = env.cluster.psql_as(&app, sql, &[]).unwrap_err().to_string();
        assert!(err.contains("permission denied"), "{sql}: {err}");
    }
    let err = env.cluster.psql_as(&app, "SELECT audit.record('me', 'login', 'session')", &[]).unwrap_err().to_string();
    assert!(err.contains("app.current_tenant is not set"), "record without a tenant: {err}");
    assert_eq!(env.cluster.psql_as(&app, "SELECT count(*) FROM audit.log", &["-tA"]).unwrap().trim(), "0");
    let rows = env.cluster.psql_as(&app, "SELECT count(*) FROM customers", &["-tA"]).unwrap();
    assert_eq!(rows.trim(), "0");
}

#[tokio::test]
async fn per_tenant_rate_limit_answers_429_with_retry_after() {
    let mut config = invoicing::AppConfig::new(SECRET);
    config.tiers = vec![("free".into(), 1, 3), ("pro".into(), 1, 3)];
    let env = env_with(Default::default(), config, Default::default()).await;
    let (a, b) = (tenant(4), tenant(5));
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(as_tenant(&env.app, &a, "GET", "/customers", None).await.0);
    }
    assert_eq!(&statuses[..3], &[StatusCode::OK; 3]);
    assert_eq!(statuses[4], StatusCode::TOO_MANY_REQUESTS);
    // Another tenant is unaffected.
    assert_eq!(as_tenant(&env.app, &b, "GET", "/customers", None).await.0, StatusCode::OK);
    let response = {
        use tower::ServiceExt;
        let auth = format!("Bearer {}", token_for(&a, "pro"));
        let req = axum::http::Request::get("/customers").header("authorization", auth).body(axum::body::Body::empty()).unwrap();
        env.app.clone().oneshot(req).await.unwrap()
    };
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(response.headers().get("retry-after").is_some());
    let metrics = send(&env.app, "GET", "/metrics", &[], None).await;
    let _ = metrics;
    assert!(env.metrics.render().contains("tier=\"pro\",outcome=\"rate_limited\""));
    assert!(!env.metrics.render().contains(&a), "metrics must not carry tenant ids");
    let _ = json!(null);
}
