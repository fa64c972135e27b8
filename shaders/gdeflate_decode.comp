// GDeflate 1.0 tile decoder: one 64 KiB tile per workgroup of 32 invocations (one per lane of the
// 32-lane bitstream), many tiles per dispatch. Input is untrusted: every loop is bounded, every
// read is checked against the tile's compressed range and every write against its output range;
// a corrupt tile stops with an error code in its status slot and never touches memory outside its
// own output range. Format: /work/shared/gdeflate/SPEC.md (our copy of the facts); the decode
// follows its round-synchronous form (§3.9): one round = one turn of each of the 32 lanes.
//
// Compiled ahead of time by shaders/build.sh into two committed, generated modules from this one
// source:
// - gdeflate_decode.spv: the Vulkan (ash) build. 8-bit storage for the output, the exchange
//   variant chosen by specialization constant 0 (SUBGROUP_MODE), tile range in push constants.
// - gdeflate_decode_naga.spv: built with -DDS_NAGA for wgpu, which ingests it through naga's
//   SPIR-V front end. naga takes no OpSpecConstantOp, no 8-bit storage and no subgroup
//   arithmetic on every backend, so this build uses the shared-memory exchange only, writes the
//   output as 32-bit words (one byte per atomicAnd + atomicOr pair, so bytes of a word written by
//   different invocations never lose each other; copies read back through atomicOr(x, 0)), and
//   takes the tile range from a uniform buffer at binding 4. Everything else is the same code.
//
// Why it is fast on GPUs
// - All cross-lane traffic is one primitive, xchg(): an exclusive prefix sum of one value over the
//   32 lanes plus its total, and the lane masks of four flags. With SUBGROUP_MODE 1 (host picks it
//   when the workgroup is made of full subgroups of 8, 16 or 32 invocations) that is one
//   subgroupInclusiveAdd, one subgroupAdd and four subgroupBallots, plus one shared-memory
//   combine when there are several subgroups; with 32-wide subgroups (NVIDIA, AMD wave32, Intel
//   with a required size) it needs no barrier at all. Refill word indices ("how many lanes before
//   me need a word"), the first failing lane, EOB and copy lanes all come out of the masks, so a
//   round costs two exchanges. No shuffle is used anywhere, so no invocation ever reads a lane
//   that is not running. SUBGROUP_MODE 0 does the same through shared memory only and runs on
//   any subgroup size.
// - The tile's compressed words are staged in a shared-memory ring, 128 words at a time with
//   coalesced loads by all 32 invocations issued one chunk ahead, so a round's refills read
//   shared memory instead of waiting on a dependent global load.
// - Huffman decode is one shared-memory load for codes up to LL_BITS/D_BITS long: the tables are
//   direct lookup tables built cooperatively by the 32 invocations for each block. Longer codes
//   take a bounded canonical search (at most 15 - bits steps).
// - Table entries carry the symbol's base value and extra-bit count, so a token costs one lookup
//   and one bitfieldExtract.
// - Copies run in "waves": every copy whose source bytes (its first period) lie before the first
//   still-unwritten copy destination of the round is ready, and all ready copies of a round are
//   spread byte-wise over all 32 invocations at once, four loads in flight per invocation. Usually
//   one wave per round.
// - Stored blocks move four bytes per lane per exchange ("quads", see stored_block).
//
// Lane bit buffer (per invocation): 64 bits in two words, LSB-first, cnt valid bits:
//
//     hi                               lo
//     [63 ............ 32][31 ............ 0]   next stream bit = bit 0 of lo
//
// Table entry layout (uint), built by make_entry():
//
//     31            16 15  11 10  9 8       4 3      0
//     [   base value  ][ 0  ][kind][extra bits][code len]
//
//     code len 0 = not in the direct table (long code or no code): take the slow path.
//     kind: 0 literal / plain value, 1 length or distance (base + extra), 2 end of block,
//           3 invalid symbol (litlen 286 and 287).
#version 460
#ifndef DS_NAGA
#extension GL_EXT_shader_8bit_storage : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#extension GL_KHR_shader_subgroup_ballot : require
#endif

layout(local_size_x = 32, local_size_y = 1, local_size_z = 1) in;

// 0: shared-memory exchange (any subgroup size). 1: subgroup arithmetic; the host guarantees full
// subgroups whose size divides 32 and is at least 8.
#ifdef DS_NAGA
const uint SUBGROUP_MODE = 0u;
#else
layout(constant_id = 0) const uint SUBGROUP_MODE = 0u;
#endif

// 0: direct-table entries of 32 bits (base value and extra-bit count precomputed). 1: 16-bit
// entries (symbol and code length, two per word; base and extra bits computed per token), which
// halves the tables' shared memory (6 KiB -> 3 KiB per workgroup) so more tiles fit on a GPU core
// at once, for a few more ALU operations per token.
#ifdef DS_NAGA
const uint TABLE16 = 0u;
#else
layout(constant_id = 1) const uint TABLE16 = 0u;
#endif

