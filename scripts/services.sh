#!/usr/bin/env bash
# Runs the real servers trailpipe's integration tests talk to, on loopback:
#   tansu  Kafka-protocol broker, memory storage       (default 127.0.0.1:19092)
#   moto   S3, KMS, CloudWatch Logs/metrics, SNS, SQS,  (default 127.0.0.1:15000)
#          IAM/STS on one HTTP port
# and the secure Kafka listeners for the client's TLS / SASL settings (tansu has no working TLS of
# its own, so stunnel terminates TLS in front of plain tansu brokers):
#   stunnel-tls          TLS with mutual authentication: the server presents a certificate for
#                        localhost (SAN DNS:localhost, IP:127.0.0.1) signed by the test CA and
#                        requires a client certificate signed by the same CA  (default localhost:19093)
#   stunnel-tls-expired  TLS, server auth only, presenting an EXPIRED certificate of the same CA
#                        (valid 2020-01-01..02), in front of the same broker  (default localhost:19094)
#   stunnel-sasl         TLS, server auth only, in front of a tansu that requires SASL:
#                        SCRAM-SHA-256 and SCRAM-SHA-512 (PLAIN is not built into tansu 0.6)
#                                                                             (default localhost:19095)
#   tansu-tls            the broker behind both TLS listeners: memory storage, no authentication,
#                        advertises localhost:<stunnel-tls port>              (default 127.0.0.1:19192)
#   tansu-sasl           the broker behind stunnel-sasl: --authentication, sqlite storage in
#                        .test-services/tansu-sasl.db (tansu's memory storage cannot hold SCRAM
#                        credentials), advertises localhost:<stunnel-sasl port> (default 127.0.0.1:19195)
# The secure listeners are announced as localhost:PORT (not 127.0.0.1) so that a client's hostname
# verification checks a name; they also listen on [::1] when the loopback has IPv6, since localhost
# may resolve there first. Test clients use only the stunnel ports (TRAILPIPE_TEST_*_BROKERS); the
# tansu-tls/tansu-sasl ports are internal.
#
# SCRAM users: an authenticating tansu refuses every request but ApiVersions/SaslHandshake/
# SaslAuthenticate before a login, so `tansu user create` cannot talk to it. Each start of tansu-sasl
# therefore starts from an empty sqlite file, runs a short-lived tansu WITHOUT --authentication on the
# same file and a free port, creates the user there for both mechanisms (`tansu user create`, i.e.
# AlterUserScramCredentials), stops it, and only then starts the authenticating broker on that file.
#
# Test certificates (openssl CLI, RSA 2048) live in .test-services/tls/, are made on `start` of a
# secure listener (or by `certs`) and are kept across runs; each is remade when missing, expiring
# within a day, or no longer signed by the current ca.pem:
#   ca.pem/.key              test CA (10 years) that signed everything below
#   other-ca.pem/.key        a second CA that signed nothing the listeners present (wrong-CA tests)
#   server.pem/.key          CN=localhost, SAN DNS:localhost + IP:127.0.0.1, serverAuth (825 days)
#   server-expired.pem/.key  the same names, valid only 2020-01-01..2020-01-02
#   client.pem/.key          CN=trailpipe-test-client, clientAuth; the key unencrypted (PKCS#8)
#   client-encrypted.key     the same key, AES-256 encrypted PKCS#8, password TRAILPIPE_TEST_TLS_KEY_PASSWORD
# Check a listener by hand with scripts/kafka_admin.py -X ... probe (see its help); tests/secure_kafka.rs
# drives them all.
#
# Install everything first with scripts/test-deps.sh. State (pids, ports, logs, env, certificates)
# lives in <repo>/.test-services/.
#
# Usage: scripts/services.sh COMMAND [SERVICE...]
#   start [SERVICE]...      start (default: all), wait until each answers, write .test-services/env;
#                           a stunnel-* service also starts the broker behind it
#   stop [SERVICE]...       stop (default: all; also removes env, remembered ports and the sasl
#                           database); safe to repeat
#   restart-moto            stop and start moto on the same port (loses all of moto's state)
#   restart-tansu           stop and start tansu on the same port (loses all topics and offsets)
#   status                  print what runs; exit 0 when all run, 3 otherwise
#   env                     print the env file: eval "$(scripts/services.sh env)"
#   certs                   only (re)make the test certificates that are missing or stale
# SERVICE: tansu (or kafka), moto (or aws), tansu-tls, stunnel-tls, stunnel-tls-expired, tansu-sasl,
#   stunnel-sasl, or a group: tls (the first three secure ones), sasl (tansu-sasl, stunnel-sasl),
#   secure (tls and sasl).
#
# All brokers and moto keep everything in memory (tansu-sasl: in a file recreated on each start):
# a restart starts from nothing (no buckets, keys, topics, offsets). A test that restarts moto to
# simulate an S3 outage must re-create what it needs after. Stopping one service (`stop moto`)
# keeps its port, so a later `start moto` reuses it and the env file stays valid.
#
# The env file exports, besides the names below, when the secure listeners were started:
#   TRAILPIPE_TEST_TLS_BROKERS, TRAILPIPE_TEST_TLS_EXPIRED_BROKERS, TRAILPIPE_TEST_SASL_SSL_BROKERS
#       localhost:PORT of stunnel-tls, stunnel-tls-expired, stunnel-sasl
#   TRAILPIPE_TEST_TLS_DIR and the files in it: TRAILPIPE_TEST_TLS_CA, TRAILPIPE_TEST_TLS_OTHER_CA,
#       TRAILPIPE_TEST_TLS_CLIENT_CERT, TRAILPIPE_TEST_TLS_CLIENT_KEY,
#       TRAILPIPE_TEST_TLS_CLIENT_KEY_ENCRYPTED, TRAILPIPE_TEST_TLS_KEY_PASSWORD
#   TRAILPIPE_TEST_SCRAM_USER, TRAILPIPE_TEST_SCRAM_PASSWORD (valid for SCRAM-SHA-256 and -512)
#
# Environment:
#   TRAILPIPE_TEST_KAFKA_PORT, TRAILPIPE_TEST_MOTO_PORT, TRAILPIPE_TEST_TLS_PORT,
#   TRAILPIPE_TEST_TLS_EXPIRED_PORT, TRAILPIPE_TEST_SASL_SSL_PORT  fixed ports (fail if taken).
#       Unset: the defaults above, or a free port when the default is taken.
#   TRAILPIPE_TEST_START_TIMEOUT  seconds to wait for each server (default 60)
#   TRAILPIPE_TEST_TANSU_LOG      RUST_LOG for the tansu brokers (default warn; info logs every request)
#   TANSU_BIN                     broker binary (default .tools/bin/tansu)
#   STUNNEL_BIN                   stunnel binary (default stunnel4, else stunnel, from PATH)
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
STUNNEL=${STUNNEL_BIN:-$(command -v stunnel4 || command -v stunnel || echo stunnel4)}
START_TIMEOUT=${TRAILPIPE_TEST_START_TIMEOUT:-60}
HOST=127.0.0.1
# The secure listeners' name: what clients connect to and what the server certificates are for.
SECURE_HOST=localhost
TLS_DIR=$STATE/tls
# Fixed test credentials (exported in the env file). The SCRAM user has both mechanisms.
SCRAM_USER=trailpipe-test
SCRAM_PASSWORD=trailpipe-scram-secret
KEY_PASSWORD=trailpipe-key-secret
# Start order; stop goes the other way.
ALL_SERVICES=(tansu moto tansu-tls stunnel-tls stunnel-tls-expired tansu-sasl stunnel-sasl)

