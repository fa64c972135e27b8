//! The file commands of `dsr`: compress, decompress, info, verify, pack,
//! unpack. Each takes plain arguments, prints its report (summaries on
//! stderr so stdout can carry data for `-`; `info` and `verify` reports on
//! stdout) and returns a [`CliError`] with context on failure.

use crate::archive::{self, Archive, Codec, Entry, Writer};
use crate::codec::{self, Run};
use crate::error::CliError;
use crate::interrupt;
use crate::output::{self, is_stdio, Output, PendingDir, PendingFile};
use crate::progress;
use crate::sha::{self, sha256, Sha256Digest};
use ds_gdeflate::{DecodeOptions, TileStream, TILE_SIZE};
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Label of a path for messages (`-` is stdin).
fn label(path: &Path) -> String {
    if is_stdio(path) {
        "<stdin>".to_owned()
    } else {
        path.display().to_string()
    }
}

fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        100.0 * part as f64 / whole as f64
    }
}

fn mbps(bytes: u64, secs: f64) -> f64 {
    bytes as f64 / secs.max(1e-9) / 1e6
}

/// `dsr compress`: `input` (a file or `-`) into a GDeflate tile stream.
pub fn compress(input: &Path, output: &Path, level: u8, threads: usize) -> Result<(), CliError> {
    let out = Output::create(output)?;
    let data = output::read_input(input)?;
    let bar = progress::bytes(data.len() as u64, "compress");
    let t = Instant::now();
    let what = label(input);
    let stream = codec::compress(
        &data,
        level,
        &Run {
            threads,
            progress: &bar,
            what: &what,
        },
    )?;
    bar.finish_and_clear();
    out.finish(&stream)?;
    let secs = t.elapsed().as_secs_f64();
    eprintln!(
        "{what}: {} -> {} bytes ({:.1}%), {} tiles, level {level}, {secs:.2} s ({:.1} MB/s)",
        data.len(),
        stream.len(),
        percent(stream.len() as u64, data.len() as u64),
        data.len().div_ceil(TILE_SIZE),
        mbps(data.len() as u64, secs),
    );
    Ok(())
}

/// `dsr decompress`: a GDeflate tile stream back into its bytes.
pub fn decompress(
    input: &Path,
    output: &Path,
    threads: usize,
    strict: bool,
) -> Result<(), CliError> {
    let dest = Output::create(output)?;
    let data = output::read_input(input)?;
    let what = label(input);
    let size = TileStream::parse(&data).map_or(0, |s| s.uncompressed_size());
    let bar = progress::bytes(size, "decompress");
    let t = Instant::now();
    let out = codec::decompress(
        &data,
        strict,
        &Run {
            threads,
            progress: &bar,
            what: &what,
        },
    )?;
    bar.finish_and_clear();
    dest.finish(&out)?;
    let secs = t.elapsed().as_secs_f64();
    eprintln!(
        "{what}: {} -> {} bytes, {secs:.2} s ({:.1} MB/s)",
        data.len(),
        out.len(),
        mbps(out.len() as u64, secs)
    );
    Ok(())
}

/// Where an archive's bytes are: an open file, or memory (stdin).
enum Source {
    File(File),
    Memory(Vec<u8>),
}

impl Source {
    fn read_at(&self, offset: u64, len: u64) -> io::Result<Vec<u8>> {
        match self {
            Source::File(f) => {
                let len = usize::try_from(len).map_err(|_| io::ErrorKind::OutOfMemory)?;
                let mut buf = vec![0u8; len];
                std::os::unix::fs::FileExt::read_exact_at(f, &mut buf, offset)?;
                Ok(buf)
            }
            Source::Memory(m) => usize::try_from(offset)
                .ok()
                .zip(usize::try_from(len).ok())
                .and_then(|(o, l)| m.get(o..o.checked_add(l)?))
                .map(<[u8]>::to_vec)
                .ok_or_else(|| io::ErrorKind::UnexpectedEof.into()),
        }
    }
}

/// What a file holds, judged by its first bytes.
enum Opened {
    Stream(Vec<u8>),
    Archive(Source, Archive),
}

