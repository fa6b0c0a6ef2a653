//! Reading a migrations directory (or the same files from a git ref) into an ordered list.
//! Unreadable, non-UTF-8, oversized and colliding files become findings, not errors:
//! the lint still reports on everything else.

use std::collections::HashMap;
use std::path::Path;

use anyhow::Context;
use sha2::{Digest, Sha256};
use tenantguard_rules::Finding;

use crate::extra_rules::{at, MIGRATION_FAILED, MIGRATION_ORDER};
use crate::layout::{self, Layout, NameInfo};

/// Larger files are reported and skipped: nobody reviews a 64 MiB migration, and parsing it would dominate the run.
pub const MAX_FILE_BYTES: usize = 64 * 1024 * 1024;

#[derive(Debug, Clone)]
pub struct MigrationFile {
    /// As shown in reports (the directory as given, joined with the file name).
    pub display: String,
    pub name: String,
    pub version: Vec<u64>,
    pub text: String,
    /// The byte range of `text` that is applied (dbmate: the up section).
    pub up: (usize, usize),
    /// Content hash chained with every earlier file: equal prefixes, equal hashes.
    pub chain_hash: [u8; 32],
}

impl MigrationFile {
    pub fn up_sql(&self) -> &str {
        &self.text[self.up.0..self.up.1]
    }
}

#[derive(Debug, Default)]
pub struct MigrationSet {
    pub dir: String,
    pub layout: Option<Layout>,
    pub files: Vec<MigrationFile>,
    pub problems: Vec<Finding>,
}

/// Read `dir`'s top-level `*.sql` files (others are ignored; subdirectories too).
pub fn read_dir(dir: &Path, layout: Option<Layout>) -> anyhow::Result<MigrationSet> {
    let entries = std::fs::read_dir(dir).with_context(|| format!("cannot read migrations directory {}", dir.display()))?;
    let mut files = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()).map(str::to_string) else { continue };
        if !name.to_ascii_lowercase().ends_with(".sql") || !path.is_file() {
            continue;
        }
        let len = entry.metadata().map(|m| m.len() as usize).unwrap_or(0);
        let bytes = if len > MAX_FILE_BYTES { Err(len) } else { std::fs::read(&path).map_err(|_| 0) };
        files.push((name, bytes));
    }
    Ok(build(&dir.display().to_string(), files, layout))
}

/// A migration file's name and bytes; `Err(len)` stands for a file too large (or unreadable,
/// len 0) to read.
pub type SourceFile = (String, Result<Vec<u8>, usize>);

