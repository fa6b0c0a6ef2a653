//! Migration layouts: which files are migrations, in which order, and which part of each
//! file is the "up" SQL. Names are parsed without regexes so that any byte string
//! (fuzzed in tests) yields `None` or a name, never a panic.

use std::cmp::Ordering;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Any `*.sql`; numeric prefixes order numerically, the rest by name (sqlx, refinery's V-less, goose-sql).
    Plain,
    /// `V<version>__<desc>.sql`, `R__<desc>.sql` repeatables last, `U…` undo files skipped (Flyway, refinery).
    Flyway,
    /// `<version>_<desc>.up.sql` / `.down.sql`: only the ups (golang-migrate, sqlx reversible).
    UpDown,
    /// `<version>_<desc>.sql` with `-- migrate:up` / `-- migrate:down` sections (dbmate).
    Dbmate,
}

impl Layout {
    pub fn parse(s: &str) -> Option<Layout> {
        match s.to_ascii_lowercase().as_str() {
            "plain" | "sqlx" | "refinery-plain" => Some(Layout::Plain),
            "flyway" | "refinery" => Some(Layout::Flyway),
            "golang-migrate" | "up-down" | "updown" => Some(Layout::UpDown),
            "dbmate" => Some(Layout::Dbmate),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Layout::Plain => "plain",
            Layout::Flyway => "flyway",
            Layout::UpDown => "golang-migrate",
            Layout::Dbmate => "dbmate",
        }
    }
}

/// What a file name says about a migration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameInfo {
    /// Numeric version parts (`V1.2__x` -> [1, 2]); empty when the name has none.
    pub version: Vec<u64>,
    pub description: String,
    /// Applied (false for down/undo files).
    pub up: bool,
    /// Flyway `R__` files: applied after all versioned ones, ordered by description.
    pub repeatable: bool,
}

/// Parse a file name under a layout; `None` when the file is not a migration of that layout.
pub fn parse_name(name: &str, layout: Layout) -> Option<NameInfo> {
    let stem = name.strip_suffix(".sql").or_else(|| name.strip_suffix(".SQL"))?;
    if stem.is_empty() {
        return None;
    }
    match layout {
        Layout::Plain | Layout::Dbmate => {
            let (version, rest) = leading_number(stem);
            let description = rest.trim_start_matches(['_', '-', '.']).to_string();
            Some(NameInfo { version: version.into_iter().collect(), description, up: true, repeatable: false })
        }
        Layout::UpDown => {
            let (base, up) = if let Some(b) = stem.strip_suffix(".up") {
                (b, true)
            } else if let Some(b) = stem.strip_suffix(".down") {
                (b, false)
            } else {
                return None;
            };
            let (version, rest) = leading_number(base);
            let version = version?;
            Some(NameInfo { version: vec![version], description: rest.trim_start_matches(['_', '-']).to_string(), up, repeatable: false })
        }
        Layout::Flyway => {
            let mut chars = stem.chars();
            let prefix = chars.next()?.to_ascii_uppercase();
            let rest = chars.as_str();
            let (ver, desc) = rest.split_once("__")?;
            match prefix {
                'R' if ver.is_empty() => Some(NameInfo { version: vec![], description: desc.to_string(), up: true, repeatable: true }),
                'V' | 'U' => {
                    let version = dotted_version(ver)?;
                    Some(NameInfo { version, description: desc.to_string(), up: prefix == 'V', repeatable: false })
                }
                _ => None,
            }
        }
    }
}

/// Leading ASCII digits as a number (saturating: a 40-digit timestamp must not overflow).
fn leading_number(s: &str) -> (Option<u64>, &str) {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    if end == 0 {
        return (None, s);
    }
    let n = s[..end].bytes().fold(0u64, |acc, b| acc.saturating_mul(10).saturating_add(u64::from(b - b'0')));
    (Some(n), &s[end..])
}

/// Flyway versions: digits separated by `.` or `_` (`1.2`, `2_1`).
fn dotted_version(s: &str) -> Option<Vec<u64>> {
    if s.is_empty() {
        return None;
    }
    let mut parts = Vec::new();
    for part in s.split(['.', '_']) {
        let (n, rest) = leading_number(part);
        if !rest.is_empty() {
            return None;
        }
        parts.push(n?);
    }
    Some(parts)
}

