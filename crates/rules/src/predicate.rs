//! Does a row-level predicate pin the tenant column to the caller's tenant?
//!
//! The predicate is put in disjunctive normal form (negations pushed down, CASE
//! expanded): it admits a row exactly when one of its branches does, so it is
//! tenant-scoped exactly when every satisfiable branch contains an atom that pins the
//! tenant (a tenant column equal to the tenant context, a membership lookup bound to
//! the caller, a correlated EXISTS on a parent that is itself scoped, …). A branch
//! without such an atom is a gap, and the gap's kind says how it leaks.

use std::collections::BTreeSet;

use tenantguard_catalog::expr::{Expr, SubKind};
use tenantguard_catalog::{Oid, Relation};

use crate::audit::Audit;
use crate::context::{Source, Value};
use crate::sql::to_sql;

const MAX_BRANCHES: usize = 512;

/// Disjunctive normal form; `None` when it would exceed [`MAX_BRANCHES`].
pub fn dnf(e: &Expr) -> Option<Vec<Vec<Expr>>> {
    go(e, false)
}

fn go(e: &Expr, neg: bool) -> Option<Vec<Vec<Expr>>> {
    match e {
        Expr::Bool(b) => Some(if *b != neg { vec![vec![]] } else { vec![] }),
        // NULL is never true, and neither is NOT NULL.
        Expr::Null => Some(vec![]),
        Expr::Not(x) => go(x, !neg),
        Expr::And(xs) if !neg => product(xs, neg),
        Expr::Or(xs) if neg => product(xs, neg),
        Expr::Or(xs) | Expr::And(xs) => {
            let mut out = Vec::new();
            for x in xs {
                out.extend(go(x, neg)?);
                if out.len() > MAX_BRANCHES {
                    return None;
                }
            }
            Some(out)
        }
        Expr::BoolTest { expr, test } if test == "is_true" => go(expr, neg),
        Expr::BoolTest { expr, test } if test == "is_false" => go(expr, !neg),
        Expr::Case { arg: None, whens, default } => {
            // CASE WHEN c1 THEN r1 WHEN c2 THEN r2 ELSE d: (c1 ∧ r1) ∨ (¬c1 ∧ c2 ∧ r2) ∨ (¬c1 ∧ ¬c2 ∧ d).
            let mut arms = Vec::new();
            let mut earlier: Vec<Expr> = Vec::new();
            let wrap = |r: &Expr| if neg { Expr::Not(Box::new(r.clone())) } else { r.clone() };
            for (cond, result) in whens {
                let mut arm = earlier.clone();
                arm.push(cond.clone());
                arm.push(wrap(result));
                arms.push(Expr::And(arm));
                earlier.push(Expr::BoolTest { expr: Box::new(cond.clone()), test: "is_not_true".into() });
            }
            let mut last = earlier;
            last.push(wrap(default.as_deref().unwrap_or(&Expr::Null)));
            arms.push(Expr::And(last));
            go(&Expr::Or(arms), false)
        }
        atom => Some(vec![vec![normalize(atom, neg)]]),
    }
}

fn product(xs: &[Expr], neg: bool) -> Option<Vec<Vec<Expr>>> {
    let mut acc: Vec<Vec<Expr>> = vec![vec![]];
    for x in xs {
        let branches = go(x, neg)?;
        let mut next = Vec::with_capacity(acc.len() * branches.len());
        for a in &acc {
            for b in &branches {
                let mut c = a.clone();
                c.extend(b.iter().cloned());
                next.push(c);
            }
        }
        if next.len() > MAX_BRANCHES {
            return None;
        }
        acc = next;
    }
    Some(acc)
}

