//! `dsr compress` / `decompress` / `info` / `verify` on GDeflate streams:
//! round trips over committed files and (when present) every shared
//! vector, stdin/stdout with `-`, the info and verify reports, exit codes,
//! and corrupt input rejected with a message naming the file and tile.

mod common;

use common::*;

const TEXT_SHA: &str = "789ad709c644e3909fee53138ad0e52be2fc85957b19323c1fae6a3524fd4968";

#[test]
fn committed_stream_decodes_to_its_original() {
    let dir = scratch();
    let out = dir.path().join("text.txt");
    ok(&run(&["decompress", s(&data("text_70k.L9.gdef")), s(&out)]));
    let got = std::fs::read(&out).unwrap();
    assert_eq!(got, std::fs::read(data("text_70k.txt")).unwrap());
    assert_eq!(sha_hex(&got), TEXT_SHA);
    // A temporary name was used and nothing else is left.
    assert_eq!(names(dir.path()), ["text.txt"]);
}

#[test]
fn committed_files_round_trip_at_several_levels_and_thread_counts() {
    let dir = scratch();
    for name in ["text_70k.txt", "mesh_20k.bin"] {
        let orig = std::fs::read(data(name)).unwrap();
        for (level, threads) in [("0", "1"), ("1", "2"), ("6", "0"), ("12", "3")] {
            let gdef = dir.path().join(format!("{name}.{level}.gdef"));
            let back = dir.path().join(format!("{name}.{level}.out"));
            ok(&run(&[
                "-j",
                threads,
                "compress",
                "-l",
                level,
                s(&data(name)),
                s(&gdef),
            ]));
            ok(&run(&["decompress", "--strict", s(&gdef), s(&back)]));
            assert_eq!(std::fs::read(&back).unwrap(), orig, "{name} level {level}");
            // Same bytes as the library encoder (whatever the thread count).
            let lib = ds_gdeflate::encode::compress(&orig, level.parse().unwrap()).unwrap();
            assert_eq!(std::fs::read(&gdef).unwrap(), lib, "{name} level {level}");
        }
    }
}

#[test]
fn stdin_and_stdout_with_dash() {
    let orig = std::fs::read(data("text_70k.txt")).unwrap();
    let o = run_stdin(&["compress", "-l", "1", "-", "-"], &orig);
    ok(&o);
    let stream = o.stdout;
    assert_eq!(&stream[..2], &[4, 0xFB]);
    let o = run_stdin(&["decompress", "-", "-"], &stream);
    ok(&o);
    assert_eq!(o.stdout, orig);
    // Summaries go to stderr, so stdout carries only data.
    assert!(String::from_utf8_lossy(&o.stderr).contains("<stdin>"));
    let o = run_stdin(&["verify", "--sha256", TEXT_SHA, "-"], &stream);
    assert!(ok(&o).contains("(matches)"));
}

#[test]
fn empty_input_round_trips() {
    let o = run_stdin(&["compress", "-", "-"], b"");
    ok(&o);
    assert_eq!(o.stdout, [4, 0xFB, 0, 0, 1, 0, 0, 0]);
    let o = run_stdin(&["decompress", "-", "-"], &o.stdout);
    ok(&o);
    assert!(o.stdout.is_empty());
}

#[test]
fn info_reports_header_tiles_ratio_and_validation() {
    let text = ok(&run(&["info", s(&data("text_70k.L9.gdef"))]));
    assert!(text.contains("GDeflate tile stream"), "{text}");
    assert!(text.contains("tiles: 2, last tile 4464 bytes"), "{text}");
    assert!(
        text.contains("size: 70000 bytes uncompressed, 23516 compressed"),
        "{text}"
    );
    // Per-tile rows: index, file offset, sizes, status.
    let rows: Vec<&str> = text
        .lines()
        .filter(|l| l.trim_start().starts_with(['0', '1']) && l.ends_with("ok"))
        .collect();
    assert_eq!(rows.len(), 2, "{text}");
    assert!(
        rows[0].contains("65536") && rows[1].contains("4464"),
        "{text}"
    );
    assert!(text.contains(&format!("sha256: {TEXT_SHA}")), "{text}");
    assert!(
        text.contains("validation: OK (all 2 tiles decode)"),
        "{text}"
    );
    let brief = ok(&run(&["info", "--brief", s(&data("text_70k.L9.gdef"))]));
    assert!(!brief.contains("status"), "{brief}");
}

#[test]
fn verify_checks_the_sha256() {
    let f = data("text_70k.L9.gdef");
    let text = ok(&run(&[
        "verify",
        "--sha256",
        &TEXT_SHA.to_uppercase(),
        s(&f),
    ]));
    assert!(text.starts_with("OK "), "{text}");
    let wrong = "00".repeat(32);
    let err = fails_with(&run(&["verify", "--sha256", &wrong, s(&f)]), 3);
    assert!(
        err.contains("checksum mismatch") && err.contains(TEXT_SHA),
        "{err}"
    );
    assert!(err.contains("text_70k.L9.gdef"), "{err}");
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &["compress", "-l", "13", "a", "b"][..],
        &["verify", "--sha256", "xyz", "a"],
        &["frobnicate"],
        &["compress", "onlyone"],
    ] {
        let o = run(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", describe(&o));
    }
    let help = ok(&run(&["--help"]));
    assert!(
        help.contains("Exit codes:") && help.contains("130"),
        "{help}"
    );
}

