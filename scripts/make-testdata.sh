#!/usr/bin/env bash
# make-testdata.sh: generate real-etcd test inputs and golden outputs.
#
# Usage: scripts/make-testdata.sh [--out DIR] [--bin-dir DIR] [--only GLOB]... [--no-trim]
#                                 [--list] [-h]
#
#   --out DIR      output directory (default: <repo>/testdata). May be an empty temp dir.
#                  Each generated scenario directory DIR/etcd-<version>/<scenario> is
#                  replaced as a whole; nothing else in DIR is touched (README.md stays).
#   --bin-dir DIR  where scripts/get-etcd.sh installed the binaries
#                  (default: ${ETCD_RESCUE_BIN_DIR:-<repo>/.etcd-bin}).
#   --only GLOB    only generate scenarios whose id (etcd-<version>/<scenario>) matches the
#                  shell glob, e.g. --only 'etcd-3.5.1/*' or --only etcd-3.4.23/basic.
#                  May be repeated.
#   --no-trim      keep WAL files (and the preallocated wal/*.tmp) of the data-dir scenarios
#                  at their full preallocated size (64,000,000 bytes). By default each file
#                  under member/wal/ is cut at the end of its last record frame, which is
#                  the last non-zero byte rounded up to a multiple of 8 unless a record ends
#                  in zero bytes; only zero bytes are removed (etcd's WAL decoder treats EOF
#                  like the zero tail; every kept dir is checked by restarting etcd on a copy).
#   --list         print the scenario ids and exit.
#
# Needs: from scripts/get-etcd.sh, the versions the selected scenarios use: etcd 3.5.1
# (etcd, etcdctl, etcdutl), 3.4.23 (etcd, etcdctl), 3.6.17 and 3.7.3 (etcd, etcdctl,
# etcdutl), 3.5.36 (upgrade-3.5-3.6, cluster3-mixed); python3. bbolt-check and the bbolt
# CLI (bbolt-1.5.0/bbolt; also from get-etcd.sh) verify the outputs when present.
#
# 3.6.17/3.7.3 scenarios take their goldens from their own etcdutl/etcdctl, add
# etcdutl hashkv, live member list and `get --prefix ""`, wait for the storage version
# after start-up, and trim the zero tail of db files (see testdata/README.md). Extra
# scenarios: restore-ref (needs etcd-<v>/basic in the output dir first), upgrade-3.5-3.6,
# upgrade-3.6-3.7, cluster3-mixed, snapshotted.
#
# Layout written, per scenario:
#   etcd-<v>/<scenario>/snapshot.db       `etcdctl snapshot save` (db + sha256 trailer)
#   etcd-<v>/<scenario>/raw.db            byte copy of member/snap/db after a clean stop
#   etcd-<v>/<scenario>/manifest.txt      key=value facts (revisions, counts, ids, sizes)
#   etcd-<v>/<scenario>/expected/<f>.status.<fmt>   stdout of etcdutl 3.5.1
#                                         `snapshot status <f> -w <fmt>`, fmt in
#                                         simple table json fields
#   etcd-<v>/<scenario>/expected/<f>.status-etcdctl-3.4.23.<fmt>   (3.4.23 inputs only)
#                                         stdout of ETCDCTL_API=3 etcdctl 3.4.23 snapshot status
#   etcd-<v>/<scenario>/expected/live.endpoint-status.json   etcdctl endpoint status -w json
#   etcd-<v>/<scenario>/expected/live.hashkv.json            etcdctl endpoint hashkv -w json
#   etcd-<v>/<scenario>/expected/live.hashkv-rev<N>.json     (basic) etcdctl endpoint hashkv --rev N
#   etcd-<v>/<scenario>/expected/live.hash.json              POST /v3/maintenance/hash
# The live.* files are taken from the running server just before `snapshot save`.
#
# Data-dir scenarios (single-node, cluster3, v2-patroni, wal-ahead) keep whole member
# data dirs instead: etcd-<v>/<scenario>/data/<member>/member/{snap,wal}, plus goldens
# in expected/ (see testdata/README.md for each one).
#
# Every etcd listens on 127.0.0.1 on free ports; it is stopped by PID (SIGTERM, bounded
# wait, SIGKILL as a last resort which makes the script fail); every wait is bounded;
# the work directory is removed by an EXIT trap and no process is left running.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN_DIR=${ETCD_RESCUE_BIN_DIR:-$REPO/.etcd-bin}
OUT=$REPO/testdata
ONLY=()
LIST=0
TRIM=1
PYTHON=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null || command -v python3)
HELPER=("$PYTHON" "$REPO/scripts/etcd_testdata.py")

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --out) OUT=${2:?--out needs a directory}; shift ;;
    --out=*) OUT=${1#--out=} ;;
    --bin-dir) BIN_DIR=${2:?--bin-dir needs a directory}; shift ;;
    --bin-dir=*) BIN_DIR=${1#--bin-dir=} ;;
    --only) ONLY+=("${2:?--only needs a glob}"); shift ;;
    --only=*) ONLY+=("${1#--only=}") ;;
    --list) LIST=1 ;;
    --no-trim) TRIM=0 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "make-testdata.sh: unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done

# Scenario ids, in generation order.
SCENARIOS=(
  etcd-3.5.1/empty
  etcd-3.5.1/basic
  etcd-3.5.1/auth
  etcd-3.5.1/large
  etcd-3.4.23/basic
  etcd-3.4.23/auth
  etcd-3.4.23/large
  etcd-3.5.1/single-node
  etcd-3.5.1/cluster3
  etcd-3.4.23/v2-patroni
  etcd-3.5.1/wal-ahead
  etcd-3.6.17/empty
  etcd-3.6.17/basic
  etcd-3.6.17/auth
  etcd-3.6.17/large
  etcd-3.6.17/single-node
  etcd-3.6.17/cluster3
  etcd-3.6.17/wal-ahead
  etcd-3.6.17/restore-ref
  etcd-3.6.17/upgrade-3.5-3.6
  etcd-3.6.17/cluster3-mixed
  etcd-3.7.3/empty
  etcd-3.7.3/basic
  etcd-3.7.3/auth
  etcd-3.7.3/large
  etcd-3.7.3/single-node
  etcd-3.7.3/cluster3
  etcd-3.7.3/wal-ahead
  etcd-3.7.3/restore-ref
  etcd-3.7.3/upgrade-3.6-3.7
  etcd-3.7.3/cluster3-mixed
  etcd-3.7.3/snapshotted
)

if [[ $LIST == 1 ]]; then printf '%s\n' "${SCENARIOS[@]}"; exit 0; fi

log() { echo "make-testdata: $*"; }
die() { echo "make-testdata: ERROR: $*" >&2; exit 1; }

# Environment variables named ETCD_* / ETCDCTL_* would change etcd's or etcdctl's
# configuration: drop them (ours are ETCD_RESCUE_*).
while read -r v; do
  case "$v" in ETCD_RESCUE_*) ;; ETCD_*|ETCDCTL_*) unset "$v" ;; esac
done < <(compgen -e)

BIN3423=$BIN_DIR/3.4.23
BBOLT_CHECK=$BIN_DIR/bbolt-check

# ver_ge VERSION MAJOR.MINOR: VERSION is MAJOR.MINOR or newer (3.6.17 >= 3.6)
ver_ge() {
  local a=$1 b=$2
  local am=${a%%.*} bm=${b%%.*} ar=${a#*.} br=${b#*.}
  ar=${ar%%.*}; br=${br%%.*}
  ((am > bm || (am == bm && ar >= br)))
}
# minor_of 3.6.17 -> 3.6
minor_of() { local r=${1#*.}; echo "${1%%.*}.${r%%.*}"; }

# utl_ver VERSION: whose etcdutl makes the goldens for files written by VERSION: its own,
# except 3.4 (no etcdutl), whose goldens come from 3.5.1's.
utl_ver() { if ver_ge "$1" 3.5; then echo "$1"; else echo 3.5.1; fi; }
utl() { echo "$BIN_DIR/$(utl_ver "$1")/etcdutl"; }

# versions the selected scenarios run (upgrade/mixed scenarios need the older one too)
needed_versions() {
  local id v
  for id in "${SCENARIOS[@]}"; do
    selected "$id" || continue
    v=${id%%/*}; v=${v#etcd-}
    echo "$v"; utl_ver "$v"
    case "${id#*/}" in
      upgrade-3.5-3.6) echo 3.5.36 ;;
      upgrade-3.6-3.7) echo 3.6.17 ;;
      cluster3-mixed) if [[ $v == 3.6.* ]]; then echo 3.5.36; else echo 3.6.17; fi ;;
    esac
  done | sort -u
}
if [[ ! -x "$BBOLT_CHECK" ]]; then
  log "WARNING: $BBOLT_CHECK not found; structural verification of outputs is skipped"
  BBOLT_CHECK=
fi