log() { printf 'services: %s\n' "$*"; }
die() { printf 'services: ERROR: %s\n' "$*" >&2; exit 1; }

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1fs", b - a }'; }

default_port() {
    case $1 in
        tansu) echo 19092 ;;
        moto) echo 15000 ;;
        tansu-tls) echo 19192 ;;
        stunnel-tls) echo 19093 ;;
        stunnel-tls-expired) echo 19094 ;;
        tansu-sasl) echo 19195 ;;
        stunnel-sasl) echo 19095 ;;
    esac
}

port_override() {
    case $1 in
        tansu) echo "${TRAILPIPE_TEST_KAFKA_PORT:-}" ;;
        moto) echo "${TRAILPIPE_TEST_MOTO_PORT:-}" ;;
        stunnel-tls) echo "${TRAILPIPE_TEST_TLS_PORT:-}" ;;
        stunnel-tls-expired) echo "${TRAILPIPE_TEST_TLS_EXPIRED_PORT:-}" ;;
        stunnel-sasl) echo "${TRAILPIPE_TEST_SASL_SSL_PORT:-}" ;;
        *) echo "" ;;
    esac
}

# The broker a TLS terminator forwards to, and the TLS port a broker advertises.
backend_of() {
    case $1 in
        stunnel-tls | stunnel-tls-expired) echo tansu-tls ;;
        stunnel-sasl) echo tansu-sasl ;;
    esac
}
front_of() {
    case $1 in
        tansu-tls) echo stunnel-tls ;;
        tansu-sasl) echo stunnel-sasl ;;
    esac
}

