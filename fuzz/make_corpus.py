#!/usr/bin/env python3
"""Writes the hand-made seed corpus of every fuzz target into fuzz/corpus/<target>/.

Seeds are small, valid-or-nearly-valid inputs in each target's input layout (see the comment at
the top of each fuzz_targets/*.rs); libFuzzer mutates from there. Re-run after changing a
layout: `python3 fuzz/make_corpus.py` (it replaces the seed-* files, nothing else). The
insights_snapshot seeds are real detector snapshots written by the target itself
(`TRAILPIPE_FUZZ_WRITE_SEEDS=DIR fuzz/target/.../insights_snapshot -runs=0`, done by
scripts/fuzz.sh --write-seeds)."""
import gzip
import hashlib
import json
import os
import sys

ROOT = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(ROOT, "corpus")

GOOD = {
    "eventVersion": "1.09",
    "userIdentity": {"type": "IAMUser", "principalId": "AIDA", "arn": "arn:aws:iam::123456789012:user/Mary",
                     "accountId": "123456789012", "accessKeyId": "AKIAEXAMPLE", "userName": "Mary"},
    "eventTime": "2023-07-19T21:33:41Z", "eventSource": "cloudtrail.amazonaws.com", "eventName": "StartLogging",
    "awsRegion": "us-east-1", "sourceIPAddress": "192.0.2.0", "userAgent": "aws-cli/2",
    "requestParameters": {"name": "a&b<c"}, "responseElements": None, "requestID": "r1", "eventID": "e1",
    "readOnly": False, "eventType": "AwsApiCall", "managementEvent": True,
    "recipientAccountId": "123456789012", "eventCategory": "Management", "sessionCredentialFromConsole": "true",
}
DATA = {
    "eventVersion": "1.08",
    "userIdentity": {"type": "AssumedRole", "arn": "arn:aws:sts::123456789012:assumed-role/R/session-1",
                     "accountId": "123456789012", "accessKeyId": "ASIAEXAMPLE", "invokedBy": "lambda.amazonaws.com"},
    "eventTime": "2026-01-01T10:00:00.123Z", "eventSource": "s3.amazonaws.com", "eventName": "PutObject",
    "awsRegion": "eu-west-3", "eventID": "d-2", "readOnly": False, "eventType": "AwsApiCall",
    "managementEvent": False, "eventCategory": "Data", "recipientAccountId": "123456789012",
    "resources": [{"type": "AWS::S3::Object", "ARN": "arn:aws:s3:::bucket/key.txt"},
                  {"type": "AWS::S3::Bucket", "ARN": "arn:aws:s3:::bucket", "accountId": "123456789012"}],
    "errorCode": "AccessDenied", "vpcEndpointId": "vpce-1", "sharedEventID": "s-1",
}
INSIGHT = {
    "eventVersion": "1.08", "eventTime": "2026-01-02T00:05:00Z", "awsRegion": "us-east-1", "eventID": "i-1",
    "eventType": "AwsCloudTrailInsight", "recipientAccountId": "123456789012", "sharedEventID": "s-2",
    "insightDetails": {"state": "Start", "eventSource": "s3.amazonaws.com", "eventName": "PutObject",
                       "insightType": "ApiCallRateInsight"},
    "eventCategory": "Insight",
}


def j(v):
    return json.dumps(v, separators=(",", ":")).encode()


def write(target, seeds):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    for f in os.listdir(d):
        if f.startswith("seed-"):
            os.remove(os.path.join(d, f))
    for i, s in enumerate(seeds):
        with open(os.path.join(d, f"seed-{i:02d}"), "wb") as f:
            f.write(s)


def event_parse():
    bad = dict(GOOD); del bad["eventID"]
    return [b"\x00" + j(GOOD), b"\x00" + j(DATA), b"\x00" + j(INSIGHT),
            b"\x00" + b'{"Records": [ ' + j(GOOD) + b" ,\n" + j(DATA) + b"]}",
            b"\x21" + b'{"Records":[' + j(GOOD) + b"," + j(bad) + b"," + j(GOOD) + b"]}",
            b"\x00" + j(bad), b"\x00this line is not JSON", b'\x00{"eventID":"no-time"}',
            b"\x00" + j(dict(GOOD, eventTime="2023-07-19T21:33:41+02:00", awsRegion="EU WEST"))]


