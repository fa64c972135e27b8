//! Cancellation of queue requests: the seed's list (pending, in flight,
//! completed, unknown, the cancel-vs-completion race, cancel all, callbacks
//! never run for cancelled requests) plus weak cancel, tag cancel and
//! cancel-all-pending. In-flight cases use a gated executor so the request is
//! provably inside (or just before) its destination write when cancelled.

#![allow(unsafe_code)]

mod common;

use common::{pattern, pread_queue, GateAt, GateDriver, Rng, TempDir};
use ds_core::DestinationKinds;
use ds_os_linux::{Backend, FileRef, Outcome, Queue, QueueBuilder, Request, RequestId, Status};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

fn gate_queue(at: GateAt) -> (Queue, common::GateHandles) {
    let (driver, handles) = GateDriver::new(DestinationKinds::HOST_MEMORY, at);
    let q = QueueBuilder::new()
        .capacity(128)
        .backend(Backend::None)
        .executor(Box::new(driver))
        .build()
        .unwrap();
    (q, handles)
}

fn memory_request(len: usize) -> Request {
    Request::read_memory(Arc::from(pattern(len, 1))).into_buffer(vec![0; len])
}

#[test]
fn cancel_pending_request() {
    let (q, _gate) = gate_queue(GateAt::BeforeWrite);
    let id = q.enqueue(memory_request(64)).unwrap();
    assert_eq!(q.poll(id), Some(Status::Pending));
    assert!(q.cancel_request(id));
    let c = q.wait(id, None).unwrap();
    assert_eq!(c.outcome, Outcome::Cancelled);
    assert_eq!(c.buffer.unwrap(), vec![0; 64], "destination untouched");
    assert_eq!(q.stats().cancelled, 1);
}

#[test]
fn cancel_submitted_request_before_it_starts() {
    let (q, gate) = gate_queue(GateAt::BeforeWrite);
    // The first request occupies the single gated worker...
    let first = q.enqueue(memory_request(8)).unwrap();
    q.submit();
    assert_eq!(gate.entered.recv().unwrap(), first);
    // ...so the second stays Submitted.
    let second = q.enqueue(memory_request(8)).unwrap();
    q.submit();
    assert_eq!(q.poll(second), Some(Status::Submitted));
    assert!(q.cancel_request(second));
    gate.release.send(()).unwrap();
    assert_eq!(q.wait(first, None).unwrap().result(), Ok(8));
    assert_eq!(q.wait(second, None).unwrap().outcome, Outcome::Cancelled);
}

#[test]
fn cancel_in_flight_before_write_never_writes() {
    let (q, gate) = gate_queue(GateAt::BeforeWrite);
    let called = Arc::new(AtomicBool::new(false));
    let seen = called.clone();
    let mut dest = vec![0u8; 256];
    let ptr = dest.as_mut_ptr();
    // SAFETY: `dest` outlives the request: the test waits for its end
    // (wait_all) before reading or dropping `dest`.
    let req = unsafe { Request::read_memory(Arc::from(pattern(256, 2))).into_raw(ptr, 256) }
        .on_complete(move |_| seen.store(true, Ordering::SeqCst));
    let id = q.enqueue(req).unwrap();
    q.submit();
    assert_eq!(gate.entered.recv().unwrap(), id);
    assert_eq!(q.poll(id), Some(Status::InFlight));
    assert!(
        q.cancel_request(id),
        "in flight, not writing: cancelled at once"
    );
    gate.release.send(()).unwrap();
    q.wait_all(None).unwrap();
    assert!(
        !called.load(Ordering::SeqCst),
        "callback of a cancelled request ran"
    );
    assert_eq!(
        dest,
        vec![0; 256],
        "destination written after strong cancel"
    );
    assert_eq!(q.stats().cancelled, 1);
    assert_eq!(q.stats().completed, 0);
}

#[test]
fn cancel_in_flight_while_writing_waits_for_the_writer() {
    let (q, gate) = gate_queue(GateAt::InsideWrite);
    let q = Arc::new(q);
    let id = q.enqueue(memory_request(128)).unwrap();
    q.submit();
    assert_eq!(gate.entered.recv().unwrap(), id);
    let returned = Arc::new(AtomicBool::new(false));
    let canceller = {
        let (q, returned) = (q.clone(), returned.clone());
        std::thread::spawn(move || {
            let r = q.cancel_request(id);
            returned.store(true, Ordering::SeqCst);
            r
        })
    };
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        !returned.load(Ordering::SeqCst),
        "strong cancel returned while the destination was being written"
    );
    gate.release.send(()).unwrap();
    assert!(
        canceller.join().unwrap(),
        "strong cancel of a writing request"
    );
    let c = q.wait(id, None).unwrap();
    // The write finished before cancel returned; the request still ends
    // Cancelled, never Complete.
    assert_eq!(c.outcome, Outcome::Cancelled);
    assert_eq!(c.buffer.unwrap(), vec![0xAB; 128]);
}

