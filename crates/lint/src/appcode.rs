//! Application code: a line scan of Rust, TypeScript/JavaScript, Python, Go, Ruby and Java
//! sources for the runtime anti-patterns the audit cannot see in the catalog. It reads
//! strings and call shapes, not types or control flow: what it cannot see is listed in
//! docs/lint.md ("What a string scan cannot see").

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use regex::Regex;
use tenantguard_rules::Finding;

use crate::extra_rules::{at, APP_CONTEXT_OUTSIDE_TX, APP_JOB_WITHOUT_TENANT, APP_QUERY_OUTSIDE_TX, APP_TENANT_INTERPOLATED, SESSION_LEVEL, UNUSED_SUPPRESSION};
use crate::suppress;

pub const EXTENSIONS: &[&str] = &["rs", "ts", "tsx", "mts", "cts", "js", "jsx", "mjs", "cjs", "py", "go", "rb", "java", "kt"];
const SKIP_DIRS: &[&str] = &["target", "node_modules", "vendor", "dist", "build", "venv", "__pycache__", "fuzz"];
const MAX_SOURCE_BYTES: u64 = 2 * 1024 * 1024;
/// How far back a transaction opener may be for a tenant setting to count as inside it.
const TX_WINDOW: usize = 25;

/// What the scan knows about the schema: from the shadow database when migrations were linted.
#[derive(Debug, Clone, Default)]
pub struct AppContext {
    /// Lower-case setting names; empty: anything that looks like a tenant setting.
    pub tenant_settings: Vec<String>,
    /// Lower-case table names (bare and `schema.table`) that hold tenant rows.
    pub tenant_tables: Vec<String>,
    /// Words meaning "the tenant" in job arguments (`tenant`, `org`, `account`, …).
    pub tenant_words: Vec<String>,
}

impl AppContext {
    fn is_tenant_setting(&self, name: &str) -> bool {
        let n = name.to_ascii_lowercase().replace(['"', ' '], "");
        if self.tenant_settings.is_empty() {
            tenantguard_rules::context::looks_like_tenant_setting(&n)
        } else {
            self.tenant_settings.contains(&n)
        }
    }

    fn mentions_tenant(&self, text: &str) -> bool {
        let t = text.to_ascii_lowercase().replace(['_', '-'], "");
        self.tenant_words.iter().any(|w| t.contains(w.as_str()))
    }
}

fn re(cell: &'static OnceLock<Regex>, pattern: &str) -> &'static Regex {
    cell.get_or_init(|| Regex::new(pattern).expect("valid regex"))
}

fn session_set() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    re(&R, r#"(?i)\bset\s+(session\s+|local\s+)?"?([a-z_][a-z0-9_]*"?\s*\.\s*"?[a-z_][a-z0-9_]*)"?\s*(=|\bto\b)"#)
}
fn set_config() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    re(&R, r#"(?i)set_config\s*\(\s*['"`]([a-z0-9_.]+)['"`]\s*,[^,]*,\s*([a-z0-9$?:@]+)"#)
}
fn tx_marker() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    re(&R, r"(?i)(\bbegin\b|\.begin\s*\(|begin_?tx|transaction|\btx\b|\btxn\b|\btrx\b|atomic|\$transaction|with_tenant|tenant_tx|in_tenant)")
}
fn pool_receiver() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    re(&R, r"(?i)(&\s*(self\.)?pool\b|\bpool\s*\.\s*(query|execute|fetch|exec|one|many|any|none|raw)|\(\s*(self\.|this\.)?pool\s*\)|\bgetPool\s*\(|\bdb_pool\b|\bpool\.get\(\)\.(query|execute))")
}
fn dml() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    re(&R, r#"(?i)\b(from|join|into|update)\s+"?([a-z_][a-z0-9_]*"?\.?"?[a-z0-9_]*)"?"#)
}
fn sql_keyword() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    re(&R, r#"(?i)["'`]\s*(select|insert|update|delete|with)\b"#)
}
fn enqueue() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    re(
        &R,
        r#"(\.enqueue\w*\s*\(|\bperform_async\s*\(|\bperform_later\s*\(|\bperform_in\s*\(|\bapply_async\s*\(|\.delay\s*\(|\.send_task\s*\(|\bBackgroundJob\.enqueue\s*\(|\.Enqueue(Context)?\s*\(|\.add\s*\(\s*['"`]|\bjobs?\.push\s*\(|\.insert_job\s*\()"#,
    )
}

