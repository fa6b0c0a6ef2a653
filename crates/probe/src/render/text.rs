//! A compact grid, then the evidence for every leak and the reason for every error.

use std::fmt::Write;

use crate::matrix::{Matrix, Outcome};

fn mark(o: Option<Outcome>) -> &'static str {
    match o {
        Some(Outcome::Leak) => "LEAK",
        Some(Outcome::Isolated) => "ok",
        Some(Outcome::Error) => "error",
        Some(Outcome::Skipped) => "skip",
        None => "-",
    }
}

pub fn render(m: &Matrix) -> String {
    let mut out = String::new();
    let roles = if m.app_roles.is_empty() { m.app_role.clone() } else { m.app_roles.join(", ") };
    let _ = writeln!(out, "tenantguard probe: database {} as {roles}", m.database);
    let cols = super::columns(m);
    let rows = m.rows();
    let labels: Vec<String> = rows.iter().map(|(r, o)| m.label(r, o)).collect();
    let width = labels.iter().map(|o| o.chars().count()).max().unwrap_or(6).clamp(6, 70);
    let _ = write!(out, "\n{:<width$}", "object");
    for c in &cols {
        let _ = write!(out, " {:>13}", c.as_str());
    }
    out.push('\n');
    for ((role, o), label) in rows.iter().zip(&labels) {
        let name: String = label.chars().take(width).collect();
        let _ = write!(out, "{name:<width$}");
        for c in &cols {
            let _ = write!(out, " {:>13}", mark(m.find_as(role, o, *c)));
        }
        out.push('\n');
    }
    for (title, outcome) in [("Leaks", Outcome::Leak), ("Errors", Outcome::Error), ("Skipped", Outcome::Skipped)] {
        let rs: Vec<_> = m.results.iter().filter(|r| r.outcome == outcome).collect();
        if rs.is_empty() {
            continue;
        }
        let _ = writeln!(out, "\n{title}:");
        for r in rs {
            let _ = writeln!(out, "  {} {}: {}", m.label(&r.role, &r.object), r.operation.as_str(), r.detail);
            if outcome == Outcome::Leak {
                if let Some(s) = &r.statement {
                    let _ = writeln!(out, "      statement: {s}");
                }
            }
        }
    }
    for n in &m.notes {
        let _ = writeln!(out, "\nnote: {n}");
    }
    let s = m.summary();
    let _ = writeln!(out, "\n{} leak(s), {} isolated, {} error(s), {} skipped", s.leak, s.isolated, s.error, s.skipped);
    out
}
