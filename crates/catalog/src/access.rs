//! PostgreSQL's access semantics over the snapshot: who has whose privileges, who can
//! become whom, who skips row-level security, and which policies apply to a role.
//!
//! These follow the server's own checks: `has_privs_of_role` (membership through
//! INHERIT), `is_member_of_role` (any membership: enough for `SET ROLE` before 16),
//! `check_enable_rls` (superuser, BYPASSRLS, or owner privileges without FORCE) and
//! `check_role_for_policy` (PUBLIC or `has_privs_of_role`).

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use crate::model::*;

/// Precomputed role graph for one snapshot.
pub struct Access<'a> {
    pub snapshot: &'a Snapshot,
    /// member -> roles it is a direct member of, with the edge's inherit/set flags.
    edges: HashMap<Oid, Vec<(Oid, bool, bool)>>,
    roles: HashMap<Oid, &'a Role>,
    pg_read_all_data: Option<Oid>,
    pg_write_all_data: Option<Oid>,
    schemas: HashMap<&'a str, &'a Schema>,
    /// Memoised closures: rules ask the same role the same question thousands of times.
    privileges: RefCell<HashMap<Oid, Rc<HashSet<Oid>>>>,
    becomes: RefCell<HashMap<Oid, Rc<HashSet<Oid>>>>,
}

impl<'a> Access<'a> {
    pub fn new(snapshot: &'a Snapshot) -> Self {
        let mut edges: HashMap<Oid, Vec<(Oid, bool, bool)>> = HashMap::new();
        for m in &snapshot.memberships {
            edges.entry(m.member).or_default().push((m.role, m.inherit, m.set));
        }
        let roles = snapshot.roles.iter().map(|r| (r.oid, r)).collect();
        let find = |n: &str| snapshot.roles.iter().find(|r| r.name == n).map(|r| r.oid);
        Access {
            snapshot,
            edges,
            roles,
            pg_read_all_data: find("pg_read_all_data"),
            pg_write_all_data: find("pg_write_all_data"),
            schemas: snapshot.schemas.iter().map(|s| (s.name.as_str(), s)).collect(),
            privileges: RefCell::new(HashMap::new()),
            becomes: RefCell::new(HashMap::new()),
        }
    }

