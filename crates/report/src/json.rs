//! The versioned JSON contract (docs/json-format.md).

use serde_json::json;

use crate::{Report, JSON_FORMAT_VERSION};

pub fn render(r: &Report) -> String {
    let doc = json!({
        "tool": "tenantguard",
        "version": env!("CARGO_PKG_VERSION"),
        "format_version": JSON_FORMAT_VERSION,
        "database": r.database,
        "findings": r.findings,
        "summary": r.summary(),
        "baseline_accepted": r.accepted,
    });
    serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n"
}
