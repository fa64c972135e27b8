/*
 * bench_shim.c - the benchmark workload (workload.h) through the
 * DirectStorage API of the builtin dstorage.dll under wine, request for
 * request what bench_native does through the C ABI.
 *
 *   bench_shim.exe DIR ROUNDS     DIR: the Windows path of the prepared files
 *
 * Prints "shim CASE REQUESTS BYTES SECONDS CHECKSUM" per round (after one
 * warm-up): time from the first EnqueueRequest to the wake-up of the
 * EnqueueSetEvent after the last one.
 */
#include "tutil.h"
#include "workload.h"

static double now(void)
{
    static LARGE_INTEGER freq;
    LARGE_INTEGER t;

    if (!freq.QuadPart) QueryPerformanceFrequency(&freq);
    QueryPerformanceCounter(&t);
    return (double)t.QuadPart / (double)freq.QuadPart;
}

static double run_case(IDStorageQueue3 *queue, IDStorageFile *data, IDStorageFile *pack,
                       const struct pack_entry *index, const struct bench_case *c, BYTE *dst, HANDLE done,
                       UINT64 *requests)
{
    DSTORAGE_REQUEST r;
    UINT64 pos, n = 0;
    UINT32 i;
    double t0 = now();

    if (c->request_bytes) {
        for (pos = 0; pos < c->span; pos += c->request_bytes, n++) {
            r = tu_file_request(data, pos, c->request_bytes, dst + pos, c->request_bytes,
                                DSTORAGE_COMPRESSION_FORMAT_NONE, 0);
            queue->lpVtbl->EnqueueRequest(queue, &r);
        }
    } else {
        for (i = 0; i < PACK_CHUNKS; i++, n++) {
            r = tu_file_request(pack, index[i].offset, index[i].size, dst + (UINT64)i * CHUNK, CHUNK,
                                DSTORAGE_COMPRESSION_FORMAT_GDEFLATE, CHUNK);
            queue->lpVtbl->EnqueueRequest(queue, &r);
        }
    }
    queue->lpVtbl->EnqueueSetEvent(queue, done);
    queue->lpVtbl->Submit(queue);
    REQUIRE(WaitForSingleObject(done, 600000) == WAIT_OBJECT_0, "%s did not finish", c->name);
    *requests = n;
    return now() - t0;
}

int main(int argc, char **argv)
{
    IDStorageFactory *factory;
    IDStorageQueue3 *queue;
    IDStorageFile *data, *pack;
    DSTORAGE_ERROR_RECORD record;
    struct pack_entry *index;
    WCHAR dir[MAX_PATH], path[MAX_PATH];
    HANDLE done = CreateEventW(NULL, FALSE, FALSE, NULL);
    UINT64 requests;
    size_t index_size = 0, k;
    double seconds;
    BYTE *dst;
    int round, rounds;

    if (argc != 3) {
        fprintf(stderr, "usage: bench_shim.exe DIR ROUNDS\n");
        return 2;
    }
    tu_load("bench_shim");
    MultiByteToWideChar(CP_UTF8, 0, argv[1], -1, dir, MAX_PATH);
    rounds = atoi(argv[2]);
    swprintf(path, MAX_PATH, L"%ls\\pack.idx", dir);
    index = (struct pack_entry *)tu_read_file(path, &index_size);
    REQUIRE(index && index_size == PACK_CHUNKS * sizeof(*index), "no %ls (run bench/run.sh)", path);
    factory = tu_factory();
    swprintf(path, MAX_PATH, L"%ls\\data.bin", dir);
    data = tu_open(factory, path);
    swprintf(path, MAX_PATH, L"%ls\\pack.bin", dir);
    pack = tu_open(factory, path);
    queue = tu_queue(factory, DSTORAGE_REQUEST_SOURCE_FILE, QUEUE_CAPACITY, "bench-shim", NULL);
    dst = tu_alloc(DATA_BYTES);
    memset(dst, 0, DATA_BYTES);

    for (k = 0; k < BENCH_CASES; k++) {
        const struct bench_case *c = &bench_cases[k];
        run_case(queue, data, pack, index, c, dst, done, &requests); /* warm-up */
        for (round = 0; round < rounds; round++) {
            memset(dst, 0, c->span);
            seconds = run_case(queue, data, pack, index, c, dst, done, &requests);
            printf("shim %s %llu %llu %.6f %016llx\n", c->name, (unsigned long long)requests,
                   (unsigned long long)c->span, seconds, (unsigned long long)bench_fnv(dst, c->span));
            fflush(stdout);
        }
    }
    queue->lpVtbl->RetrieveErrorRecord(queue, &record);
    REQUIRE(record.FailureCount == 0, "%u requests failed (first %#lx)", record.FailureCount,
            (unsigned long)record.FirstFailure.HResult);
    queue->lpVtbl->Release(queue);
    data->lpVtbl->Release(data);
    pack->lpVtbl->Release(pack);
    factory->lpVtbl->Release(factory);
    tu_free(dst);
    CloseHandle(done);
    return tu_done();
}
