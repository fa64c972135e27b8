//! The queue's everyday behaviour on the pread backend: file, memory and
//! write requests land the right bytes; owned buffers come back; callbacks,
//! status entries, fences and markers respect enqueue order; priorities;
//! automatic submit at half capacity; full queue and the blocking enqueue;
//! stats; explicit shutdown.

mod common;

use common::{pattern, pread_queue, GateAt, GateDriver, TempDir};
use ds_core::DestinationKinds;
use ds_os_linux::{
    Backend, EnqueueError, EntryStatus, Fence, FileRef, Outcome, Priority, QueueBuilder, Request,
    RequestErrorKind, Status, StatusArray, WaitError,
};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[test]
fn file_reads_land_the_right_bytes() {
    let dir = TempDir::new("basic");
    let data = pattern(1 << 20, 7);
    let file = FileRef::open(dir.file("f", &data)).unwrap();
    let q = pread_queue(256, 2);
    let ranges = [
        (0u64, 4096u64),
        (1, 1),
        (4095, 8193),
        ((1 << 20) - 10, 10),
        (12345, 65536),
    ];
    let ids: Vec<_> = ranges
        .iter()
        .map(|&(off, len)| {
            q.enqueue(Request::read(&file, off, len).into_buffer(vec![0; len as usize + 3]))
                .unwrap()
        })
        .collect();
    for (&(off, len), id) in ranges.iter().zip(ids) {
        let c = q.wait(id, None).unwrap();
        assert_eq!(c.result(), Ok(len));
        let buf = c.buffer.unwrap();
        assert_eq!(
            &buf[..len as usize],
            &data[off as usize..(off + len) as usize]
        );
        assert_eq!(
            &buf[len as usize..],
            &[0, 0, 0],
            "bytes past the request untouched"
        );
    }
    let s = q.stats();
    assert_eq!(s.completed, 5);
    assert_eq!(s.bytes, ranges.iter().map(|r| r.1).sum::<u64>());
    assert!(s.latency_p50 > Duration::ZERO && s.latency_p99 >= s.latency_p50);
}

#[test]
fn memory_reads_and_file_writes() {
    let dir = TempDir::new("write");
    let path = dir.path().join("out");
    let file = FileRef::create(&path).unwrap();
    let q = pread_queue(128, 2);
    let a: Arc<[u8]> = Arc::from(pattern(5000, 1));
    let b: Arc<[u8]> = Arc::from(pattern(3000, 2));
    let w1 = q.enqueue(Request::write(&file, 0, a.clone())).unwrap();
    let w2 = q.enqueue(Request::write(&file, 5000, b.clone())).unwrap();
    assert_eq!(q.wait(w1, None).unwrap().result(), Ok(5000));
    assert_eq!(q.wait(w2, None).unwrap().result(), Ok(3000));
    let on_disk = std::fs::read(&path).unwrap();
    assert_eq!(&on_disk[..5000], &a[..]);
    assert_eq!(&on_disk[5000..], &b[..]);
    let m = q
        .enqueue(Request::read_memory(b.clone()).into_buffer(vec![0; 3000]))
        .unwrap();
    assert_eq!(q.wait(m, None).unwrap().buffer.unwrap(), &b[..]);
    // Read back what was written, through the queue.
    let r = q
        .enqueue(Request::read(&file, 4990, 20).into_buffer(vec![0; 20]))
        .unwrap();
    assert_eq!(
        q.wait(r, None).unwrap().buffer.unwrap(),
        &on_disk[4990..5010]
    );
}

