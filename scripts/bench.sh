#!/usr/bin/env bash
# End-to-end throughput benchmark: produces RECORDS records to the tansu broker, then runs the
# trailpipe daemon from that topic into (1) the local store and (2) moto S3, and prints for each
# run the end-to-end records/s (daemon start → every offset committed) and the daemon's peak RSS.
#
# Usage (with the test servers running and .test-services/env sourced): scripts/bench.sh
#   RECORDS=1000000 PARTITIONS=4 TARGETS="local s3" WITH="history insights" INPUT=samples
# INPUT: `samples` — the real CloudTrail records of ../shared/samples (34,592 of them, 1,430 B on
# average), each produced ten times over (RECORDS defaults to ten times their number, as
# ../shared/design.md §8 measures the floor) — is the headline input and the default when that
# folder exists; `generated` (the default without it) produces `trailpipe generate`'s records
# (RECORDS defaults to 1,000,000).
# WITH adds optional stages to the daemon: `history` (event history store), `insights` (Insights
# on the trail), `cwl` (the trail also delivers to a CloudWatch Logs group on moto; prints the
# read-to-CloudWatch-Logs latency p50/p99 the daemon measures, the worst rolling-minute p99 seen
# during the run, and the records in the group); by default none, the S3 spine alone.
# RATE=n produces the records at n records/s while the daemon runs (a steady load, for latency)
# instead of producing them all first (a backlog, for throughput).
# The target `tls` is `local` read over TLS with mutual authentication (scripts/services.sh's
# stunnel-tls listener in front of the tansu-tls broker, same build and storage as the plaintext
# one): TARGETS="local tls" gives the cost of TLS in one run.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
SAMPLES=${SAMPLES:-$REPO/../shared/samples/cloudtrail/_normalized}
if [[ -z ${INPUT:-} ]]; then
    if compgen -G "$SAMPLES/*.ndjson.gz" >/dev/null; then INPUT=samples; else INPUT=generated; fi