def api_router():
    t = lambda body: j(body)
    return [
        b"\x01\x00\x00" + t({}),                                                   # DescribeTrails
        b"\x01\x00\x00" + t({"trailNameList": ["management", "arn:aws:cloudtrail:us-west-2:123456789012:trail/west-only"], "includeShadowTrails": False}),
        b"\x02\x00\x00" + t({"Name": "management"}),                                # GetTrail
        b"\x03\x00\x00" + t({"Name": "arn:aws:cloudtrail:us-east-1:123456789012:trail/management"}),
        b"\x06\x00\x00" + t({"TrailName": "management", "AdvancedEventSelectors": [{"Name": "w", "FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}, {"Field": "readOnly", "Equals": ["false"]}]}]}),
        b"\x16\x00\x00" + t({"TrailName": "east-data", "EventSelectors": [{"ReadWriteType": "WriteOnly", "IncludeManagementEvents": True, "DataResources": [{"Type": "AWS::S3::Object", "Values": ["arn:aws:s3:::b/"]}], "ExcludeManagementEventSources": ["kms.amazonaws.com"]}]}),
        b"\x08\x00\x00" + t({"LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": "ConsoleLogin"}], "StartTime": 1700000000, "EndTime": 1700000100.5, "MaxResults": 5}),
        b"\x20\x00\x00" + t({"StartTime": 1453076702, "EndTime": 1455668702}),          # ListPublicKeys, signed read-only
        b"\x1c\x00\x00" + t({"ResourceId": "management", "TagsList": [{"Key": "team", "Value": "sec"}, {"Key": "k"}]}),  # RemoveTags? index 12
        b"\x1b\x00\x00" + t({"ResourceId": "arn:aws:cloudtrail:us-east-1:123456789012:trail/management", "TagsList": [{"Key": "a", "Value": "b"}]}),  # AddTags
        b"\x1d\x00\x00" + t({"ResourceIdList": ["management"]}),                       # ListTags
        b"\x04\x00\x00" + t({"NextToken": "abc", "x": 1}),                              # ListTrails
        b"\x0f" + b"com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.CreateTrail\x00authorization: AWS4-HMAC-SHA256 Credential=AKIDFUZZADMIN/20260101/us-east-1/cloudtrail/aws4_request, SignedHeaders=host;x-amz-date, Signature=00\nx-amz-date: 20260101T000000Z\x00{}",
        b"\x0a\x00authorization: AWS4-HMAC-SHA256 Credential=nobody/20260101/eu-west-3/cloudtrail/aws4_request, SignedHeaders=host, Signature=ab\nuser-agent: aws-cli/2\x00" + t({"Name": "management"}),  # StopLogging
    ]


def api_parsers():
    return [
        b"\x00arn:aws:cloudtrail:us-east-1:123456789012:trail/management",
        b"\x00AWS4-HMAC-SHA256 Credential=testing/20261121/eu-west-3/cloudtrail/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc",
        b"\x00com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.GetTrailStatus",
        b"\x00my.trail-name_1",
        b"\x01" + j([{"ReadWriteType": "ReadOnly", "IncludeManagementEvents": False, "DataResources": [{"Type": "AWS::Lambda::Function", "Values": ["arn:aws:lambda"]}]}]),
        b"\x01" + j([{"Name": "n", "FieldSelectors": [{"Field": "resources.ARN", "StartsWith": ["arn:aws:s3:::b/"], "NotEndsWith": [".tmp"]}, {"Field": "eventName", "NotEquals": ["GetObject"]}]}]),
        b"\x02" + j([{"Key": "k", "Value": "v"}, {"Key": "only"}]),
    ]


AMZ = "20260101T120000Z"


def auth_sigv4():
    auth = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/us-east-1/cloudtrail/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
    h = f"host: localhost:8080\ncontent-type: application/x-amz-json-1.1\nx-amz-date: {AMZ}\nx-amz-target: com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.StopLogging\nauthorization: {auth}"
    body = b'{"Name":"management"}'
    return [
        b"\x80/\x00" + h.encode() + b"\x00" + body + b"\x00StopLogging",
        b"\x80/\x00" + (h + "\nx-amz-content-sha256: " + hashlib.sha256(body).hexdigest()).encode() + b"\x00" + body + b"\x00DescribeTrails",
        b"\x82/\x00" + h.replace("SignedHeaders=content-type;host;x-amz-date;x-amz-target", "SignedHeaders=host").encode() + b"\x00" + body + b"\x00GetTrail",
        b"\x02/\x00host: x\x00\x00LookupEvents",
        b"\x80/?a=1&b=%20\x00" + h.replace("AKIDEXAMPLE", "UNKNOWN").encode() + b"\nx-amz-security-token: t\x00\x00PutEventSelectors",
        b"\x80/\x00" + h.replace("cloudtrail/aws4", "s3/aws4").replace("us-east-1", "EU").encode() + b"\x00\x00ListTags",
    ]


def history_record():
    return [j(GOOD), j(DATA), j(INSIGHT),
            j(dict(GOOD, userIdentity={"type": "Root", "arn": "arn:aws:iam::123456789012:root"})),
            j(dict(GOOD, userIdentity={"type": "AWSService", "invokedBy": "ec2.amazonaws.com"}, readOnly=True,
                   resources=[{"type": "AWS::IAM::Role", "ARN": "arn:aws:iam::123456789012:role/path/R"}])),
            j(dict(GOOD, eventCategory="Data")), b'{"eventTime":"x"}', b"[1,2]"]


def history_lookup():
    return [b"\x00{}", b"\x00",
            b"\x00" + j({"LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": "PutObject"}], "MaxResults": 2}),
            b"\x00" + j({"LookupAttributes": [{"AttributeKey": "Username", "AttributeValue": "alice"}], "StartTime": 1767225600, "EndTime": 1767400000.5, "MaxResults": 3}),
            b"\x00" + j({"LookupAttributes": [{"AttributeKey": "ResourceName", "AttributeValue": "bucket-1"}], "MaxResults": 1}),
            b"\x00" + j({"LookupAttributes": [{"AttributeKey": "ReadOnly", "AttributeValue": "true"}], "MaxResults": 4}),
            b"\x00" + j({"EventCategory": "insight", "MaxResults": 1}),
            b"\x00" + j({"MaxResults": 1, "NextToken": "AgAAAAAAAAAAAAAAAAAAAAAAAABpVcQAZXYtMDAwMQ"}),
            b"\x01" + j({"LookupAttributes": [{"AttributeKey": "AccessKeyId", "AttributeValue": "AKIA0002"}]}),
            b"\x00" + j({"LookupAttributes": [{"AttributeKey": "EventId", "AttributeValue": "ev-0007"}, {"AttributeKey": "EventName", "AttributeValue": "x"}]})]