# What identifies our server in /proc/PID/cmdline, to tell it from a recycled pid.
process_marker() {
    case $1 in
        tansu*) echo tansu ;;
        moto) echo moto_server ;;
        stunnel-*) echo "/$1.conf" ;; # each stunnel runs with its own config file
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

# True when the loopback interface has ::1 (then the TLS listeners listen there too).
ipv6_loopback() {
    awk '$1 == "00000000000000000000000000000001" && $6 == "lo" { found = 1 } END { exit !found }' \
        /proc/net/if_inet6 2>/dev/null
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

# Makes sure a (not necessarily running) service has a port, and prints it: a broker must know the
# port of the TLS listener in front of it before either runs, to advertise it.
ensure_port() {
    local svc=$1 port
    if running_pid "$svc" >/dev/null && [[ -f $STATE/$svc.port ]]; then
        cat "$STATE/$svc.port"
        return
    fi
    port=$(choose_port "$svc")
    printf '%s\n' "$port" >"$STATE/$svc.port"
    echo "$port"
}

require_tools() {
    local svc=$1
    [[ -x $PY ]] || die "no venv at $VENV; run scripts/test-deps.sh first"
    case $svc in
        tansu*) [[ -x $TANSU ]] || die "no tansu at $TANSU; run scripts/test-deps.sh first" ;;
        moto) [[ -x $MOTO ]] || die "no moto_server at $MOTO; run scripts/test-deps.sh first" ;;
        stunnel-*)
            command -v "$STUNNEL" >/dev/null 2>&1 || die "no stunnel ($STUNNEL); run scripts/test-deps.sh first"
            command -v openssl >/dev/null 2>&1 || die "no openssl; run scripts/test-deps.sh first"
            ;;
    esac
}

# --- test certificates -------------------------------------------------------------------------

# Runs openssl quietly; on failure shows its output and stops.
ossl() {
    local out
    out=$(openssl "$@" 2>&1) || { printf '%s\n' "$out" >&2; die "openssl $1 failed (in $TLS_DIR)"; }
}

# A certificate that exists and stays valid for at least one more day.
cert_fresh() {
    [[ -s $1 ]] && openssl x509 -in "$1" -noout -checkend 86400 >/dev/null 2>&1
}

# A fresh leaf certificate with its key, signed by the current ca.pem.
leaf_ok() {
    [[ -s $TLS_DIR/$1.key ]] && cert_fresh "$TLS_DIR/$1.pem" \
        && openssl verify -CAfile "$TLS_DIR/ca.pem" "$TLS_DIR/$1.pem" >/dev/null 2>&1
}

# Self-signed CA certificate and key: gen_ca NAME CN
gen_ca() {
    ossl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 -subj "/CN=$2" \
        -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
        -keyout "$TLS_DIR/$1.key" -out "$TLS_DIR/$1.pem"
}

