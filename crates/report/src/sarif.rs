//! SARIF 2.1.0 for code scanning: a `rules` array with help links, stable fingerprints,
//! 1-based regions when a finding has a file location, logical locations otherwise.

use serde_json::{json, Value};
use tenantguard_rules::{all_rules, Finding, ObjectKind, Severity};

use crate::{fingerprint, Report};

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Critical | Severity::Major => "error",
        Severity::Minor => "warning",
        Severity::Info => "note",
    }
}

fn kind(k: Option<ObjectKind>) -> &'static str {
    match k {
        Some(ObjectKind::Table) => "table",
        Some(ObjectKind::View) => "view",
        Some(ObjectKind::Function) => "function",
        Some(ObjectKind::Role) => "role",
        Some(ObjectKind::Schema) => "namespace",
        Some(ObjectKind::Database) => "database",
        Some(ObjectKind::Policy) => "policy",
        None => "object",
    }
}

fn location(f: &Finding) -> Value {
    let logical = json!([{ "fullyQualifiedName": f.object, "kind": kind(f.object_kind) }]);
    match &f.file {
        Some(file) => {
            let mut region = json!({ "startLine": f.line.unwrap_or(1).max(1) });
            if let Some(c) = f.column {
                region["startColumn"] = json!(c.max(1));
            }
            json!({
                "physicalLocation": { "artifactLocation": { "uri": file }, "region": region },
                "logicalLocations": logical,
            })
        }
        None => json!({ "logicalLocations": logical }),
    }
}

pub fn render(r: &Report) -> String {
    let rules: Vec<Value> = all_rules()
        .iter()
        .map(|rule| {
            json!({
                "id": rule.id,
                "name": rule.id,
                "shortDescription": { "text": rule.summary.split(": ").next().unwrap_or(rule.summary) },
                "fullDescription": { "text": rule.summary },
                "helpUri": r.rule_url(rule.id),
                "help": { "text": format!("{} See {}", rule.summary, r.rule_url(rule.id)) },
                "defaultConfiguration": { "level": level(rule.severity) },
                "properties": { "tags": ["security", "multi-tenancy"], "tenantguard-severity": rule.severity.as_str() },
            })
        })
        .collect();
    let index = |id: &str| all_rules().iter().position(|r| r.id == id);
    let results: Vec<Value> = r
        .findings
        .iter()
        .map(|f| {
            let mut result = json!({
                "ruleId": f.rule,
                "level": level(f.severity),
                "message": { "text": format!("{}: {} Fix: {}", f.object, f.message, f.fix) },
                "locations": [location(f)],
                "partialFingerprints": { "tenantguard/v1": fingerprint(f) },
                "properties": { "severity": f.severity.as_str(), "object": f.object },
            });
            if let Some(i) = index(&f.rule) {
                result["ruleIndex"] = json!(i);
            }
            result
        })
        .collect();
    let doc = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "tenantguard",
                "version": env!("CARGO_PKG_VERSION"),
                "semanticVersion": env!("CARGO_PKG_VERSION"),
                "informationUri": r.docs_url,
                "rules": rules,
            }},
            "results": results,
        }],
    });
    serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n"
}
