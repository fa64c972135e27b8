/*
 * t_gdeflate.c - GDeflate through the builtin: the compression codec
 * (levels, bound, round trips, refusals), then hundreds of GDeflate
 * requests from a file made with that codec and from memory, then the
 * reference encoder's streams committed in gdeflate/tests/vectors (and the
 * shared corpus in ../shared when the runner passes it), each read as a
 * GDeflate request and compared with its original byte for byte.
 *
 * Environment (set by tests/run.sh): DSTORAGE_TEST_VECTORS, the Windows
 * path of gdeflate/tests/vectors; DSTORAGE_TEST_SHARED_VECTORS, the
 * Windows path of ../shared/gdeflate/vectors (optional).
 */
#include "tutil.h"

#define CHUNKS 300

static void codec_checks(void)
{
    IDStorageCompressionCodec *codec = NULL;
    size_t size = 300000, bound, written, got, sizes[3];
    BYTE *data = tu_alloc(size), *packed, *out = tu_alloc(size + 16);
    static const DSTORAGE_COMPRESSION levels[3] = {DSTORAGE_COMPRESSION_FASTEST, DSTORAGE_COMPRESSION_DEFAULT,
                                                   DSTORAGE_COMPRESSION_BEST_RATIO};
    void *p = (void *)1;
    int i;

    CHECK_HR(pDStorageCreateCompressionCodec(DSTORAGE_COMPRESSION_FORMAT_NONE, 0, &IID_IDStorageCompressionCodec, &p),
             E_INVALIDARG);
    CHECK_HR(pDStorageCreateCompressionCodec(DSTORAGE_CUSTOM_COMPRESSION_0, 0, &IID_IDStorageCompressionCodec, &p),
             E_INVALIDARG);
    CHECK_HR(pDStorageCreateCompressionCodec(DSTORAGE_COMPRESSION_FORMAT_GDEFLATE, 0, &IID_IDStorageQueue, &p),
             E_NOINTERFACE);
    REQUIRE(pDStorageCreateCompressionCodec(DSTORAGE_COMPRESSION_FORMAT_GDEFLATE, 2, &IID_IDStorageCompressionCodec,
                                            (void **)&codec) == S_OK,
            "no GDeflate codec");
    tu_fill(data, size, 5);
    bound = codec->lpVtbl->CompressBufferBound(codec, size);
    CHECK(bound >= size && bound < size + size / 8 + 4096, "CompressBufferBound(%lu) = %lu", (unsigned long)size,
          (unsigned long)bound);
    packed = tu_alloc(bound);
    for (i = 0; i < 3; i++) {
        written = 0;
        CHECK_HR(codec->lpVtbl->CompressBuffer(codec, data, size, levels[i], packed, bound, &written), S_OK);
        sizes[i] = written;
        CHECK(written > 0 && written < size, "level %d: %lu bytes", levels[i], (unsigned long)written);
        got = 0;
        memset(out, 0x5A, size + 16);
        CHECK_HR(codec->lpVtbl->DecompressBuffer(codec, packed, written, out, size + 16, &got), S_OK);
        CHECK(got == size && !memcmp(out, data, size), "level %d: round trip gave %lu bytes", levels[i],
              (unsigned long)got);
    }
    CHECK(sizes[2] <= sizes[0], "BEST_RATIO (%lu bytes) larger than FASTEST (%lu)", (unsigned long)sizes[2],
          (unsigned long)sizes[0]);
    CHECK_HR(codec->lpVtbl->CompressBuffer(codec, data, size, 2, packed, bound, &written), E_INVALIDARG);
    CHECK(codec->lpVtbl->CompressBuffer(codec, data, size, DSTORAGE_COMPRESSION_DEFAULT, packed, 64, &written) != S_OK,
          "compression into 64 bytes succeeded");
    /* A damaged stream: the header survives, a tile's bits do not. */
    written = 0;
    codec->lpVtbl->CompressBuffer(codec, data, size, DSTORAGE_COMPRESSION_DEFAULT, packed, bound, &written);
    for (i = 0; i < 64; i++) packed[written / 2 + i] ^= 0xA5;
    CHECK_HR(codec->lpVtbl->DecompressBuffer(codec, packed, written, out, size, &got), E_DSTORAGE_DECOMPRESSION_ERROR);
    CHECK_HR(codec->lpVtbl->DecompressBuffer(codec, data, 100, out, size, &got), E_DSTORAGE_DECOMPRESSION_ERROR);
    codec->lpVtbl->Release(codec);
    tu_free(data);
    tu_free(out);
    tu_free(packed);
}