# Extensions of a leaf certificate: leaf_ext serverAuth|clientAuth
leaf_ext() {
    printf '%s\n' basicConstraints=CA:FALSE keyUsage=critical,digitalSignature,keyEncipherment \
        "extendedKeyUsage=$1"
    [[ $1 == serverAuth ]] && echo "subjectAltName=DNS:$SECURE_HOST,IP:$HOST"
    return 0
}

# New key + CSR, then the leaf certificate signed by ca.pem: gen_leaf NAME CN serverAuth|clientAuth
gen_leaf() {
    local name=$1 d=$TLS_DIR
    ossl req -new -newkey rsa:2048 -nodes -subj "/CN=$2" -keyout "$d/$name.key" -out "$d/$name.csr"
    leaf_ext "$3" >"$d/$name.ext"
    ossl x509 -req -sha256 -days 825 -in "$d/$name.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" \
        -set_serial "0x$(openssl rand -hex 8)" -extfile "$d/$name.ext" -out "$d/$name.pem"
    rm -f "$d/$name.csr" "$d/$name.ext"
}

# An already expired server certificate. `openssl x509` (3.0) cannot set a validity window in the
# past, `openssl ca` can (-startdate/-enddate); it needs a minimal config and a scratch database.
gen_expired() {
    local d=$TLS_DIR ca
    ca=$(mktemp -d "$d/ca-db.XXXXXX")
    : >"$ca/index.txt"
    openssl rand -hex 8 >"$ca/serial"
    cat >"$ca/ca.cnf" <<EOF
[ca]
default_ca = test_ca
[test_ca]
database = $ca/index.txt
new_certs_dir = $ca
serial = $ca/serial
default_md = sha256
policy = any
unique_subject = no
[any]
commonName = supplied
EOF
    leaf_ext serverAuth >"$ca/ext.cnf"
    ossl req -new -newkey rsa:2048 -nodes -subj "/CN=$SECURE_HOST" -keyout "$d/server-expired.key" -out "$ca/req.csr"
    ossl ca -batch -config "$ca/ca.cnf" -cert "$d/ca.pem" -keyfile "$d/ca.key" -in "$ca/req.csr" \
        -startdate 20200101000000Z -enddate 20200102000000Z -extfile "$ca/ext.cnf" -notext \
        -out "$d/server-expired.pem"
    rm -rf "$ca"
}

expired_ok() {
    local f=$TLS_DIR/server-expired.pem
    [[ -s $f && -s $TLS_DIR/server-expired.key ]] \
        && ! openssl x509 -in "$f" -noout -checkend 0 >/dev/null 2>&1 \
        && openssl verify -no_check_time -CAfile "$TLS_DIR/ca.pem" "$f" >/dev/null 2>&1
}

encrypted_key_ok() {
    local f=$TLS_DIR/client-encrypted.key
    [[ -s $f ]] || return 1
    [[ $(openssl pkey -in "$f" -passin "pass:$KEY_PASSWORD" -pubout 2>/dev/null) == \
        "$(openssl pkey -in "$TLS_DIR/client.key" -pubout 2>/dev/null)" ]]
}

