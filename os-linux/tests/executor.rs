//! The executor interface: a GPU-destination executor plugs in without
//! changes to the queue (here a test double whose "device buffers" are host
//! memory, standing in for the Vulkan executor of the GPU work), hooks are
//! called, a job dropped without a result fails with `ExecutorLost`, a dropped
//! queue frees its shared state, and builder errors are precise.

mod common;

use common::{pattern, GateAt, GateDriver};
use ds_core::DestinationKinds;
use ds_os_linux::{
    Backend, BuildError, Driver, FeedHooks, Job, JobFeed, Outcome, QueueBuilder, Request,
    RequestErrorKind,
};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

type Device = Arc<Mutex<HashMap<u64, Vec<u8>>>>;

/// Executes GPU-buffer requests with memory sources into `device`.
struct FakeGpu {
    device: Device,
    wakes: Arc<AtomicUsize>,
    worker: Option<JoinHandle<()>>,
}

fn run_gpu_job(mut job: Job, device: &Device) {
    let range = job
        .gpu_destination()
        .expect("routed here only for GPU buffers");
    let src = job.io_parts().source.map(<[u8]>::to_vec);
    let Some(src) = src else {
        return job.fail(RequestErrorKind::Unsupported {
            executor: "fake-gpu",
            what: "read files",
        });
    };
    if job.begin_write().is_err() {
        return job.finish_cancelled();
    }
    {
        let mut dev = device.lock().unwrap();
        let buf = dev.get_mut(&range.buffer).expect("known buffer");
        let at = range.offset as usize;
        buf[at..at + src.len()].copy_from_slice(&src);
    }
    if job.end_write().is_err() {
        return job.finish_cancelled();
    }
    job.complete(src.len() as u64);
}

impl Driver for FakeGpu {
    fn name(&self) -> &'static str {
        "fake-gpu"
    }

    fn destinations(&self) -> DestinationKinds {
        DestinationKinds::GPU_BUFFER
    }

    fn start(&mut self, feed: JobFeed) -> std::io::Result<()> {
        let wakes = self.wakes.clone();
        assert!(feed.set_hooks(FeedHooks {
            wake: Some(Box::new(move || {
                wakes.fetch_add(1, Ordering::SeqCst);
            })),
            cancel: None,
        }));
        assert!(!feed.set_hooks(FeedHooks::default()), "hooks are set once");
        let device = self.device.clone();
        self.worker = Some(std::thread::spawn(move || {
            let mut batch = Vec::new();
            while feed.next_batch(&mut batch, 4) {
                for job in batch.drain(..) {
                    run_gpu_job(job, &device);
                }
            }
        }));
        Ok(())
    }

    fn stop(&mut self) {
        if let Some(w) = self.worker.take() {
            w.join().unwrap();
        }
    }
}

#[test]
fn gpu_destinations_route_to_the_registered_executor() {
    let device: Device = Arc::new(Mutex::new(HashMap::from([(7u64, vec![0u8; 1024])])));
    let wakes = Arc::new(AtomicUsize::new(0));
    let q = QueueBuilder::new()
        .capacity(128)
        .executor(Box::new(FakeGpu {
            device: device.clone(),
            wakes: wakes.clone(),
            worker: None,
        }))
        .build()
        .unwrap();
    assert_eq!(q.info().executors, vec!["pread", "fake-gpu"]);
    let data = pattern(300, 4);
    let gpu = q
        .enqueue(Request::read_memory(Arc::from(&data[..])).into_gpu_buffer(7, 100, 300))
        .unwrap();
    let host = q
        .enqueue(Request::read_memory(Arc::from(&data[..])).into_buffer(vec![0; 300]))
        .unwrap();
    let c = q.wait(gpu, None).unwrap();
    assert_eq!(c.result(), Ok(300));
    assert!(c.buffer.is_none());
    assert_eq!(&device.lock().unwrap()[&7][100..400], &data[..]);
    assert_eq!(q.wait(host, None).unwrap().buffer.unwrap(), data);
    assert!(
        wakes.load(Ordering::SeqCst) >= 1,
        "wake hook called on submit"
    );
    // Too small a GPU range is refused like any destination.
    let r = q
        .enqueue(Request::read_memory(Arc::from(&data[..])).into_gpu_buffer(7, 0, 10))
        .unwrap_err();
    assert!(r.to_string().contains("destination too small"), "{r}");
}

