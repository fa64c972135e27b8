//! Helpers shared by the integration tests: finding `../shared`, reading
//! TSV manifests, and SHA-256.
#![allow(dead_code)]

use sha2::{Digest, Sha256};
use std::path::PathBuf;

/// `$DS_SHARED_DIR`, else `<workspace root>/../shared`, if it holds the
/// GDeflate data. With `DS_REQUIRE_SHARED=1` a missing directory fails the
/// test instead of skipping it.
pub fn shared_gdeflate(test: &str) -> Option<PathBuf> {
    let base = match std::env::var_os("DS_SHARED_DIR") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared"),
    };
    let dir = base.join("gdeflate");
    if dir.join("vectors/manifest.tsv").is_file() {
        return Some(dir);
    }
    if std::env::var("DS_REQUIRE_SHARED").as_deref() == Ok("1") {
        panic!(
            "{test}: DS_REQUIRE_SHARED=1 but {} is missing",
            dir.display()
        );
    }
    eprintln!("skipped: {test}: no shared data at {}", dir.display());
    None
}

/// Rows of a TSV file with a header line, as (column name -> value) maps.
pub fn read_tsv(path: &std::path::Path) -> Vec<std::collections::HashMap<String, String>> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines = text.lines();
    let header: Vec<String> = lines
        .next()
        .unwrap()
        .split('\t')
        .map(str::to_owned)
        .collect();
    lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            header
                .iter()
                .cloned()
                .zip(
                    l.split('\t')
                        .map(str::to_owned)
                        .chain(std::iter::repeat(String::new())),
                )
                .collect()
        })
        .collect()
}

/// Lower-case hex SHA-256.
pub fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