struct chunk {
    UINT64 offset;   /* in the pack file */
    UINT32 packed;   /* compressed size */
    UINT32 size;     /* uncompressed size */
    size_t data;     /* offset of the original in `originals` */
};

static void pack_reads(IDStorageFactory *factory)
{
    static const DSTORAGE_COMPRESSION levels[3] = {DSTORAGE_COMPRESSION_FASTEST, DSTORAGE_COMPRESSION_DEFAULT,
                                                   DSTORAGE_COMPRESSION_BEST_RATIO};
    struct chunk *chunks = calloc(CHUNKS, sizeof(*chunks));
    size_t total = 0, packed_total = 0, n;
    BYTE *originals, *pack, *out, *stream;
    IDStorageQueue3 *fq, *mq;
    IDStorageStatusArray *status = tu_status_array(factory, 2);
    IDStorageFile *file;
    DSTORAGE_REQUEST r;
    WCHAR path[MAX_PATH];
    UINT64 s = 77;
    UINT32 i, bad = 0;

    REQUIRE(chunks, "out of memory");
    for (i = 0; i < CHUNKS; i++) {
        /* Mostly under a tile, some spanning several 64 KiB tiles. */
        chunks[i].size = 1 + (UINT32)(tu_rand(&s) % (i % 10 == 0 ? 300000 : 40000));
        chunks[i].data = total;
        total += chunks[i].size;
    }
    originals = tu_alloc(total);
    tu_fill(originals, total, 31337);
    pack = tu_alloc(total + total / 4 + CHUNKS * 4096);
    for (i = 0; i < CHUNKS; i++) {
        stream = tu_gdeflate(originals + chunks[i].data, chunks[i].size, levels[i % 3], &n);
        chunks[i].offset = packed_total;
        chunks[i].packed = (UINT32)n;
        memcpy(pack + packed_total, stream, n);
        packed_total += n;
        tu_free(stream);
    }
    tu_path(path, L"gdeflate.pak");
    tu_write_file(path, pack, packed_total);
    printf("t_gdeflate: %u chunks, %lu bytes -> %lu packed\n", CHUNKS, (unsigned long)total, (unsigned long)packed_total);

    file = tu_open(factory, path);
    fq = tu_queue(factory, DSTORAGE_REQUEST_SOURCE_FILE, 256, "gdeflate-file", NULL);
    mq = tu_queue(factory, DSTORAGE_REQUEST_SOURCE_MEMORY, 128, "gdeflate-memory", NULL);
    out = tu_alloc(total * 2);
    for (i = 0; i < CHUNKS; i++) {
        r = tu_file_request(file, chunks[i].offset, chunks[i].packed, out + chunks[i].data, chunks[i].size,
                            DSTORAGE_COMPRESSION_FORMAT_GDEFLATE, chunks[i].size);
        fq->lpVtbl->EnqueueRequest(fq, &r);
        r = tu_memory_request(pack + chunks[i].offset, chunks[i].packed, out + total + chunks[i].data, chunks[i].size,
                              DSTORAGE_COMPRESSION_FORMAT_GDEFLATE, chunks[i].size);
        mq->lpVtbl->EnqueueRequest(mq, &r);
    }
    fq->lpVtbl->EnqueueStatus(fq, status, 0);
    mq->lpVtbl->EnqueueStatus(mq, status, 1);
    fq->lpVtbl->Submit(fq);
    mq->lpVtbl->Submit(mq);
    tu_wait_status(status, 0);
    tu_wait_status(status, 1);
    CHECK_HR(status->lpVtbl->GetHResult(status, 0), S_OK);
    CHECK_HR(status->lpVtbl->GetHResult(status, 1), S_OK);
    for (i = 0; i < CHUNKS; i++) {
        const BYTE *want = originals + chunks[i].data;
        UINT64 sum = tu_fnv(want, chunks[i].size);
        if (tu_fnv(out + chunks[i].data, chunks[i].size) != sum || memcmp(out + chunks[i].data, want, chunks[i].size))
            if (bad++ < 5) tu_fail(__FILE__, __LINE__, "file chunk %u (%u bytes) decompressed wrongly", i, chunks[i].size);
        if (tu_fnv(out + total + chunks[i].data, chunks[i].size) != sum ||
            memcmp(out + total + chunks[i].data, want, chunks[i].size))
            if (bad++ < 5) tu_fail(__FILE__, __LINE__, "memory chunk %u decompressed wrongly", i);
    }
    CHECK(!bad, "%u of %u GDeflate requests wrong", bad, 2 * CHUNKS);

    fq->lpVtbl->Release(fq);
    mq->lpVtbl->Release(mq);
    file->lpVtbl->Release(file);
    status->lpVtbl->Release(status);
    tu_free(out);
    tu_free(pack);
    tu_free(originals);
    free(chunks);
}

