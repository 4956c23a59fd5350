#!/usr/bin/env bash
# make-testdata.sh: generate real-etcd test inputs and golden outputs.
#
# Usage: scripts/make-testdata.sh [--out DIR] [--bin-dir DIR] [--only GLOB]... [--list] [-h]
#
#   --out DIR      output directory (default: <repo>/testdata). May be an empty temp dir.
#                  Each generated scenario directory DIR/etcd-<version>/<scenario> is
#                  replaced as a whole; nothing else in DIR is touched (README.md stays).
#   --bin-dir DIR  where scripts/get-etcd.sh installed the binaries
#                  (default: ${ETCD_RESCUE_BIN_DIR:-<repo>/.etcd-bin}).
#   --only GLOB    only generate scenarios whose id (etcd-<version>/<scenario>) matches the
#                  shell glob, e.g. --only 'etcd-3.5.1/*' or --only etcd-3.4.23/basic.
#                  May be repeated.
#   --list         print the scenario ids and exit.
#
# Needs: etcd 3.5.1 (etcd, etcdctl, etcdutl) and 3.4.23 (etcd, etcdctl) from
# scripts/get-etcd.sh, python3. bbolt-check (also from get-etcd.sh) is used to verify
# the outputs when present.
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
# Every etcd listens on 127.0.0.1 on free ports; it is stopped by PID (SIGTERM, bounded
# wait, SIGKILL as a last resort which makes the script fail); every wait is bounded;
# the work directory is removed by an EXIT trap and no process is left running.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN_DIR=${ETCD_RESCUE_BIN_DIR:-$REPO/.etcd-bin}
OUT=$REPO/testdata
ONLY=()
LIST=0
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
)

if [[ $LIST == 1 ]]; then printf '%s\n' "${SCENARIOS[@]}"; exit 0; fi

log() { echo "make-testdata: $*"; }
die() { echo "make-testdata: ERROR: $*" >&2; exit 1; }

# Environment variables named ETCD_* / ETCDCTL_* would change etcd's or etcdctl's
# configuration: drop them (ours are ETCD_RESCUE_*).
while read -r v; do
  case "$v" in ETCD_RESCUE_*) ;; ETCD_*|ETCDCTL_*) unset "$v" ;; esac
done < <(compgen -e)

BIN351=$BIN_DIR/3.5.1
BIN3423=$BIN_DIR/3.4.23
ETCDUTL=$BIN351/etcdutl
BBOLT_CHECK=$BIN_DIR/bbolt-check
for f in "$BIN351/etcd" "$BIN351/etcdctl" "$ETCDUTL" "$BIN3423/etcd" "$BIN3423/etcdctl"; do
  [[ -x "$f" ]] || die "missing $f: run scripts/get-etcd.sh first (or pass --bin-dir)"
done
if [[ ! -x "$BBOLT_CHECK" ]]; then
  log "WARNING: $BBOLT_CHECK not found; structural verification of outputs is skipped"
  BBOLT_CHECK=
fi

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

# Work dir on tmpfs when possible (fsync is cheap there, so 30k puts take seconds).
WORK=
if [[ -d /dev/shm && -w /dev/shm ]]; then WORK=$(mktemp -d /dev/shm/etcd-testdata.XXXXXX 2>/dev/null || true); fi
[[ -n "$WORK" ]] || WORK=$(mktemp -d "${TMPDIR:-/tmp}/etcd-testdata.XXXXXX")
mkdir -p "$WORK/logs"

PIDS=()

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
  timeout 120 env ETCDCTL_API=3 "$BIN_DIR/$CUR_VER/etcdctl" --endpoints "http://127.0.0.1:$CUR_PORT" \
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
}

# goldens SCENARIO_DIR VERSION: status outputs for every *.db input
goldens() {
  local dir=$1 ver=$2 f fmt
  for f in snapshot.db raw.db; do
    [[ -f "$dir/$f" ]] || continue
    for fmt in simple table json fields; do
      (cd "$dir" && timeout 60 "$ETCDUTL" snapshot status "$f" -w "$fmt") \
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
  mf "etcdutl_for_goldens=3.5.1"
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

selected() {
  local id=$1 g
  [[ ${#ONLY[@]} -eq 0 ]] && return 0
  for g in "${ONLY[@]}"; do
    # shellcheck disable=SC2053
    [[ $id == $g ]] && return 0
  done
  return 1
}

START=$SECONDS
log "binaries: $BIN_DIR; output: $OUT; work: $WORK"
n=0
for id in "${SCENARIOS[@]}"; do
  selected "$id" || continue
  run_single "$id"
  n=$((n + 1))
done
[[ $n -gt 0 ]] || die "no scenario matched ${ONLY[*]}"
log "done: $n scenario(s) in $((SECONDS - START)) s into $OUT"
