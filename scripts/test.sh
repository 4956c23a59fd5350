#!/usr/bin/env bash
# test.sh: the whole test suite, on a fresh machine or in CI.
#
#   1. installs real etcd (3.5.1, 3.4.23, and 3.5.16/3.5.30 when available) and the
#      Go bbolt check oracle with scripts/get-etcd.sh (cached in .etcd-bin/);
#   2. cargo test: unit tests, proptests, and integration tests against the
#      committed real-etcd files in testdata/ (and live etcd where a test needs it);
#   3. interop: regenerates every scenario with the real binaries into a temp dir
#      and runs the golden tests against those fresh files;
#   4. fuzz smoke: every cargo-fuzz target for a short fixed time on a seed corpus
#      made from testdata/ (FUZZ_SECONDS, default 10; FUZZ=0 skips).
#
# With real etcd installed, tests that need it fail instead of skipping
# (ETCD_RESCUE_REQUIRE_REAL=1). Exit status is non-zero if anything failed.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
export ETCD_RESCUE_BIN_DIR=${ETCD_RESCUE_BIN_DIR:-$REPO/.etcd-bin}

step() { printf '\n=== %s\n' "$*"; }

step "real etcd binaries"
scripts/get-etcd.sh
export ETCD_RESCUE_REQUIRE_REAL=1

step "cargo test"
cargo test --all-targets 2>&1

step "interop: fresh real-etcd files vs the golden tests"
fresh=$(mktemp -d)
trap 'rm -rf "$fresh"' EXIT
scripts/make-testdata.sh --out "$fresh"
ETCD_RESCUE_TESTDATA="$fresh" cargo test --test integration -- \
  golden matches_live_goldens single_node_matches cluster3_members wal_ahead_replay v2_patroni \
  real_files_are_sound real_data_dirs_are_sound 2>&1

if [[ "${FUZZ:-1}" != 0 ]]; then
  step "fuzz smoke (${FUZZ_SECONDS:-10}s per target)"
  scripts/fuzz.sh smoke "${FUZZ_SECONDS:-10}"
fi
step "all tests passed"
