//! One self-contained HTML file: the matrix as a coloured grid, evidence in each cell's
//! tooltip and in a list below. No external assets, everything escaped.

use std::fmt::Write;

use crate::matrix::{Matrix, Outcome};

pub use tenantguard_report::html::escape;

pub fn render(m: &Matrix) -> String {
    let s = m.summary();
    let mut out = String::from(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>tenantguard probe</title><style>\n\
         body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse}\n\
         th,td{border:1px solid #ccc;padding:4px 8px;font-size:13px}th{background:#f4f4f4}td.o{font-family:monospace}\n\
         .leak{background:#e53935;color:#fff;font-weight:bold}.isolated{background:#c8e6c9}.error{background:#ffb74d}.skipped{background:#e0e0e0;color:#555}\n\
         code{white-space:pre-wrap}</style></head><body>\n",
    );
    let _ = writeln!(out, "<h1>tenantguard probe</h1><p>database <b>{}</b>, attacked as <b>{}</b>: {} leak(s), {} isolated, {} error(s), {} skipped</p>",
        escape(&m.database), escape(&if m.app_roles.is_empty() { m.app_role.clone() } else { m.app_roles.join(", ") }), s.leak, s.isolated, s.error, s.skipped);
    let cols = super::columns(m);
    out.push_str("<table><tr><th>object</th>");
    for c in &cols {
        let _ = write!(out, "<th>{}</th>", c.as_str());
    }
    out.push_str("</tr>\n");
    for (role, o) in m.rows() {
        let _ = write!(out, "<tr><td class=\"o\">{}</td>", escape(&m.label(role, o)));
        for c in &cols {
            match m.cell_as(role, o, *c) {
                Some(r) => {
                    let label = if r.outcome == Outcome::Leak { "LEAK" } else { r.outcome.as_str() };
                    let tip = format!("{}{}", r.detail, r.statement.as_deref().map(|s| format!("\n{s}")).unwrap_or_default());
                    let _ = write!(out, "<td class=\"{}\" title=\"{}\">{label}</td>", r.outcome.as_str(), escape(&tip));
                }
                None => out.push_str("<td></td>"),
            }
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table>\n");
    let leaks: Vec<_> = m.results.iter().filter(|r| r.outcome != Outcome::Isolated).collect();
    if !leaks.is_empty() {
        out.push_str("<h2>Evidence</h2><ul>\n");
        for r in leaks {
            let _ = write!(out, "<li class=\"{}\"><b>{} {}</b>: {}", r.outcome.as_str(), escape(&m.label(&r.role, &r.object)), r.operation.as_str(), escape(&r.detail));
            if let (Outcome::Leak, Some(st)) = (r.outcome, &r.statement) {
                let _ = write!(out, "<br><code>{}</code>", escape(st));
            }
            out.push_str("</li>\n");
        }
        out.push_str("</ul>\n");
    }
    for n in &m.notes {
        let _ = writeln!(out, "<p><i>note: {}</i></p>", escape(n));
    }
    out.push_str("</body></html>\n");
    out
}
