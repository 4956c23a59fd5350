#!/usr/bin/env bash
# etcd-rescue benchmark runner (not a test).
#
# Usage: scripts/bench/run.sh [options] [DIR]
#   DIR      data made by scripts/bench/make-bench-db.sh
#            (default ${ETCD_RESCUE_BENCH_DIR:-/var/tmp/etcd-rescue-bench})
#   --build        cargo build --release --bins --examples first
#   --runs N       hyperfine runs per command (default ${BENCH_RUNS:-5}; min 5
#                  unless --quick)
#   --warmup N     hyperfine warmup runs (default ${BENCH_WARMUP:-1})
#   --only A,B     run only the named comparisons (see --list); results.md
#                  then holds only those rows
#   --list         list the comparisons and exit
#   --quick        allow --runs below 5 (smoke testing the script)
#
# Each comparison runs "ours" and the reference (and, for snapshot status, a
# one-pass "floor") in ONE hyperfine invocation on the same file, then prints
# the medians and ratio reference/ours. Peak RSS comes from one extra run of
# each command under /usr/bin/time -v, which also serves as a preflight: a
# command that fails there is reported and left out of the timing.
# Commands that are unavailable (our binary missing, or lacking the
# subcommand per `etcd-rescue help <cmd>`; reference tool missing) are
# skipped with a message.
#
# Output: DIR/results.md (markdown table), DIR/results/<name>.json (hyperfine
# exports), DIR/results/<name>.<cmd>.time.txt (/usr/bin/time -v output).
#
# Environment:
#   ETCD_RESCUE              our binary (default target/release/etcd-rescue)
#   ETCD_RESCUE_FLOOR_PASS   floor program (default
#                            target/release/examples/floor_pass): one
#                            sequential CRC-32C (status) or SHA-256 (check of a
#                            saved snapshot) pass over the file
#   ETCD_RESCUE_K8S_BENCH_DIR  the Kubernetes-shaped db of the k8s-* rows
#                            (default /var/tmp/etcd-rescue-bench-k8s, made by
#                            scripts/bench/make-k8s-bench-db.sh; rows skipped
#                            when absent)
#   ETCD_RESCUE_BIN_DIR      etcd binaries root (default <repo>/.etcd-bin)
#   BENCH_ETCD_VERSION       the etcd version whose tools are the reference
#                            (default: manifest.txt's etcd_version, else
#                            3.5.1); DIR then defaults to
#                            /var/tmp/etcd-rescue-bench-<version> (3.5.1:
#                            /var/tmp/etcd-rescue-bench). References:
#                            <root>/<version>/etcdutl (snapshot status,
#                            snapshot restore, defrag; hashkv from 3.6 on) and
#                            the structure check of that version's bbolt:
#                            3.4/3.5 <root>/bbolt-check (bbolt 1.3.6),
#                            3.6 `<root>/bbolt-1.4.3/bbolt check`, 3.7
#                            `<root>/bbolt-1.5.0/bbolt check`
set -uo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

