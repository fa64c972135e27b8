/*
 * t_custom.c - IDStorageCustomDecompressionQueue: requests with custom
 * formats (0x80 run-length, 0x81 xor, both defined here) are read by the
 * runtime and handed to this program's decompression thread through
 * GetEvent / GetRequests1 / SetRequestResults; status entries and events
 * after them wait for the app's results; a failed result is the request's
 * failure (status entry and error record); cancelled requests are never
 * handed out; unknown ids are refused.
 *
 * "t_custom.exe builtin" runs with built-in CPU decompression disabled
 * (NumBuiltInCpuDecompressionThreads = -1): GDeflate requests then come
 * through the same queue, selected by SELECT_BUILTIN, and this program
 * decompresses them with the codec API.
 */
#include "tutil.h"

#define FORMAT_RLE 0x80
#define FORMAT_XOR 0x81
#define BAD_RESULT ((HRESULT)0x80AA0001)

static IDStorageCustomDecompressionQueue1 *custom;
static IDStorageCompressionCodec *codec;
static volatile LONG paused, stop, handed_out, builtin_seen, custom_seen, cancelled_seen;
static BYTE *cancel_zone;
static size_t cancel_zone_size;

/* Run-length: pairs (count 1..255, byte). Count 0 is invalid. */
static size_t rle_encode(const BYTE *in, size_t n, BYTE *out)
{
    size_t i = 0, o = 0, run;

    while (i < n) {
        for (run = 1; i + run < n && run < 255 && in[i + run] == in[i]; run++) continue;
        out[o++] = (BYTE)run;
        out[o++] = in[i];
        i += run;
    }
    return o;
}

static HRESULT rle_decode(const BYTE *in, size_t n, BYTE *out, size_t out_size)
{
    size_t i, o = 0;

    if (n % 2) return BAD_RESULT;
    for (i = 0; i < n; i += 2) {
        if (!in[i] || o + in[i] > out_size) return BAD_RESULT;
        memset(out + o, in[i + 1], in[i]);
        o += in[i];
    }
    return o == out_size ? S_OK : BAD_RESULT;
}

static HRESULT decompress(const DSTORAGE_CUSTOM_DECOMPRESSION_REQUEST *r)
{
    const BYTE *src = r->SrcBuffer;
    BYTE *dst = r->DstBuffer;
    SIZE_T written = 0;
    UINT64 i;
    HRESULT hr;

    if (cancel_zone && dst >= cancel_zone && dst < cancel_zone + cancel_zone_size) InterlockedIncrement(&cancelled_seen);
    switch (r->CompressionFormat) {
    case FORMAT_RLE:
        InterlockedIncrement(&custom_seen);
        return rle_decode(src, r->SrcSize, dst, r->DstSize);
    case FORMAT_XOR:
        InterlockedIncrement(&custom_seen);
        if (r->SrcSize != r->DstSize) return BAD_RESULT;
        for (i = 0; i < r->SrcSize; i++) dst[i] = src[i] ^ 0x5A;
        return S_OK;
    case DSTORAGE_COMPRESSION_FORMAT_GDEFLATE:
        InterlockedIncrement(&builtin_seen);
        hr = codec->lpVtbl->DecompressBuffer(codec, src, r->SrcSize, dst, r->DstSize, &written);
        return SUCCEEDED(hr) && written != r->DstSize ? BAD_RESULT : hr;
    default:
        return E_INVALIDARG;
    }
}

static DWORD WINAPI decompressor(void *arg)
{
    DSTORAGE_CUSTOM_DECOMPRESSION_REQUEST requests[16];
    DSTORAGE_CUSTOM_DECOMPRESSION_RESULT results[16];
    HANDLE event = custom->lpVtbl->GetEvent(custom);
    DSTORAGE_GET_REQUEST_FLAGS flags = (DSTORAGE_GET_REQUEST_FLAGS)(ULONG_PTR)arg;
    UINT32 n, i;

    while (!stop) {
        WaitForSingleObject(event, 20);
        if (paused) continue;
        n = 0;
        if (FAILED(custom->lpVtbl->GetRequests1(custom, flags, ARRAYSIZE(requests), requests, &n))) continue;
        for (i = 0; i < n; i++) {
            results[i].Id = requests[i].Id;
            results[i].Result = decompress(&requests[i]);
        }
        InterlockedExchangeAdd(&handed_out, (LONG)n);
        if (n) custom->lpVtbl->SetRequestResults(custom, n, results);
    }
    return 0;
}

