//! The report crate's SARIF knows the audit's rules only; the lint appends its own ids to
//! the `rules` array (and points each result at its rule) by post-processing the document.

use serde_json::{json, Value};
use tenantguard_rules::Severity;

use crate::extra_rules::EXTRA_RULES;

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Critical | Severity::Major => "error",
        Severity::Minor => "warning",
        Severity::Info => "note",
    }
}

pub fn extend(sarif: &str, docs_url: &str) -> String {
    let Ok(mut doc) = serde_json::from_str::<Value>(sarif) else { return sarif.to_string() };
    let url = |id: &str| format!("{}/{id}.md", docs_url.trim_end_matches('/'));
    let Some(run) = doc.get_mut("runs").and_then(|r| r.get_mut(0)) else { return sarif.to_string() };
    let Some(rules) = run.pointer_mut("/tool/driver/rules").and_then(Value::as_array_mut) else { return sarif.to_string() };
    for r in EXTRA_RULES {
        rules.push(json!({
            "id": r.id,
            "name": r.id,
            "shortDescription": { "text": r.summary.split(": ").next().unwrap_or(r.summary) },
            "fullDescription": { "text": r.summary },
            "helpUri": url(r.id),
            "help": { "text": format!("{} See {}", r.summary, url(r.id)) },
            "defaultConfiguration": { "level": level(r.severity) },
            "properties": { "tags": ["security", "multi-tenancy"], "tenantguard-severity": r.severity.as_str() },
        }));
    }
    let ids: Vec<String> = rules.iter().map(|r| r["id"].as_str().unwrap_or("").to_string()).collect();
    if let Some(results) = run.get_mut("results").and_then(Value::as_array_mut) {
        for res in results {
            let id = res["ruleId"].as_str().unwrap_or("").to_string();
            if let Some(i) = ids.iter().position(|x| *x == id) {
                res["ruleIndex"] = json!(i);
            }
        }
    }
    serde_json::to_string_pretty(&doc).unwrap_or_else(|_| sarif.to_string()) + "\n"
}
