//! The probe: proves isolation by attacking it as the application role (placeholder).

pub mod cli {
    use std::process::ExitCode;

    /// `tenantguard probe` options.
    #[derive(clap::Args)]
    pub struct ProbeArgs {}

    pub async fn run(_args: ProbeArgs) -> anyhow::Result<ExitCode> {
        anyhow::bail!("tenantguard probe is not implemented yet")
    }
}