abspath() { case "$1" in /*) printf '%s\n' "$1" ;; *) printf '%s\n' "$PWD/$1" ;; esac; }

ALL_CMPS=(status-snapshot status-member check-snapshot check-snapshot-nohash check-member restore
          compare keys-pods hashkv-snapshot hashkv-member compact-current defrag defrag-member
          k8s-usage k8s-ls)
# Run only when named in --only (slow: one file per object, each fsynced).
EXTRA_CMPS=(k8s-dump)

RUNS=${BENCH_RUNS:-5}
WARMUP=${BENCH_WARMUP:-1}
ONLY=""
BUILD=0
QUICK=0
DIR=""
while [ $# -gt 0 ]; do
  case "$1" in
    --build) BUILD=1 ;;
    --runs) RUNS=$2; shift ;;
    --warmup) WARMUP=$2; shift ;;
    --only) ONLY=$2; shift ;;
    --quick) QUICK=1 ;;
    --list) printf '%s\n' "${ALL_CMPS[@]}" "${EXTRA_CMPS[@]}"; exit 0 ;;
    -h|--help) sed -n '2,/^set -/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "unknown option: $1" >&2; exit 2 ;;
    *) DIR=$1 ;;
  esac
  shift
done
if [ "$RUNS" -lt 5 ] && [ "$QUICK" = 0 ]; then
  echo "--runs must be >= 5 (use --quick for smoke tests)" >&2; exit 2
fi
if [ -z "$DIR" ] && [ -z "${ETCD_RESCUE_BENCH_DIR:-}" ] && [ -n "${BENCH_ETCD_VERSION:-}" ] &&
   [ "$BENCH_ETCD_VERSION" != 3.5.1 ]; then
  DIR=/var/tmp/etcd-rescue-bench-$BENCH_ETCD_VERSION
fi
DIR=$(abspath "${DIR:-${ETCD_RESCUE_BENCH_DIR:-/var/tmp/etcd-rescue-bench}}")
DATA_VERSION=$(sed -n 's/^etcd_version=//p' "$DIR/manifest.txt" 2>/dev/null)
ETCD_VERSION=${BENCH_ETCD_VERSION:-${DATA_VERSION:-3.5.1}}
if [ -n "$DATA_VERSION" ] && [ "$DATA_VERSION" != "$ETCD_VERSION" ]; then
  echo "warning: $DIR was written by etcd $DATA_VERSION; the references are etcd $ETCD_VERSION's tools"
fi
OURS=${ETCD_RESCUE:-target/release/etcd-rescue}
case "$OURS" in /*) ;; */*) OURS=$REPO/$OURS ;; *) OURS=$(command -v "$OURS" || echo "$OURS") ;; esac
FLOOR=${ETCD_RESCUE_FLOOR_PASS:-$REPO/target/release/examples/floor_pass}
BIN_ROOT=${ETCD_RESCUE_BIN_DIR:-$REPO/.etcd-bin}
ETCDUTL=$BIN_ROOT/$ETCD_VERSION/etcdutl
# The structure check of the bbolt the version links: etcd 3.4/3.5 use bbolt
# 1.3.x (our bbolt-check oracle, 1.3.6), 3.6 bbolt 1.4.3, 3.7 bbolt 1.5.0.
case $ETCD_VERSION in
  3.6.*) BBOLT_CHECK=$BIN_ROOT/bbolt-1.4.3/bbolt; BBOLT_CHECK_ARGS=(check); CHECK_LABEL=bbolt-1.4.3-check ;;
  3.7.*) BBOLT_CHECK=$BIN_ROOT/bbolt-1.5.0/bbolt; BBOLT_CHECK_ARGS=(check); CHECK_LABEL=bbolt-1.5.0-check ;;
  *) BBOLT_CHECK=$BIN_ROOT/bbolt-check; BBOLT_CHECK_ARGS=(); CHECK_LABEL=bbolt-check ;;
esac
OUT=$DIR/results
SNAP=$DIR/snapshot.db
MEMBER_DB=$DIR/member-a/member/snap/db

die() { echo "run.sh: $*" >&2; exit 1; }
[ -f "$DIR/manifest.txt" ] || die "no $DIR/manifest.txt: run scripts/bench/make-bench-db.sh first"
command -v hyperfine >/dev/null || die "hyperfine not found (apt-get install hyperfine)"
[ -x /usr/bin/time ] || die "/usr/bin/time not found (apt-get install time)"
command -v python3 >/dev/null || die "python3 not found"

if { [ ! -x "$ETCDUTL" ] || [ ! -x "$BBOLT_CHECK" ]; } && [ -f "$REPO/scripts/get-etcd.sh" ]; then
  echo "reference tools missing under $BIN_ROOT; running scripts/get-etcd.sh"
  ETCD_RESCUE_BIN_DIR=$BIN_ROOT bash "$REPO/scripts/get-etcd.sh" ||
    echo "get-etcd.sh failed; the missing references will be skipped"
fi
if [ "$BUILD" = 1 ]; then
  (cd "$REPO" && cargo build --release --bins --examples) || die "cargo build failed"
fi

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo "?")
case "$LOAD_BEFORE" in
  [0-9]*) awk -v l="${LOAD_BEFORE%% *}" 'BEGIN { exit !(l > 1.0) }' &&
    echo "warning: load average is $LOAD_BEFORE; other processes will add noise" ;;
esac

mkdir -p "$OUT"
ROWS=$OUT/rows.tsv
: >"$ROWS"
SKIPLOG=$OUT/skipped.txt
: >"$SKIPLOG"
TMPD=$(mktemp -d "$DIR/.bench-tmp.XXXXXX")
cleanup() { rm -rf "$TMPD"; }
trap cleanup EXIT

