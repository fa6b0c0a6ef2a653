//! Where a value in a policy comes from. The tenant context has many spellings:
//! a setting (`current_setting('app.current_tenant')`), a JWT claim read through a
//! function (`auth.jwt() ->> 'tenant_id'`, `request.jwt.claims`), a user id resolved
//! through a membership table (`auth.uid()`), or the role itself (`current_user`).
//! This module turns any of them into a [`Value`] the predicate analysis can reason about.

use tenantguard_catalog::expr::{Expr, SubKind};
use tenantguard_catalog::Function;

use crate::audit::Audit;

/// What kind of caller-bound value an expression yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The tenant itself (a tenant setting or claim, a tenant getter function).
    Tenant,
    /// The user (`auth.uid()`, the `sub` claim): a tenant only through a membership lookup.
    Identity,
    /// The database role (`current_user`): the tenant in a role-per-tenant design.
    Role,
    /// A JWT claims object (`auth.jwt()`), before a claim is picked out of it.
    Claims,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// Bound to the caller.
    Context(Source),
    /// A value looked up in a table by a caller-bound filter (`(SELECT tenant_id FROM users WHERE id = auth.uid())`).
    Lookup { source: Source, tables: Vec<(Option<String>, String)> },
    /// A literal.
    Constant,
    /// Depends on the row being checked.
    Row,
    /// Context, but falling back to the row's own value when unset: `coalesce(ctx, tenant_id)`.
    RowFallback,
    /// A claim the user can edit themselves (`user_metadata`).
    Untrusted(String),
    /// A setting that is not a tenant setting.
    OtherSetting(String),
    Unknown,
}

impl Value {
    pub fn is_context(&self) -> bool {
        matches!(self, Value::Context(_) | Value::Lookup { .. })
    }
}

/// `current_setting('x' [, missing_ok])` -> `x`.
pub fn setting_name(e: &Expr) -> Option<String> {
    match e.strip_casts() {
        Expr::Call { name, args } if name.last().is_some_and(|n| n == "current_setting") => match args.first()?.strip_casts() {
            Expr::Str(s) => Some(s.clone()),
            _ => None,
        },
        _ => None,
    }
}

pub fn looks_like_tenant_setting(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    !n.ends_with("jwt.claims")
        && ["tenant", "org", "account", "workspace", "company"].iter().any(|k| n.contains(k))
}

fn looks_like_identity_setting(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n.ends_with(".sub") || n.contains("user") || n.ends_with("uid") || n.contains("email")
}

const IDENTITY_CLAIMS: &[&str] = &["sub", "user_id", "uid", "email", "userid"];

