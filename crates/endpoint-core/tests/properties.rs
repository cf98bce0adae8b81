//! Properties of the percentile engine over many random data sets (seeded, so a
//! failure reproduces): monotone in q, within [min, max], independent of input order,
//! and equal to the sorted-array definition on every path.
#![allow(missing_docs)]

mod common;

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;
#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

use common::SplitMix;
use endpoint_core::quantile::{quantile_sorted, quantiles, quantiles_u32};
use endpoint_core::runs::Runs;

const CASES: u64 = 300;

/// A random data set: size from 1 to ~3000, values from one of several shapes.
fn data_set(rng: &mut SplitMix) -> Vec<u32> {
    let max_len = [1, 2, 5, 40, 3_000][rng.below(5) as usize];
    let n = 1 + rng.below(max_len) as usize;
    let shape = rng.below(4);
    (0..n)
        .map(|_| match shape {
            0 => rng.below(10) as u32,                       // heavy ties
            1 => rng.below(1_000_000) as u32,                // wide uniform
            2 => (rng.below(1000) * rng.below(1000)) as u32, // skewed
            _ => {
                if rng.below(100) == 0 {
                    u32::MAX - rng.below(5) as u32
                } else {
                    rng.below(500) as u32
                }
            } // outliers
        })
        .collect()
}

fn random_qs(rng: &mut SplitMix) -> Vec<f64> {
    let mut qs: Vec<f64> = (0..1 + rng.below(6))
        .map(|_| rng.below(10_001) as f64 / 10_000.0)
        .collect();
    qs.extend([0.7, 0.9, 0.98]);
    qs
}

fn shuffle(v: &mut [u32], rng: &mut SplitMix) {
    for i in (1..v.len()).rev() {
        v.swap(i, rng.below(i as u64 + 1) as usize);
    }
}

#[test]
fn every_path_equals_the_sorted_definition() {
    let mut rng = SplitMix(1);
    for case in 0..CASES {
        let data = data_set(&mut rng);
        let qs = random_qs(&mut rng);
        let mut sorted = data.clone();
        sorted.sort_unstable();
        let expect: Vec<_> = qs
            .iter()
            .map(|&q| quantile_sorted(&sorted, q).unwrap())
            .collect();
        assert_eq!(
            quantiles_u32(&mut data.clone(), &qs).unwrap(),
            expect,
            "case {case}: u32 select"
        );
        let mut floats: Vec<f64> = data.iter().map(|&x| f64::from(x)).collect();
        assert_eq!(
            quantiles(&mut floats, &qs).unwrap(),
            expect,
            "case {case}: f64 select"
        );
        let nb = 1 + rng.below(9) as usize;
        let buckets: Vec<u32> = (0..data.len())
            .map(|_| rng.below(nb as u64) as u32)
            .collect();
        let runs = Runs::build(nb, &buckets, &data);
        assert_eq!(
            runs.total_stats(&qs).quantiles,
            expect,
            "case {case}: runs total"
        );
    }
}

#[test]
fn monotone_in_q_and_within_min_max() {
    let mut rng = SplitMix(2);
    for case in 0..CASES {
        let mut data = data_set(&mut rng);
        let qs: Vec<f64> = (0..=100).map(|i| i as f64 / 100.0).collect();
        let got = quantiles_u32(&mut data, &qs).unwrap();
        let (min, max) = (
            *data.iter().min().unwrap() as f64,
            *data.iter().max().unwrap() as f64,
        );
        let mut prev = f64::NEG_INFINITY;
        for (q, v) in qs.iter().zip(got) {
            let v = v.unwrap();
            assert!(v >= prev, "case {case}: not monotone at q={q}");
            assert!(
                (min..=max).contains(&v),
                "case {case}: {v} outside [{min}, {max}]"
            );
            prev = v;
        }
        assert_eq!(prev, max, "case {case}: Q(1) is the maximum");
    }
}

#[test]
fn independent_of_input_order() {
    let mut rng = SplitMix(3);
    for case in 0..CASES {
        let data = data_set(&mut rng);
        let qs = random_qs(&mut rng);
        let a = quantiles_u32(&mut data.clone(), &qs).unwrap();
        let mut shuffled = data.clone();
        shuffle(&mut shuffled, &mut rng);
        let b = quantiles_u32(&mut shuffled, &qs).unwrap();
        assert_eq!(a, b, "case {case}");
        let mut reversed = data.clone();
        reversed.sort_unstable_by(|x, y| y.cmp(x));
        assert_eq!(
            quantiles_u32(&mut reversed, &qs).unwrap(),
            a,
            "case {case}: reversed"
        );
    }
}

#[test]
fn runs_stay_exact_under_random_inserts_and_removes() {
    let mut rng = SplitMix(4);
    let mut runs = Runs::new(5);
    let mut model: Vec<Vec<u32>> = vec![Vec::new(); 5];
    for step in 0..5_000 {
        let b = rng.below(5) as usize;
        if rng.below(3) == 0 && !model[b].is_empty() {
            let i = rng.below(model[b].len() as u64) as usize;
            let v = model[b].swap_remove(i);
            assert!(runs.remove(b, v), "step {step}");
        } else {
            let v = rng.below(1_000) as u32;
            model[b].push(v);
            runs.insert(b, v);
        }
    }
    let qs = [0.0, 0.7, 0.9, 0.98, 1.0];
    let mut all = Vec::new();
    for (b, m) in model.iter_mut().enumerate() {
        m.sort_unstable();
        assert_eq!(runs.run(b), &m[..]);
        all.extend_from_slice(m);
    }
    all.sort_unstable();
    let expect: Vec<_> = qs
        .iter()
        .map(|&q| quantile_sorted(&all, q).unwrap())
        .collect();
    assert_eq!(runs.total_stats(&qs).quantiles, expect);
}