cmdstr() { local s="" a; for a in "$@"; do s+="$(printf '%q' "$a") "; done; printf '%s' "${s% }"; }

have_ours() { [ -x "$OURS" ]; }
# ours_has WORD...: our binary exists and `etcd-rescue help WORD...` succeeds
ours_has() { have_ours && timeout 30 "$OURS" help "$@" >/dev/null 2>&1; }

# ---- one comparison ---------------------------------------------------------
reset_cmp() { C_ROLES=(); C_LABELS=(); C_PREPS=(); C_CMDS=(); C_SKIPS=(); C_REFLABEL=""; }
add_cmd() { # ROLE LABEL PREPARE CMD...
  C_ROLES+=("$1"); C_LABELS+=("$2"); C_PREPS+=("$3"); shift 3
  C_CMDS+=("$(cmdstr "$@")")
}
skip_cmd() { C_SKIPS+=("$1"); }

want() {
  [ -z "$ONLY" ] && return 0
  case ",$ONLY," in *",$1,"*) return 0 ;; esac
  return 1
}

fmt_s() { [ -n "$1" ] && python3 -c "print('%.3f' % $1)" || echo "-"; }

# run_cmp NAME INPUT NOTE
run_cmp() {
  local name=$1 input=$2 note=$3 i rc rss
  local -a keep=()
  local -A rssk=() failed=()
  echo
  echo "== $name  [$input]"
  for s in "${C_SKIPS[@]}"; do
    echo "   skip: $s"
    printf '%s: %s\n' "$name" "$s" >>"$SKIPLOG"
  done
  for i in "${!C_CMDS[@]}"; do
    local label=${C_LABELS[$i]}
    [ -z "${C_PREPS[$i]}" ] || bash -c "${C_PREPS[$i]}"
    /usr/bin/time -v -o "$OUT/$name.$label.time.txt" \
      bash -c "exec ${C_CMDS[$i]}" >/dev/null 2>"$OUT/$name.$label.stderr"
    rc=$?
    if [ $rc -ne 0 ]; then
      echo "   $label FAILED in preflight (exit $rc): ${C_CMDS[$i]}"
      tail -n 5 "$OUT/$name.$label.stderr" | sed 's/^/     | /'
      printf '%s: %s failed (exit %s): %s\n' "$name" "$label" "$rc" "${C_CMDS[$i]}" >>"$SKIPLOG"
      failed[$label]=$rc
      continue
    fi
    rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$OUT/$name.$label.time.txt")
    rssk[$label]=$rss
    keep+=("$i")
  done

  local -A med=()
  if [ ${#keep[@]} -gt 0 ]; then
    local -a hf=(--warmup "$WARMUP" --runs "$RUNS" --export-json "$OUT/$name.json" --style basic)
    local anyprep=0
    for i in "${keep[@]}"; do [ -z "${C_PREPS[$i]}" ] || anyprep=1; done
    for i in "${keep[@]}"; do
      [ "$anyprep" = 0 ] || hf+=(--prepare "${C_PREPS[$i]:-true}")
      hf+=(-n "${C_LABELS[$i]}" "${C_CMDS[$i]}")
    done
    if hyperfine "${hf[@]}" >"$OUT/$name.hyperfine.txt" 2>&1; then
      while read -r l m; do med[$l]=$m; done < <(python3 - "$OUT/$name.json" <<'EOF'
import json, sys
for r in json.load(open(sys.argv[1]))["results"]:
    print(r["command"], "%s:%s" % (r["median"], r.get("stddev") or 0))
EOF
)
    else
      echo "   hyperfine FAILED:"; tail -n 5 "$OUT/$name.hyperfine.txt" | sed 's/^/     | /'
      printf '%s: hyperfine failed, see %s\n' "$name" "$OUT/$name.hyperfine.txt" >>"$SKIPLOG"
    fi
  fi

  # one row: name input ours ref_label ref floor ours_rss ref_rss floor_rss note
  local ours="" ref="" floor="" ref_label="" ours_rss="" ref_rss="" floor_rss="" status
  for i in "${!C_CMDS[@]}"; do
    local label=${C_LABELS[$i]} role=${C_ROLES[$i]}
    if [ -n "${failed[$label]:-}" ]; then status="FAILED(exit ${failed[$label]})"; else status=${med[$label]:-}; fi
    case $role in
      ours) ours=$status; ours_rss=${rssk[$label]:-} ;;
      ref) ref=$status; ref_label=$label; ref_rss=${rssk[$label]:-} ;;
      floor) floor=$status; floor_rss=${rssk[$label]:-} ;;
    esac
  done
  [ -n "$ref_label" ] || ref_label=$C_REFLABEL
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$input" "${ours:--}" \
    "${ref_label:--}" "${ref:--}" "${floor:--}" "${ours_rss:--}" "${ref_rss:--}" \
    "${floor_rss:--}" "$note" >>"$ROWS"
  python3 - "$name" "${ours:--}" "${ref_label:--}" "${ref:--}" "${floor:--}" \
    "${ours_rss:--}" "${ref_rss:--}" "${floor_rss:--}" <<'EOF'