    pub fn role(&self, oid: Oid) -> Option<&'a Role> {
        self.roles.get(&oid).copied()
    }

    pub fn is_superuser(&self, role: Oid) -> bool {
        self.role(role).is_some_and(|r| r.superuser)
    }

    /// Roles whose privileges `role` uses directly (itself, INHERIT memberships, transitively).
    pub fn privileges_of(&self, role: Oid) -> Rc<HashSet<Oid>> {
        if let Some(p) = self.privileges.borrow().get(&role) {
            return p.clone();
        }
        let p = Rc::new(self.closure(role, true));
        self.privileges.borrow_mut().insert(role, p.clone());
        p
    }

    /// Roles `role` can act as with `SET ROLE` (itself included), transitively.
    pub fn can_become(&self, role: Oid) -> Rc<HashSet<Oid>> {
        if let Some(p) = self.becomes.borrow().get(&role) {
            return p.clone();
        }
        let p = Rc::new(self.closure(role, false));
        self.becomes.borrow_mut().insert(role, p.clone());
        p
    }

    fn closure(&self, role: Oid, inherit_only: bool) -> HashSet<Oid> {
        let mut seen = HashSet::from([role]);
        let mut stack = vec![role];
        while let Some(r) = stack.pop() {
            for &(parent, inherit, set) in self.edges.get(&r).into_iter().flatten() {
                let follow = if inherit_only { inherit } else { set || inherit };
                if follow && seen.insert(parent) {
                    stack.push(parent);
                }
            }
        }
        seen
    }

    pub fn has_privs_of(&self, role: Oid, other: Oid) -> bool {
        self.is_superuser(role) || self.privileges_of(role).contains(&other)
    }

    /// Does `role` skip row-level security on `rel` (superuser, BYPASSRLS, or owner without FORCE)?
    pub fn skips_rls(&self, role: Oid, rel: &Relation) -> bool {
        let Some(r) = self.role(role) else { return false };
        r.superuser || r.bypass_rls || (!rel.rls_forced && self.has_privs_of(role, rel.owner))
    }

    /// Is row-level security actually applied to `role`'s queries on `rel`?
    pub fn rls_applies(&self, role: Oid, rel: &Relation) -> bool {
        rel.rls_enabled && !self.skips_rls(role, rel)
    }

    fn granted(&self, role: Oid, grants: &[Grant], privilege: Privilege) -> bool {
        let privs = self.privileges_of(role);
        grants.iter().any(|g| g.privilege == privilege && (g.grantee == PUBLIC || privs.contains(&g.grantee)))
    }

    pub fn schema_usage(&self, role: Oid, schema: &str) -> bool {
        let Some(s) = self.schemas.get(schema) else { return true };
        self.is_superuser(role) || self.has_privs_of(role, s.owner) || self.granted(role, &s.grants, Privilege::Usage)
    }

    pub fn schema_create(&self, role: Oid, schema: &Schema) -> bool {
        self.is_superuser(role) || self.has_privs_of(role, schema.owner) || self.granted(role, &schema.grants, Privilege::Create)
    }

    /// Table-level privilege, as `has_table_privilege` sees it (plus schema USAGE, which any access needs).
    pub fn table_privilege(&self, role: Oid, rel: &Relation, privilege: Privilege) -> bool {
        if !self.schema_usage(role, &rel.schema) {
            return false;
        }
        if self.is_superuser(role) || self.has_privs_of(role, rel.owner) || self.granted(role, &rel.grants, privilege) {
            return true;
        }
        let privs = self.privileges_of(role);
        match privilege {
            Privilege::Select => self.pg_read_all_data.is_some_and(|o| privs.contains(&o)),
            Privilege::Insert | Privilege::Update | Privilege::Delete => {
                self.pg_write_all_data.is_some_and(|o| privs.contains(&o))
            }
            _ => false,
        }
    }

    /// Privilege on the table or on at least one of its columns (`has_any_column_privilege`).
    pub fn any_column_privilege(&self, role: Oid, rel: &Relation, privilege: Privilege) -> bool {
        self.table_privilege(role, rel, privilege)
            || (self.schema_usage(role, &rel.schema)
                && rel.columns.iter().any(|c| self.granted(role, &c.grants, privilege)))
    }

    pub fn column_privilege(&self, role: Oid, rel: &Relation, column: &str, privilege: Privilege) -> bool {
        self.table_privilege(role, rel, privilege)
            || (self.schema_usage(role, &rel.schema)
                && rel.column(column).is_some_and(|c| self.granted(role, &c.grants, privilege)))
    }

    /// Any way at all for `role` to read or change rows of `rel`.
    pub fn reaches(&self, role: Oid, rel: &Relation) -> bool {
        [Privilege::Select, Privilege::Insert, Privilege::Update, Privilege::Delete]
            .into_iter()
            .any(|p| self.any_column_privilege(role, rel, p))
    }

    pub fn can_execute(&self, role: Oid, f: &Function) -> bool {
        self.schema_usage(role, &f.schema)
            && (self.is_superuser(role) || self.has_privs_of(role, f.owner) || self.granted(role, &f.grants, Privilege::Execute))
    }

    /// `check_role_for_policy`: the policy is TO PUBLIC or to a role whose privileges `role` has.
    pub fn policy_applies(&self, policy: &Policy, role: Oid) -> bool {
        let privs = self.privileges_of(role);
        policy.roles.iter().any(|r| *r == PUBLIC || privs.contains(r))
    }

    pub fn role_name(&self, oid: Oid) -> String {
        self.snapshot.role_name(oid)
    }
}
