//! GDeflate of whole buffers for asset tools and DirectStorage's
//! compression codec (`DStorageCreateCompressionCodec`): compress bound,
//! compress (one thread, or tiles spread over threads with byte-identical
//! output), uncompressed size, decompress (one thread or tile-parallel).
//! Stateless and thread-safe; nothing is allocated on the caller's behalf.

#![allow(unsafe_code)]

use crate::ffi::{bytes, bytes_mut, guard, Out};
use crate::result::{ds_result, Error, DS_ERR_BUFFER_TOO_SMALL};
use ds_gdeflate::encode;

/// Stored blocks only.
pub const DS_GDEFLATE_LEVEL_STORE: i32 = 0;
/// DirectStorage's FASTEST.
pub const DS_GDEFLATE_LEVEL_FASTEST: i32 = 1;
/// DirectStorage's DEFAULT.
pub const DS_GDEFLATE_LEVEL_DEFAULT: i32 = 9;
/// DirectStorage's BEST_RATIO (the highest level).
pub const DS_GDEFLATE_LEVEL_BEST: i32 = 12;

/// Largest input one GDeflate stream holds (65535 tiles of 64 KiB).
pub const DS_GDEFLATE_MAX_INPUT: u64 = 65535 * 65536;

fn threads(n: u32) -> usize {
    n as usize
}

/// The most bytes `ds_gdeflate_compress` can produce for `size` input
/// bytes; `DS_ERR_INVALID_ARGUMENT` above `DS_GDEFLATE_MAX_INPUT`.
///
/// # Safety
/// `out_bound`: NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn ds_gdeflate_compress_bound(size: u64, out_bound: *mut u64) -> ds_result {
    guard("ds_gdeflate_compress_bound", || {
        // SAFETY: caller contract.
        let out = unsafe { Out::new(out_bound, "out_bound") }?;
        if size > DS_GDEFLATE_MAX_INPUT {
            return Err(Error::invalid(format!(
                "{size} bytes exceed the {DS_GDEFLATE_MAX_INPUT} bytes a GDeflate stream holds"
            )));
        }
        out.write(encode::compress_bound(size as usize) as u64);
        Ok(())
    })
}

/// Compresses `src_size` bytes at `level` (0..=12, `DS_GDEFLATE_LEVEL_*`)
/// into a GDeflate tile stream at `dst` (room for `dst_capacity` bytes;
/// `ds_gdeflate_compress_bound` always suffices). `threads`: 1 compresses on
/// this thread without allocating; 0 spreads tiles over every core, n over
/// n threads (same bytes either way). `*out_size` is the stream's length.
/// `DS_ERR_BUFFER_TOO_SMALL` if it does not fit (`dst` contents are then
/// unspecified).
///
/// # Safety
/// `src`: valid for reads of `src_size` bytes (NULL only with size 0);
/// `dst`: valid for writes of `dst_capacity` bytes, not overlapping `src`;
/// `out_size`: NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn ds_gdeflate_compress(
    src: *const u8,
    src_size: u64,
    dst: *mut u8,
    dst_capacity: u64,
    level: i32,
    threads: u32,
    out_size: *mut u64,
) -> ds_result {
    guard("ds_gdeflate_compress", || {
        // SAFETY: caller contract.
        let out = unsafe { Out::new(out_size, "out_size") }?;
        // SAFETY: caller contract.
        let input = unsafe { bytes(src, src_size, "src") }?;
        // SAFETY: caller contract.
        let output = unsafe { bytes_mut(dst, dst_capacity, "dst") }?;
        let level = u8::try_from(level)
            .ok()
            .filter(|&l| l <= encode::MAX_LEVEL)
            .ok_or_else(|| {
                Error::invalid(format!(
                    "GDeflate level {level} is outside 0..={}",
                    encode::MAX_LEVEL
                ))
            })?;
        let n = if threads == 1 {
            encode::compress_into(input, level, output).map_err(|e| Error::encode(&e))?
        } else {
            let stream = encode::compress_parallel(input, level, self::threads(threads))
                .map_err(|e| Error::encode(&e))?;
            let Some(dst) = output.get_mut(..stream.len()) else {
                return Err(Error::new(
                    DS_ERR_BUFFER_TOO_SMALL,
                    format!(
                        "compressed stream of {} bytes does not fit the {} bytes of dst",
                        stream.len(),
                        output.len()
                    ),
                ));
            };
            dst.copy_from_slice(&stream);
            stream.len()
        };
        out.write(n as u64);
        Ok(())
    })
}

/// The uncompressed size announced by a GDeflate stream's header and tile
/// table (the container is validated; `DS_ERR_CORRUPT` if it is not one).
///
/// # Safety
/// `src`: valid for reads of `src_size` bytes (NULL only with size 0);
/// `out_size`: NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn ds_gdeflate_uncompressed_size(
    src: *const u8,
    src_size: u64,
    out_size: *mut u64,
) -> ds_result {
    guard("ds_gdeflate_uncompressed_size", || {
        // SAFETY: caller contract.
        let out = unsafe { Out::new(out_size, "out_size") }?;
        // SAFETY: caller contract.
        let input = unsafe { bytes(src, src_size, "src") }?;
        out.write(ds_gdeflate::uncompressed_size(input).map_err(|e| Error::decode(&e))?);
        Ok(())
    })
}

/// Decompresses a GDeflate stream into `dst` (at least its uncompressed
/// size; bytes past it are not touched). `threads`: 1 decodes on this
/// thread without allocating; 0 spreads tiles over every core, n over n
/// threads. `*out_size` is the decompressed length. Untrusted input is
/// safe: a corrupt stream gives `DS_ERR_CORRUPT` naming the tile and
/// offset, `dst` then holds unspecified bytes.
///
/// # Safety
/// `src`: valid for reads of `src_size` bytes (NULL only with size 0);
/// `dst`: valid for writes of `dst_capacity` bytes, not overlapping `src`;
/// `out_size`: NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn ds_gdeflate_decompress(
    src: *const u8,
    src_size: u64,
    dst: *mut u8,
    dst_capacity: u64,
    threads: u32,
    out_size: *mut u64,
) -> ds_result {
    guard("ds_gdeflate_decompress", || {
        // SAFETY: caller contract.
        let out = unsafe { Out::new(out_size, "out_size") }?;
        // SAFETY: caller contract.
        let input = unsafe { bytes(src, src_size, "src") }?;
        // SAFETY: caller contract.
        let output = unsafe { bytes_mut(dst, dst_capacity, "dst") }?;
        let n = if threads == 1 {
            ds_gdeflate::decompress(input, output)
        } else {
            ds_gdeflate::decompress_parallel(input, output, self::threads(threads))
        }
        .map_err(|e| Error::decode(&e))?;
        out.write(n as u64);
        Ok(())
    })
}
