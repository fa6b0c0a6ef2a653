//! `{"tool":"tenantguard","version":..,"app_roles":[..],"results":[{"object","role","operation","outcome","detail"}..],"summary":{..}}`.

use serde_json::json;

pub fn render(m: &crate::Matrix) -> String {
    let results: Vec<serde_json::Value> = m
        .results
        .iter()
        .map(|r| {
            let mut v = json!({"object": r.object, "role": r.role, "operation": r.operation.as_str(), "outcome": r.outcome.as_str(), "detail": r.detail});
            if let (Some(s), Some(obj)) = (&r.statement, v.as_object_mut()) {
                obj.insert("statement".into(), json!(s));
            }
            v
        })
        .collect();
    let doc = json!({
        "tool": "tenantguard",
        "version": env!("CARGO_PKG_VERSION"),
        "database": m.database,
        "app_role": m.app_role,
        "app_roles": m.app_roles,
        "results": results,
        "summary": m.summary(),
        "notes": m.notes,
    });
    serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n"
}
