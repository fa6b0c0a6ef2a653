//! Statements of a migration file with their byte spans, and the objects each one creates
//! or changes. Spans come from PostgreSQL's own parser (pg_query): it is the grammar the
//! server applies, so dollar quotes, nested comments and `E''` strings split exactly as
//! they will run. squawk's parser is pure Rust and tolerant, but it is a second grammar
//! that can disagree with the server on edge cases; pg_query is already a dependency.

use pg_query::protobuf::{self as pb, a_const, AlterTableType, GrantTargetType};
use pg_query::NodeEnum;

/// How a statement touched an object; locate prefers different actions per rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Create,
    Alter,
    Rls,
    Grant,
    Owner,
    Policy,
    Index,
    Trigger,
    RoleSet,
    DbSet,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Touch {
    /// `rel:s.t`, `func:s.f`, `role:r`, `schema:s`, `named:s.t:name`, `alltables:s`, `db`.
    pub key: String,
    pub action: Action,
}

#[derive(Debug, Clone)]
pub struct Stmt {
    /// Where the parser's span starts (after the previous `;`): the comments before the statement.
    pub lead: usize,
    /// The first token.
    pub start: usize,
    pub end: usize,
    pub touches: Vec<Touch>,
    /// Cannot run inside a transaction block (or controls transactions itself).
    pub needs_own_transaction: bool,
}

#[derive(Debug, Clone, Default)]
pub struct ParsedFile {
    pub stmts: Vec<Stmt>,
    /// The parser's complaint when the whole file did not parse (statements then come from the scanner).
    pub parse_error: Option<String>,
}

/// Parse `sql` (a file's applied section starting at byte `base` of the file); spans are file offsets.
/// `search_path` carries the schema unqualified names resolve to across files, as one session would.
pub fn parse_file(sql: &str, base: usize, search_path: &mut String) -> ParsedFile {
    let mut out = ParsedFile::default();
    match pg_query::parse(sql, 0) {
        Ok(parsed) => {
            for raw in &parsed.protobuf.stmts {
                let lead = (raw.stmt_location.max(0) as usize).min(sql.len());
                let end = if raw.stmt_len <= 0 { sql.len() } else { (lead + raw.stmt_len as usize).min(sql.len()) };
                let node = raw.stmt.as_ref().and_then(|n| n.node.as_ref());
                push(&mut out, sql, base, lead, end, node, search_path);
            }
        }
        Err(e) => {
            out.parse_error = Some(e.to_string());
            // The scanner splits on `;` outside quotes even when the grammar fails, so
            // the statements around a syntax error still get spans (and are applied).
            let pieces = pg_query::split_with_scanner(sql).unwrap_or_else(|_| vec![sql]);
            for piece in pieces {
                let lead = piece.as_ptr() as usize - sql.as_ptr() as usize;
                let end = lead + piece.len();
                let parsed = pg_query::parse(piece, 0).ok();
                let node = parsed.as_ref().and_then(|p| p.protobuf.stmts.first()).and_then(|s| s.stmt.as_ref()).and_then(|n| n.node.as_ref());
                push(&mut out, sql, base, lead, end, node, search_path);
            }
        }
    }
    out
}

fn push(out: &mut ParsedFile, sql: &str, base: usize, lead: usize, end: usize, node: Option<&NodeEnum>, search_path: &mut String) {
    let start = skip_trivia(sql, lead).min(end);
    if start >= end {
        return; // only comments: nothing runs
    }
    let mut touches = Vec::new();
    let mut needs_own_transaction = false;
    if let Some(node) = node {
        needs_own_transaction = needs_own(node);
        touches_of(node, search_path, &mut touches);
    }
    out.stmts.push(Stmt { lead: base + lead, start: base + start, end: base + end, touches, needs_own_transaction });
}

fn needs_own(node: &NodeEnum) -> bool {
    match node {
        NodeEnum::TransactionStmt(_) | NodeEnum::VacuumStmt(_) | NodeEnum::CreatedbStmt(_) | NodeEnum::DropdbStmt(_) | NodeEnum::AlterSystemStmt(_) => true,
        NodeEnum::CreateTableSpaceStmt(_) | NodeEnum::DropTableSpaceStmt(_) => true,
        NodeEnum::IndexStmt(i) => i.concurrent,
        NodeEnum::ReindexStmt(_) => true,
        NodeEnum::DropStmt(d) => d.concurrent,
        _ => false,
    }
}

/// Skip whitespace and comments (`--`, nested `/* */`) from `pos`.
pub fn skip_trivia(sql: &str, mut pos: usize) -> usize {
    let b = sql.as_bytes();
    loop {
        while pos < b.len() && b[pos].is_ascii_whitespace() {
            pos += 1;
        }
        if b[pos..].starts_with(b"--") {
            pos = sql[pos..].find('\n').map(|i| pos + i + 1).unwrap_or(b.len());
        } else if b[pos..].starts_with(b"/*") {
            let mut depth = 0usize;
            while pos < b.len() {
                if b[pos..].starts_with(b"/*") {
                    depth += 1;
                    pos += 2;
                } else if b[pos..].starts_with(b"*/") {
                    depth -= 1;
                    pos += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    pos += 1;
                }
            }
        } else {
            return pos.min(b.len());
        }
    }
}