fn open_any(path: &Path) -> Result<Opened, CliError> {
    let archive_err = |error| CliError::Archive {
        path: path.to_path_buf(),
        error,
    };
    if is_stdio(path) {
        let data = output::read_input(path)?;
        if archive::has_magic(&data) {
            let a = Archive::parse(&data).map_err(archive_err)?;
            return Ok(Opened::Archive(Source::Memory(data), a));
        }
        return stream_or_neither(path, data);
    }
    let file = File::open(path).map_err(CliError::io("open", path))?;
    let mut magic = [0u8; 8];
    let n = std::os::unix::fs::FileExt::read_at(&file, &mut magic, 0)
        .map_err(CliError::io("read", path))?;
    if archive::has_magic(&magic[..n]) {
        let a = Archive::open(&file).map_err(archive_err)?;
        return Ok(Opened::Archive(Source::File(file), a));
    }
    drop(file);
    stream_or_neither(path, output::read_input(path)?)
}

/// `data` as a stream when its first bytes say GDeflate (or it is too short
/// to tell: the decoder's message then explains), else an error saying it
/// is neither format.
fn stream_or_neither(path: &Path, data: Vec<u8>) -> Result<Opened, CliError> {
    if data.len() >= 2 && data[..2] != [4, 0xFB] {
        return Err(CliError::Invalid {
            what: format!(
                "{}: not a dsr archive or a GDeflate stream (first bytes {})",
                label(path),
                sha::to_hex(&data[..data.len().min(8)])
            ),
        });
    }
    Ok(Opened::Stream(data))
}

/// Opens and validates an archive (a file, or `-` read into memory).
fn open_archive(path: &Path) -> Result<(Source, Archive), CliError> {
    let archive_err = |error| CliError::Archive {
        path: path.to_path_buf(),
        error,
    };
    if is_stdio(path) {
        let data = output::read_input(path)?;
        let a = Archive::parse(&data).map_err(archive_err)?;
        return Ok((Source::Memory(data), a));
    }
    let file = File::open(path).map_err(CliError::io("open", path))?;
    let a = Archive::open(&file).map_err(archive_err)?;
    Ok((Source::File(file), a))
}

/// Label of an archive entry for messages.
fn entry_label(archive: &Path, e: &Entry) -> String {
    format!(
        "{} entry {:?} (data at offset {})",
        label(archive),
        e.path,
        e.offset
    )
}

fn size_mismatch(what: &str, stream: u64, index: u64) -> CliError {
    CliError::Invalid {
        what: format!("{what}: stream decodes to {stream} bytes, the index says {index}"),
    }
}

/// Reads, decodes and checks one entry. Decode errors report offsets in
/// the archive file.
fn extract(
    archive: &Path,
    src: &Source,
    e: &Entry,
    threads: usize,
    strict: bool,
    bar: &indicatif::ProgressBar,
) -> Result<Vec<u8>, CliError> {
    let what = entry_label(archive, e);
    let stored = src
        .read_at(e.offset, e.stored_size)
        .map_err(CliError::io("read", archive))?;
    let data = match e.codec {
        Codec::Stored => {
            bar.inc(e.size);
            stored
        }
        Codec::GDeflate => {
            // The stream header says its size: refuse a mismatch before
            // allocating for it or decoding anything.
            if let Ok(parsed) = TileStream::parse(&stored) {
                if parsed.uncompressed_size() != e.size {
                    return Err(size_mismatch(&what, parsed.uncompressed_size(), e.size));
                }
            }
            let r = codec::decompress(
                &stored,
                strict,
                &Run {
                    threads,
                    progress: bar,
                    what: &what,
                },
            );
            match r {
                Err(CliError::Decode {
                    what,
                    error,
                    file_offset,
                }) => {
                    return Err(CliError::Decode {
                        what,
                        error,
                        file_offset: file_offset.map(|o| o + e.offset),
                    })
                }
                other => other?,
            }
        }
    };
    if data.len() as u64 != e.size {
        return Err(size_mismatch(&what, data.len() as u64, e.size));
    }
    let got = sha256(&data);
    if got != e.sha256 {
        return Err(CliError::Mismatch {
            what,
            expected: sha::to_hex(&e.sha256),
            actual: sha::to_hex(&got),
        });
    }
    Ok(data)
}

/// `dsr info`: what a stream or archive holds, and whether it is valid.
pub fn info(path: &Path, brief: bool) -> Result<(), CliError> {
    match open_any(path)? {
        Opened::Stream(data) => info_stream(path, &data, brief),
        Opened::Archive(src, a) => info_archive(path, &src, &a, brief),
    }
}

