//! The benchmark workload, shared by the native criterion bench and the browser bench:
//! a day of `n` jobs (synthetic, seeded) aggregated into 5-minute buckets (288) at
//! P70/P90/P98, with counts, cold starts and worker states.

use endpoint_core::query::{Column, Filter, Sort, Span, StatusSet};
use endpoint_core::{Aggregation, Aggregator, JobStatus, JobStore, Window};
use endpoint_sim::synthetic::{self, History};

/// The window of the benchmark: one day in 5-minute buckets.
pub const DAY_MS: i64 = 86_400_000;
/// Bucket width: 288 buckets a day.
pub const BUCKET_MS: i64 = 300_000;
/// The quantiles the panel draws.
pub const QS: [f64; 3] = [0.70, 0.90, 0.98];
/// Window start (any fixed instant).
pub const FROM: i64 = 1_700_000_000_000;

/// A loaded workload.
pub struct Workload {
    /// The jobs, in the columnar store.
    pub store: JobStore,
    /// Worker events and cold starts.
    pub history: History,
}

impl Workload {
    /// Generates `n` jobs over a day (seeded) and loads them into a store sized for them.
    pub fn new(n: usize, seed: u64) -> Self {
        let mut history = synthetic::history(seed, n, FROM, DAY_MS, 40);
        let mut store = JobStore::with_capacity(n);
        for r in &history.jobs {
            store.upsert(r).expect("synthetic records are valid");
        }
        // The records now live in the store; keep only the worker events.
        history.jobs = Vec::new();
        Workload { store, history }
    }

    /// The whole Metrics-tab computation from the store.
    pub fn aggregate(&self) -> Aggregation {
        let window = Window::new(FROM, FROM + DAY_MS, BUCKET_MS).expect("valid window");
        let mut agg = Aggregator::from_store(window, &QS, &self.store).expect("valid quantiles");
        for c in &self.history.cold_starts {
            agg.add_cold_start(c).expect("valid cold start");
        }
        agg.add_transitions(&self.history.transitions);
        agg.result()
    }
}

/// The job list's scenarios over a store: `(name, filter, sort)`, each what one click
/// in the list asks for (the default view, a status chip, a column sort, an id search,
/// a click on a delay percentile point).
pub fn list_scenarios(store: &JobStore) -> Vec<(&'static str, Filter, Sort)> {
    let day = Span::Overlaps {
        from: FROM,
        to: FROM + DAY_MS,
    };
    let sort = |column, descending| Sort { column, descending };
    let base = Filter::new(day);
    let mut delays: Vec<u32> = (0..store.len() as u32)
        .filter_map(|r| store.row(r).delay)
        .collect();
    delays.sort_unstable();
    let p98 = delays.get(delays.len() * 98 / 100).copied().unwrap_or(0);
    vec![
        ("all, newest first", base.clone(), Sort::default()),
        (
            "COMPLETED+FAILED chips, by delay desc",
            Filter {
                statuses: StatusSet::only(JobStatus::Completed).toggled(JobStatus::Failed),
                ..base.clone()
            },
            sort(Column::Delay, true),
        ),
        (
            "all, by execution asc",
            base.clone(),
            sort(Column::Execution, false),
        ),
        ("all, by worker", base.clone(), sort(Column::Worker, false)),
        ("all, by id", base.clone(), sort(Column::Id, false)),
        ("all, by status", base.clone(), sort(Column::Status, false)),
        ("all, by webhook", base.clone(), sort(Column::Webhook, true)),
        (
            "id prefix \"a\"",
            Filter {
                id_prefix: "a".into(),
                ..base.clone()
            },
            Sort::default(),
        ),
        (
            "delay >= day P98, by delay desc",
            Filter {
                min_delay: Some(f64::from(p98)),
                ..Filter::new(Span::Started {
                    from: FROM,
                    to: FROM + DAY_MS,
                })
            },
            sort(Column::Delay, true),
        ),
    ]
}

/// Sum of every bucket's execution P98 (a checksum the JavaScript baseline must match).
pub fn checksum(a: &Aggregation) -> f64 {
    a.buckets
        .iter()
        .filter_map(|b| b.execution.quantiles[2])
        .sum::<f64>()
        + a.total.execution.quantiles[2].unwrap_or(0.0)
        + a.total.delay.quantiles[2].unwrap_or(0.0)
}

#[cfg(target_arch = "wasm32")]
mod browser {
    //! wasm-bindgen exports for web/bench.mjs.
    use super::*;
    use endpoint_core::store::Row;
    use js_sys::{Float64Array, Int32Array, Uint8Array};
    use wasm_bindgen::prelude::*;

    /// The workload, held in wasm memory.
    #[wasm_bindgen]
    pub struct Bench(Workload);

    #[wasm_bindgen]
    impl Bench {
        /// Generates and loads `n` jobs.
        #[wasm_bindgen(constructor)]
        pub fn new(n: usize, seed: u32) -> Bench {
            Bench(Workload::new(n, u64::from(seed)))
        }

        /// Runs the aggregation; returns the checksum.
        pub fn aggregate(&self) -> f64 {
            checksum(&self.0.aggregate())
        }

