//! Who the tenant context is: a tenant setting or claim, a user resolved through a
//! membership table (`auth.uid()`), or the role itself (`current_user`).
//!
//! The audit's [`Audit::classify`] says which values are tenant, identity or role sources;
//! this module walks every policy (and the functions it calls, recursively) with it to find
//! * which settings carry the user id (`request.jwt.claim.sub`, the `sub` of
//!   `request.jwt.claims`, or whatever setting `auth.uid()`'s body reads),
//! * the membership table the policies look the user up in (its user and tenant columns),
//!   or the one `[membership]` in `tenantguard.toml` names,
//! * which tables are pinned to the role itself (role per tenant).

use std::collections::{BTreeMap, BTreeSet};

use anyhow::bail;
use tenantguard_catalog::expr::{Expr, Statement};
use tenantguard_catalog::{Function, Oid, QualifiedName, Relation};
use tenantguard_rules::config::MembershipConfig;
use tenantguard_rules::context::{Source, Value};
use tenantguard_rules::Audit;

use crate::sql::{display, ident, qualified};

/// What a set of policies (and the functions they call) binds to the caller.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    pub tenant: bool,
    pub identity: bool,
    pub role: bool,
    /// Settings that carry the user id.
    pub identity_settings: BTreeSet<String>,
    /// JWT claims keys read as the user (`sub`, `user_id`...).
    pub identity_claims: BTreeSet<String>,
    /// Column names compared with the user (`m.user_id = auth.uid()` -> `user_id`).
    pub identity_columns: BTreeSet<String>,
    /// Tables read by lookups (subqueries, function bodies).
    pub lookups: BTreeSet<Oid>,
}

/// `current_setting('name'` occurrences in source text.
fn settings_read(src: &str) -> Vec<String> {
    let lower = src.to_ascii_lowercase();
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(i) = lower[from..].find("current_setting") {
        let rest = src[from + i + "current_setting".len()..].trim_start();
        from += i + 1;
        let Some(rest) = rest.strip_prefix('(') else { continue };
        let Some(rest) = rest.trim_start().strip_prefix('\'') else { continue };
        if let Some(end) = rest.find('\'') {
            out.push(rest[..end].to_string());
        }
    }
    out
}

/// Whitespace removed, lower-cased: `m.user_id = ( SELECT auth.uid() )` -> `m.user_id=(selectauth.uid())`.
fn compact(src: &str) -> String {
    src.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_ascii_lowercase()
}

