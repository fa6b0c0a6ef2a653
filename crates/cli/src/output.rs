//! Where reports go: stdout, or a file written whole (temp file + rename, never a partial write).

use std::io::{IsTerminal, Write};
use std::path::Path;

use anyhow::Context;

pub fn color_wanted(to_file: bool) -> bool {
    !to_file && std::env::var_os("NO_COLOR").is_none() && std::io::stdout().is_terminal()
}

pub fn emit(text: &str, output: Option<&Path>) -> anyhow::Result<()> {
    match output {
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes()).context("writing to stdout")?;
            Ok(())
        }
        Some(path) => write_atomically(path, text.as_bytes()),
    }
}

pub fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let tmp = dir.join(format!(".{}.tmp-{}", path.file_name().and_then(|n| n.to_str()).unwrap_or("out"), std::process::id()));
    std::fs::write(&tmp, bytes).with_context(|| format!("cannot write {}; check that the directory exists and is writable", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot move the report into {}", path.display()))?;
    Ok(())
}
