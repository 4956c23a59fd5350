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

/// Runs etcd-rescue with `args`, `NO_COLOR` and `CLICOLOR_FORCE` removed and
/// then `env` set (for the colour rules).
pub fn run_env<S: AsRef<std::ffi::OsStr>>(args: &[S], env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(bin());
    cmd.args(args)
        .env_remove("NO_COLOR")
        .env_remove("CLICOLOR_FORCE")
        .env_remove("ETCD_RESCUE_BLESS");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let shown = format!(
        "{} etcd-rescue {}",
        env.iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" "),
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

/// The value of `key=` in a scenario's `manifest.txt` (first word only), the facts
/// make-testdata.sh recorded from the live etcd that wrote the files.
/// A missing manifest or field is a failure: the golden tests must not pass
/// by reading nothing.
#[track_caller]
pub fn manifest(scenario_dir: &Path, key: &str) -> String {
    manifest_field(scenario_dir, key).unwrap_or_else(|| {
        panic!(
            "{}/manifest.txt has no {key}= (regenerate with scripts/make-testdata.sh)",
            scenario_dir.display()
        )
    })
}

/// As [`manifest`], parsed as a number.
#[track_caller]
pub fn manifest_u64(scenario_dir: &Path, key: &str) -> u64 {
    let v = manifest(scenario_dir, key);
    v.parse()
        .unwrap_or_else(|e| panic!("{}: {key}={v}: {e}", scenario_dir.display()))
}

/// The value of `key=` in a scenario's `manifest.txt` (first word only), or
/// `None` when absent; prefer [`manifest`], which fails instead.
pub fn manifest_field(scenario_dir: &Path, key: &str) -> Option<String> {
    let text = std::fs::read_to_string(scenario_dir.join("manifest.txt")).ok()?;
    let prefix = format!("{key}=");
    text.lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .and_then(|v| v.split_whitespace().next())
        .map(str::to_string)
}

/// Whether real etcd binaries are required (CI): a missing binary then fails
/// the test instead of skipping it.
pub fn real_etcd_required() -> bool {
    std::env::var_os("ETCD_RESCUE_REQUIRE_REAL").is_some_and(|v| v == "1")
}

/// The newest etcd 3.5 release the tests run (built from etcd's Go modules by
/// scripts/get-etcd.sh). It has etcdutl's `--bump-revision`/`--mark-compacted`
/// and the 3.5.16+ rule for a tombstone at the compact revision.
pub const ETCD_35_NEWEST: &str = "3.5.36";

/// Skips the calling test visibly: prints `SKIPPED: <reason>` and appends the
/// line to the file named by `ETCD_RESCUE_SKIP_LOG` (scripts/test.sh counts
/// them and prints the count). Under `ETCD_RESCUE_REQUIRE_REAL=1` a skip is a
/// failure. Call it, then `return`.
#[track_caller]
pub fn skip(reason: &str) {
    let caller = std::panic::Location::caller();
    let test = std::thread::current().name().unwrap_or("?").to_string();
    if real_etcd_required() {
        panic!("{test}: would skip, but ETCD_RESCUE_REQUIRE_REAL=1: {reason}");
    }
    let line = format!("SKIPPED: {test} ({caller}): {reason}");
    eprintln!("{line}");
    if let Some(log) = std::env::var_os("ETCD_RESCUE_SKIP_LOG") {
        use std::io::Write;
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
        {
            let _ = writeln!(f, "{line}");
        }
    }
}

/// Root of the real etcd binaries: `ETCD_RESCUE_BIN_DIR`, else `<repo>/.etcd-bin`.
pub fn bin_root() -> PathBuf {
    std::env::var_os("ETCD_RESCUE_BIN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join(".etcd-bin"))
}

/// Directory of real etcd binaries of `version` (e.g. "3.5.1"), if installed
/// by scripts/get-etcd.sh; otherwise a visible [`skip`] (a failure when real
/// etcd is required).
#[track_caller]
pub fn etcd_bin_dir(version: &str) -> Option<PathBuf> {
    let dir = bin_root().join(version);
    if dir.join("etcd").is_file() {
        return Some(dir);
    }
    skip(&format!(
        "real etcd {version} not installed at {} (run scripts/get-etcd.sh)",
        dir.display()
    ));
    None
}

/// The Go bbolt `tx.Check()` oracle, or a visible [`skip`].
#[track_caller]
pub fn bbolt_check_bin() -> Option<PathBuf> {
    let p = bin_root().join("bbolt-check");
    if p.is_file() {
        return Some(p);
    }
    skip(&format!(
        "bbolt-check oracle missing at {} (run scripts/get-etcd.sh)",
        p.display()
    ));
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

/// A free TCP port on 127.0.0.1, never one this test process handed out
/// before: the kernel may give the port just released to the next bind, so
/// two calls in a row (client and peer port) could return the same one, and
/// etcd then fails with "address already in use" (seen in CI).
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    for _ in 0..1000 {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port");
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
    panic!("no port not handed out before in 1000 binds");
}

/// How to start one etcd member: the one place that builds etcd's command
/// line. Listens on 127.0.0.1 only; advertised URLs equal the listened ones.
pub struct Launch<'a> {
    pub name: &'a str,
    pub data_dir: &'a Path,
    pub client_port: u16,
    /// The peer URL as given in `initial_cluster`.
    pub peer_url: &'a str,
    /// `--initial-cluster`; `None`: this member alone.
    pub initial_cluster: Option<&'a str>,
    pub token: Option<&'a str>,
    /// `--initial-cluster-state new` (members started together).
    pub state_new: bool,
    /// Appended to (several starts may share it).
    pub log: &'a Path,
    pub extra: &'a [&'a str],
}

/// Spawns etcd from `bin` as `l` says; output goes to `l.log`.
pub fn spawn_etcd(bin: &Path, l: &Launch<'_>) -> std::process::Child {
    let client_url = format!("http://127.0.0.1:{}", l.client_port);
    let alone = format!("{}={}", l.name, l.peer_url);
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(l.log)
        .unwrap_or_else(|e| panic!("log {}: {e}", l.log.display()));
    let mut cmd = Command::new(bin.join("etcd"));
    cmd.args(["--name", l.name, "--data-dir"])
        .arg(l.data_dir)
        .args(["--listen-client-urls", &client_url])
        .args(["--advertise-client-urls", &client_url])
        .args(["--listen-peer-urls", l.peer_url])
        .args(["--initial-advertise-peer-urls", l.peer_url])
        .args(["--initial-cluster", l.initial_cluster.unwrap_or(&alone)]);
    if let Some(t) = l.token {
        cmd.args(["--initial-cluster-token", t]);
    }
    if l.state_new {
        cmd.args(["--initial-cluster-state", "new"]);
    }
    cmd.args(l.extra)
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("start {}: {e}", bin.join("etcd").display()))
}

