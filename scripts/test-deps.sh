#!/usr/bin/env bash
# Installs what trailpipe's integration tests need, idempotently, under <repo>/.tools:
#   .tools/bin/tansu   Kafka-protocol broker (crates.io `tansu`, built with cargo unless one is found)
#   .tools/venv/       moto server, the aws CLI v1 and confluent-kafka (scripts/test-requirements.txt)
# plus the Debian packages the rdkafka crate needs to build librdkafka from source.
#
# Usage: scripts/test-deps.sh
# Environment:
#   TANSU_BIN=/path/to/tansu  reuse this broker binary (copied into .tools/bin) instead of building
#   TANSU_VERSION=0.6.0       version to `cargo install` when building (0.6.0 is what was verified)
#   PYTHON=python3            interpreter used to create the venv
#   TRAILPIPE_TOOLS_DIR       install root (default <repo>/.tools)
#   TRAILPIPE_SKIP_APT=1      do not check or install Debian packages
#
# Safe to run again: each step checks first and says whether it did anything.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TOOLS=${TRAILPIPE_TOOLS_DIR:-$REPO/.tools}
TANSU_VERSION=${TANSU_VERSION:-0.6.0}
# dynostore and libsql are the feature set the design was measured with; memory:// storage needs neither
# but keeping them matches the known-good build.
TANSU_FEATURES=dynostore,libsql
PYTHON=${PYTHON:-python3}
REQUIREMENTS=$REPO/scripts/test-requirements.txt
VENV=$TOOLS/venv

# rdkafka (default-features off, `libz`) builds librdkafka with its own configure + make, and libz-sys
# links the system zlib when pkg-config finds it. No cmake, OpenSSL or SASL are needed for that feature
# set; tansu's own build (aws-lc-sys, zstd-sys, libsql) only needs the C/C++ compilers too.
APT_PACKAGES=(gcc g++ make perl pkg-config zlib1g-dev)
APT_PACKAGES+=(systemd)   # systemd-analyze, for scripts/deploy-check.sh
# kubectl renders deploy/kubernetes; Debian 12 ships it as kubernetes-client (1.20, kustomize v2).
command -v kubectl >/dev/null 2>&1 || APT_PACKAGES+=(kubernetes-client)

log() { printf 'test-deps: %s\n' "$*"; }
die() { printf 'test-deps: ERROR: %s\n' "$*" >&2; exit 1; }

elapsed_since() { echo $(( $(date +%s) - $1 ))s; }

