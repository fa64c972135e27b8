//! A game-style package streamed through the whole runtime: assets made by
//! `ds-gdeflate`'s encoder at several levels (and some raw), read by
//! `ds-os-linux`'s queue on the pread and io_uring backends and decoded there.
//!
//! What it proves, per backend: every request that was not cancelled
//! delivers exactly the original bytes; a tag cancel before submission
//! cancels exactly the tagged requests and is not a failure; a status entry
//! and a fence enqueued after the requests complete only after all of them;
//! one corrupt entry fails alone, with the decoder's tile context, and shows
//! up as the status entry's and the error record's first failure while the
//! other requests still succeed.

use std::path::Path;
use std::time::Duration;

use ds_os_linux::{
    Backend, EntryStatus, Fence, FileRef, Outcome, PreadConfig, Queue, Request, RequestErrorKind,
    RequestId, StatusArray,
};
use ds_tests::{write_package, Entry, Storage};

const ASSETS: usize = 48;
const WAIT: Option<Duration> = Some(Duration::from_secs(120));
/// Requests whose tag has these bits set are cancelled before submission.
const CANCEL_MASK: u64 = 0b111;
const CANCEL_VALUE: u64 = 0b101;

fn backends() -> Vec<(&'static str, Backend)> {
    vec![
        ("pread", Backend::Pread(PreadConfig::default())),
        (
            "io_uring",
            Backend::IoUring(ds_os_linux::uring::UringConfig::default()),
        ),
    ]
}

fn request(file: &FileRef, index: usize, entry: &Entry) -> Request {
    let request = Request::read(file, entry.offset, entry.stored_size)
        .into_buffer(vec![0; entry.original.len()])
        .tag(index as u64)
        .name(&format!("asset{index}"));
    match entry.storage {
        Storage::Raw => request,
        Storage::GDeflate(_) => request.gdeflate(entry.original.len() as u64),
    }
}

/// Enqueues every entry, then a status entry and a fence signal, cancels the
/// tagged requests, submits, and waits for the fence.
fn stream(queue: &Queue, path: &Path, entries: &[Entry]) -> (Vec<RequestId>, StatusArray) {
    let file = FileRef::open(path).expect("open package");
    let ids: Vec<RequestId> = entries
        .iter()
        .enumerate()
        .map(|(i, e)| queue.enqueue(request(&file, i, e)).expect("enqueue"))
        .collect();
    let status = StatusArray::new(1);
    let fence = Fence::new(0);
    queue.enqueue_status(&status, 0).expect("enqueue status");
    queue.enqueue_signal(&fence, 1).expect("enqueue signal");
    let tagged = (0..entries.len() as u64)
        .filter(|t| t & CANCEL_MASK == CANCEL_VALUE)
        .count();
    assert_eq!(queue.cancel_by_tag(CANCEL_MASK, CANCEL_VALUE), tagged);
    queue.submit();
    assert!(fence.wait(1, WAIT), "the fence was not signalled");
    (ids, status)
}

#[test]
fn package_streams_back_on_every_backend() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("assets.pak");
    let entries = write_package(&path, ASSETS, 0x5EED).expect("package");
    assert!(entries.iter().any(|e| e.storage == Storage::Raw));
    assert!(entries
        .iter()
        .any(|e| matches!(e.storage, Storage::GDeflate(12))));
    for (name, backend) in backends() {
        let queue = Queue::builder()
            .capacity(256)
            .name(name)
            .backend(backend)
            .build()
            .expect("queue");
        let (ids, status) = stream(&queue, &path, &entries);
        assert_eq!(
            status.get(0),
            Some(EntryStatus::Complete),
            "{name}: cancellation is not a failure"
        );
        let mut delivered = 0u64;
        for (i, (id, entry)) in ids.iter().zip(&entries).enumerate() {
            let done = queue.wait(*id, WAIT).expect("wait");
            if i as u64 & CANCEL_MASK == CANCEL_VALUE {
                assert_eq!(done.outcome, Outcome::Cancelled, "{name}: asset{i}");
                continue;
            }
            let len = entry.original.len() as u64;
            assert_eq!(
                done.outcome,
                Outcome::Complete { bytes: len },
                "{name}: asset{i}"
            );
            assert!(
                done.buffer.as_deref() == Some(&entry.original[..]),
                "{name}: asset{i} ({:?}, {len} bytes) differs from its original",
                entry.storage
            );
            delivered += len;
        }
        let stats = queue.stats();
        assert_eq!(stats.failed, 0, "{name}");
        assert_eq!(stats.bytes, delivered, "{name}");
        assert_eq!(queue.retrieve_error_record().failure_count, 0, "{name}");
    }
}

#[test]
fn a_corrupt_entry_fails_alone_with_its_tile() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("assets.pak");
    let entries = write_package(&path, ASSETS, 0xBAD).expect("package");
    // Asset 1 is a full one-tile GDeflate stream; make its first block's
    // type the reserved BTYPE 3 (bits 1-2 of the tile's first payload byte).
    let victim = 1;
    assert!(matches!(entries[victim].storage, Storage::GDeflate(_)));
    let mut bytes = std::fs::read(&path).expect("read package");
    let payload = entries[victim].offset as usize + 8 + 4;
    bytes[payload] |= 0b110;
    std::fs::write(&path, &bytes).expect("write package");

    for (name, backend) in backends() {
        let queue = Queue::builder()
            .capacity(256)
            .backend(backend)
            .build()
            .expect("queue");
        let (ids, status) = stream(&queue, &path, &entries);
        for (i, (id, entry)) in ids.iter().zip(&entries).enumerate() {
            let done = queue.wait(*id, WAIT).expect("wait");
            match (i, done.outcome) {
                (_, Outcome::Cancelled) => assert_eq!(i as u64 & CANCEL_MASK, CANCEL_VALUE),
                (i, Outcome::Failed(e)) if i == victim => match &e.kind {
                    RequestErrorKind::Corrupt { message } => {
                        assert!(message.contains("tile 0"), "{name}: {message}")
                    }
                    other => panic!("{name}: expected a corrupt-stream error, got {other:?}"),
                },
                (i, outcome) => {
                    assert_eq!(
                        outcome,
                        Outcome::Complete {
                            bytes: entry.original.len() as u64
                        },
                        "{name}: asset{i}"
                    );
                    assert!(done.buffer.as_deref() == Some(&entry.original[..]));
                }
            }
        }
        match status.get(0) {
            Some(EntryStatus::Failed(e)) => assert_eq!(e.id, ids[victim], "{name}"),
            other => panic!("{name}: status entry {other:?}"),
        }
        let record = queue.retrieve_error_record();
        assert_eq!(record.failure_count, 1, "{name}");
        assert_eq!(record.first_failure.map(|e| e.id), Some(ids[victim]));
    }
}
