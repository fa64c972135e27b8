//! One hand-built stream per decoder rule (SPEC §2, §3, §5, §7): container
//! checks, block types, Huffman-code validity, code-length repeats,
//! literal/length symbols 286/287, distances, output size, input bounds,
//! strict mode. Streams are made with the test-only lane writer in
//! `support`, which follows the turn schedule the test spells out; the
//! writer itself is checked by reproducing reference-encoder vectors.

mod support;

use ds_gdeflate::{
    decompress, decompress_parallel, decompress_tile, decompress_tile_with, decompress_with,
    uncompressed_size, CodeKind, Corruption, DecodeError, DecodeOptions, TileStream,
};
use support::{
    container, dynamic_block, dynamic_header, fixed_header, fixed_symbols, plain_lengths,
    stored_block, Item, LaneWriter, FULL_PRECODE,
};

fn committed(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/vectors/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// Decodes one hand-built tile payload of `size` bytes, checking that the
/// container path and the single-tile path agree.
fn decode(payload: &[u8], size: usize) -> Result<Vec<u8>, DecodeError> {
    let mut tile = vec![0u8; size];
    let single = decompress_tile(payload, &mut tile).map(|_| tile.clone());
    let stream = container(&[payload.to_vec()], size as u64);
    let mut out = vec![0u8; size];
    let whole = decompress(&stream, &mut out).map(|_| out);
    assert_eq!(single, whole, "single-tile and stream decode disagree");
    single
}

fn corruption(r: Result<Vec<u8>, DecodeError>) -> Corruption {
    match r {
        Err(DecodeError::Corrupt { tile: 0, kind, .. }) => kind,
        other => panic!("expected a corrupt-tile error, got {other:?}"),
    }
}

fn fixed_tile(items: &[Item]) -> Vec<u8> {
    let mut w = LaneWriter::new();
    fixed_header(&mut w, true);
    fixed_symbols(&mut w, items);
    w.finish()
}

fn lits(s: &[u8]) -> Vec<Item> {
    s.iter().map(|&b| Item::Lit(b)).collect()
}

// ---- the writer reproduces the reference encoder ----

#[test]
fn writer_reproduces_reference_stored_and_fixed_vectors() {
    let mut w = LaneWriter::new();
    stored_block(&mut w, b"A", true);
    assert_eq!(container(&[w.finish()], 1), committed("byte1.L0.gdef"));
    assert_eq!(
        container(&[fixed_tile(&lits(b"A"))], 1),
        committed("byte1.L1.gdef")
    );
    // SPEC §9 example 3: "abc" then length 44 (274 + extra 1) at distance 3
    // (symbol 2), then '!'.
    let mut items = lits(b"abca");
    items.push(Item::Match(274, (1, 3), 2, (0, 0)));
    items.push(Item::Lit(b'!'));
    let payload = fixed_tile(&items);
    assert_eq!(payload.len(), 156);
    let want: Vec<u8> = b"abc".repeat(16).into_iter().chain(*b"!").collect();
    assert_eq!(decode(&payload, 49).unwrap(), want);
}

// ---- container (SPEC §2, §7 rules 1-9, 22) ----

#[test]
fn short_header_is_rejected() {
    for len in 0..8 {
        let s = &committed("byte1.L1.gdef")[..len];
        assert_eq!(uncompressed_size(s), Err(DecodeError::ShortHeader { len }));
    }
}

#[test]
fn bad_id_and_magic_are_rejected() {
    for (id, magic) in [(5, 0xFB), (5, 0xFA), (4, 0xFA), (0, 0xFF)] {
        let mut s = committed("byte1.L1.gdef");
        s[0] = id;
        s[1] = magic;
        assert_eq!(
            decompress(&s, &mut [0]),
            Err(DecodeError::BadId { id, magic })
        );
    }
}

#[test]
fn tile_size_index_other_than_1_is_rejected() {
    for v in [0u8, 2, 3] {
        let mut s = committed("byte1.L1.gdef");
        s[4] = (s[4] & !3) | v;
        assert_eq!(
            uncompressed_size(&s),
            Err(DecodeError::BadTileSizeIndex { value: v })
        );
    }
}

#[test]
fn last_tile_size_over_65536_is_rejected_and_65536_means_full() {
    let mut s = committed("zeros_64k.L9.gdef");
    let set =
        |s: &mut Vec<u8>, last: u32| s[4..8].copy_from_slice(&(1 | (last << 2)).to_le_bytes());
    set(&mut s, 70000);
    assert_eq!(
        uncompressed_size(&s),
        Err(DecodeError::BadLastTileSize { value: 70000 })
    );
    set(&mut s, 65537);
    assert!(uncompressed_size(&s).is_err());
    set(&mut s, 65536);
    let mut out = vec![1u8; 65536];
    assert_eq!(decompress(&s, &mut out), Ok(65536));
    assert!(out.iter().all(|&b| b == 0));
}

#[test]
fn zero_tiles_is_an_empty_stream() {
    assert_eq!(decompress(&[4, 0xFB, 0, 0, 1, 0, 0, 0], &mut []), Ok(0));
    // lastTileSize "should be 0" but is ignored (corrupt vector numtiles_0).
    let mut s = committed("text_64k_plus1.L9.gdef");
    s[2] = 0;
    s[3] = 0;
    assert_eq!(uncompressed_size(&s), Ok(0));
    assert_eq!(decompress_parallel(&s, &mut [], 0), Ok(0));
}

#[test]
fn reserved_bits_and_trailing_data_are_accepted() {
    let orig = committed("text_64k_plus1.bin");
    let mut s = committed("text_64k_plus1.L9.gdef");
    s[7] |= 0xF0;
    s.extend_from_slice(&[0xAB; 100]);
    let mut out = vec![0u8; orig.len()];
    assert_eq!(decompress(&s, &mut out), Ok(orig.len()));
    assert!(out == orig);
}

#[test]
fn tile_table_that_does_not_fit_is_rejected() {
    let s = [4, 0xFB, 3, 0, 1, 0, 0, 0, 0x84, 0, 0, 0];
    assert_eq!(
        uncompressed_size(&s),
        Err(DecodeError::ShortTileTable {
            num_tiles: 3,
            needed: 20,
            len: 12
        })
    );
}

/// A 3-tile stored stream (tiles of 65536, 65536 and 10 bytes).
fn three_tiles() -> (Vec<u8>, Vec<u8>) {
    let data: Vec<u8> = (0..2 * 65536 + 10).map(|i| (i * 7 % 251) as u8).collect();
    (support::stored_stream(&data), data)
}

fn set_entry(s: &mut [u8], i: usize, v: u32) {
    s[8 + 4 * i..12 + 4 * i].copy_from_slice(&v.to_le_bytes());
}

#[test]
fn tile_offsets_out_of_range_decreasing_or_overlapping_are_rejected() {
    let (s, data) = three_tiles();
    let mut out = vec![0u8; data.len()];
    assert_eq!(decompress(&s, &mut out), Ok(data.len()));
    assert!(out == data);
    let t1 = u32::from_le_bytes(s[12..16].try_into().unwrap());
    let t2 = u32::from_le_bytes(s[16..20].try_into().unwrap());

    // Decreasing: tile 2 starts before tile 1.
    let mut bad = s.clone();
    set_entry(&mut bad, 2, t1 - 4);
    assert!(matches!(
        decompress(&bad, &mut out),
        Err(DecodeError::BadTileRange { tile: 1, .. })
    ));
    // Overlapping the previous tile's data from the start.
    let mut bad = s.clone();
    set_entry(&mut bad, 1, 0);
    set_entry(&mut bad, 2, 0);
    assert!(matches!(
        decompress(&bad, &mut out),
        Err(DecodeError::Corrupt {
            tile: 0,
            kind: Corruption::ReadPastEnd { word_offset: 0 },
            ..
        })
    ));
    // Offset past the end of the stream.
    let mut bad = s.clone();
    set_entry(&mut bad, 2, s.len() as u32);
    assert!(matches!(
        uncompressed_size(&bad),
        Err(DecodeError::BadTileRange { .. })
    ));
    // Last tile's size (T[0]) too large, and huge.
    for v in [
        u32::from_le_bytes(s[8..12].try_into().unwrap()) + 4,
        u32::MAX,
    ] {
        let mut bad = s.clone();
        set_entry(&mut bad, 0, v);
        assert!(matches!(
            uncompressed_size(&bad),
            Err(DecodeError::BadTileRange { tile: 2, .. })
        ));
    }
    // Tile count inconsistent with the sizes: one tile more than present
    // (the table then swallows payload bytes) or one fewer.
    let mut bad = s.clone();
    bad[2] = 4;
    assert!(decompress(&bad, &mut vec![0u8; 4 * 65536]).is_err());
    let mut bad = s.clone();
    bad[2] = 2;
    assert!(decompress(&bad, &mut out).is_err());
    assert!(t2 > t1);
}

#[test]
fn truncated_tile_data_is_rejected() {
    let (s, data) = three_tiles();
    let mut out = vec![0u8; data.len()];
    for cut in [1, 4, 100] {
        let short = &s[..s.len() - cut];
        assert!(matches!(
            decompress(short, &mut out),
            Err(DecodeError::BadTileRange { tile: 2, .. })
        ));
    }
    let stream = TileStream::parse(&s).unwrap();
    let payload = stream.tile_payload(0);
    let mut tile = vec![0u8; 65536];
    for keep in [0, 64, 128, 132, payload.len() - 4] {
        assert!(matches!(
            decompress_tile(&payload[..keep], &mut tile),
            Err(DecodeError::Corrupt {
                kind: Corruption::ReadPastEnd { .. },
                ..
            })
        ));
    }
}

#[test]
fn destination_too_small_is_rejected() {
    let s = committed("text_64k_plus1.L9.gdef");
    let mut out = vec![0u8; 65536];
    let want = DecodeError::DestinationTooSmall {
        needed: 65537,
        available: 65536,
    };
    assert_eq!(decompress(&s, &mut out), Err(want));
    assert_eq!(decompress_parallel(&s, &mut out, 2), Err(want));
    assert_eq!(
        decompress_tile(&[0; 200], &mut vec![0u8; 65537]),
        Err(DecodeError::TileTooLarge { len: 65537 })
    );
}

// ---- blocks (SPEC §3.3-§3.8) ----

#[test]
fn reserved_block_type_is_rejected() {
    let mut w = LaneWriter::new();
    w.put(0, 1, 1);
    w.put(0, 3, 2);
    w.end_turn(0);
    assert_eq!(
        corruption(decode(&w.finish(), 1)),
        Corruption::ReservedBlockType
    );
}

#[test]
fn blocks_chain_stored_empty_fixed_dynamic() {
    let mut w = LaneWriter::new();
    stored_block(&mut w, b"", false);
    stored_block(&mut w, &[7u8; 100], false);
    fixed_header(&mut w, false);
    fixed_symbols(&mut w, &lits(b"xy"));
    // Dynamic: 'a' and 'b' and EOB, lengths 2, 2, 1; empty distance code.
    let mut ll = vec![0u8; 257];
    ll[usize::from(b'a')] = 2;
    ll[usize::from(b'b')] = 2;
    ll[256] = 1;
    dynamic_block(&mut w, true, &ll, &[0], &lits(b"abba"));
    let mut want = vec![7u8; 100];
    want.extend_from_slice(b"xyabba");
    assert_eq!(decode(&w.finish(), 106).unwrap(), want);
}

#[test]
fn stored_block_longer_than_the_tile_is_rejected() {
    let mut w = LaneWriter::new();
    stored_block(&mut w, &[1; 40], true);
    assert!(matches!(
        corruption(decode(&w.finish(), 39)),
        Corruption::OutputOverrun { wanted: 40, .. }
    ));
}

#[test]
fn tile_shorter_than_expected_is_rejected() {
    let payload = fixed_tile(&lits(b"abc"));
    assert_eq!(
        corruption(decode(&payload, 4)),
        Corruption::ShortOutput {
            produced: 3,
            expected: 4
        }
    );
    assert_eq!(decode(&payload, 3).unwrap(), b"abc");
}

#[test]
fn literal_or_match_past_the_tile_size_is_rejected() {
    let payload = fixed_tile(&lits(b"abcd"));
    assert!(matches!(
        corruption(decode(&payload, 3)),
        Corruption::OutputOverrun { position: 3, .. }
    ));
    // 'a' then length 10 at distance 1: 11 bytes into a 10-byte tile.
    let payload = fixed_tile(&[Item::Lit(b'a'), Item::Match(264, (0, 0), 0, (0, 0))]);
    assert_eq!(decode(&payload, 11).unwrap(), vec![b'a'; 11]);
    assert!(matches!(
        corruption(decode(&payload, 10)),
        Corruption::OutputOverrun { wanted: 10, .. }
    ));
}

#[test]
fn distance_beyond_output_start_is_rejected() {
    // "ab", then length 3 at distance 3 (symbol 2): one byte too far.
    let payload = fixed_tile(&[
        Item::Lit(b'a'),
        Item::Lit(b'b'),
        Item::Match(257, (0, 0), 2, (0, 0)),
    ]);
    assert_eq!(
        corruption(decode(&payload, 5)),
        Corruption::DistanceTooFar {
            distance: 3,
            position: 2
        }
    );
    // A match as the very first item.
    let payload = fixed_tile(&[Item::Match(257, (0, 0), 0, (0, 0))]);
    assert_eq!(
        corruption(decode(&payload, 3)),
        Corruption::DistanceTooFar {
            distance: 1,
            position: 0
        }
    );
}

#[test]
fn deflate64_distance_codes_and_length_285_decode() {
    // 50000 literals, then distance code 30 (32769 + extra 5 = 32774),
    // then code 31 (49153 + 0), then 285 (3 + 16 extra bits) at distance 1,
    // then 284 with extra 31 = 258 (never emitted, decodes as 258).
    let lit: Vec<u8> = (0..50000u32).map(|i| (i % 253) as u8).collect();
    let mut items = lits(&lit);
    items.push(Item::Match(257, (0, 0), 30, (5, 14)));
    items.push(Item::Match(258, (0, 0), 31, (0, 14)));
    items.push(Item::Match(285, (1000, 16), 0, (0, 0)));
    items.push(Item::Match(284, (31, 5), 0, (0, 0)));
    let size = 50000 + 3 + 4 + 1003 + 258;
    let out = decode(&fixed_tile(&items), size).unwrap();
    let mut want = lit.clone();
    for _ in 0..3 {
        want.push(want[want.len() - 32774]);
    }
    for _ in 0..4 {
        want.push(want[want.len() - 49153]);
    }
    for _ in 0..1003 + 258 {
        want.push(*want.last().unwrap());
    }
    assert_eq!(out, want);
}

#[test]
fn length_symbols_286_and_287_are_rejected() {
    for sym in [286, 287] {
        let payload = fixed_tile(&[Item::Lit(b'a'), Item::Raw(sym)]);
        assert_eq!(
            corruption(decode(&payload, 10)),
            Corruption::InvalidLengthSymbol(sym as u16)
        );
    }
    // Also with a dynamic code that gives 286 a codeword (HLIT = 288).
    let mut ll = vec![0u8; 288];
    ll[usize::from(b'a')] = 2;
    ll[256] = 2;
    ll[286] = 1;
    let mut w = LaneWriter::new();
    dynamic_block(&mut w, true, &ll, &[0], &[Item::Lit(b'a'), Item::Raw(286)]);
    assert_eq!(
        corruption(decode(&w.finish(), 5)),
        Corruption::InvalidLengthSymbol(286)
    );
}

#[test]
fn reading_past_the_tile_end_is_rejected() {
    let payload = fixed_tile(&lits(b"hello"));
    let ok = decode(&payload, 5).unwrap();
    assert_eq!(ok, b"hello");
    let cut = &payload[..payload.len() - 4];
    assert_eq!(
        corruption(decode(cut, 5)),
        Corruption::ReadPastEnd {
            word_offset: cut.len()
        }
    );
}

#[test]
fn strict_mode_requires_exact_consumption() {
    let mut payload = fixed_tile(&lits(b"hello"));
    payload.extend_from_slice(&[0; 4]);
    let mut out = [0u8; 5];
    assert_eq!(decompress_tile(&payload, &mut out), Ok(5));
    let strict = DecodeOptions { strict: true };
    assert!(matches!(
        decompress_tile_with(&payload, &mut out, strict),
        Err(DecodeError::Corrupt {
            kind: Corruption::UnconsumedInput { .. },
            ..
        })
    ));
    let stream = container(&[payload], 5);
    let mut out = [0u8; 5];
    assert_eq!(decompress(&stream, &mut out), Ok(5));
    assert!(decompress_with(&stream, &mut out, strict).is_err());
}

// ---- Huffman codes and dynamic headers (SPEC §3.6, §5) ----

/// A dynamic tile with the given code-length items and precode.
fn dyn_tile(hlit: usize, hdist: usize, pre: &[u8; 19], cl: &[(u32, u32, u32)]) -> Vec<u8> {
    let mut w = LaneWriter::new();
    dynamic_header(&mut w, true, hlit, hdist, pre, cl);
    w.finish()
}

#[test]
fn over_subscribed_and_incomplete_codes_are_rejected() {
    // Precode: three 1-bit codes.
    let mut pre = [0u8; 19];
    pre[0] = 1;
    pre[1] = 1;
    pre[2] = 1;
    assert_eq!(
        corruption(decode(&dyn_tile(257, 1, &pre, &[]), 1)),
        Corruption::OverSubscribedCode(CodeKind::Precode)
    );
    // Precode incomplete: one 1-bit and one 2-bit code.
    let mut pre = [0u8; 19];
    pre[0] = 1;
    pre[1] = 2;
    assert_eq!(
        corruption(decode(&dyn_tile(257, 1, &pre, &[]), 1)),
        Corruption::IncompleteCode(CodeKind::Precode)
    );
    // Literal/length: 'a' 1 bit, EOB 2 bits: incomplete.
    let mut ll = vec![0u8; 257];
    ll[usize::from(b'a')] = 1;
    ll[256] = 2;
    let mut lens = ll.clone();
    lens.push(0);
    assert_eq!(
        corruption(decode(
            &dyn_tile(257, 1, &FULL_PRECODE, &plain_lengths(&lens)),
            1
        )),
        Corruption::IncompleteCode(CodeKind::LitLen)
    );
    // Literal/length over-subscribed: three 1-bit codes.
    ll[usize::from(b'b')] = 1;
    ll[256] = 1;
    let mut lens = ll.clone();
    lens.push(0);
    assert_eq!(
        corruption(decode(
            &dyn_tile(257, 1, &FULL_PRECODE, &plain_lengths(&lens)),
            1
        )),
        Corruption::OverSubscribedCode(CodeKind::LitLen)
    );
    // Distance: two 1-bit codes and one 2-bit code.
    let mut lens = vec![0u8; 257];
    lens[usize::from(b'a')] = 1;
    lens[256] = 1;
    lens.extend_from_slice(&[1, 1, 2]);
    assert_eq!(
        corruption(decode(
            &dyn_tile(257, 3, &FULL_PRECODE, &plain_lengths(&lens)),
            1
        )),
        Corruption::OverSubscribedCode(CodeKind::Distance)
    );
}

#[test]
fn end_of_block_without_a_code_is_rejected() {
    let mut lens = vec![0u8; 257];
    lens[usize::from(b'a')] = 1;
    lens[usize::from(b'b')] = 1;
    lens.push(0);
    assert_eq!(
        corruption(decode(
            &dyn_tile(257, 1, &FULL_PRECODE, &plain_lengths(&lens)),
            1
        )),
        Corruption::NoEndOfBlockCode
    );
}

#[test]
fn empty_distance_code_is_accepted_until_used() {
    let mut ll = vec![0u8; 258];
    ll[usize::from(b'a')] = 2;
    ll[usize::from(b'b')] = 2;
    ll[256] = 2;
    ll[257] = 2;
    let mut w = LaneWriter::new();
    dynamic_block(&mut w, true, &ll, &[0; 32], &lits(b"ab"));
    assert_eq!(decode(&w.finish(), 2).unwrap(), b"ab");
    let mut w = LaneWriter::new();
    let items = [Item::Lit(b'a'), Item::Match(257, (0, 0), 0, (0, 0))];
    dynamic_block(&mut w, true, &ll, &[0; 32], &items);
    assert_eq!(
        corruption(decode(&w.finish(), 4)),
        Corruption::EmptyCodeUsed(CodeKind::Distance)
    );
}

#[test]
fn single_one_bit_distance_code_decodes_both_bit_values() {
    let mut ll = vec![0u8; 258];
    ll[usize::from(b'a')] = 2;
    ll[usize::from(b'b')] = 2;
    ll[256] = 2;
    ll[257] = 2;
    // Distance symbol 1 (distance 2) is the only code, 1 bit long.
    let dist = [0u8, 1];
    let mut all = ll.clone();
    all.extend_from_slice(&dist);
    let mut w = LaneWriter::new();
    dynamic_header(&mut w, true, 258, 2, &FULL_PRECODE, &plain_lengths(&all));
    let lc = support::canonical(&ll);
    // The distance "codeword" is sent as a 1 bit (zlib would reject it;
    // the reference decodes both bit values as the single symbol).
    support::symbols(
        &mut w,
        &|s| (lc[s as usize], u32::from(ll[s as usize])),
        &|_| (1, 1),
        &[
            Item::Lit(b'a'),
            Item::Lit(b'b'),
            Item::Match(257, (0, 0), 1, (0, 0)),
        ],
    );
    assert_eq!(decode(&w.finish(), 5).unwrap(), b"ababa");
}

#[test]
fn repeat_of_previous_length_first_is_rejected() {
    let cl = [(16, 0, 2)];
    assert_eq!(
        corruption(decode(&dyn_tile(257, 1, &FULL_PRECODE, &cl), 1)),
        Corruption::RepeatWithoutPrevious
    );
}

#[test]
fn code_length_repeats_past_hlit_plus_hdist_are_rejected() {
    // 257 + 1 lengths: 138 zeros, 118 zeros, one 1, then 7 zeros where
    // only one length remains.
    let cl = [(18, 127, 7), (18, 107, 7), (1, 0, 0), (17, 4, 3)];
    assert_eq!(
        corruption(decode(&dyn_tile(257, 1, &FULL_PRECODE, &cl), 1)),
        Corruption::RepeatOverrun {
            produced: 138 + 118 + 1 + 7,
            wanted: 258
        }
    );
    // A repeat may cross the literal/distance boundary: 97 zeros, 'a' = 1,
    // 138 + 20 zeros, EOB (256) = 1, then "repeat 1 three times" covers
    // symbol 257 and both distance lengths (258 + 2 = 260 lengths).
    let items = [
        (18, 97 - 11, 7),
        (1, 0, 0),
        (18, 127, 7),
        (18, 20 - 11, 7),
        (1, 0, 0),
        (16, 0, 2),
    ];
    let mut w = LaneWriter::new();
    dynamic_header(&mut w, true, 258, 2, &FULL_PRECODE, &items);
    // 'a', 256 and 257 all get 1 bit: over-subscribed, which shows the
    // repeat reached into the literal/length code (and no overrun error).
    assert_eq!(
        corruption(decode(&w.finish(), 1)),
        Corruption::OverSubscribedCode(CodeKind::LitLen)
    );
}

#[test]
fn symbol_from_an_empty_litlen_slot_is_rejected_not_looped() {
    // Fixed blocks have complete codes; an empty precode (all lengths 0)
    // can only fail when a code-length symbol is read.
    let pre = [0u8; 19];
    assert_eq!(
        corruption(decode(&dyn_tile(257, 1, &pre, &[]), 1)),
        Corruption::EmptyCodeUsed(CodeKind::Precode)
    );
}
