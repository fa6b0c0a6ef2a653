//! SQL expressions and statements, parsed by PostgreSQL's own parser (pg_query) and
//! lowered into a small AST that the rules can reason about.
//!
//! Policy expressions come from `pg_get_expr`, view queries from `pg_get_viewdef`
//! and SQL function bodies from `prosrc`: all printed by the server, so one parser
//! reads them exactly as PostgreSQL does. Anything the AST does not model becomes
//! [`Expr::Other`], which the analysis treats as "unknown" (never as safe).

use pg_query::protobuf::{self as pb, a_const};
use pg_query::NodeEnum;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Expr {
    Bool(bool),
    Null,
    Str(String),
    Num(String),
    /// Column reference, as written (`tenant_id`, `i.tenant_id`).
    Column(Vec<String>),
    Param(i32),
    /// `current_user`, `session_user`, `current_role`, `user`, `current_date`, …
    SqlValue(String),
    Call { name: Vec<String>, args: Vec<Expr> },
    /// Binary or prefix operator; `op` as written (`=`, `<>`, `->>`, `~~`, …).
    Op { op: String, left: Option<Box<Expr>>, right: Box<Expr> },
    /// `left op ANY/ALL (right)` with an array on the right.
    ArrayOp { op: String, any: bool, left: Box<Expr>, right: Box<Expr> },
    In { expr: Box<Expr>, list: Vec<Expr>, negated: bool },
    /// `IS [NOT] DISTINCT FROM`.
    Distinct { left: Box<Expr>, right: Box<Expr>, negated: bool },
    Between { expr: Box<Expr>, low: Box<Expr>, high: Box<Expr>, negated: bool },
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    Cast { expr: Box<Expr>, type_name: String },
    NullTest { expr: Box<Expr>, is_null: bool },
    /// `IS [NOT] TRUE/FALSE/UNKNOWN`.
    BoolTest { expr: Box<Expr>, test: String },
    Sub { kind: SubKind, test: Option<Box<Expr>>, op: Option<String>, query: Box<Query> },
    Coalesce(Vec<Expr>),
    NullIf(Box<Expr>, Box<Expr>),
    Case { arg: Option<Box<Expr>>, whens: Vec<(Expr, Expr)>, default: Option<Box<Expr>> },
    Array(Vec<Expr>),
    Row(Vec<Expr>),
    /// A node this AST does not model, by its parser node name.
    Other(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SubKind {
    Exists,
    Any,
    All,
    Scalar,
    Array,
    Other,
}

/// A SELECT reduced to what isolation analysis needs.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Query {
    pub from: Vec<FromItem>,
    /// WHERE and inner-join ON conditions, ANDed.
    pub filter: Option<Expr>,
    pub targets: Vec<Expr>,
    /// UNION/INTERSECT/EXCEPT, VALUES, GROUP BY, LIMIT, CTEs, …: shapes the analysis won't trust.
    pub complex: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FromItem {
    pub schema: Option<String>,
    pub name: Option<String>,
    pub alias: Option<String>,
    pub subquery: Option<Box<Query>>,
    pub function: Option<Expr>,
}

impl FromItem {
    /// The name the query refers to this item by.
    pub fn reference_name(&self) -> Option<&str> {
        self.alias.as_deref().or(self.name.as_deref())
    }
}

/// A statement of a function body, reduced to the tables it touches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Statement {
    Select(Query),
    Insert { schema: Option<String>, table: String, source: Option<Query> },
    Update { schema: Option<String>, table: String, filter: Option<Expr>, from: Vec<FromItem> },
    Delete { schema: Option<String>, table: String, filter: Option<Expr> },
    Set { name: String, local: bool },
    Other(String),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot parse `{text}`: {message}")]
pub struct ParseError {
    pub text: String,
    pub message: String,
}

/// Parse one scalar expression (as printed by `pg_get_expr`).
pub fn parse_expr(text: &str) -> Result<Expr, ParseError> {
    let sql = format!("SELECT {text}");
    let parsed = pg_query::parse(&sql, 0).map_err(|e| ParseError { text: text.to_string(), message: e.to_string() })?;
    let stmt = parsed.protobuf.stmts.first().and_then(|s| s.stmt.as_ref()).and_then(|n| n.node.as_ref());
    match stmt {
        Some(NodeEnum::SelectStmt(select)) => {
            let target = select.target_list.first().and_then(|n| n.node.as_ref());
            match target {
                Some(NodeEnum::ResTarget(rt)) => Ok(node_opt(&rt.val)),
                _ => Err(ParseError { text: text.to_string(), message: "no expression".into() }),
            }
        }
        _ => Err(ParseError { text: text.to_string(), message: "not an expression".into() }),
    }
}

/// Parse a query (as printed by `pg_get_viewdef`).
pub fn parse_query(text: &str) -> Result<Query, ParseError> {
    let parsed = pg_query::parse(text, 0).map_err(|e| ParseError { text: text.to_string(), message: e.to_string() })?;
    let stmt = parsed.protobuf.stmts.first().and_then(|s| s.stmt.as_ref()).and_then(|n| n.node.as_ref());
    match stmt {
        Some(NodeEnum::SelectStmt(select)) => Ok(select_query(select)),
        _ => Err(ParseError { text: text.to_string(), message: "not a SELECT".into() }),
    }
}

/// Parse a SQL function body (`prosrc` of a LANGUAGE sql function) into its statements.
pub fn parse_statements(text: &str) -> Result<Vec<Statement>, ParseError> {
    let parsed = pg_query::parse(text, 0).map_err(|e| ParseError { text: text.to_string(), message: e.to_string() })?;
    Ok(parsed
        .protobuf
        .stmts
        .iter()
        .filter_map(|s| s.stmt.as_ref().and_then(|n| n.node.as_ref()))
        .map(statement)
        .collect())
}

fn statement(stmt: &NodeEnum) -> Statement {
    match stmt {
        NodeEnum::SelectStmt(s) => Statement::Select(select_query(s)),
        NodeEnum::InsertStmt(s) => {
            let (schema, table) = range_var_name(s.relation.as_ref());
            let source = match s.select_stmt.as_ref().and_then(|n| n.node.as_ref()) {
                Some(NodeEnum::SelectStmt(sel)) => Some(select_query(sel)),
                _ => None,
            };
            Statement::Insert { schema, table, source }
        }
        NodeEnum::UpdateStmt(s) => {
            let (schema, table) = range_var_name(s.relation.as_ref());
            let mut from = Vec::new();
            let mut filter = s.where_clause.as_deref().map(node);
            for f in &s.from_clause {
                from_item(f, &mut from, &mut filter);
            }
            Statement::Update { schema, table, filter, from }
        }
        NodeEnum::DeleteStmt(s) => {
            let (schema, table) = range_var_name(s.relation.as_ref());
            Statement::Delete { schema, table, filter: s.where_clause.as_deref().map(node) }
        }
        NodeEnum::VariableSetStmt(s) => Statement::Set { name: s.name.clone(), local: s.is_local },
        other => Statement::Other(node_name(other)),
    }
}

fn range_var_name(rv: Option<&pb::RangeVar>) -> (Option<String>, String) {
    match rv {
        Some(rv) => (non_empty(&rv.schemaname), rv.relname.clone()),
        None => (None, String::new()),
    }
}

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

fn select_query(s: &pb::SelectStmt) -> Query {
    let set_op = s.op > 1;
    if set_op {
        // UNION etc.: keep both arms' tables so dependants still see them.
        let mut q = Query { complex: true, ..Query::default() };
        for arm in [&s.larg, &s.rarg].into_iter().flatten() {
            let sub = select_query(arm);
            q.from.extend(sub.from);
        }
        return q;
    }
    let mut q = Query {
        complex: !s.values_lists.is_empty()
            || !s.group_clause.is_empty()
            || s.having_clause.is_some()
            || s.limit_count.is_some()
            || s.with_clause.is_some(),
        ..Query::default()
    };
    let mut filter = s.where_clause.as_deref().map(node);
    for f in &s.from_clause {
        from_item(f, &mut q.from, &mut filter);
    }
    q.filter = filter;
    q.targets = s
        .target_list
        .iter()
        .filter_map(|t| match t.node.as_ref() {
            Some(NodeEnum::ResTarget(rt)) => Some(node_opt(&rt.val)),
            _ => None,
        })
        .collect();
    q
}

fn and_into(filter: &mut Option<Expr>, extra: Expr) {
    *filter = Some(match filter.take() {
        None => extra,
        Some(Expr::And(mut parts)) => {
            parts.push(extra);
            Expr::And(parts)
        }
        Some(existing) => Expr::And(vec![existing, extra]),
    });
}

fn from_item(n: &pb::Node, out: &mut Vec<FromItem>, filter: &mut Option<Expr>) {
    match n.node.as_ref() {
        Some(NodeEnum::RangeVar(rv)) => out.push(FromItem {
            schema: non_empty(&rv.schemaname),
            name: Some(rv.relname.clone()),
            alias: rv.alias.as_ref().map(|a| a.aliasname.clone()),
            subquery: None,
            function: None,
        }),
        Some(NodeEnum::JoinExpr(j)) => {
            if let Some(l) = &j.larg {
                from_item(l, out, filter);
            }
            if let Some(r) = &j.rarg {
                from_item(r, out, filter);
            }
            // Inner joins filter like WHERE; outer joins' ON does not remove rows of the preserved side.
            if j.jointype == pb::JoinType::JoinInner as i32 {
                if let Some(q) = &j.quals {
                    and_into(filter, node(q));
                }
            }
        }
        Some(NodeEnum::RangeSubselect(rs)) => {
            let sub = match rs.subquery.as_ref().and_then(|n| n.node.as_ref()) {
                Some(NodeEnum::SelectStmt(s)) => Some(Box::new(select_query(s))),
                _ => None,
            };
            out.push(FromItem {
                schema: None,
                name: None,
                alias: rs.alias.as_ref().map(|a| a.aliasname.clone()),
                subquery: sub,
                function: None,
            });
        }
        Some(NodeEnum::RangeFunction(rf)) => {
            let function = rf.functions.iter().find_map(|f| match f.node.as_ref() {
                Some(NodeEnum::List(l)) => l.items.first().map(node),
                _ => None,
            });
            out.push(FromItem {
                schema: None,
                name: None,
                alias: rf.alias.as_ref().map(|a| a.aliasname.clone()),
                subquery: None,
                function,
            });
        }
        _ => {}
    }
}

fn node_opt(n: &Option<Box<pb::Node>>) -> Expr {
    n.as_deref().map(node).unwrap_or(Expr::Null)
}

fn nodes(list: &[pb::Node]) -> Vec<Expr> {
    list.iter().map(node).collect()
}

fn names(list: &[pb::Node]) -> Vec<String> {
    list.iter()
        .filter_map(|n| match n.node.as_ref() {
            Some(NodeEnum::String(s)) => Some(s.sval.clone()),
            Some(NodeEnum::AStar(_)) => Some("*".to_string()),
            _ => None,
        })
        .collect()
}

fn type_name(t: Option<&pb::TypeName>) -> String {
    let Some(t) = t else { return String::new() };
    let parts = names(&t.names);
    let base = parts.into_iter().filter(|p| p != "pg_catalog").collect::<Vec<_>>().join(".");
    if t.array_bounds.is_empty() {
        base
    } else {
        format!("{base}[]")
    }
}

fn boxed(e: Expr) -> Box<Expr> {
    Box::new(e)
}

/// Lower one parser node. Public so lint can reuse it on migration statements.
pub fn node(n: &pb::Node) -> Expr {
    let Some(inner) = n.node.as_ref() else { return Expr::Null };
    match inner {
        NodeEnum::AConst(c) => a_const(c),
        NodeEnum::ColumnRef(c) => Expr::Column(names(&c.fields)),
        NodeEnum::ParamRef(p) => Expr::Param(p.number),
        NodeEnum::TypeCast(c) => {
            let inner = node_opt(&c.arg);
            let ty = type_name(c.type_name.as_ref());
            // 'true'::boolean and friends are constants.
            match (&inner, ty.as_str()) {
                (Expr::Str(s), "bool") | (Expr::Str(s), "boolean") => match s.as_str() {
                    "t" | "true" | "on" | "yes" | "1" => Expr::Bool(true),
                    "f" | "false" | "off" | "no" | "0" => Expr::Bool(false),
                    _ => Expr::Cast { expr: boxed(inner), type_name: ty },
                },
                _ => Expr::Cast { expr: boxed(inner), type_name: ty },
            }
        }
        NodeEnum::AExpr(a) => a_expr(a),
        NodeEnum::BoolExpr(b) => {
            let args = nodes(&b.args);
            match b.boolop {
                1 => Expr::And(args),
                2 => Expr::Or(args),
                _ => Expr::Not(boxed(args.into_iter().next().unwrap_or(Expr::Null))),
            }
        }
        NodeEnum::FuncCall(f) => Expr::Call { name: names(&f.funcname), args: nodes(&f.args) },
        NodeEnum::NullTest(t) => Expr::NullTest { expr: boxed(node_opt(&t.arg)), is_null: t.nulltesttype == 1 },
        NodeEnum::BooleanTest(t) => {
            let test = match t.booltesttype {
                1 => "is_true",
                2 => "is_not_true",
                3 => "is_false",
                4 => "is_not_false",
                5 => "is_unknown",
                _ => "is_not_unknown",
            };
            Expr::BoolTest { expr: boxed(node_opt(&t.arg)), test: test.to_string() }
        }
        NodeEnum::SubLink(s) => {
            let query = match s.subselect.as_ref().and_then(|n| n.node.as_ref()) {
                Some(NodeEnum::SelectStmt(sel)) => select_query(sel),
                _ => Query { complex: true, ..Query::default() },
            };
            let kind = match s.sub_link_type {
                1 => SubKind::Exists,
                2 => SubKind::All,
                3 => SubKind::Any,
                5 => SubKind::Scalar,
                7 => SubKind::Array,
                _ => SubKind::Other,
            };
            let op = names(&s.oper_name);
            Expr::Sub {
                kind,
                test: s.testexpr.as_deref().map(node).map(boxed),
                // `x IN (SELECT …)` has no operator name: it means `= ANY`.
                op: if kind == SubKind::Any || kind == SubKind::All {
                    Some(op.last().cloned().unwrap_or_else(|| "=".to_string()))
                } else {
                    None
                },
                query: Box::new(query),
            }
        }
        NodeEnum::SqlvalueFunction(v) => {
            let name = match v.op {
                10 => "current_role",
                11 => "current_user",
                12 => "user",
                13 => "session_user",
                14 => "current_catalog",
                15 => "current_schema",
                1 => "current_date",
                _ => "current_time",
            };
            Expr::SqlValue(name.to_string())
        }
        NodeEnum::CoalesceExpr(c) => Expr::Coalesce(nodes(&c.args)),
        NodeEnum::CaseExpr(c) => Expr::Case {
            arg: c.arg.as_deref().map(node).map(boxed),
            whens: c
                .args
                .iter()
                .filter_map(|w| match w.node.as_ref() {
                    Some(NodeEnum::CaseWhen(w)) => Some((node_opt(&w.expr), node_opt(&w.result))),
                    _ => None,
                })
                .collect(),
            default: c.defresult.as_deref().map(node).map(boxed),
        },
        NodeEnum::AArrayExpr(a) => Expr::Array(nodes(&a.elements)),
        NodeEnum::RowExpr(r) => Expr::Row(nodes(&r.args)),
        NodeEnum::MinMaxExpr(m) => Expr::Call {
            name: vec![if m.op == 0 { "greatest" } else { "least" }.to_string()],
            args: nodes(&m.args),
        },
        NodeEnum::AIndirection(a) => {
            // (expr).field or expr[1]: keep the base so context sources stay visible.
            Expr::Call { name: vec!["indirection".into()], args: vec![node_opt(&a.arg)] }
        }
        NodeEnum::CollateClause(c) => node_opt(&c.arg),
        other => Expr::Other(node_name(other)),
    }
}

fn a_const(c: &pb::AConst) -> Expr {
    if c.isnull {
        return Expr::Null;
    }
    match &c.val {
        Some(a_const::Val::Ival(i)) => Expr::Num(i.ival.to_string()),
        Some(a_const::Val::Fval(f)) => Expr::Num(f.fval.clone()),
        Some(a_const::Val::Boolval(b)) => Expr::Bool(b.boolval),
        Some(a_const::Val::Sval(s)) => Expr::Str(s.sval.clone()),
        Some(a_const::Val::Bsval(s)) => Expr::Str(s.bsval.clone()),
        None => Expr::Null,
    }
}

fn a_expr(a: &pb::AExpr) -> Expr {
    let op = names(&a.name).last().cloned().unwrap_or_default();
    let left = a.lexpr.as_deref().map(node);
    let right = node_opt(&a.rexpr);
    match a.kind {
        1 => Expr::Op { op, left: left.map(boxed), right: boxed(right) },
        2 | 3 => Expr::ArrayOp { op, any: a.kind == 2, left: boxed(left.unwrap_or(Expr::Null)), right: boxed(right) },
        4 | 5 => Expr::Distinct { left: boxed(left.unwrap_or(Expr::Null)), right: boxed(right), negated: a.kind == 5 },
        6 => Expr::NullIf(boxed(left.unwrap_or(Expr::Null)), boxed(right)),
        7 => {
            let list = match right {
                Expr::Row(items) => items,
                other => match a.rexpr.as_deref().and_then(|n| n.node.as_ref()) {
                    Some(NodeEnum::List(l)) => nodes(&l.items),
                    _ => vec![other],
                },
            };
            Expr::In { expr: boxed(left.unwrap_or(Expr::Null)), list, negated: op == "<>" }
        }
        8..=10 => {
            // LIKE / ILIKE / SIMILAR TO keep their operator spelling (~~, ~~*, ~, !~~ …).
            Expr::Op { op, left: left.map(boxed), right: boxed(right) }
        }
        11..=14 => {
            let bounds = match a.rexpr.as_deref().and_then(|n| n.node.as_ref()) {
                Some(NodeEnum::List(l)) => nodes(&l.items),
                _ => vec![],
            };
            let mut it = bounds.into_iter();
            Expr::Between {
                expr: boxed(left.unwrap_or(Expr::Null)),
                low: boxed(it.next().unwrap_or(Expr::Null)),
                high: boxed(it.next().unwrap_or(Expr::Null)),
                negated: a.kind == 12 || a.kind == 14,
            }
        }
        _ => Expr::Other("A_Expr".into()),
    }
}

fn node_name(n: &NodeEnum) -> String {
    let dbg = format!("{n:?}");
    dbg.split('(').next().unwrap_or("node").to_string()
}

impl Expr {
    /// Visit this expression and every sub-expression, including those inside subqueries.
    pub fn walk<'a>(&'a self, f: &mut dyn FnMut(&'a Expr)) {
        f(self);
        match self {
            Expr::Call { args, .. } | Expr::And(args) | Expr::Or(args) | Expr::Coalesce(args) | Expr::Array(args) | Expr::Row(args) => {
                args.iter().for_each(|a| a.walk(f))
            }
            Expr::Op { left, right, .. } => {
                if let Some(l) = left {
                    l.walk(f);
                }
                right.walk(f);
            }
            Expr::ArrayOp { left, right, .. } | Expr::Distinct { left, right, .. } | Expr::NullIf(left, right) => {
                left.walk(f);
                right.walk(f);
            }
            Expr::In { expr, list, .. } => {
                expr.walk(f);
                list.iter().for_each(|a| a.walk(f));
            }
            Expr::Between { expr, low, high, .. } => {
                expr.walk(f);
                low.walk(f);
                high.walk(f);
            }
            Expr::Not(e) | Expr::Cast { expr: e, .. } | Expr::NullTest { expr: e, .. } | Expr::BoolTest { expr: e, .. } => e.walk(f),
            Expr::Sub { test, query, .. } => {
                if let Some(t) = test {
                    t.walk(f);
                }
                query.walk(f);
            }
            Expr::Case { arg, whens, default } => {
                if let Some(a) = arg {
                    a.walk(f);
                }
                for (w, r) in whens {
                    w.walk(f);
                    r.walk(f);
                }
                if let Some(d) = default {
                    d.walk(f);
                }
            }
            _ => {}
        }
    }

    /// True when this expression calls a function or reads a value at row level (not inside a subquery).
    pub fn any(&self, pred: &mut dyn FnMut(&Expr) -> bool) -> bool {
        let mut found = false;
        self.walk(&mut |e| {
            if !found && pred(e) {
                found = true;
            }
        });
        found
    }

    /// Strip casts and COLLATE: `x::text` is still `x` for equality reasoning.
    pub fn strip_casts(&self) -> &Expr {
        match self {
            Expr::Cast { expr, .. } => expr.strip_casts(),
            other => other,
        }
    }

    /// Last part of a function name, lower-cased.
    pub fn call_name(&self) -> Option<(&[String], &str)> {
        match self {
            Expr::Call { name, .. } => name.last().map(|n| (name.as_slice(), n.as_str())),
            _ => None,
        }
    }
}

impl Query {
    pub fn walk<'a>(&'a self, f: &mut dyn FnMut(&'a Expr)) {
        for item in &self.from {
            if let Some(q) = &item.subquery {
                q.walk(f);
            }
            if let Some(func) = &item.function {
                func.walk(f);
            }
        }
        if let Some(filter) = &self.filter {
            filter.walk(f);
        }
        for t in &self.targets {
            t.walk(f);
        }
    }

    /// Every table this query (and its subqueries) reads, as (schema, name).
    pub fn tables(&self) -> Vec<(Option<String>, String)> {
        let mut out = Vec::new();
        self.collect_tables(&mut out);
        out
    }

    fn collect_tables(&self, out: &mut Vec<(Option<String>, String)>) {
        for item in &self.from {
            if let Some(name) = &item.name {
                out.push((item.schema.clone(), name.clone()));
            }
            if let Some(q) = &item.subquery {
                q.collect_tables(out);
            }
        }
        let mut subs = Vec::new();
        self.walk(&mut |e| {
            if let Expr::Sub { query, .. } = e {
                subs.push(query.as_ref());
            }
        });
        for q in subs {
            for item in &q.from {
                if let Some(name) = &item.name {
                    out.push((item.schema.clone(), name.clone()));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_policy_expression_as_pg_get_expr_prints_it() {
        let e = parse_expr("(tenant_id = (current_setting('app.current_tenant'::text))::uuid)").unwrap();
        let Expr::Op { op, left, right } = e else { panic!("not an op: {e:?}") };
        assert_eq!(op, "=");
        assert_eq!(*left.unwrap(), Expr::Column(vec!["tenant_id".into()]));
        let Expr::Cast { expr, type_name } = *right else { panic!() };
        assert_eq!(type_name, "uuid");
        assert!(matches!(*expr, Expr::Call { .. }));
    }

    #[test]
    fn parses_subqueries_and_sql_values() {
        let e = parse_expr("(tenant_id IN ( SELECT m.tenant_id FROM memberships m WHERE (m.user_name = CURRENT_USER)))").unwrap();
        let Expr::Sub { kind, op, query, .. } = e else { panic!() };
        assert_eq!(kind, SubKind::Any);
        assert_eq!(op.as_deref(), Some("="));
        assert_eq!(query.from[0].name.as_deref(), Some("memberships"));
        assert!(query.filter.as_ref().unwrap().any(&mut |e| matches!(e, Expr::SqlValue(v) if v == "current_user")));
    }

    #[test]
    fn reports_garbage_as_an_error_not_a_panic() {
        assert!(parse_expr("tenant_id = = 1").is_err());
        assert!(parse_query("DELETE").is_err());
    }

    #[test]
    fn function_bodies_become_statements() {
        let stmts = parse_statements("SELECT set_config('app.current_tenant', $1, false); DELETE FROM public.invoices WHERE id = $2").unwrap();
        assert!(matches!(&stmts[0], Statement::Select(_)));
        assert!(matches!(&stmts[1], Statement::Delete { table, .. } if table == "invoices"));
    }
}
