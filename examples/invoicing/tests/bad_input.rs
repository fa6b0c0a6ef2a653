//! Bad tenant input is refused at the edge with a JSON error and never reaches PostgreSQL:
//! the server logs every statement, and no `set_config` appears for refused requests.

mod common;

use axum::http::StatusCode;
use common::*;
use serde_json::json;
use tenantguard_testkit::ClusterOptions;

fn b64url(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(ABC[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

#[tokio::test]
async fn bad_tenants_and_tokens_are_refused_before_the_database() {
    let options = ClusterOptions::default().set("log_statement", "all");
    let env = env_with(options, invoicing::AppConfig::new(SECRET), Default::default()).await;
    let good = tenant(1);
    onboard(&env.app, &good).await;
    let set_configs = || env.cluster.log().matches("set_config").count();
    let before = set_configs();

    let claims = |tenant: &str, exp: u64| json!({ "sub": "u", "tenant": tenant, "plan": "pro", "exp": exp });
    let bearer = |t: String| format!("Bearer {t}");
    let unsigned = format!("{}.{}.", b64url(br#"{"alg":"none","typ":"JWT"}"#), b64url(claims(&good, now() + 600).to_string().as_bytes()));
    // (what, headers, expected status, expected error code)
    type Case<'a> = (&'a str, Vec<(&'a str, String)>, StatusCode, &'a str);
    let cases: Vec<Case> = vec![
        ("no credentials", vec![], StatusCode::UNAUTHORIZED, "unauthenticated"),
        ("tenant is not an id", vec![("authorization", bearer(token_with(claims("acme", now() + 600), SECRET)))], StatusCode::BAD_REQUEST, "invalid_tenant"),
        ("sql in the tenant", vec![("authorization", bearer(token_with(claims("1' OR '1'='1", now() + 600), SECRET)))], StatusCode::BAD_REQUEST, "invalid_tenant"),
        ("expired", vec![("authorization", bearer(token_with(claims(&good, now() - 60), SECRET)))], StatusCode::UNAUTHORIZED, "unauthenticated"),
        ("unsigned alg=none", vec![("authorization", bearer(unsigned))], StatusCode::UNAUTHORIZED, "unauthenticated"),
        ("another key", vec![("authorization", bearer(token_with(claims(&good, now() + 600), b"other-key")))], StatusCode::UNAUTHORIZED, "unauthenticated"),
        ("not a bearer token", vec![("authorization", "Basic Zm9vOmJhcg==".into())], StatusCode::UNAUTHORIZED, "unauthenticated"),
        ("garbage token", vec![("authorization", "Bearer a.b.c".into())], StatusCode::UNAUTHORIZED, "unauthenticated"),
        ("no tenant claim", vec![("authorization", bearer(token_with(json!({ "sub": "u", "exp": now() + 600 }), SECRET)))], StatusCode::UNAUTHORIZED, "unauthenticated"),
        ("header and jwt disagree", vec![("authorization", bearer(token_for(&good, "pro"))), ("x-tenant-id", tenant(2))], StatusCode::BAD_REQUEST, "tenant_mismatch"),
        ("malformed header", vec![("authorization", bearer(token_for(&good, "pro"))), ("x-tenant-id", "not-a-tenant".into())], StatusCode::BAD_REQUEST, "invalid_tenant"),
        ("oversized header", vec![("authorization", bearer(token_for(&good, "pro"))), ("cookie", "x".repeat(10_000))], StatusCode::BAD_REQUEST, "header_too_large"),
    ];
    for (name, headers, want_status, want_code) in cases {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (status, body) = send(&env.app, "GET", "/customers", &headers, None).await;
        assert_eq!(status, want_status, "{name}: {body}");
        assert_eq!(body["error"], want_code, "{name}: {body}");
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{name}: {body}");
    }
    assert_eq!(set_configs(), before, "a refused request reached the database");

    // A matching header is fine.
    let auth = bearer(token_for(&good, "pro"));
    let (status, _) = send(&env.app, "GET", "/customers", &[("authorization", &auth), ("x-tenant-id", &good)], None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(set_configs() > before);
}
