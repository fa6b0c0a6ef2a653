//! Deterministic fuzzing (a fixed-seed generator, so failures reproduce): migration file
//! names, suppression comments and whole migration texts never panic the parsers.

use tenantguard_lint::layout::{self, Layout};
use tenantguard_lint::{source, statements, suppress};

/// xorshift64*: no dependency, same sequence on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[(self.next() % xs.len() as u64) as usize]
    }

    fn text(&mut self, pieces: &[&str], max: usize) -> String {
        let n = (self.next() % max as u64) as usize;
        let mut s = String::new();
        for _ in 0..n {
            if self.next().is_multiple_of(5) {
                // Arbitrary code points, including multi-byte ones and controls.
                let c = char::from_u32((self.next() % 0x11_0000) as u32).unwrap_or('\u{fffd}');
                s.push(c);
            } else {
                s.push_str(self.pick(pieces));
            }
        }
        s
    }
}

const NAME_PIECES: &[&str] = &["V", "U", "R", "_", "__", ".", "1", "0", "99999999999999999999999", ".up", ".down", ".sql", ".SQL", "-", "init", "é", " ", "\u{0}"];
const COMMENT_PIECES: &[&str] = &["--", "//", "#", "/*", "*/", " ", "tenantguard-ignore", "rls-disabled", ",", ":", "reason", "\n", "tenantguard-ignored", "é", "\t"];
const SQL_PIECES: &[&str] = &[
    "CREATE TABLE t (id int);", "CREATE POLICY p ON t USING (true);", "$$", "$x$", "'", "\"", ";", "--", "/*", "*/", "\n", " ", "BEGIN;", "COMMIT;",
    "CREATE FUNCTION f() RETURNS int AS $$ SELECT 1 $$ LANGUAGE sql;", "-- migrate:up\n", "-- migrate:down\n", "GRANT ALL ON t TO PUBLIC;", "SET search_path TO x;", "E'\\'", "é",
];

#[test]
fn file_names_never_panic() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for _ in 0..20_000 {
        let name = rng.text(NAME_PIECES, 12);
        for l in [Layout::Plain, Layout::Flyway, Layout::UpDown, Layout::Dbmate] {
            if let Some(info) = layout::parse_name(&name, l) {
                let _ = layout::version_text(&info.version);
            }
        }
        let names = vec![name.clone(), rng.text(NAME_PIECES, 8)];
        let _ = layout::detect(&names, Some(&name));
    }
}

#[test]
fn suppression_comments_never_panic() {
    let mut rng = Rng(0xD1B5_4A32_D192_ED03);
    for _ in 0..20_000 {
        let text = rng.text(COMMENT_PIECES, 16);
        for (_, c) in suppress::comments_in(&text) {
            if let Some(Ok(ig)) = suppress::parse(c) {
                assert!(!ig.reason.is_empty() && !ig.rules.is_empty());
            }
        }
        let _ = suppress::parse(&text);
        let _ = tenantguard_lint::appcode::scan_text("f.rs", &text, &Default::default());
    }
}

#[test]
fn migration_texts_never_panic() {
    let mut rng = Rng(0xA076_1D64_78BD_642F);
    for _ in 0..2_000 {
        let files: Vec<(String, Result<Vec<u8>, usize>)> = (0..3)
            .map(|_| {
                let name = rng.text(NAME_PIECES, 6);
                let mut bytes = rng.text(SQL_PIECES, 12).into_bytes();
                if rng.next().is_multiple_of(7) {
                    bytes.push(0xff);
                }
                (name, Ok(bytes))
            })
            .collect();
        let set = source::build("m", files, None);
        let mut sp = "public".to_string();
        for f in &set.files {
            let p = statements::parse_file(f.up_sql(), f.up.0, &mut sp);
            for s in &p.stmts {
                assert!(s.lead <= s.start && s.start <= s.end && s.end <= f.text.len());
                let _ = source::line_col(&f.text, s.start);
            }
        }
    }
}