# Makes the missing or stale certificates; sets CERTS_CHANGED=1 when it made any.
CERTS_CHANGED=0
ensure_certs() {
    local t0 made=()
    t0=$(now)
    command -v openssl >/dev/null 2>&1 || die "no openssl; run scripts/test-deps.sh first"
    mkdir -p "$TLS_DIR"
    chmod 700 "$TLS_DIR"
    # Everything below is checked against ca.pem, so a new CA makes all of it stale at once.
    if ! { [[ -s $TLS_DIR/ca.key ]] && cert_fresh "$TLS_DIR/ca.pem"; }; then
        gen_ca ca "trailpipe test CA"
        made+=(ca)
    fi
    if ! { [[ -s $TLS_DIR/other-ca.key ]] && cert_fresh "$TLS_DIR/other-ca.pem"; }; then
        gen_ca other-ca "trailpipe other test CA"
        made+=(other-ca)
    fi
    if ! leaf_ok server; then
        gen_leaf server "$SECURE_HOST" serverAuth
        made+=(server)
    fi
    if ! expired_ok; then
        gen_expired
        made+=(server-expired)
    fi
    if ! leaf_ok client; then
        gen_leaf client trailpipe-test-client clientAuth
        made+=(client)
    fi
    if ! encrypted_key_ok; then
        ossl pkey -in "$TLS_DIR/client.key" -aes256 -passout "pass:$KEY_PASSWORD" -out "$TLS_DIR/client-encrypted.key"
        made+=(client-encrypted.key)
    fi
    if [[ ${#made[@]} -gt 0 ]]; then
        CERTS_CHANGED=1
        log "tls: made ${made[*]} in $TLS_DIR in $(since "$t0")"
    fi
}

# --- launching ---------------------------------------------------------------------------------

# Starts a tansu broker in the background, in $STATE (sqlite:// paths are relative to the working
# directory): run_tansu LOGFILE PORT ADVERTISED_HOST:PORT STORAGE [broker options...]
# --advertised-listener-url must be the address clients bootstrap from, or they reconnect somewhere
# else after the first metadata call. tansu also reads generic env names (SCHEMA_REGISTRY,
# OTEL_EXPORTER_OTLP_ENDPOINT): drop them so a developer's environment cannot turn on validation or
# tracing export.
run_tansu() {
    local logfile=$1 port=$2 advertised=$3 storage=$4
    shift 4
    (
        cd "$STATE"
        exec env -u SCHEMA_REGISTRY -u OTEL_EXPORTER_OTLP_ENDPOINT RUST_LOG="${TRAILPIPE_TEST_TANSU_LOG:-warn}" \
            setsid "$TANSU" broker \
            --listener-url "tcp://$HOST:$port" \
            --advertised-listener-url "tcp://$advertised" \
            --storage-engine "$storage" \
            "$@" \
            </dev/null >>"$logfile" 2>&1
    ) &
}

write_stunnel_conf() {
    local svc=$1 port=$2 backend_port=$3 conf=$STATE/$1.conf
    {
        echo "; Written by scripts/services.sh on each start of $svc."
        echo "foreground = yes"
        echo "pid ="
        echo "syslog = no"
        echo "debug = notice"
        echo "[$svc]"
        echo "accept = $HOST:$port"
        ipv6_loopback && echo "accept = ::1:$port"
        echo "connect = $HOST:$backend_port"
        case $svc in
            stunnel-tls)
                echo "cert = $TLS_DIR/server.pem"
                echo "key = $TLS_DIR/server.key"
                # Mutual TLS: a client certificate is required (verifyChain implies requireCert)
                # and must chain to the test CA.
                echo "CAfile = $TLS_DIR/ca.pem"
                echo "verifyChain = yes"
                ;;
            stunnel-tls-expired)
                echo "cert = $TLS_DIR/server-expired.pem"
                echo "key = $TLS_DIR/server-expired.key"
                ;;
            stunnel-sasl)
                echo "cert = $TLS_DIR/server.pem"
                echo "key = $TLS_DIR/server.key"
                ;;
        esac
    } >"$conf"
}

launch() {
    local svc=$1 port=$2 logfile=$STATE/$1.log
    case $svc in
        tansu)
            # memory:// keeps the broker stateless and fast.
            run_tansu "$logfile" "$port" "$HOST:$port" memory://tansu/
            ;;
        tansu-tls)
            run_tansu "$logfile" "$port" "$SECURE_HOST:$(<"$STATE/stunnel-tls.port")" memory://tansu/
            ;;
        tansu-sasl)
            run_tansu "$logfile" "$port" "$SECURE_HOST:$(<"$STATE/stunnel-sasl.port")" \
                sqlite://tansu-sasl.db --authentication
            ;;
        moto)
            setsid "$MOTO" -H "$HOST" -p "$port" </dev/null >>"$logfile" 2>&1 &
            ;;
        stunnel-*)
            write_stunnel_conf "$svc" "$port" "$(<"$STATE/$(backend_of "$svc").port")"
            setsid "$STUNNEL" "$STATE/$svc.conf" </dev/null >>"$logfile" 2>&1 &
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

