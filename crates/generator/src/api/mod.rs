//! The API calls the generator knows: which service, whether they only read, and how their
//! `requestParameters`, `responseElements`, `additionalEventData` and `resources` look.
//!
//! Each call has a body function. It runs before the record's head is written, so it may choose
//! the region (an S3 bucket's events come from the bucket's region) and the TLS host header; it
//! writes its fragments into a scratch buffer and its `resources` entries into another, and the
//! record writer splices both in at CloudTrail's key positions.

mod data;
mod reads;
mod writes;

pub(crate) use data::DATA;
pub(crate) use reads::READS;
pub(crate) use writes::WRITES;

use crate::catalog::S3_BUCKETS;
use crate::fmt::{fill, push_rand_base64};
use crate::identity::{Account, Principal};
use crate::rng::Rng;

/// One API action as CloudTrail records it.
pub(crate) struct Api {
    /// `eventSource`.
    pub source: &'static str,
    /// `eventName`.
    pub name: &'static str,
    /// The IAM action (differs from `eventName` for Lambda's versioned names).
    pub action: &'static str,
    pub read_only: bool,
    /// IAM and STS log to `us-east-1` whatever the caller's region.
    pub global: bool,
    /// Relative frequency inside its table.
    pub weight: u32,
    pub api_version: Option<&'static str>,
    /// AWS services that make this call themselves (`userIdentity.type` `AWSService`).
    pub callers: &'static [&'static str],
    /// Writes `,"requestParameters":...,"responseElements":...[,"additionalEventData":...]`.
    pub body: fn(&mut Ctx<'_>, &mut Vec<u8>),
}

impl Api {
    /// The IAM service prefix, `ec2` for `ec2.amazonaws.com`.
    pub(crate) fn service(&self) -> &'static str {
        self.source.split('.').next().unwrap_or(self.source)
    }
}

/// Who made the call.
#[derive(Clone, Copy)]
pub(crate) enum Caller<'a> {
    Principal(&'a Principal),
    Service(&'static str),
}

/// What `tlsDetails.clientProvidedHostHeader` names.
#[derive(Clone, Copy)]
pub(crate) enum Host {
    /// `<service>.<region>.amazonaws.com`, or the global endpoint for global services.
    Service,
    /// Virtual-hosted S3: `<bucket>.s3.<region>.amazonaws.com`.
    Bucket(&'static str),
}

/// What a body function may read and decide.
pub(crate) struct Ctx<'a> {
    pub rng: &'a mut Rng,
    pub account: &'a Account,
    pub regions: &'a [&'static str],
    /// `awsRegion`; a body may change it.
    pub region: &'static str,
    pub caller: Caller<'a>,
    /// The call failed: `responseElements` must be `null`.
    pub error: bool,
    pub now: i64,
    pub request_id: &'a [u8],
    /// Entries of `resources`, comma-separated, without the brackets.
    pub resources: &'a mut Vec<u8>,
    pub host: Host,
    /// Emit a `sharedEventID` (service calls delivered to more than one account).
    pub shared_event_id: bool,
}

impl Ctx<'_> {
    /// Picks a bucket and moves the event to the bucket's region.
    pub(crate) fn pick_bucket(&mut self) -> (usize, &'static str) {
        let i = self.rng.below(S3_BUCKETS.len() as u64) as usize;
        self.use_bucket(i)
    }

    pub(crate) fn use_bucket(&mut self, i: usize) -> (usize, &'static str) {
        let bucket = S3_BUCKETS[i];
        self.region = self.regions[i % self.regions.len()];
        self.host = Host::Bucket(bucket);
        (i, bucket)
    }

    fn push_resource_sep(&mut self) {
        if !self.resources.is_empty() {
            self.resources.push(b',');
        }
    }

    pub(crate) fn resource_bucket(&mut self, bucket: &str) {
        self.push_resource_sep();
        fill(
            self.resources,
            r#"{"accountId":"%s","type":"AWS::S3::Bucket","ARN":"arn:aws:s3:::%s"}"#,
            &[&self.account.id, &bucket],
        );
    }

    pub(crate) fn resource_arn(&mut self, resource_type: &str, arn: &[u8]) {
        self.push_resource_sep();
        fill(
            self.resources,
            r#"{"accountId":"%s","type":"%s","ARN":"%s"}"#,
            &[&self.account.id, &resource_type, &arn],
        );
    }

    /// `arn:aws:kms:<region>:<acct>:key/<id>` for one of the account's keys.
    pub(crate) fn kms_key_arn(&mut self) -> Vec<u8> {
        let key = self.rng.pick(&self.account.kms_keys);
        let mut arn = Vec::with_capacity(96);
        fill(
            &mut arn,
            "arn:aws:kms:%s:%s:key/%s",
            &[&self.region, &self.account.id, key],
        );
        arn
    }
}

/// `"Host":"<bucket>.s3.<region>.amazonaws.com"` (no separators around it).
pub(crate) fn bucket_host(c: &Ctx<'_>, out: &mut Vec<u8>, bucket: &str) {
    fill(
        out,
        r#""Host":"%s.s3.%s.amazonaws.com""#,
        &[&bucket, &c.region],
    );
}

/// S3's `additionalEventData` with its signature details and byte counts.
pub(crate) fn s3_additional(c: &mut Ctx<'_>, out: &mut Vec<u8>, bytes_in: u64, bytes_out: u64) {
    fill(
        out,
        concat!(
            r#","additionalEventData":{"SignatureVersion":"SigV4","CipherSuite":"TLS_AES_128_GCM_SHA256","#,
            r#""bytesTransferredIn":%s,"AuthenticationMethod":"AuthHeader","x-amz-id-2":""#
        ),
        &[&bytes_in],
    );
    push_rand_base64(out, c.rng, 75, true);
    fill(out, r#"","bytesTransferredOut":%s}"#, &[&bytes_out]);
}

/// `,"responseElements":` followed by `null` on error, else by what `f` writes.
pub(crate) fn response(
    c: &mut Ctx<'_>,
    out: &mut Vec<u8>,
    f: impl FnOnce(&mut Ctx<'_>, &mut Vec<u8>),
) {
    out.extend_from_slice(br#","responseElements":"#);
    if c.error {
        out.extend_from_slice(b"null");
    } else {
        f(c, out);
    }
}

/// Shorthand for the many table rows that differ only in a few fields.
pub(crate) const fn api(
    source: &'static str,
    name: &'static str,
    read_only: bool,
    weight: u32,
    body: fn(&mut Ctx<'_>, &mut Vec<u8>),
) -> Api {
    let global = matches!(
        source.as_bytes(),
        b"iam.amazonaws.com" | b"sts.amazonaws.com"
    );
    Api {
        source,
        name,
        action: name,
        read_only,
        global,
        weight,
        api_version: None,
        callers: &[],
        body,
    }
}
