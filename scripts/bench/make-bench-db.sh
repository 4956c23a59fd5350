#!/usr/bin/env bash
# Generate the etcd-rescue benchmark data set with a real etcd (3.5.1 unless
# BENCH_ETCD_VERSION names another version under the binaries root).
#
# Usage: scripts/bench/make-bench-db.sh [--force] [DIR]
#   DIR defaults to ${ETCD_RESCUE_BENCH_DIR:-/var/tmp/etcd-rescue-bench} for
#   3.5.1 and to ${ETCD_RESCUE_BENCH_DIR:-/var/tmp/etcd-rescue-bench-<version>}
#   for any other version.
#
# Produces (all generated, never committed):
#   DIR/member-a/member/{snap/db,wal/...}  stopped single-member data dir
#   DIR/member-b, DIR/member-c             copies of member-a
#   DIR/snapshot.db                        `etcdctl snapshot save` output
#                                          (bbolt file + sha256 trailer)
#   DIR/manifest.txt                       revision, key count, sizes, timings
#   DIR/load-stats.json, DIR/etcd.log      loader summary, etcd's log
#
# Idempotent: does nothing if DIR/manifest.txt exists, unless --force.
#
# Tunables (environment):
#   BENCH_ETCD_VERSION (3.5.1)  the etcd that writes the data (3.5.1, 3.6.17,
#                        3.7.3, ...: <bin root>/<version>/{etcd,etcdctl,etcdutl});
#                        recorded as etcd_version in manifest.txt
#   BENCH_KEYS (200000)  BENCH_REVISIONS (1000000)  BENCH_SEED
#   BENCH_PROCS (2)  BENCH_THREADS (32)  BENCH_LEASES (4)
#   BENCH_FSYNC=1        run etcd with fsync (default: --unsafe-no-fsync;
#                        the files are identical, loading is ~2x faster)
#   ETCD_RESCUE_BIN_DIR  where <version>/{etcd,etcdctl,etcdutl} live
set -euo pipefail

ETCD_VERSION=${BENCH_ETCD_VERSION:-3.5.1}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE="$REPO/scripts/bench"

force=0
DIR=""
while [ $# -gt 0 ]; do
  case "$1" in
    --force) force=1 ;;
    -h|--help) sed -n '2,/^set -/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "unknown option: $1" >&2; exit 2 ;;
    *) [ -z "$DIR" ] || { echo "only one DIR allowed" >&2; exit 2; }; DIR=$1 ;;
  esac
  shift
done
if [ "$ETCD_VERSION" = 3.5.1 ]; then
  DIR=${DIR:-${ETCD_RESCUE_BENCH_DIR:-/var/tmp/etcd-rescue-bench}}
else
  DIR=${DIR:-${ETCD_RESCUE_BENCH_DIR:-/var/tmp/etcd-rescue-bench-$ETCD_VERSION}}
fi

KEYS=${BENCH_KEYS:-200000}
REVISIONS=${BENCH_REVISIONS:-1000000}
SEED=${BENCH_SEED:-etcd-rescue-bench-1}
PROCS=${BENCH_PROCS:-2}
THREADS=${BENCH_THREADS:-32}
LEASES=${BENCH_LEASES:-4}
QUOTA=$((8 * 1024 * 1024 * 1024))

log() { printf '[make-bench-db %s] %s\n' "$(date +%H:%M:%S)" "$*"; }
die() { log "ERROR: $*" >&2; exit 1; }

mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)

if [ -f "$DIR/manifest.txt" ] && [ "$force" = 0 ]; then
  made_by=$(sed -n 's/^etcd_version=//p' "$DIR/manifest.txt")
  [ "$made_by" = "$ETCD_VERSION" ] ||
    die "$DIR holds data written by etcd ${made_by:-?}, not $ETCD_VERSION (use another DIR, or --force to regenerate)"
  log "$DIR/manifest.txt exists; nothing to do (use --force to regenerate)"
  cat "$DIR/manifest.txt"
  exit 0
fi

# ---- binaries -------------------------------------------------------------
BIN_ROOT=${ETCD_RESCUE_BIN_DIR:-$REPO/.etcd-bin}
BIN="$BIN_ROOT/$ETCD_VERSION"
if [ ! -x "$BIN/etcd" ] || [ ! -x "$BIN/etcdctl" ] || [ ! -x "$BIN/etcdutl" ]; then
  if [ -x "$REPO/scripts/get-etcd.sh" ] || [ -f "$REPO/scripts/get-etcd.sh" ]; then
    log "etcd $ETCD_VERSION binaries missing in $BIN; running scripts/get-etcd.sh"
    ETCD_RESCUE_BIN_DIR=$BIN_ROOT bash "$REPO/scripts/get-etcd.sh"
  fi