struct chunk {
    UINT64 offset;
    UINT32 packed, size;
    BYTE format;
    size_t data;
};

/* Custom (and, in builtin mode, GDeflate) requests from a file and from
 * memory, interleaved with uncompressed ones; one made to fail. */
static void custom_requests(IDStorageFactory *factory, BOOL builtin_mode)
{
    enum { N = 150 };
    struct chunk c[N];
    size_t total = 0, packed = 0, n;
    BYTE *orig, *pack, *out, *tmp;
    IDStorageQueue3 *fq = tu_queue(factory, DSTORAGE_REQUEST_SOURCE_FILE, 256, "custom-file", NULL);
    IDStorageQueue3 *mq = tu_queue(factory, DSTORAGE_REQUEST_SOURCE_MEMORY, 128, "custom-memory", NULL);
    IDStorageStatusArray *status = tu_status_array(factory, 4);
    HANDLE event = CreateEventW(NULL, TRUE, FALSE, NULL);
    DSTORAGE_ERROR_RECORD record;
    DSTORAGE_REQUEST r;
    IDStorageFile *file;
    WCHAR path[MAX_PATH];
    UINT64 s = 3;
    UINT32 i, wrong = 0, bad_index = builtin_mode ? 37 : 36;

    for (i = 0; i < N; i++) {
        c[i].size = 1 + (UINT32)(tu_rand(&s) % 50000);
        c[i].format = builtin_mode ? (i % 3 == 0 ? DSTORAGE_COMPRESSION_FORMAT_GDEFLATE : i % 3 == 1 ? FORMAT_RLE : 0)
                                   : (i % 3 == 0 ? FORMAT_RLE : i % 3 == 1 ? FORMAT_XOR : 0);
        c[i].data = total;
        total += c[i].size;
    }
    orig = tu_alloc(total);
    tu_fill(orig, total, 11);
    pack = tu_alloc(2 * total + N * 4096);
    for (i = 0; i < N; i++) {
        BYTE *src = orig + c[i].data;
        c[i].offset = packed;
        if (c[i].format == FORMAT_RLE)
            n = rle_encode(src, c[i].size, pack + packed);
        else if (c[i].format == FORMAT_XOR) {
            for (n = 0; n < c[i].size; n++) pack[packed + n] = src[n] ^ 0x5A;
        } else if (c[i].format == DSTORAGE_COMPRESSION_FORMAT_GDEFLATE) {
            tmp = tu_gdeflate(src, c[i].size, DSTORAGE_COMPRESSION_DEFAULT, &n);
            memcpy(pack + packed, tmp, n);
            tu_free(tmp);
        } else {
            memcpy(pack + packed, src, c[i].size);
            n = c[i].size;
        }
        c[i].packed = (UINT32)n;
        packed += n;
    }
    /* Request bad_index (run-length) gets a count of 0: the app rejects it. */
    REQUIRE(c[bad_index].format == FORMAT_RLE, "test setup: chunk %u is not run-length", bad_index);
    pack[c[bad_index].offset] = 0;
    tu_path(path, L"custom.pak");
    tu_write_file(path, pack, packed);
    file = tu_open(factory, path);
    out = tu_alloc(2 * total);
    memset(out, 0xEE, 2 * total);

    /* The decompressor is paused: everything after the custom requests waits. */
    InterlockedExchange(&paused, 1);
    for (i = 0; i < N; i++) {
        r = tu_file_request(file, c[i].offset, c[i].packed, out + c[i].data, c[i].size, c[i].format,
                            c[i].format ? c[i].size : 0);
        r.Name = i == bad_index ? "bad-chunk" : "chunk";
        fq->lpVtbl->EnqueueRequest(fq, &r);
        r = tu_memory_request(pack + c[i].offset, c[i].packed, out + total + c[i].data, c[i].size, c[i].format,
                              c[i].format ? c[i].size : 0);
        mq->lpVtbl->EnqueueRequest(mq, &r);
    }
    fq->lpVtbl->EnqueueStatus(fq, status, 0);
    fq->lpVtbl->EnqueueSetEvent(fq, event);
    mq->lpVtbl->EnqueueStatus(mq, status, 1);
    fq->lpVtbl->Submit(fq);
    mq->lpVtbl->Submit(mq);
    Sleep(300);
    CHECK_HR(status->lpVtbl->GetHResult(status, 0), E_PENDING);
    CHECK_HR(status->lpVtbl->GetHResult(status, 1), E_PENDING);
    CHECK(WaitForSingleObject(event, 0) == WAIT_TIMEOUT, "event fired before the app decompressed");
    CHECK(WaitForSingleObject(custom->lpVtbl->GetEvent(custom), 0) == WAIT_OBJECT_0,
          "custom decompression event not set while requests wait");
    InterlockedExchange(&paused, 0);
    tu_wait_status(status, 0);
    tu_wait_status(status, 1);
    CHECK(WaitForSingleObject(event, TU_TIMEOUT_MS) == WAIT_OBJECT_0, "event after custom requests never fired");
    CHECK_HR(status->lpVtbl->GetHResult(status, 0), BAD_RESULT);
    CHECK_HR(status->lpVtbl->GetHResult(status, 1), BAD_RESULT);
    for (i = 0; i < N; i++) {
        if (i == bad_index) continue;
        if (memcmp(out + c[i].data, orig + c[i].data, c[i].size) ||
            tu_fnv(out + total + c[i].data, c[i].size) != tu_fnv(orig + c[i].data, c[i].size))
            wrong++;
    }
    CHECK(!wrong, "%u of %u custom-format chunks wrong", wrong, 2 * (N - 1));
    fq->lpVtbl->RetrieveErrorRecord(fq, &record);
    CHECK(record.FailureCount == 1, "%u failures on the file queue, expected 1", record.FailureCount);
    CHECK_HR(record.FirstFailure.HResult, BAD_RESULT);
    CHECK(!strcmp(record.FirstFailure.Request.RequestName, "bad-chunk") &&
              !wcscmp(record.FirstFailure.Request.Filename, path),
          "error record names %s in %ls", record.FirstFailure.Request.RequestName, record.FirstFailure.Request.Filename);
    if (builtin_mode)
        CHECK(builtin_seen >= 2 * (N / 3), "only %ld GDeflate requests came through the custom queue", builtin_seen);
    else
        CHECK(custom_seen >= 2 * (2 * N / 3) - 2 && !builtin_seen, "custom %ld, builtin %ld requests handed out",
              custom_seen, builtin_seen);

    file->lpVtbl->Release(file);
    fq->lpVtbl->Release(fq);
    mq->lpVtbl->Release(mq);
    status->lpVtbl->Release(status);
    CloseHandle(event);
    tu_free(out);
    tu_free(pack);
    tu_free(orig);
}

