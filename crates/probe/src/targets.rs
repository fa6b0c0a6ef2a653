//! What to attack, built once from the audit's snapshot and tenant model into owned SQL
//! fragments, so the attack workers need neither the snapshot nor its lifetimes.

use std::collections::{BTreeMap, HashSet};

use tenantguard_catalog::{ConstraintKind, Function, Oid, RelKind, Relation};
use tenantguard_rules::tenant::TenantVia;
use tenantguard_rules::Audit;

use crate::identity::IdentityModel;
use crate::sql::{display, ident, lit, qualified};
use crate::synth::{value_expr, ColType, Types, TENANT};

/// A row to write for a tenant: `INSERT INTO t (columns) SELECT exprs FROM from`.
#[derive(Debug, Clone)]
pub struct Template {
    pub columns: Vec<String>,
    pub exprs: Vec<String>,
    pub from: Vec<String>,
}

impl Template {
    fn select(&self) -> String {
        let list: Vec<String> = self.columns.iter().zip(&self.exprs).map(|(c, e)| format!("{e} AS {c}")).collect();
        let from = if self.from.is_empty() { String::new() } else { format!(" FROM {}", self.from.join(", ")) };
        format!("SELECT {}{from}", if list.is_empty() { "".to_string() } else { list.join(", ") })
    }

    /// The insert the probing login runs to synthesise a row (placeholders unfilled).
    pub fn insert(&self, table: &str) -> String {
        if self.columns.is_empty() {
            return format!("INSERT INTO {table} DEFAULT VALUES");
        }
        format!("INSERT INTO {table} ({}) OVERRIDING SYSTEM VALUE {}", self.columns.join(", "), self.select())
    }

    /// The row as json text, computed by the login (so foreign keys point at B's real parents).
    pub fn json(&self) -> String {
        format!("(SELECT row_to_json(r) FROM ({}) r LIMIT 1)", self.select())
    }
}

