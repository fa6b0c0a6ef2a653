use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{io, TestkitError};

/// Where the PostgreSQL server binaries live, and which major version they are.
#[derive(Debug, Clone)]
pub struct PgBinaries {
    pub bin_dir: PathBuf,
    pub version: String,
}

impl PgBinaries {
    /// `TENANTGUARD_PG_BIN` first, then Debian's versioned directories (newest first),
    /// then whatever `postgres` is on `PATH`.
    pub fn discover() -> Result<Self, TestkitError> {
        let mut candidates: Vec<PathBuf> = Vec::new();
        if let Ok(dir) = std::env::var("TENANTGUARD_PG_BIN") {
            candidates.push(PathBuf::from(dir));
        }
        let mut debian: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let v: u32 = e.file_name().to_str()?.parse().ok()?;
                Some((v, e.path().join("bin")))
            })
            .collect();
        debian.sort_by_key(|d| std::cmp::Reverse(d.0));
        candidates.extend(debian.into_iter().map(|(_, p)| p));
        if let Ok(path) = std::env::var("PATH") {
            candidates.extend(std::env::split_paths(&path));
        }
        for dir in &candidates {
            if dir.join("initdb").is_file() && dir.join("postgres").is_file() {
                let version = server_version(&dir.join("postgres"))?;
                return Ok(PgBinaries { bin_dir: dir.clone(), version });
            }
        }
        let looked = candidates.iter().take(4).map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ");
        Err(TestkitError::NoBinaries { looked })
    }

    pub fn tool(&self, name: &str) -> PathBuf {
        self.bin_dir.join(name)
    }
}

/// Major version from `postgres --version` ("postgres (PostgreSQL) 15.18 (Debian …)" -> "15").
fn server_version(postgres: &Path) -> Result<String, TestkitError> {
    let out = Command::new(postgres).arg("--version").output().map_err(io("running postgres --version"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let version = text
        .split_whitespace()
        .find(|w| w.chars().next().is_some_and(|c| c.is_ascii_digit()))
        .and_then(|w| w.split('.').next())
        .unwrap_or("unknown")
        .to_string();
    Ok(version)
}
