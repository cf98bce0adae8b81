//! Sorted runs: the samples of one metric, kept sorted per bucket.
//!
//! Keeping each bucket sorted makes every per-bucket quantile an index lookup, lets a
//! new or changed job be added or removed with one binary search, and gives the
//! whole-window quantiles without touching every sample again: the k-th smallest
//! value across all runs is found by bisecting the value range and counting with
//! binary searches.
//!
//! The bulk build groups the samples by bucket with a counting sort and sorts each
//! bucket with an LSD radix sort (11-bit digits, only as many passes as the bucket's
//! largest value needs), so building from a million jobs is a few linear passes.

use crate::quantile::{lerp, rank};

/// Count, min, max, mean and quantiles of one metric over one bucket or the window.
/// Every field is `None` when there is no sample.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Distribution {
    /// Number of samples.
    pub count: u64,
    /// Smallest sample, ms.
    pub min: Option<u32>,
    /// Largest sample, ms.
    pub max: Option<u32>,
    /// Arithmetic mean, ms.
    pub mean: Option<f64>,
    /// One value per requested quantile, in the order requested.
    pub quantiles: Vec<Option<f64>>,
}

impl Distribution {
    /// No samples.
    pub fn empty(n_quantiles: usize) -> Self {
        Distribution {
            count: 0,
            min: None,
            max: None,
            mean: None,
            quantiles: vec![None; n_quantiles],
        }
    }
}

/// Per-bucket sorted samples of one metric.
#[derive(Debug, Clone, Default)]
pub struct Runs {
    runs: Vec<Vec<u32>>,
    sums: Vec<u64>,
}

impl Runs {
    /// `buckets` empty runs.
    pub fn new(buckets: usize) -> Self {
        Runs {
            runs: vec![Vec::new(); buckets],
            sums: vec![0; buckets],
        }
    }

    /// Builds the runs from `(bucket, value)` samples in one go.
    pub fn build(buckets: usize, bucket_of: &[u32], values: &[u32]) -> Self {
        debug_assert_eq!(bucket_of.len(), values.len());
        // Counting sort by bucket.
        let mut starts = vec![0usize; buckets + 1];
        for &b in bucket_of {
            starts[b as usize + 1] += 1;
        }
        for i in 0..buckets {
            starts[i + 1] += starts[i];
        }
        let mut grouped = vec![0u32; values.len()];
        let mut fill = starts.clone();
        for (&b, &v) in bucket_of.iter().zip(values) {
            let slot = &mut fill[b as usize];
            grouped[*slot] = v;
            *slot += 1;
        }
        let mut scratch = Vec::new();
        let mut runs = Vec::with_capacity(buckets);
        let mut sums = Vec::with_capacity(buckets);
        for b in 0..buckets {
            let mut run = grouped[starts[b]..starts[b + 1]].to_vec();
            radix_sort(&mut run, &mut scratch);
            sums.push(run.iter().map(|&v| u64::from(v)).sum());
            runs.push(run);
        }
        Runs { runs, sums }
    }

    /// Adds one sample.
    pub fn insert(&mut self, bucket: usize, value: u32) {
        let run = &mut self.runs[bucket];
        let at = run.partition_point(|&x| x < value);
        run.insert(at, value);
        self.sums[bucket] += u64::from(value);
    }

    /// Removes one sample equal to `value`; false when there is none.
    pub fn remove(&mut self, bucket: usize, value: u32) -> bool {
        let run = &mut self.runs[bucket];
        let at = run.partition_point(|&x| x < value);
        if run.get(at) == Some(&value) {
            run.remove(at);
            self.sums[bucket] -= u64::from(value);
            true
        } else {
            false
        }
    }

    /// The sorted samples of one bucket.
    pub fn run(&self, bucket: usize) -> &[u32] {
        &self.runs[bucket]
    }

    /// Samples held, over all buckets.
    pub fn len(&self) -> usize {
        self.runs.iter().map(Vec::len).sum()
    }

    /// True when no bucket holds a sample.
    pub fn is_empty(&self) -> bool {
        self.runs.iter().all(Vec::is_empty)
    }

    /// Bytes held.
    pub fn memory_bytes(&self) -> usize {
        self.runs
            .iter()
            .map(|r| r.capacity() * 4 + 24)
            .sum::<usize>()
            + self.sums.capacity() * 8
    }

    /// The distribution of one bucket (`qs` already checked).
    pub fn bucket_stats(&self, bucket: usize, qs: &[f64]) -> Distribution {
        let run = &self.runs[bucket];
        if run.is_empty() {
            return Distribution::empty(qs.len());
        }
        let n = run.len();
        Distribution {
            count: n as u64,
            min: Some(run[0]),
            max: Some(run[n - 1]),
            mean: Some(self.sums[bucket] as f64 / n as f64),
            quantiles: qs
                .iter()
                .map(|&q| {
                    let (lo, t) = rank(n, q);
                    let a = f64::from(run[lo]);
                    Some(if t == 0.0 {
                        a
                    } else {
                        lerp(a, f64::from(run[lo + 1]), t)
                    })
                })
                .collect(),
        }
    }