selected() {
  local id=$1 g
  [[ ${#ONLY[@]} -eq 0 ]] && return 0
  for g in "${ONLY[@]}"; do
    # shellcheck disable=SC2053
    [[ $id == $g ]] && return 0
  done
  return 1
}

for v in $(needed_versions); do
  for f in etcd etcdctl; do
    [[ -x "$BIN_DIR/$v/$f" ]] || die "missing $BIN_DIR/$v/$f: run scripts/get-etcd.sh first (or pass --bin-dir)"
  done
done

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

# Work dir on tmpfs when possible (fsync is cheap there, so 30k puts take seconds).
WORK=
if [[ -d /dev/shm && -w /dev/shm ]]; then WORK=$(mktemp -d /dev/shm/etcd-testdata.XXXXXX 2>/dev/null || true); fi
[[ -n "$WORK" ]] || WORK=$(mktemp -d "${TMPDIR:-/tmp}/etcd-testdata.XXXXXX")
mkdir -p "$WORK/logs"

PIDS=()
VERIFY_FLAGS=()

# alive PID: process exists and is not a zombie.
alive() {
  local st
  [[ -r /proc/$1/stat ]] || return 1
  st=$(sed -e 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
  [[ -n "$st" && "$st" != Z && "$st" != X ]]
}

forget_pid() {
  local p keep=()
  for p in "${PIDS[@]}"; do [[ "$p" == "$1" ]] || keep+=("$p"); done
  PIDS=("${keep[@]}")
}

# stop_pid PID: SIGTERM, wait up to 30 s, then SIGKILL (returns 1 in that case).
stop_pid() {
  local pid=$1 i rc=0
  if alive "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 300; i++)); do alive "$pid" || break; sleep 0.1; done
    if alive "$pid"; then
      echo "make-testdata: pid $pid did not stop within 30 s of SIGTERM; sending SIGKILL" >&2
      kill -KILL "$pid" 2>/dev/null || true
      for ((i = 0; i < 100; i++)); do alive "$pid" || break; sleep 0.1; done
      rc=1
    fi
  fi
  wait "$pid" 2>/dev/null || true
  forget_pid "$pid"
  return $rc
}

cleanup() {
  local rc=$? p
  trap - EXIT
  for p in "${PIDS[@]}"; do stop_pid "$p" || true; done
  rm -rf "$WORK"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------
# server handling

# start_node VERSION NAME DATADIR CLIENT_PORT PEER_PORT ADV_CLIENT_URL ADV_PEER_URL
#            INITIAL_CLUSTER [extra etcd flags...]
# Sets NODE_PID.
start_node() {
  local ver=$1 name=$2 data=$3 cport=$4 pport=$5 advc=$6 advp=$7 icluster=$8
  shift 8
  local logf=$WORK/logs/$ver-$name-$(basename "$(dirname "$data")")-$RANDOM.log
  "$BIN_DIR/$ver/etcd" --name "$name" --data-dir "$data" \
    --listen-client-urls "http://127.0.0.1:$cport" --advertise-client-urls "$advc" \
    --listen-peer-urls "http://127.0.0.1:$pport" --initial-advertise-peer-urls "$advp" \
    --initial-cluster "$icluster" --initial-cluster-token etcd-rescue-testdata \
    --initial-cluster-state new "$@" >"$logf" 2>&1 &
  NODE_PID=$!
  PIDS+=("$NODE_PID")
  LAST_LOG=$logf
}

# wait_healthy VERSION PORT PID: poll `etcdctl endpoint health`, at most 30 s.
wait_healthy() {
  local ver=$1 port=$2 pid=$3 i
  for ((i = 0; i < 60; i++)); do
    if ! alive "$pid"; then
      tail -n 20 "$LAST_LOG" >&2 || true
      die "etcd $ver (pid $pid, port $port) exited during start-up"
    fi
    if timeout 10 env ETCDCTL_API=3 "$BIN_DIR/$ver/etcdctl" --endpoints "http://127.0.0.1:$port" \
         --dial-timeout 2s --command-timeout 3s endpoint health >/dev/null 2>&1; then
      return 0
    fi
    sleep 0.5
  done
  tail -n 20 "$LAST_LOG" >&2 || true
  die "etcd $ver on port $port not healthy after 30 s"
}

# ctl ARGS...: etcdctl of the current server's version against the current endpoint.
CUR_VER=
CUR_PORT=
CTL_AUTH=()
ctl() {
  local api=()
  ver_ge "$CUR_VER" 3.6 || api=(ETCDCTL_API=3)   # 3.6+ warns about the variable (v2 API gone)
  timeout 120 env ${api[@]+"${api[@]}"} "$BIN_DIR/$CUR_VER/etcdctl" --endpoints "http://127.0.0.1:$CUR_PORT" \
    --dial-timeout 10s --command-timeout 100s "${CTL_AUTH[@]}" "$@"
}
ctlq() { ctl "$@" >/dev/null; }

helper() { timeout 300 "${HELPER[@]}" "$@"; }

# current revision of the current server
cur_rev() {
  ctl endpoint status -w json >"$WORK/st.json"
  helper json-get "$WORK/st.json" 0.Status.header.revision
}

# ---------------------------------------------------------------------------
# outputs

MANIFEST=
mf() { printf '%s\n' "$*" >>"$MANIFEST"; }

# record_live EXPECTED_DIR [HASH_USER HASH_PASSWORD]
record_live() {
  local exp=$1
  ctl endpoint status -w json >"$exp/live.endpoint-status.json"
  ctl endpoint hashkv -w json >"$exp/live.hashkv.json"
  helper hash "$CUR_PORT" "${@:2}" >"$exp/live.hash.json"
  helper json-kv "$exp/live.endpoint-status.json" live_revision=0.Status.header.revision \
    live_raft_index=0.Status.raftIndex live_raft_term=0.Status.raftTerm live_db_size=0.Status.dbSize \
    member_id=0.Status.header.member_id cluster_id=0.Status.header.cluster_id >>"$MANIFEST"
  helper json-kv "$exp/live.hashkv.json" live_hashkv=0.HashKV.hash \
    live_hashkv_compact_revision=0.HashKV.compact_revision=0 >>"$MANIFEST"
  helper json-kv "$exp/live.hash.json" live_hash=hash >>"$MANIFEST"
  ctl get "" --from-key --keys-only -w json >"$WORK/count.json"
  helper json-kv "$WORK/count.json" live_keys=count=0 >>"$MANIFEST"
  if ver_ge "$CUR_VER" 3.6; then
    ctl member list -w json >"$exp/live.member-list.json"
    ctl get --prefix "" -w json >"$exp/live.get-all.json"
    helper json-kv "$exp/live.endpoint-status.json" live_storage_version=0.Status.storageVersion= >>"$MANIFEST"
  fi
}

# wait_storage_version: 3.6+ writes meta/storageVersion a few seconds after start-up (once
# the cluster version is decided); wait (at most 30 s) until the current server reports
# its own minor, so files taken afterwards do not depend on timing. No-op before 3.6.
wait_storage_version() {
  ver_ge "$CUR_VER" 3.6 || return 0
  [[ "${NO_SV_WAIT:-0}" == 1 ]] && return 0
  local want i got=""
  want=$(minor_of "$CUR_VER").0
  for ((i = 0; i < 60; i++)); do
    ctl endpoint status -w json >"$WORK/sv.json"
    got=$(helper json-get "$WORK/sv.json" 0.Status.storageVersion "")
    [[ "$got" == "$want" ]] && return 0
    sleep 0.5
  done
  die "etcd $CUR_VER on port $CUR_PORT: storageVersion is '$got', not $want, after 30 s"
}

# utl_hashkv VERSION DBFILE NAME [REV]: `etcdutl hashkv` (3.6+) of a COPY of DBFILE (etcdutl
# opens it read-write through etcd's backend) into expected/NAME.hashkv[-revREV].<fmt>;
# records whether the copy was changed by it. etcdutl 3.6.17's hashkv panics ("no lessor to
# attach lease") on a db holding a leased key: a failure is recorded (exit status and the
# first line of stderr in expected/NAME.hashkv[-revREV].error and the manifest), not fatal.
utl_hashkv() {
  local ver=$1 db=$2 name=$3 rev=${4:-} fmt suffix="" args=() before changed rc
  ver_ge "$ver" 3.6 || return 0
  [[ -n "$rev" ]] && { suffix="-rev$rev"; args=(--rev "$rev"); }
  local dir
  dir=$(dirname "$MANIFEST")/expected
  for fmt in simple table json fields; do
    rm -rf "$WORK/hkv"; mkdir -p "$WORK/hkv"
    cp "$db" "$WORK/hkv/db"
    before=$(sha256sum <"$WORK/hkv/db")
    rc=0
    timeout 60 "$(utl "$ver")" hashkv "$WORK/hkv/db" ${args[@]+"${args[@]}"} -w "$fmt" \
      >"$dir/$name.hashkv$suffix.$fmt" 2>"$WORK/etcdutl.err" || rc=$?
    changed=no
    [[ "$(sha256sum <"$WORK/hkv/db")" == "$before" ]] || changed=yes
    if [[ $rc != 0 ]]; then
      rm -f "$dir/$name.hashkv$suffix".{simple,table,json,fields}
      { echo "exit status $rc"; head -n 1 "$WORK/etcdutl.err"; } >"$dir/$name.hashkv$suffix.error"
      mf "$name.etcdutl_hashkv$suffix=FAILED (etcdutl $(utl_ver "$ver") exit status $rc: $(head -n 1 "$WORK/etcdutl.err"))"
      mf "$name.etcdutl_hashkv_changed_its_copy=$changed"
      log "   note: etcdutl $(utl_ver "$ver") hashkv ${args[*]} failed on $name: $(head -n 1 "$WORK/etcdutl.err")"
      rm -rf "$WORK/hkv"
      return 0
    fi
  done
  helper json-kv "$dir/$name.hashkv$suffix.json" "$name.etcdutl_hashkv$suffix=hash" \
    "$name.etcdutl_hashkv$suffix.hashRevision=hashRevision" \
    "$name.etcdutl_hashkv$suffix.compactRevision=compactRevision=0" >>"$MANIFEST"
  mf "$name.etcdutl_hashkv_changed_its_copy=$changed"
  rm -rf "$WORK/hkv"
}

# goldens SCENARIO_DIR VERSION: status outputs for every *.db input
goldens() {
  local dir=$1 ver=$2 f fmt
  for f in snapshot.db raw.db; do
    [[ -f "$dir/$f" ]] || continue
    for fmt in simple table json fields; do
      (cd "$dir" && timeout 60 "$(utl "$ver")" snapshot status "$f" -w "$fmt") \
        >"$dir/expected/$f.status.$fmt" 2>"$WORK/etcdutl.err" ||
        { cat "$WORK/etcdutl.err" >&2; die "etcdutl snapshot status $dir/$f -w $fmt failed"; }
      if [[ $ver == 3.4.23 ]]; then
        (cd "$dir" && timeout 60 env ETCDCTL_API=3 "$BIN3423/etcdctl" snapshot status "$f" -w "$fmt") \
          >"$dir/expected/$f.status-etcdctl-3.4.23.$fmt" 2>"$WORK/etcdctl.err" ||
          { cat "$WORK/etcdctl.err" >&2; die "etcdctl 3.4.23 snapshot status $dir/$f -w $fmt failed"; }
      fi
    done
    if [[ $ver == 3.4.23 ]]; then
      local same=yes
      for fmt in simple table json fields; do
        cmp -s "$dir/expected/$f.status.$fmt" "$dir/expected/$f.status-etcdctl-3.4.23.$fmt" || same="no ($fmt differs)"
      done
      mf "$f.status_etcdctl_3.4.23_equals_etcdutl_3.5.1=$same"
    fi
    helper json-kv "$dir/expected/$f.status.json" "$f.status.hash=hash" "$f.status.revision=revision" \
      "$f.status.totalKey=totalKey" "$f.status.totalSize=totalSize" >>"$MANIFEST"
    if ver_ge "$ver" 3.6; then
      helper json-kv "$dir/expected/$f.status.json" "$f.status.version=version=" >>"$MANIFEST"
      utl_hashkv "$ver" "$dir/$f" "$f"
      local r
      for r in "${HASHKV_REVS[@]}"; do utl_hashkv "$ver" "$dir/$f" "$f" "$r"; done
    fi
  done
}

# describe_db FILE: size, sha256 and B+tree facts into the manifest
describe_db() {
  local f=$1 b line
  b=$(basename "$f")
  mf "$b.size=$(stat -c %s "$f")"
  mf "$b.sha256=$(sha256sum "$f" | cut -d' ' -f1)"
  while read -r line; do mf "$b.$line"; done < <(helper bbolt-info "$f" key)
}

# verify SCENARIO_DIR: inputs unchanged by the goldens, trailer, bbolt-check on copies
verify() {
  local dir=$1 f
  for f in "$dir"/snapshot.db; do
    [[ -f "$f" ]] || continue
    helper check-trailer "$f" >/dev/null || { helper check-trailer "$f" >&2; die "bad trailer: $f"; }
  done
  for f in "$dir"/*.db; do
    [[ -f "$f" && "$f" != */snapshot.db ]] && bbolt_cli_check "$f"
  done
  if [[ -n "$BBOLT_CHECK" ]]; then
    for f in "$dir"/*.db; do
      [[ -f "$f" ]] || continue
      cp "$f" "$WORK/check.db"
      if ! timeout 120 "$BBOLT_CHECK" "$WORK/check.db" >"$WORK/check.out" 2>&1; then
        cat "$WORK/check.out" >&2; die "bbolt-check failed on $f"
      fi
      cmp -s "$f" "$WORK/check.db" || die "bbolt-check modified its input (copy of $f)"
      rm -f "$WORK/check.db"
    done
  fi
}

# bbolt_cli_check DBFILE: `bbolt check` of the bbolt CLI (1.5.0, else 1.4.3, when installed)
# on a copy; must print OK. Complements bbolt-check (bbolt 1.3.6) for files etcd 3.6/3.7 wrote.
BBOLT_CLI=
for f in "$BIN_DIR/bbolt-1.5.0/bbolt" "$BIN_DIR/bbolt-1.4.3/bbolt"; do
  [[ -x "$f" ]] && { BBOLT_CLI=$f; break; }
done
bbolt_cli_check() {
  [[ -n "$BBOLT_CLI" ]] || return 0
  cp "$1" "$WORK/clicheck.db"
  if ! timeout 120 "$BBOLT_CLI" check "$WORK/clicheck.db" >"$WORK/clicheck.out" 2>&1 ||
     ! grep -qx OK "$WORK/clicheck.out"; then
    cat "$WORK/clicheck.out" >&2; die "bbolt check ($BBOLT_CLI) failed on $1"
  fi
  rm -f "$WORK/clicheck.db"
}

# sums DIR: sha256 of the inputs (to prove the golden tools did not change them)
sums() { (cd "$1" && find . -path ./expected -prune -o -type f -name '*.db' -print0 | sort -z | xargs -0 -r sha256sum); }

# install_stage STAGE ID: replace OUT/ID with STAGE
install_stage() {
  local stage=$1 id=$2
  mkdir -p "$(dirname "$OUT/$id")"
  rm -rf "$OUT/$id.old"
  [[ -e "$OUT/$id" ]] && mv "$OUT/$id" "$OUT/$id.old"
  mv "$stage" "$OUT/$id"
  rm -rf "$OUT/$id.old"
}

# ---------------------------------------------------------------------------
# scenarios (writes only; run_single does the rest)

scen_empty() { :; }

scen_basic() {
  ctlq put foo bar1
  ctlq put foo bar2
  ctlq put foo bar3
  local i
  for i in 1 2 3 4 5; do ctlq put "a/$i" "value-a-$i"; done
  ctlq put b/x bx
  ctlq put b/y by
  ctlq put b/z bz
  ctlq del a/3                    # single delete
  ctlq del --prefix b/            # prefix delete: 3 tombstones in one revision
  # one txn, several ops (one revision, sub-revisions 0..2)
  printf '%s\n' 'value("foo") = "bar3"' '' 'put t/1 one' 'put t/2 two' 'del a/1' '' 'put t/fail never' '' |
    ctl txn >"$WORK/txn.out"
  grep -q '^SUCCESS' "$WORK/txn.out" || die "basic: txn did not succeed: $(cat "$WORK/txn.out")"
  # leases with fixed IDs (granted through the JSON API so the IDs are deterministic)
  helper grant "$CUR_PORT" 0x1000 3600 >/dev/null
  ctlq put --lease=1000 l/k1 leased-1
  ctlq put --lease=1000 l/k2 leased-2
  helper grant "$CUR_PORT" 0x2000 3600 >/dev/null
  ctlq put --lease=2000 l/r1 revoked-soon
  ctlq lease revoke 2000          # deletes l/r1
  # binary (non-UTF-8) keys and values
  helper basic-binary "$CUR_PORT" >/dev/null
  ctlq put bin/latin1 $'caf\xe9 cr\xe8me'
  # delete, then compact at exactly the tombstone's revision
  ctlq del a/4
  local crev
  crev=$(cur_rev)
  ctlq compact "$crev" --physical
  mf "compact_revision=$crev"
  mf "compact_revision_note=a/4 was deleted at the compact revision (tombstone at compactRev)"
  # writes after the compaction
  ctlq put foo bar4
  ctlq put a/2 value-a-2-new
  ctlq put c/1 after-compact
  ctlq del a/5
  ctlq put --lease=1000 l/k3 leased-3
  ctlq put c/2 last
  mf "leases=0x1000 (alive, keys l/k1 l/k2 l/k3), 0x2000 (revoked)"
  HASHKV_REVS=($((crev + 1)))
}

scen_auth() {
  ctlq user add root:rootpw --interactive=false
  ctlq user grant-role root root
  ctlq role add app
  ctlq role grant-permission app readwrite /app/ --prefix=true
  ctlq user add alice:alicepw --interactive=false
  ctlq user grant-role alice app
  ctlq put /app/pre-auth written-before-auth-enable
  ctlq auth enable
  CTL_AUTH=(--user alice:alicepw)
  ctlq put /app/a 1
  ctlq put /app/b 2
  ctlq put /app/a 1b
  CTL_AUTH=(--user root:rootpw)
  ctlq put /other root-only
  ctlq del /app/b
  mf "auth=enabled; users root (role root, password rootpw), alice (role app, password alicepw)"
  mf "auth_note=bcrypt password hashes use a random salt: authUsers bucket bytes and all hashes differ between runs"
  HASH_AUTH=(root rootpw)
}

scen_large() {
  local rounds=3 nkeys=10000
  helper large "$CUR_PORT" "$rounds" "$nkeys" >/dev/null
  mf "small_puts=$((rounds * nkeys)) (keys k/00000..k/$(printf %05d $((nkeys - 1))), $rounds rounds, value r<round>-<i>)"
  ctlq del --prefix k/0999        # 10 tombstones in one revision
  helper big "$CUR_PORT" big/020k 20480 a >/dev/null
  helper big "$CUR_PORT" big/064k 65536 a >/dev/null
  helper big "$CUR_PORT" big/100k 102400 a >/dev/null
  helper big "$CUR_PORT" big/200k 204800 a >/dev/null
  helper big "$CUR_PORT" big/064k 65536 b >/dev/null   # overwrite
  ctlq del big/100k
  mf "big_values=big/020k(20480) big/064k(65536, written twice) big/100k(102400, deleted) big/200k(204800)"
}

# run_single ID: one-node scenario
run_single() {
  local id=$1 ver scen
  ver=${id%%/*}; ver=${ver#etcd-}
  scen=${id#*/}
  log "== $id"
  local stage=$WORK/stage/$id data=$WORK/data/$id
  rm -rf "$stage" "$data"
  mkdir -p "$stage/expected" "$data"
  MANIFEST=$stage/manifest.txt
  : >"$MANIFEST"
  mf "# $id: generated by scripts/make-testdata.sh (see testdata/README.md)"
  mf "etcd_version=$ver"
  mf "scenario=$scen"
  mf "etcdutl_for_goldens=$(utl_ver "$ver")"
  mf "member_name=n1"
  mf "advertised_peer_url=http://127.0.0.1:2380 (fixed; the server listened on a free port)"
  mf "advertised_client_url=http://127.0.0.1:2379 (fixed; the server listened on a free port)"
  mf "initial_cluster_token=etcd-rescue-testdata"

  local cport pport
  read -r cport pport < <(helper freeports 2)
  start_node "$ver" n1 "$data/n1" "$cport" "$pport" http://127.0.0.1:2379 http://127.0.0.1:2380 \
    n1=http://127.0.0.1:2380
  local pid=$NODE_PID
  wait_healthy "$ver" "$cport" "$pid"
  CUR_VER=$ver
  CUR_PORT=$cport
  CTL_AUTH=()
  HASHKV_REVS=()
  HASH_AUTH=()
  wait_storage_version

  "scen_$scen"

  record_live "$stage/expected" "${HASH_AUTH[@]}"
  local r
  for r in "${HASHKV_REVS[@]}"; do
    ctl endpoint hashkv --rev "$r" -w json >"$stage/expected/live.hashkv-rev$r.json"
    helper json-kv "$stage/expected/live.hashkv-rev$r.json" "live_hashkv_rev$r=0.HashKV.hash" >>"$MANIFEST"
  done
  ctl snapshot save "$stage/snapshot.db" >"$WORK/save.out" 2>&1 ||
    { cat "$WORK/save.out" >&2; die "$id: snapshot save failed"; }
  CTL_AUTH=()
  stop_pid "$pid" || die "$id: etcd did not stop cleanly"
  cp "$data/n1/member/snap/db" "$stage/raw.db"
  chmod 0644 "$stage/snapshot.db" "$stage/raw.db"
  rm -rf "$data"
  trim_db "$stage/raw.db" raw.db

  local before after
  before=$(sums "$stage")
  goldens "$stage" "$ver"
  describe_db "$stage/snapshot.db"
  describe_db "$stage/raw.db"
  verify "$stage"
  after=$(sums "$stage")
  [[ "$before" == "$after" ]] || die "$id: an input file changed while recording goldens"
  install_stage "$stage" "$id"
  log "   $(grep -E '^(live_revision|compact_revision|live_keys|snapshot.db.size|raw.db.size|snapshot.db.bucket_key_depth)=' \
        "$OUT/$id/manifest.txt" | tr '\n' ' ')"
}

# ---------------------------------------------------------------------------
# data-dir scenarios

# new_stage ID: sets STAGE, DATA (scratch data root), VER, MANIFEST; writes the manifest head
new_stage() {
  local id=$1
  VER=${id%%/*}; VER=${VER#etcd-}
  log "== $id"
  STAGE=$WORK/stage/$id
  DATA=$WORK/data/$id
  rm -rf "$STAGE" "$DATA"
  mkdir -p "$STAGE/expected" "$STAGE/data" "$DATA"
  MANIFEST=$STAGE/manifest.txt
  : >"$MANIFEST"
  mf "# $id: generated by scripts/make-testdata.sh (see testdata/README.md)"
  mf "etcd_version=$VER"
  mf "scenario=${id#*/}"
  mf "etcdutl_for_goldens=$(utl_ver "$VER") (unless a line below names another for one member)"
  mf "initial_cluster_token=etcd-rescue-testdata"
  HASHKV_REVS=()
  if [[ $TRIM == 1 ]]; then
    mf "wal_trimmed=yes (each file in member/wal cut after its last record frame; only zero bytes removed)"
  else
    mf "wal_trimmed=no"
  fi
}

# start_single VERSION NAME [extra flags]: one member with fixed advertised URLs
# (deterministic member/cluster IDs). Sets CUR_VER CUR_PORT NODE_PID.
start_single() {
  local ver=$1 name=$2 cport pport
  shift 2
  read -r cport pport < <(helper freeports 2)
  start_node "$ver" "$name" "$DATA/$name" "$cport" "$pport" http://127.0.0.1:2379 http://127.0.0.1:2380 \
    "$name=http://127.0.0.1:2380" "$@"
  wait_healthy "$ver" "$cport" "$NODE_PID"
  CUR_VER=$ver
  CUR_PORT=$cport
  CTL_AUTH=()
  wait_storage_version
}

# trim_db FILE NAME: etcd 3.6+ (bbolt 1.4+) leaves a small db file grown to ~16 MiB, all
# zeros past the high-water mark; cut them (only zeros; unless --no-trim) and record the size
trim_db() {
  [[ $TRIM == 1 ]] || return 0
  local sizes
  sizes=$(helper trim-db "$1")
  [[ "${sizes% *}" == "${sizes#* }" ]] || mf "$2.original_size=${sizes% *} (trimmed to ${sizes#* }: zeros past the high-water mark)"
}

# keep_datadir NAME: copy the (stopped) member dir into the stage and trim its WAL files
keep_datadir() {
  local name=$1 f sizes
  cp -a "$DATA/$name" "$STAGE/data/$name"
  for f in "$STAGE/data/$name/member/wal"/*; do
    [[ -f "$f" ]] || continue
    if [[ $TRIM == 1 ]]; then
      sizes=$(helper trim-wal "$f")
      mf "data/$name/member/wal/$(basename "$f").original_size=${sizes% *}"
    fi
  done
  trim_db "$STAGE/data/$name/member/snap/db" "data/$name/member/snap/db"
  chmod -R u+rwX,go+rX "$STAGE/data/$name"
  (cd "$STAGE" && find "data/$name" -type f | sort | while read -r f; do
     echo "file=$f size=$(stat -c %s "$f")"; done) >>"$MANIFEST"
  local nsnap
  nsnap=$(find "$STAGE/data/$name/member/snap" -name '*.snap' | wc -l)
  mf "data/$name.snap_files=$nsnap"
  for f in "$STAGE/data/$name/member/wal"/*.wal; do
    [[ -f "$f" ]] || continue
    while read -r line; do mf "data/$name.wal_metadata.$line"; done < <(helper wal-metadata "$f")
    break
  done
  mf "data/$name.members_bucket=$(helper bucket-keys "$STAGE/data/$name/member/snap/db" members | tr '\n' ' ' | sed 's/ $//')"
  while read -r f; do mf "data/$name/member/snap/db.$f"; done < <(helper bbolt-info "$STAGE/data/$name/member/snap/db" key)
}

# db_goldens NAME PREFIX [VERSION]: etcdutl status (3.5.1's for 3.4/3.5 data, VERSION's own
# for 3.6+; VERSION defaults to the scenario's) of data/NAME/member/snap/db into
# expected/PREFIXdb.status.<fmt>, and for 3.6+ etcdutl hashkv of a copy into
# expected/PREFIXdb.hashkv.<fmt>; checks bbolt-check on a copy; the db must not change.
db_goldens() {
  local name=$1 prefix=$2 gver=${3:-$VER} db=$STAGE/data/$1/member/snap/db fmt before
  before=$(sha256sum "$db")
  for fmt in simple table json fields; do
    timeout 60 "$(utl "$gver")" snapshot status "$db" -w "$fmt" >"$STAGE/expected/${prefix}db.status.$fmt" \
      2>"$WORK/etcdutl.err" || { cat "$WORK/etcdutl.err" >&2; die "etcdutl snapshot status $db failed"; }
  done
  helper json-kv "$STAGE/expected/${prefix}db.status.json" "data/$name/member/snap/db.status.hash=hash" \
    "data/$name/member/snap/db.status.revision=revision" "data/$name/member/snap/db.status.totalKey=totalKey" \
    "data/$name/member/snap/db.status.totalSize=totalSize" >>"$MANIFEST"
  if ver_ge "$gver" 3.6; then
    helper json-kv "$STAGE/expected/${prefix}db.status.json" "data/$name/member/snap/db.status.version=version=" >>"$MANIFEST"
    utl_hashkv "$gver" "$db" "${prefix}db"
  fi
  bbolt_cli_check "$db"
  if [[ -n "$BBOLT_CHECK" ]]; then
    cp "$db" "$WORK/check.db"
    timeout 120 "$BBOLT_CHECK" "$WORK/check.db" >"$WORK/check.out" 2>&1 ||
      { cat "$WORK/check.out" >&2; die "bbolt-check failed on $db"; }
    rm -f "$WORK/check.db"
  fi
  [[ "$(sha256sum "$db")" == "$before" ]] || die "$db changed while recording goldens"
}

# verify_restart VERSION NAME EXPECTED_REVISION [EXPECTED_HASHKV_JSON [MEMBER_NAME]]: start
# etcd on a scratch copy of the staged (trimmed) data dir data/NAME (member name MEMBER_NAME,
# default NAME); it must come up and reach the revision (and HashKV) recorded from the
# original server. Proves the kept dirs are usable.
verify_restart() {
  local ver=$1 dname=$2 want_rev=$3 want_hkv=${4:-} name=${5:-$2} cport pport copy
  copy=$WORK/restart/$name
  rm -rf "$WORK/restart"
  mkdir -p "$WORK/restart"
  cp -a "$STAGE/data/$dname" "$copy"
  chmod -R go-rwx "$copy"
  read -r cport pport < <(helper freeports 2)
  start_node "$ver" "$name" "$copy" "$cport" "$pport" http://127.0.0.1:2379 http://127.0.0.1:2380 \
    "$name=http://127.0.0.1:2380" ${VERIFY_FLAGS[@]+"${VERIFY_FLAGS[@]}"}
  local pid=$NODE_PID saved_ver=$CUR_VER saved_port=$CUR_PORT
  wait_healthy "$ver" "$cport" "$pid"
  CUR_VER=$ver
  CUR_PORT=$cport
  local got
  wait_storage_version
  got=$(cur_rev)
  if [[ -n "$want_hkv" ]]; then
    ctl endpoint hashkv --rev "$want_rev" -w json >"$WORK/restart.hashkv.json"
    local h1 h2
    h1=$(helper json-get "$want_hkv" 0.HashKV.hash)
    h2=$(helper json-get "$WORK/restart.hashkv.json" 0.HashKV.hash)
    [[ "$h1" == "$h2" ]] || die "restart check: HashKV at $want_rev is $h2 after restart, $h1 before"
  fi
  stop_pid "$pid" || die "restart check: etcd did not stop cleanly"
  CUR_VER=$saved_ver
  CUR_PORT=$saved_port
  rm -rf "$WORK/restart"
  [[ "$got" == "$want_rev" ]] || die "restart check: revision $got after restart, expected $want_rev"
  mf "restart_check=ok (etcd $ver started on a copy of data/$dname (WAL trimmed=$TRIM) and reached revision $got${want_hkv:+ with the recorded HashKV})"
}

run_single_node() {
  new_stage "$1"
  mf "member_name=n1"
  mf "advertised_peer_url=http://127.0.0.1:2380 (fixed; the server listened on a free port)"
  mf "advertised_client_url=http://127.0.0.1:2379 (fixed; the server listened on a free port)"
  mf "etcd_flags=--snapshot-count 100"
  start_single "$VER" n1 --snapshot-count 100
  local pid=$NODE_PID nputs=${SN_PUTS:-250}
  helper seq-put "$CUR_PORT" s/ "$nputs" >/dev/null      # s/00000.. = v<i>
  ctlq del s/00010
  ctlq del --prefix s/0002                            # s/00020..s/00029
  helper grant "$CUR_PORT" 0x3000 3600 >/dev/null
  ctlq put --lease=3000 leased/k1 l1
  ctlq put hello world
  mf "writes=$nputs puts s/00000..s/$(printf %05d $((nputs - 1))) (value v<i>); del s/00010; del --prefix s/0002; lease 0x3000 with leased/k1; put hello world"
  local exp=$STAGE/expected
  ctl member list -w json >"$exp/member-list.json"
  ctl endpoint status -w json >"$exp/endpoint-status.json"
  ctl endpoint hashkv -w json >"$exp/hashkv.json"
  helper json-kv "$exp/endpoint-status.json" live_revision=0.Status.header.revision \
    live_raft_index=0.Status.raftIndex live_raft_applied_index=0.Status.raftAppliedIndex \
    live_raft_term=0.Status.raftTerm \
    member_id=0.Status.header.member_id cluster_id=0.Status.header.cluster_id >>"$MANIFEST"
  helper json-kv "$exp/hashkv.json" live_hashkv=0.HashKV.hash >>"$MANIFEST"
  stop_pid "$pid" || die "$1: etcd did not stop cleanly"
  keep_datadir n1
  local nsnap
  nsnap=$(find "$STAGE/data/n1/member/snap" -name '*.snap' | wc -l)
  # 3.5/3.6 write v2 .snap files at each snapshot; whether 3.7 does is recorded, not assumed
  if ! ver_ge "$VER" 3.7; then [[ $nsnap -ge 1 ]] || die "$1: no .snap file was written"; fi
  db_goldens n1 ""
  VERIFY_FLAGS=(--snapshot-count 100)
  verify_restart "$VER" n1 "$(helper json-get "$exp/endpoint-status.json" 0.Status.header.revision)" "$exp/hashkv.json"
  VERIFY_FLAGS=()
  install_stage "$STAGE" "$1"
}

run_cluster3() {
  new_stage "$1"
  local ports m i
  read -r -a ports < <(helper freeports 6)
  declare -A CP PP PIDOF
  local icluster=""
  for i in 0 1 2; do
    m=n$((i + 1))
    CP[$m]=${ports[$((2 * i))]}
    PP[$m]=${ports[$((2 * i + 1))]}
    icluster+="${icluster:+,}$m=http://127.0.0.1:${PP[$m]}"
  done
  mf "members=n1 n2 n3"
  mf "initial_cluster=$icluster"
  mf "note=member and cluster IDs depend on the (free) peer ports, so they differ between runs"
  for m in n1 n2 n3; do
    start_node "$VER" "$m" "$DATA/$m" "${CP[$m]}" "${PP[$m]}" "http://127.0.0.1:${CP[$m]}" \
      "http://127.0.0.1:${PP[$m]}" "$icluster"
    PIDOF[$m]=$NODE_PID
    mf "$m.client_url=http://127.0.0.1:${CP[$m]}"
    mf "$m.peer_url=http://127.0.0.1:${PP[$m]}"
  done
  # the three must elect a leader together: one shared 30 s budget for all of them
  local deadline=$((SECONDS + 30)) ok
  for m in n1 n2 n3; do
    ok=0
    while ((SECONDS < deadline)); do
      alive "${PIDOF[$m]}" || die "$1: etcd $m exited during start-up"
      if timeout 10 env ETCDCTL_API=3 "$BIN_DIR/$VER/etcdctl" --endpoints "http://127.0.0.1:${CP[$m]}" \
           --dial-timeout 2s --command-timeout 3s endpoint health >/dev/null 2>&1; then ok=1; break; fi
      sleep 0.5
    done
    [[ $ok == 1 ]] || die "$1: member $m not healthy within 30 s"
  done
  CUR_VER=$VER
  CTL_AUTH=()
  for m in n1 n2 n3; do CUR_PORT=${CP[$m]}; wait_storage_version; done
  CUR_PORT=${CP[n1]}
  helper seq-put "$CUR_PORT" c/ 100 >/dev/null       # c/00000..c/00099 = v<i>
  ctlq del --prefix c/0005
  helper grant "$CUR_PORT" 0x4000 3600 >/dev/null
  ctlq put --lease=4000 leased/k1 l1
  ctlq put hello cluster
  mf "writes (through n1)=100 puts c/00000..c/00099 (value v<i>); del --prefix c/0005; lease 0x4000 with leased/k1; put hello cluster"
  # wait (at most 30 s) until every member has applied the same index
  local idx want="" all
  deadline=$((SECONDS + 30))
  while :; do
    all=1; want=""
    for m in n1 n2 n3; do
      CUR_PORT=${CP[$m]}
      ctl endpoint status -w json >"$WORK/st-$m.json"
      idx=$(helper json-get "$WORK/st-$m.json" 0.Status.raftAppliedIndex)
      [[ -z "$want" ]] && want=$idx
      [[ "$idx" == "$want" ]] || all=0
    done
    [[ $all == 1 ]] && break
    ((SECONDS < deadline)) || die "$1: members did not converge within 30 s"
    sleep 0.5
  done
  local exp=$STAGE/expected leader_id leader=""
  CUR_PORT=${CP[n1]}
  ctl member list -w json >"$exp/member-list.json"
  for m in n1 n2 n3; do
    CUR_PORT=${CP[$m]}
    ctl endpoint status -w json >"$exp/$m.endpoint-status.json"
    ctl endpoint hashkv -w json >"$exp/$m.hashkv.json"
    helper json-kv "$exp/$m.endpoint-status.json" "$m.member_id=0.Status.header.member_id" \
      "$m.live_revision=0.Status.header.revision" "$m.live_raft_index=0.Status.raftIndex" \
      "$m.live_raft_applied_index=0.Status.raftAppliedIndex" "$m.live_raft_term=0.Status.raftTerm" \
      "$m.leader=0.Status.leader" >>"$MANIFEST"
    helper json-kv "$exp/$m.hashkv.json" "$m.live_hashkv=0.HashKV.hash" >>"$MANIFEST"
  done
  helper json-kv "$exp/n1.endpoint-status.json" cluster_id=0.Status.header.cluster_id >>"$MANIFEST"
  leader_id=$(helper json-get "$exp/n1.endpoint-status.json" 0.Status.leader)
  for m in n1 n2 n3; do
    [[ "$(helper json-get "$exp/$m.endpoint-status.json" 0.Status.header.member_id)" == "$leader_id" ]] && leader=$m
  done
  [[ -n "$leader" ]] || die "$1: could not tell which member is the leader"
  mf "leader=$leader"
  # stop the followers first, then the leader (no leadership transfer, no new term)
  for m in n1 n2 n3; do
    [[ $m == "$leader" ]] && continue
    stop_pid "${PIDOF[$m]}" || die "$1: etcd $m did not stop cleanly"
  done
  stop_pid "${PIDOF[$leader]}" || die "$1: etcd $leader did not stop cleanly"
  mf "stop_order=followers first, then the leader ($leader), each by SIGTERM"
  for m in n1 n2 n3; do
    keep_datadir "$m"
    db_goldens "$m" "$m."
  done
  install_stage "$STAGE" "$1"
}

# v2ctl ARGS...: ETCDCTL_API=2 etcdctl of the current version (no cluster sync: the
# advertised client URL is not where the server listens)
v2ctl() {
  timeout 60 env ETCDCTL_API=2 "$BIN_DIR/$CUR_VER/etcdctl" --endpoints "http://127.0.0.1:$CUR_PORT" \
    --no-sync --timeout 10s --total-timeout 30s "$@"
}

run_v2_patroni() {
  new_stage "$1"
  mf "member_name=n1"
  mf "advertised_peer_url=http://127.0.0.1:2380 (fixed; the server listened on a free port)"
  mf "advertised_client_url=http://127.0.0.1:2379 (fixed; the server listened on a free port)"
  mf "etcd_flags=--enable-v2 --snapshot-count 20"
  start_single "$VER" n1 --enable-v2 --snapshot-count 20
  local pid=$NODE_PID i pg=/service/pg
  local member_json='{"conn_url":"postgres://127.0.0.1:5432/postgres","api_url":"http://127.0.0.1:8008/patroni","state":"running","role":"master","version":"3.0.2","xlog_location":%d,"timeline":1}'
  local replica_json='{"conn_url":"postgres://127.0.0.1:5433/postgres","api_url":"http://127.0.0.1:8009/patroni","state":"running","role":"replica","version":"3.0.2","xlog_location":50331648,"timeline":1}'
  v2ctl mk $pg/initialize 7012345678901234567 >/dev/null
  v2ctl set $pg/config '{"ttl":30,"loop_wait":10,"retry_timeout":10,"maximum_lag_on_failover":1048576,"postgresql":{"use_pg_rewind":true,"parameters":{"max_connections":100}}}' >/dev/null
  v2ctl mk --ttl 30 $pg/leader node1 >/dev/null
  # shellcheck disable=SC2059
  v2ctl set --ttl 30 $pg/members/node1 "$(printf "$member_json" 50331648)" >/dev/null
  v2ctl set --ttl 1 $pg/members/node2 "$replica_json" >/dev/null      # expires during the run
  v2ctl mk $pg/failover '{"leader":"node1","member":"node2"}' >/dev/null
  v2ctl rm $pg/failover >/dev/null
  v2ctl set $pg/history '[[1,50331808,"no recovery target specified","2024-01-01T00:00:00+00:00"]]' >/dev/null
  for ((i = 1; i <= 20; i++)); do   # Patroni's HA loop: refresh leader (CAS) and member, optime
    v2ctl set --ttl 30 --swap-with-value node1 $pg/leader node1 >/dev/null
    # shellcheck disable=SC2059
    v2ctl set --ttl 30 $pg/members/node1 "$(printf "$member_json" $((50331648 + i * 4096)))" >/dev/null
    v2ctl set $pg/optime/leader $((50331648 + i * 4096)) >/dev/null
  done
  # node2's TTL (1 s) must have expired and been removed by the leader's SYNC (at most 15 s)
  local deadline=$((SECONDS + 15))
  while v2ctl ls $pg/members | grep -q node2; do
    ((SECONDS < deadline)) || die "$1: $pg/members/node2 did not expire within 15 s"
    sleep 0.5
  done
  # a few v3 keys (Patroni's etcd3 mode layout)
  ctlq put /service/pg3/leader node1
  ctlq put /service/pg3/config '{"ttl":30}'
  ctlq put /service/pg3/members/node1 "$(printf "$member_json" 50331648)"
  mf "v2_writes=mk $pg/initialize; set $pg/config; mk --ttl 30 $pg/leader; set --ttl 30 $pg/members/node1; set --ttl 1 $pg/members/node2 (expired); mk+rm $pg/failover; set $pg/history; 20 x (CAS-refresh leader --ttl 30, set --ttl 30 members/node1, set optime/leader)"
  mf "v3_writes=put /service/pg3/leader, /service/pg3/config, /service/pg3/members/node1"
  local exp=$STAGE/expected leaf name
  v2ctl ls --sort --recursive / >"$exp/v2-ls-recursive.txt"
  for leaf in initialize config leader members/node1 history optime/leader; do
    name=${leaf//\//-}
    v2ctl get "$pg/$leaf" >"$exp/v2-get-$name.txt"
    mf "v2_leaf=$pg/$leaf golden=expected/v2-get-$name.txt"
  done
  ctl member list -w json >"$exp/member-list.json"
  ctl endpoint status -w json >"$exp/endpoint-status.json"
  ctl endpoint hashkv -w json >"$exp/hashkv.json"
  helper json-kv "$exp/endpoint-status.json" live_revision=0.Status.header.revision \
    live_raft_index=0.Status.raftIndex live_raft_applied_index=0.Status.raftAppliedIndex \
    live_raft_term=0.Status.raftTerm \
    member_id=0.Status.header.member_id cluster_id=0.Status.header.cluster_id >>"$MANIFEST"
  helper json-kv "$exp/hashkv.json" live_hashkv=0.HashKV.hash >>"$MANIFEST"
  stop_pid "$pid" || die "$1: etcd did not stop cleanly"
  keep_datadir n1
  [[ $(find "$STAGE/data/n1/member/snap" -name '*.snap' | wc -l) -ge 2 ]] || die "$1: fewer than 2 .snap files"
  db_goldens n1 ""
  VERIFY_FLAGS=(--enable-v2 --snapshot-count 20)
  verify_restart "$VER" n1 "$(helper json-get "$exp/endpoint-status.json" 0.Status.header.revision)" "$exp/hashkv.json"
  VERIFY_FLAGS=()
  install_stage "$STAGE" "$1"
}

# restore_member SNAPSHOT DIRNAME NAME INITIAL_CLUSTER ADV_PEER: `etcdutl snapshot restore` of
# this version into DATA/DIRNAME (fixed URLs and token, so the IDs are the same every run)
restore_member() {
  local snap=$1 dname=$2 name=$3 icluster=$4 advp=$5
  timeout 120 "$(utl "$VER")" snapshot restore "$snap" --name "$name" --data-dir "$DATA/$dname" \
    --initial-cluster "$icluster" --initial-cluster-token etcd-rescue-testdata \
    --initial-advertise-peer-urls "$advp" >"$WORK/restore.out" 2>&1 ||
    { cat "$WORK/restore.out" >&2; die "etcdutl $VER snapshot restore ($dname) failed"; }
  mf "$dname.command=etcdutl snapshot restore etcd-$VER/basic/snapshot.db --name $name --data-dir <dir> --initial-cluster $icluster --initial-cluster-token etcd-rescue-testdata --initial-advertise-peer-urls $advp"
}

# restore-ref: what etcdutl of this version writes when restoring the basic snapshot
run_restore_ref() {
  new_stage "$1"
  local snap=$OUT/etcd-$VER/basic/snapshot.db before
  [[ -f "$snap" ]] || die "$1: needs $snap (generate etcd-$VER/basic first)"
  before=$(sha256sum <"$snap")
  mf "input=etcd-$VER/basic/snapshot.db sha256=$(sha256sum "$snap" | cut -d' ' -f1)"
  restore_member "$snap" single n1 n1=http://127.0.0.1:2380 http://127.0.0.1:2380
  restore_member "$snap" three-n1 n1 \
    n1=http://127.0.0.1:2380,n2=http://127.0.0.1:2381,n3=http://127.0.0.1:2382 http://127.0.0.1:2380
  [[ "$(sha256sum <"$snap")" == "$before" ]] || die "$1: snapshot restore changed its input"
  local d
  for d in single three-n1; do
    keep_datadir "$d"
    db_goldens "$d" "$d."
    (cd "$STAGE/data/$d" && find . -type f | sort | sed 's|^\./||' | while read -r f; do
       echo "$d.sha256.$f=$(sha256sum "$f" | cut -d' ' -f1)"; done) >>"$MANIFEST"
  done
  # the one-member restore must start and serve the basic scenario's revision and HashKV
  local exp=$OUT/etcd-$VER/basic/expected
  verify_restart "$VER" single "$(helper json-get "$exp/live.endpoint-status.json" 0.Status.header.revision)" \
    "$exp/live.hashkv.json" n1
  install_stage "$STAGE" "$1"
}

# upgrade_writes PHASE PREFIX LEASE: a few writes (puts, a delete, a leased key)
upgrade_writes() {
  local phase=$1 prefix=$2 lease=$3
  helper seq-put "$CUR_PORT" "$prefix" 20 >/dev/null
  ctlq del "${prefix}00003"
  helper grant "$CUR_PORT" "$lease" 3600 >/dev/null
  ctlq put --lease="${lease#0x}" "leased/$phase" "$phase"
  ctlq put phase "$phase"
  mf "$phase.writes=20 puts ${prefix}00000..${prefix}00019 (v<i>); del ${prefix}00003; lease $lease with leased/$phase; put phase $phase (etcd $CUR_VER)"
}

# upgrade_step STEP: goldens of the running member, stop it, keep a copy as data/STEP
upgrade_step() {
  local step=$1 pid=$2 exp=$STAGE/expected
  ctl member list -w json >"$exp/$step.member-list.json"
  ctl endpoint status -w json >"$exp/$step.endpoint-status.json"
  ctl endpoint hashkv -w json >"$exp/$step.hashkv.json"
  ctl get --prefix "" -w json >"$exp/$step.get-all.json"
  helper json-kv "$exp/$step.endpoint-status.json" "$step.server_version=0.Status.version" \
    "$step.storage_version=0.Status.storageVersion=" "$step.live_revision=0.Status.header.revision" \
    "$step.live_raft_index=0.Status.raftIndex" "$step.live_raft_term=0.Status.raftTerm" \
    "$step.member_id=0.Status.header.member_id" "$step.cluster_id=0.Status.header.cluster_id" >>"$MANIFEST"
  helper json-kv "$exp/$step.hashkv.json" "$step.live_hashkv=0.HashKV.hash" >>"$MANIFEST"
  stop_pid "$pid" || die "$step: etcd did not stop cleanly"
  cp -a "$DATA/n1" "$DATA/$step"
  keep_datadir "$step"
  db_goldens "$step" "$step." "$CUR_VER"
}

# upgrade-A-B: one member (fixed IDs) written by the older version, stopped, then started
# and written to by the newer one; data dir and goldens kept after each step
run_upgrade() {
  new_stage "$1"
  local old new
  case "${1#*/}" in
    upgrade-3.5-3.6) old=3.5.36; new=3.6.17 ;;
    upgrade-3.6-3.7) old=3.6.17; new=3.7.3 ;;
    *) die "unknown upgrade scenario $1" ;;
  esac
  mf "member_name=n1"
  mf "advertised_peer_url=http://127.0.0.1:2380 (fixed; the server listened on a free port)"
  mf "steps=step1-$old (fresh member on $old, written, stopped) then step2-$new (the same data dir started by $new, written, stopped)"
  start_single "$old" n1
  upgrade_writes one u/ 0x5000
  upgrade_step "step1-$old" "$NODE_PID"
  local rev1 exp=$STAGE/expected
  rev1=$(helper json-get "$exp/step1-$old.endpoint-status.json" 0.Status.header.revision)
  start_single "$new" n1        # same DATA/n1; waits for the new storage version
  upgrade_writes two v/ 0x6000
  upgrade_step "step2-$new" "$NODE_PID"
  verify_restart "$old" "step1-$old" "$rev1" "$exp/step1-$old.hashkv.json" n1
  verify_restart "$new" "step2-$new" \
    "$(helper json-get "$exp/step2-$new.endpoint-status.json" 0.Status.header.revision)" \
    "$exp/step2-$new.hashkv.json" n1
  install_stage "$STAGE" "$1"
}