impl Audit<'_> {
    pub fn is_tenant_setting(&self, name: &str) -> bool {
        self.model.tenant_settings.iter().any(|s| s.eq_ignore_ascii_case(name))
    }

    fn classify_setting(&self, name: &str) -> Value {
        let lower = name.to_ascii_lowercase();
        if self.is_tenant_setting(name) {
            Value::Context(Source::Tenant)
        } else if lower.ends_with("jwt.claims") {
            Value::Context(Source::Claims)
        } else if let Some(claim) = lower.strip_prefix("request.jwt.claim.") {
            self.classify_claim(claim)
        } else if looks_like_identity_setting(&lower) {
            Value::Context(Source::Identity)
        } else if !self.model.settings_configured && looks_like_tenant_setting(&lower) {
            Value::Context(Source::Tenant)
        } else {
            Value::OtherSetting(name.to_string())
        }
    }

    fn classify_claim(&self, claim: &str) -> Value {
        let claim = claim.to_ascii_lowercase();
        if self.config.tenant_claims().iter().any(|c| c.eq_ignore_ascii_case(&claim)) {
            Value::Context(Source::Tenant)
        } else if IDENTITY_CLAIMS.contains(&claim.as_str()) {
            Value::Context(Source::Identity)
        } else if claim == "app_metadata" {
            Value::Context(Source::Claims)
        } else if claim == "user_metadata" {
            Value::Untrusted("user_metadata, which every user can edit for themselves".into())
        } else {
            Value::Unknown
        }
    }

    /// Classify a value-producing expression.
    pub fn classify(&self, e: &Expr) -> Value {
        self.classify_depth(e, 0)
    }

    fn classify_depth(&self, e: &Expr, depth: usize) -> Value {
        if depth > 8 {
            return Value::Unknown;
        }
        let rec = |x: &Expr| self.classify_depth(x, depth + 1);
        match e {
            Expr::Str(_) | Expr::Num(_) | Expr::Bool(_) | Expr::Null => Value::Constant,
            Expr::Column(_) => Value::Row,
            Expr::Cast { expr, .. } => rec(expr),
            Expr::SqlValue(v) if matches!(v.as_str(), "current_user" | "current_role" | "user" | "session_user") => {
                Value::Context(Source::Role)
            }
            Expr::SqlValue(_) => Value::Unknown,
            Expr::Call { name, args } => self.classify_call(name, args, depth),
            Expr::Op { op, left, right } if op == "->>" || op == "->" => {
                let base = left.as_deref().map(rec).unwrap_or(Value::Unknown);
                match (base, right.strip_casts()) {
                    (Value::Context(Source::Claims), Expr::Str(key)) => self.classify_claim(key),
                    (Value::Untrusted(why), _) => Value::Untrusted(why),
                    _ => Value::Unknown,
                }
            }
            Expr::Op { op, left, right } if op == "#>>" || op == "#>" => {
                let base = left.as_deref().map(rec).unwrap_or(Value::Unknown);
                let last_key = match right.strip_casts() {
                    Expr::Str(path) => path.trim_matches(|c| c == '{' || c == '}').split(',').next_back().map(|s| s.trim().to_string()),
                    Expr::Array(items) => items.last().and_then(|i| match i.strip_casts() {
                        Expr::Str(s) => Some(s.clone()),
                        _ => None,
                    }),
                    _ => None,
                };
                let path_text = format!("{right:?}");
                match (base, last_key) {
                    (Value::Context(Source::Claims), _) if path_text.contains("user_metadata") => {
                        Value::Untrusted("user_metadata, which every user can edit for themselves".into())
                    }
                    (Value::Context(Source::Claims), Some(key)) => self.classify_claim(&key),
                    _ => Value::Unknown,
                }
            }
            Expr::Op { left, right, .. } => combine([left.as_deref().map(rec), Some(rec(right))].into_iter().flatten()),
            Expr::Coalesce(items) => {
                let values: Vec<Value> = items.iter().map(rec).collect();
                if values.contains(&Value::Row) && values.iter().any(Value::is_context) {
                    Value::RowFallback
                } else {
                    combine(values.into_iter())
                }
            }
            Expr::NullIf(a, _) => rec(a),
            Expr::Sub { kind: SubKind::Scalar, query, .. } => {
                if query.from.is_empty() && !query.complex {
                    return query.targets.first().map(rec).unwrap_or(Value::Unknown);
                }
                // A lookup: trustworthy as far as its filter is bound to the caller.
                let source = query.filter.as_ref().and_then(|f| self.filter_source(f, depth + 1));
                match source {
                    Some(source) => Value::Lookup { source, tables: query.tables() },
                    None => Value::Unknown,
                }
            }
            _ => Value::Unknown,
        }
    }

    /// The caller-bound source a filter compares some column with, if any.
    pub fn filter_source(&self, filter: &Expr, depth: usize) -> Option<Source> {
        let mut found = None;
        filter.walk(&mut |x| {
            if found.is_some() {
                return;
            }
            if let Expr::Op { op, left: Some(l), right } = x {
                if op == "=" {
                    for (a, b) in [(l.as_ref(), right.as_ref()), (right.as_ref(), l.as_ref())] {
                        if matches!(a.strip_casts(), Expr::Column(_)) {
                            if let Value::Context(s) | Value::Lookup { source: s, .. } = self.classify_depth(b, depth + 1) {
                                if s != Source::Claims {
                                    found = Some(s);
                                }
                            }
                        }
                    }
                }
            }
        });
        found
    }

    fn classify_call(&self, name: &[String], args: &[Expr], depth: usize) -> Value {
        let last = name.last().map(|s| s.to_ascii_lowercase()).unwrap_or_default();
        let schema = (name.len() > 1).then(|| name[0].to_ascii_lowercase());
        match (schema.as_deref(), last.as_str()) {
            (_, "current_setting") => match args.first().map(|a| a.strip_casts()) {
                Some(Expr::Str(s)) => self.classify_setting(s),
                _ => Value::Unknown,
            },
            (Some("auth"), "uid") | (Some("auth"), "email") => Value::Context(Source::Identity),
            (Some("auth"), "jwt") => Value::Context(Source::Claims),
            (None | Some("pg_catalog"), "lower" | "upper" | "btrim" | "trim" | "nullif" | "text" | "to_jsonb" | "to_json") => {
                combine(args.iter().map(|a| self.classify_depth(a, depth + 1)))
            }
            (None | Some("pg_catalog"), "indirection") => {
                args.first().map(|a| self.classify_depth(a, depth + 1)).unwrap_or(Value::Unknown)
            }
            _ => {
                let arg_values: Vec<Value> = args.iter().map(|a| self.classify_depth(a, depth + 1)).collect();
                if arg_values.contains(&Value::Row) {
                    return Value::Row;
                }
                match self.resolve_function(name, args.len()) {
                    Some(f) => self.function_source(f, depth),
                    None => Value::Unknown,
                }
            }
        }
    }

    /// A user-defined getter (`app.current_tenant_id()`, `auth.tenant_id()`): what its body returns.
    pub fn function_source(&self, f: &Function, depth: usize) -> Value {
        if f.return_type == "void" || f.is_trigger || depth > 6 {
            return Value::Unknown;
        }
        if let Some(body) = &f.sql_body {
            if let Some(tenantguard_catalog::expr::Statement::Select(q)) = body.last() {
                if q.from.is_empty() && !q.complex {
                    if let Some(t) = q.targets.first() {
                        return self.classify_depth(t, depth + 1);
                    }
                }
                if let Some(filter) = &q.filter {
                    if let Some(source) = self.filter_source(filter, depth + 1) {
                        return Value::Lookup { source, tables: q.tables() };
                    }
                }
                return Value::Unknown;
            }
        }
        // plpgsql and friends: read the source text for the context it consults.
        let src = f.source.to_ascii_lowercase();
        let reads_tenant_setting = self.model.tenant_settings.iter().any(|s| {
            src.contains(&format!("current_setting('{}'", s.to_ascii_lowercase()))
        });
        if reads_tenant_setting {
            return Value::Context(Source::Tenant);
        }
        if self.config.tenant_claims().iter().any(|c| src.contains(&format!("'{}'", c.to_ascii_lowercase())))
            && (src.contains("jwt") || src.contains("claims"))
        {
            return Value::Context(Source::Tenant);
        }
        if src.contains("auth.uid()") || src.contains("request.jwt.claim.sub") || src.contains("->> 'sub'") {
            return Value::Context(Source::Identity);
        }
        Value::Unknown
    }

    pub fn resolve_function(&self, name: &[String], nargs: usize) -> Option<&Function> {
        let fname = name.last()?;
        let schema = (name.len() > 1).then(|| name[name.len() - 2].as_str());
        let candidates = self.functions_named(fname);
        candidates
            .iter()
            .filter(|f| schema.is_none_or(|s| f.schema == s))
            .filter(|f| schema.is_some() || f.schema == "public" || candidates.len() == 1)
            .find(|f| f.arg_count as usize == nargs)
            .or_else(|| candidates.iter().find(|f| schema.is_none_or(|s| f.schema == s)))
            .copied()
    }
}

/// Combine the values an operator or function mixes: row data wins, then context, then constants.
fn combine(values: impl Iterator<Item = Value>) -> Value {
    let mut out = Value::Constant;
    for v in values {
        out = match (&out, v) {
            (Value::Row, _) | (_, Value::Row) => Value::Row,
            (_, Value::RowFallback) | (Value::RowFallback, _) => Value::RowFallback,
            (_, Value::Untrusted(w)) => Value::Untrusted(w),
            (Value::Untrusted(_), _) => out.clone(),
            (Value::Constant, v) => v,
            (_, Value::Constant) => out.clone(),
            (_, Value::Unknown) | (Value::Unknown, _) => Value::Unknown,
            (_, v) => v,
        };
    }
    out
}
