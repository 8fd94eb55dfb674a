#!/usr/bin/env bash
# Installs what trailpipe's integration tests need, idempotently, under <repo>/.tools:
#   .tools/bin/tansu   Kafka-protocol broker (crates.io `tansu`, built with cargo unless one is found)
#   .tools/venv/       moto server, the aws CLI v1 and confluent-kafka (scripts/test-requirements.txt)
# plus, through scripts/build-deps.sh (one apt-get run), the Debian packages that build trailpipe and
# these test-only ones: stunnel4 + openssl for the TLS / SASL_SSL test listeners of
# scripts/services.sh (stunnel terminates TLS in front of tansu; openssl makes the test
# certificates), systemd + kubernetes-client for scripts/deploy-check.sh, faketime (libfaketime) for
# the clock-jump test, and python3-venv when the interpreter cannot create venvs.
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

# Test-only Debian packages, installed by scripts/build-deps.sh together with the build packages
# (C/C++ compilers, make, perl, pkg-config, zlib and OpenSSL headers; tansu's own build, aws-lc-sys,
# zstd-sys and libsql, needs nothing beyond those compilers).
APT_PACKAGES=(stunnel4 openssl)  # TLS terminator and certificate tool for scripts/services.sh
APT_PACKAGES+=(systemd)   # systemd-analyze, for scripts/deploy-check.sh
APT_PACKAGES+=(faketime)  # libfaketime, LD_PRELOADed under the daemon by the clock-jump test (tests/outages.rs)
# kubectl renders deploy/kubernetes; Debian 12 ships it as kubernetes-client (1.20, kustomize v2).
command -v kubectl >/dev/null 2>&1 || APT_PACKAGES+=(kubernetes-client)

log() { printf 'test-deps: %s\n' "$*"; }
die() { printf 'test-deps: ERROR: %s\n' "$*" >&2; exit 1; }

elapsed_since() { echo $(( $(date +%s) - $1 ))s; }

install_apt_packages() {
    local extra=("${APT_PACKAGES[@]}")
    # A Debian system python cannot create venvs without python3-venv (pyenv/python.org builds can).
    if ! "$PYTHON" -c 'import ensurepip, venv' >/dev/null 2>&1; then
        extra+=(python3-venv)
    fi
    "$REPO/scripts/build-deps.sh" "${extra[@]}" || die "scripts/build-deps.sh failed (see above)"
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

check_tls_tools() {
    local stunnel
    stunnel=$(command -v stunnel4 || command -v stunnel) || die "stunnel not found (Debian package stunnel4)"
    command -v openssl >/dev/null 2>&1 || die "openssl not found (Debian package openssl)"
    log "tls: $("$stunnel" -version 2>&1 | grep -m1 -o 'stunnel [0-9.]*'), $(openssl version)"
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
    check_tls_tools
    log "done: tools under $TOOLS"
}

main "$@"