# Runs a command as root: directly when we are root, through sudo otherwise.
as_root() {
    if [[ $(id -u) -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        die "need root to run '$*' (not root and no sudo); install it by hand and re-run"
    fi
}

install_apt_packages() {
    if [[ ${TRAILPIPE_SKIP_APT:-0} == 1 ]]; then
        log "apt: skipped (TRAILPIPE_SKIP_APT=1)"
        return
    fi
    if ! command -v dpkg-query >/dev/null 2>&1; then
        log "apt: not a Debian system; make sure these are installed: ${APT_PACKAGES[*]}"
        return
    fi
    local wanted=("${APT_PACKAGES[@]}") missing=() pkg
    # A Debian system python cannot create venvs without python3-venv (pyenv/python.org builds can).
    if ! "$PYTHON" -c 'import ensurepip, venv' >/dev/null 2>&1; then
        wanted+=(python3-venv)
    fi
    for pkg in "${wanted[@]}"; do
        if [[ $(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true) != installed ]]; then
            missing+=("$pkg")
        fi
    done
    if [[ ${#missing[@]} -eq 0 ]]; then
        log "apt: all present (${wanted[*]})"
        return
    fi
    log "apt: installing missing packages: ${missing[*]}"
    command -v apt-get >/dev/null 2>&1 || die "apt-get not found; install by hand: ${missing[*]}"
    # A fresh machine's package lists are empty or stale, so refresh them once before installing.
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq \
        || die "apt-get update failed"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" \
        || die "apt-get install failed for: ${missing[*]}"
    log "apt: installed ${missing[*]}"
}

# True when the given path is a tansu binary that runs.
tansu_works() {
    [[ -x $1 ]] && "$1" --version >/dev/null 2>&1
}

# Copies (not symlinks) a found binary, so .tools keeps working if the source directory goes away.
adopt_tansu() {
    local src=$1 dest=$TOOLS/bin/tansu
    mkdir -p "$TOOLS/bin"
    if [[ -e $dest ]] && cmp -s "$src" "$dest"; then
        log "tansu: $dest already matches $src"
        return
    fi
    cp -f "$src" "$dest.tmp.$$"
    chmod +x "$dest.tmp.$$"
    mv -f "$dest.tmp.$$" "$dest"
    log "tansu: copied $src -> $dest"
}

install_tansu() {
    local dest=$TOOLS/bin/tansu found
    if [[ -n ${TANSU_BIN:-} ]]; then
        tansu_works "$TANSU_BIN" || die "TANSU_BIN=$TANSU_BIN is not a working tansu binary"
        adopt_tansu "$TANSU_BIN"
    elif tansu_works "$dest"; then
        log "tansu: already installed at $dest"
    elif found=$(command -v tansu 2>/dev/null) && tansu_works "$found"; then
        adopt_tansu "$found"
    else
        command -v cargo >/dev/null 2>&1 || die "cargo not found; needed to build tansu"
        log "tansu: building tansu $TANSU_VERSION with cargo install (about 8 minutes on 2 cores)..."
        local t0
        t0=$(date +%s)
        # --locked: use tansu's own Cargo.lock, the combination its authors released and tested.
        cargo install tansu --version "$TANSU_VERSION" --locked --features "$TANSU_FEATURES" \
            --root "$TOOLS" || die "cargo install tansu failed (see the output above)"
        log "tansu: built in $(elapsed_since "$t0")"
    fi
    tansu_works "$dest" || die "tansu at $dest does not run"
    log "tansu: $("$dest" --version 2>&1 | head -n1)"
}

install_python_tools() {
    local stamp=$VENV/.trailpipe-requirements.sha256 want t0
    want=$(sha256sum "$REQUIREMENTS" | cut -d' ' -f1)
    if [[ -x $VENV/bin/python && -f $stamp && $(cat "$stamp") == "$want" ]] \
        && "$VENV/bin/python" -c 'import moto, confluent_kafka, kubernetes_validate' >/dev/null 2>&1; then
        log "venv: up to date at $VENV"
        return
    fi
    command -v "$PYTHON" >/dev/null 2>&1 || die "$PYTHON not found; set PYTHON to a Python 3 interpreter"
    t0=$(date +%s)
    if [[ ! -x $VENV/bin/python ]]; then
        log "venv: creating $VENV with $("$PYTHON" --version 2>&1)"
        "$PYTHON" -m venv "$VENV" || die "could not create the venv at $VENV"
    fi
    log "venv: installing $(grep -Eo '^[^#[:space:]]+' "$REQUIREMENTS" | tr '\n' ' ')"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQUIREMENTS" \
        || die "pip install -r $REQUIREMENTS failed"
    printf '%s\n' "$want" >"$stamp"
    log "venv: installed in $(elapsed_since "$t0")"
}

check_python_tools() {
    [[ -x $VENV/bin/moto_server ]] || die "moto_server missing from $VENV/bin"
    [[ -x $VENV/bin/aws ]] || die "aws CLI missing from $VENV/bin"
    log "venv: $("$VENV/bin/aws" --version 2>&1 | head -n1)"
    log "venv: moto $("$VENV/bin/python" -c 'import moto; print(moto.__version__)'), confluent-kafka $(
        "$VENV/bin/python" -c 'import confluent_kafka as k; print(k.__version__, "/ librdkafka", k.libversion()[0])')"
}

main() {
    mkdir -p "$TOOLS"
    install_apt_packages
    install_python_tools
    check_python_tools
    install_tansu
    log "done: tools under $TOOLS"
}

main "$@"