fn rel_key(rv: &pb::RangeVar, search_path: &str) -> String {
    let schema = if rv.schemaname.is_empty() { search_path } else { &rv.schemaname };
    format!("{schema}.{}", rv.relname)
}

fn names(nodes: &[pb::Node]) -> Vec<String> {
    nodes
        .iter()
        .filter_map(|n| match &n.node {
            Some(NodeEnum::String(s)) => Some(s.sval.clone()),
            _ => None,
        })
        .collect()
}

fn qualified(parts: &[String], search_path: &str) -> Option<String> {
    match parts {
        [name] => Some(format!("{search_path}.{name}")),
        [.., schema, name] => Some(format!("{schema}.{name}")),
        [] => None,
    }
}

fn role_name(r: &pb::RoleSpec) -> Option<String> {
    (!r.rolename.is_empty()).then(|| r.rolename.clone())
}

fn t(out: &mut Vec<Touch>, key: String, action: Action) {
    out.push(Touch { key, action });
}

fn touches_of(node: &NodeEnum, sp: &mut String, out: &mut Vec<Touch>) {
    match node {
        NodeEnum::CreateStmt(c) => {
            if let Some(rv) = &c.relation {
                let rel = rel_key(rv, sp);
                for e in &c.table_elts {
                    if let Some(NodeEnum::Constraint(k)) = &e.node {
                        if !k.conname.is_empty() {
                            t(out, format!("named:{rel}:{}", k.conname), Action::Create);
                        }
                    }
                }
                t(out, format!("rel:{rel}"), Action::Create);
            }
        }
        NodeEnum::ViewStmt(v) => {
            if let Some(rv) = &v.view {
                t(out, format!("rel:{}", rel_key(rv, sp)), Action::Create);
            }
        }
        NodeEnum::CreateTableAsStmt(c) => {
            if let Some(rv) = c.into.as_ref().and_then(|i| i.rel.as_ref()) {
                t(out, format!("rel:{}", rel_key(rv, sp)), Action::Create);
            }
        }
        NodeEnum::CreateFunctionStmt(f) => {
            if let Some(q) = qualified(&names(&f.funcname), sp) {
                t(out, format!("func:{q}"), Action::Create);
            }
        }
        NodeEnum::AlterFunctionStmt(f) => {
            if let Some(q) = f.func.as_ref().and_then(|o| qualified(&names(&o.objname), sp)) {
                t(out, format!("func:{q}"), Action::Alter);
            }
        }
        NodeEnum::CreatePolicyStmt(p) => {
            if let Some(rv) = &p.table {
                let rel = rel_key(rv, sp);
                t(out, format!("named:{rel}:{}", p.policy_name), Action::Policy);
                t(out, format!("rel:{rel}"), Action::Policy);
            }
        }
        NodeEnum::AlterPolicyStmt(p) => {
            if let Some(rv) = &p.table {
                let rel = rel_key(rv, sp);
                t(out, format!("named:{rel}:{}", p.policy_name), Action::Policy);
                t(out, format!("rel:{rel}"), Action::Policy);
            }
        }
        NodeEnum::AlterTableStmt(a) => {
            if let Some(rv) = &a.relation {
                let rel = rel_key(rv, sp);
                for cmd in &a.cmds {
                    let Some(NodeEnum::AlterTableCmd(c)) = &cmd.node else { continue };
                    let action = match AlterTableType::try_from(c.subtype) {
                        Ok(AlterTableType::AtEnableRowSecurity | AlterTableType::AtDisableRowSecurity | AlterTableType::AtForceRowSecurity | AlterTableType::AtNoForceRowSecurity) => {
                            Action::Rls
                        }
                        Ok(AlterTableType::AtChangeOwner) => Action::Owner,
                        _ => Action::Alter,
                    };
                    if let Some(NodeEnum::Constraint(k)) = c.def.as_ref().and_then(|d| d.node.as_ref()) {
                        if !k.conname.is_empty() {
                            t(out, format!("named:{rel}:{}", k.conname), Action::Create);
                        }
                    }
                    t(out, format!("rel:{rel}"), action);
                }
            }
        }
        NodeEnum::IndexStmt(i) => {
            if let Some(rv) = &i.relation {
                let rel = rel_key(rv, sp);
                if !i.idxname.is_empty() {
                    t(out, format!("named:{rel}:{}", i.idxname), Action::Index);
                }
                t(out, format!("rel:{rel}"), Action::Index);
            }
        }
        NodeEnum::CreateTrigStmt(tr) => {
            if let Some(rv) = &tr.relation {
                let rel = rel_key(rv, sp);
                t(out, format!("named:{rel}:{}", tr.trigname), Action::Trigger);
                t(out, format!("rel:{rel}"), Action::Trigger);
            }
        }
        NodeEnum::GrantStmt(g) => grant_touches(g, sp, out),
        NodeEnum::GrantRoleStmt(g) => {
            for r in &g.grantee_roles {
                if let Some(NodeEnum::RoleSpec(r)) = &r.node {
                    if let Some(n) = role_name(r) {
                        t(out, format!("role:{n}"), Action::Grant);
                    }
                }
            }
        }
        NodeEnum::CreateRoleStmt(r) => t(out, format!("role:{}", r.role), Action::Create),
        NodeEnum::AlterRoleStmt(r) => {
            if let Some(n) = r.role.as_ref().and_then(role_name) {
                t(out, format!("role:{n}"), Action::Alter);
            }
        }
        NodeEnum::AlterRoleSetStmt(r) => {
            if let Some(n) = r.role.as_ref().and_then(role_name) {
                t(out, format!("role:{n}"), Action::RoleSet);
            }
        }
        NodeEnum::AlterDatabaseSetStmt(_) => t(out, "db".into(), Action::DbSet),
        NodeEnum::AlterOwnerStmt(o) => {
            if let Some(rv) = &o.relation {
                t(out, format!("rel:{}", rel_key(rv, sp)), Action::Owner);
            }
        }
        NodeEnum::CreateSchemaStmt(s) => {
            t(out, format!("schema:{}", s.schemaname), Action::Create);
            for e in &s.schema_elts {
                if let Some(n) = &e.node {
                    let mut inner = s.schemaname.clone();
                    touches_of(n, &mut inner, out);
                }
            }
        }
        NodeEnum::VariableSetStmt(v) if v.name.eq_ignore_ascii_case("search_path") && !v.is_local => {
            let first = v.args.iter().find_map(|a| match &a.node {
                Some(NodeEnum::AConst(c)) => match &c.val {
                    Some(a_const::Val::Sval(s)) => Some(s.sval.clone()),
                    _ => None,
                },
                _ => None,
            });
            if let Some(first) = first {
                *sp = first.trim_matches('"').to_string();
            }
        }
        _ => {}
    }
}

