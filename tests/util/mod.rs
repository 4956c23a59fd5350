//! Shared test helpers: run the binary, find test data and real etcd binaries,
//! and guard that inputs are never changed.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

/// Output of one run of the binary.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub cmd: String,
}

impl Run {
    /// Panics with the whole run shown unless the exit code is `code`.
    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(self.code, code, "unexpected exit code\n{self}");
        self
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "command: {}\nexit: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.cmd, self.code, self.stdout, self.stderr
        )
    }
}

/// Path of the etcd-rescue binary under test.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_etcd-rescue"))
}

/// Runs etcd-rescue with `args` in a scrubbed environment.
pub fn run<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Run {
    let mut cmd = Command::new(bin());
    cmd.args(args)
        .env("NO_COLOR", "1")
        .env_remove("ETCD_RESCUE_BLESS");
    let shown = format!(
        "etcd-rescue {}",
        args.iter()
            .map(|a| a.as_ref().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    );
    let out = cmd.output().expect("run etcd-rescue");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        cmd: shown,
    }
}

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The committed test data (or `ETCD_RESCUE_TESTDATA` when set).
pub fn testdata() -> PathBuf {
    std::env::var_os("ETCD_RESCUE_TESTDATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("testdata"))
}

/// Whether real etcd binaries are required (CI): a missing binary then fails
/// the test instead of skipping it.
pub fn real_etcd_required() -> bool {
    std::env::var_os("ETCD_RESCUE_REQUIRE_REAL").is_some_and(|v| v == "1")
}

/// Directory of real etcd binaries of `version` (e.g. "3.5.1"), if installed
/// by scripts/get-etcd.sh. Prints a skip note when missing and not required.
pub fn etcd_bin_dir(version: &str) -> Option<PathBuf> {
    let root = std::env::var_os("ETCD_RESCUE_BIN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join(".etcd-bin"));
    let dir = root.join(version);
    if dir.join("etcd").is_file() {
        return Some(dir);
    }
    if real_etcd_required() {
        panic!(
            "real etcd {version} required but missing at {} (run scripts/get-etcd.sh)",
            dir.display()
        );
    }
    eprintln!(
        "SKIPPED: real etcd {version} not installed at {} (run scripts/get-etcd.sh)",
        dir.display()
    );
    None
}

/// SHA-256 of a file, hex.
pub fn sha256_file(p: &Path) -> String {
    let b = std::fs::read(p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()));
    Sha256::digest(&b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

/// Records the SHA-256 of every file under the given paths; `check` asserts
/// none changed (and none was added or removed).
pub struct InputGuard {
    before: Vec<(PathBuf, String)>,
}

fn files_under(p: &Path, out: &mut Vec<PathBuf>) {
    if p.is_dir() {
        let mut entries: Vec<_> = std::fs::read_dir(p)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for e in entries {
            files_under(&e, out);
        }
    } else {
        out.push(p.to_path_buf());
    }
}

impl InputGuard {
    pub fn new<P: AsRef<Path>>(paths: &[P]) -> Self {
        let mut files = Vec::new();
        for p in paths {
            files_under(p.as_ref(), &mut files);
        }
        InputGuard {
            before: files
                .into_iter()
                .map(|f| {
                    let h = sha256_file(&f);
                    (f, h)
                })
                .collect(),
        }
    }

    #[track_caller]
    pub fn check(&self) {
        for (f, h) in &self.before {
            assert!(f.exists(), "input {} disappeared", f.display());
            assert_eq!(&sha256_file(f), h, "input {} was modified", f.display());
        }
    }
}

/// Every `expected/<input>.status.<fmt>` golden under `root`: (input, fmt, golden).
pub fn status_goldens(root: &Path) -> Vec<(PathBuf, String, PathBuf)> {
    let mut files = Vec::new();
    files_under(root, &mut files);
    let mut out = Vec::new();
    for f in files {
        let Some(dir) = f.parent() else { continue };
        if dir.file_name().is_none_or(|n| n != "expected") {
            continue;
        }
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        let Some((input, fmt)) = name.rsplit_once(".status.") else {
            continue;
        };
        let input = dir.parent().unwrap().join(input);
        if input.exists() {
            out.push((input, fmt.to_string(), f));
        }
    }
    out
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A real etcd listening on 127.0.0.1, stopped by PID when dropped.
pub struct EtcdServer {
    pub child: std::process::Child,
    pub bin: PathBuf,
    pub data_dir: PathBuf,
    pub client_url: String,
}

impl EtcdServer {
    /// Starts etcd `version` with a data dir under `dir`; `None` (skipped) when
    /// the binaries are absent. Waits at most 20 s for health.
    pub fn start(version: &str, dir: &Path, extra: &[&str]) -> Option<EtcdServer> {
        let bin = etcd_bin_dir(version)?;
        let (cp, pp) = (free_port(), free_port());
        let client_url = format!("http://127.0.0.1:{cp}");
        let peer_url = format!("http://127.0.0.1:{pp}");
        let data_dir = dir.join("data");
        let log = std::fs::File::create(dir.join("etcd.log")).expect("log file");
        let child = Command::new(bin.join("etcd"))
            .args(["--name", "n1", "--data-dir"])
            .arg(&data_dir)
            .args([
                "--listen-client-urls",
                &client_url,
                "--advertise-client-urls",
                &client_url,
            ])
            .args([
                "--listen-peer-urls",
                &peer_url,
                "--initial-advertise-peer-urls",
                &peer_url,
            ])
            .args(["--initial-cluster", &format!("n1={peer_url}")])
            .args(extra)
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start etcd");
        let s = EtcdServer {
            child,
            bin,
            data_dir,
            client_url,
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            if s.etcdctl(&["endpoint", "health"]).status.success() {
                return Some(s);
            }
            assert!(
                std::time::Instant::now() < deadline,
                "etcd did not become healthy in 20 s"
            );
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    }

    /// Runs etcdctl against this server (API 3).
    pub fn etcdctl(&self, args: &[&str]) -> std::process::Output {
        Command::new(self.bin.join("etcdctl"))
            .env("ETCDCTL_API", "3")
            .args(["--endpoints", &self.client_url, "--command-timeout", "10s"])
            .args(args)
            .output()
            .expect("run etcdctl")
    }

    /// Stops the server by PID: SIGTERM, then SIGKILL after 10 s.
    pub fn stop(&mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for EtcdServer {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.stop();
        }
    }
}

/// A real etcd started on an existing (restored) data dir, as one member of
/// `initial_cluster`; its peer URL must be the one given there. Not waited
/// for: call [`EtcdServer::wait_healthy`] once every member is started (a
/// multi-member cluster has no quorum before).
pub struct MemberSpec<'a> {
    pub name: &'a str,
    pub data_dir: &'a Path,
    pub peer_url: &'a str,
    pub initial_cluster: &'a str,
    pub token: &'a str,
    pub log: &'a Path,
}

impl EtcdServer {
    /// Starts etcd `version` on `spec.data_dir` (which must already exist);
    /// `None` (skipped) when the binaries are absent.
    pub fn start_existing(version: &str, spec: &MemberSpec<'_>) -> Option<EtcdServer> {
        let bin = etcd_bin_dir(version)?;
        assert!(
            spec.data_dir.join("member").is_dir(),
            "{} is not a data dir",
            spec.data_dir.display()
        );
        let client_url = format!("http://127.0.0.1:{}", free_port());
        let log = std::fs::File::create(spec.log).expect("log file");
        let child = Command::new(bin.join("etcd"))
            .args(["--name", spec.name, "--data-dir"])
            .arg(spec.data_dir)
            .args([
                "--listen-client-urls",
                &client_url,
                "--advertise-client-urls",
                &client_url,
            ])
            .args([
                "--listen-peer-urls",
                spec.peer_url,
                "--initial-advertise-peer-urls",
                spec.peer_url,
            ])
            .args(["--initial-cluster", spec.initial_cluster])
            .args(["--initial-cluster-token", spec.token])
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start etcd");
        Some(EtcdServer {
            child,
            bin,
            data_dir: spec.data_dir.to_path_buf(),
            client_url,
        })
    }

    /// Waits (at most `secs`) until `endpoint health` succeeds; panics with
    /// `log` shown otherwise, or when etcd exits.
    pub fn wait_healthy(&mut self, secs: u64, log: &Path) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        loop {
            if self.etcdctl(&["endpoint", "health"]).status.success() {
                return;
            }
            let exited = matches!(self.child.try_wait(), Ok(Some(_)));
            if exited || std::time::Instant::now() >= deadline {
                let text = std::fs::read_to_string(log).unwrap_or_default();
                let tail: String = text
                    .lines()
                    .rev()
                    .take(30)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect::<Vec<_>>()
                    .join("\n");
                panic!(
                    "etcd on {} not healthy (exited: {exited}) within {secs} s; log tail:\n{tail}",
                    self.data_dir.display()
                );
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    }
}