/// Push one negation into an atom where SQL has a direct opposite.
fn normalize(e: &Expr, neg: bool) -> Expr {
    if !neg {
        return e.clone();
    }
    match e {
        Expr::Op { op, left, right } if op == "=" || op == "<>" || op == "!=" => Expr::Op {
            op: if op == "=" { "<>".into() } else { "=".into() },
            left: left.clone(),
            right: right.clone(),
        },
        Expr::NullTest { expr, is_null } => Expr::NullTest { expr: expr.clone(), is_null: !is_null },
        Expr::Distinct { left, right, negated } => Expr::Distinct { left: left.clone(), right: right.clone(), negated: !negated },
        Expr::In { expr, list, negated } => Expr::In { expr: expr.clone(), list: list.clone(), negated: !negated },
        other => Expr::Not(Box::new(other.clone())),
    }
}

/// How a branch without a tenant pin leaks.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Gap {
    /// Admits rows of every tenant when the context is unset or empty.
    FailOpen,
    /// Takes the tenant from something the user controls.
    Untrusted(String),
    /// Compares the tenant column with a range, pattern, list, array or "not equal".
    MultiTenant,
    /// Admits rows whose tenant is NULL.
    NullTenant,
    /// Compares the tenant column with a setting that is not the tenant setting.
    WrongSetting(String),
    /// Only tests the context itself (set / not empty), never against the row.
    ContextOnly,
    /// Admits rows by another condition.
    OtherCondition,
    /// Admits every row.
    AlwaysTrue,
    /// Too complex, or uses something tenantguard cannot see into.
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum AtomVerdict {
    Pin,
    ConstantPin(String),
    UserPin,
    Gap(Gap),
    Neutral,
    Unsatisfiable,
}

/// The result of analysing one predicate.
#[derive(Debug, Clone, Default)]
pub struct Verdict {
    /// Leaking branches: how, and the branch as SQL.
    pub gaps: Vec<(Gap, String)>,
    /// Some branch is scoped to the user only, not to the tenant.
    pub user_only: bool,
    /// Distinct tenant constants branches pin to (more than one is several tenants).
    pub constants: BTreeSet<String>,
}

impl Verdict {
    pub fn pinned(&self) -> bool {
        self.gaps.is_empty() && self.constants.len() <= 1
    }

    pub fn main_gap(&self) -> Option<&(Gap, String)> {
        self.gaps.iter().min_by(|a, b| a.0.cmp(&b.0))
    }

    pub fn describe(&self) -> String {
        if self.constants.len() > 1 && self.gaps.is_empty() {
            return format!(
                "matches more than one tenant: its branches pin the tenant to different constants ({})",
                self.constants.iter().cloned().collect::<Vec<_>>().join(", ")
            );
        }
        match self.main_gap() {
            None => "is tenant-scoped".into(),
            Some((gap, branch)) => describe_gap(gap, branch),
        }
    }
}

pub fn describe_gap(gap: &Gap, branch: &str) -> String {
    let b = if branch.is_empty() { "true".to_string() } else { branch.to_string() };
    match gap {
        Gap::FailOpen => format!("fails open: when the tenant context is unset or empty, the branch `{b}` admits rows of every tenant"),
        Gap::Untrusted(why) => format!("takes the tenant from {why} (branch `{b}`), so a user can pick another tenant"),
        Gap::MultiTenant => format!("matches more than one tenant: `{b}` compares the tenant column by range, pattern, list, array or inequality"),
        Gap::NullTenant => format!("admits rows whose tenant is NULL (branch `{b}`): rows written without a tenant are shared by every tenant"),
        Gap::WrongSetting(s) => format!("compares the tenant column with the setting `{s}`, which is not a tenant setting (branch `{b}`)"),
        Gap::ContextOnly => format!("only checks that a tenant context is present (branch `{b}`); it never compares the row's tenant with it"),
        Gap::OtherCondition => format!("has a branch `{b}` that admits rows without checking their tenant"),
        Gap::AlwaysTrue => "admits every row: the predicate is always true".to_string(),
        Gap::Unknown => format!("cannot be shown to constrain the tenant: `{b}` is beyond what tenantguard can prove"),
    }
}

