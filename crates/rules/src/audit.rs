//! The analysis context every rule receives: the snapshot, the configuration, the
//! tenant model, PostgreSQL's access semantics, and the effective policy predicate
//! for any (table, role, command) as the server would combine it.

use std::cell::RefCell;
use std::collections::HashMap;

use tenantguard_catalog::access::Access;
use tenantguard_catalog::expr::{Expr, FromItem};
use tenantguard_catalog::{Function, Oid, Policy, PolicyCommand, Privilege, Relation, Snapshot};

use crate::config::Config;
use crate::predicate::{Scope, Verdict};
use crate::tenant::TenantModel;

/// The operation a policy predicate guards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// Rows visible to SELECT.
    Select,
    /// New rows accepted by INSERT.
    Insert,
    /// Existing rows UPDATE can touch.
    UpdateExisting,
    /// New row versions UPDATE may produce.
    UpdateNew,
    /// Rows DELETE can remove.
    Delete,
}

impl Op {
    pub fn describe(self) -> &'static str {
        match self {
            Op::Select => "SELECT (rows it reads)",
            Op::Insert => "INSERT (rows it writes)",
            Op::UpdateExisting => "UPDATE (rows it changes)",
            Op::UpdateNew => "UPDATE (tenant it writes)",
            Op::Delete => "DELETE (rows it removes)",
        }
    }

    fn matches(self, cmd: PolicyCommand) -> bool {
        cmd == PolicyCommand::All
            || matches!(
                (self, cmd),
                (Op::Select, PolicyCommand::Select)
                    | (Op::Insert, PolicyCommand::Insert)
                    | (Op::UpdateExisting | Op::UpdateNew, PolicyCommand::Update)
                    | (Op::Delete, PolicyCommand::Delete)
            )
    }

    /// The policy expression PostgreSQL uses for this operation: USING for rows that
    /// exist, WITH CHECK (falling back to USING) for rows being written.
    pub fn expression(self, p: &Policy) -> Option<&Expr> {
        match self {
            Op::Select | Op::UpdateExisting | Op::Delete => p.using.as_ref(),
            Op::Insert | Op::UpdateNew => p.check.as_ref().or(p.using.as_ref()),
        }
    }

    pub fn privilege(self) -> Privilege {
        match self {
            Op::Select => Privilege::Select,
            Op::Insert => Privilege::Insert,
            Op::UpdateExisting | Op::UpdateNew => Privilege::Update,
            Op::Delete => Privilege::Delete,
        }
    }
}

pub struct Audit<'a> {
    pub snapshot: &'a Snapshot,
    pub config: &'a Config,
    pub access: Access<'a>,
    pub model: TenantModel,
    relations: HashMap<Oid, &'a Relation>,
    by_name: HashMap<(&'a str, &'a str), &'a Relation>,
    functions: HashMap<&'a str, Vec<&'a Function>>,
    policies: HashMap<Oid, Vec<&'a Policy>>,
    acting: Vec<(Oid, Oid)>,
    read_scoped_memo: RefCell<HashMap<(Oid, Oid), bool>>,
}

impl<'a> Audit<'a> {
    pub fn new(snapshot: &'a Snapshot, config: &'a Config) -> Self {
        let access = Access::new(snapshot);
        let model = TenantModel::build(snapshot, config, &access);
        let mut functions: HashMap<&str, Vec<&Function>> = HashMap::new();
        for f in &snapshot.functions {
            functions.entry(f.name.as_str()).or_default().push(f);
        }
        let mut policies: HashMap<Oid, Vec<&Policy>> = HashMap::new();
        for p in &snapshot.policies {
            policies.entry(p.relation).or_default().push(p);
        }
        let mut acting = Vec::new();
        for &app in &model.app_roles {
            let mut roles: Vec<Oid> = access.can_become(app).iter().copied().collect();
            roles.sort_unstable();
            acting.extend(roles.into_iter().map(|r| (app, r)));
        }
        Audit {
            snapshot,
            config,
            access,
            model,
            policies,
            acting,
            relations: snapshot.relations.iter().map(|r| (r.oid, r)).collect(),
            by_name: snapshot.relations.iter().map(|r| ((r.schema.as_str(), r.name.as_str()), r)).collect(),
            functions,
            read_scoped_memo: RefCell::new(HashMap::new()),
        }
    }

