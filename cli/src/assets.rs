//! Deterministic sample assets: the set `dsr demo` packs and streams, and
//! the inputs of `dsr bench` and the tests. Each kind imitates what a game
//! ships, so compression ratios are plausible rather than extreme:
//!
//! - [`Kind::Text`]: dialogue-like English prose (skewed word frequencies);
//! - [`Kind::Json`]: configuration records;
//! - [`Kind::Mesh`]: vertex buffers (f32 positions on a bumpy grid, packed
//!   normals and UVs) followed by a u16 index buffer;
//! - [`Kind::Texture`]: BC1-style 8-byte blocks of a smooth image with
//!   noise in the low bits;
//! - [`Kind::Image`]: uncompressed RGBA8 of a gradient with noise;
//! - [`Kind::Random`]: incompressible bytes (already-compressed audio).
//!
//! Output depends only on (kind, length, seed); a SplitMix64 generator
//! drives everything, so runs and machines agree byte for byte.

use std::io;
use std::path::Path;

/// SplitMix64: tiny, fast and good enough for test data.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A value in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }
}

/// What an asset looks like.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Prose.
    Text,
    /// JSON records.
    Json,
    /// Vertex and index buffers.
    Mesh,
    /// BC1-style compressed texture blocks.
    Texture,
    /// RGBA8 pixels.
    Image,
    /// Incompressible bytes.
    Random,
}

impl Kind {
    /// Name for tables.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Text => "text",
            Kind::Json => "json",
            Kind::Mesh => "mesh",
            Kind::Texture => "texture",
            Kind::Image => "image",
            Kind::Random => "random",
        }
    }
}

const WORDS: &[&str] = &[
    "the",
    "of",
    "and",
    "to",
    "a",
    "in",
    "is",
    "you",
    "that",
    "it",
    "he",
    "was",
    "for",
    "on",
    "are",
    "as",
    "with",
    "his",
    "they",
    "at",
    "be",
    "this",
    "have",
    "from",
    "or",
    "one",
    "had",
    "by",
    "word",
    "but",
    "not",
    "what",
    "all",
    "were",
    "we",
    "when",
    "your",
    "can",
    "said",
    "there",
    "use",
    "an",
    "each",
    "which",
    "she",
    "do",
    "how",
    "their",
    "if",
    "will",
    "up",
    "other",
    "about",
    "out",
    "many",
    "then",
    "them",
    "these",
    "so",
    "some",
    "her",
    "would",
    "make",
    "like",
    "him",
    "into",
    "time",
    "has",
    "look",
    "two",
    "more",
    "write",
    "go",
    "see",
    "number",
    "no",
    "way",
    "could",
    "people",
    "my",
    "than",
    "first",
    "water",
    "been",
    "call",
    "who",
    "oil",
    "its",
    "now",
    "find",
    "long",
    "down",
    "day",
    "did",
    "get",
    "come",
    "made",
    "may",
    "part",
    "sword",
    "dragon",
    "castle",
    "village",
    "quest",
    "ancient",
    "shadow",
    "captain",
    "merchant",
    "gate",
    "north",
    "river",
    "tower",
    "crystal",
    "storm",
    "forgotten",
];

/// `len` bytes of `kind`, determined by `seed`.
pub fn generate(kind: Kind, len: usize, seed: u64) -> Vec<u8> {
    let mut rng = Rng::new(seed ^ (kind as u64).wrapping_mul(0x2545_F491_4F6C_DD1D));
    let mut out = Vec::with_capacity(len + 256);
    match kind {
        Kind::Text => text(&mut rng, &mut out, len),
        Kind::Json => json(&mut rng, &mut out, len),
        Kind::Mesh => mesh(&mut rng, &mut out, len),
        Kind::Texture => texture(&mut rng, &mut out, len),
        Kind::Image => image(&mut rng, &mut out, len),
        Kind::Random => {
            while out.len() < len {
                out.extend_from_slice(&rng.next_u64().to_le_bytes());
            }
        }
    }
    out.truncate(len);
    out
}

fn word(rng: &mut Rng) -> &'static str {
    // The product of two uniforms skews towards small indices, roughly as
    // word frequencies do.
    let n = WORDS.len() as u64;
    let i = rng.below(n) * rng.below(n) / n;
    WORDS[i as usize]
}

