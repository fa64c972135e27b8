//! The shared reference vectors (`../shared/gdeflate`): every original is
//! reproduced byte for byte, every bench stream matches its SHA-256, and
//! every corrupt stream gives exactly the outcome of the spec decoder
//! column of `corrupt_manifest.tsv` (error, or OK with the stated size).
//! Skips when the shared data is absent; fails then if DS_REQUIRE_SHARED=1.

mod common;

use ds_gdeflate::{
    decompress, decompress_parallel, decompress_with, uncompressed_size, DecodeOptions, TileStream,
};

#[test]
fn reference_vectors_decode_byte_exact() {
    let Some(dir) = common::shared_gdeflate("reference_vectors_decode_byte_exact") else {
        return;
    };
    let mut checked = 0;
    for row in common::read_tsv(&dir.join("vectors/manifest.tsv")) {
        if row["gdef"].is_empty() {
            continue;
        }
        let gdef = std::fs::read(dir.join("vectors").join(&row["gdef"])).unwrap();
        let orig = std::fs::read(dir.join("vectors").join(&row["orig"])).unwrap();
        let name = &row["gdef"];
        assert_eq!(
            uncompressed_size(&gdef).unwrap(),
            orig.len() as u64,
            "{name}"
        );
        let mut out = vec![0u8; orig.len()];
        assert_eq!(decompress(&gdef, &mut out), Ok(orig.len()), "{name}");
        assert!(out == orig, "{name}: output differs");
        // Reference streams consume every tile byte (rule 21).
        out.fill(0);
        let strict = DecodeOptions { strict: true };
        assert_eq!(
            decompress_with(&gdef, &mut out, strict),
            Ok(orig.len()),
            "{name} strict"
        );
        assert!(out == orig, "{name}: strict output differs");
        out.fill(0);
        assert_eq!(
            decompress_parallel(&gdef, &mut out, 0),
            Ok(orig.len()),
            "{name} parallel"
        );
        assert!(out == orig, "{name}: parallel output differs");
        // Tile offsets are 4-byte aligned in reference output.
        let s = TileStream::parse(&gdef).unwrap();
        for i in 0..s.num_tiles() {
            assert_eq!(s.tile_offset_in_input(i) % 4, 0, "{name} tile {i}");
        }
        checked += 1;
    }
    assert!(checked >= 80, "only {checked} vectors found");
}

#[test]
fn bench_streams_match_sha256() {
    let Some(dir) = common::shared_gdeflate("bench_streams_match_sha256") else {
        return;
    };
    let rows = common::read_tsv(&dir.join("bench.tsv"));
    assert_eq!(rows.len(), 3);
    for row in rows {
        let gdef = std::fs::read(dir.join("bench").join(&row["compressed"])).unwrap();
        let size: usize = row["bytes"].parse().unwrap();
        let mut out = vec![0u8; size];
        assert_eq!(decompress_parallel(&gdef, &mut out, 0), Ok(size));
        assert_eq!(
            common::sha256_hex(&out),
            row["sha256"],
            "{}",
            row["compressed"]
        );
    }
}

#[test]
fn corrupt_vectors_match_spec_decoder_column() {
    let Some(dir) = common::shared_gdeflate("corrupt_vectors_match_spec_decoder_column") else {
        return;
    };
    let rows = common::read_tsv(&dir.join("vectors/corrupt_manifest.tsv"));
    assert!(rows.len() >= 30);
    for row in rows {
        let name = &row["name"];
        let data = std::fs::read(dir.join(format!("vectors/corrupt/{name}.gdef"))).unwrap();
        let spec = &row["spec_decoder"];
        let mut out = vec![0u8; 4 << 20];
        let got = decompress(&data, &mut out);
        let par = decompress_parallel(&data, &mut out, 0);
        assert_eq!(got, par, "{name}: parallel and sequential disagree");
        if let Some(rest) = spec.strip_prefix("OK decoded ") {
            let n: usize = rest.trim_end_matches(" bytes").parse().unwrap();
            assert_eq!(got, Ok(n), "{name}: spec decoder says {spec}");
        } else {
            assert!(spec.starts_with("CORRUPT"), "{name}: unknown column {spec}");
            let err = got.expect_err(name);
            eprintln!("{name}: {err}   (spec decoder: {spec})");
        }
    }
}