/* Reads one stream as a GDeflate request and compares it with `orig`. */
static int read_vector(IDStorageFactory *factory, IDStorageQueue3 *queue, IDStorageStatusArray *status,
                       const WCHAR *gdef_path, const BYTE *orig, size_t orig_size)
{
    IDStorageFile *file = tu_open(factory, gdef_path);
    BY_HANDLE_FILE_INFORMATION info;
    DSTORAGE_REQUEST r;
    BYTE *out = tu_alloc(orig_size + 1);
    HRESULT hr;
    int ok;

    file->lpVtbl->GetFileInformation(file, &info);
    r = tu_file_request(file, 0, info.nFileSizeLow, out, (UINT32)orig_size, DSTORAGE_COMPRESSION_FORMAT_GDEFLATE,
                        (UINT32)orig_size);
    queue->lpVtbl->EnqueueRequest(queue, &r);
    queue->lpVtbl->EnqueueStatus(queue, status, 0);
    queue->lpVtbl->Submit(queue);
    tu_wait_status(status, 0);
    hr = status->lpVtbl->GetHResult(status, 0);
    ok = hr == S_OK && !memcmp(out, orig, orig_size);
    if (!ok) tu_fail(__FILE__, __LINE__, "vector %ls: %#lx, bytes %s", gdef_path, (unsigned long)hr,
                     memcmp(out, orig, orig_size) ? "differ" : "match");
    tu_checks++;
    file->lpVtbl->Release(file);
    tu_free(out);
    return ok;
}

