//! One emitter per format. All of them render the same [`Report`].

mod github;
pub mod html;
mod json;
mod markdown;
mod sarif;
mod text;

use tenantguard_rules::{Finding, Summary};

/// What every format renders.
pub struct Report<'a> {
    /// Database name (audit) or the migrations directory (lint).
    pub database: &'a str,
    pub findings: &'a [Finding],
    /// Findings a baseline accepted (counted, not listed).
    pub accepted: usize,
    /// Base URL of the rule pages; `<base>/<rule-id>.md`.
    pub docs_url: &'a str,
}

pub const DEFAULT_DOCS_URL: &str = "https://github.com/tenantguard/tenantguard/blob/main/docs/rules";

/// Version of the JSON contract; bumped on any incompatible change (docs/json-format.md).
pub const JSON_FORMAT_VERSION: u32 = 1;

/// Output formats; behind the `clap` feature also the `--format` value of audit and lint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Format {
    Text,
    Json,
    Sarif,
    Markdown,
    Github,
    Html,
}

impl Format {
    pub fn parse(s: &str) -> Option<Format> {
        match s {
            "text" => Some(Format::Text),
            "json" => Some(Format::Json),
            "sarif" => Some(Format::Sarif),
            "markdown" | "md" => Some(Format::Markdown),
            "github" => Some(Format::Github),
            "html" => Some(Format::Html),
            _ => None,
        }
    }
}

impl Report<'_> {
    pub fn summary(&self) -> Summary {
        Summary::of(self.findings)
    }

    pub fn rule_url(&self, rule: &str) -> String {
        format!("{}/{rule}.md", self.docs_url.trim_end_matches('/'))
    }
}

pub fn render(report: &Report, format: Format, color: bool) -> String {
    match format {
        Format::Text => text::render(report, color),
        Format::Json => json::render(report),
        Format::Sarif => sarif::render(report),
        Format::Markdown => markdown::render(report),
        Format::Github => github::render(report),
        Format::Html => html::render(report),
    }
}

/// Stable fingerprint of a finding (rule, object, detail), for SARIF and baselines.
pub fn fingerprint(f: &Finding) -> String {
    use sha2::Digest;
    hex::encode(&sha2::Sha256::digest(f.key().as_bytes())[..16])
}
