//! Native benchmark of the Metrics-tab aggregation (criterion).
#![allow(missing_docs)]

use core_bench::{Workload, checksum, list_scenarios};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use endpoint_core::quantile::quantiles_u32;

fn aggregate(c: &mut Criterion) {
    let mut group = c.benchmark_group("aggregate");
    group.sample_size(10);
    for n in [100_000usize, 1_000_000] {
        let w = Workload::new(n, 42);
        println!(
            "{n} jobs: store holds {:.1} bytes/job; checksum {}",
            w.store.memory_bytes() as f64 / n as f64,
            checksum(&w.aggregate())
        );
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(format!("day of {n} jobs, 288 buckets, P70/P90/P98"), |b| {
            b.iter(|| w.aggregate())
        });
    }
    group.finish();

    let mut group = c.benchmark_group("quantiles");
    let data: Vec<u32> = (0..1_000_000u64)
        .map(|i| ((i * 2_654_435_761) % 100_003) as u32)
        .collect();
    group.throughput(Throughput::Elements(data.len() as u64));
    group.bench_function("select P70/P90/P98 of 1e6 u32", |b| {
        b.iter_batched_ref(
            || data.clone(),
            |d| quantiles_u32(d, &[0.7, 0.9, 0.98]).unwrap(),
            criterion::BatchSize::LargeInput,
        )
    });
    group.finish();
}

fn job_list(c: &mut Criterion) {
    let mut group = c.benchmark_group("job list, 100000 jobs");
    group.sample_size(20);
    let w = Workload::new(100_000, 42);
    group.throughput(Throughput::Elements(100_000));
    for (name, filter, sort) in list_scenarios(&w.store) {
        group.bench_function(name, |b| {
            b.iter(|| endpoint_core::query::list(&w.store, &filter, sort))
        });
    }
    group.finish();
}

/// The EMC2 decode of a day of 1,000,000 jobs into a ready store (what the panel does
/// with a snapshot), natively, for the wasm/native ratio beside `run.mjs`'s figure.
fn decode(c: &mut Criterion) {
    let n = 1_000_000;
    let w = Workload::new(n, 42);
    let rows: Vec<u32> = (0..n as u32).collect();
    let bytes = endpoint_core::feed::encode(
        &w.store,
        &rows,
        0,
        core_bench::FROM,
        core_bench::FROM + 86_400_000,
        &Default::default(),
    );
    let mut group = c.benchmark_group("decode");
    group.sample_size(10);
    group.throughput(Throughput::Elements(n as u64));
    group.bench_function(format!("EMC2 of {n} jobs into a JobStore"), |b| {
        b.iter(|| endpoint_core::feed::decode(&bytes).unwrap().jobs.len())
    });
    group.finish();
}

criterion_group!(benches, aggregate, job_list, decode);
criterion_main!(benches);
