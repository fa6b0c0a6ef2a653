use std::fs;
use std::io::Write;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::{chown, Gid, Pid, Uid, User};

use crate::binaries::PgBinaries;
use crate::error::{io, TestkitError};

/// Settings for a throwaway cluster. Durability is off: these clusters hold nothing worth keeping.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    pub settings: Vec<(String, String)>,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        let s = |k: &str, v: &str| (k.to_string(), v.to_string());
        ClusterOptions {
            settings: vec![
                s("fsync", "off"),
                s("synchronous_commit", "off"),
                s("full_page_writes", "off"),
                s("shared_buffers", "32MB"),
                s("max_connections", "120"),
                s("logging_collector", "off"),
                s("log_min_messages", "warning"),
            ],
        }
    }
}

impl ClusterOptions {
    pub fn set(mut self, key: &str, value: &str) -> Self {
        self.settings.retain(|(k, _)| k != key);
        self.settings.push((key.to_string(), value.to_string()));
        self
    }
}

/// A running throwaway cluster; dropping it stops the server and deletes its files.
pub struct Cluster {
    root: tempfile::TempDir,
    child: Child,
    port: u16,
    bins: PgBinaries,
}

/// The OS user to run the server as: PostgreSQL refuses to run as root.
#[derive(Clone, Copy)]
struct RunAs {
    uid: Uid,
    gid: Gid,
}

fn run_as() -> Result<Option<RunAs>, TestkitError> {
    if !Uid::effective().is_root() {
        return Ok(None);
    }
    let name = std::env::var("TENANTGUARD_PG_USER").unwrap_or_else(|_| "postgres".to_string());
    let user = User::from_name(&name)
        .ok()
        .flatten()
        .ok_or(TestkitError::NoServerUser { user: name })?;
    Ok(Some(RunAs { uid: user.uid, gid: user.gid }))
}

fn server_command(program: PathBuf, who: Option<RunAs>) -> Command {
    let mut cmd = Command::new(program);
    if let Some(RunAs { uid, gid }) = who {
        // std clears root's supplementary groups before setuid when no groups are given.
        cmd.uid(uid.as_raw()).gid(gid.as_raw());
    }
    cmd
}

fn give_to(path: &Path, who: Option<RunAs>) -> Result<(), TestkitError> {
    if let Some(RunAs { uid, gid }) = who {
        chown(path, Some(uid), Some(gid)).map_err(|e| TestkitError::Io {
            what: format!("handing {} to the server user", path.display()),
            source: e.into(),
        })?;
    }
    Ok(())
}

/// initdb once per machine, server version and OS user; later clusters copy it.
fn template_dir(bins: &PgBinaries, who: Option<RunAs>) -> Result<PathBuf, TestkitError> {
    let uid = who.map(|w| w.uid.as_raw()).unwrap_or_else(|| Uid::effective().as_raw());
    let base = std::env::temp_dir();
    let dir = base.join(format!("tenantguard-pg{}-template-u{}", bins.version, uid));
    if dir.join("READY").is_file() {
        return Ok(dir);
    }
    let staging = base.join(format!("tenantguard-pg-staging-{}-{}", std::process::id(), nanos()));
    fs::create_dir_all(&staging).map_err(io("creating the template directory"))?;
    give_to(&staging, who)?;
    let data = staging.join("data");
    let out = server_command(bins.tool("initdb"), who)
        .args(["-D"])
        .arg(&data)
        .args(["-U", "postgres", "--auth=trust", "--no-sync", "--encoding=UTF8", "--locale=C", "--no-instructions"])
        .stdin(Stdio::null())
        .output()
        .map_err(io("running initdb"))?;
    if !out.status.success() {
        let _ = fs::remove_dir_all(&staging);
        return Err(TestkitError::Command {
            what: "initdb".into(),
            detail: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    fs::write(staging.join("READY"), b"").map_err(io("marking the template ready"))?;
    // Another process may have won the race; either template is good.
    if fs::rename(&staging, &dir).is_err() {
        let _ = fs::remove_dir_all(&staging);
    }
    Ok(dir)
}

fn nanos() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0)
}

fn free_port() -> Result<u16, TestkitError> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(io("finding a free port"))?;
    Ok(listener.local_addr().map_err(io("finding a free port"))?.port())
}

impl Cluster {
    /// Start a cluster with the default (fast, non-durable) settings.
    pub fn start() -> Result<Self, TestkitError> {
        Self::start_with(&ClusterOptions::default())
    }

