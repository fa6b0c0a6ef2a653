//! Lint: the audit's rules on SQL migrations, before they ship (placeholder).

pub mod cli {
    use std::process::ExitCode;

    /// `tenantguard lint` options.
    #[derive(clap::Args)]
    pub struct LintArgs {}

    pub async fn run(_args: LintArgs) -> anyhow::Result<ExitCode> {
        anyhow::bail!("tenantguard lint is not implemented yet")
    }
}
