//! `tenantguard.toml`: who the application is, how it names its tenant, and what is
//! deliberately shared. Unknown keys are errors: a typo must not silently widen an audit.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Roles the application queries as (login roles or roles it `SET ROLE`s to).
    #[serde(default)]
    pub app_roles: Vec<String>,
    /// Settings that carry the tenant (`app.current_tenant`); detected from policies when empty.
    #[serde(default)]
    pub tenant_settings: Vec<String>,
    /// Column names that hold the tenant; replaces the defaults when given.
    #[serde(default)]
    pub tenant_columns: Vec<String>,
    /// JWT claim names that carry the tenant (`auth.jwt() ->> 'tenant_id'`); defaults to the tenant columns.
    #[serde(default)]
    pub tenant_claims: Vec<String>,
    /// Append-only audit log tables (`schema.table`); detected by name when empty.
    #[serde(default)]
    pub audit_tables: Vec<String>,
    /// Tables with no tenant data (price lists, countries).
    #[serde(default)]
    pub global_tables: Vec<Exemption>,
    /// Findings accepted on purpose, each with its reason.
    #[serde(default)]
    pub exempt: Vec<Exemption>,
    /// Lint: where migrations live and how they are laid out (read by `tenantguard lint`).
    #[serde(default)]
    pub lint: Option<toml::Table>,
    /// The membership table that resolves a user (`auth.uid()`) to their tenants; detected
    /// from the policies when absent.
    #[serde(default)]
    pub membership: Option<MembershipConfig>,
}

/// `[membership]`: the table the policies look a user's tenants up in, for when detection
/// (the most-referenced lookup table of the user-bound policies) guesses wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MembershipConfig {
    /// `schema.table` (`team_members` alone means `public.team_members`).
    pub table: String,
    /// The column that holds the user id (what `auth.uid()` returns).
    pub user_column: String,
    /// The column that holds the tenant; the table's tenant column as detected when absent.
    #[serde(default)]
    pub tenant_column: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Exemption {
    /// `schema.table` (or another object name as findings print it).
    #[serde(alias = "object")]
    pub table: String,
    /// Only this rule (for `exempt`); every rule when absent.
    #[serde(default)]
    pub rule: Option<String>,
    pub reason: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("config file {path} is invalid: {message}")]
    Invalid { path: String, message: String },
}

pub const DEFAULT_TENANT_COLUMNS: &[&str] = &[
    "tenant_id",
    "tenant",
    "tenant_uuid",
    "org_id",
    "organization_id",
    "organisation_id",
    "account_id",
    "workspace_id",
    "company_id",
];

