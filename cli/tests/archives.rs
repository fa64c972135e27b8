//! `dsr pack` / `unpack` / `info` / `verify` on dsr archives: round trips
//! (nested directories, empty, incompressible and non-ASCII files), the
//! committed archive (format stability), the layout guarantees
//! (4 KiB alignment), and a reader that rejects every malformed archive —
//! built here byte by byte from the layout in docs/archive.md, not with the
//! library's writer — with a message naming what is wrong and no output.

mod common;

use common::*;
use ds_cli::archive::Archive;
use ds_cli::sha::sha256;
use std::path::Path;

fn tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                let rel = e
                    .path()
                    .strip_prefix(dir)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                out.push((rel, std::fs::read(e.path()).unwrap()));
            }
        }
    }
    out.sort();
    out
}

fn make_assets(dir: &Path) {
    let files: Vec<(&str, Vec<u8>)> = vec![
        (
            "text/long.txt",
            std::fs::read(data("text_70k.txt")).unwrap(),
        ),
        (
            "meshes/deep/er/mesh.bin",
            std::fs::read(data("mesh_20k.bin")).unwrap(),
        ),
        ("empty.bin", Vec::new()),
        (
            "noise.bin",
            ds_cli::assets::generate(ds_cli::assets::Kind::Random, 9000, 5),
        ),
        ("ünïcødé/名前.txt", "grüße\n".repeat(50).into_bytes()),
        ("z", vec![7]),
    ];
    for (p, d) in files {
        let p = dir.join(p);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, d).unwrap();
    }
}

#[test]
fn pack_unpack_round_trip() {
    let dir = scratch();
    let src = dir.path().join("src");
    make_assets(&src);
    let archive = dir.path().join("out/assets.dsra");
    std::fs::create_dir_all(archive.parent().unwrap()).unwrap();
    let o = run(&["pack", "-l", "4", s(&src), s(&archive)]);
    ok(&o);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("6 files"),
        "{}",
        describe(&o)
    );
    assert_eq!(names(archive.parent().unwrap()), ["assets.dsra"]);

    // Layout: everything 4 KiB aligned; incompressible entries kept raw.
    let f = std::fs::File::open(&archive).unwrap();
    let a = Archive::open(&f).unwrap();
    assert_eq!(a.header.archive_size % 4096, 0);
    assert_eq!(a.header.data_offset % 4096, 0);
    assert!(a.entries.iter().all(|e| e.offset % 4096 == 0));
    assert_eq!(
        a.find("noise.bin").unwrap().codec,
        ds_cli::archive::Codec::Stored
    );
    assert_eq!(
        a.find("text/long.txt").unwrap().codec,
        ds_cli::archive::Codec::GDeflate
    );
    assert_eq!(a.find("empty.bin").unwrap().size, 0);

    let text = ok(&run(&["verify", s(&archive)]));
    assert!(
        text.contains("6 entries") && text.contains("every sha256 matches"),
        "{text}"
    );
    let info = ok(&run(&["info", s(&archive)]));
    assert!(info.contains("dsr archive version 1"), "{info}");
    assert!(info.contains("ünïcødé/名前.txt"), "{info}");
    assert!(info.contains("validation: OK"), "{info}");

    let out = dir.path().join("unpacked");
    ok(&run(&["unpack", s(&archive), s(&out)]));
    assert_eq!(tree(&out), tree(&src));
    assert_eq!(names(dir.path()), ["out", "src", "unpacked"]);

    // An existing empty directory is fine; a non-empty one is refused.
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    ok(&run(&["unpack", s(&archive), s(&empty)]));
    assert_eq!(tree(&empty), tree(&src));
    let err = fails_with(&run(&["unpack", s(&archive), s(&out)]), 1);
    assert!(err.contains("not empty"), "{err}");
    // Unpacked files get ordinary permissions, not the temporary's 0600.
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(out.join("z")).unwrap().permissions(),
    );
    assert_ne!(mode & 0o044, 0, "mode {mode:o}");
}