/// A tenant value spliced into SQL text: the value position of `SET [LOCAL] <setting> =/TO`,
/// of `set_config('<setting>', …)`, or of a comparison with a column, followed by a string
/// interpolation instead of a placeholder. Markers: `{…}` (Rust format!, Python f-string or
/// .format), `${…}` (JS/TS template literal, Kotlin), `$name` (Kotlin only), `#{…}` (Ruby), a
/// closing quote then `+` (concatenation), `%s`/`%d`/`%v` (only with a formatting call, see
/// `printf_call`).
fn interpolated_value() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    re(
        &R,
        r#"(?i)(?:\bset\s+(?:local\s+|session\s+)?"?(?P<set>[a-z_][a-z0-9_]*"?\s*\.\s*"?[a-z_][a-z0-9_]*)"?\s*(?:=|\bto\b)|\bset_config\s*\(\s*'(?P<cfg>[a-z0-9_.]+)'\s*,|\b(?P<col>[a-z_][a-z0-9_]*)"?\s*(?:=|<>|!=|\bin\s*\())\s*'?\s*(?P<marker>\$\{[^}]*\}|\$[a-z_][a-z0-9_]*|#\{[^}]*\}|\{[a-z0-9_.:?#]*\}|["'`]\s*\+|%[sdvq]\b)"#,
    )
}
/// `%s` is a placeholder for psycopg and friends, an interpolation only under a format call.
fn printf_call() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    re(&R, r#"(Sprintf\s*\(|String\.format\s*\(|\.formatted\s*\(|format\s*\(|["']\s*%\s*[\w(])"#)
}
/// Whether the template literal holding position `col` of line `i` has a tag (`sql`…``,
/// `Prisma.sql`…``, `$queryRaw`…``): tagged templates bind their `${…}` values as
/// parameters. The opening backtick is the last one before `col`, up to 20 lines back.
fn in_tagged_template(lines: &[&str], i: usize, col: usize) -> bool {
    let mut text = lines[i.saturating_sub(20)..i].join("\n");
    text.push('\n');
    text.push_str(&lines[i][..col.min(lines[i].len())]);
    match text.rfind('`') {
        Some(open) => text[..open].chars().next_back().is_some_and(|c| c.is_alphanumeric() || matches!(c, '_' | '$' | '.')),
        None => false,
    }
}

fn comment_only(line: &str) -> bool {
    let t = line.trim_start();
    t.starts_with("//") || t.starts_with('#') || t.starts_with("--") || t.starts_with('*') || t.starts_with("/*")
}

/// Walk `paths` (files or directories) for sources; `skip` are directories not to enter (the migrations).
pub fn collect(paths: &[PathBuf], skip: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack: Vec<(PathBuf, bool)> = paths.iter().map(|p| (p.clone(), true)).collect();
    while let Some((p, given)) = stack.pop() {
        if skip.iter().any(|s| same(s, &p)) {
            continue;
        }
        if p.is_dir() {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            // Hidden and build directories are skipped below the paths given, never the paths themselves.
            if !given && (name.starts_with('.') || SKIP_DIRS.contains(&name)) {
                continue;
            }
            if let Ok(rd) = std::fs::read_dir(&p) {
                let mut children: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
                children.sort();
                stack.extend(children.into_iter().rev().map(|c| (c, false)));
            }
        } else if p.extension().and_then(|e| e.to_str()).is_some_and(|e| EXTENSIONS.contains(&e)) {
            out.push(p);
        }
    }
    out
}

