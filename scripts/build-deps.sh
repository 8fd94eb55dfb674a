#!/usr/bin/env bash
# Installs the Debian packages needed to BUILD trailpipe, idempotently (a fast no-op when all are
# present): the rdkafka crate (features tokio, libz, ssl, zstd, tracing) compiles librdkafka with
# its own configure + make, which needs a C and a C++ compiler, make and perl; openssl-sys and
# libz-sys link the system OpenSSL (libssl-dev) and zlib (zlib1g-dev), found through pkg-config.
# zstd is compiled from source by zstd-sys. Not needed (not built): cyrus-sasl (only for GSSAPI /
# Kerberos), libcurl (only for OAUTHBEARER's OIDC client-credentials flow), cmake.
#   gcc g++ make perl pkg-config zlib1g-dev libssl-dev
#
# Usage: scripts/build-deps.sh [EXTRA_PACKAGE...]
#   Extra Debian packages are checked and installed along with the build packages, with a single
#   `apt-get update` (scripts/test-deps.sh passes its test tools this way).
# Environment:
#   TRAILPIPE_SKIP_APT=1  do not check or install Debian packages
#
# Runs apt-get as root: directly when root, through sudo otherwise (fails with the package list
# when neither works). On a system without dpkg it only prints what to install.
set -euo pipefail

BUILD_PACKAGES=(gcc g++ make perl pkg-config zlib1g-dev libssl-dev)
missing=()  # the wanted packages dpkg does not list as installed

log() { printf 'build-deps: %s\n' "$*"; }
die() { printf 'build-deps: ERROR: %s\n' "$*" >&2; exit 1; }

# Runs a command as root: directly when we are root, through sudo otherwise.
as_root() {
    if [[ $(id -u) -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        die "need root to install ${missing[*]} (not root, and no sudo); as root run: apt-get update && apt-get install --no-install-recommends ${missing[*]}"
    fi
}

main() {
    local wanted=("${BUILD_PACKAGES[@]}" "$@") pkg
    if [[ ${TRAILPIPE_SKIP_APT:-0} == 1 ]]; then
        log "apt: skipped (TRAILPIPE_SKIP_APT=1)"
        return
    fi
    if ! command -v dpkg-query >/dev/null 2>&1; then
        log "apt: not a Debian system; make sure these (or your distribution's equivalents) are installed: ${wanted[*]}"
        return
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

main "$@"
