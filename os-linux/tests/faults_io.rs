//! Faults and bad input on both I/O drivers (pread and io_uring): a file
//! truncated after enqueue, a pipe, a directory, a descriptor without read
//! access, a closed file, a real EIO (`/proc/self/mem` at an unmapped
//! address), and shutdown with thousands of requests in flight. Every
//! request ends exactly once with a precise error, destinations of failed
//! requests are not reported as data, and the queue keeps serving others.

mod common;

use common::{pattern, TempDir};
use ds_os_linux::{
    Backend, FileRef, Outcome, PreadConfig, Queue, QueueBuilder, Request, RequestError,
    RequestErrorKind, UringConfig,
};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

fn queues(capacity: usize) -> Vec<(&'static str, Queue)> {
    let pread = QueueBuilder::new()
        .capacity(capacity)
        .backend(Backend::Pread(PreadConfig { threads: 2 }))
        .build()
        .unwrap();
    let uring = QueueBuilder::new()
        .capacity(capacity)
        .backend(Backend::IoUring(UringConfig {
            rings: 2,
            ..UringConfig::default()
        }))
        .build()
        .unwrap();
    assert_eq!(uring.info().executors, vec!["io_uring"]);
    vec![("pread", pread), ("io_uring", uring)]
}

fn failure(q: &Queue, req: Request) -> RequestError {
    let id = q.enqueue(req).unwrap();
    match q.wait(id, None).unwrap().outcome {
        Outcome::Failed(e) => e,
        o => panic!("expected a failure, got {o:?}"),
    }
}

/// The queue still reads a good file correctly.
fn still_serves(q: &Queue, file: &FileRef, data: &[u8]) {
    let id = q
        .enqueue(Request::read(file, 100, 5000).into_buffer(vec![0; 5000]))
        .unwrap();
    let c = q.wait(id, None).unwrap();
    assert_eq!(c.result(), Ok(5000));
    assert!(c.buffer.unwrap()[..] == data[100..5100]);
}

#[test]
fn file_truncated_after_enqueue() {
    let dir = TempDir::new("fault-trunc");
    let data = pattern(1 << 20, 4);
    let good = FileRef::open(dir.file("good", &data)).unwrap();
    for (name, q) in queues(256) {
        let path = dir.file(&format!("t-{name}"), &data);
        let file = FileRef::open(&path).unwrap();
        let ids: Vec<_> = [(0u64, 4096u64), (500_000, 100_000), (900_000, 200_000)]
            .iter()
            .map(|&(o, n)| {
                q.enqueue(Request::read(&file, o, n).into_buffer(vec![0; n as usize]))
                    .unwrap()
            })
            .collect();
        // Cut the file to 550,000 bytes before the requests run.
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(550_000)
            .unwrap();
        q.submit();
        let mut outcomes: Vec<_> = ids
            .into_iter()
            .map(|id| q.wait(id, None).unwrap())
            .collect();
        assert_eq!(outcomes[0].result(), Ok(4096), "{name}");
        for (c, available) in outcomes.drain(1..).zip([50_000u64, 0]) {
            match c.outcome {
                Outcome::Failed(e) => {
                    assert_eq!(
                        e.kind,
                        RequestErrorKind::EndOfFile {
                            available,
                            file_len: Some(550_000)
                        },
                        "{name}"
                    );
                    assert!(e.to_string().contains(&path.display().to_string()));
                }
                o => panic!("{name}: {o:?}"),
            }
        }
        still_serves(&q, &good, &data);
    }
}