fn same(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

pub fn scan_files(files: &[PathBuf], ctx: &AppContext) -> Vec<Finding> {
    let mut out = Vec::new();
    for f in files {
        if std::fs::metadata(f).map(|m| m.len() > MAX_SOURCE_BYTES).unwrap_or(true) {
            continue; // generated or vendored bundles: not hand-written queries
        }
        let Ok(bytes) = std::fs::read(f) else { continue };
        let text = String::from_utf8_lossy(&bytes);
        let shown = f.display().to_string();
        out.extend(scan_text(shown.trim_start_matches("./"), &text, ctx));
    }
    out
}

/// Findings for one source file, with suppressions applied (next line, or the same line).
pub fn scan_text(file: &str, text: &str, ctx: &AppContext) -> Vec<Finding> {
    let lines: Vec<&str> = text.lines().collect();
    let mut raw: Vec<(usize, Finding)> = Vec::new();
    // tenantguard-runtime's `TenantTx::enqueue` stamps the transaction's tenant into the job
    // itself: in a file built on the runtime, an enqueue's arguments need not name it.
    let runtime_jobs = text.contains("tenantguard_runtime");
    for (i, line) in lines.iter().enumerate() {
        if comment_only(line) {
            continue;
        }
        scan_line(file, &lines, i, ctx, runtime_jobs, &mut raw);
    }
    apply_suppressions(file, &lines, raw)
}

fn finding(rule: &str, file: &str, line: usize, col: usize, snippet: &str, message: String, fix: &str) -> Finding {
    let mut f = at(rule, file, file, line as u32 + 1, col as u32 + 1, message, fix);
    f.detail = Some(snippet.trim().chars().take(120).collect());
    f
}

fn scan_line(file: &str, lines: &[&str], i: usize, ctx: &AppContext, runtime_jobs: bool, out: &mut Vec<(usize, Finding)>) {
    let line = lines[i];
    let ahead = lines[i..lines.len().min(i + 4)].join("\n");
    let window_start = i.saturating_sub(TX_WINDOW);
    let in_tx = lines[window_start..=i].iter().any(|l| tx_marker().is_match(l));
    let on_pool = pool_receiver().is_match(&ahead);
    let context_set_local = |col: usize, name: &str, snippet: &str, out: &mut Vec<(usize, Finding)>| {
        if !in_tx || on_pool {
            out.push((
                i,
                finding(
                    APP_CONTEXT_OUTSIDE_TX,
                    file,
                    i,
                    col,
                    snippet,
                    format!("sets the transaction-local tenant setting {name} with no transaction opened before it{}: it lasts for this statement only", if on_pool { " (it runs on the pool)" } else { "" }),
                    "Open a transaction first and set the tenant inside it (BEGIN; SELECT set_config('app.current_tenant', $1, true); …; COMMIT), on the same connection as the queries",
                ),
            ));
        }
    };
    for cap in session_set().captures_iter(line) {
        let name = cap[2].replace(['"', ' '], "");
        if !ctx.is_tenant_setting(&name) {
            continue;
        }
        let m = cap.get(0).map(|m| (m.start(), m.as_str())).unwrap_or((0, ""));
        let local = cap.get(1).is_some_and(|g| g.as_str().trim().eq_ignore_ascii_case("local"));
        if local {
            context_set_local(m.0, &name, m.1, out);
        } else {
            out.push((i, finding(SESSION_LEVEL, file, i, m.0, m.1, format!("sets {name} for the whole session: a pooled connection hands this tenant to the next request"), "Use SET LOCAL (or set_config(name, value, true)) inside the request's transaction")));
        }
    }
    for cap in set_config().captures_iter(line) {
        let name = cap[1].to_string();
        if !ctx.is_tenant_setting(&name) {
            continue;
        }
        let m = cap.get(0).map(|m| (m.start(), m.as_str())).unwrap_or((0, ""));
        match cap[2].to_ascii_lowercase().as_str() {
            "false" | "f" | "0" | "off" => out.push((
                i,
                finding(SESSION_LEVEL, file, i, m.0, m.1, format!("set_config('{name}', …, false) sets the tenant for the whole session: a pooled connection hands it to the next request"), "Pass true (transaction-local) and call it inside the request's transaction"),
            )),
            "true" | "t" | "1" | "on" => context_set_local(m.0, &name, m.1, out),
            _ => {} // a bound parameter: the scan cannot know its value
        }
    }
    if !ctx.tenant_tables.is_empty() && sql_keyword().is_match(line) && on_pool && !in_tx {
        for cap in dml().captures_iter(line) {
            let table = cap[2].replace('"', "").to_ascii_lowercase();
            if ctx.tenant_tables.contains(&table) {
                let col = cap.get(0).map(|m| m.start()).unwrap_or(0);
                out.push((
                    i,
                    finding(
                        APP_QUERY_OUTSIDE_TX,
                        file,
                        i,
                        col,
                        &format!("{} {}", &cap[1], table),
                        format!("queries tenant table {table} straight on the pool, outside a tenant-scoped transaction: the connection's tenant context is unset or another request's"),
                        "Run it inside a transaction that first sets the tenant (the runtime crate's tenant transaction, or BEGIN + set_config(…, true))",
                    ),
                ));
                break;
            }
        }
    }
    for cap in interpolated_value().captures_iter(line) {
        let marker = &cap["marker"];
        let what = if let Some(name) = cap.name("set").or_else(|| cap.name("cfg")) {
            let name = name.as_str().replace(['"', ' '], "");
            if !ctx.is_tenant_setting(&name) {
                continue;
            }
            format!("the tenant setting {name}")
        } else {
            let col = &cap["col"];
            if !ctx.mentions_tenant(col) {
                continue;
            }
            format!("the comparison with {col}")
        };
        if marker.starts_with('%') && !printf_call().is_match(&ahead) {
            continue;
        }
        // `$name` interpolates in Kotlin strings only; elsewhere it is literal text.
        if marker.starts_with('$') && !marker.starts_with("${") && !file.ends_with(".kt") {
            continue;
        }
        let m = cap.get(0).map(|m| (m.start(), m.as_str())).unwrap_or((0, ""));
        if marker.starts_with("${") && in_tagged_template(lines, i, m.0) {
            continue;
        }
        out.push((
            i,
            finding(
                APP_TENANT_INTERPOLATED,
                file,
                i,
                m.0,
                m.1,
                format!("splices a value into {what} by string interpolation: a crafted tenant (`x'; SET LOCAL app.current_tenant = 'other`) rewrites the statement and reads another tenant's rows, RLS included"),
                "Bind it as a parameter: SELECT set_config('app.current_tenant', $1, true) (SET itself cannot take one) and WHERE tenant_id = $1",
            ),
        ));
    }
    for m in enqueue().find_iter(line) {
        if runtime_jobs && m.as_str().starts_with(".enqueue") {
            continue;
        }
        let args = call_args(&lines[i..lines.len().min(i + 6)].join("\n"), m.start());
        if !ctx.mentions_tenant(&args) {
            out.push((
                i,
                finding(
                    APP_JOB_WITHOUT_TENANT,
                    file,
                    i,
                    m.start(),
                    m.as_str(),
                    "enqueues a background job whose arguments carry no tenant: the worker cannot set the tenant context".into(),
                    "Pass the tenant id in the job's payload and have the worker open its transaction with it",
                ),
            ));
        }
    }
}

/// The call's argument text from `start` (the match) to the balancing `)`, within the given text.
fn call_args(text: &str, start: usize) -> String {
    let s = &text[start.min(text.len())..];
    let Some(open) = s.find('(') else { return s.to_string() };
    let mut depth = 0i32;
    for (i, c) in s[open..].char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return s[open..open + i + 1].to_string();
                }
            }
            _ => {}
        }
    }
    s[open..].to_string()
}

