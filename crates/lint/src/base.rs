//! `--base REF`: the migrations as they were at a git ref, read with the `git` CLI (no
//! checkout, the working tree is untouched), and which files changed since.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context};

fn git(dir: &Path, args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new("git").arg("-C").arg(dir).args(args).stdin(Stdio::null()).output().context("running git (is it installed?)")?;
    if !out.status.success() {
        bail!("{}", String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim_end_matches('\n').to_string())
}

/// The repository root holding `dir`, and that `rev` names a commit there.
pub fn check(dir: &Path, rev: &str) -> anyhow::Result<PathBuf> {
    let root = git(dir, &["rev-parse", "--show-toplevel"]).map_err(|e| anyhow::anyhow!("--base needs a git repository, and {} is not in one ({e})", dir.display()))?;
    if rev.starts_with('-') {
        bail!("--base {rev}: a ref cannot start with '-'");
    }
    git(dir, &["rev-parse", "--verify", "--quiet", &format!("{rev}^{{commit}}")])
        .map_err(|_| anyhow::anyhow!("--base {rev}: no such commit, branch or tag here (in CI, fetch it first: git fetch origin {rev} --depth=1, or actions/checkout with fetch-depth: 0)"))?;
    Ok(PathBuf::from(root))
}

/// `*.sql` files directly in `dir` as of `rev`, with their bytes; empty when `dir` did not exist then.
pub fn files_at(dir: &Path, rev: &str) -> anyhow::Result<Vec<crate::source::SourceFile>> {
    let prefix = git(dir, &["rev-parse", "--show-prefix"])?;
    let listing = match git(dir, &["ls-tree", "--full-tree", "--name-only", &format!("{rev}:{prefix}")]) {
        Ok(l) => l,
        Err(_) => return Ok(Vec::new()),
    };
    let names: Vec<String> = listing.lines().filter(|n| n.to_ascii_lowercase().ends_with(".sql")).map(str::to_string).collect();
    if names.is_empty() {
        return Ok(Vec::new());
    }
    // One `git cat-file --batch` for every file: thousands of `git show` processes would take seconds.
    let mut child = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["cat-file", "--batch"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .context("running git cat-file")?;
    let mut stdin = child.stdin.take().context("git stdin")?;
    let request: String = names.iter().map(|n| format!("{rev}:{prefix}{n}\n")).collect();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(request.as_bytes());
    });
    let mut out = Vec::new();
    child.stdout.take().context("git stdout")?.read_to_end(&mut out)?;
    let _ = writer.join();
    let _ = child.wait();
    let mut files = Vec::new();
    let mut pos = 0;
    for name in names {
        let Some(nl) = out[pos..].iter().position(|&b| b == b'\n') else { break };
        let header = String::from_utf8_lossy(&out[pos..pos + nl]).to_string();
        pos += nl + 1;
        let parts: Vec<&str> = header.split(' ').collect();
        if parts.len() != 3 || parts[1] != "blob" {
            continue; // "missing" or a directory named *.sql
        }
        let size: usize = parts[2].parse().unwrap_or(0);
        let end = (pos + size).min(out.len());
        files.push((name, Ok(out[pos..end].to_vec())));
        pos = end + 1;
    }
    Ok(files)
}

/// Files changed since `rev` (committed, staged, unstaged or untracked), as absolute paths.
pub fn changed_since(root: &Path, rev: &str) -> anyhow::Result<Vec<PathBuf>> {
    let mut names: Vec<String> = git(root, &["diff", "--name-only", rev])?.lines().map(str::to_string).collect();
    names.extend(git(root, &["ls-files", "--others", "--exclude-standard"])?.lines().map(str::to_string));
    Ok(names.into_iter().map(|n| root.join(n)).collect())
}