# cluster3-mixed: three members started on the previous minor (3.5.36 for etcd-3.6.17,
# 3.6.17 for etcd-3.7.3), written; then n1 and n2 upgraded one by one (stop, start the same
# data dir on VER) while n3 stays on the old one; written again; stopped cleanly mid-upgrade
run_cluster3_mixed() {
  new_stage "$1"
  local old new=$VER ports m i
  case "$VER" in 3.6.*) old=3.5.36 ;; 3.7.*) old=3.6.17 ;; *) die "$1: no previous minor known" ;; esac
  read -r -a ports < <(helper freeports 6)
  declare -A CP PP PIDOF MVER
  local icluster=""
  for i in 0 1 2; do
    m=n$((i + 1))
    CP[$m]=${ports[$((2 * i))]}
    PP[$m]=${ports[$((2 * i + 1))]}
    icluster+="${icluster:+,}$m=http://127.0.0.1:${PP[$m]}"
  done
  mf "members=n1 n2 n3"
  mf "initial_cluster=$icluster"
  mf "note=member and cluster IDs depend on the (free) peer ports, so they differ between runs"
  mstart() { # mstart MEMBER VERSION
    MVER[$1]=$2
    start_node "$2" "$1" "$DATA/$1" "${CP[$1]}" "${PP[$1]}" "http://127.0.0.1:${CP[$1]}" \
      "http://127.0.0.1:${PP[$1]}" "$icluster"
    PIDOF[$1]=$NODE_PID
  }
  mhealthy() { # mhealthy MEMBER...: all healthy within one 30 s budget
    local deadline=$((SECONDS + 30)) ok x
    for x in "$@"; do
      ok=0
      while ((SECONDS < deadline)); do
        alive "${PIDOF[$x]}" || { tail -n 20 "$LAST_LOG" >&2; die "$1: etcd $x exited during start-up"; }
        if timeout 10 env ETCDCTL_API=3 "$BIN_DIR/${MVER[$x]}/etcdctl" --endpoints "http://127.0.0.1:${CP[$x]}" \
             --dial-timeout 2s --command-timeout 3s endpoint health >/dev/null 2>&1; then ok=1; break; fi
        sleep 0.5
      done
      [[ $ok == 1 ]] || die "member $x not healthy within 30 s"
    done
  }
  mconverge() { # every member at the same applied index, at most 30 s
    local deadline=$((SECONDS + 30)) all want idx x
    while :; do
      all=1; want=""
      for x in n1 n2 n3; do
        CUR_PORT=${CP[$x]}
        ctl endpoint status -w json >"$WORK/st-$x.json"
        idx=$(helper json-get "$WORK/st-$x.json" 0.Status.raftAppliedIndex)
        [[ -z "$want" ]] && want=$idx
        [[ "$idx" == "$want" ]] || all=0
      done
      [[ $all == 1 ]] && break
      ((SECONDS < deadline)) || die "members did not converge within 30 s"
      sleep 0.5
    done
  }
  for m in n1 n2 n3; do mstart "$m" "$old"; mf "$m.client_url=http://127.0.0.1:${CP[$m]}"; mf "$m.peer_url=http://127.0.0.1:${PP[$m]}"; done
  mhealthy n1 n2 n3
  CUR_VER=$old; CTL_AUTH=()
  for m in n1 n2 n3; do CUR_PORT=${CP[$m]}; wait_storage_version; done
  CUR_PORT=${CP[n1]}
  helper seq-put "$CUR_PORT" c/ 50 >/dev/null
  ctlq del --prefix c/0004
  helper grant "$CUR_PORT" 0x4000 3600 >/dev/null
  ctlq put --lease=4000 leased/k1 l1
  mf "writes_on_$old=50 puts c/00000..c/00049 (v<i>); del --prefix c/0004; lease 0x4000 with leased/k1 (through n1, all members on $old)"
  mconverge
  for m in n1 n2; do   # rolling upgrade of n1 and n2; quorum kept throughout
    stop_pid "${PIDOF[$m]}" || die "$1: etcd $m did not stop cleanly"
    mstart "$m" "$new"
    mhealthy "$m"
    mf "$m.upgraded_to=$new"
  done
  CUR_VER=$new; CUR_PORT=${CP[n1]}
  helper seq-put "$CUR_PORT" m/ 20 >/dev/null
  ctlq put hello mixed
  mf "writes_mixed=20 puts m/00000..m/00019 (v<i>); put hello mixed (through n1 on $new; n3 still on $old)"
  mconverge
  local exp=$STAGE/expected leader_id leader=""
  CUR_PORT=${CP[n1]}
  ctl member list -w json >"$exp/member-list.json"
  for m in n1 n2 n3; do
    CUR_VER=${MVER[$m]}; CUR_PORT=${CP[$m]}
    ctl endpoint status -w json >"$exp/$m.endpoint-status.json"
    ctl endpoint hashkv -w json >"$exp/$m.hashkv.json"
    mf "$m.version=${MVER[$m]}"
    helper json-kv "$exp/$m.endpoint-status.json" "$m.member_id=0.Status.header.member_id" \
      "$m.server_version=0.Status.version" "$m.storage_version=0.Status.storageVersion=" \
      "$m.live_revision=0.Status.header.revision" "$m.live_raft_index=0.Status.raftIndex" \
      "$m.live_raft_applied_index=0.Status.raftAppliedIndex" "$m.live_raft_term=0.Status.raftTerm" \
      "$m.leader=0.Status.leader" >>"$MANIFEST"
    helper json-kv "$exp/$m.hashkv.json" "$m.live_hashkv=0.HashKV.hash" >>"$MANIFEST"
  done
  helper json-kv "$exp/n1.endpoint-status.json" cluster_id=0.Status.header.cluster_id >>"$MANIFEST"
  leader_id=$(helper json-get "$exp/n1.endpoint-status.json" 0.Status.leader)
  for m in n1 n2 n3; do
    [[ "$(helper json-get "$exp/$m.endpoint-status.json" 0.Status.header.member_id)" == "$leader_id" ]] && leader=$m
  done
  [[ -n "$leader" ]] || die "$1: could not tell which member is the leader"
  mf "leader=$leader"
  for m in n1 n2 n3; do
    [[ $m == "$leader" ]] && continue
    stop_pid "${PIDOF[$m]}" || die "$1: etcd $m did not stop cleanly"
  done
  stop_pid "${PIDOF[$leader]}" || die "$1: etcd $leader did not stop cleanly"
  mf "stop_order=followers first, then the leader ($leader), each by SIGTERM"
  for m in n1 n2 n3; do
    keep_datadir "$m"
    mf "$m.etcdutl_for_goldens=$(utl_ver "${MVER[$m]}")"
    db_goldens "$m" "$m." "${MVER[$m]}"
  done
  install_stage "$STAGE" "$1"
}