/// Order: repeatables last; versions numerically (missing parts are 0); then by name.
pub fn compare(a: &(NameInfo, String), b: &(NameInfo, String)) -> Ordering {
    a.0.repeatable
        .cmp(&b.0.repeatable)
        .then_with(|| cmp_version(&a.0.version, &b.0.version))
        .then_with(|| a.1.cmp(&b.1))
}

pub fn cmp_version(a: &[u64], b: &[u64]) -> Ordering {
    let n = a.len().max(b.len());
    for i in 0..n {
        let (x, y) = (a.get(i).copied().unwrap_or(0), b.get(i).copied().unwrap_or(0));
        match x.cmp(&y) {
            Ordering::Equal => {}
            o => return o,
        }
    }
    Ordering::Equal
}

pub fn version_text(v: &[u64]) -> String {
    v.iter().map(u64::to_string).collect::<Vec<_>>().join(".")
}

/// Guess the layout from the names (and, for dbmate, the first file's markers).
pub fn detect(names: &[String], first_text: Option<&str>) -> Layout {
    let updown = names.iter().filter(|n| n.ends_with(".up.sql") || n.ends_with(".down.sql")).count();
    if updown > 0 && updown * 2 >= names.len() {
        return Layout::UpDown;
    }
    let flyway = names.iter().filter(|n| parse_name(n, Layout::Flyway).is_some()).count();
    if flyway > 0 && flyway * 2 >= names.len() {
        return Layout::Flyway;
    }
    if first_text.is_some_and(|t| dbmate_up(t).is_some()) {
        return Layout::Dbmate;
    }
    Layout::Plain
}

/// dbmate: the `-- migrate:up` section (byte range), up to `-- migrate:down`.
pub fn dbmate_up(text: &str) -> Option<(usize, usize)> {
    let marker = find_marker(text, "migrate:up")?;
    let start = text[marker..].find('\n').map(|i| marker + i + 1).unwrap_or(text.len());
    let end = find_marker(&text[start..], "migrate:down").map(|i| start + i).unwrap_or(text.len());
    Some((start, end))
}

/// A `-- <word>` line comment at the start of a line.
fn find_marker(text: &str, word: &str) -> Option<usize> {
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let t = line.trim_start();
        if let Some(rest) = t.strip_prefix("--") {
            if rest.trim_start().starts_with(word) {
                return Some(offset);
            }
        }
        offset += line.len();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_per_layout() {
        let f = parse_name("V1.2__add_users.sql", Layout::Flyway).unwrap();
        assert_eq!(f.version, vec![1, 2]);
        assert!(parse_name("R__views.sql", Layout::Flyway).unwrap().repeatable);
        assert!(!parse_name("U3__undo.sql", Layout::Flyway).unwrap().up);
        assert!(parse_name("notes.sql", Layout::Flyway).is_none());
        assert!(!parse_name("0001_init.down.sql", Layout::UpDown).unwrap().up);
        assert_eq!(parse_name("20240101120000_init.sql", Layout::Plain).unwrap().version, vec![20240101120000]);
        assert_eq!(parse_name("99999999999999999999999999_x.sql", Layout::Plain).unwrap().version, vec![u64::MAX]);
        assert!(parse_name(".sql", Layout::Plain).is_none());
    }

    #[test]
    fn detection() {
        let n = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(detect(&n(&["1_a.up.sql", "1_a.down.sql"]), None), Layout::UpDown);
        assert_eq!(detect(&n(&["V1__a.sql", "V2__b.sql"]), None), Layout::Flyway);
        assert_eq!(detect(&n(&["001_a.sql"]), Some("-- migrate:up\ncreate table t();\n-- migrate:down\n")), Layout::Dbmate);
        assert_eq!(detect(&n(&["001_a.sql"]), Some("create table t();")), Layout::Plain);
    }

    #[test]
    fn dbmate_sections() {
        let t = "-- migrate:up\nCREATE TABLE t();\n-- migrate:down\nDROP TABLE t;\n";
        let (s, e) = dbmate_up(t).unwrap();
        assert_eq!(&t[s..e], "CREATE TABLE t();\n");
    }
}
