//! Text for people: grouped by severity, each finding with its object, why it leaks, and the fix.

use std::fmt::Write;

use tenantguard_rules::Severity;

use crate::Report;

fn paint(s: &str, code: &str, color: bool) -> String {
    if color {
        format!("\x1b[{code}m{s}\x1b[0m")
    } else {
        s.to_string()
    }
}

pub fn render(r: &Report, color: bool) -> String {
    let mut out = String::new();
    let s = r.summary();
    let _ = writeln!(out, "tenantguard {} — {}", env!("CARGO_PKG_VERSION"), r.database);
    for sev in [Severity::Critical, Severity::Major, Severity::Minor, Severity::Info] {
        let group: Vec<_> = r.findings.iter().filter(|f| f.severity == sev).collect();
        if group.is_empty() {
            continue;
        }
        let (label, code) = match sev {
            Severity::Critical => ("CRITICAL — blocks the release", "1;31"),
            Severity::Major => ("MAJOR — fix this sprint", "1;33"),
            Severity::Minor => ("MINOR — schedule within two sprints", "1;36"),
            Severity::Info => ("INFO", "1;34"),
        };
        let _ = writeln!(out, "\n{} ({})", paint(label, code, color), group.len());
        for f in group {
            let location = match (&f.file, f.line) {
                (Some(file), Some(line)) => format!(" ({file}:{line}:{})", f.column.unwrap_or(1)),
                (Some(file), None) => format!(" ({file})"),
                _ => String::new(),
            };
            let _ = writeln!(out, "  {} {}{location}", paint(&f.rule, "1", color), f.object);
            let _ = writeln!(out, "      {}", f.message);
            if sev != Severity::Info {
                let _ = writeln!(out, "      fix: {}", f.fix);
                let _ = writeln!(out, "      docs: {}", r.rule_url(&f.rule));
            }
        }
    }
    let _ = writeln!(
        out,
        "\n{} critical, {} major, {} minor, {} info{}",
        s.critical,
        s.major,
        s.minor,
        s.info,
        if r.accepted > 0 { format!(" ({} accepted by the baseline)", r.accepted) } else { String::new() }
    );
    out
}
