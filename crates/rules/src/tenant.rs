//! The tenant model: which tables hold tenant data (by a tenant column or by foreign-key
//! reachability), which are deliberately global, which table is the tenant registry,
//! which roles are the application, and which settings carry the tenant.

use std::collections::{BTreeMap, HashMap, HashSet};

use tenantguard_catalog::access::Access;
use tenantguard_catalog::{ConstraintKind, Oid, QualifiedName, RelKind, Snapshot};

use crate::config::Config;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TenantVia {
    /// Has a tenant column.
    Column,
    /// Its key is what tenant columns reference: the table of tenants itself.
    Registry,
    /// No tenant column, but a foreign key to a tenant table.
    ForeignKey { parent: Oid, columns: Vec<String> },
}

#[derive(Debug, Clone)]
pub struct TenantTable {
    pub oid: Oid,
    /// Columns that hold the tenant (empty for a child reached only through a foreign key).
    pub columns: Vec<String>,
    pub via: TenantVia,
}

#[derive(Debug, Default)]
pub struct TenantModel {
    pub tables: BTreeMap<Oid, TenantTable>,
    pub global: HashMap<Oid, String>,
    pub app_roles: Vec<Oid>,
    /// Why these app roles, when they were not configured.
    pub app_roles_assumed: Option<String>,
    /// Configured app role names that do not exist.
    pub missing_app_roles: Vec<String>,
    pub tenant_settings: Vec<String>,
    pub settings_configured: bool,
    /// Schema-per-tenant: schemas that repeat one set of tables.
    pub tenant_schemas: Vec<String>,
    pub audit_tables: Vec<Oid>,
}

impl TenantModel {
    pub fn build(snap: &Snapshot, config: &Config, access: &Access) -> TenantModel {
        let mut model = TenantModel::default();
        for g in &config.global_tables {
            if let Some(rel) = QualifiedName::parse(&g.table).and_then(|n| snap.relation_by_name(&n)) {
                model.global.insert(rel.oid, g.reason.clone());
            }
        }
        model.find_tenant_tables(snap, config);
        model.tenant_schemas = tenant_schemas(snap);
        model.pick_tenant_settings(snap, config);
        model.pick_app_roles(snap, config, access);
        model.find_audit_tables(snap, config);
        model
    }

    /// In the model at all: tenant data, or the table of tenants (which the probe attacks too).
    pub fn is_tenant_table(&self, oid: Oid) -> bool {
        self.tables.contains_key(&oid)
    }

    /// Holds tenant data: a tenant column, or a foreign key into tenant data. The table of tenants
    /// itself (what tenant columns reference) does not, so the audit's rules leave it alone.
    pub fn holds_tenant_data(&self, oid: Oid) -> bool {
        self.tables.get(&oid).is_some_and(|t| t.via != TenantVia::Registry)
    }

    fn find_tenant_tables(&mut self, snap: &Snapshot, config: &Config) {
        let tables: Vec<_> = snap.relations.iter().filter(|r| r.kind.is_table() && !r.is_temp).collect();
        for rel in &tables {
            if self.global.contains_key(&rel.oid) {
                continue;
            }
            let columns: Vec<String> =
                rel.columns.iter().filter(|c| config.is_tenant_column(&c.name)).map(|c| c.name.clone()).collect();
            if !columns.is_empty() {
                self.tables.insert(rel.oid, TenantTable { oid: rel.oid, columns, via: TenantVia::Column });
            }
        }
        // The registry: what tenant columns reference. Columns that reference it are tenant columns too.
        let fks: Vec<_> = snap.constraints.iter().filter(|c| c.kind == ConstraintKind::ForeignKey).collect();
        let mut registry: HashMap<Oid, Vec<String>> = HashMap::new();
        for fk in &fks {
            let (Some(target), true) = (fk.referenced_relation, fk.columns.len() == 1) else { continue };
            if self.global.contains_key(&target) || fk.relation == target {
                continue;
            }
            if config.is_tenant_column(&fk.columns[0]) && !self.tables.get(&target).is_some_and(|t| t.via == TenantVia::Column) {
                registry.insert(target, fk.referenced_columns.clone());
            }
        }
        for (oid, key) in &registry {
            self.tables.insert(*oid, TenantTable { oid: *oid, columns: key.clone(), via: TenantVia::Registry });
        }
        for fk in &fks {
            let Some(target) = fk.referenced_relation else { continue };
            if registry.contains_key(&target) && fk.columns.len() == 1 && !self.global.contains_key(&fk.relation) {
                let entry = self.tables.entry(fk.relation).or_insert_with(|| TenantTable {
                    oid: fk.relation,
                    columns: vec![],
                    via: TenantVia::Column,
                });
                if entry.via != TenantVia::Registry && !entry.columns.contains(&fk.columns[0]) {
                    entry.columns.push(fk.columns[0].clone());
                }
            }
        }
        // Children: no tenant column, but a foreign key into tenant data, to a fixpoint.
        loop {
            let mut added = false;
            for fk in &fks {
                let Some(target) = fk.referenced_relation else { continue };
                if self.tables.contains_key(&fk.relation) || self.global.contains_key(&fk.relation) {
                    continue;
                }
                let parent_holds_tenant_data =
                    self.tables.get(&target).is_some_and(|t| t.via != TenantVia::Registry);
                if parent_holds_tenant_data {
                    self.tables.insert(
                        fk.relation,
                        TenantTable {
                            oid: fk.relation,
                            columns: vec![],
                            via: TenantVia::ForeignKey { parent: target, columns: fk.columns.clone() },
                        },
                    );
                    added = true;
                }
            }
            if !added {
                break;
            }
        }
        // Partitions and inheritance children of tenant tables hold the same data.
        loop {
            let mut added = false;
            for rel in &tables {
                if self.tables.contains_key(&rel.oid) {
                    continue;
                }
                if let Some(parent) = rel.parents.iter().find_map(|p| self.tables.get(p)).cloned() {
                    self.tables.insert(rel.oid, TenantTable { oid: rel.oid, ..parent });
                    added = true;
                }
            }
            if !added {
                break;
            }
        }
    }

