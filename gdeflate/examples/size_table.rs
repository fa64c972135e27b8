//! Encoder size and speed table against the reference GDeflate encoder.
//!
//! For every original in `../shared/gdeflate/vectors` (or `$DS_SHARED_DIR`)
//! and every level, compresses with `ds_gdeflate::encode::compress`, checks
//! that `ds_gdeflate::decompress` gives the original back, and prints our
//! size next to the reference encoder's `.L<level>.gdef` size where the
//! manifest has one. With `--big DIR` it also does the 32 MiB bench
//! originals (made by `make_corpus.py DIR --big`) against
//! `bench/*.l9.gdef`, timing us and libdeflate's plain DEFLATE (crate
//! `libdeflater`, same level, 64 KiB chunks) in the same run.
//!
//! Usage: cargo run --release -p ds-gdeflate --example size_table --
//!        [--levels 1,6,9,12] [--big DIR] [--big-levels 1,6,9,12] [--reps N]
//!        [--markdown]
//!
//! `--reps N` times each 32 MiB stream N times, alternating ours and
//! libdeflate, and keeps each one's best time.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use ds_gdeflate::encode::{compress, MAX_LEVEL};

fn shared_dir() -> PathBuf {
    let base = std::env::var_os("DS_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared"));
    base.join("gdeflate")
}

fn parse_levels(arg: Option<String>, default: Vec<u8>) -> Vec<u8> {
    arg.map(|s| s.split(',').map(|l| l.parse().expect("level")).collect())
        .unwrap_or(default)
}

/// Compresses and verifies; returns (size, seconds of the compression).
fn ours(data: &[u8], level: u8) -> (usize, f64) {
    let t = Instant::now();
    let c = compress(data, level).expect("compress");
    let secs = t.elapsed().as_secs_f64();
    let mut back = vec![0u8; data.len()];
    let n = ds_gdeflate::decompress(&c, &mut back).expect("our output must decode");
    assert_eq!(n, data.len());
    assert!(back == data, "round trip mismatch at level {level}");
    (c.len(), secs)
}

/// libdeflate plain DEFLATE over 64 KiB chunks: (total size, seconds).
fn libdeflate(data: &[u8], level: u8) -> (usize, f64) {
    let lvl = libdeflater::CompressionLvl::new(i32::from(level.max(1))).expect("level");
    let mut c = libdeflater::Compressor::new(lvl);
    let mut buf = vec![0u8; c.deflate_compress_bound(65536)];
    let t = Instant::now();
    let mut total = 0;
    for chunk in data.chunks(65536) {
        total += c.deflate_compress(chunk, &mut buf).expect("deflate");
    }
    (total, t.elapsed().as_secs_f64())
}

