//! The one percentile definition of Endpoint Metrics.
//!
//! **Definition: linear interpolation between closest ranks** (Hyndman & Fan 1996,
//! type 7; numpy's default `method="linear"`, R's default `type = 7`, Excel's
//! `PERCENTILE.INC`). For `n` sorted samples `x[0] <= ... <= x[n-1]` and `q` in
//! `[0, 1]`:
//!
//! ```text
//! h = (n - 1) * q,   lo = floor(h),   t = h - lo
//! Q(q) = x[lo] + t * (x[lo + 1] - x[lo])        (x[lo] when t = 0)
//! ```
//!
//! so `Q(0)` is the minimum, `Q(1)` the maximum, and `Q(0.5)` the usual median. The
//! interpolation is evaluated exactly as numpy does (from the nearer end when
//! `t >= 0.5`), so results match numpy's to the last bit in practice, and the
//! function is monotone in `q`.
//!
//! No data gives `Ok(None)`, never 0 or NaN; a `q` outside `[0, 1]` (or NaN) is an
//! error.
//!
//! ```
//! use endpoint_core::quantile::{quantile_sorted, quantiles};
//!
//! assert_eq!(quantile_sorted(&[10u32, 20, 30, 40], 0.5).unwrap(), Some(25.0));
//! assert_eq!(quantile_sorted::<u32>(&[], 0.9).unwrap(), None);
//! let mut data = vec![5.0, 1.0, 4.0, 2.0, 3.0];
//! assert_eq!(quantiles(&mut data, &[0.7, 0.9]).unwrap(), vec![Some(3.8), Some(4.6)]);
//! assert!(quantile_sorted(&[1u32], 1.5).is_err());
//! ```

use std::fmt;

/// Why a quantile could not be computed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum QuantileError {
    /// `q` must be in `[0, 1]` (0.98 for P98, not 98); the value given is attached.
    OutOfRange(f64),
    /// A sample was NaN; durations must be numbers (filter or fix the record first).
    NanSample,
}

impl fmt::Display for QuantileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QuantileError::OutOfRange(q) => write!(
                f,
                "quantile {q} is outside [0, 1]: pass 0.98 for P98, not 98"
            ),
            QuantileError::NanSample => write!(f, "a sample is NaN: remove or fix it first"),
        }
    }
}

impl std::error::Error for QuantileError {}

/// Checks that `q` is a valid quantile.
pub fn check_q(q: f64) -> Result<(), QuantileError> {
    if (0.0..=1.0).contains(&q) {
        Ok(())
    } else {
        Err(QuantileError::OutOfRange(q))
    }
}

/// Where quantile `q` falls among `n >= 1` sorted samples: `(lo, t)` with
/// `Q = x[lo] + t * (x[lo + 1] - x[lo])`; `t == 0` needs only `x[lo]`.
#[inline]
pub fn rank(n: usize, q: f64) -> (usize, f64) {
    debug_assert!(n > 0);
    let h = (n - 1) as f64 * q;
    let lo = (h.floor() as usize).min(n - 1);
    let t = h - lo as f64;
    if lo + 1 >= n { (n - 1, 0.0) } else { (lo, t) }
}

/// numpy's `_lerp`: `a + t(b - a)`, computed from `b` when `t >= 0.5` so that the
/// result is monotone in `t` and exact at both ends.
#[inline]
pub fn lerp(a: f64, b: f64, t: f64) -> f64 {
    if t == 0.0 {
        return a;
    }
    let d = b - a;
    if t >= 0.5 {
        b - d * (1.0 - t)
    } else {
        a + d * t
    }
}

/// Quantile `q` of samples already sorted ascending.
pub fn quantile_sorted<T: Copy + Into<f64>>(
    sorted: &[T],
    q: f64,
) -> Result<Option<f64>, QuantileError> {
    check_q(q)?;
    if sorted.is_empty() {
        return Ok(None);
    }
    let (lo, t) = rank(sorted.len(), q);
    let a: f64 = sorted[lo].into();
    if t == 0.0 {
        return Ok(Some(a));
    }
    Ok(Some(lerp(a, sorted[lo + 1].into(), t)))
}

/// Several quantiles of unsorted samples in expected O(n) time (selection, no sort).
///
/// `data` is reordered. The result is in the order of `qs`. All `qs` are checked
/// before any work is done; NaN samples are an error.
pub fn quantiles(data: &mut [f64], qs: &[f64]) -> Result<Vec<Option<f64>>, QuantileError> {
    for &q in qs {
        check_q(q)?;
    }
    if data.iter().any(|x| x.is_nan()) {
        return Err(QuantileError::NanSample);
    }
    Ok(select_quantiles(data, qs, f64::total_cmp))
}

/// Same as [`quantiles`] for integer samples (durations in ms).
pub fn quantiles_u32(data: &mut [u32], qs: &[f64]) -> Result<Vec<Option<f64>>, QuantileError> {
    for &q in qs {
        check_q(q)?;
    }
    Ok(select_quantiles(data, qs, u32::cmp))
}