fn text(rng: &mut Rng, out: &mut Vec<u8>, len: usize) {
    while out.len() < len {
        let words = 4 + rng.below(14);
        for w in 0..words {
            let s = word(rng);
            if w == 0 {
                let mut c = s.chars();
                if let Some(first) = c.next() {
                    out.extend(first.to_uppercase().to_string().bytes());
                    out.extend_from_slice(c.as_str().as_bytes());
                }
            } else {
                out.push(b' ');
                out.extend_from_slice(s.as_bytes());
            }
            if w + 1 < words && rng.below(9) == 0 {
                out.push(b',');
            }
        }
        out.extend_from_slice(match rng.below(10) {
            0 => b"?\n",
            1 => b"!\n\n",
            2..=4 => b".\n",
            _ => b". ",
        });
    }
}

fn json(rng: &mut Rng, out: &mut Vec<u8>, len: usize) {
    out.extend_from_slice(b"[\n");
    let mut id = 0u64;
    while out.len() < len {
        let rec = format!(
            "  {{\"id\": {id}, \"name\": \"{}_{}\", \"pos\": [{}.{}, {}.{}, {}.{}], \"hp\": {}, \"tags\": [\"{}\", \"lod{}\"], \"visible\": {}}},\n",
            word(rng),
            rng.below(100),
            rng.below(2000) as i64 - 1000,
            rng.below(100),
            rng.below(200),
            rng.below(10),
            rng.below(2000) as i64 - 1000,
            rng.below(100),
            rng.below(20) * 10,
            word(rng),
            rng.below(4),
            rng.below(2) == 0,
        );
        out.extend_from_slice(rec.as_bytes());
        id += 1 + rng.below(3);
    }
}

fn mesh(rng: &mut Rng, out: &mut Vec<u8>, len: usize) {
    // Vertices take about 3/4 of the file: 24 bytes each.
    let verts = (len * 3 / 4 / 24).max(4);
    let width = ((verts as f64).sqrt() as usize).max(2);
    out.extend_from_slice(b"MESH");
    out.extend_from_slice(&(verts as u32).to_le_bytes());
    out.extend_from_slice(&(width as u32).to_le_bytes());
    out.extend_from_slice(&24u32.to_le_bytes());
    let mut h = 0.0f32;
    for v in 0..verts {
        let (x, z) = ((v % width) as f32 * 0.25, (v / width) as f32 * 0.25);
        h += (rng.below(1001) as f32 - 500.0) / 5000.0;
        h *= 0.98;
        for f in [x, h, z] {
            out.extend_from_slice(&f.to_le_bytes());
        }
        // Normal (i8 x4) mostly up, UV (u16 x2) following the grid.
        out.extend_from_slice(&[rng.below(9) as u8, 120, rng.below(9) as u8, 0]);
        out.extend_from_slice(&((v % width) as u16 * 64).to_le_bytes());
        out.extend_from_slice(&((v / width) as u16 * 64).to_le_bytes());
    }
    let mut q = 0usize;
    while out.len() < len {
        let (col, row) = (q % (width - 1), q / (width - 1));
        let a = row * width + col;
        for i in [a, a + 1, a + width, a + 1, a + width + 1, a + width] {
            out.extend_from_slice(&((i % 65536) as u16).to_le_bytes());
        }
        q += 1;
    }
}

fn rgb565(r: u32, g: u32, b: u32) -> u16 {
    ((r.min(255) >> 3) << 11 | (g.min(255) >> 2) << 5 | (b.min(255) >> 3)) as u16
}

fn texture(rng: &mut Rng, out: &mut Vec<u8>, len: usize) {
    let blocks_per_row = 256u32;
    let mut block = 0u32;
    let mut pattern = rng.next_u64() as u32;
    while out.len() < len {
        let (bx, by) = (block % blocks_per_row, block / blocks_per_row);
        let base = (
            bx * 255 / blocks_per_row,
            (by * 3) % 256,
            128 + (bx ^ by) % 64,
        );
        let noise = |rng: &mut Rng| rng.below(24) as u32;
        let c0 = rgb565(
            base.0 + noise(rng),
            base.1 + noise(rng),
            base.2 + noise(rng),
        );
        let c1 = rgb565(base.0 / 2, base.1 / 2 + noise(rng), base.2 / 3);
        out.extend_from_slice(&c0.max(c1).to_le_bytes());
        out.extend_from_slice(&c0.min(c1).to_le_bytes());
        // Neighbouring blocks often share index patterns.
        if rng.below(4) == 0 {
            pattern = rng.next_u64() as u32;
        }
        out.extend_from_slice(&pattern.to_le_bytes());
        block += 1;
    }
}

