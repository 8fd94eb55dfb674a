#!/usr/bin/env bash
# Creates a topic with N partitions on the test broker started by scripts/services.sh.
#
# tansu 0.6 does not auto-create topics: a producer to an unknown topic waits out its delivery
# timeout and metadata answers UNKNOWN_TOPIC_OR_PART, so every test creates its topics first.
# Uses tansu's own `tansu topic create`; Kafka CreateTopics from a client works against tansu too
# (rdkafka's AdminClient, or `.tools/venv/bin/python scripts/kafka_admin.py create-topic`).
#
# Idempotent: a topic that already exists with the same partition count is fine; with a different
# count it is an error (Kafka cannot shrink partitions, and a test relying on the count would lie).
#
# Usage: scripts/create-topic.sh NAME PARTITIONS
# Environment: TRAILPIPE_TEST_BROKERS (host:port; default: from .test-services/env)
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STATE=${TRAILPIPE_TEST_SERVICES_DIR:-$REPO/.test-services}
TOOLS=${TRAILPIPE_TOOLS_DIR:-$REPO/.tools}

die() { printf 'create-topic: ERROR: %s\n' "$*" >&2; exit 1; }

[[ $# -eq 2 ]] || die "usage: $0 NAME PARTITIONS"
name=$1
partitions=$2
[[ $partitions =~ ^[1-9][0-9]*$ ]] || die "PARTITIONS must be a positive integer, got '$partitions'"
[[ $name =~ ^[A-Za-z0-9._-]{1,249}$ ]] || die "'$name' is not a valid Kafka topic name"

if [[ -z ${TRAILPIPE_TEST_BROKERS:-} ]]; then
    [[ -f $STATE/env ]] || die "no TRAILPIPE_TEST_BROKERS and no $STATE/env; run scripts/services.sh start"
    # shellcheck source=/dev/null
    . "$STATE/env"
fi
brokers=$TRAILPIPE_TEST_BROKERS
tansu=${TRAILPIPE_TEST_TANSU:-${TANSU_BIN:-$TOOLS/bin/tansu}}
[[ -x $tansu ]] || die "no tansu at $tansu; run scripts/test-deps.sh"
python=${TRAILPIPE_TEST_PYTHON:-python3}

# Prints the partition count of NAME from `tansu topic list` (a Kafka Metadata request, JSON out),
# or nothing when the topic does not exist.
partition_count() {
    local listing
    listing=$("$tansu" topic list --broker "tcp://$brokers") || return 1
    "$python" -c '
import json, sys
for t in json.load(sys.stdin):
    if t["name"] == sys.argv[1] and t["error_code"] == 0:
        print(len(t["partitions"]))' "$name" <<<"$listing"
}

existing=$(partition_count) || die "could not list topics on $brokers (is the broker running?)"
if [[ -n $existing ]]; then
    [[ $existing == "$partitions" ]] \
        || die "topic $name already exists with $existing partitions, not $partitions"
    echo "create-topic: $name already exists with $partitions partitions"
    exit 0
fi

"$tansu" topic create "$name" --partitions "$partitions" --broker "tcp://$brokers" >/dev/null \
    || die "tansu topic create $name failed"
got=$(partition_count)
[[ $got == "$partitions" ]] || die "created $name but metadata shows '${got}' partitions, wanted $partitions"
echo "create-topic: created $name with $partitions partitions on $brokers"
