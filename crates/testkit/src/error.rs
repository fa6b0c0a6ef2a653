use std::path::PathBuf;

/// Everything that can go wrong while starting a throwaway cluster, each with what to do.
#[derive(Debug, thiserror::Error)]
pub enum TestkitError {
    #[error("no PostgreSQL server binaries found (looked in {looked}); install postgresql-15 (apt-get install postgresql-15) or set TENANTGUARD_PG_BIN to the directory holding initdb and postgres")]
    NoBinaries { looked: String },
    #[error("running as root, but the OS user `{user}` to run PostgreSQL as does not exist; create it or set TENANTGUARD_PG_USER to an existing unprivileged user")]
    NoServerUser { user: String },
    #[error("{what} failed: {detail}")]
    Command { what: String, detail: String },
    #[error("PostgreSQL did not become ready within {seconds}s; its log ({log}) says: {tail}")]
    NotReady { seconds: u64, log: PathBuf, tail: String },
    #[error("I/O error while {what}: {source}")]
    Io { what: String, #[source] source: std::io::Error },
}

pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> TestkitError {
    let what = what.into();
    move |source| TestkitError::Io { what, source }
}
