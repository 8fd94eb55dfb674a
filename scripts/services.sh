#!/usr/bin/env bash
# Runs the real servers trailpipe's integration tests talk to, on loopback:
#   tansu  Kafka-protocol broker, memory storage       (default 127.0.0.1:19092)
#   moto   S3, KMS, CloudWatch Logs/metrics, SNS, SQS,  (default 127.0.0.1:15000)
#          IAM/STS on one HTTP port
# Install them first with scripts/test-deps.sh. State (pids, ports, logs, env) lives in
# <repo>/.test-services/.
#
# Usage: scripts/services.sh COMMAND [SERVICE...]
#   start [tansu|moto]...   start (default: both), wait until each answers, write .test-services/env
#   stop [tansu|moto]...    stop (default: both; also removes env and remembered ports); safe to repeat
#   restart-moto            stop and start moto on the same port (loses all of moto's state)
#   restart-tansu           stop and start tansu on the same port (loses all topics and offsets)
#   status                  print what runs; exit 0 when both run, 3 otherwise
#   env                     print the env file: eval "$(scripts/services.sh env)"
#
# Both servers keep everything in memory: a restart starts from nothing (no buckets, keys, topics,
# offsets). A test that restarts moto to simulate an S3 outage must re-create what it needs after.
# Stopping one service (`stop moto`) keeps its port, so a later `start moto` reuses it and the env
# file stays valid.
#
# Environment:
#   TRAILPIPE_TEST_KAFKA_PORT, TRAILPIPE_TEST_MOTO_PORT  fixed ports (fail if taken). Unset: the
#       defaults 19092/15000, or a free port when the default is taken.
#   TRAILPIPE_TEST_START_TIMEOUT  seconds to wait for each server (default 60)
#   TRAILPIPE_TEST_TANSU_LOG      RUST_LOG for tansu (default warn; its info level logs every request)
#   TANSU_BIN                     broker binary (default .tools/bin/tansu)
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SCRIPTS=$REPO/scripts
TOOLS=${TRAILPIPE_TOOLS_DIR:-$REPO/.tools}
STATE=${TRAILPIPE_TEST_SERVICES_DIR:-$REPO/.test-services}
VENV=$TOOLS/venv
PY=$VENV/bin/python
TANSU=${TANSU_BIN:-$TOOLS/bin/tansu}
MOTO=$VENV/bin/moto_server
AWS_CLI=$VENV/bin/aws
START_TIMEOUT=${TRAILPIPE_TEST_START_TIMEOUT:-60}
HOST=127.0.0.1

log() { printf 'services: %s\n' "$*"; }
die() { printf 'services: ERROR: %s\n' "$*" >&2; exit 1; }

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1fs", b - a }'; }

default_port() {
    case $1 in
        tansu) echo 19092 ;;
        moto) echo 15000 ;;
    esac
}

port_override() {
    case $1 in
        tansu) echo "${TRAILPIPE_TEST_KAFKA_PORT:-}" ;;
        moto) echo "${TRAILPIPE_TEST_MOTO_PORT:-}" ;;
    esac
}

# The binary's name as it appears in /proc/PID/cmdline, to tell our server from a recycled pid.
process_marker() {
    case $1 in
        tansu) echo tansu ;;
        moto) echo moto_server ;;
    esac
}

# Prints the pid of a running service of ours, or fails.
running_pid() {
    local svc=$1 pidfile=$STATE/$1.pid pid
    [[ -f $pidfile ]] || return 1
    pid=$(<"$pidfile")
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$(process_marker "$svc")" || return 1
    echo "$pid"
}

listening() {
    (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null
}

free_port() {
    "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Decides the port for a service: explicit override > remembered from this session > default > free.
choose_port() {
    local svc=$1 override remembered port
    override=$(port_override "$svc")
    if [[ -n $override ]]; then
        listening "$override" && die "$svc: port $override (from the environment) is already in use"
        echo "$override"
        return
    fi
    if [[ -f $STATE/$svc.port ]]; then
        remembered=$(<"$STATE/$svc.port")
        listening "$remembered" && die "$svc: remembered port $remembered is in use by another process"
        echo "$remembered"
        return
    fi
    port=$(default_port "$svc")
    if listening "$port"; then
        port=$(free_port)
        log "$svc: default port $(default_port "$svc") is taken; using free port $port" >&2
    fi
    echo "$port"
}

require_tools() {
    local svc=$1
    [[ -x $PY ]] || die "no venv at $VENV; run scripts/test-deps.sh first"
    case $svc in
        tansu) [[ -x $TANSU ]] || die "no tansu at $TANSU; run scripts/test-deps.sh first" ;;
        moto) [[ -x $MOTO ]] || die "no moto_server at $MOTO; run scripts/test-deps.sh first" ;;
    esac
}