#[test]
fn missing_input_names_the_file_and_leaves_nothing() {
    let dir = scratch();
    let out = dir.path().join("out.gdef");
    let err = fails_with(&run(&["compress", "/nonexistent/in.bin", s(&out)]), 1);
    assert!(err.contains("cannot read /nonexistent/in.bin"), "{err}");
    assert!(names(dir.path()).is_empty(), "{:?}", names(dir.path()));
}

#[test]
fn corrupt_tile_is_named_and_no_output_is_left() {
    let dir = scratch();
    let mut stream = std::fs::read(data("text_70k.L9.gdef")).unwrap();
    let parsed = ds_gdeflate::TileStream::parse(&stream).unwrap();
    let at = parsed.tile_offset_in_input(1);
    let len = parsed.tile_payload(1).len();
    stream[at..at + len].fill(0xFF);
    let bad = dir.path().join("bad.gdef");
    std::fs::write(&bad, &stream).unwrap();
    let out = dir.path().join("out.bin");
    let err = fails_with(&run(&["decompress", s(&bad), s(&out)]), 1);
    assert!(
        err.contains("bad.gdef: tile 1 corrupt at payload byte"),
        "{err}"
    );
    assert!(err.contains("(file offset "), "{err}");
    assert_eq!(names(dir.path()), ["bad.gdef"]);
    let err = fails_with(&run(&["verify", s(&bad)]), 1);
    assert!(err.contains("tile 1"), "{err}");
    let o = run(&["info", s(&bad)]);
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_eq!(o.status.code(), Some(1), "{}", describe(&o));
    assert!(text.contains("FAILED: tile 1 corrupt"), "{text}");
    assert!(text.contains("validation: FAILED: 1 of 2 tiles"), "{text}");
    // Not a stream at all.
    let err = fails_with(&run_stdin(&["decompress", "-", "-"], b"hello world"), 1);
    assert!(err.contains("<stdin>: not a GDeflate stream"), "{err}");
}

#[test]
fn shared_vectors_decode_and_round_trip() {
    let Some(shared) = shared_dir() else { return };
    let vectors = shared.join("gdeflate/vectors");
    let dir = scratch();
    let mut decoded = 0;
    let mut seen_orig = std::collections::HashSet::new();
    for row in tsv(&vectors.join("manifest.tsv")) {
        if row["gdef"].is_empty() {
            continue;
        }
        let gdef = vectors.join(&row["gdef"]);
        let out = dir.path().join("out.bin");
        ok(&run(&["decompress", s(&gdef), s(&out)]));
        let got = std::fs::read(&out).unwrap();
        assert_eq!(got.len().to_string(), row["orig_size"], "{}", row["gdef"]);
        assert_eq!(sha_hex(&got), row["orig_sha256"], "{}", row["gdef"]);
        ok(&run(&["verify", "--sha256", &row["orig_sha256"], s(&gdef)]));
        decoded += 1;
        // Our encoder on each original once (level 1 keeps debug builds
        // quick), through stdin/stdout, back through the decoder.
        if seen_orig.insert(row["orig"].clone()) {
            let orig = std::fs::read(vectors.join(&row["orig"])).unwrap();
            let c = run_stdin(&["compress", "-l", "1", "-", "-"], &orig);
            ok(&c);
            let d = run_stdin(&["decompress", "--strict", "-", "-"], &c.stdout);
            ok(&d);
            assert!(d.stdout == orig, "{} round trip", row["orig"]);
        }
    }
    assert!(decoded >= 60, "only {decoded} shared vectors");
}

#[test]
fn shared_corrupt_vectors_fail_cleanly() {
    let Some(shared) = shared_dir() else { return };
    let vectors = shared.join("gdeflate/vectors");
    let dir = scratch();
    let mut corrupt = 0;
    for row in tsv(&vectors.join("corrupt_manifest.tsv")) {
        let file = vectors
            .join("corrupt")
            .join(format!("{}.gdef", row["name"]));
        let out = dir.path().join("out.bin");
        let o = run(&["decompress", s(&file), s(&out)]);
        let verdict = &row["spec_decoder"];
        if verdict.starts_with("OK") {
            ok(&o);
            std::fs::remove_file(&out).unwrap();
            continue;
        }
        corrupt += 1;
        let err = fails_with(&o, 1);
        let name = format!("{}.gdef", row["name"]);
        assert!(err.contains(&name), "{name}: {err}");
        // When the spec decoder names a tile, so do we.
        if let Some(rest) = verdict.strip_prefix("CORRUPT: tile ") {
            let tile = rest.split(' ').next().unwrap();
            assert!(err.contains(&format!("tile {tile}")), "{name}: {err}");
        }
        assert!(
            names(dir.path()).is_empty(),
            "{name} left {:?}",
            names(dir.path())
        );
    }
    assert!(corrupt >= 20, "only {corrupt} corrupt vectors");
}
