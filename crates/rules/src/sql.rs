//! Print an [`Expr`] back as SQL, for messages (`the branch \`is_public\` …`).

use tenantguard_catalog::expr::{Expr, Query, SubKind};
use tenantguard_catalog::quote_ident;

pub fn to_sql(e: &Expr) -> String {
    match e {
        Expr::Bool(b) => b.to_string(),
        Expr::Null => "NULL".into(),
        Expr::Str(s) => format!("'{}'", s.replace('\'', "''")),
        Expr::Num(n) => n.clone(),
        Expr::Column(parts) => parts.iter().map(|p| quote_ident(p)).collect::<Vec<_>>().join("."),
        Expr::Param(n) => format!("${n}"),
        Expr::SqlValue(v) => v.clone(),
        Expr::Call { name, args } => format!("{}({})", name.join("."), list(args)),
        Expr::Op { op, left: Some(l), right } => format!("{} {op} {}", to_sql(l), to_sql(right)),
        Expr::Op { op, left: None, right } => format!("{op} {}", to_sql(right)),
        Expr::ArrayOp { op, any, left, right } => {
            format!("{} {op} {}({})", to_sql(left), if *any { "ANY" } else { "ALL" }, to_sql(right))
        }
        Expr::In { expr, list: items, negated } => {
            format!("{} {}IN ({})", to_sql(expr), if *negated { "NOT " } else { "" }, list(items))
        }
        Expr::Distinct { left, right, negated } => {
            format!("{} IS {}DISTINCT FROM {}", to_sql(left), if *negated { "NOT " } else { "" }, to_sql(right))
        }
        Expr::Between { expr, low, high, negated } => format!(
            "{} {}BETWEEN {} AND {}",
            to_sql(expr),
            if *negated { "NOT " } else { "" },
            to_sql(low),
            to_sql(high)
        ),
        Expr::And(items) => items.iter().map(paren).collect::<Vec<_>>().join(" AND "),
        Expr::Or(items) => items.iter().map(paren).collect::<Vec<_>>().join(" OR "),
        Expr::Not(x) => format!("NOT {}", paren(x)),
        Expr::Cast { expr, type_name } => format!("{}::{type_name}", paren(expr)),
        Expr::NullTest { expr, is_null } => format!("{} IS {}NULL", to_sql(expr), if *is_null { "" } else { "NOT " }),
        Expr::BoolTest { expr, test } => format!("{} {}", to_sql(expr), test.replace('_', " ").to_uppercase()),
        Expr::Sub { kind, test, op, query } => {
            let q = query_sql(query);
            match kind {
                SubKind::Exists => format!("EXISTS ({q})"),
                SubKind::Any => format!(
                    "{} {} ANY ({q})",
                    test.as_deref().map(to_sql).unwrap_or_default(),
                    op.as_deref().unwrap_or("=")
                ),
                SubKind::All => format!("{} {} ALL ({q})", test.as_deref().map(to_sql).unwrap_or_default(), op.as_deref().unwrap_or("=")),
                SubKind::Array => format!("ARRAY({q})"),
                _ => format!("({q})"),
            }
        }
        Expr::Coalesce(items) => format!("COALESCE({})", list(items)),
        Expr::NullIf(a, b) => format!("NULLIF({}, {})", to_sql(a), to_sql(b)),
        Expr::Case { .. } => "CASE … END".into(),
        Expr::Array(items) => format!("ARRAY[{}]", list(items)),
        Expr::Row(items) => format!("ROW({})", list(items)),
        Expr::Other(name) => format!("<{name}>"),
    }
}

fn list(items: &[Expr]) -> String {
    items.iter().map(to_sql).collect::<Vec<_>>().join(", ")
}

fn paren(e: &Expr) -> String {
    match e {
        Expr::And(_) | Expr::Or(_) => format!("({})", to_sql(e)),
        _ => to_sql(e),
    }
}

fn query_sql(q: &Query) -> String {
    let from = q
        .from
        .iter()
        .map(|f| {
            let name = match (&f.schema, &f.name) {
                (Some(s), Some(n)) => format!("{}.{}", quote_ident(s), quote_ident(n)),
                (None, Some(n)) => quote_ident(n),
                _ => "(…)".into(),
            };
            match &f.alias {
                Some(a) => format!("{name} {a}"),
                None => name,
            }
        })
        .collect::<Vec<_>>()
        .join(", ");
    let targets = list(&q.targets);
    let mut s = format!("SELECT {targets}");
    if !from.is_empty() {
        s.push_str(&format!(" FROM {from}"));
    }
    if let Some(f) = &q.filter {
        s.push_str(&format!(" WHERE {}", to_sql(f)));
    }
    s
}