fi
for b in etcd etcdctl etcdutl; do
  [ -x "$BIN/$b" ] || die "missing $BIN/$b (set ETCD_RESCUE_BIN_DIR or run scripts/get-etcd.sh)"
done
command -v python3 >/dev/null || die "python3 is required"

# ---- clean previous partial output (only our own paths) --------------------
rm -rf "$DIR/member-a" "$DIR/member-b" "$DIR/member-c" "$DIR/snapshot.db" \
       "$DIR/snapshot.db.part" "$DIR/snapshot.db.part.part" "$DIR/manifest.txt" "$DIR/load-stats.json" \
       "$DIR/etcd.log" "$DIR/etcd.pid" "$DIR/.meta" "$DIR/manifest.txt.part"

# ---- etcd lifecycle ---------------------------------------------------------
ETCD_PID=""
stop_etcd() {
  [ -n "$ETCD_PID" ] || return 0
  if kill -0 "$ETCD_PID" 2>/dev/null; then
    kill -TERM "$ETCD_PID" 2>/dev/null || true
    for _ in $(seq 1 600); do   # up to 60 s
      kill -0 "$ETCD_PID" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$ETCD_PID" 2>/dev/null; then
      log "etcd (pid $ETCD_PID) did not stop within 60s; sending SIGKILL"
      kill -KILL "$ETCD_PID" 2>/dev/null || true
    fi
  fi
  wait "$ETCD_PID" 2>/dev/null || true
  ETCD_PID=""
  rm -f "$DIR/etcd.pid"
}
trap stop_etcd EXIT
trap 'exit 130' INT TERM

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

start_etcd() {
  local attempt cport pport
  for attempt in 1 2 3; do
    cport=$(free_port); pport=$(free_port)
    [ "$cport" != "$pport" ] || continue
    ENDPOINT="http://127.0.0.1:$cport"
    local fsync_flag=(--unsafe-no-fsync)
    [ "${BENCH_FSYNC:-0}" = 1 ] && fsync_flag=()
    "$BIN/etcd" \
      --name bench-a \
      --data-dir "$DIR/member-a" \
      --listen-client-urls "$ENDPOINT" --advertise-client-urls "$ENDPOINT" \
      --listen-peer-urls "http://127.0.0.1:$pport" \
      --initial-advertise-peer-urls "http://127.0.0.1:$pport" \
      --initial-cluster "bench-a=http://127.0.0.1:$pport" \
      --initial-cluster-token etcd-rescue-bench \
      --initial-cluster-state new \
      --quota-backend-bytes "$QUOTA" \
      --auto-compaction-retention 0 \
      --log-level warn \
      "${fsync_flag[@]}" \
      >>"$DIR/etcd.log" 2>&1 &
    ETCD_PID=$!
    echo "$ETCD_PID" >"$DIR/etcd.pid"
    log "started etcd $ETCD_VERSION pid $ETCD_PID on $ENDPOINT (peer port $pport)"
    for _ in $(seq 1 300); do   # up to 30 s
      if ! kill -0 "$ETCD_PID" 2>/dev/null; then break; fi
      if "$BIN/etcdctl" --endpoints="$ENDPOINT" --dial-timeout=1s \
           --command-timeout=2s endpoint health >/dev/null 2>&1; then
        return 0
      fi
      sleep 0.1
    done
    log "etcd did not become healthy (attempt $attempt); see $DIR/etcd.log"
    stop_etcd
    rm -rf "$DIR/member-a"
  done
  die "could not start etcd"
}

ctl() { "$BIN/etcdctl" --endpoints="$ENDPOINT" --dial-timeout=5s "$@"; }

t_begin=$(date +%s.%N)
start_etcd

# ---- load -------------------------------------------------------------------
log "loading: $KEYS keys, target revision $REVISIONS, seed '$SEED', $PROCS procs x $THREADS threads"
t0=$(date +%s.%N)
timeout 3600 python3 "$HERE/load.py" --endpoint "$ENDPOINT" --seed "$SEED" \
  --keys "$KEYS" --revisions "$REVISIONS" --leases "$LEASES" \
  --procs "$PROCS" --threads "$THREADS" --stats-out "$DIR/load-stats.json"
t1=$(date +%s.%N)
load_s=$(python3 -c "print(round($t1 - $t0, 1))")
kill -0 "$ETCD_PID" 2>/dev/null || die "etcd died during the load; see $DIR/etcd.log"

META="$DIR/.meta"
rm -rf "$META"; mkdir -p "$META"
ctl --command-timeout=30s endpoint status -w json >"$META/endpoint-status.json"
ctl --command-timeout=30s lease list -w json >"$META/leases.json"