/// What the predicate is evaluated against: the table, its tenant columns, and who asks.
#[derive(Clone, Copy)]
pub struct Scope<'a> {
    pub rel: &'a Relation,
    /// The name the predicate calls the table by, when it is aliased (views).
    pub alias: Option<&'a str>,
    pub role: Oid,
    pub depth: usize,
}

impl<'a> Scope<'a> {
    pub fn new(rel: &'a Relation, role: Oid) -> Self {
        Scope { rel, alias: None, role, depth: 0 }
    }
}

impl Audit<'_> {
    /// Analyse a predicate (policy USING / WITH CHECK, view filter) on `scope.rel`.
    pub fn analyse(&self, predicate: &Expr, scope: Scope) -> Verdict {
        let mut verdict = Verdict::default();
        let Some(branches) = dnf(predicate) else {
            verdict.gaps.push((Gap::Unknown, "a predicate with more than 512 OR branches".into()));
            return verdict;
        };
        for branch in &branches {
            let atoms: Vec<AtomVerdict> = branch.iter().map(|a| self.atom(a, scope)).collect();
            if atoms.contains(&AtomVerdict::Unsatisfiable) {
                continue;
            }
            if atoms.contains(&AtomVerdict::Pin) {
                continue;
            }
            if let Some(c) = atoms.iter().find_map(|a| match a {
                AtomVerdict::ConstantPin(c) => Some(c.clone()),
                _ => None,
            }) {
                verdict.constants.insert(c);
                continue;
            }
            if atoms.contains(&AtomVerdict::UserPin) {
                verdict.user_only = true;
                continue;
            }
            let text = branch.iter().map(to_sql).collect::<Vec<_>>().join(" AND ");
            let gap = atoms
                .iter()
                .filter_map(|a| match a {
                    AtomVerdict::Gap(g) => Some(g.clone()),
                    _ => None,
                })
                .min()
                .unwrap_or_else(|| {
                    if branch.is_empty() {
                        Gap::AlwaysTrue
                    } else if branch.iter().all(|a| !self.mentions_row(a, scope)) {
                        if branch.iter().any(|a| self.mentions_context(a)) {
                            Gap::ContextOnly
                        } else {
                            Gap::AlwaysTrue
                        }
                    } else {
                        Gap::OtherCondition
                    }
                });
            verdict.gaps.push((gap, text));
        }
        verdict
    }

    fn is_tenant_column(&self, e: &Expr, scope: Scope) -> bool {
        match e.strip_casts() {
            Expr::Column(parts) => {
                let Some(name) = self.outer_column(parts, scope) else { return false };
                self.model.tables.get(&scope.rel.oid).is_some_and(|t| t.columns.iter().any(|c| c == name))
            }
            _ => false,
        }
    }

    /// The column name when `parts` names a column of the outer (policy) table.
    fn outer_column<'p>(&self, parts: &'p [String], scope: Scope) -> Option<&'p str> {
        match parts {
            [c] => scope.rel.column(c).map(|_| c.as_str()),
            [q, c] => (q == &scope.rel.name || scope.alias == Some(q.as_str())).then_some(c.as_str()),
            [s, q, c] => (s == &scope.rel.schema && q == &scope.rel.name).then_some(c.as_str()),
            _ => None,
        }
    }

    fn mentions_row(&self, e: &Expr, scope: Scope) -> bool {
        e.any(&mut |x| matches!(x, Expr::Column(p) if self.outer_column(p, scope).is_some()))
            || matches!(e, Expr::Sub { .. })
    }

    pub fn mentions_context(&self, e: &Expr) -> bool {
        e.any(&mut |x| matches!(self.classify(x), Value::Context(_) | Value::RowFallback))
    }

    fn value_pin(&self, v: Value, other: &Expr) -> AtomVerdict {
        match v {
            Value::Context(Source::Tenant | Source::Role | Source::Identity) | Value::Lookup { .. } => AtomVerdict::Pin,
            Value::Constant => AtomVerdict::ConstantPin(to_sql(other.strip_casts())),
            Value::RowFallback => AtomVerdict::Gap(Gap::FailOpen),
            Value::Untrusted(why) => AtomVerdict::Gap(Gap::Untrusted(why)),
            Value::OtherSetting(s) => AtomVerdict::Gap(Gap::WrongSetting(s)),
            Value::Row => AtomVerdict::Neutral,
            Value::Context(Source::Claims) | Value::Unknown => AtomVerdict::Gap(Gap::Unknown),
        }
    }

    fn atom(&self, atom: &Expr, scope: Scope) -> AtomVerdict {
        match atom {
            Expr::Op { op, left: Some(l), right } => self.comparison(op, l, right, scope),
            Expr::Distinct { left, right, negated: true } => {
                for (a, b) in [(left, right), (right, left)] {
                    if self.is_tenant_column(a, scope) {
                        let nullable = self.column_nullable(a, scope);
                        return match self.value_pin(self.classify(b), b) {
                            AtomVerdict::Pin if nullable => AtomVerdict::Gap(Gap::NullTenant),
                            v => v,
                        };
                    }
                }
                AtomVerdict::Neutral
            }
            Expr::NullTest { expr, is_null } => {
                if self.is_tenant_column(expr, scope) {
                    return match (is_null, self.column_nullable(expr, scope)) {
                        (true, false) => AtomVerdict::Unsatisfiable,
                        (true, true) => AtomVerdict::Gap(Gap::NullTenant),
                        (false, _) => AtomVerdict::Neutral,
                    };
                }
                if *is_null && self.classify(expr).is_context() {
                    return AtomVerdict::Gap(Gap::FailOpen);
                }
                AtomVerdict::Neutral
            }
            Expr::In { expr, list, negated } => {
                if !self.is_tenant_column(expr, scope) {
                    return AtomVerdict::Neutral;
                }
                if *negated || list.len() > 1 {
                    let distinct: BTreeSet<String> = list.iter().map(to_sql).collect();
                    if !*negated && distinct.len() == 1 {
                        return self.value_pin(self.classify(&list[0]), &list[0]);
                    }
                    return AtomVerdict::Gap(Gap::MultiTenant);
                }
                match list.first() {
                    Some(v) => self.value_pin(self.classify(v), v),
                    None => AtomVerdict::Unsatisfiable,
                }
            }
            Expr::Between { expr, .. } if self.is_tenant_column(expr, scope) => AtomVerdict::Gap(Gap::MultiTenant),
            Expr::ArrayOp { op, any, left, right } => {
                if !self.is_tenant_column(left, scope) {
                    return AtomVerdict::Neutral;
                }
                if op != "=" || !any {
                    return AtomVerdict::Gap(Gap::MultiTenant);
                }
                // `= ANY (ARRAY[ctx])`: a one-element array is that one value.
                if let Expr::Array(items) = right.strip_casts() {
                    if items.len() == 1 {
                        return self.value_pin(self.classify(&items[0]), &items[0]);
                    }
                }
                match self.classify(right) {
                    Value::Lookup { .. } => AtomVerdict::Pin,
                    Value::Untrusted(w) => AtomVerdict::Gap(Gap::Untrusted(w)),
                    _ if self.mentions_context(right) => AtomVerdict::Gap(Gap::MultiTenant),
                    _ => AtomVerdict::Gap(Gap::Unknown),
                }
            }
            Expr::Sub { kind: SubKind::Any, test: Some(test), op, query } => {
                if op.as_deref() != Some("=") {
                    return if self.is_tenant_column(test, scope) { AtomVerdict::Gap(Gap::MultiTenant) } else { AtomVerdict::Neutral };
                }
                let on_tenant = self.is_tenant_column(test, scope);
                let on_fk = self.is_parent_key(test, scope);
                if !on_tenant && !on_fk {
                    return AtomVerdict::Neutral;
                }
                self.subquery_pin(query, scope, on_tenant)
            }
            Expr::Sub { kind: SubKind::Exists, query, .. } => {
                let correlated = query.filter.as_ref().is_some_and(|f| self.correlates(f, query, scope));
                if !correlated {
                    return AtomVerdict::Neutral;
                }
                self.subquery_pin(query, scope, true)
            }
            Expr::Call { name, args } => self.inline_call(name, args, scope),
            _ => AtomVerdict::Neutral,
        }
    }

    fn comparison(&self, op: &str, l: &Expr, r: &Expr, scope: Scope) -> AtomVerdict {
        for (a, b) in [(l, r), (r, l)] {
            if self.is_tenant_column(a, scope) {
                let value = self.classify(b);
                return match op {
                    "=" => self.value_pin(value, b),
                    _ if value.is_context() || value == Value::Constant => AtomVerdict::Gap(Gap::MultiTenant),
                    _ => AtomVerdict::Neutral,
                };
            }
        }
        // A user column equal to the user: scoped to the user, not to the tenant.
        if op == "=" {
            for (a, b) in [(l, r), (r, l)] {
                if let Expr::Column(parts) = a.strip_casts() {
                    if self.outer_column(parts, scope).is_some() && self.classify(b) == Value::Context(Source::Identity) {
                        return AtomVerdict::UserPin;
                    }
                }
            }
            // `ctx = ''` / `coalesce(ctx, '') = ''`: true exactly when no tenant is set.
            for (a, b) in [(l, r), (r, l)] {
                if self.classify(a).is_context() && matches!(b.strip_casts(), Expr::Str(s) if s.is_empty()) {
                    return AtomVerdict::Gap(Gap::FailOpen);
                }
                if matches!(a.strip_casts(), Expr::Coalesce(_)) && self.mentions_context(a) && matches!(b.strip_casts(), Expr::Str(s) if s.is_empty()) {
                    return AtomVerdict::Gap(Gap::FailOpen);
                }
            }
        }
        AtomVerdict::Neutral
    }

    fn column_nullable(&self, e: &Expr, scope: Scope) -> bool {
        match e.strip_casts() {
            Expr::Column(parts) => self
                .outer_column(parts, scope)
                .and_then(|c| scope.rel.column(c))
                .is_none_or(|c| !c.not_null),
            _ => true,
        }
    }

    /// A child's foreign-key column into a tenant table (the way a child without a tenant column is scoped).
    fn is_parent_key(&self, e: &Expr, scope: Scope) -> bool {
        let Expr::Column(parts) = e.strip_casts() else { return false };
        let Some(col) = self.outer_column(parts, scope) else { return false };
        self.snapshot.constraints_on(scope.rel.oid).any(|c| {
            c.kind == tenantguard_catalog::ConstraintKind::ForeignKey
                && c.columns.iter().any(|x| x == col)
                && c.referenced_relation.is_some_and(|p| self.model.holds_tenant_data(p))
        })
    }

    /// Does a subquery's filter tie its rows to the outer row?
    fn correlates(&self, filter: &Expr, query: &tenantguard_catalog::expr::Query, scope: Scope) -> bool {
        let inner_names: Vec<&str> = query.from.iter().filter_map(|f| f.reference_name()).collect();
        let inner_rels: Vec<&Relation> = query.from.iter().filter_map(|f| self.resolve_from(f)).collect();
        filter.any(&mut |x| match x {
            Expr::Column(parts) => match parts.as_slice() {
                [q, _] => !inner_names.contains(&q.as_str()) && (q == &scope.rel.name),
                [c] => scope.rel.column(c).is_some() && !inner_rels.iter().any(|r| r.column(c).is_some()),
                _ => false,
            },
            _ => false,
        })
    }

    /// A subquery (membership lookup or parent table) yields only the caller's tenants?
    fn subquery_pin(&self, query: &tenantguard_catalog::expr::Query, scope: Scope, _on_tenant: bool) -> AtomVerdict {
        // `IN (SELECT auth.user_tenants())` / `IN (SELECT t FROM auth.user_tenants() t)`: the set comes from a getter.
        if query.from.is_empty() {
            return match query.targets.first().map(|t| self.classify(t)) {
                Some(Value::Context(Source::Tenant | Source::Role | Source::Identity)) | Some(Value::Lookup { .. }) => AtomVerdict::Pin,
                Some(Value::Untrusted(w)) => AtomVerdict::Gap(Gap::Untrusted(w)),
                _ => AtomVerdict::Gap(Gap::Unknown),
            };
        }
        if query.from.len() == 1 && query.filter.is_none() {
            if let Some(f) = &query.from[0].function {
                if matches!(self.classify(f), Value::Context(Source::Tenant | Source::Role | Source::Identity) | Value::Lookup { .. }) {
                    return AtomVerdict::Pin;
                }
            }
        }
        if let Some(filter) = &query.filter {
            match self.filter_source(filter, scope.depth + 1) {
                Some(Source::Claims) | None => {}
                Some(_) => return AtomVerdict::Pin,
            }
            if self.mentions_untrusted(filter) {
                return AtomVerdict::Gap(Gap::Untrusted("user_metadata, which every user can edit for themselves".into()));
            }
        }
        // No caller-bound filter: safe only if every table read is itself scoped for this role.
        let rels: Vec<&Relation> = query.from.iter().filter_map(|f| self.resolve_from(f)).collect();
        if !rels.is_empty()
            && rels.len() == query.from.len()
            && rels.iter().all(|r| self.model.is_tenant_table(r.oid) && self.read_scoped(r, scope.role, scope.depth + 1))
        {
            return AtomVerdict::Pin;
        }
        AtomVerdict::Gap(Gap::OtherCondition)
    }

    fn mentions_untrusted(&self, e: &Expr) -> bool {
        e.any(&mut |x| matches!(self.classify(x), Value::Untrusted(_)))
    }

    /// Inline a boolean SQL function called with row values (`is_member(tenant_id)`).
    fn inline_call(&self, name: &[String], args: &[Expr], scope: Scope) -> AtomVerdict {
        if scope.depth > 4 {
            return AtomVerdict::Gap(Gap::Unknown);
        }
        let mentions_row = args.iter().any(|a| self.mentions_row(a, scope));
        let Some(f) = self.resolve_function(name, args.len()) else {
            return AtomVerdict::Neutral;
        };
        let body = f.sql_body.as_ref().and_then(|b| match b.last() {
            Some(tenantguard_catalog::expr::Statement::Select(q)) if q.from.is_empty() && q.targets.len() == 1 => {
                Some(q.targets[0].clone())
            }
            // `SELECT true FROM memberships WHERE …`: true exactly when such a row exists.
            Some(tenantguard_catalog::expr::Statement::Select(q)) if !q.from.is_empty() && q.filter.is_some() => Some(Expr::Sub {
                kind: SubKind::Exists,
                test: None,
                op: None,
                query: Box::new(q.clone()),
            }),
            _ => None,
        });
        let Some(body) = body else {
            // PL/pgSQL and friends: a row value checked against the caller's context inside the body.
            if mentions_row && self.body_uses_context(f) {
                return AtomVerdict::Pin;
            }
            return if mentions_row { AtomVerdict::Gap(Gap::Unknown) } else { AtomVerdict::Neutral };
        };
        // Qualify the row's columns so they stay the outer row's inside the body's subqueries.
        let args: Vec<Expr> = args
            .iter()
            .map(|a| match a.strip_casts() {
                Expr::Column(parts) if parts.len() == 1 && scope.rel.column(&parts[0]).is_some() => {
                    Expr::Column(vec![scope.alias.unwrap_or(&scope.rel.name).to_string(), parts[0].clone()])
                }
                _ => a.clone(),
            })
            .collect();
        let args = args.as_slice();
        let names: Vec<String> = f
            .arguments
            .split(',')
            .map(|a| a.split_whitespace().next().unwrap_or("").to_string())
            .collect();
        let inlined = substitute(&body, args, &names);
        let verdict = self.analyse(&inlined, Scope { depth: scope.depth + 1, ..scope });
        if verdict.pinned() {
            AtomVerdict::Pin
        } else if let Some((g, _)) = verdict.main_gap() {
            if mentions_row || *g != Gap::OtherCondition { AtomVerdict::Gap(g.clone()) } else { AtomVerdict::Neutral }
        } else {
            AtomVerdict::Neutral
        }
    }
}

