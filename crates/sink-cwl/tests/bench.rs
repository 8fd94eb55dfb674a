//! Benchmarks (ignored by default; run with
//! `cargo nextest run -p trailpipe-sink-cwl --run-ignored only --release --no-capture bench`):
//! the metric evaluator's cost per record with the 14 CIS filters, and end-to-end CloudWatch
//! Logs delivery rate against moto. They print numbers and assert nothing about speed.

mod common;

use std::time::Instant;

use common::{moto, now_ms, record, unique};
use trailpipe_sink_cwl::{CwlBatch, CwlSink, CwlSinkConfig, CwlTrailConfig, MetricEvaluator};

fn records(n: usize) -> Vec<bytes::Bytes> {
    let names = [
        "GetObject",
        "PutObject",
        "ConsoleLogin",
        "AuthorizeSecurityGroupIngress",
        "ListBuckets",
        "AssumeRole",
    ];
    (0..n)
        .map(|i| {
            let (_, b) = record(&format!("{i:08}"), names[i % names.len()], now_ms(), 300);
            b
        })
        .collect()
}

#[test]
#[ignore = "benchmark"]
fn bench_evaluator_cost_per_record_with_cis_filters() {
    let cfg: CwlTrailConfig =
        serde_json::from_str(r#"{"cloud_watch_logs_log_group":"g","cis_benchmark_filters":true}"#)
            .unwrap();
    let ev = MetricEvaluator::new(&cfg).unwrap();
    let recs = records(50_000);
    let bytes: usize = recs.iter().map(|r| r.len()).sum();
    let mut hits = Vec::new();
    let mut out = Vec::new();
    let mut matched = 0usize;
    let start = Instant::now();
    for _ in 0..4 {
        for r in &recs {
            ev.evaluate(r, &mut hits, &mut out);
            matched += out.len();
        }
    }
    let el = start.elapsed();
    let n = recs.len() * 4;
    println!(
        "evaluator: {} CIS filters, {n} records of {} B avg: {:.0} ns/record, {:.0} records/s, {:.0} MB/s ({matched} points)",
        ev.filter_count(),
        bytes / recs.len(),
        el.as_nanos() as f64 / n as f64,
        n as f64 / el.as_secs_f64(),
        (bytes * 4) as f64 / el.as_secs_f64() / 1e6
    );
    // With the metrics facade (no recorder installed: the export path's own cost).
    let start = Instant::now();
    for r in &recs {
        std::hint::black_box(ev.observe(r));
    }
    let el = start.elapsed();
    println!(
        "evaluator+export: {:.0} ns/record",
        el.as_nanos() as f64 / recs.len() as f64
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark"]
async fn bench_delivery_rate_against_moto() {
    let Some(shared) = moto("bench_delivery_rate_against_moto").await else {
        return;
    };
    let sink = CwlSink::from_sdk_config(&shared, CwlSinkConfig::new("us-east-1"));
    let group = unique("/trailpipe/bench");
    let n = 40_000;
    let base = now_ms() - 3_600_000;
    let recs: Vec<_> = records(n)
        .into_iter()
        .enumerate()
        .map(|(i, b)| (base + i as i64, b))
        .collect();
    let bytes: usize = recs.iter().map(|(_, b)| b.len()).sum();
    // Warm up: create the group and stream.
    sink.deliver(CwlBatch {
        log_group: group.clone(),
        account: "123456789012".into(),
        region: "us-east-1".into(),
        records: recs[..1].to_vec(),
        role_arn: None,
    })
    .await
    .unwrap();
    let start = Instant::now();
    let mut tasks = Vec::new();
    for (k, chunk) in recs.chunks(n / 4).enumerate() {
        let sink = sink.clone();
        let batch = CwlBatch {
            log_group: group.clone(),
            account: "123456789012".into(),
            region: ["us-east-1", "us-west-2", "eu-west-1", "ap-south-1"][k % 4].into(),
            records: chunk.to_vec(),
            role_arn: None,
        };
        tasks.push(tokio::spawn(async move { sink.deliver(batch).await }));
    }
    let mut delivered = 0;
    for t in tasks {
        delivered += t.await.unwrap().unwrap().delivered;
    }
    let el = start.elapsed();
    assert_eq!(delivered, n);
    println!(
        "delivery to moto: {n} records ({:.1} MB) over 4 streams in {:.2}s: {:.0} records/s, {:.1} MB/s",
        bytes as f64 / 1e6,
        el.as_secs_f64(),
        n as f64 / el.as_secs_f64(),
        bytes as f64 / el.as_secs_f64() / 1e6
    );
}
