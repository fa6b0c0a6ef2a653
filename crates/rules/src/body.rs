//! What a function body touches. SQL bodies come parsed; PL/pgSQL and other languages
//! are scanned as text, which sees table names after FROM/JOIN/INTO/UPDATE/DELETE and
//! calls of set_config but not dynamic SQL built at run time.

use std::sync::OnceLock;

use regex::Regex;
use tenantguard_catalog::expr::{Expr, Statement};
use tenantguard_catalog::{Function, Relation};

use crate::audit::Audit;

#[derive(Debug, Clone)]
pub struct TableUse<'a> {
    pub rel: &'a Relation,
    pub writes: bool,
}

fn table_regex() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r#"(?i)\b(from|join|into|update|delete\s+from|truncate(?:\s+table)?)\s+(only\s+)?((?:"[^"]+"|[a-z_][a-z0-9_$]*)(?:\s*\.\s*(?:"[^"]+"|[a-z_][a-z0-9_$]*))?)"#)
            .expect("valid regex")
    })
}

impl<'a> Audit<'a> {
    /// Tables a function reads or writes.
    pub fn body_tables(&self, f: &Function) -> Vec<TableUse<'a>> {
        let mut out: Vec<TableUse<'a>> = Vec::new();
        let mut add = |rel: Option<&'a Relation>, writes: bool| {
            if let Some(rel) = rel {
                if let Some(existing) = out.iter_mut().find(|u| u.rel.oid == rel.oid) {
                    existing.writes |= writes;
                } else {
                    out.push(TableUse { rel, writes });
                }
            }
        };
        if let Some(stmts) = &f.sql_body {
            for s in stmts {
                match s {
                    Statement::Select(q) => q.tables().iter().for_each(|(sch, n)| add(self.relation_named(sch.as_deref(), n), false)),
                    Statement::Insert { schema, table, source } => {
                        add(self.relation_named(schema.as_deref(), table), true);
                        if let Some(q) = source {
                            q.tables().iter().for_each(|(sch, n)| add(self.relation_named(sch.as_deref(), n), false));
                        }
                    }
                    Statement::Update { schema, table, .. } | Statement::Delete { schema, table, .. } => {
                        add(self.relation_named(schema.as_deref(), table), true)
                    }
                    _ => {}
                }
            }
            return out;
        }
        let src = strip_comments(&f.source);
        for cap in table_regex().captures_iter(&src) {
            let keyword = cap[1].to_ascii_lowercase();
            let name = &cap[3];
            let parts = tenantguard_catalog::split_identifier(&name.replace(' ', "")).unwrap_or_default();
            let rel = match parts.as_slice() {
                [n] => self.relation_named(None, n),
                [s, n] => self.relation_named(Some(s), n),
                _ => None,
            };
            let writes = keyword != "from" && keyword != "join";
            add(rel, writes);
        }
        out
    }

    /// Does the body consult the tenant context (a tenant setting, the JWT, the role, a context getter)?
    pub fn body_uses_context(&self, f: &Function) -> bool {
        let src = strip_comments(&f.source).to_ascii_lowercase();
        let settings = self.model.tenant_settings.iter().any(|s| src.contains(&s.to_ascii_lowercase()));
        let jwt = src.contains("auth.jwt") || src.contains("request.jwt") || src.contains("auth.uid");
        let role = src.contains("current_user") || src.contains("session_user");
        let getter = self
            .snapshot
            .functions
            .iter()
            .filter(|g| g.oid != f.oid && g.arg_count == 0)
            .filter(|g| src.contains(&format!("{}(", g.name.to_ascii_lowercase())))
            .any(|g| self.function_source(g, 1).is_context());
        settings || jwt || role || getter
    }
}

/// Remove `--` and `/* */` comments (roughly: not inside string literals).
pub fn strip_comments(src: &str) -> String {
    let mut out = String::with_capacity(src.len());
    let mut chars = src.chars().peekable();
    let mut in_string = false;
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            if c == '\'' {
                in_string = false;
            }
            continue;
        }
        match c {
            '\'' => {
                in_string = true;
                out.push(c);
            }
            '-' if chars.peek() == Some(&'-') => {
                for n in chars.by_ref() {
                    if n == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                let mut prev = ' ';
                for n in chars.by_ref() {
                    if prev == '*' && n == '/' {
                        break;
                    }
                    prev = n;
                }
                out.push(' ');
            }
            _ => out.push(c),
        }
    }
    out
}

/// Calls of `set_config(name, value, is_local)` in a body: (setting name, is_local as written).
pub fn set_config_calls(f: &Function) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Some(stmts) = &f.sql_body {
        for s in stmts {
            if let Statement::Select(q) = s {
                q.walk(&mut |e| {
                    if let Expr::Call { name, args } = e {
                        if name.last().is_some_and(|n| n == "set_config") && args.len() == 3 {
                            if let Expr::Str(setting) = args[0].strip_casts() {
                                out.push((setting.clone(), crate::sql::to_sql(args[2].strip_casts())));
                            }
                        }
                    }
                });
            }
        }
        return out;
    }
    let src = strip_comments(&f.source);
    let lower = src.to_ascii_lowercase();
    let mut start = 0;
    while let Some(i) = lower[start..].find("set_config") {
        let at = start + i + "set_config".len();
        start = at;
        let rest = &src[at..];
        let Some(open) = rest.find('(') else { break };
        if rest[..open].trim().is_empty() {
            let args = split_args(&rest[open + 1..]);
            if args.len() == 3 {
                let name = args[0].trim().trim_matches('\'').to_string();
                out.push((name, args[2].trim().to_string()));
            }
        }
    }
    out
}

/// Split a call's arguments at top-level commas, up to the closing parenthesis.
fn split_args(s: &str) -> Vec<String> {
    let mut args = Vec::new();
    let mut depth = 0;
    let mut current = String::new();
    let mut in_string = false;
    for c in s.chars() {
        if in_string {
            current.push(c);
            if c == '\'' {
                in_string = false;
            }
            continue;
        }
        match c {
            '\'' => {
                in_string = true;
                current.push(c);
            }
            '(' => {
                depth += 1;
                current.push(c);
            }
            ')' if depth == 0 => {
                args.push(current);
                return args;
            }
            ')' => {
                depth -= 1;
                current.push(c);
            }
            ',' if depth == 0 => args.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    Vec::new()
}
