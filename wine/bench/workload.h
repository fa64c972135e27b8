/*
 * workload.h - the benchmark workload shared by bench_native (Linux, the C
 * ABI of libds_runtime directly) and bench_shim.exe (Windows, the
 * DirectStorage API through the builtin dstorage.dll under wine), so both
 * do exactly the same requests.
 *
 * Files (made by `bench_native prepare DIR`):
 *   DIR/data.bin    DATA_BYTES of generated, compressible bytes
 *   DIR/pack.bin    the first PACK_CHUNKS * CHUNK bytes of data.bin, each
 *                   CHUNK-byte chunk a GDeflate stream (level 9)
 *   DIR/pack.idx    PACK_CHUNKS records {u64 offset; u32 size; u32 pad}
 *
 * Cases: uncompressed reads of the whole data file in 1 MiB, 64 KiB and
 * 4 KiB requests (the last only over the first 64 MiB, it measures the
 * per-request cost), and GDeflate requests of every chunk of the pack.
 * Each case: enqueue every request (into one preallocated, pre-touched
 * destination), then wait until all ended; timed from the first enqueue to
 * the wake-up. Destinations are checked after the timing.
 */
#ifndef DSTORAGE_BENCH_WORKLOAD_H
#define DSTORAGE_BENCH_WORKLOAD_H

#include <stdint.h>
#include <string.h>

#define DATA_BYTES (256ull << 20)
#define CHUNK (64u << 10)
#define PACK_CHUNKS 2048u /* 128 MiB uncompressed */
#define QUEUE_CAPACITY 1024u

struct bench_case {
    const char *name;
    uint32_t request_bytes; /* 0: the GDeflate pack */
    uint64_t span;          /* bytes of data.bin covered */
};

static const struct bench_case bench_cases[] = {
    {"read-1MiB", 1u << 20, DATA_BYTES},
    {"read-64KiB", 64u << 10, DATA_BYTES},
    {"read-4KiB", 4u << 10, 64ull << 20},
    {"gdeflate-64KiB", 0, (uint64_t)PACK_CHUNKS * CHUNK},
};
#define BENCH_CASES (sizeof(bench_cases) / sizeof(bench_cases[0]))

struct pack_entry {
    uint64_t offset;
    uint32_t size;
    uint32_t pad;
};

/* Compressible bytes (ratio about 2.5 at level 9): runs, repeated words and
 * noise from a xorshift generator; same bytes on both sides. */
static inline void bench_fill(uint8_t *data, uint64_t size)
{
    static const char words[] = "vertex index normal tangent albedo roughness mip level block ";
    const uint64_t nwords = sizeof(words) - 1;
    uint64_t s = 0x9E3779B97F4A7C15ull, r, i = 0, n, k, at;

    while (i < size) {
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        r = s * 0x2545F4914F6CDD1Dull;
        n = 1 + (r >> 8) % 32;
        at = (r >> 24) % nwords;
        for (k = 0; k < n && i < size; k++, i++)
            data[i] = (r & 3) == 0 ? (uint8_t)(r >> (8 * (k % 8))) : (r & 3) == 1 ? (uint8_t)(r >> 16)
                                                                                  : (uint8_t)words[(at + k) % nwords];
    }
}

/* FNV-1a 64 of a destination, to check both sides read the same bytes. */
static inline uint64_t bench_fnv(const uint8_t *data, uint64_t size)
{
    uint64_t h = 0xcbf29ce484222325ull, i;

    for (i = 0; i < size; i++) {
        h ^= data[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

#endif /* DSTORAGE_BENCH_WORKLOAD_H */