        /// Names of the job-list scenarios ([`list_scenarios`]).
        pub fn list_names(&self) -> Vec<String> {
            list_scenarios(&self.0.store)
                .into_iter()
                .map(|(n, _, _)| n.to_string())
                .collect()
        }

        /// Runs job-list scenario `i` (filter + sort); returns the rows listed.
        pub fn list(&self, i: usize) -> usize {
            let (_, f, s) = list_scenarios(&self.0.store).swap_remove(i);
            endpoint_core::query::list(&self.0.store, &f, s).rows.len()
        }

        /// Bytes the store holds per job.
        pub fn bytes_per_job(&self) -> f64 {
            self.0.store.memory_bytes() as f64 / self.0.store.len() as f64
        }

        /// Columns for the JavaScript baseline, as the panel would hold them without
        /// endpoint-core: [submitted, started, completed, delay, execution] (NaN = none).
        pub fn columns(&self) -> js_sys::Array {
            let s = &self.0.store;
            let n = s.len();
            let cols: Vec<Float64Array> = (0..5)
                .map(|_| Float64Array::new_with_length(n as u32))
                .collect();
            let f = |v: Option<i64>| v.map_or(f64::NAN, |x| x as f64);
            for i in 0..n {
                let r: Row = s.row(i as u32);
                let i = i as u32;
                cols[0].set_index(i, r.submitted_at as f64);
                cols[1].set_index(i, f(r.started_at()));
                cols[2].set_index(i, f(r.completed_at()));
                cols[3].set_index(i, r.delay.map_or(f64::NAN, f64::from));
                cols[4].set_index(i, r.execution.map_or(f64::NAN, f64::from));
            }
            cols.into_iter().map(JsValue::from).collect()
        }

        /// Status codes per job (index in JobStatus::ALL) and retries.
        pub fn status_column(&self) -> Uint8Array {
            let s = &self.0.store;
            let out = Uint8Array::new_with_length(s.len() as u32);
            for i in 0..s.len() {
                let r = s.row(i as u32);
                let code = endpoint_core::JobStatus::ALL
                    .iter()
                    .position(|x| *x == r.status)
                    .unwrap_or(0);
                out.set_index(i as u32, code as u8 | if r.retries > 0 { 0x80 } else { 0 });
            }
            out
        }

        /// Cold starts: [readyAt, duration] interleaved.
        pub fn cold_starts(&self) -> Float64Array {
            let c = &self.0.history.cold_starts;
            let out = Float64Array::new_with_length(2 * c.len() as u32);
            for (i, x) in c.iter().enumerate() {
                out.set_index(2 * i as u32, x.ready_at as f64);
                out.set_index(2 * i as u32 + 1, x.duration);
            }
            out
        }

        /// Worker transitions: [worker, state (-1 = stopped), at] interleaved, in time order.
        pub fn transitions(&self) -> Float64Array {
            let t = &self.0.history.transitions;
            let out = Float64Array::new_with_length(3 * t.len() as u32);
            for (i, x) in t.iter().enumerate() {
                let w: f64 = x
                    .worker_id
                    .trim_start_matches("worker-")
                    .parse()
                    .unwrap_or(0.0);
                out.set_index(3 * i as u32, w);
                out.set_index(3 * i as u32 + 1, x.state.map_or(-1.0, |s| s.index() as f64));
                out.set_index(3 * i as u32 + 2, x.at as f64);
            }
            out
        }

        /// The window: [from, to, bucket].
        pub fn window(&self) -> Int32Array {
            // Offsets from FROM fit in i32; JavaScript adds FROM back.
            Int32Array::from(&[0, DAY_MS as i32, BUCKET_MS as i32][..])
        }

        /// The snapshot of the whole store in the EMC2 columnar encoding.
        pub fn encode_columns(&self) -> Vec<u8> {
            let rows: Vec<u32> = (0..self.0.store.len() as u32).collect();
            endpoint_core::feed::encode(
                &self.0.store,
                &rows,
                0,
                FROM,
                FROM + DAY_MS,
                &Default::default(),
            )
        }

        /// The same jobs as a JSON array of JobRecord (the alternative encoding).
        pub fn encode_json(&self) -> Vec<u8> {
            let s = &self.0.store;
            let records: Vec<_> = (0..s.len() as u32).map(|r| s.record(r)).collect();
            serde_json::to_vec(&records).expect("records serialise")
        }

        /// Decodes EMC2 bytes into a ready store; returns the job count.
        pub fn decode_columns(bytes: &[u8]) -> Result<usize, JsError> {
            let snap =
                endpoint_core::feed::decode(bytes).map_err(|e| JsError::new(&e.to_string()))?;
            Ok(snap.jobs.len())
        }

        /// Decodes a JSON array of JobRecord into a ready store; returns the job count.
        pub fn decode_json(bytes: &[u8]) -> Result<usize, JsError> {
            let records: Vec<endpoint_core::JobRecord> =
                serde_json::from_slice(bytes).map_err(|e| JsError::new(&e.to_string()))?;
            let mut store = JobStore::with_capacity(records.len());
            for r in &records {
                store.upsert(r).map_err(|e| JsError::new(&e.to_string()))?;
            }
            Ok(store.len())
        }

        /// The window start, ms since the epoch.
        pub fn window_start(&self) -> f64 {
            FROM as f64
        }
    }
}