launch() {
    local svc=$1 port=$2 logfile=$STATE/$1.log
    case $svc in
        tansu)
            # memory:// keeps the broker stateless and fast; --advertised-listener-url must equal the
            # bootstrap address or clients reconnect somewhere else after the first metadata call.
            # tansu also reads generic env names (SCHEMA_REGISTRY, OTEL_EXPORTER_OTLP_ENDPOINT): drop
            # them so a developer's environment cannot turn on validation or tracing export.
            env -u SCHEMA_REGISTRY -u OTEL_EXPORTER_OTLP_ENDPOINT RUST_LOG="${TRAILPIPE_TEST_TANSU_LOG:-warn}" \
                setsid "$TANSU" broker \
                --listener-url "tcp://$HOST:$port" \
                --advertised-listener-url "tcp://$HOST:$port" \
                --storage-engine memory://tansu/ \
                </dev/null >>"$logfile" 2>&1 &
            ;;
        moto)
            setsid "$MOTO" -H "$HOST" -p "$port" </dev/null >>"$logfile" 2>&1 &
            ;;
    esac
    # setsid execs in place (we are not a process-group leader), so $! is the server itself; its own
    # session keeps a terminal's Ctrl-C or hang-up from taking the servers down mid-test.
    LAUNCHED=$!
    echo "$LAUNCHED" >"$STATE/$svc.pid"
}

# True while a process we launched lives. Unlike running_pid it does not look at the command line:
# until the forked shell has exec'd the server, /proc/PID/cmdline is still this script's, and a
# loaded machine can take a while to get there (CI once read that as "exited during start-up").
# A zombie (exited, not yet reaped by bash) counts as dead.
alive() {
    local state
    kill -0 "$1" 2>/dev/null || return 1
    state=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 1
    [[ $state != Z ]]
}

# Prints the tail of a service's log to stderr, or says that it is empty.
show_log() {
    local logfile=$STATE/$1.log
    if [[ -s $logfile ]]; then
        printf 'services: last lines of %s:\n' "$logfile" >&2
        tail -n 30 "$logfile" >&2 || true
    else
        printf 'services: %s is empty\n' "$logfile" >&2
    fi
}

# Waits until the service answers a real request, not just a TCP connect.
ready() {
    local svc=$1 port=$2
    listening "$port" || return 1
    case $svc in
        tansu) "$PY" "$SCRIPTS/kafka_admin.py" probe "$HOST:$port" >/dev/null 2>&1 ;;
        moto)
            "$PY" -c 'import sys, urllib.request
urllib.request.urlopen(sys.argv[1], timeout=2).read()' "http://$HOST:$port/moto-api/" >/dev/null 2>&1
            ;;
    esac
}

start_one() {
    local svc=$1 pid port override t0 deadline attempt rc
    require_tools "$svc"
    if pid=$(running_pid "$svc"); then
        port=$(<"$STATE/$svc.port")
        log "$svc: already running (pid $pid, port $port)"
        override=$(port_override "$svc")
        if [[ -n $override && $override != "$port" ]]; then
            log "$svc: WARNING: asked for port $override but it runs on $port; stop it first to move it" >&2
        fi
        return
    fi
    port=$(choose_port "$svc")
    printf '%s\n' "$port" >"$STATE/$svc.port"
    t0=$(now)
    # A server that dies during start-up is launched once more (after showing why), so one bad start
    # on a busy machine does not cost a whole test run; a second death is an error.
    for attempt in 1 2; do
        launch "$svc" "$port"
        pid=$LAUNCHED
        deadline=$(( $(date +%s) + START_TIMEOUT ))
        until ready "$svc" "$port"; do
            if ! alive "$pid"; then
                rc=0
                wait "$pid" 2>/dev/null || rc=$?
                show_log "$svc"
                rm -f "$STATE/$svc.pid"
                (( attempt == 1 )) || die "$svc (pid $pid) exited with status $rc during start-up, twice (log: $STATE/$svc.log)"
                log "$svc: pid $pid exited with status $rc during start-up; starting it once more" >&2
                continue 2
            fi
            if (( $(date +%s) >= deadline )); then
                show_log "$svc"
                stop_one "$svc"
                die "$svc did not answer on $HOST:$port within ${START_TIMEOUT}s (log: $STATE/$svc.log)"
            fi
            sleep 0.1
        done
        break
    done
    running_pid "$svc" >/dev/null || die "$svc answers on $HOST:$port but pid $pid is not $(process_marker "$svc")"
    log "$svc: ready on $HOST:$port in $(since "$t0") (pid $(<"$STATE/$svc.pid"), log $STATE/$svc.log)"
}

