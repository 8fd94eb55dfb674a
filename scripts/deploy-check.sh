#!/usr/bin/env bash
# Checks the deployment files under deploy/ with the real tools, offline:
#   1. the example configs pass `trailpipe validate` (when a trailpipe binary is given or built);
#   2. `systemd-analyze verify` accepts deploy/systemd/trailpipe.service (any warning about the
#      unit fails the check: systemd-analyze itself exits 0 on unknown or unparsable keys);
#   3. `kubectl kustomize deploy/kubernetes` renders, and every rendered object validates against
#      the Kubernetes JSON schemas (pip `kubernetes-validate`, strict: unknown fields fail) —
#      the ServiceMonitor CRD against deploy/schemas/servicemonitor-monitoring.coreos.com-v1.json;
#   4. shutdown budgets: TimeoutStopSec and terminationGracePeriodSeconds exceed shutdown_grace_secs.
#
# Usage: scripts/deploy-check.sh [TRAILPIPE_BIN]
# Environment:
#   TRAILPIPE_BIN=path      the trailpipe binary (else target/{release,debug}/trailpipe if present).
#                           systemd-analyze needs ExecStart to exist: without a binary the unit is
#                           verified with a stub executable, and step 1 is skipped.
#   KUBECTL=kubectl         kubectl to render with (Debian 12: apt package kubernetes-client).
#   PYTHON=path             interpreter with kubernetes-validate (default <repo>/.tools/venv/bin/python).
#   K8S_VERSIONS="1.29.0 1.37.0"  Kubernetes versions to validate against.
#   DEPLOY_CHECK_STRICT=1   a missing tool fails the run instead of skipping its check (CI).
#
# Exit status: 0 when every check passed or was skipped, 1 when one failed.
set -uo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DEPLOY=$REPO/deploy
UNIT=$DEPLOY/systemd/trailpipe.service
UNIT_BIN=/usr/local/bin/trailpipe
KUBECTL=${KUBECTL:-kubectl}
PYTHON=${PYTHON:-$REPO/.tools/venv/bin/python}
K8S_VERSIONS=${K8S_VERSIONS:-1.29.0 1.37.0}
BIN=${1:-${TRAILPIPE_BIN:-}}

passed=0 failed=0 skipped=0
say() { printf 'deploy-check: %s\n' "$*"; }
pass() { say "PASS $*"; passed=$((passed + 1)); }
fail() { say "FAIL $*"; failed=$((failed + 1)); }
skip() {
    if [[ ${DEPLOY_CHECK_STRICT:-0} == 1 ]]; then
        fail "$* (DEPLOY_CHECK_STRICT=1: missing tools are failures)"
    else
        say "SKIP $*"
        skipped=$((skipped + 1))
    fi
}

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

if [[ -z $BIN ]]; then
    for candidate in "$REPO/target/release/trailpipe" "$REPO/target/debug/trailpipe"; do
        if [[ -x $candidate ]]; then BIN=$candidate; break; fi
    done
fi
if [[ -n $BIN ]]; then
    [[ -x $BIN ]] || { fail "TRAILPIPE_BIN=$BIN is not an executable file"; BIN=; }
fi
[[ -n $BIN ]] && BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")

# 1. Example configs.
if [[ -n $BIN ]]; then
    for config in "$DEPLOY/systemd/trailpipe.toml" "$DEPLOY/kubernetes/trailpipe.toml"; do
        if out=$("$BIN" validate --config "$config" 2>&1); then
            pass "trailpipe validate ${config#"$REPO"/}: $out"
        else
            fail "trailpipe validate ${config#"$REPO"/}:"$'\n'"$out"
        fi
    done
else
    skip "trailpipe validate of the example configs: no trailpipe binary (pass it as \$1 or TRAILPIPE_BIN, or cargo build)"
fi

# 2. systemd unit. A temporary copy named like the original, with ExecStart* pointing at the
# binary under test (or a stub that exists, so verify can check everything else).
if command -v systemd-analyze >/dev/null 2>&1; then
    exe=$BIN
    if [[ -z $exe ]]; then
        exe=$WORK/stub/trailpipe
        mkdir -p "$WORK/stub"
        printf '#!/bin/sh\nexit 0\n' >"$exe"
        chmod +x "$exe"
        say "note: verifying the unit with a stub ExecStart binary (no trailpipe binary given)"
    fi
    mkdir -p "$WORK/unit"
    sed "s#$UNIT_BIN#$exe#g" "$UNIT" >"$WORK/unit/trailpipe.service"
    out=$(cd "$WORK/unit" && systemd-analyze verify ./trailpipe.service 2>&1)
    rc=$?
    # Lines about our unit are findings; other lines (host units) are shown but not ours to fix.
    ours=$(grep -F 'trailpipe.service' <<<"$out" || true)
    if [[ $rc -eq 0 && -z $ours ]]; then
        pass "systemd-analyze verify deploy/systemd/trailpipe.service ($(systemd-analyze --version | head -n1))"
        [[ -n $out ]] && say "  (host messages, not about the unit: $out)"
    else
        fail "systemd-analyze verify deploy/systemd/trailpipe.service (exit $rc):"$'\n'"$out"
    fi