# kafka_admin.py options for the secure listeners.
tls_client_opts() {
    printf '%s\n' -X security.protocol=SSL -X "ssl.ca.location=$TLS_DIR/ca.pem" \
        -X "ssl.certificate.location=$TLS_DIR/client.pem" -X "ssl.key.location=$TLS_DIR/client.key"
}
scram_opts() { # scram_opts SASL_PLAINTEXT|SASL_SSL SCRAM-SHA-256|SCRAM-SHA-512
    printf '%s\n' -X "security.protocol=$1" -X "sasl.mechanism=$2" \
        -X "sasl.username=$SCRAM_USER" -X "sasl.password=$SCRAM_PASSWORD"
    [[ $1 == SASL_SSL ]] && printf '%s\n' -X "ssl.ca.location=$TLS_DIR/ca.pem"
    return 0
}

# Waits until the service answers a real request, not just a TCP connect.
ready() {
    local svc=$1 port=$2 opts=()
    listening "$port" || return 1
    case $svc in
        tansu) "$PY" "$SCRIPTS/kafka_admin.py" probe "$HOST:$port" >/dev/null 2>&1 ;;
        moto)
            "$PY" -c 'import sys, urllib.request
urllib.request.urlopen(sys.argv[1], timeout=2).read()' "http://$HOST:$port/moto-api/" >/dev/null 2>&1
            ;;
        tansu-tls)
            # Straight to the broker: it must advertise the TLS listener in front of it.
            "$PY" "$SCRIPTS/kafka_admin.py" probe "$HOST:$port" \
                --expect-advertised "$SECURE_HOST:$(<"$STATE/stunnel-tls.port")" >/dev/null 2>&1
            ;;
        tansu-sasl)
            # A SCRAM-SHA-512 login proves the users were created.
            mapfile -t opts < <(scram_opts SASL_PLAINTEXT SCRAM-SHA-512)
            "$PY" "$SCRIPTS/kafka_admin.py" probe "$HOST:$port" "${opts[@]}" \
                --expect-advertised "$SECURE_HOST:$(<"$STATE/stunnel-sasl.port")" >/dev/null 2>&1
            ;;
        stunnel-tls)
            mapfile -t opts < <(tls_client_opts)
            "$PY" "$SCRIPTS/kafka_admin.py" probe "$SECURE_HOST:$port" "${opts[@]}" >/dev/null 2>&1
            ;;
        stunnel-sasl)
            mapfile -t opts < <(scram_opts SASL_SSL SCRAM-SHA-256)
            "$PY" "$SCRIPTS/kafka_admin.py" probe "$SECURE_HOST:$port" "${opts[@]}" >/dev/null 2>&1
            ;;
        stunnel-tls-expired)
            # No Kafka client gets past this certificate (that is its point): a TLS handshake that
            # does not check it must find exactly server-expired.pem.
            "$PY" -c 'import socket, ssl, sys
host, port, pem = sys.argv[1], int(sys.argv[2]), sys.argv[3]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
with socket.create_connection((host, port), timeout=3) as s, ctx.wrap_socket(s, server_hostname=host) as t:
    sys.exit(t.getpeercert(binary_form=True) != ssl.PEM_cert_to_DER_cert(open(pem).read()))' \
                "$SECURE_HOST" "$port" "$TLS_DIR/server-expired.pem" >/dev/null 2>&1
            ;;
    esac
}