/* Requests cancelled while waiting for the app are never handed out. */
static void cancel_waiting(IDStorageFactory *factory)
{
    IDStorageQueue3 *queue = tu_queue(factory, DSTORAGE_REQUEST_SOURCE_MEMORY, 128, "custom-cancel", NULL);
    IDStorageStatusArray *status = tu_status_array(factory, 1);
    DSTORAGE_ERROR_RECORD record;
    DSTORAGE_REQUEST r;
    BYTE src[1000];
    UINT32 i;

    cancel_zone_size = 10 * 4000;
    cancel_zone = tu_alloc(cancel_zone_size);
    memset(cancel_zone, 0xEE, cancel_zone_size);
    memset(src, 0x5A, sizeof(src));
    InterlockedExchange(&paused, 1);
    InterlockedExchange(&cancelled_seen, 0);
    for (i = 0; i < 10; i++) {
        r = tu_memory_request(src, sizeof(src), cancel_zone + i * 4000, 1000, FORMAT_XOR, 1000);
        r.CancellationTag = 0xC0FFEE;
        queue->lpVtbl->EnqueueRequest(queue, &r);
    }
    queue->lpVtbl->EnqueueStatus(queue, status, 0);
    queue->lpVtbl->Submit(queue);
    Sleep(100);
    CHECK_HR(status->lpVtbl->GetHResult(status, 0), E_PENDING);
    queue->lpVtbl->CancelRequestsWithTag(queue, 0xFFFFFF, 0xC0FFEE);
    tu_wait_status(status, 0);
    CHECK_HR(status->lpVtbl->GetHResult(status, 0), S_OK);
    InterlockedExchange(&paused, 0);
    Sleep(100);
    CHECK(cancelled_seen == 0, "%ld cancelled requests were handed to the app", cancelled_seen);
    for (i = 0; i < cancel_zone_size; i++)
        if (cancel_zone[i] != 0xEE) break;
    CHECK(i == cancel_zone_size, "a cancelled custom request wrote its destination");
    queue->lpVtbl->RetrieveErrorRecord(queue, &record);
    CHECK(record.FailureCount == 0, "%u failures from cancelled custom requests", record.FailureCount);
    status->lpVtbl->Release(status);
    queue->lpVtbl->Release(queue);
    cancel_zone = NULL;
}

