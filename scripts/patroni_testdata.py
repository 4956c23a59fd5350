#!/usr/bin/env python3
"""Builds testdata/patroni/: a real two-node Patroni cluster (PostgreSQL 15) on
real etcd, driven through bootstrap, a switchover and a failover, with the etcd
data saved at each point beside what `patronictl` showed at that moment.

Called by scripts/make-patroni-testdata.sh, which sets up the Python venv; see
there for the environment. Scenarios:

  v2-etcd-3.4.23   Patroni's `etcd` (v2 API) driver, etcd 3.4.23 --enable-v2;
                   each point is a copy of the member dir (WAL trimmed).
  v3-etcd-3.5.1    Patroni's `etcd3` driver, etcd 3.5.1;
                   each point is an `etcdctl snapshot save` file.

Points: 1-bootstrap (pg1 leads, TL 1), 2-switchover (pg2 leads, TL 2),
3-failover (pg2 killed with SIGKILL, pg1 took over after the leader key
expired, TL 3), 4-rejoined (pg2 back as a replica).

Every server listens on 127.0.0.1 on free ports, is stopped by PID, and every
wait is bounded. PostgreSQL refuses root: when run as root, Patroni (and so
PostgreSQL) runs as the unprivileged user $PATRONI_PG_USER via setpriv.
"""
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import etcd_testdata  # noqa: E402  (trim_wal)

SCOPE = "demo"
NAMESPACE = "/service/"
TTL = 20
LOOP_WAIT = 2


def log(msg):
    print("[patroni-testdata %s] %s" % (time.strftime("%H:%M:%S"), msg), flush=True)


def free_ports(n):
    socks, ports = [], []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
            ports.append(s.getsockname()[1])
    finally:
        for s in socks:
            s.close()
    return ports


def wait_for(what, cond, timeout):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            v = cond()
            if v:
                return v
        except Exception as e:  # the servers are still coming up
            last = e
        time.sleep(0.5)
    raise SystemExit("timed out after %ds waiting for %s (last error: %s)" % (timeout, what, last))


class Procs:
    """Every process started, stopped by PID at the end (TERM, then KILL)."""

    def __init__(self):
        self.procs = []

    def start(self, argv, logfile, **kw):
        f = open(logfile, "ab")
        p = subprocess.Popen(argv, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, **kw)
        self.procs.append(p)
        return p

    def stop(self, p, sig=signal.SIGTERM, timeout=30):
        if p.poll() is not None:
            return
        p.send_signal(sig)
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(10)

    def stop_all(self):
        for p in reversed(self.procs):
            self.stop(p)