/// The last `n` lines of a log file, for failure messages.
pub fn log_tail(log: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// A real single etcd member listening on 127.0.0.1, stopped by PID when dropped.
pub struct EtcdServer {
    pub child: std::process::Child,
    pub bin: PathBuf,
    pub data_dir: PathBuf,
    pub client_url: String,
    /// (client, peer) ports, to restart on the same URLs.
    pub ports: (u16, u16),
    pub log: PathBuf,
}

impl EtcdServer {
    /// Starts etcd `version` with a data dir `dir/data` (log `dir/etcd.log`);
    /// `None` (a visible skip) when the binaries are absent. Waits at most 30 s
    /// for health.
    #[track_caller]
    pub fn start(version: &str, dir: &Path, extra: &[&str]) -> Option<EtcdServer> {
        let data = dir.join("data");
        Self::start_on(version, &data, &dir.join("etcd.log"), None, extra)
    }

    /// Starts etcd `version` as member `n1` alone on `data_dir` (new or
    /// existing), on `ports` (client, peer) or free ones, logging to `log`.
    #[track_caller]
    pub fn start_on(
        version: &str,
        data_dir: &Path,
        log: &Path,
        ports: Option<(u16, u16)>,
        extra: &[&str],
    ) -> Option<EtcdServer> {
        let bin = etcd_bin_dir(version)?;
        let (cp, pp) = ports.unwrap_or_else(|| (free_port(), free_port()));
        let peer_url = format!("http://127.0.0.1:{pp}");
        let child = spawn_etcd(
            &bin,
            &Launch {
                name: "n1",
                data_dir,
                client_port: cp,
                peer_url: &peer_url,
                initial_cluster: None,
                token: None,
                state_new: false,
                log,
                extra,
            },
        );
        let mut s = EtcdServer {
            child,
            bin,
            data_dir: data_dir.to_path_buf(),
            client_url: format!("http://127.0.0.1:{cp}"),
            ports: (cp, pp),
            log: log.to_path_buf(),
        };
        s.wait_healthy(30, log);
        Some(s)
    }

    /// An etcdctl command (API 3) against this server, not yet run.
    pub fn ctl_cmd(&self) -> Command {
        let mut cmd = Command::new(self.bin.join("etcdctl"));
        cmd.env("ETCDCTL_API", "3")
            .args(["--endpoints", &self.client_url])
            .args(["--dial-timeout", "2s", "--command-timeout", "10s"]);
        cmd
    }

    /// Runs etcdctl against this server (API 3).
    pub fn etcdctl<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> std::process::Output {
        self.ctl_cmd()
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run etcdctl")
    }

    /// Runs etcdctl, panicking on failure; returns stdout.
    #[track_caller]
    pub fn ctl<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> String {
        let out = self.etcdctl(args);
        assert!(
            out.status.success(),
            "etcdctl {:?} failed: {}",
            args.iter()
                .map(|a| a.as_ref().to_string_lossy().into_owned())
                .collect::<Vec<_>>(),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs etcdctl with `input` on stdin (`txn`, or `put KEY` with a value
    /// argv cannot carry), panicking on failure.
    #[track_caller]
    pub fn ctl_stdin(&self, args: &[&str], input: &[u8]) {
        use std::io::Write;
        let mut ch = self
            .ctl_cmd()
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("run etcdctl");
        ch.stdin.take().unwrap().write_all(input).unwrap();
        assert!(
            ch.wait().unwrap().success(),
            "etcdctl {args:?} with stdin failed"
        );
    }

    /// Stops the server by PID: SIGTERM, then SIGKILL after 20 s.
    pub fn stop(&mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Kills the server by PID at once (SIGKILL), as a crash would.
    pub fn kill9(&mut self) {
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

/// One member of an [`EtcdCluster`].
pub struct ClusterMember {
    pub name: String,
    pub data_dir: PathBuf,
    pub client_url: String,
    pub peer_url: String,
    pub log: PathBuf,
    /// Added to a running cluster (`--initial-cluster-state existing`).
    joined: bool,
    child: Option<std::process::Child>,
}

/// A real multi-member etcd cluster on 127.0.0.1 (free ports), every member
/// stopped by PID when dropped.
pub struct EtcdCluster {
    pub bin: PathBuf,
    pub members: Vec<ClusterMember>,
    pub initial_cluster: String,
    pub token: String,
}

impl EtcdCluster {
    /// Starts `n` members `n1..` with data dirs `dir/<name>`; `None` (skipped)
    /// when the binaries are absent. Waits at most 30 s for health.
    pub fn start(version: &str, dir: &Path, n: usize, token: &str) -> Option<EtcdCluster> {
        let bin = etcd_bin_dir(version)?;
        std::fs::create_dir_all(dir).expect("cluster dir");
        let members: Vec<ClusterMember> = (1..=n)
            .map(|i| {
                let name = format!("n{i}");
                ClusterMember {
                    data_dir: dir.join(&name),
                    log: dir.join(format!("{name}.log")),
                    client_url: format!("http://127.0.0.1:{}", free_port()),
                    peer_url: format!("http://127.0.0.1:{}", free_port()),
                    name,
                    joined: false,
                    child: None,
                }
            })
            .collect();
        let initial_cluster = members
            .iter()
            .map(|m| format!("{}={}", m.name, m.peer_url))
            .collect::<Vec<_>>()
            .join(",");
        let mut c = EtcdCluster {
            bin,
            members,
            initial_cluster,
            token: token.into(),
        };
        for i in 0..n {
            c.launch(i);
        }
        for i in 0..n {
            c.wait_healthy(i);
        }
        Some(c)
    }

    /// Starts member `i` (again) with its flags; an existing data dir is reused.
    pub fn launch(&mut self, i: usize) {
        let m = &self.members[i];
        let client_port: u16 = m.client_url.rsplit(':').next().unwrap().parse().unwrap();
        let existing: &[&str] = if m.joined {
            &["--initial-cluster-state", "existing"]
        } else {
            &[]
        };
        let child = spawn_etcd(
            &self.bin,
            &Launch {
                name: &m.name,
                data_dir: &m.data_dir,
                client_port,
                peer_url: &m.peer_url,
                initial_cluster: Some(&self.initial_cluster),
                token: Some(&self.token),
                state_new: !m.joined,
                log: &m.log,
                extra: existing,
            },
        );
        self.members[i].child = Some(child);
    }

    /// Adds a learner through member `via` (`member add --learner`), starts
    /// it, and waits (at most 30 s) until it answers `endpoint status` (a
    /// learner fails `endpoint health`, which needs a linearizable read).
    /// Returns its index.
    pub fn add_learner(&mut self, via: usize) -> usize {
        let i = self.members.len();
        let name = format!("n{}", i + 1);
        let dir = self.members[via].data_dir.parent().unwrap().to_path_buf();
        let m = ClusterMember {
            data_dir: dir.join(&name),
            log: dir.join(format!("{name}.log")),
            client_url: format!("http://127.0.0.1:{}", free_port()),
            peer_url: format!("http://127.0.0.1:{}", free_port()),
            name,
            joined: true,
            child: None,
        };
        self.ctl(
            via,
            &[
                "member",
                "add",
                &m.name,
                "--learner",
                "--peer-urls",
                &m.peer_url,
            ],
        );
        self.initial_cluster = format!("{},{}={}", self.initial_cluster, m.name, m.peer_url);
        self.members.push(m);
        self.launch(i);
        self.wait_status(i);
        i
    }

    /// Waits (at most 30 s) until member `i` answers `endpoint status`.
    pub fn wait_status(&self, i: usize) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while !self.etcdctl(i, &["endpoint", "status"]).status.success() {
            assert!(
                std::time::Instant::now() < deadline,
                "etcd member {} did not answer in 30 s; log: {}",
                self.members[i].name,
                log_tail(&self.members[i].log, 30)
            );
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    }

    /// Waits (at most 30 s) until member `i` reports healthy.
    pub fn wait_healthy(&self, i: usize) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            if self.etcdctl(i, &["endpoint", "health"]).status.success() {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "etcd member {} did not become healthy in 30 s; log: {}",
                self.members[i].name,
                std::fs::read_to_string(&self.members[i].log).unwrap_or_default()
            );
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    }

    /// Runs etcdctl against member `i`, panicking on failure.
    #[track_caller]
    pub fn ctl(&self, i: usize, args: &[&str]) -> String {
        let out = self.etcdctl(i, args);
        assert!(
            out.status.success(),
            "etcdctl {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs etcdctl against member `i` (API 3).
    pub fn etcdctl(&self, i: usize, args: &[&str]) -> std::process::Output {
        Command::new(self.bin.join("etcdctl"))
            .env("ETCDCTL_API", "3")
            .args([
                "--endpoints",
                &self.members[i].client_url,
                "--command-timeout",
                "10s",
            ])
            .args(args)
            .output()
            .expect("run etcdctl")
    }

    /// Waits (at most 20 s) until every running member reports the same revision.
    pub fn wait_same_revision(&self) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let revs: Vec<String> = (0..self.members.len())
                .filter(|&i| self.members[i].child.is_some())
                .map(|i| {
                    let out = self.etcdctl(i, &["endpoint", "status", "-w", "json"]);
                    let s = String::from_utf8_lossy(&out.stdout).into_owned();
                    s.split("\"revision\":")
                        .nth(1)
                        .and_then(|t| t.split([',', '}']).next())
                        .unwrap_or("?")
                        .to_string()
                })
                .collect();
            if revs.windows(2).all(|w| w[0] == w[1]) && !revs.iter().any(|r| r == "?") {
                // Let followers apply and persist their last entries.
                std::thread::sleep(std::time::Duration::from_millis(300));
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "members did not converge: {revs:?}"
            );
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    }

    /// Stops member `i` by PID: SIGTERM, then SIGKILL after 10 s.
    pub fn stop(&mut self, i: usize) {
        let Some(mut child) = self.members[i].child.take() else {
            return;
        };
        let pid = child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Kills member `i` by PID at once (SIGKILL), as a crash would.
    pub fn kill9(&mut self, i: usize) {
        if let Some(mut child) = self.members[i].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops every running member, followers first is not guaranteed.
    pub fn stop_all(&mut self) {
        for i in 0..self.members.len() {
            self.stop(i);
        }
    }

    /// Member `i`'s id, from `member list` (hex).
    pub fn member_id_hex(&self, i: usize, name: &str) -> String {
        let out = self.ctl(i, &["member", "list", "-w", "simple"]);
        out.lines()
            .find(|l| l.split(", ").nth(2) == Some(name))
            .and_then(|l| l.split(", ").next())
            .unwrap_or_else(|| panic!("no member {name} in {out}"))
            .to_string()
    }
}

impl Drop for EtcdCluster {
    fn drop(&mut self) {
        self.stop_all();
    }
}

/// Copies a directory tree (data dirs of stopped members).
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let p = e.path();
        let t = to.join(e.file_name());
        if p.is_dir() {
            copy_tree(&p, &t);
        } else {
            std::fs::copy(&p, &t).unwrap();
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
    #[track_caller]
    pub fn start_existing(version: &str, spec: &MemberSpec<'_>) -> Option<EtcdServer> {
        let bin = etcd_bin_dir(version)?;
        assert!(
            spec.data_dir.join("member").is_dir(),
            "{} is not a data dir",
            spec.data_dir.display()
        );
        let cp = free_port();
        let pp: u16 = spec.peer_url.rsplit(':').next().unwrap().parse().unwrap();
        let child = spawn_etcd(
            &bin,
            &Launch {
                name: spec.name,
                data_dir: spec.data_dir,
                client_port: cp,
                peer_url: spec.peer_url,
                initial_cluster: Some(spec.initial_cluster),
                token: Some(spec.token),
                state_new: false,
                log: spec.log,
                extra: &[],
            },
        );
        Some(EtcdServer {
            child,
            bin,
            data_dir: spec.data_dir.to_path_buf(),
            client_url: format!("http://127.0.0.1:{cp}"),
            ports: (cp, pp),
            log: spec.log.to_path_buf(),
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
                panic!(
                    "etcd on {} not healthy (exited: {exited}) within {secs} s; log tail:\n{}",
                    self.data_dir.display(),
                    log_tail(log, 30)
                );
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    }
}

/// Every scenario dir `testdata/etcd-<version>/<scenario>/` (sorted), with its
/// version dir name (`etcd-3.5.1`).
pub fn scenarios() -> Vec<(String, PathBuf)> {
    let root = testdata();
    let mut out = Vec::new();
    let versions = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("no testdata at {}: {e}", root.display()));
    for v in versions {
        let v = v.unwrap().path();
        let vname = v.file_name().unwrap().to_string_lossy().into_owned();
        if !vname.starts_with("etcd-") || !v.is_dir() {
            continue;
        }
        for s in std::fs::read_dir(&v).unwrap() {
            let s = s.unwrap().path();
            if s.is_dir() {
                out.push((vname.clone(), s));
            }
        }
    }
    out.sort();
    out
}

/// The names of the `.snap` files in a member's `snap` dir, sorted (oldest
/// first). Names depend on timing, so tests discover them instead of naming them.
pub fn snap_names(snap_dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(snap_dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", snap_dir.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".snap"))
        .collect();
    names.sort();
    names
}