# kill_pid PID: SIGKILL, bounded wait (10 s)
kill_pid() {
  local pid=$1 i
  exec 4>&2 2>/dev/null   # hide bash's "Killed" job notice
  kill -KILL "$pid" || true
  for ((i = 0; i < 100; i++)); do alive "$pid" || break; sleep 0.1; done
  wait "$pid" || true
  exec 2>&4 4>&-
  alive "$pid" && die "pid $pid survived SIGKILL for 10 s"
  forget_pid "$pid"
}

run_wal_ahead() {
  new_stage "$1"
  mf "member_name=n1"
  mf "advertised_peer_url=http://127.0.0.1:2380 (fixed; the server listened on a free port)"
  mf "advertised_client_url=http://127.0.0.1:2379 (fixed; the server listened on a free port)"
  # backend commits only when forced: a 10-minute batch interval and a huge batch limit
  mf "etcd_flags=--backend-batch-interval 10m --backend-batch-limit 1000000"
  # 3.6+ does not report (or write) meta/storageVersion within 30 s with these flags: no wait
  NO_SV_WAIT=1 start_single "$VER" n1 --backend-batch-interval 10m --backend-batch-limit 1000000
  local pid=$NODE_PID exp=$STAGE/expected
  helper seq-put "$CUR_PORT" w/ 50 >/dev/null
  ctlq put phase a
  helper hash "$CUR_PORT" >"$exp/committed.hash.json"    # Maintenance.Hash forces a backend commit
  ctl endpoint status -w json >"$exp/committed.endpoint-status.json"
  helper json-kv "$exp/committed.endpoint-status.json" committed_revision=0.Status.header.revision \
    committed_raft_index=0.Status.raftIndex >>"$MANIFEST"
  # phase B: only in the WAL
  helper seq-put "$CUR_PORT" x/ 30 >/dev/null
  ctlq del w/00001
  ctlq put phase b
  ctl endpoint status -w json >"$exp/live.endpoint-status.json"
  ctl endpoint hashkv -w json >"$exp/live.hashkv.json"
  kill_pid "$pid"
  mf "writes=phase A: 50 puts w/00000..w/00049 (v<i>), put phase a, then a forced backend commit (POST /v3/maintenance/hash); phase B (WAL only): 30 puts x/00000..x/00029 (v<i>), del w/00001, put phase b; then SIGKILL"
  helper json-kv "$exp/live.endpoint-status.json" live_revision=0.Status.header.revision \
    live_raft_index=0.Status.raftIndex live_raft_applied_index=0.Status.raftAppliedIndex \
    live_raft_term=0.Status.raftTerm member_id=0.Status.header.member_id \
    cluster_id=0.Status.header.cluster_id >>"$MANIFEST"
  helper json-kv "$exp/live.hashkv.json" live_hashkv=0.HashKV.hash >>"$MANIFEST"
  ver_ge "$VER" 3.6 &&
    helper json-kv "$exp/live.endpoint-status.json" live_storage_version=0.Status.storageVersion= >>"$MANIFEST"
  keep_datadir n1
  db_goldens n1 ""
  local ci live_idx db_rev live_rev
  ci=$(grep '^data/n1/member/snap/db.meta_consistent_index=' "$MANIFEST" | cut -d= -f2)
  live_idx=$(helper json-get "$exp/live.endpoint-status.json" 0.Status.raftAppliedIndex)
  db_rev=$(helper json-get "$exp/db.status.json" revision)
  live_rev=$(helper json-get "$exp/live.endpoint-status.json" 0.Status.header.revision)
  ((ci < live_idx)) || die "$1: db consistent_index $ci is not behind the live applied index $live_idx"
  ((db_rev < live_rev)) || die "$1: db revision $db_rev is not behind the live revision $live_rev"
  mf "wal_ahead=db consistent_index $ci < live applied index $live_idx; db revision $db_rev < live revision $live_rev"
  NO_SV_WAIT=1 verify_restart "$VER" n1 "$live_rev" "$exp/live.hashkv.json"
  install_stage "$STAGE" "$1"
}

START=$SECONDS
log "binaries: $BIN_DIR; output: $OUT; work: $WORK"
n=0
for id in "${SCENARIOS[@]}"; do
  selected "$id" || continue
  case "${id#*/}" in
    single-node) run_single_node "$id" ;;
    snapshotted) SN_PUTS=640 run_single_node "$id" ;;
    restore-ref) run_restore_ref "$id" ;;
    upgrade-*) run_upgrade "$id" ;;
    cluster3-mixed) run_cluster3_mixed "$id" ;;
    cluster3) run_cluster3 "$id" ;;
    v2-patroni) run_v2_patroni "$id" ;;
    wal-ahead) run_wal_ahead "$id" ;;
    *) run_single "$id" ;;
  esac
  n=$((n + 1))
done
[[ $n -gt 0 ]] || die "no scenario matched ${ONLY[*]}"
log "done: $n scenario(s) in $((SECONDS - START)) s into $OUT"