#[test]
fn archive_from_stdin() {
    let bytes = std::fs::read(data("sample.dsra")).unwrap();
    let text = ok(&run_stdin(&["verify", "-"], &bytes));
    assert!(text.contains("5 entries"), "{text}");
    let err = fails_with(
        &run_stdin(&["verify", "--sha256", &"0".repeat(64), "-"], &bytes),
        2,
    );
    assert!(
        err.contains("archive entries carry their own checksums"),
        "{err}"
    );
}

#[test]
fn committed_archive_unpacks_to_known_files() {
    let dir = scratch();
    let out = dir.path().join("x");
    ok(&run(&["unpack", s(&data("sample.dsra")), s(&out)]));
    let got: Vec<(String, String)> = tree(&out)
        .into_iter()
        .map(|(p, d)| (p, sha_hex(&d)))
        .collect();
    let want = [
        (
            "a/b/mesh.bin",
            "aa5bc4339909cc85197f3478e90fbcdfb589a3cd9a1ce5450436bf468d6ba01a",
        ),
        (
            "a/hello.txt",
            "6412aa88d39864973b415775881350a6483da614671af356f0565b7a4bd683cb",
        ),
        (
            "empty.bin",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        ),
        (
            "random.bin",
            "4af2a0de22c5b985720c8fc63ba72ebe1efff52bd271ef39d28a78eaa4fa81f8",
        ),
        (
            "text.txt",
            "789ad709c644e3909fee53138ad0e52be2fc85957b19323c1fae6a3524fd4968",
        ),
    ];
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(p, h)| ((*p).to_owned(), (*h).to_owned()))
        .collect();
    assert_eq!(got, want);
}

#[test]
fn pack_refuses_symlinks_and_leaves_nothing() {
    let dir = scratch();
    let src = dir.path().join("src");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("real.txt"), b"x").unwrap();
    std::os::unix::fs::symlink("real.txt", src.join("link.txt")).unwrap();
    let archive = dir.path().join("a.dsra");
    let err = fails_with(&run(&["pack", s(&src), s(&archive)]), 1);
    assert!(
        err.contains("link.txt") && err.contains("symlinks"),
        "{err}"
    );
    assert_eq!(names(dir.path()), ["src"]);
    let err = fails_with(&run(&["pack", s(&src), "-"]), 2);
    assert!(err.contains("not -"), "{err}");
}

/// One index record, as raw fields.
#[derive(Clone)]
struct Rec {
    path: Vec<u8>,
    offset: u64,
    stored: u64,
    size: u64,
    sha: [u8; 32],
    codec: u8,
    reserved: u8,
}

/// An archive built from the documented layout: 128-byte header, index at
/// 128 (records of 64 bytes + path, padded to 8), `data` blobs written at
/// their offsets, total rounded up to 4096.
struct Raw {
    recs: Vec<Rec>,
    blobs: Vec<(u64, Vec<u8>)>,
    data_offset: u64,
    version: u16,
    total_override: Option<u64>,
}

impl Raw {
    fn good() -> Raw {
        let hello = b"hello".to_vec();
        let text = std::fs::read(data("text_70k.txt")).unwrap();
        let stream = std::fs::read(data("text_70k.L9.gdef")).unwrap();
        Raw {
            recs: vec![
                Rec {
                    path: b"a.txt".to_vec(),
                    offset: 4096,
                    stored: 5,
                    size: 5,
                    sha: sha256(&hello),
                    codec: 0,
                    reserved: 0,
                },
                Rec {
                    path: b"b/c.txt".to_vec(),
                    offset: 8192,
                    stored: stream.len() as u64,
                    size: text.len() as u64,
                    sha: sha256(&text),
                    codec: 4,
                    reserved: 0,
                },
            ],
            blobs: vec![(4096, hello), (8192, stream)],
            data_offset: 4096,
            version: 1,
            total_override: None,
        }
    }