def history_store():
    same_id = dict(GOOD, eventID="dup")
    return [j(GOOD) + b"\x00" + j(dict(GOOD, eventID="e2", eventTime="2023-07-19T21:33:40Z")) + b"\x00" + j(same_id),
            j(INSIGHT) + b"\x00" + j(dict(INSIGHT, eventID="i-2", eventTime="2026-01-02T00:05:00Z")),
            j(dict(GOOD, resources=[{"type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::b{i}"} for i in range(5)])),
            j(dict(GOOD, eventTime="1970-01-01T00:00:00Z")) + b"\x00" + j(dict(GOOD, eventTime="9999-12-31T23:59:59Z", eventID="late")),
            j(dict(GOOD, eventTime="2023-07-19T21:33:41.999+14:00", readOnly=True, eventID="e\u00e9\\u0000"))]


def config_parse():
    out = []
    here = os.path.join(ROOT, "..", "config")
    for name in sorted(os.listdir(here)):
        if name.endswith(".toml"):
            with open(os.path.join(here, name), "rb") as f:
                out.append(bytes([len(out) % 2]) + f.read())
    out.append(b"\x01" + b'''[source]
kind = "file"
path = "events.ndjson"
dead_letter_path = "dead-letters.ndjson"
max_record_bytes = 4096

[storage]
kind = "local"
local_root = "out"

[server]
listen = "127.0.0.1:9464"

[api]
allow_unauthenticated = false
[[api.credentials]]
name = "ops"
access_key_id = "AKIATRAILPIPEOPS0001"
secret_access_key = "${OPS_SECRET}"
policy = "admin"
[[api.credentials]]
name = "siem"
access_key_id = "AKIATRAILPIPESIEM001"
secret_access_key = "siem-literal-secret-0123"
policy = "read"
trails = ["management"]
account_id = "123456789012"

[insights]
min_baseline_minutes = 60
threshold_sigmas = 5.0

[[trails]]
name = "management"
s3_bucket_name = "audit-logs"
home_region = "eu-west-1"
include_global_service_events = false
insight_selectors = [{ insight_type = "ApiErrorRateInsight" }]
[[trails.event_selectors]]
read_write_type = "WriteOnly"
include_management_events = true
exclude_management_event_sources = ["kms.amazonaws.com"]
data_resources = [{ type = "AWS::S3::Object", values = ["arn:aws:s3:::bucket/"] }]
''')
    return out


