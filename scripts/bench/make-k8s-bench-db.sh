#!/usr/bin/env bash
# make-k8s-bench-db.sh: a Kubernetes-shaped benchmark db (not committed).
#
# Usage: scripts/bench/make-k8s-bench-db.sh [--out DIR] [-- ORACLE-BENCH-FLAGS...]
#   --out DIR   default ${ETCD_RESCUE_K8S_BENCH_DIR:-/var/tmp/etcd-rescue-bench-k8s}
#   flags after -- go to `k8s-oracle bench` (-pods, -configmaps, -secrets,
#   -events, -pod-updates, -namespaces, -workers).
#
# Starts etcd 3.5.1 on 127.0.0.1 (free ports, temp data dir, --unsafe-no-fsync
# for speed: the files etcd writes are the same), runs `k8s-oracle bench`
# (real k8s.io/api objects in the apiserver's protobuf encoding, Event churn,
# Pod status updates), saves DIR/snapshot.db with etcdctl and writes
# DIR/manifest.txt. etcd is stopped by PID with a bounded wait.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BIN_DIR=${ETCD_RESCUE_BIN_DIR:-$REPO/.etcd-bin}
OUT=${ETCD_RESCUE_K8S_BENCH_DIR:-/var/tmp/etcd-rescue-bench-k8s}
while [ $# -gt 0 ]; do
  case "$1" in
    --out) OUT=$2; shift 2 ;;
    --) shift; break ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
ETCD=$BIN_DIR/3.5.1/etcd
ETCDCTL=$BIN_DIR/3.5.1/etcdctl
[ -x "$ETCD" ] && [ -x "$ETCDCTL" ] || { echo "needs $ETCD and $ETCDCTL" >&2; exit 2; }
WORK=$(mktemp -d /var/tmp/k8s-bench.XXXXXX)
PID=
cleanup() {
  if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
    kill "$PID"; for _ in $(seq 100); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
(cd "$REPO/scripts/k8s-oracle" && GOTOOLCHAIN=local CGO_ENABLED=0 go build -trimpath -mod=readonly -o "$WORK/k8s-oracle" .)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
CP=$(free_port); PP=$(free_port)
"$ETCD" --name k8s --data-dir "$WORK/data" --unsafe-no-fsync --quota-backend-bytes 8589934592 \
  --listen-client-urls "http://127.0.0.1:$CP" --advertise-client-urls "http://127.0.0.1:$CP" \
  --listen-peer-urls "http://127.0.0.1:$PP" --initial-advertise-peer-urls "http://127.0.0.1:$PP" \
  --initial-cluster "k8s=http://127.0.0.1:$PP" >"$WORK/etcd.log" 2>&1 &
PID=$!
for _ in $(seq 100); do
  "$ETCDCTL" --endpoints "127.0.0.1:$CP" endpoint health >/dev/null 2>&1 && break
  sleep 0.2
done
"$ETCDCTL" --endpoints "127.0.0.1:$CP" endpoint health >/dev/null
START=$(date +%s)
"$WORK/k8s-oracle" bench -endpoint "http://127.0.0.1:$CP" "$@"
mkdir -p "$OUT"
"$ETCDCTL" --endpoints "127.0.0.1:$CP" snapshot save "$OUT/snapshot.db.part" >/dev/null 2>&1
mv "$OUT/snapshot.db.part" "$OUT/snapshot.db"
{
  echo "etcd=3.5.1"
  echo "oracle-flags=$*"
  "$ETCDCTL" --endpoints "127.0.0.1:$CP" endpoint status -w json | python3 -c 'import json,sys; h=json.load(sys.stdin)[0]["Status"]; print("revision=%d\ndb_size=%d" % (h["header"]["revision"], h["dbSize"]))'
  echo "keys=$("$ETCDCTL" --endpoints "127.0.0.1:$CP" get --prefix /registry/ --count-only -w json | python3 -c 'import json,sys; print(json.load(sys.stdin).get("count",0))')"
  echo "seconds=$(( $(date +%s) - START ))"
} >"$OUT/manifest.txt"
cat "$OUT/manifest.txt"