#[test]
#[allow(unsafe_code)]
fn raw_pointer_sources_and_destinations() {
    let dir = TempDir::new("raw");
    let path = dir.path().join("raw");
    let file = FileRef::create(&path).unwrap();
    let q = pread_queue(128, 2);
    let src = pattern(4096, 12);
    let mut dst = vec![0u8; 4096];
    // SAFETY: `src` lives until `wait_all` below has seen the request end,
    // and nothing writes it meanwhile.
    let w = unsafe { Request::write_raw(&file, 100, src.as_ptr(), src.len()) }.detached();
    // SAFETY: as above for `src`.
    let r = unsafe { Request::read_raw_memory(src.as_ptr(), src.len()) };
    // SAFETY: `dst` lives until `wait_all` below has seen the request end,
    // and nothing else reads or writes it meanwhile.
    let r = unsafe { r.into_raw(dst.as_mut_ptr(), dst.len()) }.detached();
    q.enqueue(w).unwrap();
    q.enqueue(r).unwrap();
    q.wait_all(None).unwrap();
    assert_eq!(dst, src);
    assert_eq!(&std::fs::read(&path).unwrap()[100..], &src[..]);
    assert_eq!(q.stats().completed, 2);
}

#[test]
fn callbacks_get_the_buffer_and_the_outcome() {
    let dir = TempDir::new("cb");
    let data = pattern(10_000, 3);
    let file = FileRef::open(dir.file("f", &data)).unwrap();
    let q = pread_queue(128, 2);
    let got = Arc::new(Mutex::new(Vec::new()));
    for i in 0..20u64 {
        let got = got.clone();
        q.enqueue(
            Request::read(&file, i * 100, 100)
                .into_buffer(vec![0; 100])
                .name(&format!("chunk {i}"))
                .tag(i)
                .on_complete(move |c| got.lock().unwrap().push(c)),
        )
        .unwrap();
    }
    q.wait_all(None).unwrap();
    let mut got = std::mem::take(&mut *got.lock().unwrap());
    got.sort_by_key(|c| c.tag);
    assert_eq!(got.len(), 20);
    for (i, c) in got.iter().enumerate() {
        assert_eq!(c.name.as_str(), format!("chunk {i}"));
        assert_eq!(c.outcome, Outcome::Complete { bytes: 100 });
        assert_eq!(c.buffer.as_deref(), Some(&data[i * 100..i * 100 + 100]));
    }
    assert_eq!(
        q.info().empty_slots,
        128,
        "callback requests free their slots"
    );
}

#[test]
fn status_entries_report_first_failure_since_previous_entry() {
    let dir = TempDir::new("status");
    let data = pattern(1000, 4);
    let file = FileRef::open(dir.file("f", &data)).unwrap();
    let q = pread_queue(128, 2);
    let status = StatusArray::new(3);
    assert_eq!(status.get(0), Some(EntryStatus::Idle));
    q.enqueue(
        Request::read(&file, 0, 100)
            .into_buffer(vec![0; 100])
            .detached(),
    )
    .unwrap();
    q.enqueue_status(&status, 0).unwrap();
    assert_eq!(status.get(0), Some(EntryStatus::Pending));
    // Two failures after entry 0: past the end of the file. The first in
    // enqueue order is reported by entry 1.
    q.enqueue(
        Request::read(&file, 990, 20)
            .into_buffer(vec![0; 20])
            .name("first bad")
            .detached(),
    )
    .unwrap();
    q.enqueue(
        Request::read(&file, 2000, 5)
            .into_buffer(vec![0; 5])
            .name("second bad")
            .detached(),
    )
    .unwrap();
    q.enqueue(
        Request::read(&file, 0, 10)
            .into_buffer(vec![0; 10])
            .detached(),
    )
    .unwrap();
    q.enqueue_status(&status, 1).unwrap();
    // A cancelled request is not a failure.
    let c = q
        .enqueue(
            Request::read(&file, 0, 10)
                .into_buffer(vec![0; 10])
                .detached(),
        )
        .unwrap();
    assert!(q.cancel_request(c));
    q.enqueue_status(&status, 2).unwrap();
    assert!(!status.is_complete(2), "not submitted yet");
    q.wait_all(None).unwrap();
    assert_eq!(status.get(0), Some(EntryStatus::Complete));
    match status.get(1) {
        Some(EntryStatus::Failed(e)) => {
            assert_eq!(e.name.as_str(), "first bad");
            assert!(matches!(
                e.kind,
                RequestErrorKind::EndOfFile {
                    available: 10,
                    file_len: Some(1000)
                }
            ));
        }
        other => panic!("entry 1: {other:?}"),
    }
    assert_eq!(status.get(2), Some(EntryStatus::Complete));
    assert!(status.is_complete(2));
    let rec = q.retrieve_error_record();
    assert_eq!(rec.failure_count, 2);
    assert_eq!(rec.first_failure.unwrap().name.as_str(), "first bad");
    assert_eq!(
        q.retrieve_error_record().failure_count,
        0,
        "record was taken"
    );
    assert!(matches!(
        q.enqueue_status(&status, 3),
        Err(EnqueueError::StatusIndex { index: 3, len: 3 })
    ));
}

