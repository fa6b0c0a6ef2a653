//! Tenants and synthesised rows.
//!
//! Two tenants per table come from the data when it has them; otherwise the probe writes
//! rows (as the probing login, inside the attack transaction, so they are rolled back)
//! with values chosen by type, defaults and foreign keys. Values that would call
//! `nextval()` (serial, identity) are given explicitly so no sequence moves.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use tenantguard_catalog::Oid;
use tokio_postgres::Client;

/// Placeholders in SQL templates, filled per tenant and per row. NUL cannot appear in
/// PostgreSQL text or identifiers, so they can never collide with a real name.
pub const TENANT: &str = "\u{0}T\u{0}";
pub const UNIQUE: &str = "\u{0}K\u{0}";

/// A column's type as the server describes it (domains resolved to their base type).
#[derive(Debug, Clone)]
pub struct ColType {
    /// `format_type`, safe to use in a CAST.
    pub format: String,
    /// pg_type.typcategory of the base type.
    pub category: char,
    pub is_enum: bool,
    pub base: String,
}

pub type Types = HashMap<(Oid, String), ColType>;

/// Column types of the given relations, in one catalog query.
pub async fn column_types(client: &Client, relations: &[Oid]) -> Result<Types, tokio_postgres::Error> {
    let oids: Vec<u32> = relations.to_vec();
    let rows = client
        .query(
            "SELECT a.attrelid, a.attname::text, format_type(a.atttypid, a.atttypmod), \
                    coalesce(bt.typcategory, t.typcategory)::text, coalesce(bt.typtype, t.typtype)::text, \
                    coalesce(bt.typname, t.typname)::text \
               FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid \
               LEFT JOIN pg_type bt ON t.typtype = 'd' AND bt.oid = t.typbasetype \
              WHERE a.attrelid = ANY($1::oid[]) AND a.attnum > 0 AND NOT a.attisdropped",
            &[&oids],
        )
        .await?;
    let mut out = HashMap::new();
    for r in rows {
        let category: String = r.get(3);
        let typtype: String = r.get(4);
        out.insert(
            (r.get::<_, u32>(0), r.get::<_, String>(1)),
            ColType {
                format: r.get(2),
                category: category.chars().next().unwrap_or('X'),
                is_enum: typtype == "e",
                base: r.get(5),
            },
        );
    }
    Ok(out)
}

/// A value expression of this type for a NOT NULL column with no default, or why there is none.
/// `UNIQUE` in the result is replaced by a fresh number per row, so unique constraints hold.
pub fn value_expr(t: &ColType) -> Result<String, String> {
    let cast = |v: &str| format!("CAST({v} AS {})", t.format);
    let v = match t.category {
        // Unique numbers for integer keys; small ones where precision is scarce (smallint, numeric(p,s)).
        'N' => match t.base.as_str() {
            "int2" => cast(&format!("('{UNIQUE}'::bigint % 30000) + 1")),
            "numeric" | "money" => cast(&format!("('{UNIQUE}'::bigint % 9) + 1")),
            _ => cast(&format!("'{UNIQUE}'")),
        },
        'S' => cast(&format!("'tg-probe-{UNIQUE}'")),
        'B' => cast("'true'"),
        'D' => cast("now()"),
        'T' => cast("'1 hour'"),
        'E' => format!("(enum_range(NULL::{}))[1]", t.format),
        'A' => cast("'{}'"),
        'R' => cast("'empty'"),
        'I' => cast("'127.0.0.1'"),
        'V' => cast("'1'"),
        'G' => cast("'(0,0)'"),
        'U' => match t.base.as_str() {
            "uuid" => cast(&format!("'00000000-0000-4000-8000-00{UNIQUE}'")),
            "json" | "jsonb" => cast("'{}'"),
            "bytea" => cast("'\\x00'"),
            "xml" => cast("'<tg/>'"),
            _ => return Err(format!("no value can be chosen for type {}", t.format)),
        },
        _ if t.is_enum => format!("(enum_range(NULL::{}))[1]", t.format),
        _ => return Err(format!("no value can be chosen for type {}", t.format)),
    };
    Ok(v)
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Fill a template's placeholders: the tenant literal and a fresh number for every UNIQUE.
pub fn fill(template: &str, tenant: &str) -> String {
    let tenant_lit = crate::sql::lit(tenant);
    let mut out = template.replace(TENANT, &tenant_lit);
    while let Some(i) = out.find(UNIQUE) {
        // Large and descending from 2^31: unlikely to meet a real key, fits every integer type.
        let n = 2_147_000_000u64 - (COUNTER.fetch_add(1, Ordering::Relaxed) % 1_000_000);
        out.replace_range(i..i + UNIQUE.len(), &n.to_string());
    }
    out
}

/// Two synthetic tenants of a type: used when the data has fewer than two.
pub fn synthetic_tenants(t: Option<&ColType>) -> (String, String) {
    match t.map(|t| (t.category, t.base.as_str())) {
        Some(('N', _)) => ("2146999001".into(), "2146999002".into()),
        Some(('U', "uuid")) => ("7e9a0000-0000-4000-8000-00000000000a".into(), "7e9a0000-0000-4000-8000-00000000000b".into()),
        _ => ("tenantguard-probe-a".into(), "tenantguard-probe-b".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ty(format: &str, category: char, base: &str) -> ColType {
        ColType { format: format.into(), category, is_enum: false, base: base.into() }
    }

    #[test]
    fn values_by_type() {
        assert!(value_expr(&ty("integer[]", 'A', "_int4")).unwrap().contains("'{}'"));
        assert!(value_expr(&ty("int4range", 'R', "int4range")).unwrap().contains("'empty'"));
        assert!(value_expr(&ty("public.\"Mood\"", 'E', "Mood")).unwrap().starts_with("(enum_range"));
        assert!(value_expr(&ty("tsvector", 'U', "tsvector")).is_err());
        let filled = fill(&value_expr(&ty("uuid", 'U', "uuid")).unwrap(), "x");
        assert!(!filled.contains('\u{0}'), "{filled}");
    }
}
