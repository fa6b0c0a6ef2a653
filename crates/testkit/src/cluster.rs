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
    /// Where the cluster's directory is created (default: the system temp directory). A tmpfs
    /// such as `/dev/shm` pays off for DDL-heavy work: every relation is a file, and creating
    /// files on a busy disk filesystem cost more server time than the catalog work itself.
    pub parent_dir: Option<PathBuf>,
    /// Start from a copy of this data directory, or from this archive written by
    /// [`Cluster::stop_and_save`], instead of the initdb template.
    pub copy_from: Option<PathBuf>,
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
            parent_dir: None,
            copy_from: None,
        }
    }
}

impl ClusterOptions {
    pub fn set(mut self, key: &str, value: &str) -> Self {
        self.settings.retain(|(k, _)| k != key);
        self.settings.push((key.to_string(), value.to_string()));
        self
    }

    /// Create the cluster's directory under `dir` (see [`ClusterOptions::parent_dir`]).
    pub fn in_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.parent_dir = Some(dir.into());
        self
    }

    /// Start from a copy of a saved data directory (see [`ClusterOptions::copy_from`]).
    pub fn copy_of(mut self, data: impl Into<PathBuf>) -> Self {
        self.copy_from = Some(data.into());
        self
    }
}

/// A running throwaway cluster; dropping it stops the server and deletes its files.
pub struct Cluster {
    root: tempfile::TempDir,
    child: Child,
    port: u16,
    bins: PgBinaries,
    /// Set once the server has been stopped and reaped: Drop must not signal a reused pid.
    stopped: bool,
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
        let source = match &options.copy_from {
            Some(saved) => saved.clone(),
            None => template_dir(&bins, who)?.join("data"),
        };
        let mut builder = tempfile::Builder::new();
        builder.prefix("tenantguard-pg-");
        let root = match &options.parent_dir {
            Some(dir) => builder.tempdir_in(dir),
            None => builder.tempdir(),
        }
        .map_err(io("creating the cluster directory"))?;
        give_to(root.path(), who)?;
        let data = root.path().join("data");
        copy_tree(&source, &data)?;
        let sockets = root.path().join("sock");
        fs::create_dir_all(&sockets).map_err(io("creating the socket directory"))?;
        give_to(&sockets, who)?;

        let mut last_error = None;
        for _ in 0..5 {
            let port = free_port()?;
            match spawn_and_wait(&bins, who, root.path(), &data, &sockets, port, options) {
                Ok(child) => return Ok(Cluster { root, child, port, bins, stopped: false }),
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

    /// The data directory (inside the cluster's temporary directory).
    pub fn data_dir(&self) -> PathBuf {
        self.root.path().join("data")
    }

    /// Stop the server cleanly (a shutdown checkpoint, so the copy needs no recovery) and
    /// write its data directory to `dest` as one tar archive: saved clusters go to disk
    /// filesystems, where creating thousands of small files is what costs. WAL segments other
    /// than the checkpoint's (recycled ones) are left out. Start a cluster on it again with
    /// [`ClusterOptions::copy_of`]. The cluster's own files are deleted on drop, as always.
    pub fn stop_and_save(&mut self, dest: &Path) -> Result<(), TestkitError> {
        if !self.stopped {
            let pid = Pid::from_raw(self.child.id() as i32);
            // SIGINT: "fast" shutdown, which checkpoints; SIGQUIT would leave WAL to replay.
            let _ = kill(pid, Signal::SIGINT);
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                if let Ok(Some(_)) = self.child.try_wait() {
                    self.stopped = true;
                    break;
                }
                if Instant::now() > deadline {
                    return Err(TestkitError::Command { what: "stopping postgres for a save".into(), detail: "no exit within 60s".into() });
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        let mut cmd = Command::new("tar");
        cmd.arg("-cf").arg(dest).arg("-C").arg(self.root.path());
        for skip in self.unneeded_wal()? {
            cmd.arg(format!("--exclude=data/pg_wal/{skip}"));
        }
        run(cmd.arg("data"), "archiving the data directory")
    }

    /// WAL segments a cleanly stopped cluster does not need: all but the one holding the
    /// shutdown checkpoint (and the next, in case the record crosses into it).
    fn unneeded_wal(&self) -> Result<Vec<String>, TestkitError> {
        let out = Command::new(self.bins.tool("pg_controldata")).arg(self.data_dir()).env("LC_ALL", "C").output().map_err(io("running pg_controldata"))?;
        let text = String::from_utf8_lossy(&out.stdout);
        let Some(redo) = text.lines().find_map(|l| l.strip_prefix("Latest checkpoint's REDO WAL file:")).map(str::trim) else {
            return Ok(Vec::new()); // unknown output: keep everything
        };
        let segment = |n: &str| n.len() == 24 && n.bytes().all(|b| b.is_ascii_hexdigit());
        let mut names: Vec<String> = fs::read_dir(self.data_dir().join("pg_wal")).map_err(io("listing pg_wal"))?.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).filter(|n| segment(n)).collect();
        names.sort();
        let Some(at) = names.iter().position(|n| n == redo) else { return Ok(Vec::new()) };
        Ok(names.iter().enumerate().filter(|(i, _)| *i != at && *i != at + 1).map(|(_, n)| n.clone()).collect())
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

/// A saved archive is unpacked, a directory copied (`cp -a`): both keep the server user's
/// ownership and the 0700 mode PostgreSQL insists on.
fn copy_tree(from: &Path, to: &Path) -> Result<(), TestkitError> {
    if from.is_file() {
        let parent = to.parent().unwrap_or(Path::new("."));
        run(Command::new("tar").arg("-xf").arg(from).arg("-C").arg(parent), "unpacking a saved cluster")?;
        if to.file_name() != Some("data".as_ref()) {
            fs::rename(parent.join("data"), to).map_err(io("moving the unpacked data directory"))?;
        }
        return Ok(());
    }
    run(Command::new("cp").arg("-a").arg(from).arg(to), "copying a data directory")
}

fn run(cmd: &mut Command, what: &str) -> Result<(), TestkitError> {
    let out = cmd.stdin(Stdio::null()).output().map_err(io(what))?;
    if !out.status.success() {
        return Err(TestkitError::Command { what: what.to_string(), detail: String::from_utf8_lossy(&out.stderr).trim().to_string() });
    }
    Ok(())
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.stopped {
            return;
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_cluster_starts_again_with_its_data() {
        let parent = tempfile::tempdir().unwrap();
        let mut c = Cluster::start_with(&ClusterOptions::default().in_dir(parent.path())).unwrap();
        assert!(c.data_dir().starts_with(parent.path()));
        c.psql("postgres", "CREATE TABLE kept (id int); INSERT INTO kept VALUES (42);").unwrap();
        let saved = tempfile::tempdir().unwrap();
        let archive = saved.path().join("data.tar");
        c.stop_and_save(&archive).unwrap();
        drop(c);
        let again = Cluster::start_with(&ClusterOptions::default().copy_of(&archive)).unwrap();
        assert_eq!(again.query("postgres", "SELECT id FROM kept").unwrap(), "42");
    }
}