#[test]
fn fences_and_markers_wait_for_everything_before_them() {
    let (driver, gate) = GateDriver::new(DestinationKinds::HOST_MEMORY, GateAt::BeforeWrite);
    let q = QueueBuilder::new()
        .capacity(128)
        .backend(Backend::None)
        .executor(Box::new(driver))
        .build()
        .unwrap();
    let fence = Fence::new(0);
    let marks = Arc::new(AtomicUsize::new(0));
    let src: Arc<[u8]> = Arc::from(pattern(16, 5));
    let a = q
        .enqueue(Request::read_memory(src.clone()).into_buffer(vec![0; 16]))
        .unwrap();
    q.enqueue_signal(&fence, 1).unwrap();
    let m = marks.clone();
    q.enqueue_marker(move || {
        m.fetch_add(1, Ordering::SeqCst);
    })
    .unwrap();
    let b = q
        .enqueue(Request::read_memory(src.clone()).into_buffer(vec![0; 16]))
        .unwrap();
    q.enqueue_signal(&fence, 2).unwrap();
    q.submit();
    assert_eq!(gate.entered.recv().unwrap(), a);
    assert!(
        !fence.wait(1, Some(Duration::from_millis(50))),
        "signalled before its request ended"
    );
    assert_eq!(marks.load(Ordering::SeqCst), 0);
    gate.release.send(()).unwrap();
    assert!(fence.wait(1, Some(Duration::from_secs(10))));
    assert_eq!(gate.entered.recv().unwrap(), b);
    assert_eq!(
        marks.load(Ordering::SeqCst),
        1,
        "marker ran once its epoch drained"
    );
    assert_eq!(fence.value(), 1);
    gate.release.send(()).unwrap();
    assert!(fence.wait(2, Some(Duration::from_secs(10))));
    assert_eq!(q.wait(a, None).unwrap().result(), Ok(16));
    assert_eq!(q.wait(b, None).unwrap().result(), Ok(16));
}

#[test]
fn priorities_are_served_most_urgent_first() {
    let (driver, gate) = GateDriver::new(DestinationKinds::HOST_MEMORY, GateAt::BeforeWrite);
    let q = QueueBuilder::new()
        .capacity(128)
        .backend(Backend::None)
        .executor(Box::new(driver))
        .build()
        .unwrap();
    let src: Arc<[u8]> = Arc::from(pattern(8, 6));
    let req = |p| {
        Request::read_memory(src.clone())
            .into_buffer(vec![0; 8])
            .priority(p)
    };
    let blocker = q.enqueue(req(Priority::Normal)).unwrap();
    q.submit();
    assert_eq!(gate.entered.recv().unwrap(), blocker);
    let low = q.enqueue(req(Priority::Low)).unwrap();
    let normal = q.enqueue(req(Priority::Normal)).unwrap();
    let realtime = q.enqueue(req(Priority::Realtime)).unwrap();
    let high = q.enqueue(req(Priority::High)).unwrap();
    q.submit();
    let mut order = Vec::new();
    for _ in 0..4 {
        gate.release.send(()).unwrap();
        order.push(gate.entered.recv().unwrap());
    }
    gate.release.send(()).unwrap();
    assert_eq!(order, vec![realtime, high, normal, low]);
    q.wait_all(None).unwrap();
}