/* gdeflate/tests/vectors: NAME.LEVEL.gdef next to NAME.bin. */
static void committed_vectors(IDStorageFactory *factory)
{
    IDStorageQueue3 *queue = tu_queue(factory, DSTORAGE_REQUEST_SOURCE_FILE, 128, "vectors", NULL);
    IDStorageStatusArray *status = tu_status_array(factory, 1);
    WCHAR dir[MAX_PATH], pattern[MAX_PATH], gdef[MAX_PATH], bin[MAX_PATH], base[MAX_PATH];
    WIN32_FIND_DATAW fd;
    HANDLE find;
    BYTE *orig;
    size_t orig_size;
    int count = 0;
    WCHAR *dot;

    REQUIRE(GetEnvironmentVariableW(L"DSTORAGE_TEST_VECTORS", dir, MAX_PATH),
            "DSTORAGE_TEST_VECTORS is not set (tests/run.sh sets it)");
    swprintf(pattern, MAX_PATH, L"%ls\\*.gdef", dir);
    find = FindFirstFileW(pattern, &fd);
    REQUIRE(find != INVALID_HANDLE_VALUE, "no vectors in %ls", dir);
    do {
        wcscpy(base, fd.cFileName);
        if ((dot = wcschr(base, L'.'))) *dot = 0;
        swprintf(gdef, MAX_PATH, L"%ls\\%ls", dir, fd.cFileName);
        swprintf(bin, MAX_PATH, L"%ls\\%ls.bin", dir, base);
        orig = tu_read_file(bin, &orig_size);
        REQUIRE(orig, "no original %ls for %ls", bin, gdef);
        count += read_vector(factory, queue, status, gdef, orig, orig_size);
        tu_free(orig);
    } while (FindNextFileW(find, &fd));
    FindClose(find);
    CHECK(count >= 8, "only %d committed vectors decoded", count);
    printf("t_gdeflate: %d committed reference-encoder vectors read through the shim\n", count);
    status->lpVtbl->Release(status);
    queue->lpVtbl->Release(queue);
}

/* ../shared/gdeflate/vectors: manifest.tsv rows "name level orig orig_size
 * orig_sha256 gdef ..."; rows without a stream are skipped. */
static void shared_vectors(IDStorageFactory *factory)
{
    IDStorageQueue3 *queue;
    IDStorageStatusArray *status;
    WCHAR dir[MAX_PATH], path[MAX_PATH], gdef[MAX_PATH];
    char *manifest, *line, *next, *fields[8];
    size_t size, orig_size;
    BYTE *orig;
    int count = 0, n;

    if (!GetEnvironmentVariableW(L"DSTORAGE_TEST_SHARED_VECTORS", dir, MAX_PATH)) {
        printf("t_gdeflate: shared vectors not given; only the committed ones ran\n");
        return;
    }
    swprintf(path, MAX_PATH, L"%ls\\manifest.tsv", dir);
    manifest = (char *)tu_read_file(path, &size);
    REQUIRE(manifest, "cannot read %ls", path);
    manifest[size - 1] = 0;
    queue = tu_queue(factory, DSTORAGE_REQUEST_SOURCE_FILE, 128, "shared-vectors", NULL);
    status = tu_status_array(factory, 1);
    for (line = strchr(manifest, '\n') + 1; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = 0;
        for (n = 0; n < 8; n++) {
            fields[n] = line;
            line = strchr(line, '\t');
            if (!line) break;
            *line++ = 0;
        }
        if (n < 6 || !*fields[5]) continue;
        swprintf(path, MAX_PATH, L"%ls\\%hs", dir, fields[2]);
        swprintf(gdef, MAX_PATH, L"%ls\\%hs", dir, fields[5]);
        for (WCHAR *c = path; *c; c++) if (*c == L'/') *c = L'\\';
        for (WCHAR *c = gdef; *c; c++) if (*c == L'/') *c = L'\\';
        orig = tu_read_file(path, &orig_size);
        REQUIRE(orig, "cannot read %ls", path);
        count += read_vector(factory, queue, status, gdef, orig, orig_size);
        tu_free(orig);
    }
    CHECK(count > 0, "no shared vectors read");
    printf("t_gdeflate: %d shared reference-encoder vectors read through the shim\n", count);
    status->lpVtbl->Release(status);
    queue->lpVtbl->Release(queue);
    tu_free(manifest);
}

int main(void)
{
    IDStorageFactory *factory;

    tu_load("t_gdeflate");
    factory = tu_factory();
    codec_checks();
    pack_reads(factory);
    committed_vectors(factory);
    shared_vectors(factory);
    factory->lpVtbl->Release(factory);
    return tu_done();
}
