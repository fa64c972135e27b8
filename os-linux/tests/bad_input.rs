//! Bad input gets a precise error and the queue keeps working: offset or
//! size past the end of the file, zero size, a destination too small, a
//! descriptor that cannot be read (write-only, a directory), a closed file,
//! a full queue, a GPU destination on a queue without a GPU executor, names
//! too long. After each, a good request on the same queue still succeeds.

mod common;

use common::{pattern, pread_queue, TempDir};
use ds_core::DescError;
use ds_os_linux::{EnqueueError, FileRef, Outcome, Queue, Request, RequestError, RequestErrorKind};
use std::fs::OpenOptions;
use std::sync::Arc;

struct Fixture {
    _dir: TempDir,
    data: Vec<u8>,
    file: FileRef,
    q: Queue,
}

fn fixture() -> Fixture {
    let dir = TempDir::new("bad");
    let data = pattern(8192, 11);
    let file = FileRef::open(dir.file("f", &data)).unwrap();
    Fixture {
        _dir: dir,
        data,
        file,
        q: pread_queue(128, 2),
    }
}

/// Runs `req` to its end and returns its error.
fn failure(q: &Queue, req: Request) -> RequestError {
    let id = q.enqueue(req).unwrap();
    match q.wait(id, None).unwrap().outcome {
        Outcome::Failed(e) => e,
        other => panic!("expected a failure, got {other:?}"),
    }
}

/// The queue still serves a good request.
fn still_works(f: &Fixture) {
    let id =
        f.q.enqueue(Request::read(&f.file, 100, 50).into_buffer(vec![0; 50]))
            .unwrap();
    let c = f.q.wait(id, None).unwrap();
    assert_eq!(c.buffer.unwrap(), &f.data[100..150]);
}

#[test]
fn offset_past_end_of_file() {
    let f = fixture();
    let e = failure(
        &f.q,
        Request::read(&f.file, 10_000, 16)
            .into_buffer(vec![0; 16])
            .name("far"),
    );
    assert_eq!(
        e.kind,
        RequestErrorKind::EndOfFile {
            available: 0,
            file_len: Some(8192)
        }
    );
    assert_eq!(e.offset, 10_000);
    assert_eq!(e.size, 16);
    assert_eq!(e.name.as_str(), "far");
    let msg = e.to_string();
    assert!(
        msg.contains("'far'") && msg.contains("offset 10000") && msg.contains("8192 bytes"),
        "{msg}"
    );
    still_works(&f);
}

#[test]
fn size_past_end_of_file() {
    let f = fixture();
    let e = failure(
        &f.q,
        Request::read(&f.file, 8000, 500).into_buffer(vec![0; 500]),
    );
    assert_eq!(
        e.kind,
        RequestErrorKind::EndOfFile {
            available: 192,
            file_len: Some(8192)
        }
    );
    assert!(e.to_string().contains("only 192 bytes"));
    still_works(&f);
}

#[test]
fn zero_size_and_too_small_destination_are_refused_at_enqueue() {
    let f = fixture();
    let r =
        f.q.enqueue(Request::read(&f.file, 0, 0).into_buffer(vec![0; 8]))
            .unwrap_err();
    assert_eq!(r.error, EnqueueError::Invalid(DescError::ZeroSize));
    let r =
        f.q.enqueue(Request::read(&f.file, 0, 8).into_buffer(Vec::new()))
            .unwrap_err();
    assert_eq!(
        r.error,
        EnqueueError::Invalid(DescError::ZeroSize),
        "empty destination"
    );
    let r =
        f.q.enqueue(Request::read(&f.file, 0, 100).into_buffer(vec![0; 99]))
            .unwrap_err();
    assert_eq!(
        r.error,
        EnqueueError::Invalid(DescError::DestinationTooSmall {
            needed: 100,
            available: 99
        })
    );
    assert_eq!(r.request.name_str(), "");
    assert!(r.to_string().contains("destination too small"), "{r}");
    let r =
        f.q.enqueue(Request::read(&f.file, u64::MAX - 4, 8).into_buffer(vec![0; 8]))
            .unwrap_err();
    assert!(matches!(
        r.error,
        EnqueueError::Invalid(DescError::OffsetOverflow { .. })
    ));
    let r = f.q.enqueue(Request::read(&f.file, 0, 8)).unwrap_err();
    assert_eq!(r.error, EnqueueError::MissingDestination);
    let long = "n".repeat(65);
    let r =
        f.q.enqueue(
            Request::read(&f.file, 0, 8)
                .into_buffer(vec![0; 8])
                .name(&long),
        )
        .unwrap_err();
    assert_eq!(
        r.error,
        EnqueueError::Invalid(DescError::NameTooLong { len: 65, max: 64 })
    );
    assert_eq!(f.q.stats().enqueued, 0, "refused requests take no slot");
    assert_eq!(f.q.info().empty_slots, 128);
    still_works(&f);
}