    /// The distribution over all buckets (`qs` already checked).
    pub fn total_stats(&self, qs: &[f64]) -> Distribution {
        let n: usize = self.len();
        if n == 0 {
            return Distribution::empty(qs.len());
        }
        let min = self.runs.iter().filter_map(|r| r.first()).min().copied();
        let max = self.runs.iter().filter_map(|r| r.last()).max().copied();
        let sum: u64 = self.sums.iter().sum();
        let quantiles = qs
            .iter()
            .map(|&q| {
                let (lo, t) = rank(n, q);
                let a = self.kth(lo, min.unwrap_or(0), max.unwrap_or(0));
                Some(if t == 0.0 {
                    f64::from(a)
                } else {
                    lerp(f64::from(a), f64::from(self.next_after(lo, a)), t)
                })
            })
            .collect();
        Distribution {
            count: n as u64,
            min,
            max,
            mean: Some(sum as f64 / n as f64),
            quantiles,
        }
    }

    /// Number of samples <= v.
    fn count_le(&self, v: u32) -> usize {
        self.runs
            .iter()
            .map(|r| r.partition_point(|&x| x <= v))
            .sum()
    }

    /// The k-th smallest sample (0-based): the least v with count_le(v) > k.
    fn kth(&self, k: usize, mut lo: u32, mut hi: u32) -> u32 {
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.count_le(mid) > k {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        lo
    }

    /// The (k+1)-th smallest sample, given that `a` is the k-th.
    fn next_after(&self, k: usize, a: u32) -> u32 {
        if self.count_le(a) > k + 1 {
            return a;
        }
        self.runs
            .iter()
            .filter_map(|r| r.get(r.partition_point(|&x| x <= a)).copied())
            .min()
            .unwrap_or(a)
    }
}

/// LSD radix sort of u32 with 11-bit digits; passes beyond the largest value's bits
/// are skipped, and small inputs use the standard sort.
pub fn radix_sort(v: &mut [u32], scratch: &mut Vec<u32>) {
    const BITS: u32 = 11;
    const RADIX: usize = 1 << BITS;
    if v.len() <= 64 {
        v.sort_unstable();
        return;
    }
    let max = v.iter().copied().max().unwrap_or(0);
    let passes = (32 - max.leading_zeros()).div_ceil(BITS);
    scratch.clear();
    scratch.resize(v.len(), 0);
    let mut counts = vec![0usize; RADIX];
    let mut in_v = true;
    for p in 0..passes {
        let shift = p * BITS;
        counts.fill(0);
        let (src, dst): (&[u32], &mut [u32]) = if in_v {
            (&*v, &mut scratch[..])
        } else {
            (&scratch[..], &mut *v)
        };
        for &x in src {
            counts[((x >> shift) as usize) & (RADIX - 1)] += 1;
        }
        let mut sum = 0;
        for c in counts.iter_mut() {
            let here = *c;
            *c = sum;
            sum += here;
        }
        for &x in src {
            let d = ((x >> shift) as usize) & (RADIX - 1);
            dst[counts[d]] = x;
            counts[d] += 1;
        }
        in_v = !in_v;
    }
    if !in_v {
        v.copy_from_slice(&scratch[..v.len()]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quantile::quantile_sorted;

    fn xorshift(seed: &mut u64) -> u64 {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        *seed
    }

    #[test]
    fn radix_sort_sorts_every_size_and_range() {
        let mut seed = 7;
        let mut scratch = Vec::new();
        for (n, range) in [
            (0, 1),
            (1, 10),
            (65, 3),
            (1_000, 1 << 11),
            (5_000, 1 << 22),
            (3_000, u32::MAX as u64),
        ] {
            let mut v: Vec<u32> = (0..n)
                .map(|_| (xorshift(&mut seed) % range.max(1)) as u32)
                .collect();
            let mut expect = v.clone();
            expect.sort_unstable();
            radix_sort(&mut v, &mut scratch);
            assert_eq!(v, expect, "n={n} range={range}");
        }
    }

    #[test]
    fn build_insert_remove_and_stats_agree_with_sorting() {
        let mut seed = 11;
        let buckets = 7;
        let b: Vec<u32> = (0..5_000)
            .map(|_| (xorshift(&mut seed) % buckets as u64) as u32)
            .collect();
        let v: Vec<u32> = (0..5_000)
            .map(|_| (xorshift(&mut seed) % 10_000) as u32)
            .collect();
        let mut runs = Runs::build(buckets, &b, &v);
        runs.insert(3, 42);
        assert!(runs.remove(3, 42));
        assert!(!runs.remove(3, 10_001));
        let qs = [0.0, 0.7, 0.9, 0.98, 1.0];
        for bucket in 0..buckets {
            let mut expect: Vec<u32> = b
                .iter()
                .zip(&v)
                .filter(|(x, _)| **x as usize == bucket)
                .map(|(_, y)| *y)
                .collect();
            expect.sort_unstable();
            assert_eq!(runs.run(bucket), &expect[..]);
            let d = runs.bucket_stats(bucket, &qs);
            for (q, got) in qs.iter().zip(&d.quantiles) {
                assert_eq!(*got, quantile_sorted(&expect, *q).unwrap());
            }
        }
        let mut all = v.clone();
        all.sort_unstable();
        let t = runs.total_stats(&qs);
        for (q, got) in qs.iter().zip(&t.quantiles) {
            assert_eq!(*got, quantile_sorted(&all, *q).unwrap(), "total q={q}");
        }
        assert_eq!(t.count, 5_000);
        assert_eq!(t.min, all.first().copied());
        let mean = all.iter().map(|&x| x as f64).sum::<f64>() / all.len() as f64;
        assert!((t.mean.unwrap() - mean).abs() < 1e-9);
    }

    #[test]
    fn empty_runs_give_none() {
        let runs = Runs::new(3);
        let d = runs.bucket_stats(1, &[0.5]);
        assert_eq!(d, Distribution::empty(1));
        assert_eq!(runs.total_stats(&[0.5]).quantiles, vec![None]);
    }
}