import sys
name, ours, rl, ref, floor, ors, rrs, frs = sys.argv[1:]
def num(x):
    try: return float(x.split(":")[0])
    except ValueError: return None
def sd(x):
    p = x.split(":")
    return " ±%.3f" % float(p[1]) if len(p) == 2 and num(x) is not None else ""
def t(x):
    v = num(x); return "%.3f s%s" % (v, sd(x)) if v is not None else x
def m(x):
    v = num(x); return "%.0f MiB" % (v / 1024) if v is not None else x
print("   %-11s median %-20s peak RSS %s" % ("ours", t(ours), m(ors)))
print("   %-11s median %-20s peak RSS %s" % (rl if rl != "-" else "reference", t(ref), m(rrs)))
if floor != "-":
    print("   %-11s median %-20s peak RSS %s" % ("floor", t(floor), m(frs)))
o, r, f = num(ours), num(ref), num(floor)
if o and r: print("   ratio reference/ours = %.2fx" % (r / o))
if o and f: print("   ratio ours/floor     = %.2fx" % (o / f))
EOF
}

# ---- the comparisons ---------------------------------------------------------
have_ours || echo "note: our binary $OURS not found; running reference lines only (build with --build or cargo build --release)"
[ -x "$ETCDUTL" ] || echo "note: $ETCDUTL not found; etcdutl lines skipped (scripts/get-etcd.sh)"

ours_or_skip() { # ROLE LABEL PREP SUBCMD-WORDS... -- CMD...
  local role=$1 label=$2 prep=$3; shift 3
  local -a words=()
  while [ "$1" != "--" ]; do words+=("$1"); shift; done; shift
  if ! have_ours; then skip_cmd "ours: $OURS not built"
  elif ! ours_has "${words[@]}"; then skip_cmd "ours: '$(basename "$OURS") help ${words[*]}' fails (subcommand not implemented yet)"
  else add_cmd "$role" "$label" "$prep" "$@"; fi
}
etcdutl_or_skip() { # PREP CMD-ARGS...
  local prep=$1; shift
  if [ -x "$ETCDUTL" ]; then add_cmd ref etcdutl "$prep" "$ETCDUTL" "$@"
  else skip_cmd "reference etcdutl missing ($ETCDUTL)"; C_REFLABEL=etcdutl; fi
}
floor_or_skip() { # FILE crc32c|sha256
  if [ -x "$FLOOR" ]; then add_cmd floor "$2-pass" "" "$FLOOR" "$2" "$1"
  else skip_cmd "floor: $FLOOR not built (cargo build --release --examples)"; fi
}
no_reference() { skip_cmd "reference: none (no offline etcd tool does this)"; C_REFLABEL="(none)"; }