#[test]
fn unreadable_descriptors_fail_with_the_errno() {
    let f = fixture();
    let path = f._dir.path().join("f");
    let wronly = FileRef::from_fd(
        OpenOptions::new().write(true).open(&path).unwrap().into(),
        Some(&path),
    );
    let e = failure(&f.q, Request::read(&wronly, 0, 8).into_buffer(vec![0; 8]));
    assert_eq!(
        e.kind,
        RequestErrorKind::BadHandle {
            call: "pread",
            errno: 9
        }
    );
    assert_eq!(
        e.file.as_ref().unwrap().path.as_deref(),
        Some(path.as_path())
    );
    assert!(e.to_string().contains("Bad file descriptor"), "{e}");
    let dir = FileRef::open(f._dir.path()).unwrap();
    let e = failure(&f.q, Request::read(&dir, 0, 8).into_buffer(vec![0; 8]));
    assert_eq!(
        e.kind,
        RequestErrorKind::Io {
            call: "pread",
            errno: 21
        },
        "EISDIR"
    );
    let rdonly = FileRef::open(&path).unwrap();
    let e = failure(&f.q, Request::write(&rdonly, 0, Arc::from(&b"x"[..])));
    assert_eq!(
        e.kind,
        RequestErrorKind::BadHandle {
            call: "pwrite",
            errno: 9
        }
    );
    still_works(&f);
}

#[test]
fn closed_files_are_refused_and_fail_cleanly() {
    let f = fixture();
    let path = f._dir.path().join("f");
    let other = FileRef::open(&path).unwrap();
    // Enqueued while open, closed before it runs: fails, not a stale read.
    let id =
        f.q.enqueue(Request::read(&other, 0, 8).into_buffer(vec![0; 8]))
            .unwrap();
    other.close();
    let c = f.q.wait(id, None).unwrap();
    match c.outcome {
        Outcome::Failed(e) => assert_eq!(e.kind, RequestErrorKind::FileClosed),
        o => panic!("{o:?}"),
    }
    let r =
        f.q.enqueue(Request::read(&other, 0, 8).into_buffer(vec![0; 8]))
            .unwrap_err();
    assert!(matches!(r.error, EnqueueError::FileClosed { .. }));
    assert!(r.to_string().contains("was closed"));
    drop(r);
    assert_eq!(other.handle_count(), 1, "nothing holds the closed file");
    still_works(&f);
}

#[test]
fn gpu_destination_without_gpu_executor() {
    let f = fixture();
    let r =
        f.q.enqueue(Request::read(&f.file, 0, 64).into_gpu_buffer(0xBEEF, 0, 64))
            .unwrap_err();
    assert_eq!(
        r.error,
        EnqueueError::NoExecutor {
            destination: "GPU buffer"
        }
    );
    assert!(
        r.to_string().contains("no GPU backend on this queue"),
        "{r}"
    );
    still_works(&f);
}

#[test]
fn full_queue_keeps_working_after_draining() {
    let f = fixture();
    let mut ids = Vec::new();
    loop {
        match f
            .q
            .enqueue(Request::read(&f.file, 0, 16).into_buffer(vec![0; 16]))
        {
            Ok(id) => ids.push(id),
            Err(r) => {
                assert_eq!(r.error, EnqueueError::QueueFull { capacity: 128 });
                break;
            }
        }
    }
    assert_eq!(ids.len(), 128);
    for id in ids {
        assert_eq!(f.q.wait(id, None).unwrap().result(), Ok(16));
    }
    still_works(&f);
}

#[test]
#[allow(unsafe_code)]
fn null_raw_pointers_are_refused() {
    let f = fixture();
    // SAFETY: null pointers are never dereferenced: the queue rejects them.
    let r =
        f.q.enqueue(unsafe { Request::read(&f.file, 0, 8).into_raw(std::ptr::null_mut(), 8) })
            .unwrap_err();
    assert_eq!(r.error, EnqueueError::Invalid(DescError::NullAddress));
    // SAFETY: as above.
    let r = f
        .q
        .enqueue(unsafe { Request::read_raw_memory(std::ptr::null(), 8) }.into_buffer(vec![0; 8]))
        .unwrap_err();
    assert_eq!(r.error, EnqueueError::Invalid(DescError::NullAddress));
    still_works(&f);
}
