"""Drives awscli's own validate-logs code (DigestTraverser, Sha256RSADigestValidator and the
log hashing of CloudTrailValidateLogs._download_log) against a trailpipe local-directory store
(<root>/<bucket>/<key>, metadata in <root>/.trailpipe-meta/<bucket>/<key>.json) through a fake
S3 client, and prints the counts as JSON. Used by tests/awscli.rs."""
import argparse
import base64
import hashlib
import io
import json
import os
import zlib

from botocore.exceptions import ClientError
from dateutil import parser as dateparser

from awscli.customizations.cloudtrail.validation import (
    DigestProvider,
    DigestTraverser,
    Sha256RSADigestValidator,
    normalize_date,
)


class Pages:
    def __init__(self, keys):
        self._keys = keys

    def search(self, expr):
        assert expr == 'Contents[*].Key'
        yield from self._keys


class FakeS3:
    def __init__(self, root):
        self.root = root

    def _all_keys(self, bucket):
        base = os.path.join(self.root, bucket)
        for d, _, files in os.walk(base):
            for f in files:
                yield os.path.relpath(os.path.join(d, f), base).replace(os.sep, '/')

    def get_paginator(self, name):
        assert name == 'list_objects'
        fake = self

        class P:
            def paginate(self, Bucket, Marker, Prefix):
                keys = sorted(k for k in fake._all_keys(Bucket) if k.startswith(Prefix) and k > Marker)
                return Pages(keys)

        return P()

    def get_object(self, Bucket, Key):
        path = os.path.join(self.root, Bucket, Key)
        if not os.path.exists(path):
            raise ClientError({'Error': {'Code': 'NoSuchKey', 'Message': 'no such key'}}, 'GetObject')
        meta_path = os.path.join(self.root, '.trailpipe-meta', Bucket, Key + '.json')
        meta = {}
        if os.path.exists(meta_path):
            with open(meta_path) as f:
                meta = json.load(f)
        with open(path, 'rb') as f:
            body = f.read()
        return {'Body': io.BytesIO(body), 'Metadata': meta}


class Provider:
    def __init__(self, client):
        self.client = client

    def get_client(self, bucket):
        return self.client


class Keys:
    def __init__(self, keys):
        self.keys = keys

    def get_public_keys(self, start, end):
        return self.keys


def main():
    ap = argparse.ArgumentParser()
    for a in ['root', 'bucket', 'prefix', 'account', 'region', 'trail', 'home', 'start', 'end', 'keys']:
        ap.add_argument('--' + a, default=None)
    args = ap.parse_args()
    client = FakeS3(args.root)
    keys = {k['Fingerprint']: k for k in json.loads(args.keys)}
    out = {'valid_digests': 0, 'invalid_digests': 0, 'valid_backfill': 0, 'invalid_backfill': 0,
           'valid_logs': 0, 'invalid_logs': 0, 'gaps': 0, 'messages': []}

    def on_invalid(message=None, is_backfill=False, **kw):
        out['invalid_backfill' if is_backfill else 'invalid_digests'] += 1
        out['messages'].append(message)

    def on_missing(bucket=None, last_key=None, is_backfill=False, **kw):
        out['invalid_backfill' if is_backfill else 'invalid_digests'] += 1
        out['messages'].append('missing ' + last_key)

    def on_gap(**kw):
        out['gaps'] += 1
        out['messages'].append('gap')

    provider = DigestProvider(Provider(client), args.account, args.trail, args.home, args.region)
    traverser = DigestTraverser(provider, args.bucket, args.prefix or None, Keys(keys),
                                Sha256RSADigestValidator(), on_invalid=on_invalid, on_gap=on_gap,
                                on_missing=on_missing)
    start = normalize_date(dateparser.parse(args.start))
    end = normalize_date(dateparser.parse(args.end))
    for backfill in (False, True):
        for digest in traverser.traverse_digests(start, end, is_backfill=backfill):
            out['valid_backfill' if backfill else 'valid_digests'] += 1
            for log in digest['logFiles']:
                try:
                    body = client.get_object(Bucket=log['s3Bucket'], Key=log['s3Object'])['Body']
                except ClientError:
                    out['invalid_logs'] += 1
                    out['messages'].append('log missing ' + log['s3Object'])
                    continue
                inflater = zlib.decompressobj(zlib.MAX_WBITS | 16)
                h = hashlib.sha256()
                for chunk in iter(lambda: body.read(2048), b''):
                    h.update(inflater.decompress(chunk))
                h.update(inflater.flush())
                if inflater.unused_data or h.hexdigest() != log['hashValue']:
                    out['invalid_logs'] += 1
                    out['messages'].append('log invalid ' + log['s3Object'])
                else:
                    out['valid_logs'] += 1
    print(json.dumps(out))


if __name__ == '__main__':
    main()
