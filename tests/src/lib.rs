//! Fixtures for the cross-crate tests in `tests/tests/`: a deterministic
//! asset set and a "package" file that holds it the way a game ships assets
//! (GDeflate tile streams and raw entries back to back, 4-byte aligned),
//! with the index an engine would stream it from.
//!
//! The tests built on it check that the pieces fit together: streams made by
//! `ds-gdeflate`'s encoder, read by `ds-os-linux`'s queue on each I/O backend
//! and decoded there, arrive byte for byte, with cancellation, status arrays,
//! fences and failures behaving as documented.

#![forbid(unsafe_code)]

use std::io::Write;
use std::path::Path;

/// How an asset is stored in the package.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Storage {
    /// The bytes as they are.
    Raw,
    /// A GDeflate tile stream made at this level.
    GDeflate(u8),
}

/// One asset: its original bytes and where it sits in the package.
#[derive(Clone, Debug)]
pub struct Entry {
    /// The uncompressed bytes.
    pub original: Vec<u8>,
    /// How the bytes are stored.
    pub storage: Storage,
    /// Byte offset of the stored bytes in the package file.
    pub offset: u64,
    /// Stored (possibly compressed) size.
    pub stored_size: u64,
}

/// xorshift64*: a small deterministic generator, so every run builds the
/// same assets.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a non-zero seed (0 is mapped to 1).
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A value in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// `len` bytes of one of four kinds chosen by `kind % 4`: English-like text,
/// a repetitive texture-like pattern, zeros, and incompressible noise.
pub fn asset_bytes(kind: u64, len: usize, rng: &mut Rng) -> Vec<u8> {
    const WORDS: [&str; 12] = [
        "stream", "tile", "queue", "texture", "mesh", "shader", "the", "of", "cancel", "fence",
        "status", "asset",
    ];
    let mut out = Vec::with_capacity(len);
    match kind % 4 {
        0 => {
            while out.len() < len {
                out.extend_from_slice(WORDS[rng.below(WORDS.len() as u64) as usize].as_bytes());
                out.push(if rng.below(9) == 0 { b'\n' } else { b' ' });
            }
        }
        1 => {
            let block: Vec<u8> = (0..16).map(|_| rng.next_u64() as u8).collect();
            while out.len() < len {
                let texel = block[rng.below(16) as usize];
                out.extend_from_slice(&[texel, texel.wrapping_add(1), texel, 0xFF]);
            }
        }
        2 => out.resize(len, 0),
        _ => {
            while out.len() < len {
                out.extend_from_slice(&rng.next_u64().to_le_bytes());
            }
        }
    }
    out.truncate(len);
    out
}

/// Builds `count` assets with sizes from 1 byte to a little over three
/// tiles, stores every fourth raw and the rest as GDeflate at levels 1, 9
/// and 12 in turn, and writes them back to back into `path` with each entry
/// starting at a 4-byte boundary (as GPU decoders want).
pub fn write_package(path: &Path, count: usize, seed: u64) -> std::io::Result<Vec<Entry>> {
    const LEVELS: [u8; 3] = [1, 9, 12];
    let mut rng = Rng::new(seed);
    let mut file = std::fs::File::create(path)?;
    let mut offset = 0u64;
    let mut entries = Vec::with_capacity(count);
    for i in 0..count {
        let len = match i % 5 {
            0 => 1 + rng.below(300) as usize,
            1 => 65_536,
            2 => 65_537,
            3 => 3 * 65_536 + 1 + rng.below(4096) as usize,
            _ => 1 + rng.below(100_000) as usize,
        };
        let original = asset_bytes(rng.next_u64(), len, &mut rng);
        let (storage, stored) = if i % 4 == 3 {
            (Storage::Raw, original.clone())
        } else {
            let level = LEVELS[i % LEVELS.len()];
            let stream = ds_gdeflate::encode::compress(&original, level)
                .map_err(|e| std::io::Error::other(e.to_string()))?;
            (Storage::GDeflate(level), stream)
        };
        file.write_all(&stored)?;
        let padding = (4 - stored.len() % 4) % 4;
        file.write_all(&[0xA5; 3][..padding])?;
        entries.push(Entry {
            original,
            storage,
            offset,
            stored_size: stored.len() as u64,
        });
        offset += (stored.len() + padding) as u64;
    }
    file.sync_all()?;
    Ok(entries)
}