#[derive(Debug, Clone)]
pub struct TableTarget {
    pub oid: Oid,
    pub display: String,
    pub sql: String,
    /// The table of tenants itself (its key is the tenant).
    pub registry: bool,
    pub tenant_scoped: bool,
    /// The tenant of row `x`, evaluated by the probing login (through parents for child tables).
    pub tenant_expr: Option<String>,
    /// The table's own tenant column (quoted) when it has one: reads filter on it directly.
    pub direct_column: Option<String>,
    pub tenant_type: Option<ColType>,
    /// Row identity: `x.ctid`, plus tableoid where partitions or children share the name.
    pub key_expr: String,
    pub key_pred: String,
    pub template: Result<Template, String>,
    pub move_columns: Vec<String>,
    pub update_column: Option<String>,
    /// Tables a synthesised row needs first: (oid, filter parents by tenant?).
    pub parents: Vec<(Oid, bool)>,
    /// Why the table cannot be attacked.
    pub skip: Option<String>,
    /// Its policies pin the role itself (`tenant = current_user`): attacked as role A against B's role name.
    pub role_pinned: bool,
    /// The membership table's user column (raw name), when this is the membership table.
    pub membership_user: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ViewTarget {
    pub display: String,
    pub sql: String,
    pub tenant_column: Option<String>,
    pub reads: Vec<Oid>,
}

#[derive(Debug, Clone)]
pub struct FunctionTarget {
    pub oid: Oid,
    pub display: String,
    pub call: Option<String>,
    pub skip: Option<String>,
    pub reads: Vec<Oid>,
}

#[derive(Debug, Clone)]
pub struct SetterTarget {
    pub oid: Oid,
    pub display: String,
    pub settings: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub struct Targets {
    pub tables: BTreeMap<Oid, TableTarget>,
    /// Non-tenant tables a synthesised row may need a parent row in (price lists...).
    pub globals: BTreeMap<Oid, TableTarget>,
    pub views: Vec<ViewTarget>,
    pub functions: Vec<FunctionTarget>,
    pub setters: Vec<SetterTarget>,
    pub tenant_columns: Vec<String>,
    /// Who the caller is: tenant settings, users through a membership table, roles.
    pub identity: IdentityModel,
}

impl Targets {
    pub fn table(&self, oid: Oid) -> Option<&TableTarget> {
        self.tables.get(&oid).or_else(|| self.globals.get(&oid))
    }
}

/// Relations whose column types the targets need: tenant tables and, transitively, their FK parents.
pub fn relations_needed(audit: &Audit) -> Vec<Oid> {
    let mut seen: HashSet<Oid> = audit.model.tables.keys().copied().collect();
    let mut stack: Vec<Oid> = seen.iter().copied().collect();
    while let Some(o) = stack.pop() {
        for c in audit.snapshot.constraints_on(o) {
            if let (ConstraintKind::ForeignKey, Some(p)) = (c.kind, c.referenced_relation) {
                if seen.insert(p) {
                    stack.push(p);
                }
            }
        }
    }
    seen.into_iter().collect()
}

pub fn build(audit: &Audit, app: Oid, types: &Types, function_args: &FunctionArgs, identity: &IdentityModel) -> Targets {
    let snap = audit.snapshot;
    let mut t = Targets { tenant_columns: audit.config.tenant_columns(), identity: identity.clone(), ..Targets::default() };
    let mut needed = relations_needed(audit);
    if let Some(m) = &identity.membership {
        if !needed.contains(&m.oid) {
            needed.push(m.oid);
        }
    }
    for oid in needed {
        let Some(rel) = audit.relation(oid) else { continue };
        if !rel.kind.is_table() {
            continue;
        }
        let mut target = table_target(audit, rel, types);
        target.role_pinned = identity.role_pinned(oid);
        if identity.membership.as_ref().is_some_and(|m| m.oid == oid) {
            target.membership_user = identity.membership.as_ref().map(|m| m.user_name.clone());
        }
        if audit.model.is_tenant_table(oid) {
            t.tables.insert(oid, target);
        } else {
            t.globals.insert(oid, target);
        }
    }
    for rel in snap.relations.iter().filter(|r| matches!(r.kind, RelKind::View | RelKind::MaterializedView)) {
        let reads: Vec<Oid> = rel.reads.iter().copied().filter(|o| audit.model.is_tenant_table(*o)).collect();
        if reads.is_empty() {
            continue;
        }
        let tenant_column = rel.columns.iter().find(|c| audit.config.is_tenant_column(&c.name)).map(|c| ident(&c.name));
        t.views.push(ViewTarget { display: display(&rel.schema, &rel.name), sql: qualified(&rel.schema, &rel.name), tenant_column, reads });
    }
    for f in snap.functions.iter().filter(|f| !f.is_trigger && audit.access.can_execute(app, f)) {
        let settings: Vec<String> = tenantguard_rules::body::set_config_calls(f)
            .into_iter()
            .map(|(s, _)| s)
            .filter(|s| audit.is_tenant_setting(s) || s.ends_with("jwt.claims") || s.starts_with("request.jwt.claim") || identity.settings.contains(s))
            .collect();
        if !settings.is_empty() {
            t.setters.push(SetterTarget { oid: f.oid, display: f.signature(), settings });
        }
        if f.returns_set {
            if let Some(ft) = function_target(audit, f, function_args) {
                t.functions.push(ft);
            }
        }
    }
    t
}

/// Per function: argument names and types, result text and kind (from pg_proc, read at probe time).
#[derive(Debug, Clone, Default)]
pub struct FunctionInfo {
    pub arg_names: Vec<String>,
    pub arg_types: Vec<String>,
    pub result: String,
    pub procedure: bool,
}

pub type FunctionArgs = std::collections::HashMap<Oid, FunctionInfo>;

fn function_target(audit: &Audit, f: &Function, info: &FunctionArgs) -> Option<FunctionTarget> {
    let reads: Vec<Oid> = audit.body_tables(f).into_iter().map(|u| u.rel.oid).filter(|o| audit.model.is_tenant_table(*o)).collect();
    let info = info.get(&f.oid).cloned().unwrap_or_default();
    let result = info.result.to_ascii_lowercase();
    let tenant_out = audit.config.tenant_columns().iter().any(|c| result.contains(&c.to_ascii_lowercase()))
        || audit.snapshot.relations.iter().any(|r| audit.model.is_tenant_table(r.oid) && result.ends_with(&r.name.to_ascii_lowercase()));
    if reads.is_empty() && !tenant_out {
        return None;
    }
    let display = f.signature();
    let mut skip = None;
    if !tenant_out {
        skip = Some(format!("returns {} with no tenant column, so its rows cannot be attributed to a tenant", info.result));
    }
    let mut args = Vec::new();
    for (i, ty) in info.arg_types.iter().enumerate() {
        let name = info.arg_names.get(i).map(|s| s.to_ascii_lowercase()).unwrap_or_default();
        if ["tenant", "org", "account", "workspace", "company"].iter().any(|k| name.contains(k)) {
            args.push(format!("CAST({TENANT} AS {ty})"));
        } else if skip.is_none() {
            skip = Some(format!(
                "takes argument {} {ty}, whose meaning the probe cannot guess; it calls functions with no arguments or only a tenant argument",
                if name.is_empty() { format!("${}", i + 1) } else { name }
            ));
        }
    }
    let call = format!("{}({})", qualified(&f.schema, &f.name), args.join(", "));
    Some(FunctionTarget { oid: f.oid, display, call: skip.is_none().then_some(call), skip, reads })
}

fn has_children(audit: &Audit, rel: &Relation) -> bool {
    rel.kind == RelKind::PartitionedTable || audit.snapshot.relations.iter().any(|r| r.parents.contains(&rel.oid))
}

/// The tenant of row `alias` of `oid`, as the login sees it; None when it cannot be traced.
pub fn tenant_expr(audit: &Audit, oid: Oid, alias: &str, depth: usize) -> Option<String> {
    let tt = audit.model.tables.get(&oid)?;
    match &tt.via {
        TenantVia::Column | TenantVia::Registry => Some(format!("{alias}.{}", ident(tt.columns.first()?))),
        TenantVia::ForeignKey { parent, columns } => {
            if depth > 8 {
                return None;
            }
            let fk = audit.snapshot.constraints_on(oid).find(|c| {
                c.kind == ConstraintKind::ForeignKey && c.referenced_relation == Some(*parent) && &c.columns == columns
            })?;
            let prel = audit.relation(*parent)?;
            let palias = format!("p{depth}");
            let inner = tenant_expr(audit, *parent, &palias, depth + 1)?;
            let join: Vec<String> = fk
                .columns
                .iter()
                .zip(&fk.referenced_columns)
                .map(|(c, r)| format!("{palias}.{} = {alias}.{}", ident(r), ident(c)))
                .collect();
            Some(format!("(SELECT {inner} FROM {} {palias} WHERE {})", qualified(&prel.schema, &prel.name), join.join(" AND ")))
        }
    }
}

/// The type of the value the tenant expression yields (the root tenant column's type).
fn tenant_type(audit: &Audit, oid: Oid, types: &Types, depth: usize) -> Option<ColType> {
    let tt = audit.model.tables.get(&oid)?;
    match &tt.via {
        TenantVia::Column | TenantVia::Registry => types.get(&(oid, tt.columns.first()?.clone())).cloned(),
        TenantVia::ForeignKey { parent, .. } if depth < 8 => tenant_type(audit, *parent, types, depth + 1),
        _ => None,
    }
}

fn table_target(audit: &Audit, rel: &Relation, types: &Types) -> TableTarget {
    let model = audit.model.tables.get(&rel.oid);
    let sql = qualified(&rel.schema, &rel.name);
    let partitioned = has_children(audit, rel);
    let (key_expr, key_pred) = if partitioned {
        (
            "x.tableoid::oid::text || '/' || x.ctid::text".to_string(),
            "tableoid::oid::text || '/' || ctid::text = ANY(ARRAY(SELECT json_array_elements_text($1::json->'keys')))".to_string(),
        )
    } else {
        ("x.ctid::text".to_string(), "ctid = ANY(ARRAY(SELECT json_array_elements_text($1::json->'keys'))::tid[])".to_string())
    };
    let tenant_columns: Vec<String> = model.map(|m| m.columns.clone()).unwrap_or_default();
    let registry = model.is_some_and(|m| m.via == TenantVia::Registry);
    let direct_column = match model.map(|m| &m.via) {
        Some(TenantVia::Column | TenantVia::Registry) => tenant_columns.first().map(|c| ident(c)),
        _ => None,
    };
    let (template, parents, move_columns) = template(audit, rel, types, &tenant_columns);
    // Prefer a column no key, unique index or foreign key covers: the attack writes one value into every row.
    let keyed: Vec<&String> = audit
        .snapshot
        .indexes_on(rel.oid)
        .filter(|i| i.unique)
        .flat_map(|i| i.columns.iter().flatten())
        .chain(audit.snapshot.constraints_on(rel.oid).filter(|c| c.kind == ConstraintKind::ForeignKey).flat_map(|c| c.columns.iter()))
        .collect();
    let update_column = rel
        .columns
        .iter()
        .filter(|c| !c.generated && !c.identity)
        .find(|c| !keyed.contains(&&c.name) && !tenant_columns.contains(&c.name))
        .or_else(|| rel.columns.iter().find(|c| !c.generated && !c.identity))
        .map(|c| ident(&c.name));
    TableTarget {
        oid: rel.oid,
        display: display(&rel.schema, &rel.name),
        sql,
        registry,
        tenant_scoped: model.is_some(),
        tenant_expr: tenant_expr(audit, rel.oid, "x", 0),
        direct_column,
        tenant_type: tenant_type(audit, rel.oid, types, 0),
        key_expr,
        key_pred,
        template,
        move_columns,
        update_column,
        parents,
        skip: None,
        role_pinned: false,
        membership_user: None,
    }
}

/// Build the row template for a tenant: tenant columns get the tenant, foreign keys point at a
/// parent row of that tenant (or any row of a global parent), sequence-backed and NOT NULL
/// columns without a default get a value by type; everything else takes its default.
/// The template (or why none could be built), the parent tables it reads (`(relation, tenant-scoped)`),
/// and the columns a move attack can rewrite.
type Planned = (Result<Template, String>, Vec<(Oid, bool)>, Vec<String>);

fn template(audit: &Audit, rel: &Relation, types: &Types, tenant_columns: &[String]) -> Planned {
    let mut assigned: Vec<(String, String)> = Vec::new();
    let mut from = Vec::new();
    let mut parents = Vec::new();
    let mut move_columns: Vec<String> = Vec::new();
    let via_fk = match audit.model.tables.get(&rel.oid).map(|m| &m.via) {
        Some(TenantVia::ForeignKey { columns, .. }) => columns.clone(),
        _ => Vec::new(),
    };
    let not_null = |name: &str| rel.column(name).is_some_and(|c| c.not_null);
    for (i, fk) in audit.snapshot.constraints_on(rel.oid).filter(|c| c.kind == ConstraintKind::ForeignKey).enumerate() {
        let Some(parent) = fk.referenced_relation else { continue };
        let carries_tenant = fk.columns.iter().any(|c| tenant_columns.contains(c)) || fk.columns == via_fk;
        let needed = carries_tenant || fk.columns.iter().any(|c| not_null(c));
        if !needed || fk.columns.iter().all(|c| assigned.iter().any(|(a, _)| a == c)) {
            continue;
        }
        if parent == rel.oid {
            return (Err(format!("foreign key {} references the table itself with NOT NULL columns", fk.name)), parents, move_columns);
        }
        let Some(prel) = audit.relation(parent) else { continue };
        let alias = format!("f{i}");
        let cols: Vec<String> = fk.referenced_columns.iter().map(|c| format!("y.{}", ident(c))).collect();
        let scoped = audit.model.is_tenant_table(parent);
        let filter = match (scoped, tenant_expr(audit, parent, "y", 0)) {
            (true, Some(e)) => format!(" WHERE ({e})::text = {TENANT}"),
            (true, None) => return (Err(format!("cannot trace the tenant of parent table {}", prel.qualified())), parents, move_columns),
            (false, _) => String::new(),
        };
        from.push(format!("(SELECT {} FROM {} y{filter} LIMIT 1) {alias}", cols.join(", "), qualified(&prel.schema, &prel.name)));
        parents.push((parent, scoped));
        for (c, r) in fk.columns.iter().zip(&fk.referenced_columns) {
            if !assigned.iter().any(|(a, _)| a == c) {
                assigned.push((c.clone(), format!("{alias}.{}", ident(r))));
                if carries_tenant || scoped {
                    move_columns.push(ident(c));
                }
            }
        }
    }
    for c in &rel.columns {
        if c.generated || assigned.iter().any(|(a, _)| a == &c.name) {
            continue;
        }
        let Some(ty) = types.get(&(rel.oid, c.name.clone())) else { continue };
        if tenant_columns.contains(&c.name) {
            assigned.push((c.name.clone(), format!("CAST({TENANT} AS {})", ty.format)));
            move_columns.push(ident(&c.name));
            continue;
        }
        let sequence = c.identity || c.default.as_deref().is_some_and(|d| d.contains("nextval("));
        if sequence || (c.not_null && c.default.is_none()) {
            match value_expr(ty) {
                Ok(v) => assigned.push((c.name.clone(), v)),
                Err(e) => return (Err(format!("column {}: {e}", c.name)), parents, move_columns),
            }
        }
    }
    let (columns, exprs): (Vec<String>, Vec<String>) = assigned.into_iter().map(|(c, e)| (ident(&c), e)).unzip();
    (Ok(Template { columns, exprs, from }), parents, move_columns)
}

/// A tenant literal cast to the tenant's type, for direct-column filters that can use an index.
pub fn tenant_literal(tenant: &str, ty: Option<&ColType>) -> String {
    match ty {
        Some(t) => format!("CAST({} AS {})", lit(tenant), t.format),
        None => lit(tenant),
    }
}