int main(int argc, char **argv)
{
    BOOL builtin_mode = argc > 1 && !strcmp(argv[1], "builtin");
    DSTORAGE_GET_REQUEST_FLAGS flags;
    DSTORAGE_CUSTOM_DECOMPRESSION_RESULT bogus = {0x12345678abcdULL, S_OK};
    DSTORAGE_CONFIGURATION config;
    IDStorageFactory *factory;
    IDStorageQueue3 *probe;
    HANDLE thread;
    UINT32 count;

    tu_load(builtin_mode ? "t_custom builtin" : "t_custom");
    if (builtin_mode) {
        memset(&config, 0, sizeof(config));
        config.NumBuiltInCpuDecompressionThreads = DSTORAGE_DISABLE_BUILTIN_CPU_DECOMPRESSION;
        CHECK_HR(pDStorageSetConfiguration(&config), S_OK);
    }
    factory = tu_factory();
    REQUIRE(factory->lpVtbl->QueryInterface(factory, &IID_IDStorageCustomDecompressionQueue1, (void **)&custom) == S_OK,
            "no custom decompression queue");
    REQUIRE(pDStorageCreateCompressionCodec(DSTORAGE_COMPRESSION_FORMAT_GDEFLATE, 1, &IID_IDStorageCompressionCodec,
                                            (void **)&codec) == S_OK,
            "no codec");
    {
        DSTORAGE_CUSTOM_DECOMPRESSION_REQUEST one;
        CHECK_HR(custom->lpVtbl->GetRequests1(custom, 8, 1, &one, &count), E_INVALIDARG);
        CHECK_HR(custom->lpVtbl->GetRequests1(custom, DSTORAGE_GET_REQUEST_FLAG_SELECT_ALL, 1, NULL, &count), E_POINTER);
    }
    CHECK_HR(custom->lpVtbl->GetRequests(custom, 0, NULL, &count), S_OK);
    CHECK(count == 0, "GetRequests returned %u requests from an idle queue", count);
    CHECK_HR(custom->lpVtbl->SetRequestResults(custom, 1, &bogus), E_INVALIDARG);

    probe = tu_queue(factory, DSTORAGE_REQUEST_SOURCE_MEMORY, 128, "probe", NULL);
    CHECK(probe->lpVtbl->GetCompressionSupport(probe, DSTORAGE_COMPRESSION_FORMAT_GDEFLATE) ==
              (builtin_mode ? DSTORAGE_COMPRESSION_SUPPORT_NONE : DSTORAGE_COMPRESSION_SUPPORT_CPU_FALLBACK),
          "GDeflate support %#x", probe->lpVtbl->GetCompressionSupport(probe, 1));
    probe->lpVtbl->Release(probe);

    /* In builtin mode one thread takes the built-in formats (SELECT_BUILTIN)
     * and a second one the custom formats (SELECT_CUSTOM), so each selection
     * is seen to leave the other's requests alone. */
    flags = builtin_mode ? DSTORAGE_GET_REQUEST_FLAG_SELECT_BUILTIN : DSTORAGE_GET_REQUEST_FLAG_SELECT_CUSTOM;
    thread = CreateThread(NULL, 0, decompressor, (void *)(ULONG_PTR)flags, 0, NULL);
    REQUIRE(thread, "CreateThread failed");
    if (builtin_mode) {
        HANDLE second = CreateThread(NULL, 0, decompressor, (void *)(ULONG_PTR)DSTORAGE_GET_REQUEST_FLAG_SELECT_CUSTOM,
                                     0, NULL);
        REQUIRE(second, "CreateThread failed");
        custom_requests(factory, TRUE);
        InterlockedExchange(&stop, 1);
        WaitForSingleObject(second, TU_TIMEOUT_MS);
        CloseHandle(second);
    } else {
        custom_requests(factory, FALSE);
        cancel_waiting(factory);
        InterlockedExchange(&stop, 1);
    }
    WaitForSingleObject(thread, TU_TIMEOUT_MS);
    CloseHandle(thread);
    codec->lpVtbl->Release(codec);
    custom->lpVtbl->Release(custom);
    factory->lpVtbl->Release(factory);
    return tu_done();
}