class Scenario:
    def __init__(self, name, etcd_ver, api, bin_dir, pg_bin, venv, out_root, work, procs, user):
        self.name, self.etcd_ver, self.api = name, etcd_ver, api
        self.etcd_bin = os.path.join(bin_dir, etcd_ver)
        self.pg_bin, self.venv, self.procs, self.user = pg_bin, venv, procs, user
        self.out = os.path.join(out_root, name)
        self.work = os.path.join(work, name)
        os.makedirs(self.work)
        if user:
            os.chown(self.work, user.pw_uid, user.pw_gid)
        self.cport, self.pport = free_ports(2)
        self.etcd = None
        self.nodes = {}
        self.manifest = []

    # -- etcd -------------------------------------------------------------
    def start_etcd(self):
        data = os.path.join(self.work, "etcd")
        argv = [os.path.join(self.etcd_bin, "etcd"), "--name", "n1", "--data-dir", data,
                "--listen-client-urls", "http://127.0.0.1:%d" % self.cport,
                "--advertise-client-urls", "http://127.0.0.1:%d" % self.cport,
                "--listen-peer-urls", "http://127.0.0.1:%d" % self.pport,
                "--initial-advertise-peer-urls", "http://127.0.0.1:%d" % self.pport,
                "--initial-cluster", "n1=http://127.0.0.1:%d" % self.pport,
                "--snapshot-count", "100"]
        if self.api == "v2":
            argv.append("--enable-v2")
        self.etcd_data = data
        self.etcd = self.procs.start(argv, os.path.join(self.work, "etcd.log"))
        wait_for("etcd health", lambda: self.http_ok("/health"), 30)
        self.mf("etcd=%s flags=--snapshot-count 100%s" % (self.etcd_ver, " --enable-v2" if self.api == "v2" else ""))

    def http_ok(self, path):
        import http.client
        c = http.client.HTTPConnection("127.0.0.1", self.cport, timeout=5)
        c.request("GET", path)
        r = c.getresponse()
        r.read()
        return r.status == 200

    def etcdctl(self, *args):
        env = dict(os.environ, ETCDCTL_API="3")
        return subprocess.run([os.path.join(self.etcd_bin, "etcdctl"), "--endpoints",
                               "127.0.0.1:%d" % self.cport] + list(args),
                              env=env, check=True, capture_output=True, timeout=60).stdout

    # -- Patroni ----------------------------------------------------------
    def node_config(self, name):
        rest, pg = free_ports(2)
        d = os.path.join(self.work, name)
        os.makedirs(d)
        if self.user:
            os.chown(d, self.user.pw_uid, self.user.pw_gid)
        dcs_key = "etcd" if self.api == "v2" else "etcd3"
        cfg = {
            "scope": SCOPE,
            "namespace": NAMESPACE,
            "name": name,
            "log": {"dir": d, "level": os.environ.get("PATRONI_LOG_LEVEL", "INFO")},
            "restapi": {"listen": "127.0.0.1:%d" % rest, "connect_address": "127.0.0.1:%d" % rest},
            dcs_key: {"host": "127.0.0.1:%d" % self.cport, "protocol": "http"},
            "bootstrap": {
                "dcs": {
                    "ttl": TTL, "loop_wait": LOOP_WAIT, "retry_timeout": 5,
                    "maximum_lag_on_failover": 1048576,
                    "postgresql": {"use_pg_rewind": True, "use_slots": True,
                                   "parameters": {"wal_level": "replica", "hot_standby": "on",
                                                  "max_wal_senders": 5, "max_replication_slots": 5,
                                                  "wal_log_hints": "on", "shared_buffers": "16MB"}},
                },
                "initdb": [{"encoding": "UTF8"}, "data-checksums"],
            },
            "postgresql": {
                "listen": "127.0.0.1:%d" % pg,
                "connect_address": "127.0.0.1:%d" % pg,
                "data_dir": os.path.join(d, "pgdata"),
                "bin_dir": self.pg_bin,
                "pgpass": os.path.join(d, "pgpass"),
                "authentication": {
                    "replication": {"username": "replicator", "password": "rep-pass"},
                    "superuser": {"username": "postgres", "password": "su-pass"},
                    "rewind": {"username": "rewinder", "password": "rewind-pass"},
                },
                "parameters": {"unix_socket_directories": d},
                "pg_hba": ["local all all trust",
                           "host replication replicator 127.0.0.1/32 md5",
                           "host all all 127.0.0.1/32 md5"],
            },
            "tags": {"nofailover": False, "noloadbalance": False, "clonefrom": False, "nosync": False},
        }
        path = os.path.join(d, "patroni.yml")
        with open(path, "w") as f:
            json.dump(cfg, f, indent=1)  # JSON is YAML
        if self.user:
            os.chown(path, self.user.pw_uid, self.user.pw_gid)
        return {"name": name, "dir": d, "cfg": path, "pg": pg, "proc": None}

    def start_node(self, name):
        n = self.nodes.get(name) or self.node_config(name)
        self.nodes[name] = n
        argv = [os.path.join(self.venv, "bin", "patroni"), n["cfg"]]
        if self.user:
            argv = ["setpriv", "--reuid", str(self.user.pw_uid), "--regid", str(self.user.pw_gid),
                    "--init-groups", "--"] + argv
        env = {"PATH": "/usr/bin:/bin", "HOME": n["dir"], "LANG": "C.UTF-8"}
        n["proc"] = self.procs.start(argv, os.path.join(n["dir"], "stdout.log"), env=env, cwd=n["dir"])

    def ctl(self, *args):
        any_cfg = next(iter(self.nodes.values()))["cfg"]
        r = subprocess.run([os.path.join(self.venv, "bin", "patronictl"), "-c", any_cfg] + list(args),
                           capture_output=True, timeout=60, env=dict(os.environ, LANG="C.UTF-8"))
        if r.returncode != 0:
            raise RuntimeError("patronictl %s: %s %s" % (args, r.stdout, r.stderr))
        return r.stdout.decode()

    def ctl_many(self, *calls):
        """Several patronictl calls at once (each takes seconds to start)."""
        any_cfg = next(iter(self.nodes.values()))["cfg"]
        ps = [subprocess.Popen([os.path.join(self.venv, "bin", "patronictl"), "-c", any_cfg] + list(a),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               env=dict(os.environ, LANG="C.UTF-8")) for a in calls]
        out = []
        for a, p in zip(calls, ps):
            o, e = p.communicate(timeout=60)
            if p.returncode != 0:
                raise RuntimeError("patronictl %s: %s %s" % (a, o, e))
            out.append(o.decode())
        return tuple(out)

    def members(self):
        return json.loads(self.ctl("list", "-f", "json"))

    def state_is(self, leader, tl, replicas):
        """The cluster as patronictl shows it has `leader` running at timeline
        `tl` and every one of `replicas` streaming at `tl`."""
        ms = {m["Member"]: m for m in self.members()}
        lead = ms.get(leader)
        if not lead or lead.get("Role") != "Leader" or lead.get("State") != "running" or lead.get("TL") != tl:
            return False
        for r in replicas:
            m = ms.get(r)
            if not m or m.get("State") != "streaming" or m.get("TL") != tl:
                return False
        return set(ms) == {leader, *replicas}

    def psql(self, node, sql):
        n = self.nodes[node]
        subprocess.run([os.path.join(self.pg_bin, "psql"), "-h", "127.0.0.1", "-p", str(n["pg"]),
                        "-U", "postgres", "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-c", sql],
                       env=dict(os.environ, PGPASSWORD="su-pass", PGCONNECT_TIMEOUT="10"),
                       check=True, capture_output=True, timeout=60)

    # -- points -----------------------------------------------------------
    def mf(self, line):
        self.manifest.append(line)

    def snapshot_point(self, point):
        """Saves the etcd data and what patronictl shows, retrying until
        patronictl shows the same thing before and after the save (Patroni
        rewrites its keys every loop_wait)."""
        d = os.path.join(self.out, "points", point)
        for attempt in range(6):
            if os.path.exists(d):
                shutil.rmtree(d)
            os.makedirs(os.path.join(d, "expected"))
            before = self.ctl_many(("list", "-f", "json"), ("history", "-f", "json"), ("show-config",))
            now = time.time()
            if self.api == "v2":
                # A consistent copy of the member dir: etcd is paused (SIGSTOP) while copying.
                self.etcd.send_signal(signal.SIGSTOP)
                try:
                    shutil.copytree(os.path.join(self.etcd_data, "member"), os.path.join(d, "data", "member"),
                                    ignore=shutil.ignore_patterns("*.tmp"))
                finally:
                    self.etcd.send_signal(signal.SIGCONT)
                # Only the newest .snap is kept: etcd loads the newest one, and each
                # 3.4 .snap carries the v2 store's 1,000-event watch history (100+ KB).
                snapdir = os.path.join(d, "data", "member", "snap")
                snaps = sorted(f for f in os.listdir(snapdir) if f.endswith(".snap"))
                for f in snaps[:-1]:
                    os.remove(os.path.join(snapdir, f))
                for root, _, files in os.walk(os.path.join(d, "data")):
                    for f in files:
                        if f.endswith(".wal"):
                            etcd_testdata.trim_wal(os.path.join(root, f))
                # The v3 db of a v2-only cluster holds nothing of Patroni's; the
                # tool does not need it for the v2 store, but keep it (it is small).
            else:
                self.etcdctl("snapshot", "save", os.path.join(d, "snapshot.db"))
            after = self.ctl_many(("list", "-f", "json"), ("history", "-f", "json"), ("show-config",))
            if before == after:
                break
            log("%s/%s: patronictl output changed during the save, again (%d)" % (self.name, point, attempt))
        else:
            raise SystemExit("%s/%s: the cluster never held still" % (self.name, point))
        lst, hist, cfg = before
        exp = os.path.join(d, "expected")
        with open(os.path.join(exp, "patronictl-list.json"), "w") as f:
            f.write(lst)
        with open(os.path.join(exp, "patronictl-history.json"), "w") as f:
            f.write(hist)
        with open(os.path.join(exp, "patronictl-show-config.yaml"), "w") as f:
            f.write(cfg)
        import yaml  # in the venv (Patroni needs it)
        with open(os.path.join(exp, "patronictl-show-config.json"), "w") as f:
            json.dump(yaml.safe_load(cfg), f, indent=1, sort_keys=True)
            f.write("\n")
        with open(os.path.join(d, "now"), "w") as f:
            f.write("%d\n" % int(now))
        leader = [m["Member"] for m in json.loads(lst) if m.get("Role") == "Leader"]
        self.mf("point %s: saved at unix %d, leader %s" % (point, int(now), ",".join(leader) or "-"))
        log("%s: point %s saved (leader %s)" % (self.name, point, leader))

    def run(self):
        log("%s: starting etcd %s" % (self.name, self.etcd_ver))
        self.start_etcd()
        self.start_node("pg1")
        wait_for("pg1 to bootstrap as leader", lambda: self.state_is("pg1", 1, []), 90)
        self.start_node("pg2")
        wait_for("pg2 to stream from pg1", lambda: self.state_is("pg1", 1, ["pg2"]), 90)
        self.psql("pg1", "CREATE TABLE t AS SELECT g FROM generate_series(1, 20000) g")
        time.sleep(LOOP_WAIT * 2)
        self.snapshot_point("1-bootstrap")

        log("%s: switchover pg1 -> pg2" % self.name)
        self.ctl("switchover", "--leader", "pg1", "--candidate", "pg2", "--force")
        wait_for("pg2 to lead at TL 2 with pg1 streaming", lambda: self.state_is("pg2", 2, ["pg1"]), 90)
        self.psql("pg2", "INSERT INTO t SELECT g FROM generate_series(1, 20000) g")
        time.sleep(LOOP_WAIT * 2)
        self.snapshot_point("2-switchover")

        log("%s: failover: SIGKILL pg2's Patroni and PostgreSQL" % self.name)
        pg2 = self.nodes["pg2"]
        with open(os.path.join(pg2["dir"], "pgdata", "postmaster.pid")) as f:
            postmaster = int(f.readline())
        os.kill(pg2["proc"].pid, signal.SIGKILL)
        pg2["proc"].wait(10)
        os.kill(postmaster, signal.SIGQUIT)  # immediate shutdown, as a crashed host would leave it
        wait_for("pg1 to take over at TL 3", lambda: self.state_is("pg1", 3, []), TTL * 3 + 30)
        time.sleep(LOOP_WAIT * 2)
        self.snapshot_point("3-failover")

        log("%s: pg2 rejoins" % self.name)
        wait_for("pg2's postmaster to exit", lambda: not os.path.exists(os.path.join(pg2["dir"], "pgdata", "postmaster.pid")), 30)
        self.start_node("pg2")
        wait_for("pg2 to stream from pg1 at TL 3", lambda: self.state_is("pg1", 3, ["pg2"]), 120)
        time.sleep(LOOP_WAIT * 2)
        self.snapshot_point("4-rejoined")

        for n in self.nodes.values():
            self.procs.stop(n["proc"], timeout=60)
        self.procs.stop(self.etcd)
        with open(os.path.join(self.out, "manifest.txt"), "w") as f:
            f.write("\n".join(self.manifest) + "\n")


