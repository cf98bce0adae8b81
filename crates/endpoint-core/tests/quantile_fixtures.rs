//! The percentile engine against reference values computed by numpy
//! (fixtures/gen_quantiles.py wrote fixtures/quantiles.json).
#![allow(missing_docs)]

mod common;

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;
#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

use common::{SplitMix, close};
use endpoint_core::quantile::{quantile_sorted, quantiles, quantiles_u32};
use endpoint_core::runs::Runs;
use endpoint_core::{Aggregator, JobRecord, JobStatus, JobStore, Window};
use serde::Deserialize;

#[derive(Deserialize)]
struct Fixtures {
    method: String,
    qs: Vec<f64>,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    #[serde(default)]
    data: Option<Vec<f64>>,
    #[serde(default)]
    generator: Option<Generator>,
    expected: Vec<f64>,
}

#[derive(Deserialize)]
struct Generator {
    name: String,
    seed: u64,
    n: usize,
}

/// Integer-only generators; keep in sync with GENERATORS in gen_quantiles.py.
fn generate(g: &Generator) -> Vec<u32> {
    let mut rng = SplitMix(g.seed);
    (0..g.n)
        .map(|_| {
            let r = rng.next();
            let v = match g.name.as_str() {
                "uniform" => r % 100_000,
                "skewed" => ((r & 0xFFFF) % 1000) * (((r >> 16) & 0xFFFF) % 1000) / 10,
                "bimodal" if r % 10 < 7 => 120 + (r >> 8) % 60,
                "bimodal" => 4_000 + (r >> 8) % 3_000,
                "ties" => 1000 * (r % 5),
                "outliers" if r.is_multiple_of(9973) => 4_000_000_000,
                "outliers" => 200 + (r >> 8) % 800,
                other => panic!("unknown generator {other}"),
            };
            u32::try_from(v).expect("generated values fit in u32")
        })
        .collect()
}

fn fixtures() -> Fixtures {
    let f: Fixtures = serde_json::from_str(include_str!("fixtures/quantiles.json")).unwrap();
    assert_eq!(
        f.method, "linear",
        "the fixtures must use numpy's linear (type 7) method"
    );
    assert!(f.cases.len() >= 15);
    f
}

fn check(name: &str, path: &str, qs: &[f64], got: &[Option<f64>], expected: &[f64]) {
    for ((q, g), e) in qs.iter().zip(got).zip(expected) {
        let g = g.unwrap_or_else(|| panic!("{name} [{path}] q={q}: None"));
        assert!(close(g, *e), "{name} [{path}] q={q}: got {g}, numpy {e}");
    }
}

#[test]
fn float_data_sets_match_numpy() {
    let f = fixtures();
    let mut seen = 0;
    for case in f.cases.iter().filter(|c| c.data.is_some()) {
        let data = case.data.as_ref().unwrap();
        let mut sorted = data.clone();
        sorted.sort_by(f64::total_cmp);
        let by_sort: Vec<_> =
            f.qs.iter()
                .map(|&q| quantile_sorted(&sorted, q).unwrap())
                .collect();
        check(&case.name, "sorted", &f.qs, &by_sort, &case.expected);
        let by_select = quantiles(&mut data.clone(), &f.qs).unwrap();
        check(&case.name, "select", &f.qs, &by_select, &case.expected);
        seen += 1;
    }
    assert!(seen >= 8);
}

#[test]
fn integer_data_sets_match_numpy_through_every_path() {
    let f = fixtures();
    let mut seen = 0;
    for case in &f.cases {
        let data: Vec<u32> = match (&case.data, &case.generator) {
            (_, Some(g)) => generate(g),
            // Inline data sets with whole, non-negative values also go through the u32 paths.
            (Some(d), None)
                if d.iter()
                    .all(|x| x.fract() == 0.0 && *x >= 0.0 && *x <= u32::MAX as f64) =>
            {
                d.iter().map(|&x| x as u32).collect()
            }
            _ => continue,
        };
        let got = quantiles_u32(&mut data.clone(), &f.qs).unwrap();
        check(&case.name, "select u32", &f.qs, &got, &case.expected);

        // Sorted runs: whole window over 7 buckets, and one bucket holding everything.
        let buckets: Vec<u32> = (0..data.len() as u32).map(|i| i % 7).collect();
        let runs = Runs::build(7, &buckets, &data);
        check(
            &case.name,
            "runs total",
            &f.qs,
            &runs.total_stats(&f.qs).quantiles,
            &case.expected,
        );
        let one = Runs::build(1, &vec![0; data.len()], &data);
        check(
            &case.name,
            "runs bucket",
            &f.qs,
            &one.bucket_stats(0, &f.qs).quantiles,
            &case.expected,
        );
        seen += 1;
    }
    assert!(seen >= 10, "{seen} integer data sets");
}

#[test]
fn aggregator_execution_time_matches_numpy() {
    // The generated 1e5 data set as the execution times of completed jobs.
    let f = fixtures();
    let case = f
        .cases
        .iter()
        .find(|c| c.name == "skewed seed=3 n=100000")
        .unwrap();
    let data = generate(case.generator.as_ref().unwrap());
    let window = Window::new(0, 3_600_000, 60_000).unwrap();
    let mut store = JobStore::with_capacity(data.len());
    for (i, &v) in data.iter().enumerate() {
        let sub = (i as i64 * 17) % 1_000_000;
        let r = JobRecord {
            status: JobStatus::Completed,
            started_at: Some(sub + 10),
            completed_at: Some(sub + 10 + v as i64),
            ..JobRecord::queued(format!("job-{i}"), sub)
        };
        store.upsert(&r).unwrap();
    }
    let mut agg = Aggregator::from_store(window, &f.qs, &store).unwrap();
    let result = agg.result();
    check(
        &case.name,
        "aggregator total",
        &f.qs,
        &result.total.execution.quantiles,
        &case.expected,
    );
    assert_eq!(result.total.execution.count, data.len() as u64);
}