def selectors():
    scope = {"is_multi_region_trail": False, "home_region": "us-east-1", "include_global_service_events": True}
    recs = b'{"Records":[' + j(GOOD) + b"," + j(DATA) + b"," + j(INSIGHT) + b"]}"
    return [
        j({"scope": scope}) + b"\x00" + recs,
        j({"scope": dict(scope, is_multi_region_trail=True), "event_selectors": [{"read_write_type": "WriteOnly", "include_management_events": False, "data_resources": [{"type": "AWS::S3::Object", "values": ["arn:aws:s3:::bucket/"]}]}]}) + b"\x00" + recs,
        j({"scope": dict(scope, include_global_service_events=False), "advanced_event_selectors": [{"name": "w", "field_selectors": [{"field": "eventCategory", "equals": ["Data"]}, {"field": "resources.ARN", "starts_with": ["arn:aws:s3:::bucket/"], "not_ends_with": [".tmp"]}, {"field": "readOnly", "equals": ["false"]}]}]}) + b"\x00" + recs,
        j({"scope": scope, "advanced_event_selectors": [{"field_selectors": [{"field": "eventSource", "not_equals": ["kms.amazonaws.com"]}, {"field": "eventName", "not_starts_with": ["Get"]}, {"field": "errorCode", "ends_with": ["Denied"]}]}]}) + b"\x00" + j(DATA),
        j({"scope": scope, "event_selectors": [{"exclude_management_event_sources": ["rdsdata.amazonaws.com"]}], "advanced_event_selectors": [{"field_selectors": []}]}) + b"\x00" + j(GOOD),
    ]


def digest_format():
    digest = digest_json(1, prev=None)
    return [b"\x00" + gzip.compress(b'{"a":1}', mtime=0), b"\x00" + gzip.compress(b"x" * 100, mtime=0) + b"trailing",
            b"\x01" + DIGEST_KEYS[1].encode(), b"\x01prod/logs/AWSLogs/o-abc123/123456789012/CloudTrail-Digest/us-east-1/2026/01/01/123456789012_CloudTrail-Digest_us-east-1_management_us-east-1_20260101T010000Z_backfill.json.gz",
            b"\x012026-01-01T01:00:00Z", b"\x012026-01-01T01:00:00.123+02:00",
            b"\x02" + digest,
            b"\x03" + bytes.fromhex("300d06092a864886f70d0101010500"),
            b"\x04\x30\x03\x02\x01\x03\x00message\x00" + b"\x01" * 16]


# digest_validate: must match fuzz_targets/digest_validate.rs
BUCKET = "fuzz-bucket"
LOG_KEY = "AWSLogs/123456789012/CloudTrail/us-east-1/2026/01/01/123456789012_CloudTrail_us-east-1_20260101T0100Z_fuzz.json.gz"
LOG_CONTENT = b'{"Records":[' + j(GOOD) + b"]}"
DIGEST_KEYS = {h: f"AWSLogs/123456789012/CloudTrail-Digest/us-east-1/2026/01/01/123456789012_CloudTrail-Digest_us-east-1_management_us-east-1_20260101T0{h}0000Z.json.gz" for h in (1, 2, 3)}