fi
SAMPLE_FILES=()
if [[ $INPUT == samples ]]; then
    mapfile -t SAMPLE_FILES < <(compgen -G "$SAMPLES/*.ndjson.gz" | sort)
    (( ${#SAMPLE_FILES[@]} > 0 )) || { echo "INPUT=samples but no $SAMPLES/*.ndjson.gz" >&2; exit 2; }
    RECORDS=${RECORDS:-$(( 10 * $(zcat "${SAMPLE_FILES[@]}" | grep -c .) ))}
elif [[ $INPUT == generated ]]; then
    RECORDS=${RECORDS:-1000000}
else
    echo "INPUT must be samples or generated" >&2; exit 2
fi
PARTITIONS=${PARTITIONS:-4}
TARGETS=${TARGETS:-local s3}
WITH=${WITH:-}
RATE=${RATE:-}
: "${TRAILPIPE_TEST_BROKERS:?source .test-services/env first (scripts/services.sh start)}"
PY=${TRAILPIPE_TEST_PYTHON:-$REPO/.tools/venv/bin/python}
# Each run first measures the floor on the same topic: `trailpipe bench-floor` consumes it with
# the group consumer's settings and only builds log-file bodies (gzip + SHA-256, two threads);
# every target's line ends with its records/s as a ratio of that floor (FLOOR=0 skips it).
# TRAILPIPE_BIN runs a daemon built elsewhere (e.g. the commit before a change, for a before/after
# comparison on the same machine); TOOLS_BIN is the binary whose `generate` produces the records
# and whose `bench-floor` measures the floor (so both sides of a comparison get the same input
# and the same floor). Both default to the release build of this checkout.
BIN=${TRAILPIPE_BIN:-$REPO/target/release/trailpipe}
WORK=$(mktemp -d /tmp/trailpipe-bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
calc() { python3 -c "print($1)"; }

OWN=$REPO/target/release/trailpipe
TOOLS_BIN=${TOOLS_BIN:-$OWN}
if [[ $BIN == "$OWN" || $TOOLS_BIN == "$OWN" ]]; then
    cargo build --release --locked --bin trailpipe >/dev/null
fi
run_id=$(date +%s)
topic=bench-$run_id
# The TLS listener's client settings (as librdkafka -X properties and as [source.tls]).
TLS_X=()
if [[ " $TARGETS " == *" tls "* ]]; then
    : "${TRAILPIPE_TEST_TLS_BROKERS:?the tls target needs the secure listeners (scripts/services.sh start)}"
    TLS_X=(-X security.protocol=SSL -X "ssl.ca.location=$TRAILPIPE_TEST_TLS_CA"
        -X "ssl.certificate.location=$TRAILPIPE_TEST_TLS_CLIENT_CERT" -X "ssl.key.location=$TRAILPIPE_TEST_TLS_CLIENT_KEY")
fi
# brokers_of TARGET / x_of TARGET: where a target reads, and the client settings to reach it.
brokers_of() { if [[ $1 == tls ]]; then echo "$TRAILPIPE_TEST_TLS_BROKERS"; else echo "$TRAILPIPE_TEST_BROKERS"; fi; }
x_of() { if [[ $1 == tls ]]; then printf '%s\n' "${TLS_X[@]}"; fi; }
clusters=(plain)
[[ " $TARGETS " == *" tls "* ]] && clusters+=(tls)
for c in "${clusters[@]}"; do
    mapfile -t x < <(x_of "$c")
    "$PY" scripts/kafka_admin.py "${x[@]}" create-topic "$(brokers_of "$c")" "$topic" "$PARTITIONS" >/dev/null
    "$PY" scripts/kafka_admin.py "${x[@]}" create-topic "$(brokers_of "$c")" "$topic-dead" 1 >/dev/null
done
produce_to() {
    local c=$1; shift
    mapfile -t x < <(x_of "$c")
    local inputs=()
    for f in "${SAMPLE_FILES[@]}"; do inputs+=(--input "$f"); done
    "$TOOLS_BIN" generate --records "$1" --seed "$2" --accounts 8 --regions 4 "${inputs[@]}" --topic "$topic" --brokers "$(brokers_of "$c")" "${x[@]}" 2>/dev/null
}
produce() { for c in "${clusters[@]}"; do produce_to "$c" "$@"; done; }
# RATE: one batch of RATE records per second, each second's batch from its own seed.
produce_steady() {
    local s
    for ((s = 0; s * RATE < RECORDS; s++)); do
        produce "$(( RECORDS - s * RATE < RATE ? RECORDS - s * RATE : RATE ))" "$((s + 1))" &
        sleep 1
    done
    wait
}
if [[ -z $RATE ]]; then
    t0=$(date +%s.%N)
    produce "$RECORDS" 1
    t1=$(date +%s.%N)
    printf 'produced %d %s records to %s (%d partitions) in %.1fs\n' "$RECORDS" "$INPUT" "$topic" "$PARTITIONS" "$(calc "$t1 - $t0")"
    if [[ ${FLOOR:-1} != 0 ]]; then
        floor_line=$("$TOOLS_BIN" bench-floor --brokers "$TRAILPIPE_TEST_BROKERS" --topic "$topic" --records "$RECORDS")
        echo "$floor_line"
        floor_rate=$(awk '{for (i = 1; i < NF; i++) if ($(i + 1) == "records/s") print $i}' <<<"$floor_line" | head -1)
    fi
fi
# The p99 the daemon reports for the last minute, or nothing.
cwl_p99() {
    curl -s http://127.0.0.1:19480/metrics | awk '/^trailpipe_cwl_delivery_latency_seconds\{quantile="0.99"\}/ {print $2}'
}

for target in $TARGETS; do
    group=bench-$target-$run_id
    if [[ $target == s3 ]]; then
        bucket=bench-$run_id
        "$TRAILPIPE_TEST_AWS_CLI" s3 mb "s3://$bucket" >/dev/null
        storage="kind = \"s3\"
region = \"us-east-1\"
endpoint_url = \"$AWS_ENDPOINT_URL\""
    else
        bucket=bench
        storage="kind = \"local\"
local_root = \"$WORK/out-$target\""
    fi
    tls_table=""
    if [[ $target == tls ]]; then
        tls_table="[source.tls]
ca_file = \"$TRAILPIPE_TEST_TLS_CA\"
cert_file = \"$TRAILPIPE_TEST_TLS_CLIENT_CERT\"
key_file = \"$TRAILPIPE_TEST_TLS_CLIENT_KEY\""
    fi
    brokers=$(brokers_of "$target")
    mapfile -t x < <(x_of "$target")
    cat >"$WORK/$target.toml" <<TOML
[source]
kind = "kafka"
brokers = "$brokers"
topics = ["$topic"]
group_id = "$group"
dead_letter_topic = "$topic-dead"
$tls_table
[storage]
$storage
[server]
listen = "127.0.0.1:19480"
[state]
dir = "$WORK/state-$target"
$( [[ " $WITH " == *" history "* ]] && printf '[history]\npath = "%s"\nretention_days = 3650\n' "$WORK/history-$target" )
[[trails]]
name = "all-events"
s3_bucket_name = "$bucket"
is_multi_region_trail = true
delivery_interval_secs = 5
$( [[ " $WITH " == *" insights "* ]] && printf 'insight_selectors = [{ insight_type = "ApiCallRateInsight" }, { insight_type = "ApiErrorRateInsight" }]\n' )
[[trails.event_selectors]]
read_write_type = "All"
include_management_events = true
[[trails.event_selectors.data_resources]]
type = "AWS::S3::Object"
values = ["arn:aws:s3"]
[[trails.event_selectors.data_resources]]
type = "AWS::Lambda::Function"
values = ["arn:aws:lambda"]
$( [[ " $WITH " == *" cwl "* ]] && printf '[trails.cloud_watch_logs]\ncloud_watch_logs_log_group = "bench-%s-%s"\n' "$target" "$run_id" )
TOML
    start=$(date +%s.%N)
    TRAILPIPE_LOG=warn "$BIN" run --config "$WORK/$target.toml" 2>"$WORK/$target.log" &
    pid=$!
    producer=""
    if [[ -n $RATE ]]; then produce_steady & producer=$!; fi
    peak=0
    t10=""
    t90=""
    worst_p99=0
    while :; do
        if [[ " $WITH " == *" cwl "* ]]; then
            p99=$(cwl_p99)
            if [[ -n $p99 ]] && [[ $(calc "$p99 > $worst_p99") == True ]]; then worst_p99=$p99; fi
        fi
        rss=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
        (( rss > peak )) && peak=$rss
        # The daemon's own committed-offset gauges (one curl), confirmed from the broker only
        # once they say everything is done: a Python client every half second cost 7% of the
        # machine's CPU in the first profile, which the daemon then lacked.
        done_count=$({ curl -s http://127.0.0.1:19480/metrics || true; } | awk '/^trailpipe_committed_offset\{/ {s += $2} END {printf "%d", s}')
        if (( done_count >= RECORDS )); then
            done_count=$("$PY" scripts/kafka_admin.py "${x[@]}" committed "$brokers" "$group" "$topic" "$PARTITIONS" 2>/dev/null || echo 0)
        fi
        if [[ -z $t10 ]] && (( done_count * 10 >= RECORDS )); then t10=$(date +%s.%N); fi
        if [[ -z $t90 ]] && (( done_count * 10 >= RECORDS * 9 )); then t90=$(date +%s.%N); fi
        if (( done_count >= RECORDS )); then break; fi
        if ! kill -0 "$pid" 2>/dev/null; then echo "daemon exited early:"; tail -20 "$WORK/$target.log"; exit 1; fi
        sleep 0.2
    done
    end=$(date +%s.%N)
    if [[ " $WITH " == *" cwl "* ]]; then
        m=$(curl -s http://127.0.0.1:19480/metrics)
        q() { awk -v q="$1" '$1 == "trailpipe_cwl_delivery_latency_seconds{quantile=\""q"\"}" {print $2}' <<<"$m"; }
        n=$(awk '/^trailpipe_cwl_delivery_latency_seconds_count/ {print $2}' <<<"$m")
        printf 'cloudwatch logs: %s records accepted; read-to-accepted latency over the last minute p50 %.3fs p99 %.3fs; worst rolling-minute p99 during the run %.3fs\n' \
            "${n:-0}" "$(q 0.5)" "$(q 0.99)" "$worst_p99"
    fi
    [[ -n $producer ]] && wait "$producer"
    kill -TERM "$pid"; wait "$pid" || true
    secs=$(calc "$end - $start")
    [[ -n $WITH ]] && printf '(with %s) ' "$WITH"
    # End to end includes the start-up (joining the group) and the last segment waiting out
    # delivery_interval_secs (5 s) once the backlog is drained; the steady rate is the records
    # committed between 10% and 90% of them over the time between, which is what a daemon
    # with a backlog sustains. The floor is timed from its first record, likewise.
    [[ $t10 == "$t90" ]] && t10=$start # everything committed at once (a tiny RECORDS)
    steady=$(calc "$RECORDS * 0.8 / ($t90 - $t10)")
    printf '%-6s %d records in %.1fs = %.0f records/s end to end, steady %.0f records/s (10%%–90%% committed), peak RSS %.0f MiB' \
        "$target" "$RECORDS" "$secs" "$(calc "$RECORDS / $secs")" "$steady" "$(calc "$peak / 1024")"
    if [[ -n ${floor_rate:-} ]]; then
        printf '; steady %.2fx the floor' "$(calc "$steady / $floor_rate")"
    fi
    printf '\n'
done