#[test]
fn weak_cancel_while_writing_suppresses_the_callback_only() {
    let (q, gate) = gate_queue(GateAt::InsideWrite);
    let calls = Arc::new(AtomicUsize::new(0));
    let c2 = calls.clone();
    let id = q
        .enqueue(memory_request(16).on_complete(move |_| {
            c2.fetch_add(1, Ordering::SeqCst);
        }))
        .unwrap();
    q.submit();
    assert_eq!(gate.entered.recv().unwrap(), id);
    assert!(q.try_cancel(id), "live request: weak cancel accepted");
    gate.release.send(()).unwrap();
    q.wait_all(None).unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    let s = q.stats();
    assert_eq!((s.completed, s.cancelled), (1, 0), "it completed, silently");
}

#[test]
fn cancel_completed_and_unknown_return_false() {
    let dir = TempDir::new("cancel");
    let data = pattern(4096, 3);
    let file = FileRef::open(dir.file("a", &data)).unwrap();
    let q = pread_queue(128, 2);
    let id = q
        .enqueue(Request::read(&file, 0, 4096).into_buffer(vec![0; 4096]))
        .unwrap();
    q.submit();
    while q.poll(id) != Some(Status::Complete) {
        std::thread::yield_now();
    }
    assert!(!q.cancel_request(id), "completed (not yet collected)");
    assert!(!q.try_cancel(id));
    let c = q.wait(id, None).unwrap();
    assert_eq!(c.buffer.unwrap(), data);
    assert!(!q.cancel_request(id), "completed and collected");
    assert!(!q.cancel_request(RequestId::from_raw(0)), "never issued");
    assert!(
        !q.cancel_request(RequestId::new(5000, 3)),
        "index out of range"
    );
    assert!(!q.cancel_request(RequestId::new(id.index(), id.generation() + 1)));
    assert_eq!(q.stats().cancelled, 0);
}

#[test]
fn callback_never_invoked_for_cancelled_requests() {
    let (q, _gate) = gate_queue(GateAt::BeforeWrite);
    let calls = Arc::new(AtomicUsize::new(0));
    let mut ids = Vec::new();
    for _ in 0..50 {
        let c = calls.clone();
        ids.push(
            q.enqueue(memory_request(8).on_complete(move |_| {
                c.fetch_add(1, Ordering::SeqCst);
            }))
            .unwrap(),
        );
    }
    for id in &ids {
        assert!(q.cancel_request(*id));
    }
    q.wait_all(None).unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    assert_eq!(q.stats().cancelled, 50);
    assert_eq!(
        q.info().empty_slots,
        128,
        "slots of cancelled callback requests freed"
    );
}

#[test]
fn cancel_all_covers_pending_submitted_and_in_flight() {
    let (q, gate) = gate_queue(GateAt::InsideWrite);
    let q = Arc::new(q);
    let first = q.enqueue(memory_request(8)).unwrap();
    q.submit();
    assert_eq!(gate.entered.recv().unwrap(), first);
    let submitted: Vec<_> = (0..5)
        .map(|_| q.enqueue(memory_request(8)).unwrap())
        .collect();
    q.submit();
    let pending: Vec<_> = (0..5)
        .map(|_| q.enqueue(memory_request(8)).unwrap())
        .collect();
    let canceller = {
        let q = q.clone();
        std::thread::spawn(move || q.cancel_all())
    };
    std::thread::sleep(Duration::from_millis(50));
    gate.release.send(()).unwrap();
    assert_eq!(canceller.join().unwrap(), 11);
    for id in std::iter::once(first).chain(submitted).chain(pending) {
        assert_eq!(q.wait(id, None).unwrap().outcome, Outcome::Cancelled);
    }
    assert_eq!(q.stats().cancelled, 11);
    assert_eq!(q.stats().completed, 0);
}

#[test]
fn cancel_all_pending_leaves_in_flight_alone() {
    let (q, gate) = gate_queue(GateAt::InsideWrite);
    let first = q.enqueue(memory_request(8)).unwrap();
    q.submit();
    assert_eq!(gate.entered.recv().unwrap(), first);
    let rest: Vec<_> = (0..4)
        .map(|_| q.enqueue(memory_request(8)).unwrap())
        .collect();
    assert_eq!(q.cancel_all_pending(), 4);
    gate.release.send(()).unwrap();
    assert_eq!(q.wait(first, None).unwrap().result(), Ok(8));
    for id in rest {
        assert_eq!(q.wait(id, None).unwrap().outcome, Outcome::Cancelled);
    }
}