/// A dropped queue frees its shared state on every built-in backend, after
/// its workers ran completion callbacks (the path where a worker keeps the
/// requests its callbacks submit): the executor hook stored in that state
/// is released, so nothing of it leaks.
#[test]
fn a_dropped_queue_frees_its_shared_state() {
    let backends = [
        Backend::Pread(ds_os_linux::PreadConfig { threads: 2 }),
        Backend::IoUring(ds_os_linux::UringConfig::default()),
    ];
    for backend in backends {
        let wakes = Arc::new(AtomicUsize::new(0));
        let calls = Arc::new(AtomicUsize::new(0));
        {
            let q = QueueBuilder::new()
                .capacity(128)
                .backend(backend)
                .executor(Box::new(FakeGpu {
                    device: Arc::new(Mutex::new(HashMap::new())),
                    wakes: wakes.clone(),
                    worker: None,
                }))
                .build()
                .unwrap();
            let data: Arc<[u8]> = Arc::from(&pattern(64, 9)[..]);
            for _ in 0..32 {
                let calls = calls.clone();
                q.enqueue(
                    Request::read_memory(data.clone())
                        .into_buffer(vec![0; 64])
                        .on_complete(move |c| {
                            assert_eq!(c.result(), Ok(64));
                            calls.fetch_add(1, Ordering::SeqCst);
                        }),
                )
                .unwrap();
            }
            let fence = ds_os_linux::Fence::new(0);
            q.enqueue_signal(&fence, 1).unwrap();
            q.submit();
            assert!(fence.wait(1, Some(std::time::Duration::from_secs(30))));
        }
        assert_eq!(calls.load(Ordering::SeqCst), 32);
        assert_eq!(
            Arc::strong_count(&wakes),
            1,
            "the queue's shared state (holding the executor's hook) was freed"
        );
    }
}

/// Drops every job it gets.
struct Dropper(Option<JoinHandle<()>>);

impl Driver for Dropper {
    fn name(&self) -> &'static str {
        "dropper"
    }
    fn destinations(&self) -> DestinationKinds {
        DestinationKinds::HOST_MEMORY
    }
    fn start(&mut self, feed: JobFeed) -> std::io::Result<()> {
        self.0 = Some(std::thread::spawn(move || {
            let mut batch = Vec::new();
            while feed.next_batch(&mut batch, 8) {
                batch.clear();
            }
        }));
        Ok(())
    }
    fn stop(&mut self) {
        if let Some(w) = self.0.take() {
            w.join().unwrap();
        }
    }
}

#[test]
fn a_dropped_job_fails_with_executor_lost() {
    let q = QueueBuilder::new()
        .capacity(128)
        .backend(Backend::None)
        .executor(Box::new(Dropper(None)))
        .build()
        .unwrap();
    let id = q
        .enqueue(Request::read_memory(Arc::from(&b"abc"[..])).into_buffer(vec![0; 3]))
        .unwrap();
    match q.wait(id, None).unwrap().outcome {
        Outcome::Failed(e) => {
            assert_eq!(
                e.kind,
                RequestErrorKind::ExecutorLost {
                    executor: "dropper"
                }
            );
            assert!(e.to_string().contains("dropped the request"));
        }
        o => panic!("{o:?}"),
    }
}

#[test]
fn handles_cross_threads() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<ds_os_linux::Queue>();
    send_sync::<ds_os_linux::FileRef>();
    send_sync::<ds_os_linux::StatusArray>();
    send_sync::<ds_os_linux::Fence>();
    send_sync::<ds_os_linux::JobFeed>();
    send::<Job>();
    send::<Request>();
    send::<ds_os_linux::Completion>();
}

#[test]
fn builder_errors_are_precise() {
    let e = QueueBuilder::new().capacity(127).build().unwrap_err();
    assert!(matches!(e, BuildError::Capacity { requested: 127 }));
    assert!(e.to_string().contains("128..=8192"));
    assert!(QueueBuilder::new().capacity(8193).build().is_err());
    let (gate, _h) = GateDriver::new(DestinationKinds::HOST_MEMORY, GateAt::BeforeWrite);
    let e = QueueBuilder::new()
        .executor(Box::new(gate))
        .build()
        .unwrap_err();
    assert!(matches!(
        e,
        BuildError::DuplicateExecutor {
            destination: "host memory"
        }
    ));
    // Without any executor for host memory, such requests are refused.
    let q = QueueBuilder::new()
        .capacity(128)
        .backend(Backend::None)
        .build()
        .unwrap();
    let r = q
        .enqueue(Request::read_memory(Arc::from(&b"abc"[..])).into_buffer(vec![0; 3]))
        .unwrap_err();
    assert!(
        r.to_string()
            .contains("no executor on this queue serves host memory"),
        "{r}"
    );
}
