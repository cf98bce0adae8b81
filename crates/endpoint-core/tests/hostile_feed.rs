//! The EMC2 snapshot decoder against hostile bodies: truncated, corrupted, oversized,
//! with lying length fields. Always a clear error or a valid snapshot, never a panic,
//! and never an allocation out of proportion to the body: every decode runs under a
//! heap limit of 64 bytes per body byte plus 1 MiB (`cap`), past which the allocation
//! fails and the test process aborts.
//!
//! One test function, so nothing else allocates in this process while a limit is set.
#![cfg(not(target_arch = "wasm32"))]
#![allow(missing_docs)]

use std::alloc::System;

use cap::Cap;
use endpoint_core::feed::{Events, FeedError, decode, encode};
use endpoint_core::{
    ColdStart, JobRecord, JobStatus, JobStore, WebhookDelivery, WebhookSummary, WorkerState,
    WorkerTransition,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

#[global_allocator]
static ALLOC: Cap<System> = Cap::new(System, usize::MAX);

/// At most this much heap for a body of `len` bytes.
fn budget(len: usize) -> usize {
    64 * len + (1 << 20)
}

/// Decodes `bytes` with the heap limited to what is allocated now plus the budget.
fn decode_limited(bytes: &[u8]) -> Result<endpoint_core::feed::Snapshot, FeedError> {
    ALLOC
        .set_limit(ALLOC.allocated() + budget(bytes.len()))
        .expect("limit above what is allocated");
    let r = decode(bytes);
    ALLOC.set_limit(usize::MAX).expect("no limit");
    r
}

/// A snapshot of every kind of row: UUID and text ids, workers, errors, webhook
/// errors, and every kind of event.
fn valid() -> Vec<u8> {
    let mut s = JobStore::default();
    for i in 0..40u64 {
        let id = if i % 7 == 3 {
            format!("text-id-{i}")
        } else {
            format!("00000000-0000-4000-8000-{i:012x}")
        };
        let mut r = JobRecord::queued(id, 1_000 + i as i64);
        if i % 2 == 0 {
            r.status = if i % 4 == 0 {
                JobStatus::Completed
            } else {
                JobStatus::Failed
            };
            r.started_at = Some(1_100 + i as i64);
            r.completed_at = Some(2_000 + i as i64 * 3);
            r.worker_id = Some(format!("w{}", i % 3));
            r.error = (i % 4 == 2).then(|| "CUDA out of memory".to_string());
            r.webhook = Some(WebhookSummary {
                attempts: 2,
                last_status: None,
                last_error: Some("connection refused".into()),
                delivered: false,
            });
        }
        s.upsert(&r).unwrap();
    }
    let events = Events {
        transitions: vec![WorkerTransition {
            worker_id: "w1".into(),
            state: Some(WorkerState::Idle),
            at: 5,
        }],
        cold_starts: vec![ColdStart {
            worker_id: "w1".into(),
            started_at: 1,
            ready_at: 5,
            duration: 4.0,
        }],
        deliveries: vec![WebhookDelivery {
            job_id: "text-id-3".into(),
            attempt: 1,
            at: 9,
            status: Some(500),
            error: None,
        }],
    };
    let rows: Vec<u32> = (0..40).collect();
    encode(&s, &rows, 7, 0, 10_000, &events)
}

/// Where the u32 length fields of `valid()` are: the job count, the string count,
/// each string's length, the three row-reference counts, the transitions', cold
/// starts' and deliveries' counts and the deliveries' two reference counts.
fn length_fields(b: &[u8]) -> Vec<usize> {
    let u32_at = |at: usize| u32::from_le_bytes(b[at..at + 4].try_into().unwrap()) as usize;
    let n = u32_at(28);
    let n_strings = u32_at(32);
    let mut fields = vec![28, 32];
    let mut at = 36;
    for _ in 0..n_strings {
        fields.push(at);
        at += 4 + u32_at(at);
    }
    at += n * (16 + 8 + 4 + 4 + 4 + 2 + 1 + 1 + 1 + 1);
    for _ in 0..3 {
        fields.push(at);
        at += 4 + 8 * u32_at(at);
    }
    // Transitions, cold starts, deliveries: a count, then so many bytes each.
    for width in [4 + 1 + 8, 4 + 8 + 8 + 8, 16 + 1 + 8 + 2] {
        fields.push(at);
        at += 4 + width * u32_at(at);
    }
    for _ in 0..2 {
        fields.push(at);
        at += 4 + 8 * u32_at(at);
    }
    assert_eq!(at, b.len(), "the layout is understood");
    fields
}

#[test]
fn hostile_snapshots_are_refused_clearly_within_a_bounded_heap() {
    let b = valid();
    // The honest body decodes under the limit.
    assert_eq!(decode_limited(&b).unwrap().jobs.len(), 40);

    // Every truncation.
    for cut in 0..b.len() {
        let r = decode_limited(&b[..cut]);
        assert!(
            matches!(r, Err(FeedError::Truncated(_) | FeedError::BadMagic)),
            "cut at {cut}: {:?}",
            r.map(|s| s.jobs.len())
        );
    }

    // Every length field lying, each way.
    let fields = length_fields(&b);
    // Job and string counts, one length per string (workers, messages, text ids), the
    // three row-reference counts, and the events' five counts.
    assert_eq!(fields.len(), 2 + 11 + 3 + 5);
    for &at in &fields {
        let honest = u32::from_le_bytes(b[at..at + 4].try_into().unwrap());
        for lie in [
            u32::MAX,
            u32::MAX / 2,
            1 << 28,
            b.len() as u32,
            honest.wrapping_add(1),
            honest.wrapping_sub(1),
        ] {
            if lie == honest {
                continue;
            }
            let mut bad = b.clone();
            bad[at..at + 4].copy_from_slice(&lie.to_le_bytes());
            match decode_limited(&bad) {
                // A shorter string shifts what follows: that may still read as a
                // snapshot, never as one with more jobs than the body holds.
                Ok(s) => assert!(s.jobs.len() <= 40, "field at {at} = {lie}"),
                Err(e) => {
                    let msg = e.to_string();
                    assert!(msg.starts_with("snapshot "), "field at {at} = {lie}: {msg}");
                }
            }
        }
    }

    // 16 MB of garbage after a valid header.
    let mut big = b[..36].to_vec();
    big.resize(16 << 20, 0xff);
    assert!(decode_limited(&big).is_err());

    // Generated: up to 8 bytes anywhere set to anything, and random bodies with the
    // right magic. A panic or an allocation past the limit fails the run.
    let mut runner = TestRunner::new(Config {
        cases: 2_000,
        ..Config::default()
    });
    let edits = prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8);
    runner
        .run(&edits, |edits| {
            let mut bad = b.clone();
            for (i, v) in edits {
                let at = i.index(bad.len());
                bad[at] = v;
            }
            let _ = decode_limited(&bad);
            Ok(())
        })
        .unwrap();
    runner
        .run(&prop::collection::vec(any::<u8>(), 0..4096), |tail| {
            let mut body = b"EMC2".to_vec();
            body.extend_from_slice(&tail);
            prop_assert!(decode_limited(&body).is_err() || body.len() >= 40);
            Ok(())
        })
        .unwrap();
}