/// Words (identifiers with their dots) and single punctuation characters, lower-cased.
fn tokens(src: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut word = String::new();
    for ch in src.to_ascii_lowercase().chars() {
        if ch.is_ascii_alphanumeric() || ch == '_' || ch == '.' {
            word.push(ch);
            continue;
        }
        if !word.is_empty() {
            out.push(std::mem::take(&mut word));
        }
        if !ch.is_whitespace() {
            out.push(ch.to_string());
        }
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

/// Columns compared with `auth.uid()` in source text (`m.user_id = (SELECT auth.uid())` -> `user_id`).
fn user_columns(src: &str) -> Vec<String> {
    let t = tokens(src);
    let mut out = Vec::new();
    for k in 0..t.len() {
        if t[k] != "auth.uid" || t.get(k + 1).map(String::as_str) != Some("(") {
            continue;
        }
        let mut j = k;
        for skip in ["select", "("] {
            if j > 0 && t[j - 1] == skip {
                j -= 1;
            }
        }
        if j >= 2 && t[j - 1] == "=" {
            let name = t[j - 2].rsplit('.').next().unwrap_or("").to_string();
            if name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
                out.push(name);
            }
        }
    }
    out
}

/// Keys read with `->> 'key'` in source text.
fn claims_read(src: &str) -> Vec<String> {
    let c = compact(src);
    c.match_indices("->>'").filter_map(|(i, m)| c[i + m.len()..].split('\'').next().map(str::to_string)).collect()
}

const IDENTITY_CLAIMS: &[&str] = &["sub", "user_id", "uid", "userid"];

fn setting_call(name: &str) -> Expr {
    Expr::Call { name: vec!["current_setting".into()], args: vec![Expr::Str(name.into()), Expr::Bool(true)] }
}

impl Sources {
    fn note(&mut self, v: &Value) {
        match v {
            Value::Context(Source::Tenant) | Value::Lookup { source: Source::Tenant, .. } => self.tenant = true,
            Value::Context(Source::Identity) | Value::Lookup { source: Source::Identity, .. } => self.identity = true,
            Value::Context(Source::Role) | Value::Lookup { source: Source::Role, .. } => self.role = true,
            _ => {}
        }
    }

    fn setting(&mut self, audit: &Audit, name: &str) {
        let v = audit.classify(&setting_call(name));
        if matches!(v, Value::Context(Source::Identity)) {
            self.identity_settings.insert(name.to_string());
        }
        self.note(&v);
    }

    /// Walk an expression: every value the audit classifies as bound to the caller, and every
    /// user-defined function it calls (their bodies, recursively).
    pub fn expr<'b>(&mut self, audit: &'b Audit<'_>, e: &Expr, depth: usize) {
        let mut calls: Vec<&'b Function> = Vec::new();
        e.walk(&mut |x| self.node(audit, x, &mut calls));
        for f in calls {
            self.function(audit, f, depth + 1);
        }
    }

    fn node<'b>(&mut self, audit: &'b Audit<'_>, x: &Expr, calls: &mut Vec<&'b Function>) {
        match x {
            Expr::Column(_) | Expr::Str(_) | Expr::Num(_) | Expr::Bool(_) | Expr::Null => return,
            Expr::Call { name, args } => {
                if name.last().is_some_and(|n| n.eq_ignore_ascii_case("current_setting")) {
                    if let Some(Expr::Str(s)) = args.first().map(|a| a.strip_casts()) {
                        self.setting(audit, s);
                        return;
                    }
                }
                if let Some(f) = audit.resolve_function(name, args.len()) {
                    calls.push(f);
                }
            }
            Expr::Op { op, left: Some(l), right } if op == "=" => {
                for (a, b) in [(l.as_ref(), right.as_ref()), (right.as_ref(), l.as_ref())] {
                    if let Expr::Column(parts) = a.strip_casts() {
                        if matches!(audit.classify(b), Value::Context(Source::Identity) | Value::Lookup { source: Source::Identity, .. }) {
                            if let Some(c) = parts.last() {
                                self.identity_columns.insert(c.to_ascii_lowercase());
                            }
                        }
                    }
                }
            }
            Expr::Op { op, right, .. } if op == "->>" || op == "->" => {
                if let Expr::Str(k) = right.strip_casts() {
                    if IDENTITY_CLAIMS.contains(&k.to_ascii_lowercase().as_str()) {
                        self.identity_claims.insert(k.to_ascii_lowercase());
                    }
                }
            }
            Expr::Sub { query, .. } => {
                for (schema, name) in query.tables() {
                    if let Some(r) = audit.relation_named(schema.as_deref(), &name) {
                        self.lookups.insert(r.oid);
                    }
                }
            }
            Expr::SqlValue(_) => {}
            _ => {}
        }
        let v = audit.classify(x);
        self.note(&v);
    }

    fn function<'b>(&mut self, audit: &'b Audit<'_>, f: &Function, depth: usize) {
        if depth > 4 || f.is_trigger {
            return;
        }
        self.note(&audit.function_source(f, 0));
        for u in audit.body_tables(f) {
            self.lookups.insert(u.rel.oid);
        }
        if let Some(stmts) = &f.sql_body {
            for s in stmts {
                if let Statement::Select(q) = s {
                    let mut calls: Vec<&'b Function> = Vec::new();
                    q.walk(&mut |x| self.node(audit, x, &mut calls));
                    for g in calls {
                        if g.oid != f.oid {
                            self.function(audit, g, depth + 1);
                        }
                    }
                }
            }
            return;
        }
        // PL/pgSQL and friends: the source text.
        let src = tenantguard_rules::body::strip_comments(&f.source);
        for name in settings_read(&src) {
            self.setting(audit, &name);
        }
        let lower = src.to_ascii_lowercase();
        if lower.contains("auth.uid()") {
            self.identity = true;
        }
        if lower.contains("current_user") || lower.contains("session_user") {
            self.role = true;
        }
        self.identity_columns.extend(user_columns(&src));
        for k in claims_read(&src) {
            if IDENTITY_CLAIMS.contains(&k.as_str()) {
                self.identity_claims.insert(k);
            }
        }
        for g in audit.snapshot.functions.iter().filter(|g| g.oid != f.oid && g.schema == "auth" && lower.contains(&format!("auth.{}(", g.name))) {
            self.function(audit, g, depth + 1);
        }
    }

    pub fn of_relation(audit: &Audit, rel: &Relation) -> Sources {
        let mut s = Sources::default();
        for p in audit.snapshot.policies_on(rel.oid) {
            for e in p.using.iter().chain(p.check.iter()) {
                s.expr(audit, e, 0);
            }
        }
        s.lookups.remove(&rel.oid);
        s
    }
}

