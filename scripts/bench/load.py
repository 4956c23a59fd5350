#!/usr/bin/env python3
"""Deterministic bulk loader for the etcd-rescue benchmark database.

Talks to a running etcd (v3.5) through its grpc-gateway JSON API over
HTTP/1.1 keep-alive connections, from several processes x threads, using
only the Python standard library.

What it writes (defaults; scaled by --keys and --revisions):
  * 200,000 distinct keys in five groups:
      /registry/pods/ns-NN/pod-NNNNNN          50%
      /registry/configmaps/ns-NN/cm-NNNNNN     15%
      /registry/events/ns-NN/ev-NNNNNN         10%  (deleted by prefix later)
      /app/users/user-NNNNNN                   20%
      /app/sessions/sess-NNNNNN                 5%  (attached to leases)
  * phase "create": every key is put once;
  * phase "update-1": ~70% of the overwrites (skewed: half of them go to a
    hot 10% of the keys, half uniformly);
  * one DeleteRange of the whole /registry/events/ prefix;
  * phase "update-2": the remaining overwrites, never touching the deleted
    prefix, so ~10% of the keys are absent at the end.
  * a few leases (fixed IDs, long TTL); /app/sessions/ keys are attached to
    them round-robin.
Value sizes are log-uniform between 100 B and 4 KiB; values are printable
("<key>@<n>:" followed by filler from a seeded buffer).

Determinism: keys are split into a fixed number of shards, each with its own
seeded RNG and op list, so the final key -> value/version state depends only
on --seed/--keys/--revisions, not on the number of workers. The interleaving
of revisions across shards (i.e. which revision number a given put gets) does
depend on scheduling.

The final revision is about 1 + keys + updates + 1 (= --revisions).
"""

import argparse
import functools
import base64
import http.client
import json
import math
import multiprocessing as mp
import random
import sys
import threading
import time
import urllib.parse

NSHARDS = 64
NAMESPACES = 50
# (prefix template, share of keys)
GROUPS = [
    ("pods", 0.50),
    ("configmaps", 0.15),
    ("events", 0.10),
    ("users", 0.20),
    ("sessions", 0.05),
]
DELETED_PREFIX = "/registry/events/"
LEASE_BASE_ID = 0x7E5C0E0000000000  # fixed, deterministic lease IDs
LEASE_TTL = 10 * 365 * 24 * 3600  # long enough never to expire during use
UPDATE1_SHARE = 0.70
HOT_SHARE = 0.10
MIN_VAL, MAX_VAL = 100, 4096
FILLER_LEN = 1 << 20


def b64(b):
    return base64.b64encode(b).decode("ascii")


def group_counts(nkeys):
    counts = [int(nkeys * share) for _, share in GROUPS]
    counts[0] += nkeys - sum(counts)
    return counts


def key_name(group, j):
    ns = j % NAMESPACES
    if group == "pods":
        return "/registry/pods/ns-%02d/pod-%06d" % (ns, j)
    if group == "configmaps":
        return "/registry/configmaps/ns-%02d/cm-%06d" % (ns, j)
    if group == "events":
        return "/registry/events/ns-%02d/ev-%06d" % (ns, j)
    if group == "users":
        return "/app/users/user-%06d" % j
    if group == "sessions":
        return "/app/sessions/sess-%06d" % j
    raise ValueError(group)


@functools.lru_cache(maxsize=4)
def all_keys(nkeys):
    """List of (key, group) for global key index 0..nkeys-1."""
    out = []
    for (group, _), n in zip(GROUPS, group_counts(nkeys)):
        for j in range(n):
            out.append((key_name(group, j), group))
    return tuple(out)


