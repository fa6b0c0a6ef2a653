//! The command-line flags every command that reads `tenantguard.toml` shares (audit, lint,
//! probe, scaffold), and how they go on top of the file. Behind the `clap` feature, so the
//! rules stay free of clap for crates that only audit.

use std::path::{Path, PathBuf};

use crate::config::{Config, ConfigError};

/// Options shared by every command that audits a schema (audit, lint, probe, scaffold).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct TenantOptions {
    /// A role the application queries as (repeatable); assumed from the grants when absent.
    #[arg(long = "app-role", value_name = "ROLE")]
    pub app_roles: Vec<String>,
    /// A setting that carries the tenant (repeatable); detected from the policies when absent.
    #[arg(long = "tenant-setting", value_name = "NAME")]
    pub tenant_settings: Vec<String>,
    /// A column name that holds the tenant (repeatable); replaces the defaults.
    #[arg(long = "tenant-column", value_name = "NAME")]
    pub tenant_columns: Vec<String>,
    /// tenantguard.toml (default: ./tenantguard.toml when it exists).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// A config file that cannot be read or is invalid, pointing at where its format is documented.
/// It has no `source()`: the message already says what the underlying error said.
#[derive(Debug, thiserror::Error)]
#[error("{0}; see docs/configuration.md")]
pub struct LoadError(pub ConfigError);

impl TenantOptions {
    /// The config file, then the command-line flags on top of it.
    pub fn load(&self) -> Result<Config, LoadError> {
        let path = self.config.clone().or_else(|| Path::new("tenantguard.toml").is_file().then(|| PathBuf::from("tenantguard.toml")));
        let mut config = match &path {
            Some(p) => Config::load(&p.to_string_lossy()).map_err(LoadError)?,
            None => Config::default(),
        };
        if !self.app_roles.is_empty() {
            config.app_roles = self.app_roles.clone();
        }
        if !self.tenant_settings.is_empty() {
            config.tenant_settings = self.tenant_settings.clone();
        }
        if !self.tenant_columns.is_empty() {
            config.tenant_columns = self.tenant_columns.clone();
        }
        Ok(config)
    }
}

/// `--fail-on`: the lowest tier that makes the command exit 1.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailOn {
    Critical,
    Major,
    Minor,
    Never,
}

impl FailOn {
    pub fn threshold(self) -> Option<crate::Severity> {
        match self {
            FailOn::Critical => Some(crate::Severity::Critical),
            FailOn::Major => Some(crate::Severity::Major),
            FailOn::Minor => Some(crate::Severity::Minor),
            FailOn::Never => None,
        }
    }

    /// Whether any of `findings` is at or above the threshold (the command then exits 1).
    pub fn blocks(self, findings: &[crate::Finding]) -> bool {
        self.threshold().is_some_and(|t| findings.iter().any(|f| f.severity >= t))
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Wrapper {
        #[command(flatten)]
        tenant: TenantOptions,
    }

    #[test]
    fn flags_go_on_top_of_the_file() {
        let dir = std::env::temp_dir().join(format!("tenantguard-cli-options-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("tenantguard.toml");
        std::fs::write(&file, "app_roles = ['from_file']\ntenant_columns = ['org_id']\n").unwrap();
        let w = Wrapper::try_parse_from(["t", "--config", file.to_str().unwrap(), "--app-role", "a", "--app-role", "b", "--tenant-setting", "app.tenant"]).unwrap();
        let c = w.tenant.load().unwrap();
        assert_eq!(c.app_roles, vec!["a", "b"]);
        assert_eq!(c.tenant_settings, vec!["app.tenant"]);
        assert_eq!(c.tenant_columns, vec!["org_id"], "a flag not given keeps the file's value");

        std::fs::write(&file, "surprise = true\n").unwrap();
        let e = w.tenant.load().unwrap_err();
        assert!(e.to_string().ends_with("; see docs/configuration.md"), "{e}");
        assert!(std::error::Error::source(&e).is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