#[test]
fn auto_submit_at_half_capacity_and_queue_full() {
    let (driver, gate) = GateDriver::new(DestinationKinds::HOST_MEMORY, GateAt::BeforeWrite);
    let q = QueueBuilder::new()
        .capacity(128)
        .backend(Backend::None)
        .executor(Box::new(driver))
        .build()
        .unwrap();
    let src: Arc<[u8]> = Arc::from(pattern(8, 6));
    let req = || Request::read_memory(src.clone()).into_buffer(vec![0; 8]);
    let mut ids = Vec::new();
    for i in 0..63 {
        ids.push(q.enqueue(req()).unwrap());
        assert_eq!(q.info().until_auto_submit, 64 - i - 1);
    }
    assert_eq!(q.poll(ids[0]), Some(Status::Pending));
    ids.push(q.enqueue(req()).unwrap());
    // The 64th enqueue submitted everything: the executor got the first.
    assert_eq!(gate.entered.recv().unwrap(), ids[0]);
    assert_eq!(q.poll(ids[63]), Some(Status::Submitted));
    while ids.len() < 128 {
        ids.push(q.enqueue(req()).unwrap());
    }
    assert_eq!(q.info().empty_slots, 0);
    let rejected = q.enqueue(req().name("one too many")).unwrap_err();
    assert_eq!(rejected.error, EnqueueError::QueueFull { capacity: 128 });
    assert_eq!(
        rejected.request.name_str(),
        "one too many",
        "request handed back"
    );
    assert!(rejected.to_string().contains("queue full"));
    // The blocking variant waits for a slot: free one from another thread.
    let timed_out = q
        .enqueue_blocking(req(), Some(Duration::from_millis(30)))
        .unwrap_err();
    assert_eq!(timed_out.error, EnqueueError::Timeout);
    let first = ids[0];
    std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(Duration::from_millis(30));
            gate.release.send(()).unwrap();
            q.wait(first, None).unwrap();
        });
        let id = q
            .enqueue_blocking(req(), Some(Duration::from_secs(20)))
            .unwrap();
        assert_eq!(id.index(), first.index(), "took the freed slot");
    });
    assert_eq!(q.cancel_all(), 128);
}

#[test]
fn wait_errors_are_precise() {
    let q = pread_queue(128, 1);
    let src: Arc<[u8]> = Arc::from(pattern(8, 6));
    let cb = q
        .enqueue(
            Request::read_memory(src.clone())
                .into_buffer(vec![0; 8])
                .on_complete(|_| {}),
        )
        .unwrap();
    assert_eq!(q.wait(cb, None).unwrap_err(), WaitError::Unknown(cb));
    let q = Arc::new(q);
    let inner = q.clone();
    let seen = Arc::new(Mutex::new(None));
    let s2 = seen.clone();
    q.enqueue(
        Request::read_memory(src)
            .into_buffer(vec![0; 8])
            .on_complete(move |_| {
                *s2.lock().unwrap() = Some(inner.wait_all(None));
            }),
    )
    .unwrap();
    q.wait_all(None).unwrap();
    assert_eq!(*seen.lock().unwrap(), Some(Err(WaitError::InCallback)));
}

#[test]
fn explicit_shutdown_refuses_new_work() {
    let q = pread_queue(128, 1);
    q.shutdown();
    let src: Arc<[u8]> = Arc::from(pattern(8, 6));
    let r = q
        .enqueue(Request::read_memory(src).into_buffer(vec![0; 8]))
        .unwrap_err();
    assert_eq!(r.error, EnqueueError::ShutDown);
    q.shutdown();
}
