//! Every committed vector in `tests/vectors` (`NAME.LEVEL.gdef` next to
//! `NAME.bin`) decodes byte for byte through every API: whole stream,
//! strict mode, parallel, per-tile jobs and single-tile decode.

use ds_gdeflate::{
    decompress, decompress_parallel, decompress_tile, decompress_with, tile_jobs,
    uncompressed_size, DecodeOptions, TileStream,
};
use std::path::Path;

fn vectors() -> Vec<(String, Vec<u8>, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors");
    let mut v = Vec::new();
    for e in std::fs::read_dir(&dir).unwrap() {
        let path = e.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        let Some(stem) = name.strip_suffix(".gdef") else {
            continue;
        };
        let base = stem.split('.').next().unwrap();
        let orig = std::fs::read(dir.join(format!("{base}.bin"))).unwrap();
        v.push((name.clone(), std::fs::read(&path).unwrap(), orig));
    }
    v.sort();
    assert!(v.len() >= 8, "committed vectors missing");
    v
}

#[test]
fn committed_vectors_decode_through_every_api() {
    for (name, gdef, orig) in vectors() {
        assert_eq!(uncompressed_size(&gdef), Ok(orig.len() as u64), "{name}");
        let mut out = vec![0u8; orig.len()];
        assert_eq!(decompress(&gdef, &mut out), Ok(orig.len()), "{name}");
        assert!(out == orig, "{name}");

        out.fill(0xAA);
        let strict = DecodeOptions { strict: true };
        assert_eq!(
            decompress_with(&gdef, &mut out, strict),
            Ok(orig.len()),
            "{name}"
        );
        assert!(out == orig, "{name} strict");

        for threads in [1, 2, 3, 0] {
            out.fill(0x55);
            assert_eq!(
                decompress_parallel(&gdef, &mut out, threads),
                Ok(orig.len())
            );
            assert!(out == orig, "{name} parallel {threads}");
        }

        let stream = TileStream::parse(&gdef).unwrap();
        out.fill(0);
        let mut seen = 0;
        for job in tile_jobs(&stream, &mut out).unwrap() {
            assert_eq!(job.index, seen);
            assert_eq!(job.out.len(), stream.tile_uncompressed_len(seen));
            job.run().unwrap();
            seen += 1;
        }
        assert_eq!(seen, stream.num_tiles());
        assert!(out == orig, "{name} jobs");

        for i in 0..stream.num_tiles() {
            let len = stream.tile_uncompressed_len(i);
            let off = stream.tile_offset_in_input(i);
            let payload = stream.tile_payload(i);
            assert_eq!(&gdef[off..off + payload.len()], payload);
            let mut tile = vec![0u8; len];
            assert_eq!(decompress_tile(payload, &mut tile), Ok(len));
            assert_eq!(
                tile[..],
                orig[i * 65536..i * 65536 + len],
                "{name} tile {i}"
            );
        }
    }
}

#[test]
fn larger_destination_is_fine_and_untouched_past_the_end() {
    for (name, gdef, orig) in vectors() {
        let mut out = vec![0xEEu8; orig.len() + 100];
        assert_eq!(decompress(&gdef, &mut out), Ok(orig.len()), "{name}");
        assert!(out[..orig.len()] == orig[..]);
        assert!(out[orig.len()..].iter().all(|&b| b == 0xEE));
    }
}