else
    skip "systemd-analyze verify: systemd-analyze not found (apt-get install systemd)"
fi

# 4. Shutdown budgets (plain text, no tools needed).
grace_of() { sed -n 's/^[[:space:]]*shutdown_grace_secs[[:space:]]*=[[:space:]]*\([0-9]*\).*/\1/p' "$1"; }
systemd_grace=$(grace_of "$DEPLOY/systemd/trailpipe.toml"); systemd_grace=${systemd_grace:-20}
k8s_grace=$(grace_of "$DEPLOY/kubernetes/trailpipe.toml"); k8s_grace=${k8s_grace:-20}
stop=$(sed -n 's/^TimeoutStopSec=\([0-9]*\)s\{0,1\}$/\1/p' "$UNIT")
term=$(sed -n 's/^[[:space:]]*terminationGracePeriodSeconds:[[:space:]]*\([0-9]*\).*/\1/p' "$DEPLOY/kubernetes/statefulset.yaml")
if [[ -n $stop && $stop -gt $systemd_grace && -n $term && $term -gt $k8s_grace ]]; then
    pass "shutdown budgets: TimeoutStopSec=${stop}s > ${systemd_grace}s, terminationGracePeriodSeconds=${term} > ${k8s_grace}s"
else
    fail "shutdown budgets: TimeoutStopSec='${stop}' vs grace ${systemd_grace}, terminationGracePeriodSeconds='${term}' vs grace ${k8s_grace}"
fi

# 3. Kubernetes: render, then validate every object offline.
rendered=$WORK/rendered.yaml
if command -v "$KUBECTL" >/dev/null 2>&1; then
    if out=$("$KUBECTL" kustomize "$DEPLOY/kubernetes" 2>&1 >"$rendered"); then
        pass "kubectl kustomize deploy/kubernetes ($(grep -c '^kind:' "$rendered") objects; $("$KUBECTL" version --client 2>/dev/null | head -n1 | cut -c1-60))"
    else
        fail "kubectl kustomize deploy/kubernetes:"$'\n'"$out"
        rendered=
    fi
else
    skip "kubectl kustomize: $KUBECTL not found (Debian 12: apt-get install kubernetes-client)"
    rendered=
fi
if [[ -n $rendered ]]; then
    if [[ -x $PYTHON ]] && "$PYTHON" -c 'import kubernetes_validate, jsonschema, yaml' >/dev/null 2>&1; then
        if out=$("$PYTHON" - "$rendered" "$DEPLOY/schemas" "$K8S_VERSIONS" 2>&1 <<'PY'
import json, pathlib, sys

import jsonschema
import kubernetes_validate
import yaml
from kubernetes_validate.utils import SchemaNotFoundError

rendered, schema_dir, versions = sys.argv[1], pathlib.Path(sys.argv[2]), sys.argv[3].split()
# Custom resources have no schema in kubernetes-validate: ours are vendored by (group, version, kind).
custom = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"): schema_dir / "servicemonitor-monitoring.coreos.com-v1.json",
}
docs = [d for d in yaml.safe_load_all(open(rendered)) if d]
errors = 0
for doc in docs:
    name = f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
    key = (doc.get("apiVersion"), doc.get("kind"))
    try:
        if key in custom:
            schema = json.loads(custom[key].read_text())
            problems = sorted(jsonschema.Draft202012Validator(schema).iter_errors(doc), key=str)
            for p in problems:
                print(f"  {name}: {'.'.join(map(str, p.absolute_path))}: {p.message}")
            errors += len(problems)
            if not problems:
                print(f"  {name}: valid against {custom[key].name}")
            continue
        for v in versions:
            kubernetes_validate.validate(doc, v, strict=True)
        print(f"  {name}: valid against Kubernetes {', '.join(versions)} (strict)")
    except SchemaNotFoundError as e:
        print(f"  {name}: no schema: {e.message}")
        errors += 1
    except jsonschema.ValidationError as e:
        print(f"  {name}: {'.'.join(map(str, e.path))}: {e.message}")
        errors += 1
print(f"{len(docs)} objects, {errors} problem(s)")
sys.exit(1 if errors or not docs else 0)
PY
        ); then
            pass "schema validation of every rendered object (kubernetes-validate $("$PYTHON" -c 'import kubernetes_validate; print(kubernetes_validate.__version__)'))"$'\n'"$out"
        else
            fail "schema validation of the rendered objects:"$'\n'"$out"
        fi
    else
        skip "schema validation: $PYTHON cannot import kubernetes_validate (pip install kubernetes-validate, see scripts/test-deps.sh)"
    fi
fi

say "done: $passed passed, $failed failed, $skipped skipped"
[[ $failed -eq 0 ]]