fn info_stream(path: &Path, data: &[u8], brief: bool) -> Result<(), CliError> {
    println!("file: {} ({} bytes)", label(path), data.len());
    let stream = TileStream::parse(data).map_err(|error| CliError::Decode {
        what: label(path),
        error,
        file_offset: codec::file_offset(&error, None),
    });
    let stream = match stream {
        Ok(s) => s,
        Err(e) => {
            if data.len() >= 8 {
                println!(
                    "header bytes: {} (codec id {}, magic {:#04x}, {} tiles, word {:#010x})",
                    sha::to_hex(&data[..8]),
                    data[0],
                    data[1],
                    u16::from_le_bytes([data[2], data[3]]),
                    u32::from_le_bytes([data[4], data[5], data[6], data[7]])
                );
            }
            println!("validation: FAILED: {e}");
            return Err(e);
        }
    };
    let size = stream.uncompressed_size();
    let tiles = stream.num_tiles();
    println!("format: GDeflate tile stream (codec id 4, 64 KiB tiles)");
    println!(
        "tiles: {tiles}, last tile {} bytes",
        if tiles == 0 {
            0
        } else {
            stream.tile_uncompressed_len(tiles - 1)
        }
    );
    println!(
        "size: {size} bytes uncompressed, {} compressed ({:.1}%, {:.2}:1)",
        data.len(),
        percent(data.len() as u64, size),
        size as f64 / data.len().max(1) as f64
    );
    let mut out = vec![0u8; size as usize];
    let mut failures = Vec::new();
    if !brief && tiles > 0 {
        println!(
            "{:>6} {:>12} {:>10} {:>12} {:>7}  status",
            "tile", "file offset", "compressed", "uncompressed", "ratio"
        );
    }
    let options = DecodeOptions::default();
    for i in 0..tiles {
        let payload = stream.tile_payload(i);
        let at = stream.tile_output_offset(i) as usize;
        let len = stream.tile_uncompressed_len(i);
        let r = ds_gdeflate::decompress_tile_with(payload, &mut out[at..at + len], options);
        let status = match r {
            Ok(_) => "ok".to_owned(),
            Err(e) => {
                let error = match e {
                    ds_gdeflate::DecodeError::Corrupt { offset, kind, .. } => {
                        ds_gdeflate::DecodeError::Corrupt {
                            tile: i,
                            offset,
                            kind,
                        }
                    }
                    other => other,
                };
                let s = format!("FAILED: {error}");
                failures.push(CliError::Decode {
                    what: label(path),
                    error,
                    file_offset: codec::file_offset(&error, Some(&stream)),
                });
                s
            }
        };
        if !brief {
            println!(
                "{i:>6} {:>12} {:>10} {len:>12} {:>6.1}%  {status}",
                stream.tile_offset_in_input(i),
                payload.len(),
                percent(payload.len() as u64, len as u64),
            );
        }
    }
    if failures.is_empty() {
        println!("sha256: {}", sha::to_hex(&sha256(&out)));
        println!("validation: OK (all {tiles} tiles decode)");
        Ok(())
    } else {
        println!(
            "validation: FAILED: {} of {tiles} tiles do not decode",
            failures.len()
        );
        Err(first_or_several(failures))
    }
}

fn first_or_several(mut errors: Vec<CliError>) -> CliError {
    if errors.len() == 1 {
        errors.remove(0)
    } else {
        let mismatches = errors
            .iter()
            .filter(|e| matches!(e, CliError::Mismatch { .. }))
            .count();
        CliError::Several { mismatches, errors }
    }
}

fn info_archive(path: &Path, src: &Source, a: &Archive, brief: bool) -> Result<(), CliError> {
    let h = &a.header;
    let stored: u64 = a.entries.iter().map(|e| e.stored_size).sum();
    println!("file: {} ({} bytes)", label(path), h.archive_size);
    println!("format: dsr archive version {}", h.version);
    println!(
        "entries: {}, index {} bytes at {}, data from {}",
        h.entry_count, h.index_size, h.index_offset, h.data_offset
    );
    println!(
        "size: {} bytes of files, {stored} stored ({:.1}%), archive {} bytes with padding",
        h.total_size,
        percent(stored, h.total_size),
        h.archive_size
    );
    println!("index sha256: {}", sha::to_hex(&h.index_sha256));
    if !brief && !a.entries.is_empty() {
        println!(
            "{:>10} {:>10} {:>10} {:>7} {:>8}  {:<8} path",
            "offset", "stored", "size", "ratio", "codec", "status"
        );
    }
    let bar = progress::hidden();
    let mut failures = Vec::new();
    for e in &a.entries {
        interrupt::check()?;
        let status = match extract(path, src, e, 0, false, &bar) {
            Ok(_) => "ok".to_owned(),
            Err(err) => {
                let s = if matches!(err, CliError::Mismatch { .. }) {
                    "MISMATCH"
                } else {
                    "FAILED"
                };
                failures.push(err);
                s.to_owned()
            }
        };
        if !brief {
            println!(
                "{:>10} {:>10} {:>10} {:>6.1}% {:>8}  {:<8} {}",
                e.offset,
                e.stored_size,
                e.size,
                percent(e.stored_size, e.size),
                e.codec.name(),
                status,
                e.path
            );
        }
    }
    if failures.is_empty() {
        println!(
            "validation: OK (index valid, all {} entries decode and match their sha256)",
            a.entries.len()
        );
        Ok(())
    } else {
        println!(
            "validation: FAILED: {} of {} entries",
            failures.len(),
            a.entries.len()
        );
        Err(first_or_several(failures))
    }
}