stop_one() {
    local svc=$1 pid i
    if pid=$(running_pid "$svc"); then
        kill -TERM "$pid" 2>/dev/null || true
        # moto takes a second or two to shut down; give both up to 10s before forcing.
        for ((i = 0; i < 100; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            kill -KILL "$pid" 2>/dev/null || true
            log "$svc: did not stop on TERM; killed pid $pid"
        else
            log "$svc: stopped (pid $pid)"
        fi
    else
        log "$svc: not running"
    fi
    rm -f "$STATE/$svc.pid"
}

write_env() {
    local tansu_port moto_port tmp=$STATE/env.tmp.$$
    tansu_port=$(cat "$STATE/tansu.port" 2>/dev/null || default_port tansu)
    moto_port=$(cat "$STATE/moto.port" 2>/dev/null || default_port moto)
    {
        echo "# Written by scripts/services.sh; load with: . $STATE/env"
        printf 'export %s=%q\n' \
            TRAILPIPE_TEST_BROKERS "$HOST:$tansu_port" \
            TRAILPIPE_TEST_KAFKA_PORT "$tansu_port" \
            TRAILPIPE_TEST_MOTO_PORT "$moto_port" \
            AWS_ENDPOINT_URL "http://$HOST:$moto_port" \
            AWS_ACCESS_KEY_ID testing \
            AWS_SECRET_ACCESS_KEY testing \
            AWS_DEFAULT_REGION us-east-1 \
            AWS_REGION us-east-1 \
            AWS_EC2_METADATA_DISABLED true \
            TRAILPIPE_TEST_AWS_CLI "$AWS_CLI" \
            TRAILPIPE_TEST_TANSU "$TANSU" \
            TRAILPIPE_TEST_MOTO "$MOTO" \
            TRAILPIPE_TEST_PYTHON "$PY" \
            TRAILPIPE_TEST_SERVICES "$SCRIPTS/services.sh"
    } >"$tmp"
    mv -f "$tmp" "$STATE/env"
}

services_from_args() {
    local s
    if [[ $# -eq 0 ]]; then
        echo tansu moto
        return
    fi
    for s in "$@"; do
        case $s in
            tansu | kafka) echo tansu ;;
            moto | aws) echo moto ;;
            *) die "unknown service '$s' (expected tansu or moto)" ;;
        esac
    done
}

cmd_start() {
    local svc svcs
    svcs=$(services_from_args "$@") # a plain assignment, so a bad name stops the script here
    mkdir -p "$STATE"
    for svc in $svcs; do
        start_one "$svc"
    done
    write_env
    log "env written to $STATE/env"
}

cmd_stop() {
    local svc svcs
    svcs=$(services_from_args "$@")
    for svc in $svcs; do
        stop_one "$svc"
    done
    # A full stop forgets the ports and env, so the next start picks defaults again.
    if [[ $# -eq 0 ]]; then
        rm -f "$STATE/env" "$STATE/tansu.port" "$STATE/moto.port"
    fi
}

cmd_status() {
    local svc pid port all=0
    for svc in tansu moto; do
        port=$(cat "$STATE/$svc.port" 2>/dev/null || echo -)
        if pid=$(running_pid "$svc"); then
            if ready "$svc" "$port"; then
                log "$svc: running, pid $pid, $HOST:$port, answering"
            else
                log "$svc: running, pid $pid, $HOST:$port, NOT answering"
                all=3
            fi
        else
            log "$svc: stopped"
            all=3
        fi
    done
    [[ -f $STATE/env ]] && log "env: $STATE/env"
    return "$all"
}

cmd_env() {
    [[ -f $STATE/env ]] || die "no env file; run scripts/services.sh start"
    cat "$STATE/env"
}

main() {
    local cmd=${1:-}
    shift || true
    case $cmd in
        start) cmd_start "$@" ;;
        stop) cmd_stop "$@" ;;
        restart-moto) stop_one moto; cmd_start moto ;;
        restart-tansu | restart-kafka) stop_one tansu; cmd_start tansu ;;
        status) cmd_status ;;
        env) cmd_env ;;
        *)
            sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2
            exit 2
            ;;
    esac
}

main "$@"
