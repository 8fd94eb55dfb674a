#!/usr/bin/env bash
# Builds the fuzz targets of fuzz/ (cargo-fuzz layout, libFuzzer) and runs each for a bounded
# time (issue 16, "hostile input", item 7). A target fails on a panic, a hang (-timeout=10 s for
# one input) or an allocation past -rss_limit_mb=2048; no target asserts a result.
#
# Usage: scripts/fuzz.sh [--build-only | --seeds] [TARGET...]
#   TARGET...      run only these (default: every target `cargo fuzz list` shows)
#   --build-only   build and stop
#   --seeds        rewrite the seed corpus (fuzz/make_corpus.py, and the insights_snapshot
#                  snapshots the target writes itself), then stop
# Environment:
#   FUZZ_SECONDS   seconds of fuzzing per target (default 60); CI passes a short budget
#   FUZZ_WORK      scratch directory for the run corpora and logs (default fuzz/target/run)
#   FUZZ_TARGET_DIR  cargo target directory of the fuzz build (default fuzz/target); point it
#                  outside the work tree to keep the build (~20 min from scratch on 2 cores) warm
#   TRAILPIPE_SKIP_APT=1   do not check or install Debian packages (see scripts/build-deps.sh)
#
# Each target runs on a COPY of fuzz/corpus/<target> (what it finds stays out of the repo),
# after replaying fuzz/regressions/<target>/* (inputs that once crashed it). A crashing input is
# saved under fuzz/artifacts/<target>/; copy it to fuzz/regressions/<target>/ once fixed.
# Prints per target the executions and whether it crashed; exits 1 if any target crashed.
#
# Needs: the stable Rust toolchain (RUSTC_BOOTSTRAP=1 lets it accept the -Z flags cargo-fuzz
# passes, for the fuzz build only), a C/C++ compiler (libFuzzer is C++; scripts/build-deps.sh
# installs one), Python 3 (--seeds only). cargo-fuzz is installed with `cargo install` when
# missing.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

CARGO=${CARGO:-cargo}
CARGO_FUZZ_VERSION=0.13.2
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
FUZZ_WORK=${FUZZ_WORK:-$ROOT/fuzz/target/run}
TRIPLE=$(rustc -vV | sed -n 's/^host: //p')
export CARGO_TARGET_DIR=${FUZZ_TARGET_DIR:-$ROOT/fuzz/target}
BIN_DIR="$CARGO_TARGET_DIR/$TRIPLE/release"

log() { printf 'fuzz: %s\n' "$*"; }
die() { printf 'fuzz: ERROR: %s\n' "$*" >&2; exit 2; }

mode=run
targets=()
for arg in "$@"; do
    case $arg in
        --build-only) mode=build ;;
        --seeds) mode=seeds ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        -*) die "unknown option $arg" ;;
        *) targets+=("$arg") ;;
    esac
done
[[ $FUZZ_SECONDS =~ ^[0-9]+$ && $FUZZ_SECONDS -gt 0 ]] || die "FUZZ_SECONDS must be a positive integer"

# Build packages (C/C++ compiler for libFuzzer and aws-lc-sys, ...), shared with the main build.
scripts/build-deps.sh

if ! "$CARGO" fuzz --version >/dev/null 2>&1; then
    log "installing cargo-fuzz $CARGO_FUZZ_VERSION"
    "$CARGO" install cargo-fuzz --locked --version "$CARGO_FUZZ_VERSION"
fi

# Release build with debug assertions and overflow checks (-a), no sanitizer: the targets look
# for panics, hangs and unbounded allocation in safe Rust, which need no ASan; without it the
# instrumented std is not needed and the stable toolchain suffices.
log "building the fuzz targets (first build: several minutes)"
RUSTC_BOOTSTRAP=1 "$CARGO" fuzz build --fuzz-dir fuzz -O -a -s none --codegen-units 16

if [[ $mode == build ]]; then
    exit 0
fi

mapfile -t all < <("$CARGO" fuzz list --fuzz-dir fuzz)
if [[ ${#targets[@]} -eq 0 ]]; then
    targets=("${all[@]}")
fi
for t in "${targets[@]}"; do
    [[ " ${all[*]} " == *" $t "* ]] || die "no fuzz target $t (have: ${all[*]})"
done

if [[ $mode == seeds ]]; then
    python3 fuzz/make_corpus.py
    seeds="$ROOT/fuzz/corpus/insights_snapshot"
    rm -f "$seeds"/seed-*
    TRAILPIPE_FUZZ_WRITE_SEEDS="$seeds" "$BIN_DIR/insights_snapshot" -runs=0 "$seeds" >/dev/null 2>&1
    log "seed corpus written: $(du -sh fuzz/corpus | cut -f1) in fuzz/corpus"
    exit 0
fi

mkdir -p "$FUZZ_WORK"
failed=()
summary=()
for t in "${targets[@]}"; do
    work="$FUZZ_WORK/$t"
    artifacts="$ROOT/fuzz/artifacts/$t"
    rm -rf "$work"
    mkdir -p "$work/corpus" "$artifacts"
    if [[ -d fuzz/corpus/$t ]]; then
        cp -R "fuzz/corpus/$t/." "$work/corpus/"
    fi
    flags=(-rss_limit_mb=2048 -timeout=10 -print_final_stats=1 "-artifact_prefix=$artifacts/")
    crashed=no
    # Inputs that crashed this target before must not crash it again.
    shopt -s nullglob
    regressions=(fuzz/regressions/"$t"/*)
    shopt -u nullglob
    if [[ ${#regressions[@]} -gt 0 ]]; then
        if ! "$BIN_DIR/$t" "${flags[@]}" "${regressions[@]}" >"$work/regressions.log" 2>&1; then
            crashed="yes (a saved regression input; see $work/regressions.log)"
        fi
    fi
    log "$t: fuzzing for ${FUZZ_SECONDS}s"
    before=$(find "$artifacts" -type f | wc -l)
    rc=0
    "$BIN_DIR/$t" "${flags[@]}" "-max_total_time=$FUZZ_SECONDS" "$work/corpus" >"$work/fuzz.log" 2>&1 || rc=$?
    after=$(find "$artifacts" -type f | wc -l)
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/fuzz.log" | tail -1)
    if [[ -z $execs ]]; then
        execs=$(grep -o '^#[0-9]*' "$work/fuzz.log" | tail -1 | tr -d '#')
    fi
    if [[ $rc -ne 0 || $after -gt $before ]]; then
        what=$(grep -m1 -E "^==[0-9]+== ERROR: libFuzzer|panicked at|^SUMMARY: libFuzzer" "$work/fuzz.log" || true)
        new=$(grep -o 'Test unit written to .*' "$work/fuzz.log" | tail -1 | sed 's/Test unit written to //')
        crashed="yes (exit $rc${what:+: $what}${new:+; input: $new}; log: $work/fuzz.log)"
    fi
    [[ $crashed == no ]] || failed+=("$t")
    corpus_n=$(find "$work/corpus" -type f | wc -l)
    summary+=("$(printf '%-22s executions: %-10s corpus: %-6s crashed: %s' "$t" "${execs:-?}" "$corpus_n" "$crashed")")
    log "${summary[-1]}"
done

echo
echo "fuzz summary (${FUZZ_SECONDS}s per target):"
printf '  %s\n' "${summary[@]}"
if [[ ${#failed[@]} -gt 0 ]]; then
    echo "fuzz: FAILED: ${failed[*]}" >&2
    exit 1
fi
echo "fuzz: no crash in ${#targets[@]} targets"