# Stops a process launched by this script (not one from a pid file): TERM, up to 10s, then KILL.
stop_pid() {
    local pid=$1 i
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
        alive "$pid" || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

# Creates the SCRAM users in a fresh tansu-sasl.db, through a non-authenticating tansu on the same
# file (see the header). The authenticating broker is started on that file afterwards.
provision_sasl_users() {
    local db=$STATE/tansu-sasl.db logfile=$STATE/tansu-sasl.log port pid deadline attempt mech t0
    t0=$(now)
    for attempt in 1 2; do
        rm -f "$db" "$db-wal" "$db-shm" "$db-journal"
        port=$(free_port)
        echo "--- services.sh: creating SCRAM users through a non-authenticating tansu on $HOST:$port" >>"$logfile"
        run_tansu "$logfile" "$port" "$HOST:$port" sqlite://tansu-sasl.db
        pid=$!
        deadline=$(( $(date +%s) + START_TIMEOUT ))
        until listening "$port" && "$PY" "$SCRIPTS/kafka_admin.py" probe "$HOST:$port" >/dev/null 2>&1; do
            if ! alive "$pid"; then
                wait "$pid" 2>/dev/null || true
                show_log tansu-sasl
                (( attempt == 1 )) || die "tansu-sasl: the user-creating tansu exited during start-up, twice (log: $logfile)"
                log "tansu-sasl: the user-creating tansu (pid $pid) exited during start-up; starting it once more" >&2
                continue 2
            fi
            if (( $(date +%s) >= deadline )); then
                stop_pid "$pid"
                show_log tansu-sasl
                die "tansu-sasl: the user-creating tansu did not answer on $HOST:$port within ${START_TIMEOUT}s"
            fi
            sleep 0.1
        done
        for mech in scram256 scram512; do
            if ! "$TANSU" user create --broker "tcp://$HOST:$port" --mechanism "$mech" \
                "$SCRAM_USER" "$SCRAM_PASSWORD" >>"$logfile" 2>&1; then
                stop_pid "$pid"
                show_log tansu-sasl
                die "tansu-sasl: tansu user create --mechanism $mech failed"
            fi
        done
        # Stopped before the authenticating broker opens the file: one sqlite writer at a time.
        stop_pid "$pid"
        log "tansu-sasl: SCRAM-SHA-256/512 user $SCRAM_USER created in $(since "$t0")"
        return
    done
}

start_one() {
    local svc=$1 pid port override t0 deadline attempt rc front
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
    front=$(front_of "$svc")
    if [[ -n $front ]]; then
        ensure_port "$front" >/dev/null # the port it advertises, before the TLS listener itself runs
    fi
    if [[ $svc == tansu-sasl ]]; then
        provision_sasl_users
    fi
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
        # moto takes a second or two to shut down; give all up to 10s before forcing.
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
    local tansu_port moto_port port tmp=$STATE/env.tmp.$$
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
        # The secure listeners only once they were started in this session (their port is known),
        # so a test can tell "not set up" from "set up but down".
        if [[ -f $STATE/stunnel-tls.port ]]; then
            port=$(<"$STATE/stunnel-tls.port")
            printf 'export %s=%q\n' TRAILPIPE_TEST_TLS_BROKERS "$SECURE_HOST:$port" TRAILPIPE_TEST_TLS_PORT "$port"
        fi
        if [[ -f $STATE/stunnel-tls-expired.port ]]; then
            port=$(<"$STATE/stunnel-tls-expired.port")
            printf 'export %s=%q\n' TRAILPIPE_TEST_TLS_EXPIRED_BROKERS "$SECURE_HOST:$port" \
                TRAILPIPE_TEST_TLS_EXPIRED_PORT "$port"
        fi
        if [[ -f $STATE/stunnel-sasl.port ]]; then
            port=$(<"$STATE/stunnel-sasl.port")
            printf 'export %s=%q\n' TRAILPIPE_TEST_SASL_SSL_BROKERS "$SECURE_HOST:$port" \
                TRAILPIPE_TEST_SASL_SSL_PORT "$port" \
                TRAILPIPE_TEST_SCRAM_USER "$SCRAM_USER" \
                TRAILPIPE_TEST_SCRAM_PASSWORD "$SCRAM_PASSWORD"
        fi
        if [[ -s $TLS_DIR/ca.pem ]]; then
            printf 'export %s=%q\n' \
                TRAILPIPE_TEST_TLS_DIR "$TLS_DIR" \
                TRAILPIPE_TEST_TLS_CA "$TLS_DIR/ca.pem" \
                TRAILPIPE_TEST_TLS_OTHER_CA "$TLS_DIR/other-ca.pem" \
                TRAILPIPE_TEST_TLS_CLIENT_CERT "$TLS_DIR/client.pem" \
                TRAILPIPE_TEST_TLS_CLIENT_KEY "$TLS_DIR/client.key" \
                TRAILPIPE_TEST_TLS_CLIENT_KEY_ENCRYPTED "$TLS_DIR/client-encrypted.key" \
                TRAILPIPE_TEST_TLS_KEY_PASSWORD "$KEY_PASSWORD"
        fi
    } >"$tmp"
    mv -f "$tmp" "$STATE/env"
}