/// Multi-quantile selection: ranks are visited in ascending order and each selection
/// runs only on the part right of the previous one, so three quantiles cost little
/// more than one.
fn select_quantiles<T: Copy + Into<f64>>(
    data: &mut [T],
    qs: &[f64],
    cmp: impl Fn(&T, &T) -> std::cmp::Ordering + Copy,
) -> Vec<Option<f64>> {
    let n = data.len();
    if n == 0 {
        return vec![None; qs.len()];
    }
    let mut order: Vec<usize> = (0..qs.len()).collect();
    order.sort_by(|&a, &b| qs[a].total_cmp(&qs[b]));
    let mut out = vec![None; qs.len()];
    // Everything left of `start` is <= everything from `start` on.
    let mut start = 0usize;
    // The last selected rank and its value.
    let mut done: Option<(usize, T)> = None;
    for i in order {
        let (lo, t) = rank(n, qs[i]);
        let a = match done {
            Some((r, v)) if r == lo => v,
            _ => {
                let (_, nth, _) = data[start..].select_nth_unstable_by(lo - start, cmp);
                let v = *nth;
                done = Some((lo, v));
                start = lo + 1;
                v
            }
        };
        let value = if t == 0.0 {
            a.into()
        } else {
            // x[lo + 1] is the smallest element right of lo.
            let b = data[lo + 1..]
                .iter()
                .copied()
                .min_by(cmp)
                .expect("lo + 1 < n when t > 0");
            lerp(a.into(), b.into(), t)
        };
        out[i] = Some(value);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oracle(data: &[f64], q: f64) -> Option<f64> {
        let mut s = data.to_vec();
        s.sort_by(f64::total_cmp);
        quantile_sorted(&s, q).unwrap()
    }

    #[test]
    fn textbook_values() {
        let x = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(quantile_sorted(&x, 0.0).unwrap(), Some(1.0));
        assert_eq!(quantile_sorted(&x, 1.0).unwrap(), Some(4.0));
        assert_eq!(quantile_sorted(&x, 0.5).unwrap(), Some(2.5));
        // h = 3 * 0.7 = 2.1 -> 3 + 0.1 * (4 - 3)
        assert!((quantile_sorted(&x, 0.7).unwrap().unwrap() - 3.1).abs() < 1e-12);
        // numpy.quantile([1,2,3,4], 0.9) == 3.7
        assert!((quantile_sorted(&x, 0.9).unwrap().unwrap() - 3.7).abs() < 1e-12);
    }

    #[test]
    fn empty_is_none_and_bad_q_is_an_error() {
        assert_eq!(quantile_sorted::<f64>(&[], 0.5).unwrap(), None);
        assert_eq!(quantiles(&mut [], &[0.1, 0.9]).unwrap(), vec![None, None]);
        for q in [-0.01, 1.01, 98.0, f64::NAN, f64::INFINITY] {
            let e = quantile_sorted(&[1.0], q).unwrap_err();
            assert!(matches!(e, QuantileError::OutOfRange(_)));
            assert!(e.to_string().contains("outside [0, 1]"), "{e}");
        }
    }

    #[test]
    fn nan_samples_are_rejected() {
        let e = quantiles(&mut [1.0, f64::NAN], &[0.5]).unwrap_err();
        assert_eq!(e, QuantileError::NanSample);
        assert!(e.to_string().contains("NaN"));
    }

    #[test]
    fn one_sample_and_all_equal() {
        for q in [0.0, 0.3, 0.98, 1.0] {
            assert_eq!(quantile_sorted(&[5u32], q).unwrap(), Some(5.0));
            assert_eq!(
                quantiles(&mut vec![7.0; 50], &[q]).unwrap(),
                vec![Some(7.0)]
            );
        }
    }

    #[test]
    fn selection_matches_sorting_for_repeated_and_equal_ranks() {
        let data: Vec<f64> = (0..101).map(|i| ((i * 37) % 101) as f64).collect();
        let qs = [0.98, 0.7, 0.7, 0.9, 0.0, 1.0, 0.705, 0.5];
        let got = quantiles(&mut data.clone(), &qs).unwrap();
        for (q, g) in qs.iter().zip(got) {
            assert_eq!(g, oracle(&data, *q), "q={q}");
        }
        let mut ints: Vec<u32> = data.iter().map(|&x| x as u32).collect();
        let got = quantiles_u32(&mut ints, &qs).unwrap();
        for (q, g) in qs.iter().zip(got) {
            assert_eq!(g, oracle(&data, *q), "u32 q={q}");
        }
    }

    #[test]
    fn lerp_is_exact_at_the_ends_and_monotone() {
        assert_eq!(lerp(1.0, 3.0, 0.0), 1.0);
        assert_eq!(lerp(1.0, 3.0, 1.0), 3.0);
        let mut prev = f64::NEG_INFINITY;
        for i in 0..=1000 {
            let v = lerp(0.1, 1e12, i as f64 / 1000.0);
            assert!(v >= prev);
            prev = v;
        }
    }
}