/// The membership table the policies resolve a user's tenants through.
#[derive(Debug, Clone)]
pub struct Membership {
    pub oid: Oid,
    pub display: String,
    pub sql: String,
    /// Quoted user column, and its raw name.
    pub user_column: String,
    pub user_name: String,
    /// Quoted tenant column, and its raw name.
    pub tenant_column: String,
    pub tenant_name: String,
    /// The user column's type (filled from the column types).
    pub user_type: Option<crate::synth::ColType>,
    /// The tenant column's type (filled from the column types).
    pub tenant_type: Option<crate::synth::ColType>,
    /// Named by `[membership]` in the config rather than detected.
    pub configured: bool,
}

impl Membership {
    fn new(rel: &Relation, user: &str, tenant: &str, configured: bool) -> Membership {
        Membership {
            oid: rel.oid,
            display: display(&rel.schema, &rel.name),
            sql: qualified(&rel.schema, &rel.name),
            user_column: ident(user),
            user_name: user.to_string(),
            tenant_column: ident(tenant),
            tenant_name: tenant.to_string(),
            user_type: None,
            tenant_type: None,
            configured,
        }
    }
}

/// The whole schema's identity model.
#[derive(Debug, Clone, Default)]
pub struct IdentityModel {
    /// Per tenant table: what its policies bind to the caller.
    pub tables: BTreeMap<Oid, Sources>,
    /// Any policy resolves the tenant through the user.
    pub identity: bool,
    pub settings: Vec<String>,
    pub claims: Vec<String>,
    pub membership: Option<Membership>,
}

impl IdentityModel {
    /// Tables pinned to the role itself and to nothing else (role per tenant).
    pub fn role_pinned(&self, oid: Oid) -> bool {
        self.tables.get(&oid).is_some_and(|s| s.role && !s.tenant && !s.identity)
    }
}

fn looks_like_user_column(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n.contains("user") || n.contains("member") || n.contains("profile") || n == "uid" || n == "sub" || n == "principal_id"
}

/// The tenant column of a membership table as detection sees it: the tenant model's first
/// tenant column of the table, else a column named like a tenant column.
fn detected_tenant_column(audit: &Audit, rel: &Relation) -> Option<String> {
    audit
        .model
        .tables
        .get(&rel.oid)
        .and_then(|t| t.columns.first().cloned())
        .or_else(|| rel.columns.iter().find(|c| audit.config.is_tenant_column(&c.name)).map(|c| c.name.clone()))
}

/// The membership table `[membership]` names, checked against the snapshot. Anything it names
/// that does not exist is an error of use: the probe must not attack as the wrong user.
fn configured_membership(audit: &Audit, cfg: &MembershipConfig) -> anyhow::Result<Membership> {
    let db = &audit.snapshot.database;
    let Some(name) = QualifiedName::parse(cfg.table.trim()) else {
        bail!(
            "[membership] table `{}` is not a table name; write it as schema.table (like public.team_members) in tenantguard.toml",
            cfg.table
        );
    };
    let Some(rel) = audit.snapshot.relation_by_name(&name) else {
        bail!("[membership] table {name} does not exist in database {db}; fix [membership] table in tenantguard.toml (schema.table, as the policies name it)");
    };
    let shown = display(&rel.schema, &rel.name);
    if !rel.kind.is_table() {
        let kind = match rel.kind {
            tenantguard_catalog::RelKind::View => "view",
            tenantguard_catalog::RelKind::MaterializedView => "materialized view",
            _ => "relation that holds no rows of its own",
        };
        bail!("[membership] table {shown} in database {db} is a {kind}, not a table; fix [membership] table in tenantguard.toml (the table the policies look the user up in)");
    }
    let columns = || rel.columns.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ");
    let user = cfg.user_column.trim();
    if rel.column(user).is_none() {
        bail!(
            "[membership] user_column {user} does not exist in table {shown} of database {db} (its columns: {}); fix [membership] user_column in tenantguard.toml",
            columns()
        );
    }
    let tenant = match cfg.tenant_column.as_deref().map(str::trim) {
        Some(t) => {
            if rel.column(t).is_none() {
                bail!(
                    "[membership] tenant_column {t} does not exist in table {shown} of database {db} (its columns: {}); fix [membership] tenant_column in tenantguard.toml",
                    columns()
                );
            }
            t.to_string()
        }
        None => match detected_tenant_column(audit, rel).filter(|t| t != user) {
            Some(t) => t,
            None => bail!(
                "[membership] table {shown} of database {db} has no column the probe recognises as the tenant (its columns: {}); set [membership] tenant_column in tenantguard.toml",
                columns()
            ),
        },
    };
    if tenant == user {
        bail!("[membership] user_column and tenant_column are both {user} in table {shown}; they must be two different columns (fix tenantguard.toml)");
    }
    Ok(Membership::new(rel, user, &tenant, true))
}