def digest_json(h, prev, log=True, sig="null"):
    d = {
        "awsAccountId": "123456789012",
        "digestStartTime": f"2026-01-01T0{h - 1}:00:00Z", "digestEndTime": f"2026-01-01T0{h}:00:00Z",
        "digestS3Bucket": BUCKET, "digestS3Object": DIGEST_KEYS[h],
        "digestPublicKeyFingerprint": "FINGERPRINT", "digestSignatureAlgorithm": "SHA256withRSA",
        "newestEventTime": "2026-01-01T00:59:00Z" if log else None, "oldestEventTime": "2026-01-01T00:01:00Z" if log else None,
        "previousDigestS3Bucket": BUCKET if prev else None, "previousDigestS3Object": DIGEST_KEYS[prev] if prev else None,
        "previousDigestHashValue": "PREVHASH" if prev else None, "previousDigestHashAlgorithm": "SHA-256" if prev else None,
        "previousDigestSignature": None if sig == "null" else sig,
        "logFiles": [{"s3Bucket": BUCKET, "s3Object": LOG_KEY, "hashValue": hashlib.sha256(LOG_CONTENT).hexdigest(),
                      "hashAlgorithm": "SHA-256", "newestEventTime": "2026-01-01T00:59:00Z", "oldestEventTime": "2026-01-01T00:01:00Z"}] if log else [],
    }
    return j(d)


def digest_validate():
    # FINGERPRINT, PREVSIG and PREVHASH are replaced by the harness (its key is made at start-up).
    d1, d2, d3 = digest_json(1, None), digest_json(2, 1, sig="PREVSIG"), digest_json(3, 2, log=False, sig="PREVSIG")
    return [b"\x00" + d1 + b"\x00\x00\x00" + LOG_CONTENT,
            b"\x00" + d1 + b"\x00" + d2 + b"\x00" + d3 + b"\x00" + LOG_CONTENT,
            b"\x01" + d1 + b"\x00" + d2 + b"\x00\x00" + LOG_CONTENT,
            b"\x08" + d1 + b"\x00\x00" + d3 + b"\x00" + LOG_CONTENT,
            b"\x80" + d1 + b"\x00" + d2 + b"\x00\x00broken log"]


def filterpattern_parse():
    rec = j(dict(GOOD, errorCode="AccessDenied", additionalEventData={"MFAUsed": "No"},
                 responseElements={"ConsoleLogin": "Success"}))
    return [b"ERROR ARGUMENTS\x00[ERROR] 419 ARGUMENTS missing",
            b'?ERROR ?ARGUMENTS -"INTERNAL SERVER ERROR"\x00INTERNAL SERVER ERROR 500',
            b'{($.errorCode="*UnauthorizedOperation") || ($.errorCode="AccessDenied*")}\x00' + rec,
            b'{ ($.eventName = "ConsoleLogin") && ($.additionalEventData.MFAUsed != "Yes") && ($.userIdentity.type = "IAMUser") }\x00' + rec,
            b'{$.userIdentity.type="Root" && $.userIdentity.invokedBy NOT EXISTS && $.eventType !="AwsServiceEvent"}\x00' + rec,
            b'{ $.a[0].b > 10 || $.c IS TRUE || $.d IS NULL }\x00{"a":[{"b":11}],"c":true,"d":null}',
            b'[ip, user, ..., status_code = 4*, bytes > 1000]\x00127.0.0.1 frank [10/Oct/2000] "GET /x" 404 2326']


def main():
    for name, fn in [("event_parse", event_parse), ("api_router", api_router), ("api_parsers", api_parsers),
                     ("auth_sigv4", auth_sigv4), ("history_record", history_record), ("history_lookup", history_lookup),
                     ("history_store", history_store), ("config_parse", config_parse), ("selectors", selectors),
                     ("digest_format", digest_format), ("digest_validate", digest_validate),
                     ("filterpattern_parse", filterpattern_parse)]:
        write(name, fn())
    os.makedirs(os.path.join(CORPUS, "insights_snapshot"), exist_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