def filler(seed):
    rng = random.Random("filler:%s" % seed)
    # printable filler: base64 of random bytes
    return base64.b64encode(rng.randbytes(FILLER_LEN * 3 // 4))


def value_len(rng):
    return int(math.exp(rng.uniform(math.log(MIN_VAL), math.log(MAX_VAL + 1))))


def shard_plan(seed, shard, nkeys, nupdates, nleases):
    """Deterministic op list of one shard.

    Returns dict phase -> list of (key, vlen, lease_id or 0)."""
    keys = all_keys(nkeys)
    mine = [k for i, k in enumerate(keys) if i % NSHARDS == shard]
    rng = random.Random("shard:%s:%d" % (seed, shard))
    rng.shuffle(mine)
    session_lease = {}
    sess = sorted(k for k, g in mine if g == "sessions")
    for i, k in enumerate(sess):
        # Round-robin over the global session index keeps leases balanced.
        idx = int(k.rsplit("-", 1)[1])
        session_lease[k] = LEASE_BASE_ID + (idx % nleases) if nleases else 0

    def op(k):
        return (k, value_len(rng), session_lease.get(k, 0))

    create = [op(k) for k, _ in mine]
    n_up = nupdates // NSHARDS + (1 if shard < nupdates % NSHARDS else 0)
    n_up1 = int(n_up * UPDATE1_SHARE)
    n_up2 = n_up - n_up1

    def updates(cands, n):
        hot = cands[: max(1, int(len(cands) * HOT_SHARE))]
        res = []
        for _ in range(n):
            pool = hot if rng.random() < 0.5 else cands
            res.append(op(pool[rng.randrange(len(pool))]))
        return res

    all_names = [k for k, _ in mine]
    surviving = [k for k, _ in mine if not k.startswith(DELETED_PREFIX)]
    up1 = updates(all_names, n_up1) if all_names else []
    up2 = updates(surviving, n_up2) if surviving else []
    return {"create": create, "update-1": up1, "update-2": up2}


class Client:
    def __init__(self, endpoint, timeout=30.0):
        u = urllib.parse.urlsplit(endpoint)
        self.host, self.port = u.hostname, u.port or 2379
        self.timeout = timeout
        self.conn = None

    def post(self, path, body, tries=5):
        last = None
        for attempt in range(tries):
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection(
                        self.host, self.port, timeout=self.timeout)
                self.conn.request("POST", path, body,
                                  {"Content-Type": "application/json"})
                resp = self.conn.getresponse()
                data = resp.read()
                if resp.status != 200:
                    raise RuntimeError("%s -> HTTP %d: %s" %
                                       (path, resp.status, data[:300]))
                return data
            except (OSError, http.client.HTTPException) as e:
                last = e
                try:
                    self.conn.close()
                except Exception:
                    pass
                self.conn = None
                time.sleep(0.2 * (attempt + 1))
        raise RuntimeError("%s failed after %d tries: %r" % (path, tries, last))


def worker_proc(endpoint, seed, shards, nkeys, nupdates, nleases, phase,
                nthreads, counter, errflag):
    fill = filler(seed)
    flen = len(fill)
    lock = threading.Lock()
    queue = list(shards)
    errors = []

    def run_thread():
        cli = Client(endpoint)
        local = 0
        try:
            while True:
                with lock:
                    if not queue or errors:
                        break
                    shard = queue.pop(0)
                plan = shard_plan(seed, shard, nkeys, nupdates, nleases)[phase]
                rng = random.Random("fill:%s:%s:%d" % (seed, phase, shard))
                for n, (key, vlen, lease) in enumerate(plan):
                    kb = key.encode()
                    head = b"%s@%s:%d:" % (kb, phase.encode(), n)
                    need = max(0, vlen - len(head))
                    off = rng.randrange(flen - need) if need < flen else 0
                    val = (head + fill[off:off + need])[:vlen]
                    if lease:
                        body = '{"key":"%s","value":"%s","lease":"%d"}' % (
                            b64(kb), b64(val), lease)
                    else:
                        body = '{"key":"%s","value":"%s"}' % (b64(kb), b64(val))
                    cli.post("/v3/kv/put", body)
                    local += 1
                    if local >= 200:
                        with counter.get_lock():
                            counter.value += local
                        local = 0
        except Exception as e:  # noqa: BLE001 - report and stop everyone
            with lock:
                errors.append(repr(e))
        finally:
            with counter.get_lock():
                counter.value += local

    threads = [threading.Thread(target=run_thread) for _ in range(nthreads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        print("worker error: %s" % errors[0], file=sys.stderr, flush=True)
        errflag.value = 1
        sys.exit(1)


def run_phase(args, phase, expected, timeout_s):
    counter = mp.Value("q", 0)
    errflag = mp.Value("i", 0)
    procs = []
    for p in range(args.procs):
        shards = [s for s in range(NSHARDS) if s % args.procs == p]
        pr = mp.Process(target=worker_proc, args=(
            args.endpoint, args.seed, shards, args.keys, args.updates,
            args.leases, phase, args.threads, counter, errflag))
        pr.start()
        procs.append(pr)
    t0 = time.monotonic()
    last_t, last_n = t0, 0
    deadline = t0 + timeout_s
    while any(pr.is_alive() for pr in procs):
        for pr in procs:
            pr.join(timeout=0.5)
        now = time.monotonic()
        if errflag.value:
            break
        if now > deadline:
            print("phase %s: timed out after %ds" % (phase, timeout_s),
                  file=sys.stderr, flush=True)
            errflag.value = 1
            break
        if now - last_t >= args.progress:
            n = counter.value
            print("  %-9s %9d/%d  %7.0f puts/s (now %7.0f)" % (
                phase, n, expected, n / (now - t0),
                (n - last_n) / (now - last_t)), flush=True)
            last_t, last_n = now, n
    if errflag.value:
        for pr in procs:
            if pr.is_alive():
                pr.terminate()
        for pr in procs:
            pr.join(timeout=10)
        raise SystemExit("load failed in phase %s" % phase)
    for pr in procs:
        if pr.exitcode != 0:
            raise SystemExit("worker exited with %s in phase %s" %
                             (pr.exitcode, phase))
    dt = time.monotonic() - t0
    n = counter.value
    if n != expected:
        raise SystemExit("phase %s: wrote %d puts, expected %d" %
                         (phase, n, expected))
    print("  %-9s %9d puts in %7.1fs = %7.0f puts/s" % (phase, n, dt, n / dt),
          flush=True)
    return n, dt


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--endpoint", required=True,
                    help="etcd client URL, e.g. http://127.0.0.1:23790")
    ap.add_argument("--seed", default="etcd-rescue-bench-1")
    ap.add_argument("--keys", type=int, default=200_000)
    ap.add_argument("--revisions", type=int, default=1_000_000,
                    help="target final revision (creates+updates+1 delete)")
    ap.add_argument("--leases", type=int, default=4)
    ap.add_argument("--procs", type=int, default=2)
    ap.add_argument("--threads", type=int, default=8,
                    help="threads (= keep-alive connections) per process")
    ap.add_argument("--progress", type=float, default=15.0,
                    help="seconds between progress lines")
    ap.add_argument("--phase-timeout", type=int, default=3600)
    ap.add_argument("--stats-out", help="write a JSON summary here")
    args = ap.parse_args()
    # revision 1 is the empty store; creates + updates + 1 deleterange
    args.updates = max(0, args.revisions - 1 - args.keys - 1)
    if args.keys < NSHARDS:
        ap.error("--keys must be >= %d" % NSHARDS)

    cli = Client(args.endpoint)
    t_all = time.monotonic()

    for i in range(args.leases):
        cli.post("/v3/lease/grant", json.dumps(
            {"TTL": str(LEASE_TTL), "ID": str(LEASE_BASE_ID + i)}))
    print("granted %d leases" % args.leases, flush=True)

    counts = group_counts(args.keys)
    n_events = counts[[g for g, _ in GROUPS].index("events")]
    total_puts = 0
    put_time = 0.0

    exp = {"create": args.keys}
    plans = [shard_plan(args.seed, s, args.keys, args.updates, args.leases)
             for s in range(NSHARDS)]
    exp["update-1"] = sum(len(p["update-1"]) for p in plans)
    exp["update-2"] = sum(len(p["update-2"]) for p in plans)
    del plans

    stats = {"phases": {}}
    for phase in ("create", "update-1"):
        n, dt = run_phase(args, phase, exp[phase], args.phase_timeout)
        total_puts += n
        put_time += dt
        stats["phases"][phase] = {"puts": n, "seconds": round(dt, 2)}

    start = DELETED_PREFIX.encode()
    end = start[:-1] + bytes([start[-1] + 1])
    t0 = time.monotonic()
    resp = json.loads(cli.post("/v3/kv/deleterange", json.dumps(
        {"key": b64(start), "range_end": b64(end)})))
    deleted = int(resp.get("deleted", 0))
    print("deleterange %s: deleted %d keys (expected %d) in %.2fs" % (
        DELETED_PREFIX, deleted, n_events, time.monotonic() - t0), flush=True)
    if deleted != n_events:
        raise SystemExit("unexpected deleterange count")

    n, dt = run_phase(args, "update-2", exp["update-2"], args.phase_timeout)
    total_puts += n
    put_time += dt
    stats["phases"]["update-2"] = {"puts": n, "seconds": round(dt, 2)}

    resp = json.loads(cli.post("/v3/kv/range", json.dumps(
        {"key": b64(b"\0"), "range_end": b64(b"\0"), "count_only": True})))
    rev = int(resp["header"]["revision"])
    live = int(resp.get("count", 0))
    wall = time.monotonic() - t_all
    stats.update({
        "seed": args.seed,
        "distinct_keys": args.keys,
        "deleted_prefix": DELETED_PREFIX,
        "deleted_keys": deleted,
        "live_keys": live,
        "leases": args.leases,
        "puts": total_puts,
        "put_seconds": round(put_time, 2),
        "puts_per_second": round(total_puts / put_time) if put_time else 0,
        "revision": rev,
        "load_seconds": round(wall, 2),
        "procs": args.procs,
        "threads_per_proc": args.threads,
    })
    print("done: %d puts in %.1fs (%.0f puts/s), revision %d, %d live keys" % (
        total_puts, put_time, stats["puts_per_second"], rev, live), flush=True)
    if args.stats_out:
        with open(args.stats_out, "w") as f:
            json.dump(stats, f, indent=1, sort_keys=True)
            f.write("\n")


if __name__ == "__main__":
    main()
