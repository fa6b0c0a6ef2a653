//! GitHub Actions workflow commands: one annotation per finding.

use tenantguard_rules::Severity;

use crate::Report;

fn escape(s: &str) -> String {
    s.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

fn escape_property(s: &str) -> String {
    escape(s).replace(':', "%3A").replace(',', "%2C")
}

pub fn render(r: &Report) -> String {
    let mut out = String::new();
    for f in r.findings {
        let level = match f.severity {
            Severity::Critical | Severity::Major => "error",
            Severity::Minor => "warning",
            Severity::Info => "notice",
        };
        let mut props = vec![format!("title={}", escape_property(&format!("{} ({})", f.rule, f.severity)))];
        if let Some(file) = &f.file {
            props.push(format!("file={}", escape_property(file)));
            if let Some(line) = f.line {
                props.push(format!("line={line}"));
            }
            if let Some(col) = f.column {
                props.push(format!("col={col}"));
            }
        }
        out.push_str(&format!("::{level} {}::{}\n", props.join(","), escape(&format!("{}: {} Fix: {}", f.object, f.message, f.fix))));
    }
    out
}