impl Config {
    pub fn parse(text: &str, path: &str) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| ConfigError::Invalid {
            path: path.to_string(),
            message: e.message().to_string() + &e.span().map(|s| format!(" (at byte {})", s.start)).unwrap_or_default(),
        })?;
        config.validate(path)?;
        Ok(config)
    }

    pub fn load(path: &str) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_string(), source })?;
        Config::parse(&text, path)
    }

    fn validate(&self, path: &str) -> Result<(), ConfigError> {
        let invalid = |m: String| ConfigError::Invalid { path: path.to_string(), message: m };
        for e in self.global_tables.iter().chain(&self.exempt) {
            if e.reason.trim().is_empty() {
                return Err(invalid(format!("the exemption for `{}` needs a non-empty reason", e.table)));
            }
            if e.table.trim().is_empty() {
                return Err(invalid("an exemption names no table".into()));
            }
        }
        if let Some(m) = &self.membership {
            if m.table.trim().is_empty() {
                return Err(invalid("[membership] table is empty: name the membership table as schema.table".into()));
            }
            if m.user_column.trim().is_empty() {
                return Err(invalid("[membership] user_column is empty: name the column that holds the user id".into()));
            }
            if m.tenant_column.as_deref().is_some_and(|c| c.trim().is_empty()) {
                return Err(invalid("[membership] tenant_column is empty: name the column that holds the tenant, or leave it out".into()));
            }
        }
        for name in self.tenant_settings.iter() {
            if !name.contains('.') {
                return Err(invalid(format!("tenant setting `{name}` must be a custom setting with a prefix, like app.current_tenant")));
            }
        }
        Ok(())
    }

    /// The tenant column names: `tenant_columns` (or the defaults), plus the tenant column
    /// `[membership]` names, which holds the tenant by definition.
    pub fn tenant_columns(&self) -> Vec<String> {
        let mut out: Vec<String> = if self.tenant_columns.is_empty() {
            DEFAULT_TENANT_COLUMNS.iter().map(|s| s.to_string()).collect()
        } else {
            self.tenant_columns.clone()
        };
        if let Some(c) = self.membership_tenant_column() {
            if !out.iter().any(|o| o == c) {
                out.push(c.to_string());
            }
        }
        out
    }

    pub fn is_tenant_column(&self, name: &str) -> bool {
        let listed = if self.tenant_columns.is_empty() {
            DEFAULT_TENANT_COLUMNS.contains(&name)
        } else {
            self.tenant_columns.iter().any(|c| c == name)
        };
        listed || self.membership_tenant_column() == Some(name)
    }

    fn membership_tenant_column(&self) -> Option<&str> {
        self.membership.as_ref().and_then(|m| m.tenant_column.as_deref()).map(str::trim)
    }

    pub fn tenant_claims(&self) -> Vec<String> {
        let mut claims = if self.tenant_claims.is_empty() { self.tenant_columns() } else { self.tenant_claims.clone() };
        if self.tenant_claims.is_empty() {
            claims.extend(["org".to_string(), "tenant".to_string(), "organization".to_string()]);
        }
        claims
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_unknown_keys_and_bad_types_with_the_reason() {
        let err = Config::parse("app_role = ['x']", "t.toml").unwrap_err().to_string();
        assert!(err.contains("app_role"), "{err}");
        let err = Config::parse("app_roles = 'x'", "t.toml").unwrap_err().to_string();
        assert!(err.contains("t.toml"), "{err}");
        let err = Config::parse("[[global_tables]]\ntable = 'public.plans'\nreason = ''", "t.toml").unwrap_err().to_string();
        assert!(err.contains("reason"), "{err}");
    }

    #[test]
    fn reads_a_full_config() {
        let c = Config::parse(
            "app_roles = ['app']\ntenant_settings = ['app.current_tenant']\n[[global_tables]]\ntable = 'public.plans'\nreason = 'price list'\n",
            "t.toml",
        )
        .unwrap();
        assert_eq!(c.app_roles, vec!["app"]);
        assert_eq!(c.global_tables[0].reason, "price list");
    }

    #[test]
    fn reads_the_membership_table() {
        let c = Config::parse("[membership]\ntable = 'public.team_members'\nuser_column = 'account_ref'\ntenant_column = 'team_id'\n", "t.toml").unwrap();
        assert_eq!(
            c.membership,
            Some(MembershipConfig { table: "public.team_members".into(), user_column: "account_ref".into(), tenant_column: Some("team_id".into()) })
        );
        let c = Config::parse("app_roles = ['app']\n[membership]\ntable = 'crew'\nuser_column = 'account_ref'\n", "t.toml").unwrap();
        let m = c.membership.unwrap();
        assert_eq!((m.table.as_str(), m.user_column.as_str(), m.tenant_column), ("crew", "account_ref", None));
        assert!(Config::default().membership.is_none());
        assert!(Config::parse("app_roles = ['app']", "t.toml").unwrap().membership.is_none());
    }

    #[test]
    fn the_membership_tenant_column_is_a_tenant_column() {
        let c = Config::parse("[membership]
table = 'crew'
user_column = 'account_ref'
tenant_column = 'team_id'
", "t.toml").unwrap();
        assert!(c.is_tenant_column("team_id") && c.is_tenant_column("tenant_id"));
        assert!(c.tenant_columns().iter().any(|x| x == "team_id") && c.tenant_columns().iter().any(|x| x == "tenant_id"));
        let c = Config::parse("tenant_columns = ['org']
[membership]
table = 'crew'
user_column = 'u'
tenant_column = 'team_id'
", "t.toml").unwrap();
        assert_eq!(c.tenant_columns(), vec!["org".to_string(), "team_id".to_string()]);
        assert!(!c.is_tenant_column("tenant_id"));
    }

    #[test]
    fn rejects_a_bad_membership_table() {
        let err = Config::parse("[membership]\ntable = 'crew'\nuser_column = 'a'\nuser_col = 'b'\n", "t.toml").unwrap_err().to_string();
        assert!(err.contains("user_col") && err.contains("t.toml"), "{err}");
        let err = Config::parse("[membership]\ntable = 'crew'\n", "t.toml").unwrap_err().to_string();
        assert!(err.contains("user_column"), "{err}");
        let err = Config::parse("[membership]\ntable = ''\nuser_column = 'a'\n", "t.toml").unwrap_err().to_string();
        assert!(err.contains("[membership] table"), "{err}");
        let err = Config::parse("[membership]\ntable = 'crew'\nuser_column = 'a'\ntenant_column = ' '\n", "t.toml").unwrap_err().to_string();
        assert!(err.contains("tenant_column"), "{err}");
    }

    #[test]
    fn arbitrary_input_never_panics() {
        // A tiny deterministic fuzz over byte soup and near-valid documents.
        let pieces = ["app_roles", "=", "[", "]", "'x'", "\n", "[[exempt]]", "[membership]", "user_column", "table", "reason", "\"", "{", "}", "1", "true", "é", "\0"];
        let mut seed: u64 = 0x9e3779b97f4a7c15;
        for _ in 0..5000 {
            let mut doc = String::new();
            for _ in 0..(seed % 12) {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                doc.push_str(pieces[(seed % pieces.len() as u64) as usize]);
                doc.push(' ');
            }
            let _ = Config::parse(&doc, "fuzz.toml");
        }
    }
}