#[test]
fn pipes_directories_and_unreadable_descriptors() {
    let dir = TempDir::new("fault-kinds");
    let data = pattern(1 << 16, 5);
    let good = FileRef::open(dir.file("good", &data)).unwrap();
    let wo_path = dir.file("write-only", &data);
    for (name, q) in queues(256) {
        // A directory: EISDIR from both drivers.
        let d = FileRef::open(dir.path()).unwrap();
        let e = failure(&q, Request::read(&d, 0, 16).into_buffer(vec![0; 16]));
        assert!(
            matches!(e.kind, RequestErrorKind::Io { errno, .. } if errno == libc::EISDIR),
            "{name}: {e}"
        );
        // A write-only descriptor: EBADF, reported as a bad handle.
        let wo = std::fs::OpenOptions::new()
            .write(true)
            .open(&wo_path)
            .unwrap();
        let wo = FileRef::from_fd(wo.into(), Some(&wo_path));
        let e = failure(&q, Request::read(&wo, 0, 16).into_buffer(vec![0; 16]));
        assert!(
            matches!(e.kind, RequestErrorKind::BadHandle { errno, .. } if errno == libc::EBADF),
            "{name}: {e}"
        );
        // A pipe holding 5 bytes whose writer is gone: pread refuses
        // pipes (ESPIPE); io_uring reads the 5 bytes and then hits the end.
        let (r, w) = rustix::pipe::pipe().unwrap();
        rustix::io::write(&w, b"hello").unwrap();
        drop(w);
        let p = FileRef::from_fd(r, None);
        let e = failure(&q, Request::read(&p, 0, 64).into_buffer(vec![0; 64]));
        match name {
            "pread" => assert_eq!(
                e.kind,
                RequestErrorKind::Io {
                    call: "pread",
                    errno: libc::ESPIPE
                }
            ),
            _ => assert!(
                matches!(e.kind, RequestErrorKind::EndOfFile { available: 5, .. }),
                "{name}: {e}"
            ),
        }
        // A file closed after enqueue: FileClosed, not a stale read.
        let c = FileRef::open(dir.path().join("good")).unwrap();
        let id = q
            .enqueue(Request::read(&c, 0, 16).into_buffer(vec![0; 16]))
            .unwrap();
        c.close();
        match q.wait(id, None).unwrap().outcome {
            Outcome::Failed(e) => assert_eq!(e.kind, RequestErrorKind::FileClosed, "{name}"),
            o => panic!("{name}: {o:?}"),
        }
        still_serves(&q, &good, &data);
    }
}

#[test]
fn real_eio_from_proc_self_mem() {
    let data = pattern(1 << 16, 6);
    let dir = TempDir::new("fault-eio");
    let good = FileRef::open(dir.file("good", &data)).unwrap();
    for (name, q) in queues(256) {
        // Address 0 is never mapped: reading it through /proc/self/mem is EIO.
        let mem = FileRef::open("/proc/self/mem").unwrap();
        let e = failure(&q, Request::read(&mem, 0, 4096).into_buffer(vec![0; 4096]));
        assert!(
            matches!(e.kind, RequestErrorKind::Io { errno, .. } if errno == libc::EIO),
            "{name}: {e}"
        );
        assert!(e.to_string().contains("/proc/self/mem"), "{e}");
        still_serves(&q, &good, &data);
    }
}

#[test]
fn shutdown_with_thousands_in_flight() {
    let dir = TempDir::new("fault-shutdown");
    let data = pattern(4 << 20, 8);
    let file = FileRef::open(dir.file("data", &data)).unwrap();
    for (name, q) in queues(8192) {
        let ends: Arc<Mutex<HashMap<u64, usize>>> = Arc::default();
        let dropped = Arc::new(AtomicUsize::new(0));
        // Pipes whose reads never get data (io_uring keeps them in the
        // kernel; pread fails them with ESPIPE) and plain file reads.
        let mut pipes = Vec::new();
        for _ in 0..8 {
            let (r, w) = rustix::pipe::pipe().unwrap();
            pipes.push((FileRef::from_fd(r, None), w));
        }
        let mut n = 0u64;
        for i in 0..6000u64 {
            let req = if i % 3 == 0 {
                Request::read(&pipes[(i % 8) as usize].0, 0, 512)
            } else {
                Request::read(&file, (i * 4096) % (4 << 20), 4096)
            };
            let (ends, guard) = (ends.clone(), DropCount(dropped.clone()));
            let req = req.into_buffer(vec![0; 4096]).on_complete(move |c| {
                let _g = guard;
                *ends.lock().unwrap().entry(c.id.to_raw()).or_default() += 1;
            });
            q.enqueue(req).unwrap();
            n += 1;
        }
        q.submit();
        std::thread::sleep(std::time::Duration::from_millis(50));
        let stats_before = q.stats();
        drop(q);
        let ends = ends.lock().unwrap();
        assert!(
            ends.values().all(|&k| k == 1),
            "{name}: a callback ran twice"
        );
        assert_eq!(
            dropped.load(Ordering::SeqCst) as u64,
            n,
            "{name}: every request's callback was run or dropped exactly once"
        );
        assert!(stats_before.enqueued == n, "{name}");
        for (f, _) in &pipes {
            assert_eq!(f.handle_count(), 1, "{name}: no request holds the pipe");
        }
        assert_eq!(file.handle_count(), 1, "{name}: no request holds the file");
    }
}

/// Counts drops of a request's callback (run or not).
struct DropCount(Arc<AtomicUsize>);

impl Drop for DropCount {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}