fn apply_suppressions(file: &str, lines: &[&str], raw: Vec<(usize, Finding)>) -> Vec<Finding> {
    let mut used = vec![false; lines.len()];
    let mut out = Vec::new();
    let ignore_at = |l: usize| -> Option<Result<suppress::Ignore, String>> { lines.get(l).and_then(|t| suppress::comments_in(t).first().and_then(|(_, c)| suppress::parse(c))) };
    'findings: for (line, f) in raw {
        // The same line (trailing comment), then the comment lines right above it.
        let mut candidates = vec![line];
        let mut l = line;
        while l > 0 && comment_only(lines[l - 1]) {
            l -= 1;
            candidates.push(l);
        }
        for c in candidates {
            if let Some(Ok(ig)) = ignore_at(c) {
                if ig.rules.contains(&f.rule) {
                    used[c] = true;
                    continue 'findings;
                }
            }
        }
        out.push(f);
    }
    for (l, text) in lines.iter().enumerate() {
        for (off, c) in suppress::comments_in(text) {
            let col = text[..off].chars().count() as u32 + 1;
            match suppress::parse(c) {
                Some(Err(msg)) => out.push(at(UNUSED_SUPPRESSION, file, file, l as u32 + 1, col, msg, "Write `tenantguard-ignore <rule-id>: <reason>`")),
                Some(Ok(ig)) if !used[l] => out.push(at(
                    UNUSED_SUPPRESSION,
                    file,
                    file,
                    l as u32 + 1,
                    col,
                    format!("`tenantguard-ignore {}` suppresses nothing on the next line", ig.rules.join(", ")),
                    "Remove the stale comment (or move it right above the line it is for)",
                )),
                _ => {}
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> AppContext {
        AppContext { tenant_settings: vec!["app.current_tenant".into()], tenant_tables: vec!["invoices".into(), "public.invoices".into()], tenant_words: vec!["tenant".into()] }
    }

    fn rules(text: &str) -> Vec<(String, u32)> {
        scan_text("x.rs", text, &ctx()).into_iter().map(|f| (f.rule, f.line.unwrap())).collect()
    }

    #[test]
    fn session_level_and_outside_transaction() {
        assert_eq!(rules(r#"conn.execute("SET app.current_tenant = '42'")"#), vec![(SESSION_LEVEL.into(), 1)]);
        assert_eq!(rules(r#"db.query("select set_config('app.current_tenant', $1, false)")"#), vec![(SESSION_LEVEL.into(), 1)]);
        assert_eq!(rules(r#"pool.query("select set_config('app.current_tenant', $1, true)")"#), vec![(APP_CONTEXT_OUTSIDE_TX.into(), 1)]);
        let ok = "let mut tx = pool.begin().await?;\nsqlx::query(\"select set_config('app.current_tenant', $1, true)\").execute(&mut *tx).await?;";
        assert!(rules(ok).is_empty(), "{:?}", rules(ok));
        assert!(rules(r#"conn.execute("SET LOCAL app.other = 1")"#).is_empty());
    }

    #[test]
    fn queries_and_jobs() {
        assert_eq!(rules(r#"sqlx::query("SELECT * FROM invoices").fetch_all(&pool).await?;"#), vec![(APP_QUERY_OUTSIDE_TX.into(), 1)]);
        assert!(rules(r#"sqlx::query("SELECT * FROM plans").fetch_all(&pool).await?;"#).is_empty());
        assert_eq!(rules("queue.enqueue(SendInvoice { invoice_id })"), vec![(APP_JOB_WITHOUT_TENANT.into(), 1)]);
        assert!(rules("queue.enqueue(SendInvoice { tenant_id, invoice_id })").is_empty());
        assert!(rules("SendInvoiceJob.perform_later(\n  invoice.id,\n  tenant.id)").is_empty());
        // The runtime's TenantTx::enqueue stamps the tenant itself.
        assert!(rules("use tenantguard_runtime::TenantTx;\ntx.enqueue(EXPORT, json!({ \"invoice_id\": id })).await?;").is_empty());
    }

    #[test]
    fn interpolated_tenant() {
        let hit = |text: &str| rules(text).contains(&(APP_TENANT_INTERPOLATED.into(), 1));
        // Rust, Python f-string, JS template, Ruby, Go Sprintf, Java concatenation, Kotlin.
        assert!(hit(r#"let mut tx = pool.begin().await?; tx.execute(&*format!("SET LOCAL app.current_tenant = '{}'", t)).await?;"#));
        assert!(hit(r#"with conn.transaction(): cur.execute(f"SELECT * FROM invoices WHERE tenant_id = '{tenant}'")"#));
        assert!(hit("await tx.query(`SELECT set_config('app.current_tenant', '${req.headers.tenant}', true)`)"));
        assert!(hit(r#"Invoice.transaction { conn.execute("SELECT * FROM invoices WHERE tenant_id = #{tenant_id}") }"#));
        assert!(hit(r#"tx.Exec(fmt.Sprintf("SET LOCAL app.current_tenant = '%s'", t))"#));
        assert!(hit(r#"tx.execute("SELECT * FROM invoices WHERE tenant_id = '" + tenantId + "'");"#));
        assert!(hit(r#"tx.execute("SELECT * FROM invoices WHERE tenant_id IN (${ids})")"#));
        // Placeholders and tagged templates bind the value; names may be interpolated.
        assert!(!hit(r#"cur.execute("SELECT * FROM invoices WHERE tenant_id = %s", (tenant,))"#));
        assert!(!hit("await sql`SELECT * FROM invoices WHERE tenant_id = ${tenant}`"));
        assert!(!hit("await prisma.$queryRaw`SELECT set_config('app.current_tenant', ${t}, true)`"));
        let tagged = "const rows = await sql`\n  SELECT * FROM invoices\n  WHERE tenant_id = ${tenant}\n`;";
        assert!(!rules(tagged).iter().any(|(r, _)| r == APP_TENANT_INTERPOLATED), "{:?}", rules(tagged));
        assert!(hit("tx.query(`SELECT * FROM invoices WHERE tenant_id = '${t}' AND status = open`)"));
        assert!(!hit(r#"let tx = begin(); sqlx::query("SELECT * FROM invoices WHERE tenant_id = $1")"#));
        assert!(!hit(r#"format!("SELECT set_config('{}', $1, true)", options.tenant_setting)"#));
        assert!(!hit(r#"format!("SELECT * FROM {table} WHERE id = '{}'", id)"#));
        // Kotlin's `$name` template, in .kt files only.
        let kt = |text: &str| scan_text("Repo.kt", text, &ctx()).iter().any(|f| f.rule == APP_TENANT_INTERPOLATED);
        assert!(kt(r#"tx.execute("SELECT * FROM invoices WHERE tenant_id = '$tenantId'")"#));
        assert!(!hit(r#"tx.execute("SELECT * FROM invoices WHERE tenant_id = '$tenantId'")"#));
    }

    #[test]
    fn suppressions() {
        let text = "// tenantguard-ignore app-job-without-tenant: global job, no tenant data\nqueue.enqueue(Cleanup {})\n";
        assert!(rules(text).is_empty());
        let stale = "// tenantguard-ignore app-job-without-tenant: old\nlet x = 1;\n";
        assert_eq!(rules(stale), vec![(UNUSED_SUPPRESSION.into(), 1)]);
        let no_reason = "# tenantguard-ignore app-job-without-tenant\nqueue.enqueue(Cleanup {})\n";
        let r = rules(no_reason);
        assert!(r.contains(&(UNUSED_SUPPRESSION.into(), 1)) && r.contains(&(APP_JOB_WITHOUT_TENANT.into(), 2)));
    }
}
