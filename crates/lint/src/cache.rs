//! The shadow cluster kept across `tenantguard lint` processes: after a lint, the stopped
//! cluster's data directory (committed prefix only: the tail was rolled back) is copied into
//! the cache; the next process whose files start with that prefix starts its cluster on a
//! copy of it and applies only the rest. Entries are immutable once renamed into place,
//! named `<settings key>-<prefix hash>-<files>`, and the three used last are kept.
//!
//! Soundness: an entry is used only when the new run's chained hash at the entry's last
//! committed file matches (same files, same order, same content), so the saved cluster's
//! roles and objects are exactly what that prefix creates; anything else starts fresh.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::Context;
use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::source::MigrationFile;

/// Bump when the layout of an entry or the meaning of its state changes.
const FORMAT: &str = "tenantguard-lint-cache-1";
/// Entries kept (each a tar of a data directory: ~100 MB for 2,000 files).
const KEEP: usize = 3;

/// What a saved cluster holds, as the shadow needs it to carry on.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Meta {
    pub key: String,
    /// Files `[0, committed)` are committed in `db`.
    pub committed: usize,
    pub hash: String,
    pub db: String,
    pub seq: u32,
    /// Role state after the committed files, and of the fresh cluster (for resets).
    pub roles: String,
    pub initial_roles: String,
}

pub struct Cache {
    dir: PathBuf,
    pub key: String,
}

/// A saved cluster to start from; the shared lock keeps pruning away while it is copied.
pub struct Hit {
    pub data: PathBuf,
    pub meta: Meta,
    _lock: Flock<File>,
}

impl Cache {
    /// `settings` is everything that shapes the saved state besides the files themselves.
    pub fn open(dir: &Path, settings: &str) -> anyhow::Result<Cache> {
        fs::create_dir_all(dir).with_context(|| format!("cannot create the lint cache directory {} (pass --cache-dir DIR or --no-cache)", dir.display()))?;
        let mut h = Sha256::new();
        h.update(FORMAT);
        h.update(settings);
        Ok(Cache { dir: dir.to_path_buf(), key: hex::encode(&h.finalize()[..8]) })
    }

    fn lock(&self, arg: FlockArg) -> anyhow::Result<Flock<File>> {
        let path = self.dir.join("lock");
        let file = File::options().create(true).truncate(false).write(true).open(&path).with_context(|| format!("cannot open {}", path.display()))?;
        Flock::lock(file, arg).map_err(|(_, e)| anyhow::anyhow!("cannot lock {}: {e}", path.display()))
    }

    /// The saved cluster with the longest prefix `files` still starts with.
    pub fn lookup(&self, files: &[MigrationFile]) -> anyhow::Result<Option<Hit>> {
        let lock = self.lock(FlockArg::LockShared)?;
        let mut best: Option<(PathBuf, Meta)> = None;
        for (path, meta) in self.entries() {
            let fits = meta.key == self.key && meta.committed > 0 && meta.committed <= files.len() && hex::encode(files[meta.committed - 1].chain_hash) == meta.hash;
            if fits && best.as_ref().is_none_or(|(_, b)| meta.committed > b.committed) {
                best = Some((path, meta));
            }
        }
        Ok(best.map(|(path, meta)| {
            // Mark it used (pruning keeps the most recently used).
            let _ = File::options().append(true).open(path.join("meta.json")).and_then(|f| f.set_modified(SystemTime::now()));
            Hit { data: path.join("data.tar"), meta, _lock: lock }
        }))
    }

    fn entries(&self) -> Vec<(PathBuf, Meta)> {
        let Ok(rd) = fs::read_dir(&self.dir) else { return Vec::new() };
        rd.flatten()
            .filter(|e| !e.file_name().to_string_lossy().starts_with('.') && e.path().is_dir())
            .filter_map(|e| {
                let meta: Meta = serde_json::from_slice(&fs::read(e.path().join("meta.json")).ok()?).ok()?;
                Some((e.path(), meta))
            })
            .collect()
    }

    /// Where `meta`'s entry lives, and whether it is already saved.
    pub fn entry_for(&self, meta: &Meta) -> (PathBuf, bool) {
        let path = self.dir.join(format!("{}-{}-{}", self.key, &meta.hash[..16.min(meta.hash.len())], meta.committed));
        let exists = path.join("meta.json").is_file();
        (path, exists)
    }

    /// A fresh staging directory for a new entry (renamed into place by [`Cache::publish`]).
    pub fn staging(&self) -> anyhow::Result<PathBuf> {
        let nanos = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        let path = self.dir.join(format!(".tmp-{}-{nanos}", std::process::id()));
        fs::create_dir_all(&path).with_context(|| format!("cannot create {}", path.display()))?;
        Ok(path)
    }

    /// Write the meta, move the staged entry into place and drop the least recently used.
    pub fn publish(&self, staged: &Path, meta: &Meta) -> anyhow::Result<()> {
        fs::write(staged.join("meta.json"), serde_json::to_vec(meta)?).context("writing the cache entry's meta.json")?;
        let (path, _) = self.entry_for(meta);
        if fs::rename(staged, &path).is_err() {
            // Another process saved the same prefix first; either copy is good.
            let _ = fs::remove_dir_all(staged);
        }
        self.prune()
    }

    fn prune(&self) -> anyhow::Result<()> {
        let _lock = self.lock(FlockArg::LockExclusive)?;
        let mut entries: Vec<(SystemTime, PathBuf)> = self.entries().into_iter().map(|(p, _)| (fs::metadata(p.join("meta.json")).and_then(|m| m.modified()).unwrap_or(SystemTime::UNIX_EPOCH), p)).collect();
        entries.sort_by_key(|e| std::cmp::Reverse(e.0));
        for (_, p) in entries.into_iter().skip(KEEP) {
            let _ = fs::remove_dir_all(p);
        }
        // Staging left by a process that died mid-save.
        for e in fs::read_dir(&self.dir).into_iter().flatten().flatten() {
            let old = e.metadata().and_then(|m| m.modified()).ok().and_then(|t| t.elapsed().ok()).is_some_and(|age| age.as_secs() > 3600);
            if e.file_name().to_string_lossy().starts_with(".tmp-") && old {
                let _ = fs::remove_dir_all(e.path());
            }
        }
        Ok(())
    }
}

/// Off under CI (`CI` set); else `target/tenantguard-lint-cache` of the enclosing cargo project, else `$XDG_CACHE_HOME/tenantguard/lint`
/// (or `~/.cache/tenantguard/lint`); `None` when there is nowhere sensible.
pub fn default_dir(start: &Path) -> Option<PathBuf> {
    // CI runners start from a clean checkout: saving would only cost time (pass --cache-dir to opt in).
    if std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false") {
        return None;
    }
    if let Some(t) = std::env::var_os("CARGO_TARGET_DIR") {
        return Some(PathBuf::from(t).join("tenantguard-lint-cache"));
    }
    let start = start.canonicalize().ok()?;
    if let Some(root) = start.ancestors().find(|d| d.join("Cargo.toml").is_file() && d.join("target").is_dir()) {
        return Some(root.join("target").join("tenantguard-lint-cache"));
    }
    let base = std::env::var_os("XDG_CACHE_HOME").map(PathBuf::from).filter(|p| p.is_absolute()).or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("tenantguard").join("lint"))
}
