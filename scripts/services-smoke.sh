#!/usr/bin/env bash
# Checks that the loopback servers behave the way trailpipe's tests rely on (design.md section 6):
#   Kafka (tansu): a 4-partition topic, produce to every partition, consume in a consumer group,
#                  synchronous offset commits, re-join resumes from the commits
#   S3 (moto):     bucket, put-object --if-none-match '*' twice -> second is 412 PreconditionFailed,
#                  user metadata round trip, SSE-KMS put
#   KMS:           RSA_2048 SIGN_VERIFY key, Sign and GetPublicKey
#   Logs, SNS->SQS: put-log-events / get-log-events, publish and read the notification from SQS
# Starts the servers if they are not running and stops what it started.
#
# Usage: scripts/services-smoke.sh
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SERVICES=$REPO/scripts/services.sh
STATE=${TRAILPIPE_TEST_SERVICES_DIR:-$REPO/.test-services}

log() { printf 'smoke: %s\n' "$*"; }
fail() { printf 'smoke: FAIL: %s\n' "$*" >&2; exit 1; }

work=$(mktemp -d)
# Start only what is not already running, and stop only that at the end, so the smoke test can run
# beside a developer's own session.
status=$("$SERVICES" status 2>/dev/null || true)
ours=()
for svc in tansu moto; do
    if grep -q "^services: $svc: stopped" <<<"$status"; then
        ours+=("$svc")
    fi
done
cleanup() {
    rm -rf "$work"
    if [[ ${#ours[@]} -eq 2 ]]; then
        "$SERVICES" stop
    elif [[ ${#ours[@]} -eq 1 ]]; then
        "$SERVICES" stop "${ours[@]}"
    fi
}
trap cleanup EXIT
if [[ ${#ours[@]} -gt 0 ]]; then
    "$SERVICES" start "${ours[@]}"
fi

# shellcheck source=/dev/null
. "$STATE/env"
aws() { "$TRAILPIPE_TEST_AWS_CLI" "$@"; }
suffix=$(date +%s)-$$

# --- Kafka ---------------------------------------------------------------------------------------
topic=smoke-$suffix
"$REPO/scripts/create-topic.sh" "$topic" 4
"$TRAILPIPE_TEST_PYTHON" "$REPO/scripts/kafka_admin.py" smoke "$TRAILPIPE_TEST_BROKERS" "$topic" 5 \
    || fail "kafka produce/consume/commit round trip"

# --- S3 ------------------------------------------------------------------------------------------
bucket=smoke-$suffix
printf 'first\n' >"$work/a"
aws s3 mb "s3://$bucket" >/dev/null
aws s3api put-object --bucket "$bucket" --key cond.txt --body "$work/a" --if-none-match '*' >/dev/null \
    || fail "first conditional put was refused"
if aws s3api put-object --bucket "$bucket" --key cond.txt --body "$work/a" --if-none-match '*' \
    >/dev/null 2>"$work/err"; then
    fail "second put with --if-none-match '*' succeeded; expected 412"
fi
grep -q PreconditionFailed "$work/err" || fail "second conditional put failed, but not with 412: $(cat "$work/err")"
log "s3: second If-None-Match put -> $(grep -o 'PreconditionFailed' "$work/err")"

aws s3api put-object --bucket "$bucket" --key meta.txt --body "$work/a" \
    --metadata trail=smoke,digest-signature=abc >/dev/null
meta=$(aws s3api head-object --bucket "$bucket" --key meta.txt --query Metadata --output json)
[[ $(tr -d ' \n' <<<"$meta") == *'"trail":"smoke"'* ]] || fail "head-object metadata: $meta"
log "s3: head-object metadata $(tr -d ' \n' <<<"$meta")"

# --- KMS -----------------------------------------------------------------------------------------
key=$(aws kms create-key --key-usage SIGN_VERIFY --key-spec RSA_2048 --query KeyMetadata.KeyId --output text)
printf 'digest' >"$work/msg"
sig=$(aws kms sign --key-id "$key" --message "fileb://$work/msg" --message-type RAW \
    --signing-algorithm RSASSA_PKCS1_V1_5_SHA_256 --query Signature --output text)
[[ -n $sig ]] || fail "kms sign returned no signature"
aws kms get-public-key --key-id "$key" --query PublicKey --output text >/dev/null
log "kms: RSA_2048 Sign (${#sig} base64 chars) and GetPublicKey ok"

sse_key=$(aws kms create-key --query KeyMetadata.KeyId --output text)
sse=$(aws s3api put-object --bucket "$bucket" --key sse.txt --body "$work/a" \
    --server-side-encryption aws:kms --ssekms-key-id "$sse_key" --query ServerSideEncryption --output text)
[[ $sse == aws:kms ]] || fail "SSE-KMS put answered ServerSideEncryption=$sse"
log "s3: SSE-KMS put ok"

# --- CloudWatch Logs -----------------------------------------------------------------------------
group=/smoke/$suffix
aws logs create-log-group --log-group-name "$group"
aws logs create-log-stream --log-group-name "$group" --log-stream-name s1
aws logs put-log-events --log-group-name "$group" --log-stream-name s1 \
    --log-events "timestamp=$(($(date +%s) * 1000)),message=hello" >/dev/null
n=$(aws logs get-log-events --log-group-name "$group" --log-stream-name s1 --query 'length(events)' --output text)
[[ $n == 1 ]] || fail "logs: expected 1 event, got $n"
log "logs: put/get-log-events ok"

# --- SNS -> SQS ----------------------------------------------------------------------------------
# aws CLI v1 pins sqs (like rds, emr, health) in us-east-1 to queue.amazonaws.com unless
# --endpoint-url is given on the command line: AWS_ENDPOINT_URL alone is ignored for it.
sqs() { aws sqs --endpoint-url "$AWS_ENDPOINT_URL" "$@"; }
topic_arn=$(aws sns create-topic --name "smoke-$suffix" --query TopicArn --output text)
queue_url=$(sqs create-queue --queue-name "smoke-$suffix" --query QueueUrl --output text)
queue_arn=$(sqs get-queue-attributes --queue-url "$queue_url" --attribute-names QueueArn \
    --query Attributes.QueueArn --output text)
aws sns subscribe --topic-arn "$topic_arn" --protocol sqs --notification-endpoint "$queue_arn" >/dev/null
aws sns publish --topic-arn "$topic_arn" --message '{"s3Bucket":"b","s3ObjectKey":["k"]}' >/dev/null
body=$(sqs receive-message --queue-url "$queue_url" --wait-time-seconds 2 --query 'Messages[0].Body' --output text)
[[ $body == *s3ObjectKey* ]] || fail "sqs did not receive the SNS notification: $body"
log "sns->sqs: notification delivered"

log "all checks passed"
