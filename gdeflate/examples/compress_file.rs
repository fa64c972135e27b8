//! Compresses one file with the GDeflate encoder and prints the stream size
//! and the compression speed; used to time the encoder against other
//! encoders run on the same file by hand (docs/benchmarks.md).
//!
//! Usage: cargo run --release -p ds-gdeflate --example compress_file --
//!        FILE LEVEL [REPEATS] [OUT]

use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 2 {
        eprintln!("usage: compress_file FILE LEVEL [REPEATS] [OUT]");
        std::process::exit(2);
    }
    let data = std::fs::read(&args[0]).unwrap_or_else(|e| panic!("{}: {e}", args[0]));
    let level: u8 = args[1].parse().expect("LEVEL is a number");
    let repeats: usize = args
        .get(2)
        .map_or(1, |r| r.parse().expect("REPEATS is a number"));
    let start = Instant::now();
    let mut stream = Vec::new();
    for _ in 0..repeats.max(1) {
        stream = ds_gdeflate::encode::compress(&data, level).unwrap_or_else(|e| panic!("{e}"));
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{} bytes -> {} bytes at level {level}, {:.1} MB/s",
        data.len(),
        stream.len(),
        (data.len() * repeats.max(1)) as f64 / 1e6 / secs
    );
    if let Some(out) = args.get(3) {
        std::fs::write(out, &stream).unwrap_or_else(|e| panic!("{out}: {e}"));
    }
}