    fn bytes(&self) -> Vec<u8> {
        let mut index = Vec::new();
        for r in &self.recs {
            let start = index.len();
            index.extend_from_slice(&r.offset.to_le_bytes());
            index.extend_from_slice(&r.stored.to_le_bytes());
            index.extend_from_slice(&r.size.to_le_bytes());
            index.extend_from_slice(&r.sha);
            index.push(r.codec);
            index.push(r.reserved);
            index.extend_from_slice(&(r.path.len() as u16).to_le_bytes());
            index.extend_from_slice(&[0; 4]);
            index.extend_from_slice(&r.path);
            index.resize(start + (64 + r.path.len()).div_ceil(8) * 8, 0);
        }
        let end = self
            .blobs
            .iter()
            .map(|(o, b)| o + b.len() as u64)
            .max()
            .unwrap_or(0)
            .max(self.data_offset);
        let size = end.div_ceil(4096) * 4096;
        let mut out = vec![0u8; size as usize];
        for (o, b) in &self.blobs {
            out[*o as usize..*o as usize + b.len()].copy_from_slice(b);
        }
        let total = self
            .total_override
            .unwrap_or_else(|| self.recs.iter().map(|r| r.size).sum());
        let h = &mut out[..128];
        h[..8].copy_from_slice(b"\x89DSRA\r\n\x1a");
        h[8..10].copy_from_slice(&self.version.to_le_bytes());
        h[12..16].copy_from_slice(&(self.recs.len() as u32).to_le_bytes());
        h[16..24].copy_from_slice(&128u64.to_le_bytes());
        h[24..32].copy_from_slice(&(index.len() as u64).to_le_bytes());
        h[32..40].copy_from_slice(&self.data_offset.to_le_bytes());
        h[40..48].copy_from_slice(&size.to_le_bytes());
        h[48..56].copy_from_slice(&total.to_le_bytes());
        h[64..96].copy_from_slice(&sha256(&index));
        let hs = sha256(&h[..96]);
        h[96..128].copy_from_slice(&hs);
        out[128..128 + index.len()].copy_from_slice(&index);
        out
    }
}

/// Unpack, verify and info all fail on `bytes` with `code` and a message
/// containing every string of `want`; nothing is created.
fn rejected(bytes: &[u8], code: i32, want: &[&str]) {
    let dir = scratch();
    let arch = dir.path().join("bad.dsra");
    std::fs::write(&arch, bytes).unwrap();
    let dest = dir.path().join("out");
    for args in [
        vec!["unpack", s(&arch), s(&dest)],
        vec!["verify", s(&arch)],
        vec!["info", s(&arch)],
    ] {
        let o = run(&args);
        let err = fails_with(&o, code);
        for w in want {
            assert!(err.contains(w), "{args:?}: want {w:?} in: {err}");
        }
        assert!(err.contains("bad.dsra"), "{args:?}: {err}");
        assert_eq!(names(dir.path()), ["bad.dsra"], "{args:?} left output");
    }
    // Nothing escaped into the parent either.
    assert!(!dir.path().parent().unwrap().join("escaped").exists());
}

#[test]
fn hand_built_archive_is_accepted() {
    let raw = Raw::good();
    let dir = scratch();
    let arch = dir.path().join("good.dsra");
    std::fs::write(&arch, raw.bytes()).unwrap();
    let out = dir.path().join("out");
    ok(&run(&["unpack", s(&arch), s(&out)]));
    assert_eq!(std::fs::read(out.join("a.txt")).unwrap(), b"hello");
    assert_eq!(
        std::fs::read(out.join("b/c.txt")).unwrap(),
        std::fs::read(data("text_70k.txt")).unwrap()
    );
}

#[test]
fn unsafe_paths_are_rejected() {
    let cases: [(&[u8], &str); 8] = [
        (b"../escaped", "escapes with '..'"),
        (b"a/../../escaped", "escapes with '..'"),
        (b"/tmp/escaped", "absolute path"),
        (b"a//b", "empty or '.' path component"),
        (b"./a", "empty or '.' path component"),
        (b"a\\..\\escaped", "backslash"),
        (b"a\0b", "control character"),
        (b"\xff\xfe", "not UTF-8"),
    ];
    for (path, msg) in cases {
        let mut raw = Raw::good();
        raw.recs[0].path = path.to_vec();
        // Keep the index sorted so the path check is what fails.
        raw.recs.sort_by(|a, b| a.path.cmp(&b.path));
        rejected(&raw.bytes(), 1, &[msg]);
    }
}

