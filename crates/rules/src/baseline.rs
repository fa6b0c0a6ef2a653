//! Baselines: findings accepted on purpose, each with a justification, so that only
//! new findings fail CI. `tenantguard audit --write-baseline FILE` records the current
//! findings (with a placeholder reason to fill in); `--baseline FILE` applies it.

use serde::{Deserialize, Serialize};

use crate::finding::Finding;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Baseline {
    #[serde(default)]
    pub accept: Vec<Accepted>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Accepted {
    pub rule: String,
    pub object: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    pub reason: String,
}

#[derive(Debug, thiserror::Error)]
pub enum BaselineError {
    #[error("cannot read baseline {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("baseline {path} is invalid: {message}")]
    Invalid { path: String, message: String },
}

impl Baseline {
    pub fn load(path: &str) -> Result<Baseline, BaselineError> {
        let text = std::fs::read_to_string(path).map_err(|source| BaselineError::Read { path: path.into(), source })?;
        Baseline::parse(&text, path)
    }

    pub fn parse(text: &str, path: &str) -> Result<Baseline, BaselineError> {
        let b: Baseline = toml::from_str(text).map_err(|e| BaselineError::Invalid { path: path.into(), message: e.message().to_string() })?;
        if let Some(a) = b.accept.iter().find(|a| a.reason.trim().is_empty() || a.reason.starts_with("TODO")) {
            return Err(BaselineError::Invalid {
                path: path.into(),
                message: format!("the entry for {} on {} needs a justification in `reason`", a.rule, a.object),
            });
        }
        Ok(b)
    }

    pub fn accepts(&self, f: &Finding) -> bool {
        self.accept.iter().any(|a| a.rule == f.rule && a.object == f.object && (a.detail.is_none() || a.detail == f.detail))
    }

    /// Split findings into (new, accepted).
    pub fn split(&self, findings: Vec<Finding>) -> (Vec<Finding>, Vec<Finding>) {
        findings.into_iter().partition(|f| !self.accepts(f))
    }

    pub fn from_findings(findings: &[Finding]) -> Baseline {
        Baseline {
            accept: findings
                .iter()
                .map(|f| Accepted {
                    rule: f.rule.clone(),
                    object: f.object.clone(),
                    detail: f.detail.clone(),
                    reason: "TODO: say why this is acceptable".into(),
                })
                .collect(),
        }
    }

    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_default()
    }
}
