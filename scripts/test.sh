#!/usr/bin/env bash
# test.sh: the whole test suite, on a fresh machine or in CI.
#
#   1. installs real etcd (3.5.1, 3.4.23; 3.5.36, 3.6.17, 3.7.3 and the bbolt CLI built
#      from scripts/etcd-oracle with Go >= 1.26) and the Go bbolt check oracle with
#      scripts/get-etcd.sh (cached in .etcd-bin/);
#   2. cargo test: unit tests, proptests, and integration tests against the
#      committed real-etcd files in testdata/ (and live etcd where a test needs it);
#   3. interop: regenerates every scenario (3.4.23, 3.5.1, 3.6.17, 3.7.3, upgrades,
#      restore references) with the real binaries into a temp dir, and the Patroni
#      clusters with real Patroni and PostgreSQL 15 (PATRONI=0 skips them), and the
#      Kubernetes objects (make-k8s-testdata.sh), and reruns every golden test (every
#      test named `golden_*`) on those fresh files; a filter that matches no test fails;
#   4. fuzz smoke: every cargo-fuzz target for a short fixed time on a seed corpus
#      made from testdata/ (FUZZ_SECONDS, default 10; FUZZ=0 skips).
#
# Skips: a test that cannot find a real binary calls util::skip, which prints
# `SKIPPED: ...` and appends a line to $ETCD_RESCUE_SKIP_LOG; the summary at the
# end prints how many ran and how many were skipped. With
# ETCD_RESCUE_REQUIRE_REAL=1 (the default here once get-etcd.sh succeeded, and
# always in CI) a skip is a failure. The last lines are cargo's own
# `test result:` lines of every test binary run.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
export ETCD_RESCUE_BIN_DIR=${ETCD_RESCUE_BIN_DIR:-$REPO/.etcd-bin}

step() { printf '\n=== %s\n' "$*"; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export ETCD_RESCUE_SKIP_LOG="$work/skipped.txt"
: >"$ETCD_RESCUE_SKIP_LOG"
summary="$work/results.txt"
: >"$summary"
started=$(date +%s)

# Runs cargo test with the given args, shows its output, and keeps its
# `test result:` lines for the summary.
cargo_test() {
  local log="$work/cargo-$RANDOM.log" rc=0
  cargo test "$@" 2>&1 | tee "$log" || rc=$?
  grep -E '^test result: ' "$log" >>"$summary" || true
  return "$rc"
}

step "real etcd binaries"
if [[ "${SKIP_GET_ETCD:-0}" != 1 ]]; then
  scripts/get-etcd.sh
fi
export ETCD_RESCUE_REQUIRE_REAL=${ETCD_RESCUE_REQUIRE_REAL:-1}

step "cargo test"
cargo_test --all-targets

step "interop: fresh real-etcd files vs the golden tests"
fresh="$work/fresh"
mkdir -p "$fresh"
scripts/make-testdata.sh --out "$fresh"
# Kubernetes objects through real etcd (Go k8s-oracle; ~10 s after its build), and
# the schema files built into the binary, which must equal the committed ones.
scripts/make-k8s-testdata.sh --out "$fresh/k8s" --schema-out "$work/k8s-schema"
for f in k8s.binpb k8s-json.json; do
  cmp "$work/k8s-schema/$f" "src/etcd/k8s/$f" || { echo "test.sh: src/etcd/k8s/$f differs from what scripts/k8s-oracle generates; rerun scripts/make-k8s-testdata.sh" >&2; exit 1; }
done
# Real Patroni (PyPI) and PostgreSQL 15 (Debian) on real etcd 3.4.23/3.5.1:
# the same four points as testdata/patroni/, made again (about 5 minutes).
if [[ "${PATRONI:-1}" != 0 ]]; then
  PATRONI_OUT="$fresh/patroni" scripts/make-patroni-testdata.sh
else
  cp -r testdata/patroni "$fresh/patroni"
fi
# The golden set must not be empty (a renamed test would silently drop out).
n_golden=$(cargo test --test integration -- --list golden_ 2>/dev/null | grep -c ': test$' || true)
if [[ "$n_golden" -eq 0 ]]; then
  echo "test.sh: the filter golden_ matches no test" >&2
  exit 1
fi
echo "$n_golden golden tests on $fresh"
ETCD_RESCUE_TESTDATA="$fresh" cargo_test --test integration -- golden_

if [[ "${FUZZ:-1}" != 0 ]]; then
  step "fuzz smoke (${FUZZ_SECONDS:-10}s per target)"
  scripts/fuzz.sh smoke "${FUZZ_SECONDS:-10}"
fi

step "summary"
skipped=$(grep -c '^SKIPPED' "$ETCD_RESCUE_SKIP_LOG" || true)
read -r passed failed ignored < <(awk '{
    for (i = 1; i <= NF; i++) {
      if ($(i) ~ /^passed;?$/) p += $(i-1);
      if ($(i) ~ /^failed;?$/) f += $(i-1);
      if ($(i) ~ /^ignored;?$/) g += $(i-1);
    }
  } END { print p+0, f+0, g+0 }' "$summary")
echo "wall time: $(( $(date +%s) - started )) s"
echo "tests run: $((passed + failed)) ($passed passed, $failed failed, $ignored ignored by #[ignore]; the golden tests count twice: committed and fresh files)"
echo "$skipped skipped (a real binary was missing)"
if [[ "$skipped" -gt 0 ]]; then
  sed 's/^/  /' "$ETCD_RESCUE_SKIP_LOG"
  if [[ "${ETCD_RESCUE_REQUIRE_REAL}" == 1 ]]; then
    echo "test.sh: $skipped test(s) skipped while ETCD_RESCUE_REQUIRE_REAL=1" >&2
    exit 1
  fi
fi
echo "cargo's results:"
cat "$summary"