/// Order and check the files.
pub fn build(dir: &str, files: Vec<SourceFile>, layout: Option<Layout>) -> MigrationSet {
    let mut set = MigrationSet { dir: dir.to_string(), ..Default::default() };
    let display = |name: &str| if dir.is_empty() || dir == "." { name.to_string() } else { format!("{}/{}", dir.trim_end_matches('/'), name) };
    let mut texts: Vec<(String, String)> = Vec::new();
    for (name, bytes) in files {
        let shown = display(&name);
        match bytes {
            Err(0) => set.problems.push(at(MIGRATION_FAILED, &shown, &shown, 1, 1, "cannot read the file".into(), "Check its permissions")),
            Err(len) => set.problems.push(at(
                MIGRATION_FAILED,
                &shown,
                &shown,
                1,
                1,
                format!("the file is {len} bytes, over the {MAX_FILE_BYTES}-byte limit; it was not applied"),
                "Split it into smaller migrations (or load bulk data outside migrations)",
            )),
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(text) if text.contains('\0') => {
                    let (line, col) = line_col(&text, text.find('\0').unwrap_or(0));
                    set.problems.push(at(MIGRATION_FAILED, &shown, &shown, line, col, "the file contains a NUL byte, which PostgreSQL rejects; it was not applied".into(), "Remove the NUL byte"));
                }
                Ok(text) => texts.push((name, text)),
                Err(e) => {
                    let offset = e.utf8_error().valid_up_to();
                    let valid = String::from_utf8_lossy(&e.as_bytes()[..offset]).into_owned();
                    let (line, col) = line_col(&valid, offset);
                    set.problems.push(at(
                        MIGRATION_FAILED,
                        &shown,
                        &shown,
                        line,
                        col,
                        format!("the file is not UTF-8 (invalid byte at offset {offset}); it was not applied"),
                        "Save the file as UTF-8",
                    ));
                }
            },
        }
    }
    texts.sort_by(|a, b| a.0.cmp(&b.0));
    let names: Vec<String> = texts.iter().map(|(n, _)| n.clone()).collect();
    let layout = layout.unwrap_or_else(|| layout::detect(&names, texts.first().map(|(_, t)| t.as_str())));
    set.layout = Some(layout);

    let mut ordered: Vec<((NameInfo, String), String)> = Vec::new();
    for (name, text) in texts {
        match layout::parse_name(&name, layout) {
            Some(info) if info.up => ordered.push(((info, name), text)),
            Some(_) => {} // down / undo files are not applied
            None => {
                let shown = display(&name);
                set.problems.push(at(
                    MIGRATION_ORDER,
                    &shown,
                    &shown,
                    1,
                    1,
                    format!("the name does not follow the {} layout, so the migration tool skips it (and so does the lint)", layout.name()),
                    "Rename it to the layout's pattern, or move it out of the migrations directory",
                ));
            }
        }
    }
    ordered.sort_by(|a, b| layout::compare(&a.0, &b.0));

    let mut seen: HashMap<Vec<u64>, String> = HashMap::new();
    let mut chain = [0u8; 32];
    for ((info, name), text) in ordered {
        let shown = display(&name);
        if !info.version.is_empty() && !info.repeatable {
            if let Some(first) = seen.get(&info.version) {
                set.problems.push(at(
                    MIGRATION_ORDER,
                    &shown,
                    &shown,
                    1,
                    1,
                    format!("version {} is also used by {first}; tools refuse or pick one arbitrarily", layout::version_text(&info.version)),
                    "Give each migration a unique version",
                ));
            } else {
                seen.insert(info.version.clone(), shown.clone());
            }
        }
        let up = if layout == Layout::Dbmate { layout::dbmate_up(&text).unwrap_or((0, text.len())) } else { (0, text.len()) };
        let mut h = Sha256::new();
        h.update(chain);
        h.update(name.as_bytes());
        h.update([0]);
        h.update(&text.as_bytes()[up.0..up.1]);
        chain = h.finalize().into();
        set.files.push(MigrationFile { display: shown, name, version: info.version, text, up, chain_hash: chain });
    }
    set
}

/// 1-based line and column (in characters) of a byte offset; offsets past the end clamp.
pub fn line_col(text: &str, offset: usize) -> (u32, u32) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.bytes().filter(|&b| b == b'\n').count() + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let col = before[line_start..].chars().count() + 1;
    (line as u32, col as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(name: &str, text: &str) -> (String, Result<Vec<u8>, usize>) {
        (name.to_string(), Ok(text.as_bytes().to_vec()))
    }

    #[test]
    fn orders_numerically_and_reports_collisions() {
        let set = build("m", vec![ok("10_c.sql", ""), ok("2_b.sql", ""), ok("2_a.sql", ""), ok("1_x.sql", "")], None);
        let names: Vec<&str> = set.files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["1_x.sql", "2_a.sql", "2_b.sql", "10_c.sql"]);
        assert_eq!(set.problems.len(), 1);
        assert_eq!(set.problems[0].rule, MIGRATION_ORDER);
        assert_eq!(set.problems[0].file.as_deref(), Some("m/2_b.sql"));
    }

    #[test]
    fn bad_bytes_are_findings() {
        let set = build("m", vec![("1_a.sql".into(), Ok(b"select 1;\n\xff".to_vec())), ok("2_b.sql", "a\0b"), ("3_c.sql".into(), Err(99_999_999))], None);
        assert_eq!(set.files.len(), 0);
        assert_eq!(set.problems.len(), 3);
        assert!(set.problems.iter().all(|p| p.rule == MIGRATION_FAILED));
        assert_eq!(set.problems.iter().find(|p| p.object == "m/1_a.sql").unwrap().line, Some(2));
    }

    #[test]
    fn line_col_counts_chars() {
        assert_eq!(line_col("ab\ncdé f", 8), (2, 5));
        assert_eq!(line_col("", 10), (1, 1));
    }
}
