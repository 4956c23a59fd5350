#!/usr/bin/env bash
# make-k8s-testdata.sh: Kubernetes objects written through a real etcd, as
# kube-apiserver stores them, with goldens (scripts/k8s-oracle/).
#
# Usage: scripts/make-k8s-testdata.sh [--out DIR] [--bin-dir DIR] [--events N]
#
#   --out DIR     output (default <repo>/testdata/k8s); replaced as a whole.
#   --events N    Events created (churn; default 120).
#   --schema-out DIR  where k8s.binpb and k8s-json.json go (default <repo>/src/etcd/k8s;
#                 scripts/test.sh writes them elsewhere and compares).
#
# Writes DIR/snapshot.db (etcdctl 3.5.1 `snapshot save`), DIR/objects.jsonl (every
# put/delete/compaction with the revision etcd gave it; per put the object as
# encoding/json renders the typed object, resourceVersion = that revision),
# DIR/listing.json (live objects at the end), DIR/encryption-config.yaml (the
# EncryptionConfiguration that decrypts every Secret), encryption-config-wrong.yaml
# (same key names, other secrets), and DIR/manifest.txt. Also refreshes
# src/etcd/k8s/k8s.binpb, the FileDescriptorSet of the pinned k8s .proto files.
#
# etcd listens on 127.0.0.1 on free ports in a temp dir, is stopped by PID with a
# bounded wait; the temp dir is removed on exit.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN_DIR=${ETCD_RESCUE_BIN_DIR:-$REPO/.etcd-bin}
OUT=$REPO/testdata/k8s
EVENTS=120
SCHEMA_OUT=$REPO/src/etcd/k8s
while [ $# -gt 0 ]; do
  case "$1" in
    --out) OUT=$2; shift 2 ;;
    --bin-dir) BIN_DIR=$2; shift 2 ;;
    --events) EVENTS=$2; shift 2 ;;
    --schema-out) SCHEMA_OUT=$2; shift 2 ;;
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
ETCD=$BIN_DIR/3.5.1/etcd
ETCDCTL=$BIN_DIR/3.5.1/etcdctl
[ -x "$ETCD" ] && [ -x "$ETCDCTL" ] || { echo "needs $ETCD and $ETCDCTL (scripts/get-etcd.sh)" >&2; exit 2; }

WORK=$(mktemp -d)
PID=
cleanup() {
  if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
    kill "$PID"; for _ in $(seq 50); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

echo "building k8s-oracle" >&2
ORACLE=$WORK/k8s-oracle
(cd "$REPO/scripts/k8s-oracle" && GOTOOLCHAIN=local CGO_ENABLED=0 go build -trimpath -mod=readonly -o "$ORACLE" .)

roots=()
for m in k8s.io/api k8s.io/apimachinery k8s.io/apiextensions-apiserver; do
  dir=$(cd "$REPO/scripts/k8s-oracle" && GOTOOLCHAIN=local go list -mod=readonly -m -f '{{.Dir}}' "$m")
  roots+=(-root "$m=$dir")
done
mkdir -p "$SCHEMA_OUT"
"$ORACLE" descriptors -out "$SCHEMA_OUT/k8s.binpb" -json-meta "$SCHEMA_OUT/k8s-json.json" "${roots[@]}"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
CP=$(free_port); PP=$(free_port)
"$ETCD" --name k8s --data-dir "$WORK/data" \
  --listen-client-urls "http://127.0.0.1:$CP" --advertise-client-urls "http://127.0.0.1:$CP" \
  --listen-peer-urls "http://127.0.0.1:$PP" --initial-advertise-peer-urls "http://127.0.0.1:$PP" \
  --initial-cluster "k8s=http://127.0.0.1:$PP" >"$WORK/etcd.log" 2>&1 &
PID=$!
for _ in $(seq 100); do
  "$ETCDCTL" --endpoints "127.0.0.1:$CP" endpoint health >/dev/null 2>&1 && break
  sleep 0.2
done
"$ETCDCTL" --endpoints "127.0.0.1:$CP" endpoint health >/dev/null

NEW=$WORK/out
mkdir -p "$NEW"
"$ORACLE" write -endpoint "http://127.0.0.1:$CP" -out "$NEW" -events "$EVENTS"
"$ETCDCTL" --endpoints "127.0.0.1:$CP" snapshot save "$NEW/snapshot.db" >/dev/null
{
  echo "etcd=3.5.1"
  echo "k8s.io/api=$(cd "$REPO/scripts/k8s-oracle" && GOTOOLCHAIN=local go list -mod=readonly -m -f '{{.Version}}' k8s.io/api)"
  "$ETCDCTL" --endpoints "127.0.0.1:$CP" endpoint status -w json | python3 -c 'import json,sys; h=json.load(sys.stdin)[0]["Status"]["header"]; print("revision=%d" % h["revision"])'
  echo "events=$EVENTS"
} >"$NEW/manifest.txt"
kill "$PID"; for _ in $(seq 100); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
PID=
rm -rf "$OUT"
mkdir -p "$(dirname "$OUT")"
cp -r "$NEW" "$OUT"
du -sh "$OUT" >&2