#[test]
fn malformed_indexes_are_rejected() {
    // Overlapping entries.
    let mut raw = Raw::good();
    raw.recs[1].offset = 4096;
    rejected(&raw.bytes(), 1, &["overlap"]);
    // Entry beyond the end of the archive.
    let mut raw = Raw::good();
    raw.recs[1].offset = 1 << 20;
    rejected(&raw.bytes(), 1, &["outside the data area"]);
    // Entry inside the header/index area.
    let mut raw = Raw::good();
    raw.recs[0].offset = 0;
    rejected(&raw.bytes(), 1, &["outside the data area"]);
    // Misaligned entry.
    let mut raw = Raw::good();
    raw.recs[0].offset = 4100;
    rejected(&raw.bytes(), 1, &["not a multiple of 4096"]);
    // Huge stored size (offset + size overflows).
    let mut raw = Raw::good();
    raw.recs[1].stored = u64::MAX - 100;
    rejected(&raw.bytes(), 1, &["outside the data area"]);
    // Duplicate and unsorted paths.
    let mut raw = Raw::good();
    raw.recs[1].path = b"a.txt".to_vec();
    rejected(&raw.bytes(), 1, &["duplicate or unsorted"]);
    let mut raw = Raw::good();
    raw.recs.swap(0, 1);
    rejected(&raw.bytes(), 1, &["duplicate or unsorted"]);
    // A file that is also a directory.
    let mut raw = Raw::good();
    raw.recs[1].path = b"a.txt/c".to_vec();
    rejected(&raw.bytes(), 1, &["is a file but"]);
    // Unknown codec, reserved byte set, sizes impossible for the codec.
    let mut raw = Raw::good();
    raw.recs[0].codec = 7;
    rejected(&raw.bytes(), 1, &["unknown codec 7"]);
    let mut raw = Raw::good();
    raw.recs[0].reserved = 1;
    rejected(&raw.bytes(), 1, &["reserved field"]);
    let mut raw = Raw::good();
    raw.recs[0].size = 6;
    rejected(&raw.bytes(), 1, &["stored with 5 stored bytes for 6 bytes"]);
    // Total size in the header disagrees with the entries.
    let mut raw = Raw::good();
    raw.total_override = Some(1);
    rejected(&raw.bytes(), 1, &["total size 1"]);
    // Data offset not aligned.
    let mut raw = Raw::good();
    raw.data_offset = 1000;
    rejected(&raw.bytes(), 1, &["data offset 1000"]);
}

#[test]
fn damaged_headers_are_rejected() {
    let good = Raw::good().bytes();
    let mut b = good.clone();
    b[0] = b'X';
    rejected(&b, 1, &["not a dsr archive"]);
    let mut raw = Raw::good();
    raw.version = 2;
    rejected(&raw.bytes(), 1, &["archive version 2"]);
    let mut b = good.clone();
    b[50] ^= 1; // total size byte, without fixing the header checksum
    rejected(&b, 1, &["header checksum mismatch"]);
    let mut b = good.clone();
    b[128 + 70] ^= 1; // a path byte, without fixing the index checksum
    rejected(&b, 1, &["index checksum mismatch"]);
    rejected(&good[..good.len() - 4096], 1, &["header says"]);
    rejected(
        &good[..100],
        1,
        &["shorter than the 128-byte archive header"],
    );
    let mut b = good.clone();
    b.extend_from_slice(&[0; 4096]);
    rejected(&b, 1, &["header says"]);
}

#[test]
fn damaged_entry_data_is_named() {
    // A corrupt GDeflate entry: failure (1) naming the entry, tile and file offset.
    let mut raw = Raw::good();
    let stream = &mut raw.blobs[1].1;
    let len = stream.len();
    stream[len - 200..].fill(0);
    rejected(
        &raw.bytes(),
        1,
        &["entry \"b/c.txt\"", "tile 1", "file offset"],
    );
    // Stored bytes that do not match the checksum: mismatch (3).
    let mut raw = Raw::good();
    raw.blobs[0].1[0] = b'j';
    rejected(&raw.bytes(), 3, &["entry \"a.txt\"", "checksum mismatch"]);
    // A stream that decodes to another size than the index says.
    let mut raw = Raw::good();
    raw.recs[1].size -= 1;
    rejected(
        &raw.bytes(),
        1,
        &["decodes to 70000 bytes, the index says 69999"],
    );
}
