//! The encoder on the shared corpus (`../shared/gdeflate/vectors`, or
//! `$DS_SHARED_DIR`): every original at every level 0..=12 must come back
//! byte for byte through the decoder (strict mode), and our compressed size
//! must stay close to the reference encoder's `.L<level>.gdef` size:
//! - per file and level with a reference: at most 2% (and 16 bytes) larger;
//! - per level, over all files with a reference: at most 0.5% larger;
//! - levels without reference files must do at least as well, in total, as
//!   the reference at the closest lower level that has them.
//!
//! A debug build (the workspace `unit` step) runs the originals up to
//! 65,537 bytes at every level; release builds (the `cargo xtask test`
//! step `gdeflate-encode`) and `DS_ENCODE_FULL=1` run the whole corpus.

mod common;

use ds_gdeflate::encode::{compress_parallel, MAX_LEVEL};
use ds_gdeflate::{decompress_with, DecodeOptions};
use std::collections::BTreeMap;

#[test]
fn shared_originals_round_trip_at_every_level_near_reference_size() {
    let Some(dir) = common::shared_gdeflate("shared_originals_round_trip_at_every_level") else {
        return;
    };
    let full = !cfg!(debug_assertions) || std::env::var("DS_ENCODE_FULL").as_deref() == Ok("1");
    let rows = common::read_tsv(&dir.join("vectors/manifest.tsv"));
    // name -> (original path, level -> reference size)
    let mut files: BTreeMap<String, (String, BTreeMap<u8, usize>)> = BTreeMap::new();
    for r in &rows {
        let e = files
            .entry(r["name"].clone())
            .or_insert_with(|| (r["orig"].clone(), BTreeMap::new()));
        if let Ok(size) = r["gdef_size"].parse() {
            e.1.insert(r["level"].parse().unwrap(), size);
        }
    }
    assert!(
        files.len() >= 20,
        "manifest lists {} originals",
        files.len()
    );
    // (name, level) -> our size
    let mut ours: BTreeMap<(String, u8), usize> = BTreeMap::new();
    let mut ran = Vec::new();
    for (name, (orig, refs)) in &files {
        let data = std::fs::read(dir.join("vectors").join(orig)).unwrap();
        if !full && data.len() > 65537 {
            continue;
        }
        ran.push(name.clone());
        for level in 0..=MAX_LEVEL {
            let c = compress_parallel(&data, level, 0)
                .unwrap_or_else(|e| panic!("{name} level {level}: {e}"));
            let mut out = vec![0u8; data.len()];
            let n = decompress_with(&c, &mut out, DecodeOptions { strict: true })
                .unwrap_or_else(|e| panic!("{name} level {level}: our stream fails: {e}"));
            assert!(
                n == data.len() && out == data,
                "{name} level {level}: round trip"
            );
            if let Some(&r) = refs.get(&level) {
                assert!(
                    c.len() <= r + (r / 50).max(16),
                    "{name} level {level}: {} bytes vs reference {r}",
                    c.len()
                );
            }
            ours.insert((name.clone(), level), c.len());
        }
    }
    eprintln!(
        "{} originals run ({})",
        ran.len(),
        if full { "full corpus" } else { "debug subset" }
    );
    // Totals over the files run that have a reference at `ref_level`:
    // (reference, ours at `level`).
    let totals = |level: u8, ref_level: u8| {
        ran.iter()
            .filter_map(|name| files[name].1.get(&ref_level).map(|&r| (name, r)))
            .fold((0usize, 0usize), |(r, o), (name, size)| {
                (r + size, o + ours[&(name.clone(), level)])
            })
    };
    let has_ref = |level: u8| totals(level, level).0 > 0;
    for level in 0..=MAX_LEVEL {
        if has_ref(level) {
            let (r, o) = totals(level, level);
            eprintln!("level {level}: reference {r}, ours {o}");
            assert!(
                o * 1000 <= r * 1005,
                "level {level}: total {o} vs reference {r}"
            );
        } else if let Some(lower) = (1..level).rev().find(|&l| has_ref(l)) {
            let (r, o) = totals(level, lower);
            eprintln!("level {level}: ours {o}, reference at level {lower}: {r}");
            assert!(
                o <= r,
                "level {level}: total {o} vs reference level {lower} {r}"
            );
        }
    }
}
