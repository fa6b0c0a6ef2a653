//! One self-contained HTML page (no scripts, no external assets): a verdict, the counts per
//! tier, then the findings grouped by tier, each linking its rule page. Every value from
//! the database or the migrations is escaped: object names are attacker-influenced text.

use std::fmt::Write;

use tenantguard_rules::Severity;

use crate::Report;

/// Escapes text for an HTML element body or a double- or single-quoted attribute.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:75em}\
table{border-collapse:collapse;width:100%}th,td{border:1px solid #ccc;padding:4px 8px;font-size:13px;vertical-align:top;text-align:left}\
th{background:#f4f4f4}td.o{font-family:monospace}.verdict{padding:.5em 1em;border-radius:4px;display:inline-block}\
.blocked{background:#e53935;color:#fff}.warn{background:#ffb74d}.ok{background:#c8e6c9}\
h2.critical{color:#c62828}h2.major{color:#e65100}h2.minor{color:#555}";

pub fn render(r: &Report) -> String {
    let s = r.summary();
    let (class, verdict) = if s.critical > 0 {
        ("blocked", "release blocked")
    } else if s.major > 0 {
        ("warn", "fix this sprint")
    } else {
        ("ok", "no blocking findings")
    };
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>tenantguard: {}</title><style>{STYLE}</style></head><body>\n",
        escape(r.database)
    );
    let _ = writeln!(out, "<h1>tenantguard</h1><p class=\"verdict {class}\">{verdict}</p>");
    let _ = writeln!(
        out,
        "<p><b>{}</b>: {} critical, {} major, {} minor, {} info</p>",
        escape(r.database),
        s.critical,
        s.major,
        s.minor,
        s.info
    );
    for sev in [Severity::Critical, Severity::Major, Severity::Minor, Severity::Info] {
        let group: Vec<_> = r.findings.iter().filter(|f| f.severity == sev).collect();
        if group.is_empty() {
            continue;
        }
        let _ = writeln!(out, "<h2 class=\"{}\">{} ({})</h2>", sev.as_str(), sev.as_str().to_uppercase(), group.len());
        out.push_str("<table><tr><th>rule</th><th>object</th><th>why it leaks</th><th>fix</th></tr>\n");
        for f in group {
            let mut object = escape(&f.object);
            if let Some(d) = &f.detail {
                let _ = write!(object, " ({})", escape(d));
            }
            if let (Some(file), Some(line)) = (&f.file, f.line) {
                let _ = write!(object, "<br>{}:{line}", escape(file));
            }
            let _ = writeln!(
                out,
                "<tr><td><a href=\"{}\">{}</a></td><td class=\"o\">{object}</td><td>{}</td><td>{}</td></tr>",
                escape(&r.rule_url(&f.rule)),
                escape(&f.rule),
                escape(&f.message),
                escape(&f.fix)
            );
        }
        out.push_str("</table>\n");
    }
    if r.accepted > 0 {
        let _ = writeln!(out, "<p><i>{} finding(s) accepted by the baseline.</i></p>", r.accepted);
    }
    out.push_str("</body></html>\n");
    out
}

#[cfg(test)]
mod tests {
    use tenantguard_rules::{Finding, ObjectKind, Severity};

    use crate::{render, Format, Report};

    #[test]
    fn escapes_hostile_names_and_links_rule_pages() {
        let mut f = Finding::new("rls-disabled", Severity::Critical, ObjectKind::Table, "public.\"<script>alert(1)</script>\"");
        f.message = "RLS is off & anyone reads 'all' rows".into();
        f.fix = "ALTER TABLE ... ENABLE ROW LEVEL SECURITY".into();
        let findings = [f];
        let report = Report { database: "db\"><img src=x>", findings: &findings, accepted: 2, docs_url: "https://example.test/rules" };
        let html = render(&report, Format::Html, false);
        assert!(!html.contains("<script>") && !html.contains("<img"), "{html}");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "{html}");
        assert!(html.contains("href=\"https://example.test/rules/rls-disabled.md\""), "{html}");
        assert!(html.contains("release blocked") && html.contains("1 critical"), "{html}");
        assert!(html.contains("&amp; anyone reads &#39;all&#39; rows"), "{html}");
        assert!(html.contains("2 finding(s) accepted"), "{html}");
        assert!(html.starts_with("<!DOCTYPE html>") && html.ends_with("</html>\n"));
    }

    #[test]
    fn clean_report_says_so() {
        let report = Report { database: "app", findings: &[], accepted: 0, docs_url: "x" };
        let html = render(&report, Format::Html, false);
        assert!(html.contains("no blocking findings") && !html.contains("<table>"), "{html}");
    }
}
