//! `dsr demo` runs to success on a small asset set (every stage: pack,
//! queue streaming with CPU decode, cancellation, GPU decode when a Vulkan
//! device exists — required under DS_REQUIRE_ALL / DS_REQUIRE_VULKAN —,
//! verification, the report table), and `dsr bench` runs every suite on
//! tiny sizes and prints its tables (a smoke test: timings are not checked).

mod common;

use common::*;

#[test]
fn demo_runs_every_stage() {
    let dir = scratch();
    let work = dir.path().join("work");
    let mut args = vec![
        "demo",
        "--size",
        "1.5",
        "--level",
        "2",
        "--gpu-size",
        "0.3",
        "--keep",
        s(&work),
    ];
    if vulkan_required() {
        args.push("--require-gpu");
    }
    let text = ok(&run(&args));
    for want in [
        "12 sample assets",
        "[pack]",
        "[queue] backend: ",
        "[stream] 11 requests",
        "[verify] 12/12 entries match",
        "cancel_by_tag cancelled 4 before they ran; 4 reported Cancelled",
        "| stage",
        "queue read + CPU GDeflate",
        "all 12 entries verified",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
    let gpu = text
        .lines()
        .find(|l| l.starts_with("[gpu]"))
        .unwrap_or_else(|| panic!("no [gpu] line:\n{text}"));
    if vulkan_required() {
        assert!(
            gpu.contains("device: ") && gpu.contains("all match"),
            "{gpu}"
        );
    } else {
        println!("{gpu}");
    }
    // The backend line says which one ran and the queue's executor agrees.
    let backend = text.lines().find(|l| l.starts_with("[queue]")).unwrap();
    assert!(
        (backend.contains("backend: io_uring") && backend.contains("[\"io_uring\"]"))
            || (backend.contains("backend: pread") && backend.contains("[\"pread\"]")),
        "{backend}"
    );
    // --keep kept the work: the archive and the assets.
    assert!(work.join("assets.dsra").is_file());
    ok(&run(&["verify", s(&work.join("assets.dsra"))]));
}

#[test]
fn demo_rejects_a_bad_size() {
    let err = fails_with(&run(&["demo", "--size", "0"]), 2);
    assert!(err.contains("--size"), "{err}");
}

#[test]
fn bench_runs_every_suite_on_tiny_sizes() {
    let text = ok(&run(&[
        "bench",
        "--size",
        "0.1",
        "--gpu-size",
        "0.05",
        "--io-size",
        "2",
        "--e2e-size",
        "0.5",
        "--reps",
        "1",
        "--level",
        "1",
    ]));
    for want in [
        "codec-cpu:",
        "| text",
        "| random",
        "codec-gpu:",
        "io:",
        "| pread",
        "e2e:",
        "queue (pread) read + CPU GDeflate",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
    if vulkan_required() {
        assert!(text.contains("device: "), "{text}");
    }
    let only = ok(&run(&[
        "bench",
        "--suite",
        "io",
        "--io-size",
        "1",
        "--reps",
        "1",
    ]));
    assert!(
        only.contains("io:") && !only.contains("codec-cpu:"),
        "{only}"
    );
}
