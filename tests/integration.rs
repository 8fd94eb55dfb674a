//! trailpipe's end-to-end tests, in one test binary (one link of the daemon's dependency graph).
//!
//! Each module drives the real parts: the daemon binary, the tansu broker and moto's S3, KMS,
//! SNS, SQS and CloudWatch Logs on loopback (`make test` installs and starts them). Without those
//! servers a test skips with a message, unless `TRAILPIPE_REQUIRE_SERVICES=1` makes it fail.

mod support;

mod api_listener;
mod cli;
mod cloudwatch;
mod crash_exactly_once;
mod deploy;
mod e2e_kafka_s3;
mod faults;
mod history_lookup;
mod history_replicas;
mod hostile_input;
mod insights;
mod integrity;
mod outages;
mod replicas;
mod rules;
mod secure_kafka;
mod trail_features;
