#!/usr/bin/env bash
# Regenerates testdata/patroni/: a real two-node Patroni cluster (PostgreSQL 15
# from Debian, Patroni from PyPI pinned in scripts/patroni-requirements.txt) on
# real etcd 3.4.23 (v2 API) and 3.5.1 (v3 API), switchover + failover, etcd data
# saved at four points with patronictl's list/history/show-config beside it.
#
#   ETCD_RESCUE_BIN_DIR   dir with 3.4.23/ and 3.5.1/ (default <repo>/.etcd-bin)
#   PATRONI_PG_BIN        PostgreSQL bin dir (default /usr/lib/postgresql/15/bin;
#                         installed with `apt-get install postgresql-15` when missing
#                         and we are root, with the system cluster never started)
#   PATRONI_VENV          venv for Patroni (default <repo>/.patroni-venv, made here)
#   PATRONI_PG_USER       unprivileged user PostgreSQL runs as when we are root
#                         (default etcdrescue-pg, created when missing)
#   PATRONI_OUT           output dir (default <repo>/testdata/patroni)
# Arguments: scenario names to make (default: all), e.g. v3-etcd-3.5.1.
# Takes about 3 minutes (two clusters, each waits out one leader TTL of 20 s).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
export ETCD_RESCUE_BIN_DIR=${ETCD_RESCUE_BIN_DIR:-$repo/.etcd-bin}
export PATRONI_PG_BIN=${PATRONI_PG_BIN:-/usr/lib/postgresql/15/bin}
export PATRONI_VENV=${PATRONI_VENV:-$repo/.patroni-venv}
export PATRONI_PG_USER=${PATRONI_PG_USER:-etcdrescue-pg}
export PATRONI_OUT=${PATRONI_OUT:-$repo/testdata/patroni}

for v in 3.4.23 3.5.1; do
  [ -x "$ETCD_RESCUE_BIN_DIR/$v/etcd" ] || { echo "no etcd $v under $ETCD_RESCUE_BIN_DIR (scripts/get-etcd.sh)" >&2; exit 2; }
done
if [ ! -x "$PATRONI_PG_BIN/postgres" ]; then
  if [ "$(id -u)" = 0 ]; then
    # policy-rc.d 101: the package's postinst must not start the system cluster.
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-15 >/dev/null
    rm -f /usr/sbin/policy-rc.d
  else
    echo "no PostgreSQL at $PATRONI_PG_BIN (apt-get install postgresql-15)" >&2; exit 2
  fi
fi
if [ ! -x "$PATRONI_VENV/bin/patroni" ]; then
  # Debian's python: the venv's interpreter must be reachable by PATRONI_PG_USER
  # (a pyenv python under /root is not, and Patroni re-executes it to start PostgreSQL).
  py=/usr/bin/python3; [ -x "$py" ] || py=python3
  "$py" -m venv "$PATRONI_VENV"
  "$PATRONI_VENV/bin/pip" install -q -r "$repo/scripts/patroni-requirements.txt"
fi
if [ "$(id -u)" = 0 ] && ! id "$PATRONI_PG_USER" >/dev/null 2>&1; then
  useradd -m "$PATRONI_PG_USER"
fi
# The venv is run by that user too: make sure it can read it.
chmod -R a+rX "$PATRONI_VENV"
exec timeout 900 "$PATRONI_VENV/bin/python" "$repo/scripts/patroni_testdata.py" "$@"