/// `dsr verify`: decodes everything and checks checksums.
pub fn verify(
    path: &Path,
    want: Option<Sha256Digest>,
    threads: usize,
    strict: bool,
) -> Result<(), CliError> {
    let t = Instant::now();
    match open_any(path)? {
        Opened::Stream(data) => {
            let what = label(path);
            let size = TileStream::parse(&data).map_or(0, |s| s.uncompressed_size());
            let bar = progress::bytes(size, "verify");
            let out = codec::decompress(
                &data,
                strict,
                &Run {
                    threads,
                    progress: &bar,
                    what: &what,
                },
            )?;
            bar.finish_and_clear();
            let got = sha256(&out);
            if let Some(want) = want {
                if got != want {
                    return Err(CliError::Mismatch {
                        what,
                        expected: sha::to_hex(&want),
                        actual: sha::to_hex(&got),
                    });
                }
            }
            println!(
                "OK {what}: GDeflate stream, {} tiles, {} bytes, sha256 {}{}",
                out.len().div_ceil(TILE_SIZE),
                out.len(),
                sha::to_hex(&got),
                if want.is_some() { " (matches)" } else { "" }
            );
            Ok(())
        }
        Opened::Archive(src, a) => {
            if want.is_some() {
                return Err(CliError::Usage(
                    "--sha256 applies to a GDeflate stream; archive entries carry their own checksums".into(),
                ));
            }
            let bar = progress::bytes(a.header.total_size, "verify");
            let mut failures = Vec::new();
            for e in &a.entries {
                interrupt::check()?;
                match extract(path, &src, e, threads, strict, &bar) {
                    Ok(_) => {}
                    Err(CliError::Interrupted) => return Err(CliError::Interrupted),
                    Err(err) => failures.push(err),
                }
            }
            bar.finish_and_clear();
            if !failures.is_empty() {
                return Err(first_or_several(failures));
            }
            println!(
                "OK {}: dsr archive, {} entries, {} bytes, every sha256 matches ({:.2} s)",
                label(path),
                a.entries.len(),
                a.header.total_size,
                t.elapsed().as_secs_f64()
            );
            Ok(())
        }
    }
}

/// A regular file found under a pack directory.
#[derive(Clone, Debug)]
pub struct Found {
    /// Archive path (`/`-separated, relative).
    pub name: String,
    /// Where it is on disk.
    pub path: PathBuf,
    /// Its size.
    pub size: u64,
}

/// Lists the regular files under `dir`, sorted by archive path. Symlinks,
/// special files and names that are not valid archive paths are errors
/// (an archive that silently lacks a file is worse than no archive).
pub fn walk(dir: &Path) -> Result<Vec<Found>, CliError> {
    let mut found = Vec::new();
    let mut stack = vec![(dir.to_path_buf(), String::new())];
    while let Some((at, prefix)) = stack.pop() {
        let rd = std::fs::read_dir(&at).map_err(CliError::io("read the directory", &at))?;
        for entry in rd {
            let entry = entry.map_err(CliError::io("read the directory", &at))?;
            let path = entry.path();
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                return Err(CliError::Invalid {
                    what: format!("{}: file name is not UTF-8", path.display()),
                });
            };
            let rel = if prefix.is_empty() {
                name
            } else {
                format!("{prefix}/{name}")
            };
            let ft = entry.file_type().map_err(CliError::io("stat", &path))?;
            if ft.is_dir() {
                stack.push((path, rel));
            } else if ft.is_file() {
                archive::check_path(&rel).map_err(|p| CliError::Invalid {
                    what: format!("{}: cannot be stored: {p}", path.display()),
                })?;
                let size = entry.metadata().map_err(CliError::io("stat", &path))?.len();
                found.push(Found {
                    name: rel,
                    path,
                    size,
                });
            } else {
                return Err(CliError::Invalid {
                    what: format!(
                        "{}: not a regular file or directory (symlinks and special files are not packed)",
                        path.display()
                    ),
                });
            }
        }
    }
    found.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
    Ok(found)
}