cmp_status() { # NAME FILE LABEL
  reset_cmp
  ours_or_skip ours ours "" snapshot status -- "$OURS" snapshot status "$2" -w json
  etcdutl_or_skip "" snapshot status "$2" -w json
  floor_or_skip "$2" crc32c
  run_cmp "$1" "$3" "floor: one CRC-32C pass; etcdutl opens with a shared flock; dir is stopped"
}
cmp_check() { # NAME FILE LABEL [OUR-FLAGS...]
  reset_cmp
  local name=$1 file=$2 label=$3 note=""; shift 3
  ours_or_skip ours ours "" check -- "$OURS" check "$@" "$file"
  if [ -x "$BBOLT_CHECK" ]; then add_cmd ref "$CHECK_LABEL" "" "$BBOLT_CHECK" "${BBOLT_CHECK_ARGS[@]}" "$file"
  else skip_cmd "reference $CHECK_LABEL missing ($BBOLT_CHECK)"; C_REFLABEL=$CHECK_LABEL; fi
  if [ "$name" = check-snapshot ]; then
    # The oracle checks structure only; ours also verifies the SHA-256
    # trailer, one stream no second core can help with: that pass is the floor.
    floor_or_skip "$file" sha256
    note="floor: one SHA-256 pass (ours verifies the trailer; the oracle does not)"
  fi
  [ $# -gt 0 ] && note="ours: check $*: the oracle's work (structure) plus etcd's schema, no SHA-256"
  run_cmp "$name" "$label" "$note"
}
cmp_restore() {
  reset_cmp
  local t_ours=$TMPD/restore-ours t_ref=$TMPD/restore-ref
  ours_or_skip ours ours "rm -rf $(printf %q "$t_ours")" snapshot restore -- \
    "$OURS" snapshot restore "$SNAP" --data-dir "$t_ours"
  etcdutl_or_skip "rm -rf $(printf %q "$t_ref")" snapshot restore "$SNAP" --data-dir "$t_ref"
  run_cmp restore snapshot.db "fresh --data-dir per run (hyperfine --prepare rm -rf); writes ~db size"
  rm -rf "$t_ours" "$t_ref"
}
cmp_compare() {
  reset_cmp
  # The three dirs are copies of one member: compare rightly reports
  # duplicate-member and exits 1 (divergent); only 2 (could not read) fails.
  ours_or_skip ours ours "" compare -- sh -c '"$0" compare "$@"; [ $? -le 1 ]' \
    "$OURS" "$DIR/member-a" "$DIR/member-b" "$DIR/member-c"
  etcdutl_or_skip "" snapshot status "$MEMBER_DB" -w json
  run_cmp compare "member-a,b,c" "ours reads 3 member dirs; reference is ONE etcdutl snapshot status"
}
cmp_ours_only() { # NAME LABEL NOTE CMDWORD -- ARGS...
  reset_cmp
  local name=$1 label=$2 note=$3 word=$4; shift 5
  ours_or_skip ours ours "" "$word" -- "$OURS" "$word" "$@"
  no_reference
  run_cmp "$name" "$label" "$note"
}

# etcdutl hashkv FILE exists from etcd 3.6 on; 3.5's etcdutl has none.
etcdutl_has_hashkv() { [ -x "$ETCDUTL" ] && "$ETCDUTL" hashkv --help >/dev/null 2>&1; }
# etcdutl hashkv opens the db read-write and commits on open (the file's bytes
# change: measured on 3.6.17 and 3.7.3), so it runs on a fresh copy made by
# --prepare (untimed), never on the data set itself.
cmp_hashkv() { # NAME FILE LABEL
  reset_cmp
  local copy=$TMPD/hashkv-copy.db note=""
  ours_or_skip ours ours "" hashkv -- "$OURS" hashkv "$2"
  if etcdutl_has_hashkv; then
    add_cmd ref etcdutl "cp $(printf %q "$2") $(printf %q "$copy")" "$ETCDUTL" hashkv "$copy" -w json
    note="etcdutl runs on a copy made by --prepare (untimed): it opens the db read-write and changes it"
  else no_reference; fi   # etcdutl 3.5 has no hashkv
  run_cmp "$1" "$3" "$note"
  rm -f "$copy"
}
cmp_defrag_member() { # ours defrag --out T against etcdutl defrag --data-dir on a fresh copy
  reset_cmp
  local out=$TMPD/defrag-out.db copy=$TMPD/defrag-copy
  ours_or_skip ours ours "rm -f $(printf %q "$out")" defrag -- "$OURS" defrag "$MEMBER_DB" --out "$out"
  etcdutl_or_skip "rm -rf $(printf %q "$copy") && mkdir -p $(printf %q "$copy/member/snap") && cp $(printf %q "$MEMBER_DB") $(printf %q "$copy/member/snap/db")" \
    defrag --data-dir "$copy"
  run_cmp defrag-member member-a/member/snap/db "etcdutl defrags a copy in place (the copy is made by --prepare, untimed); ours writes --out"
  rm -rf "$out" "$copy"
}

cmp_rewrite() { # NAME LABEL NOTE SUBCMD-ARGS... : ours writes a new db; the reference is OUR check
  reset_cmp
  local name=$1 label=$2 note=$3 out=$TMPD/rewrite-out.db; shift 3
  ours_or_skip ours ours "rm -f $(printf %q "$out")" "$1" -- "$OURS" "$@" --out "$out"
  ours_or_skip ref check "" check -- "$OURS" check "$SNAP"
  run_cmp "$name" "$label" "$note"
  rm -f "$out"
}

K8S_SNAP=${ETCD_RESCUE_K8S_BENCH_DIR:-/var/tmp/etcd-rescue-bench-k8s}/snapshot.db
# k8s-*: the Kubernetes-shaped db; reference: OUR `keys --prefix /registry/`
# on the same file (issue #17: k8s usage and ls cost no more than keys).
cmp_k8s() { # NAME PREP ARGS...
  reset_cmp
  local name=$1 prep=$2; shift 2
  if [ ! -f "$K8S_SNAP" ]; then
    echo; echo "== $name: skip, no $K8S_SNAP (scripts/bench/make-k8s-bench-db.sh)"
    printf '%s: no %s\n' "$name" "$K8S_SNAP" >>"$SKIPLOG"
    return
  fi
  ours_or_skip ours ours "$prep" k8s -- "$OURS" k8s "$@"
  ours_or_skip ref keys "" keys -- "$OURS" keys "$K8S_SNAP" --prefix /registry/ -w json
  run_cmp "$name" "k8s snapshot.db" "reference: OUR keys --prefix /registry/ -w json on the same file"
}

for c in "${ALL_CMPS[@]}" "${EXTRA_CMPS[@]}"; do
  case " ${EXTRA_CMPS[*]} " in *" $c "*) case ",$ONLY," in *",$c,"*) ;; *) continue ;; esac ;; esac
  want "$c" || continue
  case $c in
    status-snapshot) cmp_status "$c" "$SNAP" snapshot.db ;;
    status-member) cmp_status "$c" "$MEMBER_DB" member-a/member/snap/db ;;
    check-snapshot) cmp_check "$c" "$SNAP" snapshot.db ;;
    check-snapshot-nohash) cmp_check "$c" "$SNAP" snapshot.db --skip-hash-check ;;
    check-member) cmp_check "$c" "$MEMBER_DB" member-a/member/snap/db ;;
    restore) cmp_restore ;;
    compare) cmp_compare ;;
    keys-pods) cmp_ours_only "$c" snapshot.db "keys --prefix /registry/pods/" keys -- --prefix /registry/pods/ "$SNAP" ;;
    hashkv-snapshot) cmp_hashkv "$c" "$SNAP" snapshot.db ;;
    hashkv-member) cmp_hashkv "$c" "$MEMBER_DB" member-a/member/snap/db ;;
    compact-current) cmp_rewrite "$c" snapshot.db \
      "reference: OUR check of the same file (issue #16: compact to the current revision <= 2x check, i.e. ref/ours >= 0.50)" \
      compact "$SNAP" --rev 0 ;;
    defrag) cmp_rewrite "$c" snapshot.db "reference: OUR check of the same file" defrag "$SNAP" ;;
    defrag-member) cmp_defrag_member ;;
    k8s-usage) cmp_k8s "$c" "" usage "$K8S_SNAP" -w json ;;
    k8s-ls) cmp_k8s "$c" "" ls "$K8S_SNAP" -w json ;;
    k8s-dump) cmp_k8s "$c" "rm -rf $(printf %q "$TMPD/k8s-dump")" dump "$K8S_SNAP" -o json --out "$TMPD/k8s-dump" ;;
  esac