    pub fn relation(&self, oid: Oid) -> Option<&'a Relation> {
        self.relations.get(&oid).copied()
    }

    pub fn relation_named(&self, schema: Option<&str>, name: &str) -> Option<&'a Relation> {
        match schema {
            Some(s) => self.by_name.get(&(s, name)).copied(),
            None => self
                .by_name
                .get(&("public", name))
                .copied()
                .or_else(|| self.snapshot.relations.iter().find(|r| r.name == name)),
        }
    }

    pub fn resolve_from(&self, f: &FromItem) -> Option<&'a Relation> {
        self.relation_named(f.schema.as_deref(), f.name.as_deref()?)
    }

    pub fn functions_named(&self, name: &str) -> Vec<&'a Function> {
        self.functions.get(name).cloned().unwrap_or_default()
    }

    /// Tables that hold tenant data (not the table of tenants itself).
    pub fn tenant_tables(&self) -> impl Iterator<Item = &'a Relation> + '_ {
        self.model.tables.keys().filter(|o| self.model.holds_tenant_data(**o)).filter_map(|o| self.relation(*o))
    }

    /// The roles an attacker holding an app role can act as: itself and every role it can `SET ROLE` to.
    pub fn acting_roles(&self) -> Vec<(Oid, Oid)> {
        self.acting.clone()
    }

    /// "app_user" or "app_user (after SET ROLE reporting)".
    pub fn who(&self, app: Oid, role: Oid) -> String {
        if app == role {
            self.access.role_name(app)
        } else {
            format!("{} (after SET ROLE {})", self.access.role_name(app), self.access.role_name(role))
        }
    }

    /// The policies PostgreSQL applies to `role` for `op` on `rel`.
    pub fn applicable(&self, rel: &Relation, role: Oid, op: Op) -> Vec<&'a Policy> {
        self.policies
            .get(&rel.oid)
            .into_iter()
            .flatten()
            .copied()
            .filter(|p| op.matches(p.command) && self.access.policy_applies(p, role))
            .collect()
    }

    /// The combined predicate: permissive expressions ORed, restrictive ones ANDed to them.
    /// With no permissive expression at all, PostgreSQL denies every row (`false`).
    pub fn effective(&self, rel: &Relation, role: Oid, op: Op) -> Expr {
        let policies = self.applicable(rel, role, op);
        let permissive: Vec<Expr> = policies.iter().filter(|p| p.permissive).filter_map(|p| op.expression(p).cloned()).collect();
        if permissive.is_empty() {
            return Expr::Bool(false);
        }
        let mut parts = vec![Expr::Or(permissive)];
        parts.extend(policies.iter().filter(|p| !p.permissive).filter_map(|p| op.expression(p).cloned()));
        Expr::And(parts)
    }

    /// The restrictive expressions for `op` that apply to `role`.
    pub fn restrictive(&self, rel: &Relation, role: Oid, op: Op) -> Vec<Expr> {
        self.applicable(rel, role, op).iter().filter(|p| !p.permissive).filter_map(|p| op.expression(p).cloned()).collect()
    }

    pub fn verdict(&self, rel: &Relation, role: Oid, op: Op) -> Verdict {
        self.analyse(&self.effective(rel, role, op), Scope::new(rel, role))
    }

    /// Verdict of one permissive policy together with the restrictive ones beside it.
    pub fn policy_verdict(&self, rel: &Relation, role: Oid, op: Op, policy: &Policy) -> Option<Verdict> {
        let own = op.expression(policy)?.clone();
        let mut parts = vec![own];
        parts.extend(self.restrictive(rel, role, op));
        Some(self.analyse(&Expr::And(parts), Scope::new(rel, role)))
    }

    /// Tables other tables' policies look the tenant up in (membership tables): scoping
    /// them to the user is their purpose, not a leak.
    pub fn lookup_tables(&self) -> std::collections::HashSet<Oid> {
        let mut out = std::collections::HashSet::new();
        for p in &self.snapshot.policies {
            for e in p.using.iter().chain(p.check.iter()) {
                e.walk(&mut |x| {
                    if let Expr::Sub { query, .. } = x {
                        for (schema, name) in query.tables() {
                            if let Some(r) = self.relation_named(schema.as_deref(), &name) {
                                if r.oid != p.relation {
                                    out.insert(r.oid);
                                }
                            }
                        }
                    }
                    if let Expr::Call { name, args } = x {
                        if let Some(f) = self.resolve_function(name, args.len()) {
                            for u in self.body_tables(f) {
                                if u.rel.oid != p.relation {
                                    out.insert(u.rel.oid);
                                }
                            }
                        }
                    }
                });
            }
        }
        out
    }

    /// Can `role` read only the caller's tenant's rows of `rel` (RLS applies and pins SELECT)?
    pub fn read_scoped(&self, rel: &Relation, role: Oid, depth: usize) -> bool {
        if depth > 4 {
            return false;
        }
        if let Some(v) = self.read_scoped_memo.borrow().get(&(rel.oid, role)) {
            return *v;
        }
        // Pessimistic while computing, so a cycle of policies proves nothing.
        self.read_scoped_memo.borrow_mut().insert((rel.oid, role), false);
        let scoped = self.access.rls_applies(role, rel)
            && self.analyse(&self.effective(rel, role, Op::Select), Scope { depth, ..Scope::new(rel, role) }).pinned();
        self.read_scoped_memo.borrow_mut().insert((rel.oid, role), scoped);
        scoped
    }
}