// Whole compressed input as 32-bit words. Tiles may start at any byte (SPEC §2.2 puts them on
// word boundaries, but containers from other encoders need not): a tile at a byte shift reads
// each of its words from two source words (ring_fill).
layout(std430, set = 0, binding = 0) readonly buffer Src { uint src[]; };
// Output bytes. Coherent: copies read bytes other invocations of the same workgroup wrote, made
// visible by buffer_barrier(). (Written with GLSL's classic barriers rather than the Vulkan
// memory model's controlBarrier: Mesa 22.3's lavapipe, our CI device, does not synchronize the
// workgroup's subgroups on the latter.)
#ifdef DS_NAGA
layout(std430, set = 0, binding = 1) buffer Dst { uint dst[]; };
#define DST_LEN (uint(dst.length()) * 4u)
#define DST_LOAD(i) dst_load(i)
#define DST_STORE(i, v) dst_store(i, v)
#else
layout(std430, set = 0, binding = 1) coherent buffer Dst { uint8_t dst[]; };
#define DST_LEN uint(dst.length())
#define DST_LOAD(i) uint(dst[i])
#define DST_STORE(i, v) dst[i] = uint8_t(v)
#endif
// One descriptor per tile: x = first byte in src, y = compressed bytes, z = first output byte in
// dst, w = output bytes (1..65536).
layout(std430, set = 0, binding = 2) readonly buffer Tiles { uvec4 tiles[]; };
// One status per tile: x = error code (0 = ok), y = output bytes produced, z = input bytes
// consumed, w = blocks decoded.
layout(std430, set = 0, binding = 3) writeonly buffer Status { uvec4 status[]; };