def main():
    # A TERM (e.g. from `timeout`) unwinds through the finally below, which
    # stops every server by PID.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("terminated"))
    bin_dir = os.environ["ETCD_RESCUE_BIN_DIR"]
    pg_bin = os.environ["PATRONI_PG_BIN"]
    venv = os.environ["PATRONI_VENV"]
    out_root = os.environ["PATRONI_OUT"]
    only = sys.argv[1:]
    user = None
    if os.geteuid() == 0:
        user = pwd.getpwnam(os.environ.get("PATRONI_PG_USER", "etcdrescue-pg"))
    work = tempfile.mkdtemp(prefix="patroni-testdata-")
    os.chmod(work, 0o755)
    procs = Procs()
    try:
        versions = subprocess.run([os.path.join(venv, "bin", "patroni"), "--version"],
                                  capture_output=True, timeout=30).stdout.decode().strip()
        pgv = subprocess.run([os.path.join(pg_bin, "postgres"), "--version"],
                             capture_output=True, timeout=30).stdout.decode().strip()
        for name, ver, api in (("v2-etcd-3.4.23", "3.4.23", "v2"), ("v3-etcd-3.5.1", "3.5.1", "v3")):
            if only and name not in only:
                continue
            out = os.path.join(out_root, name)
            if os.path.exists(out):
                shutil.rmtree(out)
            s = Scenario(name, ver, api, bin_dir, pg_bin, venv, out_root, work, procs, user)
            s.mf("made by scripts/make-patroni-testdata.sh; %s; %s" % (versions, pgv))
            s.mf("scope=%s namespace=%s ttl=%d loop_wait=%d" % (SCOPE, NAMESPACE, TTL, LOOP_WAIT))
            s.run()
    finally:
        procs.stop_all()
        if os.environ.get("PATRONI_KEEP_WORK"):
            log("work dir kept: %s" % work)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