fn image(rng: &mut Rng, out: &mut Vec<u8>, len: usize) {
    let width = 1024u32;
    let mut p = 0u32;
    while out.len() < len {
        let (x, y) = (p % width, p / width);
        let n = rng.next_u64();
        out.extend_from_slice(&[
            ((x * 255 / width) as u8).wrapping_add((n & 3) as u8),
            ((y % 512) / 2) as u8 ^ ((n >> 8) & 1) as u8,
            (((x + y) % 256) as u8) & 0xF8,
            255,
        ]);
        p += 1;
    }
}

/// One file of a sample set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Asset {
    /// Relative path.
    pub path: String,
    /// Content kind.
    pub kind: Kind,
    /// Size in bytes.
    pub size: usize,
    /// Seed.
    pub seed: u64,
}

impl Asset {
    /// The asset's bytes.
    pub fn bytes(&self) -> Vec<u8> {
        generate(self.kind, self.size, self.seed)
    }
}

/// A game-like set of assets of about `total` bytes: text, JSON, meshes,
/// textures, an image, incompressible audio, a tiny and an empty file.
pub fn sample_set(total: u64) -> Vec<Asset> {
    // (path, kind, share of the total in thousandths)
    const PLAN: &[(&str, Kind, u64)] = &[
        ("audio/music_theme.ogg", Kind::Random, 120),
        ("config/empty.cfg", Kind::Json, 0),
        ("config/world.json", Kind::Json, 40),
        ("meshes/rock_large.mesh", Kind::Mesh, 110),
        ("meshes/tree_oak.mesh", Kind::Mesh, 90),
        ("shaders/lighting.glsl", Kind::Text, 20),
        ("text/dialogue_de.txt", Kind::Text, 70),
        ("text/dialogue_en.txt", Kind::Text, 90),
        ("text/readme.txt", Kind::Text, 0),
        ("textures/ground_bc1.dds", Kind::Texture, 210),
        ("textures/sky_bc1.dds", Kind::Texture, 160),
        ("textures/ui_atlas.rgba", Kind::Image, 90),
    ];
    PLAN.iter()
        .enumerate()
        .map(|(i, &(path, kind, share))| {
            let size = match path {
                "config/empty.cfg" => 0,
                "text/readme.txt" => 300,
                _ => (total * share / 1000) as usize,
            };
            Asset {
                path: path.to_owned(),
                kind,
                size,
                seed: 0xD5_0000 + i as u64,
            }
        })
        .collect()
}

/// Writes `set` under `dir`; returns the total bytes written.
pub fn write_set(dir: &Path, set: &[Asset]) -> io::Result<u64> {
    let mut total = 0;
    for a in set {
        let path = dir.join(&a.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, a.bytes())?;
        total += a.size as u64;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_exact_length() {
        for kind in [
            Kind::Text,
            Kind::Json,
            Kind::Mesh,
            Kind::Texture,
            Kind::Image,
            Kind::Random,
        ] {
            for len in [0, 1, 100, 70_000] {
                let a = generate(kind, len, 7);
                assert_eq!(a.len(), len, "{kind:?}");
                assert_eq!(a, generate(kind, len, 7), "{kind:?}");
            }
            assert_ne!(generate(kind, 4096, 1), generate(kind, 4096, 2), "{kind:?}");
        }
    }

    #[test]
    fn sample_set_is_sorted_and_sums_to_about_the_total() {
        let set = sample_set(10_000_000);
        let sum: usize = set.iter().map(|a| a.size).sum();
        assert!((9_900_000..=10_100_000).contains(&sum), "{sum}");
        assert!(set.windows(2).all(|w| w[0].path < w[1].path));
        assert!(set.iter().any(|a| a.size == 0));
    }
}