/// Replace `$n` and named parameters with the call's arguments.
fn substitute(e: &Expr, args: &[Expr], names: &[String]) -> Expr {
    let recurse = |x: &Expr| substitute(x, args, names);
    match e {
        Expr::Param(n) => args.get((*n as usize).wrapping_sub(1)).cloned().unwrap_or(Expr::Null),
        Expr::Column(parts) if parts.len() == 1 => match names.iter().position(|n| n == &parts[0]) {
            Some(i) if !names[i].is_empty() => args.get(i).cloned().unwrap_or(Expr::Null),
            _ => e.clone(),
        },
        Expr::Op { op, left, right } => Expr::Op { op: op.clone(), left: left.as_deref().map(|l| Box::new(recurse(l))), right: Box::new(recurse(right)) },
        Expr::And(xs) => Expr::And(xs.iter().map(recurse).collect()),
        Expr::Or(xs) => Expr::Or(xs.iter().map(recurse).collect()),
        Expr::Not(x) => Expr::Not(Box::new(recurse(x))),
        Expr::Cast { expr, type_name } => Expr::Cast { expr: Box::new(recurse(expr)), type_name: type_name.clone() },
        Expr::NullTest { expr, is_null } => Expr::NullTest { expr: Box::new(recurse(expr)), is_null: *is_null },
        Expr::Call { name, args: a } => Expr::Call { name: name.clone(), args: a.iter().map(recurse).collect() },
        Expr::In { expr, list, negated } => Expr::In { expr: Box::new(recurse(expr)), list: list.iter().map(recurse).collect(), negated: *negated },
        Expr::ArrayOp { op, any, left, right } => Expr::ArrayOp { op: op.clone(), any: *any, left: Box::new(recurse(left)), right: Box::new(recurse(right)) },
        Expr::Sub { kind, test, op, query } => {
            let mut q = (**query).clone();
            q.filter = q.filter.as_ref().map(recurse);
            Expr::Sub { kind: *kind, test: test.as_deref().map(|t| Box::new(recurse(t))), op: op.clone(), query: Box::new(q) }
        }
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tenantguard_catalog::expr::parse_expr;

    fn branches(sql: &str) -> usize {
        dnf(&parse_expr(sql).unwrap()).unwrap().len()
    }

    #[test]
    fn dnf_follows_boolean_algebra() {
        assert_eq!(branches("a AND (b OR c)"), 2);
        assert_eq!(branches("NOT (a AND b)"), 2);
        assert_eq!(branches("true"), 1);
        assert_eq!(branches("false"), 0);
        assert_eq!(branches("NOT true OR a"), 1);
        assert_eq!(branches("CASE WHEN a THEN b ELSE c END"), 2);
    }

    #[test]
    fn negation_is_pushed_into_comparisons() {
        let d = dnf(&parse_expr("NOT (tenant_id <> x)").unwrap()).unwrap();
        assert!(matches!(&d[0][0], Expr::Op { op, .. } if op == "="));
    }
}