fn mbps(bytes: usize, secs: f64) -> f64 {
    bytes as f64 / 1e6 / secs.max(1e-9)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let (mut lv, mut big, mut big_lv, mut md, mut reps) = (None, None, None, false, 1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--levels" => lv = args.next(),
            "--big" => big = args.next().map(PathBuf::from),
            "--big-levels" => big_lv = args.next(),
            "--markdown" => md = true,
            "--reps" => reps = args.next().and_then(|r| r.parse().ok()).unwrap_or(1),
            _ => {
                eprintln!("usage: size_table [--levels L,..] [--big DIR] [--big-levels L,..] [--reps N] [--markdown]");
                std::process::exit(2);
            }
        }
    }
    let levels = parse_levels(lv, (0..=MAX_LEVEL).collect());
    let dir = shared_dir();
    let manifest = std::fs::read_to_string(dir.join("vectors/manifest.tsv"))
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    // name -> (orig path, level -> reference size)
    let mut files: BTreeMap<String, (PathBuf, BTreeMap<u8, usize>)> = BTreeMap::new();
    let mut order = Vec::new();
    for line in manifest.lines().skip(1) {
        let f: Vec<&str> = line.split('\t').collect();
        let (name, level, orig, gsize) = (f[0], f[1].parse::<u8>().unwrap(), f[2], f[6]);
        let e = files.entry(name.to_owned()).or_insert_with(|| {
            order.push(name.to_owned());
            (dir.join("vectors").join(orig), BTreeMap::new())
        });
        if let Ok(s) = gsize.parse() {
            e.1.insert(level, s);
        }
    }
    let sep = if md { " | " } else { "\t" };
    let row = |cells: &[String]| {
        if md {
            println!("| {} |", cells.join(sep));
        } else {
            println!("{}", cells.join(sep));
        }
    };
    row(&[
        "name",
        "level",
        "orig",
        "reference",
        "ours",
        "ours/ref",
        "MB/s",
    ]
    .map(String::from));
    if md {
        println!("|---|---:|---:|---:|---:|---:|---:|");
    }
    // Per level: (reference total, our total over the same files, bytes,
    // secs, our total over all originals)
    let mut sums: BTreeMap<u8, (usize, usize, usize, f64, usize)> = BTreeMap::new();
    for name in &order {
        let (path, refs) = &files[name];
        let data = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for &level in &levels {
            let (size, secs) = ours(&data, level);
            let s = sums.entry(level).or_default();
            s.2 += data.len();
            s.3 += secs;
            s.4 += size;
            let (rs, ratio) = match refs.get(&level) {
                Some(&r) => {
                    s.0 += r;
                    s.1 += size;
                    (r.to_string(), format!("{:.4}", size as f64 / r as f64))
                }
                None => ("-".into(), "-".into()),
            };
            row(&[
                name.clone(),
                level.to_string(),
                data.len().to_string(),
                rs,
                size.to_string(),
                ratio,
                format!("{:.1}", mbps(data.len(), secs)),
            ]);
        }
    }
    println!();
    row(&[
        "level",
        "reference total",
        "ours, same files",
        "ours/ref",
        "ours, all originals",
        "MB/s (all originals)",
    ]
    .map(String::from));
    if md {
        println!("|---:|---:|---:|---:|---:|---:|");
    }
    for (level, (r, o, b, secs, all)) in &sums {
        let (rs, os, ratio) = if *r > 0 {
            (
                r.to_string(),
                o.to_string(),
                format!("{:.4}", *o as f64 / *r as f64),
            )
        } else {
            ("-".into(), "-".into(), "-".into())
        };
        row(&[
            level.to_string(),
            rs,
            os,
            ratio,
            all.to_string(),
            format!("{:.1}", mbps(*b, *secs)),
        ]);
    }
    if let Some(big) = big {
        big_table(&dir, &big, &parse_levels(big_lv, vec![9]), reps, md);
    }
}

fn big_table(dir: &Path, big: &Path, levels: &[u8], reps: usize, md: bool) {
    println!();
    let head = [
        "stream",
        "level",
        "reference",
        "ours",
        "ours/ref",
        "ours MB/s",
        "deflate size",
        "deflate MB/s",
        "ours/deflate speed",
    ];
    if md {
        println!("| {} |", head.join(" | "));
        println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    } else {
        println!("{}", head.join("\t"));
    }
    for name in ["bench_text_32m", "bench_texture_32m", "bench_mixed_32m"] {
        let path = big.join(format!("{name}.bin"));
        let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let reference = std::fs::metadata(dir.join(format!("bench/{name}.l9.gdef")))
            .map(|m| m.len() as usize)
            .ok();
        for &level in levels {
            // Alternate the two and keep each one's best time, so that
            // load from other processes skews both alike.
            let (mut size, mut secs) = ours(&data, level);
            let (mut dsize, mut dsecs) = libdeflate(&data, level);
            for _ in 1..reps {
                let (s, t) = ours(&data, level);
                let (ds, dt) = libdeflate(&data, level);
                (size, secs, dsize, dsecs) = (s, secs.min(t), ds, dsecs.min(dt));
            }
            let (rs, ratio) = match reference.filter(|_| level == 9) {
                Some(r) => (r.to_string(), format!("{:.4}", size as f64 / r as f64)),
                None => ("-".into(), "-".into()),
            };
            let cells = [
                name.to_string(),
                level.to_string(),
                rs,
                size.to_string(),
                ratio,
                format!("{:.1}", mbps(data.len(), secs)),
                dsize.to_string(),
                format!("{:.1}", mbps(data.len(), dsecs)),
                format!("{:.2}", dsecs / secs),
            ];
            if md {
                println!("| {} |", cells.join(" | "));
            } else {
                println!("{}", cells.join("\t"));
            }
        }
    }
}
