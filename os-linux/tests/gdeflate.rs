//! GDeflate requests with host-memory destinations: the compressed bytes
//! are read (or taken from memory) and decompressed on the CPU with
//! ds-gdeflate. A wrong uncompressed size and a corrupt stream fail with the
//! decoder's message, and the destination is left untouched.

mod common;

use common::{pattern, pread_queue, TempDir};
use ds_os_linux::{EnqueueError, FileRef, Outcome, QueueBuilder, Request, RequestErrorKind};
use std::sync::Arc;

const TWO_TILES: &[u8] = include_bytes!("data/text_64k_plus1.L9.gdef");
const TWO_TILES_BIN: &[u8] = include_bytes!("data/text_64k_plus1.bin");
const SMALL: &[u8] = include_bytes!("data/text_4095.L12.gdef");
const SMALL_BIN: &[u8] = include_bytes!("data/text_4095.bin");

#[test]
fn gdeflate_from_file_and_memory() {
    let dir = TempDir::new("gdef");
    // Two streams back to back in one pack file, as an asset archive would.
    let mut pack = pattern(100, 1);
    let a_off = pack.len() as u64;
    pack.extend_from_slice(TWO_TILES);
    let b_off = pack.len() as u64;
    pack.extend_from_slice(SMALL);
    let file = FileRef::open(dir.file("pack", &pack)).unwrap();
    let q = pread_queue(128, 2);
    let a = q
        .enqueue(
            Request::read(&file, a_off, TWO_TILES.len() as u64)
                .gdeflate(TWO_TILES_BIN.len() as u64)
                .into_buffer(vec![0; TWO_TILES_BIN.len()]),
        )
        .unwrap();
    let b = q
        .enqueue(
            Request::read(&file, b_off, SMALL.len() as u64)
                .gdeflate(SMALL_BIN.len() as u64)
                .into_buffer(vec![0; SMALL_BIN.len() + 10]),
        )
        .unwrap();
    let m = q
        .enqueue(
            Request::read_memory(Arc::from(SMALL))
                .gdeflate(SMALL_BIN.len() as u64)
                .into_buffer(vec![0; SMALL_BIN.len()]),
        )
        .unwrap();
    let ca = q.wait(a, None).unwrap();
    assert_eq!(ca.result(), Ok(TWO_TILES_BIN.len() as u64));
    assert_eq!(ca.buffer.unwrap(), TWO_TILES_BIN);
    let cb = q.wait(b, None).unwrap();
    let buf = cb.buffer.unwrap();
    assert_eq!(&buf[..SMALL_BIN.len()], SMALL_BIN);
    assert_eq!(&buf[SMALL_BIN.len()..], &[0; 10]);
    assert_eq!(q.wait(m, None).unwrap().buffer.unwrap(), SMALL_BIN);
    assert_eq!(
        q.stats().bytes,
        (TWO_TILES_BIN.len() + 2 * SMALL_BIN.len()) as u64
    );
}

#[test]
fn uncompressed_size_mismatch_fails_and_leaves_destination_untouched() {
    let q = pread_queue(128, 1);
    let declared = SMALL_BIN.len() as u64 + 1;
    let id = q
        .enqueue(
            Request::read_memory(Arc::from(SMALL))
                .gdeflate(declared)
                .into_buffer(vec![0x5A; declared as usize]),
        )
        .unwrap();
    let c = q.wait(id, None).unwrap();
    match &c.outcome {
        Outcome::Failed(e) => {
            assert_eq!(
                e.kind,
                RequestErrorKind::SizeMismatch {
                    stream: SMALL_BIN.len() as u64,
                    declared
                }
            );
            assert!(e.to_string().contains("decompresses to 4095 bytes"), "{e}");
        }
        o => panic!("{o:?}"),
    }
    assert!(c.buffer.unwrap().iter().all(|&b| b == 0x5A));
}

