//! A rolling history of `/health` samples, and the series the chart draws from it.

use std::collections::VecDeque;

use endpoint_core::Health;

/// One poll's answer and when it arrived (ms since the Unix epoch).
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Arrival time, ms since the Unix epoch.
    pub at_ms: f64,
    /// The counts.
    pub health: Health,
}

/// The most recent samples, oldest first, at most `capacity` of them.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthHistory {
    samples: VecDeque<Sample>,
    capacity: usize,
}

/// One line of the chart: a name and `[time_ms, value]` points.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend label.
    pub name: &'static str,
    /// `[time_ms, value]` pairs, oldest first.
    pub points: Vec<[f64; 2]>,
}

impl HealthHistory {
    /// An empty history keeping at most `capacity` samples (at least 1).
    pub fn new(capacity: usize) -> Self {
        HealthHistory {
            samples: VecDeque::with_capacity(capacity.max(1)),
            capacity: capacity.max(1),
        }
    }

    /// Appends a sample, dropping the oldest beyond the capacity. A sample older than
    /// the newest one (a clock step backwards) is ignored, so time never runs back.
    pub fn push(&mut self, at_ms: f64, health: Health) {
        if self.samples.back().is_some_and(|s| s.at_ms > at_ms) {
            return;
        }
        if self.samples.len() == self.capacity {
            self.samples.pop_front();
        }
        self.samples.push_back(Sample { at_ms, health });
    }

    /// The newest sample.
    pub fn latest(&self) -> Option<&Sample> {
        self.samples.back()
    }

    /// Number of samples held.
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// True when no sample arrived yet.
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// The chart's lines: jobs in queue, jobs in progress, workers running, workers idle.
    pub fn series(&self) -> Vec<Series> {
        type Pick = fn(&Health) -> u64;
        let lines: [(&'static str, Pick); 4] = [
            ("Jobs in queue", |h| h.jobs.in_queue),
            ("Jobs in progress", |h| h.jobs.in_progress),
            ("Workers running", |h| h.workers.running),
            ("Workers idle", |h| h.workers.idle),
        ];
        lines
            .iter()
            .map(|(name, pick)| Series {
                name,
                points: self
                    .samples
                    .iter()
                    .map(|s| [s.at_ms, pick(&s.health) as f64])
                    .collect(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn health(in_queue: u64, running: u64) -> Health {
        let mut h = Health::default();
        h.jobs.in_queue = in_queue;
        h.workers.running = running;
        h
    }

    #[test]
    fn keeps_the_newest_samples_up_to_capacity() {
        let mut hist = HealthHistory::new(3);
        for i in 0..5 {
            hist.push(i as f64 * 1000.0, health(i, 0));
        }
        assert_eq!(hist.len(), 3);
        assert_eq!(hist.latest().unwrap().health.jobs.in_queue, 4);
        let s = hist.series();
        assert_eq!(s[0].name, "Jobs in queue");
        assert_eq!(
            s[0].points,
            vec![[2000.0, 2.0], [3000.0, 3.0], [4000.0, 4.0]]
        );
    }

    #[test]
    fn series_pick_the_right_counts() {
        let mut hist = HealthHistory::new(10);
        hist.push(1.0, health(7, 2));
        let s = hist.series();
        let by_name = |n: &str| s.iter().find(|x| x.name == n).unwrap().points[0][1];
        assert_eq!(by_name("Jobs in queue"), 7.0);
        assert_eq!(by_name("Workers running"), 2.0);
        assert_eq!(by_name("Jobs in progress"), 0.0);
    }

    #[test]
    fn a_sample_from_the_past_is_ignored() {
        let mut hist = HealthHistory::new(10);
        hist.push(5000.0, health(1, 0));
        hist.push(4000.0, health(2, 0));
        assert_eq!(hist.len(), 1);
        assert_eq!(hist.latest().unwrap().health.jobs.in_queue, 1);
    }

    #[test]
    fn zero_capacity_still_keeps_one() {
        let mut hist = HealthHistory::new(0);
        hist.push(1.0, health(1, 0));
        hist.push(2.0, health(2, 0));
        assert_eq!(hist.len(), 1);
        assert!(!hist.is_empty());
    }
}
