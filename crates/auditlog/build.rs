//! Compiles the C capture trigger (ext/tenantguard_audit.c) against the local PostgreSQL's
//! server headers, for the tests and the benchmark, which point their throwaway clusters at
//! it (`dynamic_library_path`). Installing it for a real server is `make -C ext install`.
//! Without pg_config or the headers (postgresql-server-dev-15) the crate still builds:
//! `ext::built_library_dir()` is then None and says why.
use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=ext/tenantguard_audit.c");
    println!("cargo:rerun-if-env-changed=PG_CONFIG");
    match build() {
        Ok(dir) => println!("cargo:rustc-env=TG_AUDIT_EXT_DIR={}", dir.display()),
        Err(why) => {
            println!("cargo:warning=the C capture trigger was not built: {why}");
            println!("cargo:rustc-env=TG_AUDIT_EXT_MISSING={why}");
        }
    }
}

fn pg_config() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("PG_CONFIG") {
        return Some(PathBuf::from(p));
    }
    // Debian keeps one per major version; the newest wins, as testkit picks its server.
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin/pg_config")))
        .filter(|p| p.exists())
        .collect();
    found.sort();
    found.pop()
}

fn build() -> Result<PathBuf, String> {
    let pg_config = pg_config().ok_or("no pg_config found (set PG_CONFIG)")?;
    let ask = |flag: &str| -> Result<String, String> {
        let out = Command::new(&pg_config).arg(flag).output().map_err(|e| format!("{}: {e}", pg_config.display()))?;
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    let include = ask("--includedir-server")?;
    if !PathBuf::from(&include).join("postgres.h").exists() {
        return Err(format!("no server headers in {include}: install postgresql-server-dev-15 (scripts/ensure-deps does)"));
    }
    let out = PathBuf::from(std::env::var("OUT_DIR").map_err(|e| e.to_string())?).join("pgext");
    std::fs::create_dir_all(&out).map_err(|e| e.to_string())?;
    let so = out.join("tenantguard_audit.so");
    let status = Command::new(std::env::var("CC").unwrap_or_else(|_| "cc".into()))
        .args(["-O2", "-fPIC", "-shared", "-Wall", "-Wno-unused-parameter", "-fno-strict-aliasing", "-fwrapv"])
        .arg(format!("-I{include}"))
        .arg("ext/tenantguard_audit.c")
        .arg("-o")
        .arg(&so)
        .status()
        .map_err(|e| format!("cc: {e}"))?;
    if !status.success() {
        return Err("compiling ext/tenantguard_audit.c failed (see the build output)".into());
    }
    Ok(out)
}