done

# ---- the inputs are unchanged ------------------------------------------------
# A reference that writes to its input would skew every later row: compare the
# files with the sums make-bench-db.sh recorded.
for f in snapshot_db member_db; do
  want_sum=$(sed -n "s/^${f}_sha256=//p" "$DIR/manifest.txt")
  path=$(sed -n "s/^${f}=//p" "$DIR/manifest.txt")
  [ -n "$want_sum" ] && [ -f "$path" ] || continue
  have_sum=$(sha256sum "$path" | cut -d' ' -f1)
  if [ "$have_sum" != "$want_sum" ]; then
    echo "WARNING: $path changed since make-bench-db.sh (sha256 $have_sum, manifest $want_sum)"
    printf 'input changed: %s (sha256 %s, manifest %s)\n' "$path" "$have_sum" "$want_sum" >>"$SKIPLOG"
  fi
done

# ---- results.md --------------------------------------------------------------
first_line() { local out; out=$("$@" 2>/dev/null) || true; printf '%s' "${out%%$'\n'*}"; }
ours_version="not built"; have_ours && ours_version=$(first_line timeout 10 "$OURS" --version)
etcdutl_version="missing"; [ -x "$ETCDUTL" ] && etcdutl_version=$(first_line "$ETCDUTL" version)
git_rev=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo "no commit")
git -C "$REPO" diff --quiet HEAD -- 2>/dev/null || git_rev="$git_rev (dirty)"
python3 - "$ROWS" "$SKIPLOG" "$DIR" "$RUNS" "$WARMUP" "$OURS" "$ours_version" \
  "$etcdutl_version" "$git_rev" "$(hyperfine --version)" "$ONLY" \
  "$LOAD_BEFORE" "$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo "?")" >"$DIR/results.md.part" <<'EOF'