#[test]
fn corrupt_stream_fails_with_the_decoder_message() {
    let dir = TempDir::new("corrupt");
    let mut bad = TWO_TILES.to_vec();
    // Damage the second tile's payload, past the header and tile table.
    let n = bad.len();
    for b in &mut bad[n - 200..n - 100] {
        *b ^= 0xFF;
    }
    let expected = {
        let mut out = vec![0; TWO_TILES_BIN.len()];
        ds_gdeflate::decompress(&bad, &mut out)
            .unwrap_err()
            .to_string()
    };
    let file = FileRef::open(dir.file("bad", &bad)).unwrap();
    let q = pread_queue(128, 1);
    let id = q
        .enqueue(
            Request::read(&file, 0, bad.len() as u64)
                .gdeflate(TWO_TILES_BIN.len() as u64)
                .into_buffer(vec![0x77; TWO_TILES_BIN.len()])
                .name("broken"),
        )
        .unwrap();
    let c = q.wait(id, None).unwrap();
    match &c.outcome {
        Outcome::Failed(e) => {
            assert_eq!(
                e.kind,
                RequestErrorKind::Corrupt {
                    message: expected.clone()
                }
            );
            let msg = e.to_string();
            assert!(msg.contains("'broken'") && msg.contains(&expected), "{msg}");
        }
        o => panic!("{o:?}"),
    }
    assert!(
        c.buffer.unwrap().iter().all(|&b| b == 0x77),
        "destination untouched"
    );
    // Garbage that is not a stream at all.
    let id = q
        .enqueue(
            Request::read_memory(Arc::from(&pattern(64, 3)[..]))
                .gdeflate(100)
                .into_buffer(vec![0; 100]),
        )
        .unwrap();
    assert!(matches!(
        q.wait(id, None).unwrap().outcome,
        Outcome::Failed(ref e) if matches!(e.kind, RequestErrorKind::Corrupt { .. })
    ));
    let ok = q
        .enqueue(
            Request::read_memory(Arc::from(SMALL))
                .gdeflate(SMALL_BIN.len() as u64)
                .into_buffer(vec![0; SMALL_BIN.len()]),
        )
        .unwrap();
    assert_eq!(
        q.wait(ok, None).unwrap().buffer.unwrap(),
        SMALL_BIN,
        "queue keeps working"
    );
}

#[test]
fn staging_limit_refuses_oversized_gdeflate_requests() {
    let q = QueueBuilder::new()
        .capacity(128)
        .staging_limit(4096)
        .build()
        .unwrap();
    let r = q
        .enqueue(
            Request::read_memory(Arc::from(TWO_TILES))
                .gdeflate(TWO_TILES_BIN.len() as u64)
                .into_buffer(vec![0; TWO_TILES_BIN.len()]),
        )
        .unwrap_err();
    assert_eq!(
        r.error,
        EnqueueError::TooLarge {
            size: TWO_TILES_BIN.len() as u64,
            limit: 4096
        }
    );
}

#[test]
fn large_streams_decode_on_several_threads() {
    // 6 MiB: above the queue's parallel-decode threshold (4 MiB).
    let original = {
        let mut v = Vec::with_capacity(6 << 20);
        while v.len() < 6 << 20 {
            v.extend_from_slice(TWO_TILES_BIN);
        }
        v.truncate(6 << 20);
        v
    };
    let stream = ds_gdeflate::encode::compress(&original, 1).unwrap();
    let dir = TempDir::new("big");
    let file = FileRef::open(dir.file("big", &stream)).unwrap();
    let q = QueueBuilder::new()
        .capacity(128)
        .decompress_threads(2)
        .build()
        .unwrap();
    let id = q
        .enqueue(
            Request::read(&file, 0, stream.len() as u64)
                .gdeflate(original.len() as u64)
                .into_buffer(vec![0; original.len()]),
        )
        .unwrap();
    let c = q.wait(id, None).unwrap();
    assert_eq!(c.result(), Ok(original.len() as u64));
    assert!(c.buffer.unwrap() == original);
}