    pub fn start_with(options: &ClusterOptions) -> Result<Self, TestkitError> {
        let bins = PgBinaries::discover()?;
        let who = run_as()?;
        let template = template_dir(&bins, who)?;
        let root = tempfile::Builder::new()
            .prefix("tenantguard-pg-")
            .tempdir()
            .map_err(io("creating the cluster directory"))?;
        give_to(root.path(), who)?;
        let data = root.path().join("data");
        let status = Command::new("cp")
            .args(["-a"])
            .arg(template.join("data"))
            .arg(&data)
            .status()
            .map_err(io("copying the template cluster"))?;
        if !status.success() {
            return Err(TestkitError::Command { what: "cp -a template".into(), detail: status.to_string() });
        }
        let sockets = root.path().join("sock");
        fs::create_dir_all(&sockets).map_err(io("creating the socket directory"))?;
        give_to(&sockets, who)?;

        let mut last_error = None;
        for _ in 0..5 {
            let port = free_port()?;
            match spawn_and_wait(&bins, who, root.path(), &data, &sockets, port, options) {
                Ok(child) => return Ok(Cluster { root, child, port, bins }),
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error.expect("at least one attempt"))
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn host(&self) -> &'static str {
        "127.0.0.1"
    }

    pub fn socket_dir(&self) -> PathBuf {
        self.root.path().join("sock")
    }

    pub fn binaries(&self) -> &PgBinaries {
        &self.bins
    }

    /// A URL for the bootstrap superuser `postgres` (trust authentication on loopback).
    pub fn url(&self, database: &str) -> String {
        self.role_url("postgres", None, database)
    }

    pub fn role_url(&self, role: &str, password: Option<&str>, database: &str) -> String {
        let enc = |s: &str| {
            s.bytes()
                .map(|b| match b {
                    b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
                    _ => format!("%{b:02X}"),
                })
                .collect::<String>()
        };
        let auth = match password {
            Some(p) => format!("{}:{}", enc(role), enc(p)),
            None => enc(role),
        };
        format!("postgres://{auth}@127.0.0.1:{}/{}", self.port, enc(database))
    }

    /// Run a multi-statement script with psql (ON_ERROR_STOP) as the superuser; returns stdout.
    pub fn psql(&self, database: &str, sql: &str) -> Result<String, TestkitError> {
        self.psql_as(&self.url(database), sql, &[])
    }

    /// Run a query and return its unaligned, tuples-only output.
    pub fn query(&self, database: &str, sql: &str) -> Result<String, TestkitError> {
        self.psql_as(&self.url(database), sql, &["-At"]).map(|s| s.trim_end().to_string())
    }

    pub fn psql_as(&self, url: &str, sql: &str, extra: &[&str]) -> Result<String, TestkitError> {
        let mut child = Command::new(self.bins.tool("psql"))
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url])
            .args(extra)
            .args(["-f", "-"])
            .env("PGCONNECT_TIMEOUT", "10")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(io("running psql"))?;
        child.stdin.take().expect("piped").write_all(sql.as_bytes()).map_err(io("sending SQL to psql"))?;
        let out = child.wait_with_output().map_err(io("waiting for psql"))?;
        if !out.status.success() {
            return Err(TestkitError::Command {
                what: "psql".into(),
                detail: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    pub fn create_database(&self, name: &str) -> Result<(), TestkitError> {
        self.psql("postgres", &format!("CREATE DATABASE \"{}\";", name.replace('"', "\"\"")))
            .map(|_| ())
    }

    /// The server log so far (for diagnosing a failing test).
    pub fn log(&self) -> String {
        fs::read_to_string(self.root.path().join("server.log")).unwrap_or_default()
    }
}

fn spawn_and_wait(
    bins: &PgBinaries,
    who: Option<RunAs>,
    root: &Path,
    data: &Path,
    sockets: &Path,
    port: u16,
    options: &ClusterOptions,
) -> Result<Child, TestkitError> {
    let log_path = root.join("server.log");
    let log = fs::File::create(&log_path).map_err(io("creating the server log"))?;
    give_to(&log_path, who)?;
    let mut cmd = server_command(bins.tool("postgres"), who);
    cmd.arg("-D").arg(data).arg("-p").arg(port.to_string());
    cmd.arg("-c").arg("listen_addresses=127.0.0.1");
    cmd.arg("-c").arg(format!("unix_socket_directories={}", sockets.display()));
    for (k, v) in &options.settings {
        cmd.arg("-c").arg(format!("{k}={v}"));
    }
    let err_log = log.try_clone().map_err(io("opening the server log"))?;
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::from(log))
        .stderr(Stdio::from(err_log))
        .spawn()
        .map_err(io("starting postgres"))?;
    let pid_file = data.join("postmaster.pid");
    let started = Instant::now();
    let limit = Duration::from_secs(30);
    loop {
        if let Ok(Some(_)) = child.try_wait() {
            let _ = fs::remove_file(&pid_file);
            return Err(not_ready(&log_path, started));
        }
        // Line 8 of postmaster.pid reads "ready" once connections are accepted.
        if let Ok(text) = fs::read_to_string(&pid_file) {
            if text.lines().nth(7).map(str::trim) == Some("ready") {
                return Ok(child);
            }
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return Err(not_ready(&log_path, started));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn not_ready(log: &Path, started: Instant) -> TestkitError {
    let text = fs::read_to_string(log).unwrap_or_default();
    let tail: Vec<&str> = text.lines().rev().take(5).collect();
    TestkitError::NotReady {
        seconds: started.elapsed().as_secs(),
        log: log.to_path_buf(),
        tail: tail.into_iter().rev().collect::<Vec<_>>().join(" | "),
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // Immediate shutdown: nothing in a throwaway cluster needs a checkpoint.
        let pid = Pid::from_raw(self.child.id() as i32);
        let _ = kill(pid, Signal::SIGQUIT);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