# Prints the services named by the arguments (default: all) in start order.
# services_from_args start|stop [NAME...]; `start` adds the broker behind a TLS listener.
services_from_args() {
    local mode=$1 s svc
    shift
    local -A want=()
    [[ $# -gt 0 ]] || set -- "${ALL_SERVICES[@]}"
    for s in "$@"; do
        case $s in
            tansu | kafka) want[tansu]=1 ;;
            moto | aws) want[moto]=1 ;;
            tansu-tls | stunnel-tls | stunnel-tls-expired | tansu-sasl | stunnel-sasl) want[$s]=1 ;;
            tls) want[tansu-tls]=1 want[stunnel-tls]=1 want[stunnel-tls-expired]=1 ;;
            sasl) want[tansu-sasl]=1 want[stunnel-sasl]=1 ;;
            secure)
                want[tansu-tls]=1 want[stunnel-tls]=1 want[stunnel-tls-expired]=1
                want[tansu-sasl]=1 want[stunnel-sasl]=1
                ;;
            *) die "unknown service '$s' (expected one of: ${ALL_SERVICES[*]}, tls, sasl, secure)" ;;
        esac
    done
    if [[ $mode == start ]]; then
        for svc in "${!want[@]}"; do
            [[ $svc == stunnel-* ]] && want[$(backend_of "$svc")]=1
        done
    fi
    for svc in "${ALL_SERVICES[@]}"; do
        [[ -n ${want[$svc]:-} ]] && echo "$svc"
    done
    return 0
}

cmd_start() {
    local svc svcs t0 pid
    t0=$(now)
    svcs=$(services_from_args start "$@") # a plain assignment, so a bad name stops the script here
    mkdir -p "$STATE"
    if grep -q '^stunnel-' <<<"$svcs"; then
        ensure_certs
        if (( CERTS_CHANGED )); then
            # A running stunnel still presents the old files; SIGHUP makes it reload them.
            for svc in stunnel-tls stunnel-tls-expired stunnel-sasl; do
                if pid=$(running_pid "$svc"); then
                    kill -HUP "$pid" && log "$svc: told to reload the new certificates"
                fi
            done
        fi
    fi
    for svc in $svcs; do
        start_one "$svc"
    done
    write_env
    log "env written to $STATE/env ($(wc -w <<<"$svcs") services up in $(since "$t0"))"
}

cmd_stop() {
    local svc svcs
    svcs=$(services_from_args stop "$@")
    for svc in $(tac <<<"$svcs"); do
        stop_one "$svc"
    done
    # A full stop forgets the ports, env and the sasl broker's database, so the next start picks
    # defaults again. The certificates stay (they are remade only when missing or stale).
    if [[ $# -eq 0 ]]; then
        rm -f "$STATE/env"
        for svc in "${ALL_SERVICES[@]}"; do
            rm -f "$STATE/$svc.port"
        done
        rm -f "$STATE"/tansu-sasl.db "$STATE"/tansu-sasl.db-*
    fi
}

cmd_status() {
    local svc pid port all=0
    for svc in "${ALL_SERVICES[@]}"; do
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
        certs) mkdir -p "$STATE"; ensure_certs; log "certificates in $TLS_DIR" ;;
        *)
            sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2
            exit 2
            ;;
    esac
}

main "$@"