/// The identity model. `Err` only for an error of use: a `[membership]` table or column that
/// does not exist.
pub fn build(audit: &Audit) -> anyhow::Result<IdentityModel> {
    let configured = audit.config.membership.as_ref().map(|c| configured_membership(audit, c)).transpose()?;
    let mut m = IdentityModel::default();
    let mut all = Sources::default();
    for rel in audit.snapshot.relations.iter().filter(|r| r.rls_enabled) {
        let s = Sources::of_relation(audit, rel);
        all.identity |= s.identity;
        all.identity_settings.extend(s.identity_settings.iter().cloned());
        all.identity_claims.extend(s.identity_claims.iter().cloned());
        all.identity_columns.extend(s.identity_columns.iter().cloned());
        if audit.model.is_tenant_table(rel.oid) {
            m.tables.insert(rel.oid, s);
        }
    }
    m.identity = all.identity;
    if !m.identity {
        return Ok(m);
    }
    m.settings = all.identity_settings.into_iter().collect();
    if m.settings.is_empty() {
        // auth.uid() with a body the probe could not read: Supabase's spelling.
        m.settings.push("request.jwt.claim.sub".into());
    }
    m.claims = all.identity_claims.into_iter().collect();
    if !m.claims.iter().any(|c| c == "sub") {
        m.claims.insert(0, "sub".into());
    }
    if configured.is_some() {
        m.membership = configured;
        return Ok(m);
    }
    // The membership table: a table the user-bound policies look up, with a user column and a tenant column.
    let mut counts: BTreeMap<Oid, usize> = BTreeMap::new();
    for s in m.tables.values().filter(|s| s.identity) {
        for o in &s.lookups {
            *counts.entry(*o).or_default() += 1;
        }
    }
    let mut candidates: Vec<(usize, Oid)> = counts.into_iter().map(|(o, n)| (n, o)).collect();
    candidates.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for (_, oid) in candidates {
        let Some(rel) = audit.relation(oid) else { continue };
        if !rel.kind.is_table() {
            continue;
        }
        let Some(tenant) = detected_tenant_column(audit, rel) else { continue };
        let user = rel
            .columns
            .iter()
            .find(|c| c.name != tenant && all.identity_columns.contains(&c.name.to_ascii_lowercase()))
            .or_else(|| rel.columns.iter().find(|c| c.name != tenant && looks_like_user_column(&c.name)));
        let Some(user) = user else { continue };
        m.membership = Some(Membership::new(rel, &user.name, &tenant, false));
        break;
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_text_scanners() {
        assert_eq!(settings_read("SELECT current_setting( 'request.jwt.claim.sub', true), CURRENT_SETTING('App.X')"), vec!["request.jwt.claim.sub", "App.X"]);
        assert_eq!(user_columns("WHERE m.tenant_id = t AND m.user_id = auth.uid()"), vec!["user_id"]);
        assert_eq!(user_columns("WHERE member = ( SELECT auth.uid() )"), vec!["member"]);
        assert!(user_columns("RETURN auth.uid()").is_empty());
        assert_eq!(claims_read("claims ->> 'sub' or x->>'user_id'"), vec!["sub", "user_id"]);
    }
}