fn grant_touches(g: &pb::GrantStmt, sp: &str, out: &mut Vec<Touch>) {
    let all_in_schema = g.targtype == GrantTargetType::AclTargetAllInSchema as i32;
    for o in &g.objects {
        match &o.node {
            Some(NodeEnum::RangeVar(rv)) => t(out, format!("rel:{}", rel_key(rv, sp)), Action::Grant),
            Some(NodeEnum::ObjectWithArgs(f)) => {
                if let Some(q) = qualified(&names(&f.objname), sp) {
                    t(out, format!("func:{q}"), Action::Grant);
                }
            }
            Some(NodeEnum::String(s)) if all_in_schema => t(out, format!("alltables:{}", s.sval), Action::Grant),
            Some(NodeEnum::String(s)) => t(out, format!("schema:{}", s.sval), Action::Grant),
            _ => {}
        }
    }
    for r in &g.grantees {
        if let Some(NodeEnum::RoleSpec(r)) = &r.node {
            if let Some(n) = role_name(r) {
                t(out, format!("role:{n}"), Action::Grant);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_skip_leading_comments_and_record_objects() {
        let sql = "-- header\nCREATE TABLE invoices (id int);\n/* c /* nested */ */ ALTER TABLE invoices ENABLE ROW LEVEL SECURITY;\n\
                   CREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql;\nCREATE POLICY p ON invoices USING (true);\n";
        let mut sp = "public".to_string();
        let p = parse_file(sql, 0, &mut sp);
        assert!(p.parse_error.is_none());
        assert_eq!(p.stmts.len(), 4);
        assert_eq!(&sql[p.stmts[0].start..p.stmts[0].start + 12], "CREATE TABLE");
        assert_eq!(&sql[p.stmts[1].start..p.stmts[1].start + 11], "ALTER TABLE");
        assert_eq!(p.stmts[1].touches[0], Touch { key: "rel:public.invoices".into(), action: Action::Rls });
        assert_eq!(p.stmts[2].touches[0].key, "func:public.f");
        assert!(p.stmts[3].touches.iter().any(|t| t.key == "named:public.invoices:p"));
    }

    #[test]
    fn syntax_errors_still_split() {
        let sql = "CREATE TABLE a (id int);\nCREATE TABLEX b;\nCREATE TABLE c (id int);\n";
        let p = parse_file(sql, 0, &mut "public".to_string());
        assert!(p.parse_error.is_some());
        assert_eq!(p.stmts.len(), 3);
        assert_eq!(p.stmts[2].touches[0].key, "rel:public.c");
    }

    #[test]
    fn search_path_follows_set() {
        let mut sp = "public".to_string();
        let p = parse_file("SET search_path TO app, public; CREATE TABLE t (id int);", 0, &mut sp);
        assert_eq!(p.stmts[1].touches[0].key, "rel:app.t");
        assert_eq!(sp, "app");
    }
}