    fn pick_tenant_settings(&mut self, snap: &Snapshot, config: &Config) {
        if !config.tenant_settings.is_empty() {
            self.tenant_settings = config.tenant_settings.clone();
            self.settings_configured = true;
            return;
        }
        let mut found: Vec<String> = Vec::new();
        for p in &snap.policies {
            for e in p.using.iter().chain(p.check.iter()) {
                e.walk(&mut |x| {
                    if let Some(name) = crate::context::setting_name(x) {
                        if crate::context::looks_like_tenant_setting(&name) && !found.contains(&name) {
                            found.push(name);
                        }
                    }
                });
            }
        }
        if found.is_empty() {
            found.push("app.current_tenant".to_string());
        }
        self.tenant_settings = found;
    }

    fn pick_app_roles(&mut self, snap: &Snapshot, config: &Config, access: &Access) {
        if !config.app_roles.is_empty() {
            for name in &config.app_roles {
                match snap.role_by_name(name) {
                    Some(r) => self.app_roles.push(r.oid),
                    None => self.missing_app_roles.push(name.clone()),
                }
            }
            return;
        }
        let owners: HashSet<Oid> =
            self.tables.keys().filter_map(|o| snap.relation(*o)).map(|r| r.owner).collect();
        let ordinary = |r: &&tenantguard_catalog::Role| {
            !r.superuser && !r.bypass_rls && !r.name.starts_with("pg_") && r.oid >= 16384
        };
        // Index tenant data by who holds privileges on it, so each role only checks its own tables.
        let mut by_grantee: HashMap<Oid, Vec<&tenantguard_catalog::Relation>> = HashMap::new();
        for rel in snap
            .relations
            .iter()
            .filter(|r| self.tables.contains_key(&r.oid) || (r.kind.is_table() && self.tenant_schemas.contains(&r.schema)))
        {
            let mut grantees: HashSet<Oid> = rel.grants.iter().map(|g| g.grantee).collect();
            grantees.extend(rel.columns.iter().flat_map(|c| c.grants.iter().map(|g| g.grantee)));
            grantees.insert(rel.owner);
            for g in grantees {
                by_grantee.entry(g).or_default().push(rel);
            }
        }
        let reaches_tenant_data = |oid: Oid| {
            let privs = access.privileges_of(oid);
            privs
                .iter()
                .chain(std::iter::once(&tenantguard_catalog::PUBLIC))
                .flat_map(|g| by_grantee.get(g).into_iter().flatten())
                .any(|rel| access.reaches(oid, rel))
        };
        let users: Vec<Oid> = snap
            .roles
            .iter()
            .filter(ordinary)
            .filter(|r| !owners.contains(&r.oid) && reaches_tenant_data(r.oid))
            .map(|r| r.oid)
            .collect();
        if !users.is_empty() {
            self.app_roles = users;
            self.app_roles_assumed = Some(
                "every role that is not a superuser, does not bypass RLS, owns no tenant table and can reach tenant data"
                    .into(),
            );
            return;
        }
        let owner_logins: Vec<Oid> =
            snap.roles.iter().filter(ordinary).filter(|r| r.can_login && owners.contains(&r.oid)).map(|r| r.oid).collect();
        if !owner_logins.is_empty() {
            self.app_roles = owner_logins;
            self.app_roles_assumed =
                Some("no other role can reach tenant data, so the login roles that own tenant tables are taken as the application".into());
        } else {
            self.app_roles_assumed = Some("no role other than superusers can reach tenant data".into());
        }
    }

    fn find_audit_tables(&mut self, snap: &Snapshot, config: &Config) {
        if !config.audit_tables.is_empty() {
            for t in &config.audit_tables {
                if let Some(rel) = QualifiedName::parse(t).and_then(|n| snap.relation_by_name(&n)) {
                    self.audit_tables.push(rel.oid);
                }
            }
            return;
        }
        for rel in snap.relations.iter().filter(|r| r.kind.is_table() && !r.is_partition) {
            let name = rel.name.to_ascii_lowercase();
            let schema = rel.schema.to_ascii_lowercase();
            let named_audit = name == "audit_log"
                || name == "audit_logs"
                || name == "audit_events"
                || name == "audit_trail"
                || (schema == "audit" && (name.contains("log") || name.contains("event") || name == "record_version"));
            if named_audit {
                self.audit_tables.push(rel.oid);
            }
        }
    }
}

/// Schemas (two or more) that each hold the same set of table names: a schema-per-tenant layout.
fn tenant_schemas(snap: &Snapshot) -> Vec<String> {
    let mut by_schema: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for rel in snap.relations.iter().filter(|r| r.kind.is_table() && !r.is_partition) {
        by_schema.entry(rel.schema.as_str()).or_default().push(rel.name.as_str());
    }
    let mut groups: HashMap<Vec<&str>, Vec<&str>> = HashMap::new();
    for (schema, mut names) in by_schema {
        names.sort_unstable();
        if schema == "public" || names.is_empty() {
            continue;
        }
        groups.entry(names).or_default().push(schema);
    }
    let mut out: Vec<String> = groups
        .into_values()
        .filter(|schemas| schemas.len() >= 2)
        .flatten()
        .map(str::to_string)
        .collect();
    out.sort();
    out
}

pub fn is_view_like(kind: RelKind) -> bool {
    matches!(kind, RelKind::View | RelKind::MaterializedView)
}
