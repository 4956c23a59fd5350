#!/usr/bin/env bash
# fuzz.sh: cargo-fuzz targets on seed corpora made from testdata/.
#
#   scripts/fuzz.sh seeds              build fuzz/corpus/<target>/ from testdata (not committed)
#   scripts/fuzz.sh smoke [SECONDS]    every target for SECONDS (default 15) each
#   scripts/fuzz.sh run TARGET [ARGS]  one target, extra libFuzzer args (e.g. -runs=10000000)
#   scripts/fuzz.sh campaign TARGET [RUNS]
#                                      a long run (default 10,000,000 executions)
#                                      as the issue notes report them: no
#                                      sanitizer, debug assertions and overflow
#                                      checks on, a per-target -max_len
#
# Why no sanitizer for campaigns: the targets reach only safe Rust (the
# crate's unsafe code is the mmap/madvise in source.rs, which no target
# calls, and a prefetch hint); ASan would cost 3-10x the runs without
# guarding anything. -max_len keeps the whole-db seeds (up to 4 MB) from
# making one execution cost milliseconds: a few pages still cover every
# page kind, overflow and nested bucket.
#
# Installs cargo-fuzz if missing. Uses the nightly toolchain when rustup has it,
# otherwise stable with RUSTC_BOOTSTRAP=1 (cargo-fuzz needs -Z flags).
# Crashes land in fuzz/artifacts/<target>/; copy each into testdata/regressions/
# with a unit test before fixing it.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO/fuzz"

if ! command -v cargo-fuzz >/dev/null 2>&1; then
  echo "installing cargo-fuzz"
  timeout 900 cargo install cargo-fuzz --locked
fi
if [[ ! -f Cargo.lock ]]; then
  echo "fuzz.sh: fuzz/Cargo.lock is missing; it is committed so the fuzz build is pinned" >&2
  exit 1
fi
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  FUZZ=(cargo +nightly fuzz)
else
  export RUSTC_BOOTSTRAP=1
  FUZZ=(cargo fuzz)
fi

# The target list, once; zero targets (or a failing `cargo fuzz list`) is an
# error, never a smoke run that passes having fuzzed nothing.
TARGETS=()
targets_or_die() {
  local out
  if ! out=$("${FUZZ[@]}" list); then
    echo "fuzz.sh: 'cargo fuzz list' failed" >&2
    exit 1
  fi
  mapfile -t TARGETS < <(printf '%s\n' "$out" | sed '/^[[:space:]]*$/d')
  if [[ ${#TARGETS[@]} -eq 0 ]]; then
    echo "fuzz.sh: no fuzz targets found in fuzz/Cargo.toml" >&2
    exit 1
  fi
}

seeds() {
  # Seeds: every small real file under testdata, routed by kind.
  local t n=0
  for t in "${TARGETS[@]}"; do mkdir -p "corpus/$t"; done
  while IFS= read -r -d '' f; do
    local size; size=$(stat -c %s "$f")
    [[ $size -gt 4000000 ]] && continue
    local h; h=$(sha1sum "$f" | cut -c1-16)
    case "$f" in
      *.db) for t in bbolt_db salvage_scan compact; do
              if [[ -d corpus/$t ]]; then cp "$f" "corpus/$t/$h"; fi
            done
            if [[ -d corpus/bbolt_page ]]; then head -c 4096 "$f" > "corpus/bbolt_page/$h"; fi ;;
      *.wal) if [[ -d corpus/wal_segment ]]; then head -c 200000 "$f" > "corpus/wal_segment/$h"; fi ;;
      *.snap) if [[ -d corpus/snap ]]; then cp "$f" "corpus/snap/$h"; fi ;;
    esac
    n=$((n+1))
  done < <(find "$REPO/testdata" -type f \( -name '*.db' -o -name '*.wal' -o -name '*.snap' \) -print0)
  # k8s_value: every value kube-apiserver's encoding wrote into testdata/k8s
  # (read back with our own `keys`, built by then).
  local bin=$REPO/target/debug/etcd-rescue
  if [[ -d corpus/k8s_value && -x $bin && -f $REPO/testdata/k8s/snapshot.db ]]; then
    "$bin" keys "$REPO/testdata/k8s/snapshot.db" --prefix /registry/ -w json | python3 -c '
import base64, hashlib, json, sys
for line in sys.stdin:
    r = json.loads(line)
    v = base64.b64decode(r["value_base64"]) if "value_base64" in r else r.get("value", "").encode()
    open("corpus/k8s_value/" + hashlib.sha1(v).hexdigest()[:16], "wb").write(v)
'
  fi
  echo "seeded from $n files"
}

# The build is pinned by the committed fuzz/Cargo.lock: cargo-fuzz has no
# --locked, so a run that had to change the lock file fails instead.
lock_before=$(sha256sum Cargo.lock)
check_lock() {
  if [[ "$(sha256sum Cargo.lock)" != "$lock_before" ]]; then
    echo "fuzz.sh: the build changed fuzz/Cargo.lock (a dependency moved); review and commit it" >&2
    exit 1
  fi
}
trap check_lock EXIT
targets_or_die

case "${1:-smoke}" in
  seeds) seeds ;;
  smoke)
    secs=${2:-15}
    seeds
    ran=0
    for t in "${TARGETS[@]}"; do
      echo "--- $t (${secs}s)"
      log=$(mktemp)
      # The whole output goes to a log: on success show its last lines, on a
      # crash show enough to read the panic and the artifact path, then fail.
      if "${FUZZ[@]}" run "$t" "corpus/$t" -- -max_total_time="$secs" -rss_limit_mb=4096 -timeout=10 >"$log" 2>&1; then
        tail -3 "$log"
        rm -f "$log"
        ran=$((ran+1))
      else
        echo "fuzz.sh: target $t FAILED; last 80 lines of its output:" >&2
        tail -80 "$log" >&2
        echo "full log: $log; artifacts: fuzz/artifacts/$t/" >&2
        exit 1
      fi
    done
    echo "fuzz smoke: $ran of ${#TARGETS[@]} targets ran ${secs}s each without a crash" ;;
  run)
    t=$2; shift 2
    seeds
    "${FUZZ[@]}" run "$t" "corpus/$t" -- "$@" ;;
  campaign)
    t=$2; runs=${3:-10000000}
    case $t in
      bbolt_db|compact) max_len=65536 ;;
      salvage_scan) max_len=16384 ;;
      bbolt_writer) max_len=1024 ;;
      *) max_len=0 ;; # libFuzzer's own choice from the corpus
    esac
    seeds
    "${FUZZ[@]}" run -s none -a -O "$t" "corpus/$t" -- -runs="$runs" \
      -max_len="$max_len" -rss_limit_mb=4096 -timeout=60 ;;
  *) echo "usage: scripts/fuzz.sh seeds|smoke [SECONDS]|run TARGET [ARGS]|campaign TARGET [RUNS]" >&2; exit 2 ;;
esac