/// Summary of a pack run.
#[derive(Clone, Debug)]
pub struct PackReport {
    /// Files packed.
    pub files: usize,
    /// Their total size.
    pub bytes: u64,
    /// Archive size.
    pub archive_size: u64,
    /// Bytes of entry data.
    pub stored: u64,
    /// Entries kept raw because GDeflate did not shrink them.
    pub raw_entries: usize,
    /// Seconds.
    pub secs: f64,
}

/// Packs `dir` into the archive `out` (written whole or not at all).
pub fn pack(
    dir: &Path,
    out: &Path,
    level: u8,
    threads: usize,
    show_progress: bool,
) -> Result<PackReport, CliError> {
    if is_stdio(out) {
        return Err(CliError::Usage(
            "pack writes its archive with positioned writes: give a file, not -".into(),
        ));
    }
    let t = Instant::now();
    let files = walk(dir)?;
    let total: u64 = files.iter().map(|f| f.size).sum();
    let pending = PendingFile::create(out)?;
    let file = pending
        .file()
        .try_clone()
        .map_err(CliError::io("open", out))?;
    let names = files.iter().map(|f| f.name.clone()).collect();
    let write_err = |e: archive::WriteError| CliError::Invalid {
        what: format!("{}: {e}", out.display()),
    };
    let mut writer = Writer::new(file, names).map_err(write_err)?;
    let bar = if show_progress {
        progress::bytes(total, "pack")
    } else {
        progress::hidden()
    };
    let (mut stored, mut raw_entries) = (0u64, 0usize);
    for f in &files {
        interrupt::check()?;
        let data = std::fs::read(&f.path).map_err(CliError::io("read", &f.path))?;
        let digest = sha256(&data);
        let what = f.path.display().to_string();
        let stream = codec::compress(
            &data,
            level,
            &Run {
                threads,
                progress: &bar,
                what: &what,
            },
        )?;
        let (codec, bytes) = if stream.len() < data.len() {
            (Codec::GDeflate, &stream[..])
        } else {
            raw_entries += 1;
            (Codec::Stored, &data[..])
        };
        stored += bytes.len() as u64;
        writer
            .add(codec, bytes, data.len() as u64, digest)
            .map_err(write_err)?;
    }
    let (_, header) = writer.finish().map_err(write_err)?;
    bar.finish_and_clear();
    pending.commit()?;
    Ok(PackReport {
        files: files.len(),
        bytes: total,
        archive_size: header.archive_size,
        stored,
        raw_entries,
        secs: t.elapsed().as_secs_f64(),
    })
}

/// `dsr pack` with its summary line.
pub fn pack_command(dir: &Path, out: &Path, level: u8, threads: usize) -> Result<(), CliError> {
    let r = pack(dir, out, level, threads, true)?;
    eprintln!(
        "{}: {} files, {} bytes -> {} bytes of data ({:.1}%, {} kept raw), archive {} bytes, {:.2} s ({:.1} MB/s)",
        out.display(),
        r.files,
        r.bytes,
        r.stored,
        percent(r.stored, r.bytes),
        r.raw_entries,
        r.archive_size,
        r.secs,
        mbps(r.bytes, r.secs)
    );
    Ok(())
}

/// `dsr unpack`: every entry of `archive_path` into the new directory
/// `dir`, which appears only once every entry decoded and matched its
/// checksum.
pub fn unpack(archive_path: &Path, dir: &Path, threads: usize) -> Result<(), CliError> {
    let t = Instant::now();
    let (src, a) = open_archive(archive_path)?;
    let pending = PendingDir::create(dir)?;
    let bar = progress::bytes(a.header.total_size, "unpack");
    for e in &a.entries {
        interrupt::check()?;
        let data = extract(archive_path, &src, e, threads, false, &bar)?;
        // Paths were validated (relative, no `..`, no empty components), so
        // the join stays inside the temporary directory, which is new and
        // holds only what this loop created.
        let dest = pending.path().join(&e.path);
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent).map_err(CliError::io("create", parent))?;
        }
        std::fs::write(&dest, &data).map_err(CliError::io("write", &dest))?;
    }
    bar.finish_and_clear();
    pending.commit()?;
    eprintln!(
        "{}: {} files, {} bytes into {} ({:.2} s)",
        label(archive_path),
        a.entries.len(),
        a.header.total_size,
        dir.display(),
        t.elapsed().as_secs_f64()
    );
    Ok(())
}
