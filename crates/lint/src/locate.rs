//! Which statement a finding points at. Every statement recorded the objects it created or
//! changed; a finding picks, among the statements on its object, the one most relevant to
//! its rule (the ENABLE RLS toggle for RLS rules, the named CREATE POLICY for policy rules,
//! the GRANT for grant rules), and otherwise the CREATE.

use std::collections::HashMap;

use tenantguard_rules::{Finding, ObjectKind};

use crate::statements::{Action, ParsedFile};

/// A statement: file index and the byte offset of its first token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StmtRef {
    pub file: usize,
    pub start: usize,
}

#[derive(Default)]
pub struct Index {
    by_key: HashMap<String, Vec<(StmtRef, Action)>>,
}

impl Index {
    pub fn build(parsed: &[ParsedFile]) -> Index {
        let mut by_key: HashMap<String, Vec<(StmtRef, Action)>> = HashMap::new();
        for (file, p) in parsed.iter().enumerate() {
            for s in &p.stmts {
                for t in &s.touches {
                    by_key.entry(t.key.clone()).or_default().push((StmtRef { file, start: s.start }, t.action));
                }
            }
        }
        Index { by_key }
    }

    /// The last statement on `key` whose action is one of `actions` (any action when empty).
    fn last(&self, key: &str, actions: &[Action]) -> Option<StmtRef> {
        self.by_key.get(key)?.iter().rev().find(|(_, a)| actions.is_empty() || actions.contains(a)).map(|(s, _)| *s)
    }

    fn first_of(&self, candidates: &[(&str, &[Action])]) -> Option<StmtRef> {
        candidates.iter().find_map(|(k, a)| self.last(k, a))
    }

    pub fn locate(&self, f: &Finding) -> Option<StmtRef> {
        use Action::*;
        let rule = f.rule.as_str();
        let obj = f.object.as_str();
        match f.object_kind {
            Some(ObjectKind::Function) => self.first_of(&[(&format!("func:{obj}"), &[Create, Alter]), (&format!("func:{obj}"), &[])]),
            Some(ObjectKind::Role) => {
                let key = format!("role:{obj}");
                if rule == "session-level-tenant-context" {
                    self.first_of(&[(&key, &[RoleSet]), (&key, &[Alter, Create])])
                } else {
                    self.first_of(&[(&key, &[Alter, Create]), (&key, &[])])
                }
            }
            Some(ObjectKind::Database) => self.last("db", &[DbSet]),
            Some(ObjectKind::Schema) => self.last(&format!("schema:{obj}"), &[]),
            _ => {
                let rel = format!("rel:{obj}");
                if let Some(d) = &f.detail {
                    // Policies, indexes, constraints and triggers by name ("trg on s.t" for triggers).
                    let name = d.split(" on ").next().unwrap_or(d);
                    if let Some(s) = self.last(&format!("named:{obj}:{name}"), &[]) {
                        return Some(s);
                    }
                }
                let schema = obj.split('.').next().unwrap_or("public");
                let all = format!("alltables:{schema}");
                if rule.contains("rls") {
                    self.first_of(&[(&rel, &[Rls]), (&rel, &[Create]), (&rel, &[])])
                } else if rule.contains("grant") || rule == "unchecked-privileges" {
                    self.first_of(&[(&rel, &[Grant]), (&all, &[Grant]), (&rel, &[Create]), (&rel, &[])])
                } else if rule.starts_with("policy") || rule.contains("policy") {
                    self.first_of(&[(&rel, &[Policy]), (&rel, &[Create]), (&rel, &[])])
                } else if rule == "app-role-bypasses-rls" {
                    self.first_of(&[(&rel, &[Owner]), (&rel, &[Create])])
                } else {
                    self.first_of(&[(&rel, &[Create]), (&rel, &[])])
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::statements::parse_file;
    use tenantguard_rules::Severity;

    #[test]
    fn rule_specific_statements() {
        let sql = "CREATE TABLE t (id int);\nALTER TABLE t ENABLE ROW LEVEL SECURITY;\nCREATE POLICY p ON t USING (true);\nGRANT SELECT ON t TO PUBLIC;\n";
        let parsed = vec![parse_file(sql, 0, &mut "public".into())];
        let idx = Index::build(&parsed);
        let find = |rule: &str, detail: Option<&str>| {
            let mut f = Finding::new(rule, Severity::Major, ObjectKind::Table, "public.t");
            f.detail = detail.map(str::to_string);
            let s = idx.locate(&f).unwrap();
            crate::source::line_col(sql, s.start).0
        };
        assert_eq!(find("tenant-index-missing", None), 1);
        assert_eq!(find("rls-not-forced-for-owner", None), 2);
        assert_eq!(find("policy-fails-open", Some("p")), 3);
        assert_eq!(find("public-grant-on-tenant-table", None), 4);
        let other = Finding::new("rls-disabled", Severity::Major, ObjectKind::Table, "public.elsewhere");
        assert!(idx.locate(&other).is_none());
    }
}