import os, platform, sys, time
rows_f, skip_f, d, runs, warmup, ours, ours_v, eu_v, git_rev, hf_v, only, la0, la1 = sys.argv[1:]
man = {}
for line in open(os.path.join(d, "manifest.txt")):
    k, _, v = line.rstrip("\n").partition("=")
    man[k] = v
cpu = "?"
try:
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip(); break
except OSError:
    pass
def num(x):
    try: return float(x.split(":")[0])
    except ValueError: return None
def t(x):
    v = num(x)
    if v is None: return x
    p = x.split(":")
    return "%.3f ±%.3f" % (v, float(p[1])) if len(p) == 2 else "%.3f" % v
def mib(x):
    v = num(x); return "%.0f" % (v / 1024) if v is not None else x
print("# etcd-rescue benchmark results\n")
print("- date: %s" % time.strftime("%Y-%m-%d %H:%M:%S %Z"))
print("- machine: %s, %d cores, kernel %s; load average before/after: %s / %s"
      % (cpu, os.cpu_count(), platform.release(), la0, la1))
print("- repo: %s; ours: `%s` (%s)" % (git_rev, ours, ours_v))
print("- reference: %s; %s" % (eu_v, hf_v))
print("- data (%s), written by etcd %s: revision %s, %s live keys, snapshot.db %s bytes (%s GiB), member db %s bytes, seed `%s`"
      % (d, man.get("etcd_version", "?"), man.get("revision"), man.get("live_keys"), man.get("snapshot_db_bytes"),
         man.get("snapshot_db_gib"), man.get("member_db_bytes"), man.get("seed")))
print("- method: hyperfine, %s warmup + %s timed runs per command, all commands of a row in one"
      " hyperfine invocation on the same file. **Warm page cache**: the cache is not dropped"
      " (not reliably possible without privileges in a container), so these are warm-cache numbers"
      " (CPU/memory bound, not disk bound). Times are median ±stddev in seconds. Peak RSS: one extra run under `/usr/bin/time -v`"
      " (includes touched file-backed mmap pages, so mmap readers show about the file size)."
      % (warmup, runs))
if only:
    print("- only: %s" % only)
print()
print("| comparison | input | ours (s) | reference | reference (s) | ref/ours | floor (s) | ours/floor | ours peak RSS (MiB) | ref peak RSS (MiB) | notes |")
print("|---|---|---:|---|---:|---:|---:|---:|---:|---:|---|")
for line in open(rows_f):
    f = line.rstrip("\n").split("\t")
    name, inp, ours_m, rl, ref_m, floor_m, o_rss, r_rss, f_rss, note = f
    o, r, fl = num(ours_m), num(ref_m), num(floor_m)
    ratio = "%.2fx" % (r / o) if o and r else "-"
    of = "%.2fx" % (o / fl) if o and fl else "-"
    print("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
        name, inp, t(ours_m), rl, t(ref_m), ratio, t(floor_m), of, mib(o_rss), mib(r_rss), note))
skips = [l.rstrip("\n") for l in open(skip_f) if l.strip()]
if skips:
    print("\n## Skipped or failed\n")
    for s in skips:
        print("- " + s)
print("\nhyperfine JSON exports and `/usr/bin/time -v` outputs: `%s/results/`" % d)
EOF
mv "$DIR/results.md.part" "$DIR/results.md"
echo
echo "wrote $DIR/results.md"