#[test]
fn cancel_by_tag_matches_mask_and_value() {
    let (q, _gate) = gate_queue(GateAt::BeforeWrite);
    let ids: Vec<(u64, RequestId)> = (0..16u64)
        .map(|t| (t, q.enqueue(memory_request(8).tag(t << 8 | 0x5)).unwrap()))
        .collect();
    // Tags whose bits 8..=9 are 0b10: t = 2, 6, 10, 14.
    assert_eq!(q.cancel_by_tag(0x300, 0x200), 4);
    for (t, id) in &ids {
        let want = if t & 3 == 2 {
            Some(Status::Cancelled)
        } else {
            Some(Status::Pending)
        };
        assert_eq!(q.poll(*id), want, "tag {t}");
    }
    assert_eq!(q.try_cancel_by_tag(0xFF, 0x5), 12);
    assert_eq!(q.cancel_by_tag(0, 0), 0, "nothing live is left");
}

/// The seed's race: many iterations of completion vs cancel on the pread
/// backend. Each request ends exactly once; a callback runs at most once and
/// never for a request whose strong cancel returned true.
#[test]
fn cancel_vs_completion_race_many_iterations() {
    let dir = TempDir::new("race");
    let data = pattern(1 << 16, 9);
    let file = FileRef::open(dir.file("r", &data)).unwrap();
    let q = Arc::new(pread_queue(1024, 2));
    const ROUNDS: usize = 200;
    const PER: usize = 100;
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut cancelled_total = 0u64;
    for round in 0..ROUNDS {
        let calls: Arc<Vec<AtomicU8>> = Arc::new((0..PER).map(|_| AtomicU8::new(0)).collect());
        let ids: Vec<RequestId> = (0..PER)
            .map(|i| {
                let calls = calls.clone();
                let off = rng.below((1 << 16) - 256);
                let expect = data[off as usize..off as usize + 256].to_vec();
                q.enqueue(
                    Request::read(&file, off, 256)
                        .into_buffer(vec![0; 256])
                        .on_complete(move |c| {
                            assert_eq!(c.buffer.as_deref(), Some(&expect[..]));
                            calls[i].fetch_add(1, Ordering::SeqCst);
                        }),
                )
                .unwrap()
            })
            .collect();
        // Cancel a random half, in random order; the other half always
        // completes, so both outcomes occur in every round.
        let order: Vec<usize> = {
            let mut v: Vec<usize> = (0..PER).collect();
            for i in (1..PER).rev() {
                v.swap(i, rng.below(i as u64 + 1) as usize);
            }
            v.truncate(PER / 2);
            v
        };
        let canceller = {
            let (q, ids) = (q.clone(), ids.clone());
            std::thread::spawn(move || {
                order
                    .into_iter()
                    .map(|i| (i, q.cancel_request(ids[i])))
                    .collect::<Vec<_>>()
            })
        };
        q.submit();
        let results = canceller.join().unwrap();
        q.wait_all(None).unwrap();
        let mut cancelled = 0;
        let mut tried = [false; PER];
        for &(i, _) in &results {
            tried[i] = true;
        }
        for i in (0..PER).filter(|&i| !tried[i]) {
            assert_eq!(
                calls[i].load(Ordering::SeqCst),
                1,
                "round {round}: lost completion"
            );
        }
        for (i, was_cancelled) in results {
            let n = calls[i].load(Ordering::SeqCst);
            assert!(n <= 1, "round {round}: callback ran {n} times");
            if was_cancelled {
                assert_eq!(n, 0, "round {round}: callback ran for a cancelled request");
                cancelled += 1;
            } else {
                assert_eq!(n, 1, "round {round}: lost completion");
            }
        }
        cancelled_total += cancelled;
        let s = q.stats();
        assert_eq!(s.completed + s.cancelled, ((round + 1) * PER) as u64);
        assert_eq!(
            s.cancelled, cancelled_total,
            "round {round}: a cancel miscounted"
        );
    }
    let s = q.stats();
    assert_eq!(s.failed, 0);
    assert!(
        s.cancelled > 0 && s.completed > 0,
        "both outcomes exercised: {s:?}"
    );
}

#[test]
fn cancel_from_inside_a_callback() {
    let (q, gate) = gate_queue(GateAt::BeforeWrite);
    let q = Arc::new(q);
    let victim_slot = Arc::new(std::sync::Mutex::new(None));
    let result = Arc::new(std::sync::Mutex::new(None));
    let (inner, vs, res) = (q.clone(), victim_slot.clone(), result.clone());
    let first = q
        .enqueue(memory_request(8).on_complete(move |_| {
            let victim: RequestId = vs.lock().unwrap().expect("victim enqueued");
            // Not started: cancellable from a callback without waiting.
            *res.lock().unwrap() = Some(inner.cancel_request(victim));
        }))
        .unwrap();
    q.submit();
    assert_eq!(gate.entered.recv().unwrap(), first);
    let victim = q.enqueue(memory_request(8)).unwrap();
    *victim_slot.lock().unwrap() = Some(victim);
    gate.release.send(()).unwrap();
    while result.lock().unwrap().is_none() {
        std::thread::yield_now();
    }
    assert_eq!(*result.lock().unwrap(), Some(true));
    assert_eq!(q.wait(victim, None).unwrap().outcome, Outcome::Cancelled);
}
