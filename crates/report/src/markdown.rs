//! Markdown for a pull-request comment.

use std::fmt::Write;

use tenantguard_rules::Severity;

use crate::Report;

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

pub fn render(r: &Report) -> String {
    let s = r.summary();
    let mut out = String::new();
    let verdict = if s.critical > 0 { "❌ release blocked" } else if s.major > 0 { "⚠️ fix this sprint" } else { "✅ no blocking findings" };
    let _ = writeln!(out, "## tenantguard: {verdict}\n");
    let _ = writeln!(out, "`{}` — **{}** critical, **{}** major, **{}** minor, {} info\n", r.database, s.critical, s.major, s.minor, s.info);
    for sev in [Severity::Critical, Severity::Major, Severity::Minor] {
        let group: Vec<_> = r.findings.iter().filter(|f| f.severity == sev).collect();
        if group.is_empty() {
            continue;
        }
        let _ = writeln!(out, "### {} ({})\n", sev.as_str().to_uppercase(), group.len());
        let _ = writeln!(out, "| Rule | Object | Why it leaks | Fix |\n|---|---|---|---|");
        for f in group {
            let object = match (&f.file, f.line) {
                (Some(file), Some(line)) => format!("`{}` ({file}:{line})", f.object),
                _ => format!("`{}`", f.object),
            };
            let _ = writeln!(out, "| [{}]({}) | {} | {} | {} |", f.rule, r.rule_url(&f.rule), cell(&object), cell(&f.message), cell(&f.fix));
        }
        out.push('\n');
    }
    if r.accepted > 0 {
        let _ = writeln!(out, "_{} finding(s) accepted by the baseline._", r.accepted);
    }
    out
}