#ifdef DS_NAGA
layout(std140, set = 0, binding = 4) uniform Push {
#else
layout(push_constant) uniform Push {
#endif
    uint first_tile;  // descriptor index of workgroup 0
    uint tile_end;    // one past the last descriptor index this dispatch may touch
} pc;

// Error codes (mirrored by ds_gpu::TileError).
const uint E_OK = 0u;
const uint E_DESCRIPTOR = 1u;   // descriptor outside the bound buffers or tile size > 65536
const uint E_SRC_OVERRUN = 2u;  // a refill needed a word past the tile's compressed size
const uint E_BTYPE = 3u;        // block type 3
const uint E_BAD_CODE = 4u;     // over-subscribed or incomplete Huffman code
const uint E_BAD_SYMBOL = 5u;   // bits match no code, or litlen symbol 286/287
const uint E_REPEAT = 6u;       // code-length symbol 16 with no previous length
const uint E_CL_OVERRUN = 7u;   // code-length run past HLIT + HDIST
const uint E_DISTANCE = 8u;     // match reaches before the start of the tile
const uint E_OUT_OVERFLOW = 9u; // output would exceed the tile's size
const uint E_OUT_SHORT = 10u;   // last block ended before the tile's size was reached
const uint E_BUDGET = 11u;      // a loop bound was hit (cannot happen for well-formed tiles)

const uint LANES = 32u;
const uint TILE_MAX = 65536u;
const uint LL_BITS = 10u;       // direct-table bits, literal/length (and precode: 7)
const uint D_BITS = 9u;         // direct-table bits, distance
const uint PRE_BITS = 7u;
// Input ring: the tile's compressed words are staged in shared memory RING_CHUNK at a time
// (coalesced loads by all 32 invocations, issued one chunk ahead), so a refill is a shared-memory
// read instead of a dependent global load on the critical path of every round.
const uint RING = 256u;
const uint RING_CHUNK = 128u;
const uint CHUNK_WORDS = RING_CHUNK / LANES; // words per invocation per chunk
// Copy bytes per invocation whose loads are issued before their stores (see run_copies).
const uint COPY_BATCH = 4u;

// Table modes for make_entry().
const uint M_PRE = 0u;
const uint M_LL = 1u;
const uint M_DIST = 2u;

const uint K_LIT = 0u;
const uint K_COPY = 1u;
const uint K_EOB = 2u;
const uint K_INVALID = 3u;

// Per-lane token kinds within a round.
const uint T_NONE = 0u;
const uint T_LIT = 1u;
const uint T_LEN = 2u;
const uint T_DIST = 3u;
const uint T_EOB = 4u;

shared uvec2 s_x[2][LANES];         // mode 0 exchange (value, flag bits), two slots alternately
shared uint s_pv[2][4];             // mode 1 per-subgroup sums when there are several subgroups
shared uvec4 s_pm[2][4];            // mode 1 per-subgroup flag masks, shifted to their lanes
shared uint s_lens[320];            // code lengths: litlen 0..287 (or precode 0..18), then distance
// Direct tables (TABLE16: two entries per word): litlen, or precode while reading lengths; and
// distance.
shared uint s_lut_ll[(1u << LL_BITS) >> TABLE16];
shared uint s_lut_d[(1u << D_BITS) >> TABLE16];
shared uint s_sorted[2][288];       // symbols sorted by (code length, symbol)
shared uint s_count[2][16];         // codes per length
shared uint s_first[2][16];         // first canonical code per length
shared uint s_offs[2][16];          // index in s_sorted of the first symbol per length
shared uint s_cursor[16];           // running index per length while sorting
shared uint s_in[RING];            // input ring (see RING)
shared uint s_misc[4];              // [0] table build status, [1] single-code flag t0, [2] t1
shared uint s_cpos[LANES];          // copy destination (tile-relative) per lane
shared uint s_clen[LANES];          // copy length per lane
shared uint s_cdist[LANES];         // copy distance per lane

#ifdef DS_NAGA
// Output byte i (a byte address in dst) as seen after the last buffer_barrier().
uint dst_load(uint i) {
    return (atomicOr(dst[i >> 2u], 0u) >> ((i & 3u) * 8u)) & 0xFFu;
}
// Stores the low 8 bits of v at byte address i; the other three bytes of the word are untouched.
void dst_store(uint i, uint v) {
    uint sh = (i & 3u) * 8u;
    atomicAnd(dst[i >> 2u], ~(0xFFu << sh));
    atomicOr(dst[i >> 2u], (v & 0xFFu) << sh);
}
#endif

uint g_lane;    // this invocation's lane, 0..31
uint g_slot;    // exchange slot toggle (same value in every invocation)

// Tile being decoded.
uint g_src;     // src word holding the tile's first byte
uint g_shift;   // bit offset of the tile's first byte in that word (0, 8, 16, 24)
uint g_nwords;  // whole words in the tile
uint g_dst;     // first output byte in dst
uint g_size;    // tile output size

// Lane bit buffer and the shared read position (next word, tile-relative; same in all lanes).
uint g_lo;
uint g_hi;
uint g_cnt;
uint g_rd;
uint g_ring_hi; // one past the last tile word staged in s_in (same in all lanes)
uint g_pref[CHUNK_WORDS]; // the chunk after g_ring_hi, loaded ahead: words k * 32 + lane

// Failure bookkeeping: g_fail is workgroup-uniform, g_code/g_writer are per invocation.
bool g_fail;
bool g_writer;
uint g_code;

// Control barrier plus a workgroup-scope fence over all memory (shared and the output buffer):
// only this workgroup ever reads its tile's output, so no device-scope fence is needed.
void buffer_barrier() {
    groupMemoryBarrier();
    barrier();
}

void shared_barrier() {
    memoryBarrierShared();
    barrier();
}

// Lanes below this one, as a lane mask.
uint below_mask() {
    return (1u << g_lane) - 1u;
}

// Lanes in mask m below this one.
uint count_below(uint m) {
    return uint(bitCount(m & below_mask()));
}

// The workgroup-wide exchange. Returns the exclusive prefix sum of v over lanes 0..g_lane-1; tot
// receives the sum over all 32 lanes and masks the lane masks of the four flags (bit i: lane i's
// flag). Must be called by all 32 invocations together (workgroup-uniform control flow).
// With 32-wide subgroups it is one scan, one reduction and four ballots, no barrier.
uint xchg(uint v, bvec4 f, out uint tot, out uvec4 masks) {
#ifndef DS_NAGA
    if (SUBGROUP_MODE != 0u) {
        uint incl = subgroupInclusiveAdd(v);
        uint sum = subgroupAdd(v);
        uvec4 m = uvec4(subgroupBallot(f.x).x, subgroupBallot(f.y).x, subgroupBallot(f.z).x,
                        subgroupBallot(f.w).x);
        if (gl_NumSubgroups == 1u) {
            tot = sum;
            masks = m;
            return incl - v;
        }
        if (subgroupElect()) {
            s_pv[g_slot][gl_SubgroupID] = sum;
            s_pm[g_slot][gl_SubgroupID] = m << (gl_SubgroupID * gl_SubgroupSize);
        }
        shared_barrier();
        uint all_ = 0u;
        uint before = 0u;
        uvec4 mm = uvec4(0u);
        for (uint i = 0u; i < 4u; i++) {
            if (i < gl_NumSubgroups) {
                uint p = s_pv[g_slot][i];
                all_ += p;
                if (i < gl_SubgroupID) {
                    before += p;
                }
                mm |= s_pm[g_slot][i];
            }
        }
        g_slot ^= 1u;
        tot = all_;
        masks = mm;
        return incl - v + before;
    }
#endif
    s_x[g_slot][g_lane] = uvec2(v, (f.x ? 1u : 0u) | (f.y ? 2u : 0u) | (f.z ? 4u : 0u)
                                   | (f.w ? 8u : 0u));
    shared_barrier();
    uint all_ = 0u;
    uint before = 0u;
    uvec4 mm = uvec4(0u);
    for (uint i = 0u; i < LANES; i++) {
        uvec2 p = s_x[g_slot][i];
        all_ += p.x;
        if (i < g_lane) {
            before += p.x;
        }
        mm |= ((uvec4(p.y) >> uvec4(0u, 1u, 2u, 3u)) & 1u) << i;
    }
    g_slot ^= 1u;
    tot = all_;
    masks = mm;
    return before;
}

// Remove n (0..31) bits from this lane's buffer.
void consume(uint n) {
    if (n != 0u) {
        g_lo = (g_lo >> n) | (g_hi << (32u - n));
        g_hi >>= n;
        g_cnt -= n;
    }
}

// Uniform failure: lane 0 reports it.
void fail_uniform(uint code) {
    g_fail = true;
    g_writer = g_lane == 0u;
    g_code = code;
}

// Tile word w (with the tile's byte shift), 0 past the tile.
uint tile_word(uint w) {
    if (w >= g_nwords) {
        return 0u;
    }
    uint v = src[g_src + w];
    if (g_shift != 0u) {
        // The tile's word w spans src words w and w + 1; both hold tile bytes only where they
        // are used (the descriptor check covers word g_nwords).
        v = (v >> g_shift) | (src[g_src + w + 1u] << (32u - g_shift));
    }
    return v;
}

// Starts the loads of the chunk at tile word `at` into g_pref; the next ring_fill stores them, so
// their latency overlaps the rounds in between instead of stalling a refill.
void prefetch(uint at) {
    for (uint k = 0u; k < CHUNK_WORDS; k++) {
        g_pref[k] = tile_word(at + k * LANES + g_lane);
    }
}

// Keeps words [g_rd, g_rd + 64) (clipped to the tile) staged in s_in: when fewer are ahead, the
// prefetched chunk is stored and the next one requested. Workgroup-uniform. The slots written
// hold words below g_rd - 64 (g_ring_hi < g_rd + 64 and the ring holds 256 words), all consumed,
// and none of those the last refill read (at most 32 words below g_rd), so no barrier is needed
// before the stores.
void ring_fill() {
    if (g_ring_hi >= g_nwords || g_ring_hi - g_rd >= 64u) {
        return;
    }
    for (uint k = 0u; k < CHUNK_WORDS; k++) {
        uint w = g_ring_hi + k * LANES + g_lane;
        if (w < g_nwords) {
            s_in[w & (RING - 1u)] = g_pref[k];
        }
    }
    g_ring_hi = min(g_ring_hi + RING_CHUNK, g_nwords);
    prefetch(g_ring_hi);
    shared_barrier();
}

// End of a turn for every lane: lanes below 32 bits take the next words in lane order (SPEC §3.2).
// Also carries the caller's value v and three flags through the same exchange: returns the
// exclusive prefix of v, tot gets its total, masks.yzw the flags' lane masks (masks.x: the lanes
// that refilled).
uint refill(uint v, bvec3 f, out uint tot, out uvec4 masks) {
    ring_fill();
    bool need = g_cnt < 32u;
    uint pre = xchg(v, bvec4(need, f), tot, masks);
    uint n = uint(bitCount(masks.x));
    if (g_rd + n > g_nwords) {
        fail_uniform(E_SRC_OVERRUN);
        return pre;
    }
    if (need) {
        uint w = s_in[(g_rd + count_below(masks.x)) & (RING - 1u)];
        g_lo |= w << g_cnt;
        g_hi = g_cnt == 0u ? 0u : (w >> (32u - g_cnt));
        g_cnt += 32u;
    }
    g_rd += n;
    return pre;
}

// Per-lane errors gathered through an exchange (bad: the failing lanes' mask): the lowest failing
// lane reports its code.
bool lane_errors(uint bad, uint code) {
    if (bad == 0u) {
        return false;
    }
    g_fail = true;
    g_writer = uint(findLSB(bad)) == g_lane;
    g_code = code;
    return true;
}

uint make_entry(uint mode, uint sym, uint len) {
    uint kind = K_LIT;
    uint extra = 0u;
    uint base = sym;
    if (mode == M_PRE) {
        if (sym == 16u) {
            extra = 2u;
        } else if (sym == 17u) {
            extra = 3u;
        } else if (sym == 18u) {
            extra = 7u;
        }
    } else if (mode == M_LL) {
        if (sym == 256u) {
            kind = K_EOB;
        } else if (sym > 285u) {
            kind = K_INVALID;
        } else if (sym == 285u) {
            // GDeflate (Deflate64): 3 + 16 extra bits.
            kind = K_COPY;
            base = 3u;
            extra = 16u;
        } else if (sym > 256u) {
            kind = K_COPY;
            uint i = sym - 257u;
            if (i < 8u) {
                base = 3u + i;
            } else {
                extra = (i >> 2u) - 1u;
                base = ((4u + (i & 3u)) << extra) + 3u;
            }
        }
    } else {
        kind = K_COPY;
        if (sym < 4u) {
            base = sym + 1u;
        } else {
            extra = (sym >> 1u) - 1u;
            base = ((2u + (sym & 1u)) << extra) + 1u;
        }
    }
    return len | (extra << 4u) | (kind << 9u) | (base << 16u);
}

// Direct-table value of the `bits`-bit index e of table t (sorted symbols, counts and first codes
// built): a make_entry() entry, or with TABLE16 (symbol << 4) | code length; 0 when the index
// starts no code of at most `bits` bits.
uint table_value(uint t, uint e, uint bits, uint mode, bool single) {
    uint sym = 0u;
    uint len = 0u;
    if (single) {
        // Both values of the one bit decode to the only symbol (reference behaviour).
        sym = s_sorted[t][0];
        len = 1u;
    } else {
        uint r = bitfieldReverse(e);
        for (uint l = 1u; l <= bits; l++) {
            uint d = (r >> (32u - l)) - s_first[t][l];
            if (d < s_count[t][l]) {
                sym = s_sorted[t][s_offs[t][l] + d];
                len = l;
                break;
            }
        }
    }
    if (len == 0u) {
        return 0u;
    }
    return TABLE16 != 0u ? (sym << 4u) | len : make_entry(mode, sym, len);
}

// Build the decode tables of table t (0: litlen or precode, 1: distance) from
// s_lens[lens_base .. lens_base + nsyms). Returns 0 or E_BAD_CODE (workgroup-uniform).
uint build_table(uint t, uint lens_base, uint nsyms, uint bits, uint mode) {
    // Lane l (1..15) counts the codes of length l.
    if (g_lane < 16u) {
        uint n = 0u;
        for (uint s = 0u; s < nsyms; s++) {
            if (s_lens[lens_base + s] == g_lane) {
                n++;
            }
        }
        s_count[t][g_lane] = g_lane == 0u ? 0u : n;
    }
    shared_barrier();
    if (g_lane == 0u) {
        int left = 1;
        uint code = 0u;
        uint off = 0u;
        uint used = 0u;
        bool over = false;
        for (uint l = 1u; l < 16u; l++) {
            uint c = s_count[t][l];
            left = (left << 1) - int(c);
            if (left < 0) {
                over = true;
                left = 0;
            }
            s_first[t][l] = code;
            s_offs[t][l] = off;
            s_cursor[l] = off;
            code = (code + c) << 1u;
            off += c;
            used += c;
        }
        uint st = 0u;
        uint single = 0u;
        if (over) {
            st = E_BAD_CODE;
        } else if (left > 0 && used != 0u) {
            // Incomplete: only one code of length 1 is allowed (SPEC §5 (b)); an all-zero code
            // is legal and fails only when something is decoded from it.
            if (used == 1u && s_count[t][1] == 1u) {
                single = 1u;
            } else {
                st = E_BAD_CODE;
            }
        }
        s_misc[0] = st;
        s_misc[1u + t] = single;
    }
    shared_barrier();
    uint st = s_misc[0];
    if (st != 0u) {
        return st;
    }
    // Sort symbols by (length, symbol) in chunks of 32: rank among equal lengths in the chunk,
    // then advance the per-length cursors.
    for (uint c = 0u; c < nsyms; c += LANES) {
        uint s = c + g_lane;
        uint l = s < nsyms ? s_lens[lens_base + s] : 0u;
        if (l != 0u) {
            uint rank = 0u;
            for (uint i = 0u; i < g_lane; i++) {
                if (s_lens[lens_base + c + i] == l) {
                    rank++;
                }
            }
            s_sorted[t][s_cursor[l] + rank] = s;
        }
        shared_barrier();
        if (g_lane >= 1u && g_lane < 16u) {
            uint n = 0u;
            for (uint i = 0u; i < LANES; i++) {
                if (c + i < nsyms && s_lens[lens_base + c + i] == g_lane) {
                    n++;
                }
            }
            s_cursor[g_lane] += n;
        }
        shared_barrier();
    }
    bool single = s_misc[1u + t] != 0u;
    uint words = (1u << bits) >> TABLE16;
    for (uint w = g_lane; w < words; w += LANES) {
        uint v;
        if (TABLE16 != 0u) {
            v = table_value(t, 2u * w, bits, mode, single)
                | (table_value(t, 2u * w + 1u, bits, mode, single) << 16u);
        } else {
            v = table_value(t, w, bits, mode, single);
        }
        if (t == 0u) {
            s_lut_ll[w] = v;
        } else {
            s_lut_d[w] = v;
        }
    }
    shared_barrier();
    return 0u;
}

// Decode one symbol of table t from the low bits of this lane's buffer (does not consume).
// Returns the table entry, or 0 when the bits match no code.
uint decode_sym(uint t, uint bits, uint mode) {
    uint idx = g_lo & ((1u << bits) - 1u);
    uint e;
    if (TABLE16 != 0u) {
        uint w = t == 0u ? s_lut_ll[idx >> 1u] : s_lut_d[idx >> 1u];
        uint h = (w >> ((idx & 1u) * 16u)) & 0xFFFFu;
        e = h == 0u ? 0u : make_entry(mode, h >> 4u, h & 15u);
    } else {
        e = t == 0u ? s_lut_ll[idx] : s_lut_d[idx];
    }
    if ((e & 15u) != 0u) {
        return e;
    }
    uint r = bitfieldReverse(g_lo);
    for (uint l = bits + 1u; l < 16u; l++) {
        uint d = (r >> (32u - l)) - s_first[t][l];
        if (d < s_count[t][l]) {
            return make_entry(mode, s_sorted[t][s_offs[t][l] + d], l);
        }
    }
    return 0u;
}

// Execute this round's copies (lanes with `mine`), all sources lying before their destinations.
void run_copies(bool mine, uint pos, uint len, uint dist, uint copy_mask) {
    s_cpos[g_lane] = pos;
    s_clen[g_lane] = mine ? len : 0u;
    s_cdist[g_lane] = dist;
    buffer_barrier();
    bool todo = mine;
    uint todo_mask = copy_mask;
    for (uint wave = 0u; wave < LANES; wave++) {
        if (todo_mask == 0u) {
            break;
        }
        uint first = s_cpos[uint(findLSB(todo_mask)) & 31u];
        // Only the first period [pos - dist, pos - dist + min(len, dist)) is ever read.
        bool ready = todo && (pos - dist + min(len, dist) <= first);
        uint total;
        uvec4 m;
        xchg(ready ? len : 0u, bvec4(ready, false, false, false), total, m);
        uint rmask = m.x;
        uint cur = uint(findLSB(rmask)) & 31u;
        uint cstart = 0u;
        uint rest = rmask;
        // Invocation l copies bytes l, l + 32, ... of the wave's copies laid end to end,
        // COPY_BATCH at a time: the batch's loads are all issued before its stores, so their
        // latencies overlap. No byte read in a wave is written in it (sources lie before `first`,
        // destinations at or after it), so the order of loads and stores does not matter.
        for (uint b0 = g_lane; b0 < total; b0 += LANES * COPY_BATCH) {
            uint to[COPY_BATCH];
            uint val[COPY_BATCH];
            for (uint u = 0u; u < COPY_BATCH; u++) {
                uint b = b0 + u * LANES;
                to[u] = 0u;
                val[u] = 0u;
                if (b < total) {
                    for (uint k = 0u; k < LANES; k++) {
                        if (b < cstart + s_clen[cur]) {
                            break;
                        }
                        cstart += s_clen[cur];
                        rest &= ~(1u << cur);
                        cur = uint(findLSB(rest)) & 31u;
                    }
                    uint i = b - cstart;
                    uint p = s_cpos[cur];
                    uint d = s_cdist[cur];
                    to[u] = g_dst + p + i;
                    val[u] = DST_LOAD(g_dst + p - d + (i < d ? i : i % d));
                }
            }
            for (uint u = 0u; u < COPY_BATCH; u++) {
                if (b0 + u * LANES < total) {
                    DST_STORE(to[u], val[u]);
                }
            }
        }
        buffer_barrier();
        todo = todo && !ready;
        todo_mask &= ~rmask;
    }
}

// Symbol section of a fixed or dynamic block (SPEC §3.7), round-synchronous.
void huffman_block(inout uint out_pos) {
    bool pend = false;      // this lane has a length waiting for its distance
    uint pend_pos = 0u;     // reserved output position (tile-relative)
    uint pend_len = 0u;
    bool live = true;     // block has not seen EOB yet (uniform)
    uint max_rounds = 2u * TILE_MAX + 4u;
    for (uint round_ = 0u; round_ <= max_rounds; round_++) {
        if (round_ == max_rounds) {
            fail_uniform(E_BUDGET);
            return;
        }
        uint kind = T_NONE;
        uint use = 0u;
        uint value = 0u;
        uint code = E_OK;
        if (pend) {
            uint e = decode_sym(1u, D_BITS, M_DIST);
            kind = T_DIST;
            if (e == 0u) {
                code = E_BAD_SYMBOL;
            } else {
                uint l = e & 15u;
                uint ex = (e >> 4u) & 31u;
                value = (e >> 16u) + bitfieldExtract(g_lo, int(l), int(ex));
                use = l + ex;
                if (value > pend_pos) {
                    code = E_DISTANCE;
                }
            }
        } else if (live) {
            uint e = decode_sym(0u, LL_BITS, M_LL);
            if (e == 0u) {
                kind = T_LIT;
                code = E_BAD_SYMBOL;
            } else {
                uint l = e & 15u;
                uint ex = (e >> 4u) & 31u;
                uint k = (e >> 9u) & 3u;
                use = l + ex;
                if (k == K_LIT) {
                    kind = T_LIT;
                    value = e >> 16u;
                } else if (k == K_COPY) {
                    kind = T_LEN;
                    value = (e >> 16u) + bitfieldExtract(g_lo, int(l), int(ex));
                } else if (k == K_EOB) {
                    kind = T_EOB;
                } else {
                    kind = T_LIT;
                    code = E_BAD_SYMBOL;
                }
            }
        }
        bool eob_round = false;
        if (live) {
            // Lanes after the first EOB lane get no litlen turn in this block (SPEC §3.7).
            uint t;
            uvec4 eob;
            xchg(0u, bvec4(kind == T_EOB, false, false, false), t, eob);
            eob_round = eob.x != 0u;
            if (count_below(eob.x) != 0u && kind != T_DIST) {
                kind = T_NONE;
                use = 0u;
                code = E_OK;
            }
        }
        bool bad = code != E_OK;
        if (!bad) {
            consume(use);
        }
        uint out_len = kind == T_LIT ? 1u : (kind == T_LEN ? min(value, TILE_MAX + 1u) : 0u);
        uint tot;
        uvec4 masks;
        uint pre = refill(out_len, bvec3(bad, kind == T_LEN, kind == T_DIST), tot, masks);
        if (lane_errors(masks.y, code)) {
            return;
        }
        if (g_fail) {
            return;
        }
        uint my_pos = out_pos + pre;
        if (out_pos + tot > g_size) {
            fail_uniform(E_OUT_OVERFLOW);
            return;
        }
        out_pos += tot;
        if (kind == T_LIT) {
            DST_STORE(g_dst + my_pos, value);
        }
        if (masks.w != 0u) {
            run_copies(kind == T_DIST, pend_pos, pend_len, value, masks.w);
        }
        if (kind == T_DIST) {
            pend = false;
        }
        if (kind == T_LEN) {
            pend = true;
            pend_pos = my_pos;
            pend_len = value;
        }
        if (!live) {
            return; // the extra round after EOB served the lanes before the EOB lane
        }
        if (eob_round) {
            live = false;
            if (masks.z == 0u) {
                return; // nothing pending: the block is complete
            }
        }
    }
}

// Stored block (SPEC §3.4): LEN on lane 0, then byte j on lane j mod 32, one byte per lane per
// round. Rounds in which every lane has a byte run four at a time ("quads", one exchange instead of
// four) once every lane holds 32..63 bits at the start of a round, which is so after the first
// round's refill (lane 0 read LEN without one): each lane then consumes 32 bits over the four
// rounds and refills exactly once, after round (cnt - 32) / 8, so its four bytes are the low 32
// bits of its buffer and the word it takes is the next in (round, lane) order.
void stored_block(inout uint out_pos) {
    uint len = 0u;
    if (g_lane == 0u) {
        len = g_lo & 0xFFFFu;
        consume(16u);
    }
    uint tot;
    uvec4 m;
    xchg(len, bvec4(false), tot, m);
    len = tot;
    if (out_pos + len > g_size) {
        fail_uniform(E_OUT_OVERFLOW);
        return;
    }
    uint rounds = len == 0u ? 1u : (len + LANES - 1u) / LANES;
    uint full = len / LANES;   // rounds in which every lane has a byte
    for (uint r = 0u; r < rounds;) {
        if (r > 0u && r + 4u <= full) {
            ring_fill();
            uint bytes4 = g_lo;
            uint when = (g_cnt - 32u) >> 3u;
            g_lo = g_hi;
            g_hi = 0u;
            g_cnt -= 32u;
            uvec4 rm;
            xchg(0u, bvec4(when == 0u, when == 1u, when == 2u, when == 3u), tot, rm);
            if (g_rd + LANES > g_nwords) {
                fail_uniform(E_SRC_OVERRUN);
                return;
            }
            uint idx = count_below(rm[when]);
            idx += when > 0u ? uint(bitCount(rm.x)) : 0u;
            idx += when > 1u ? uint(bitCount(rm.y)) : 0u;
            idx += when > 2u ? uint(bitCount(rm.z)) : 0u;
            uint w = s_in[(g_rd + idx) & (RING - 1u)];
            g_lo |= w << g_cnt;
            g_hi = g_cnt == 0u ? 0u : (w >> (32u - g_cnt));
            g_cnt += 32u;
            g_rd += LANES;
            uint at = g_dst + out_pos + r * LANES + g_lane;
            for (uint k = 0u; k < 4u; k++) {
                DST_STORE(at + k * LANES, (bytes4 >> (8u * k)) & 0xFFu);
            }
            r += 4u;
        } else {
            uint j = r * LANES + g_lane;
            if (j < len) {
                DST_STORE(g_dst + out_pos + j, g_lo & 0xFFu);
                consume(8u);
            }
            refill(0u, bvec3(false), tot, m);
            if (g_fail) {
                return;
            }
            r += 1u;
        }
    }
    out_pos += len;
}

// Dynamic block header (SPEC §3.6), first part: HLIT, HDIST, HCLEN and the precode lengths
// (into s_lens[0..19)). Returns false on failure (g_fail set).
bool dynamic_header(out uint hlit, out uint hdist) {
    uint hdr = 0u;
    if (g_lane == 0u) {
        hdr = g_lo & 0x3FFFu;
        consume(14u);
    }
    hlit = 0u;
    hdist = 0u;
    uint tot;
    uvec4 m;
    refill(hdr, bvec3(false), tot, m);
    if (g_fail) {
        return false;
    }
    hdr = tot;
    hlit = (hdr & 31u) + 257u;
    hdist = ((hdr >> 5u) & 31u) + 1u;
    uint hclen = ((hdr >> 10u) & 15u) + 4u;

    // Precode lengths: lane j carries the j-th one, in the fixed permutation order.
    if (g_lane < 19u) {
        s_lens[g_lane] = 0u;
    }
    shared_barrier();
    if (g_lane < hclen) {
        // Position of the j-th transmitted precode length: 16,17,18,0,8,7,9,6,10,5,11,4,12,3,
        // 13,2,14,1,15.
        uint j = g_lane;
        uint sym;
        if (j < 3u) {
            sym = 16u + j;
        } else if (j == 3u) {
            sym = 0u;
        } else if ((j & 1u) == 0u) {
            sym = 8u + ((j - 4u) >> 1u);
        } else {
            sym = 7u - ((j - 5u) >> 1u);
        }
        s_lens[sym] = g_lo & 7u;
        consume(3u);
    }
    refill(0u, bvec3(false), tot, m);
    if (g_fail) {
        return false;
    }
    shared_barrier();
    return true;
}

// Dynamic block header, second part: the HLIT + HDIST code lengths into s_lens, decoded with
// the precode table (table 0). Returns false on failure (g_fail set).
bool code_lengths(uint hlit, uint hdist) {
    // Code lengths: one precode symbol (+ extra bits) per lane per round, from lane 0.
    uint needed = hlit + hdist;
    uint produced = 0u;
    uint last = 0xFFFFFFFFu;   // last length produced, none yet
    for (uint round_ = 0u; round_ <= 320u; round_++) {
        if (round_ == 320u) {
            fail_uniform(E_BUDGET);
            return false;
        }
        uint e = decode_sym(0u, PRE_BITS, M_PRE);
        uint code = e == 0u ? E_BAD_SYMBOL : E_OK;
        uint sym = e >> 16u;
        uint l = e & 15u;
        uint ex = (e >> 4u) & 31u;
        uint xb = bitfieldExtract(g_lo, int(l), int(ex));
        uint count = sym < 16u ? 1u : (sym == 18u ? 11u + xb : 3u + xb);
        if (e == 0u) {
            count = 1u;
        }
        uint ctot;
        uvec4 cm;
        uint start = produced + xchg(count, bvec4(false), ctot, cm);
        bool take = start < needed;
        // Symbol 16 repeats the nearest earlier length; look back through this round first.
        s_cpos[g_lane] = sym;
        shared_barrier();
        uint val = sym < 16u ? sym : 0u;
        if (take && code == E_OK && sym == 16u) {
            val = last;
            for (uint i = g_lane; i > 0u; i--) {
                uint v = s_cpos[i - 1u];
                if (v != 16u) {
                    val = v > 16u ? 0u : v;
                    break;
                }
            }
            if (val == 0xFFFFFFFFu) {
                code = E_REPEAT;
            }
        }
        if (take && code == E_OK && start + count > needed) {
            code = E_CL_OVERRUN;
        }
        if (!take) {
            code = E_OK;
        }
        bool bad = code != E_OK;
        if (take && !bad) {
            consume(l + ex);
            for (uint k = 0u; k < count; k++) {
                s_lens[start + k] = val;
            }
        }
        s_clen[g_lane] = val;
        uint tot;
        uvec4 masks;
        refill(take ? count : 0u, bvec3(bad, take, false), tot, masks);
        if (lane_errors(masks.y, code)) {
            return false;
        }
        if (g_fail) {
            return false;
        }
        shared_barrier();
        // The lanes that took a turn are 0..k-1 (starts grow with the lane, lane 0's is below
        // `needed`): the last length of the round is lane k-1's.
        last = s_clen[uint(findMSB(masks.z)) & 31u];
        produced += tot;
        if (produced >= needed) {
            break;
        }
    }
    return true;
}

// Fixed Huffman block code lengths (SPEC §3.5): litlen in s_lens[0..288), distance after.
void fixed_lengths() {
    for (uint s = g_lane; s < 320u; s += LANES) {
        uint l;
        if (s >= 288u) {
            l = 5u;
        } else if (s < 144u) {
            l = 8u;
        } else if (s < 256u) {
            l = 9u;
        } else if (s < 280u) {
            l = 7u;
        } else {
            l = 8u;
        }
        s_lens[s] = l;
    }
    shared_barrier();
}

// A fixed or dynamic block: code lengths, then the tables (one build_table call site, in a loop
// over the tables: 0 precode for dynamic blocks, 1 litlen, 2 distance), then the symbols.
void huffman_tables_and_block(bool dynamic, inout uint out_pos) {
    uint hlit = 288u;
    uint hdist = 32u;
    bool ok = true;
    if (dynamic) {
        ok = dynamic_header(hlit, hdist);
    } else {
        fixed_lengths();
    }
    for (uint phase = dynamic ? 0u : 1u; ok && phase < 3u; phase++) {
        uint t = phase == 2u ? 1u : 0u;
        uint base = phase == 2u ? hlit : 0u;
        uint n = phase == 0u ? 19u : (phase == 1u ? hlit : hdist);
        uint bits = phase == 0u ? PRE_BITS : (phase == 1u ? LL_BITS : D_BITS);
        uint mode = phase == 0u ? M_PRE : (phase == 1u ? M_LL : M_DIST);
        uint st = build_table(t, base, n, bits, mode);
        if (st != 0u) {
            fail_uniform(st);
            ok = false;
        } else if (phase == 0u) {
            ok = code_lengths(hlit, hdist);
        }
    }
    if (ok) {
        huffman_block(out_pos);
    }
}

void main() {
#ifdef DS_NAGA
    g_lane = gl_LocalInvocationIndex;
#else
    if (SUBGROUP_MODE != 0u) {
        g_lane = gl_SubgroupID * gl_SubgroupSize + gl_SubgroupInvocationID;
    } else {
        g_lane = gl_LocalInvocationIndex;
    }
#endif
    g_slot = 0u;
    g_fail = false;
    g_writer = false;
    g_code = E_OK;

    uint tile = pc.first_tile + gl_WorkGroupID.x;
    if (tile >= pc.tile_end || tile >= uint(tiles.length())) {
        return;
    }
    uvec4 d = tiles[tile];
    g_src = d.x >> 2u;
    g_shift = (d.x & 3u) * 8u;
    g_nwords = d.y >> 2u;
    g_dst = d.z;
    g_size = d.w;
    g_rd = 0u;
    uint out_pos = 0u;
    uint blocks = 0u;

    uint src_len = uint(src.length());
    uint dst_len = DST_LEN;
    // Source words read: g_nwords, plus the one holding the tail of the last word when shifted.
    uint src_words = g_nwords + (g_shift != 0u ? 1u : 0u);
    if (g_size == 0u || g_size > TILE_MAX || src_words > src_len || g_src > src_len - src_words
        || g_size > dst_len || g_dst > dst_len - g_size) {
        fail_uniform(E_DESCRIPTOR);
    } else if (g_nwords < LANES) {
        fail_uniform(E_SRC_OVERRUN);
    } else {
        g_ring_hi = 0u;
        prefetch(0u);
        ring_fill();
        g_lo = s_in[g_lane];
        g_hi = 0u;
        g_cnt = 32u;
        g_rd = LANES;
        // Every block consumes at least 3 bits of lane 0, so a tile of n words holds fewer than
        // 11 n blocks.
        uint max_blocks = g_nwords * 11u + 1u;
        for (uint b = 0u; b <= max_blocks; b++) {
            if (b == max_blocks) {
                fail_uniform(E_BUDGET);
                break;
            }
            uint hdr = 0u;
            if (g_lane == 0u) {
                hdr = g_lo & 7u;
                consume(3u);
            }
            uint tot;
            uvec4 m;
            refill(hdr, bvec3(false), tot, m);
            if (g_fail) {
                break;
            }
            blocks++;
            bool final_ = (tot & 1u) != 0u;
            uint btype = tot >> 1u;
            if (btype == 0u) {
                stored_block(out_pos);
            } else if (btype < 3u) {
                huffman_tables_and_block(btype == 2u, out_pos);
            } else {
                fail_uniform(E_BTYPE);
            }
            if (g_fail || final_) {
                break;
            }
        }
        if (!g_fail && out_pos != g_size) {
            fail_uniform(E_OUT_SHORT);
        }
    }
    if (g_fail) {
        if (g_writer) {
            status[tile] = uvec4(g_code, out_pos, g_rd * 4u, blocks);
        }
    } else if (g_lane == 0u) {
        status[tile] = uvec4(E_OK, out_pos, g_rd * 4u, blocks);
    }
}