# ---- snapshot save -------------------------------------------------------------
log "etcdctl snapshot save"
t0=$(date +%s.%N)
# etcdctl writes to snapshot.db.part itself and renames when complete
ctl --command-timeout=900s snapshot save "$DIR/snapshot.db" \
  >"$META/snapshot-save.log" 2>&1 || { cat "$META/snapshot-save.log" >&2; die "snapshot save failed"; }
t1=$(date +%s.%N)
snap_s=$(python3 -c "print(round($t1 - $t0, 1))")

log "stopping etcd (pid $ETCD_PID)"
stop_etcd

# ---- member copies -------------------------------------------------------------
log "copying member-a to member-b, member-c"
t0=$(date +%s.%N)
cp -a --reflink=auto "$DIR/member-a" "$DIR/member-b"
cp -a --reflink=auto "$DIR/member-a" "$DIR/member-c"
t1=$(date +%s.%N)
copy_s=$(python3 -c "print(round($t1 - $t0, 1))")

# ---- facts for the manifest --------------------------------------------------
MEMBER_DB="$DIR/member-a/member/snap/db"
"$BIN/etcdutl" snapshot status "$DIR/snapshot.db" -w json >"$META/snapshot-status.json"
"$BIN/etcdutl" snapshot status "$MEMBER_DB" -w json >"$META/member-status.json"
snap_sha=$(sha256sum "$DIR/snapshot.db" | cut -d' ' -f1)
member_sha=$(sha256sum "$MEMBER_DB" | cut -d' ' -f1)
wal_bytes=$(du -sb "$DIR/member-a/member/wal" | cut -f1)
t_end=$(date +%s.%N)

python3 - "$DIR" <<EOF
import json, os, sys
d = sys.argv[1]
def meta(name):
    with open(os.path.join(d, ".meta", name)) as f:
        return json.load(f)
st = meta("endpoint-status.json")[0]["Status"]
ss = meta("snapshot-status.json")
ms = meta("member-status.json")
nleases = len(meta("leases.json").get("leases") or [])
ld = json.load(open(os.path.join(d, "load-stats.json")))
snap_size = os.path.getsize(os.path.join(d, "snapshot.db"))
member_size = os.path.getsize(os.path.join(d, "member-a/member/snap/db"))
GiB = 1024 ** 3
lines = [
    ("etcd_version", "$ETCD_VERSION"),
    ("generated_at", "$(date -u +%Y-%m-%dT%H:%M:%SZ)"),
    ("seed", ld["seed"]),
    ("revision", st["header"]["revision"]),
    ("live_keys", ld["live_keys"]),
    ("distinct_keys_written", ld["distinct_keys"]),
    ("deleted_prefix", ld["deleted_prefix"]),
    ("deleted_keys", ld["deleted_keys"]),
    ("leases", nleases),
    ("puts", ld["puts"]),
    ("snapshot_db", os.path.join(d, "snapshot.db")),
    ("snapshot_db_bytes", snap_size),
    ("snapshot_db_gib", "%.3f" % (snap_size / GiB)),
    ("snapshot_db_sha256", "$snap_sha"),
    ("snapshot_status", json.dumps(ss, sort_keys=True)),
    ("member_db", os.path.join(d, "member-a/member/snap/db")),
    ("member_db_bytes", member_size),
    ("member_db_gib", "%.3f" % (member_size / GiB)),
    ("member_db_sha256", "$member_sha"),
    ("member_status", json.dumps(ms, sort_keys=True)),
    ("member_wal_bytes", $wal_bytes),
    ("member_dirs", "member-a member-b member-c (b, c are copies of a)"),
    ("etcd_fsync", "${BENCH_FSYNC:-0}"),
    ("loader", "%d procs x %d threads, HTTP/JSON gateway" % (ld["procs"], ld["threads_per_proc"])),
    ("load_seconds", "$load_s"),
    ("put_seconds", ld["put_seconds"]),
    ("puts_per_second", ld["puts_per_second"]),
    ("snapshot_save_seconds", "$snap_s"),
    ("copy_seconds", "$copy_s"),
    ("total_seconds", round($t_end - $t_begin, 1)),
]
with open(os.path.join(d, "manifest.txt.part"), "w") as f:
    for k, v in lines:
        f.write("%s=%s\n" % (k, v))
if member_size < GiB:
    print("WARNING: member db is smaller than 1 GiB", file=sys.stderr)
EOF
mv "$DIR/manifest.txt.part" "$DIR/manifest.txt"
rm -rf "$META"
log "done"
cat "$DIR/manifest.txt"
