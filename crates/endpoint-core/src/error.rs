//! Why a record was rejected. Every message names the job, the field and what is wrong.

use crate::JobStatus;

/// A record that cannot enter the metrics. Fix the producer (or drop the record);
/// the rest of a batch is unaffected.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RecordError {
    /// Every record needs its job id.
    #[error("record without an id")]
    EmptyId,
    /// A duration was NaN (a division by zero upstream?).
    #[error("{field} of job `{id}` is NaN: durations must be numbers of milliseconds")]
    NotANumber {
        /// The job.
        id: String,
        /// `delayTime` or `executionTime`.
        field: &'static str,
    },
    /// A duration was infinite.
    #[error("{field} of job `{id}` is infinite: durations must be finite milliseconds")]
    Infinite {
        /// The job.
        id: String,
        /// The field.
        field: &'static str,
    },
    /// A duration was negative (clock skew between machines?).
    #[error("{field} of job `{id}` is negative ({value} ms): durations cannot be below 0")]
    Negative {
        /// The job.
        id: String,
        /// The field.
        field: &'static str,
        /// The value given.
        value: f64,
    },
    /// A duration above `u32::MAX` ms (49.7 days), surely a unit mistake (µs or ns?).
    #[error("{field} of job `{id}` is {value} ms, more than 49 days: is it in ms?")]
    TooLong {
        /// The job.
        id: String,
        /// The field.
        field: &'static str,
        /// The value given.
        value: f64,
    },
    /// Timestamps in the wrong order.
    #[error("job `{id}`: {later} is before {earlier}")]
    OutOfOrder {
        /// The job.
        id: String,
        /// The field that should come first.
        earlier: &'static str,
        /// The field that is earlier than it.
        later: &'static str,
    },
    /// A field the state requires is missing.
    #[error("job `{id}` is {status} without {field}")]
    Missing {
        /// The job.
        id: String,
        /// The missing field.
        field: &'static str,
        /// The record's state.
        status: JobStatus,
    },
    /// A job id held by two rows of a snapshot (the server's bug: a window lists
    /// each job once).
    #[error("duplicate job id `{id}`")]
    DuplicateId {
        /// The job.
        id: String,
    },
    /// A worker event or delivery with an impossible time.
    #[error("{what}: {detail}")]
    BadEvent {
        /// Which event.
        what: String,
        /// What is wrong.
        detail: String,
    },
}
