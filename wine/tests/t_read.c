/*
 * t_read.c - hundreds of uncompressed reads through the builtin: file and
 * memory sources into memory destinations, on queues smaller than the
 * number of requests (so automatic submission and the blocking enqueue
 * run), with status entries, fence signals (a fake ID3D12Fence) and events
 * in between; EnqueueRequests with and without a fence; two queues fed
 * from two threads at once. Every byte read is checked (memcmp and FNV-1a
 * against the file's bytes), and guard bytes after each destination must
 * stay untouched.
 */
#include "tutil.h"

#define FILE_SIZE (8u << 20)
#define GUARD 16u
#define GUARD_BYTE 0xEE

struct plan {
    UINT32 count;
    UINT64 *offset;
    UINT32 *size;
    size_t *dst; /* offset of each destination in one buffer */
    size_t total;
    BYTE *buffer;
    char (*names)[16];
};

/* Random ranges of the file, 1 byte to 96 KiB, each with its own
 * destination followed by guard bytes. */
static void make_plan(struct plan *p, UINT32 count, UINT64 seed)
{
    UINT64 s = seed;
    UINT32 i;

    p->count = count;
    p->offset = calloc(count, sizeof(*p->offset));
    p->size = calloc(count, sizeof(*p->size));
    p->dst = calloc(count, sizeof(*p->dst));
    p->names = calloc(count, sizeof(*p->names));
    REQUIRE(p->offset && p->size && p->dst && p->names, "out of memory");
    p->total = 0;
    for (i = 0; i < count; i++) {
        p->size[i] = 1 + (UINT32)(tu_rand(&s) % (i % 7 == 0 ? 16 : 96 * 1024));
        p->offset[i] = tu_rand(&s) % (FILE_SIZE - p->size[i] + 1);
        p->dst[i] = p->total;
        p->total += p->size[i] + GUARD;
        snprintf(p->names[i], sizeof(p->names[i]), "read%u", i);
    }
    p->buffer = tu_alloc(p->total);
    memset(p->buffer, GUARD_BYTE, p->total);
}

static void check_plan(const struct plan *p, const BYTE *data, const char *what)
{
    UINT32 i, k, bad = 0;

    for (i = 0; i < p->count; i++) {
        const BYTE *got = p->buffer + p->dst[i];
        const BYTE *want = data + p->offset[i];
        if (memcmp(got, want, p->size[i]) || tu_fnv(got, p->size[i]) != tu_fnv(want, p->size[i])) {
            if (bad++ < 5) tu_fail(__FILE__, __LINE__, "%s: request %u (%u bytes at %llu) read wrong bytes", what, i,
                                   p->size[i], (unsigned long long)p->offset[i]);
        }
        for (k = 0; k < GUARD; k++)
            if (got[p->size[i] + k] != GUARD_BYTE) {
                if (bad++ < 5) tu_fail(__FILE__, __LINE__, "%s: request %u wrote past its destination", what, i);
                break;
            }
    }
    tu_checks++;
    CHECK(!bad, "%s: %u of %u requests wrong", what, bad, p->count);
}

static void free_plan(struct plan *p)
{
    tu_free(p->buffer);
    free(p->offset);
    free(p->size);
    free(p->dst);
    free(p->names);
}

/* 600 file reads on a 256-slot queue, with ordering commands between. */
static void many_file_reads(IDStorageFactory *factory, IDStorageFile *file, const BYTE *data)
{
    IDStorageQueue3 *queue = tu_queue(factory, DSTORAGE_REQUEST_SOURCE_FILE, 256, "many", NULL);
    IDStorageStatusArray *status = tu_status_array(factory, 16);
    HANDLE done = CreateEventW(NULL, TRUE, FALSE, NULL);
    struct tu_fence fence;
    DSTORAGE_REQUEST r;
    struct plan p;
    UINT32 i, statuses = 0, signals = 0;

    tu_fence_init(&fence, 0);
    make_plan(&p, 600, 42);
    for (i = 0; i < p.count; i++) {
        r = tu_file_request(file, p.offset[i], p.size[i], p.buffer + p.dst[i], p.size[i],
                            DSTORAGE_COMPRESSION_FORMAT_NONE, i % 2 ? p.size[i] : 0);
        r.Name = p.names[i];
        r.CancellationTag = i;
        queue->lpVtbl->EnqueueRequest(queue, &r);
        if (i % 50 == 49) queue->lpVtbl->EnqueueStatus(queue, status, statuses++);
        if (i % 100 == 99) queue->lpVtbl->EnqueueSignal(queue, &fence.iface, ++signals);
    }
    queue->lpVtbl->EnqueueSetEvent(queue, done);
    queue->lpVtbl->Submit(queue);
    REQUIRE(WaitForSingleObject(done, TU_TIMEOUT_MS) == WAIT_OBJECT_0, "the event after 600 reads never fired");
    /* The event comes after everything: every earlier command is done. */
    for (i = 0; i < statuses; i++) {
        CHECK(status->lpVtbl->IsComplete(status, i), "status %u incomplete when the later event fired", i);
        CHECK_HR(status->lpVtbl->GetHResult(status, i), S_OK);
    }
    tu_fence_wait(&fence, signals);
    CHECK(fence.signals == (LONG)signals, "fence signalled %ld times, expected %u", fence.signals, signals);
    CHECK(fence.signal_thread != GetCurrentThreadId(), "fence signalled on the app's thread");
    CHECK(fence.refs == 1, "the queue holds %ld references on the fence after its signals", fence.refs - 1);
    check_plan(&p, data, "600 file reads");
    {
        DSTORAGE_ERROR_RECORD record;
        queue->lpVtbl->RetrieveErrorRecord(queue, &record);
        CHECK(record.FailureCount == 0, "%u failures", record.FailureCount);
        CHECK(record.FirstFailure.CommandType == DSTORAGE_COMMAND_TYPE_NONE, "first failure type %d",
              record.FirstFailure.CommandType);
    }
    free_plan(&p);
    CloseHandle(done);
    status->lpVtbl->Release(status);
    queue->lpVtbl->Release(queue);
}

/* Memory sources, one queue of the minimum capacity. */
static void memory_reads(IDStorageFactory *factory, const BYTE *data)
{
    IDStorageQueue3 *queue = tu_queue(factory, DSTORAGE_REQUEST_SOURCE_MEMORY, DSTORAGE_MIN_QUEUE_CAPACITY, "memory",
                                      NULL);
    IDStorageStatusArray *status = tu_status_array(factory, 1);
    DSTORAGE_REQUEST r;
    struct plan p;
    UINT32 i;

    make_plan(&p, 300, 7);
    for (i = 0; i < p.count; i++) {
        r = tu_memory_request(data + p.offset[i], p.size[i], p.buffer + p.dst[i], p.size[i],
                              DSTORAGE_COMPRESSION_FORMAT_NONE, 0);
        queue->lpVtbl->EnqueueRequest(queue, &r);
    }
    queue->lpVtbl->EnqueueStatus(queue, status, 0);
    queue->lpVtbl->Submit(queue);
    tu_wait_status(status, 0);
    CHECK_HR(status->lpVtbl->GetHResult(status, 0), S_OK);
    check_plan(&p, data, "300 memory reads");
    free_plan(&p);
    status->lpVtbl->Release(status);
    queue->lpVtbl->Release(queue);
}

/* Query counts slots held by unsubmitted requests. */
static void query_counts(IDStorageFactory *factory, IDStorageFile *file, const BYTE *data)
{
    IDStorageQueue3 *queue = tu_queue(factory, DSTORAGE_REQUEST_SOURCE_FILE, 200, "query", NULL);
    DSTORAGE_QUEUE_INFO before, after;
    DSTORAGE_REQUEST r;
    BYTE dst[10][100];
    UINT32 i;

    queue->lpVtbl->Query(queue, &before);
    for (i = 0; i < 10; i++) {
        r = tu_file_request(file, i * 1000, 100, dst[i], 100, DSTORAGE_COMPRESSION_FORMAT_NONE, 0);
        queue->lpVtbl->EnqueueRequest(queue, &r);
    }
    queue->lpVtbl->Query(queue, &after);
    CHECK(after.EmptySlotCount == before.EmptySlotCount - 10, "empty slots %u -> %u after 10 unsubmitted requests",
          before.EmptySlotCount, after.EmptySlotCount);
    CHECK(after.RequestCountUntilAutoSubmit == before.RequestCountUntilAutoSubmit - 10,
          "until auto-submit %u -> %u after 10 requests", before.RequestCountUntilAutoSubmit,
          after.RequestCountUntilAutoSubmit);
    tu_drain(queue);
    for (i = 0; i < 10; i++) CHECK(!memcmp(dst[i], data + i * 1000, 100), "query request %u read wrong bytes", i);
    /* The event's own slot is freed just after the event is set. */
    for (i = 0; i < 1000; i++) {
        queue->lpVtbl->Query(queue, &after);
        if (after.EmptySlotCount == before.EmptySlotCount) break;
        Sleep(1);
    }
    CHECK(after.EmptySlotCount == before.EmptySlotCount, "empty slots %u after draining, expected %u",
          after.EmptySlotCount, before.EmptySlotCount);
    queue->lpVtbl->Release(queue);
}

/* IDStorageQueue3::EnqueueRequests: a batch, then a batch held by a fence. */
static void enqueue_requests(IDStorageFactory *factory, IDStorageFile *file, const BYTE *data)
{
    IDStorageQueue3 *queue = tu_queue(factory, DSTORAGE_REQUEST_SOURCE_FILE, 512, "batches", NULL);
    IDStorageStatusArray *status = tu_status_array(factory, 2);
    DSTORAGE_REQUEST *batch = calloc(100, sizeof(*batch));
    struct tu_fence fence;
    struct plan p;
    UINT32 i, touched = 0;
    size_t k;

    REQUIRE(batch, "out of memory");
    tu_fence_init(&fence, 1);
    make_plan(&p, 200, 99);
    for (i = 0; i < 100; i++)
        batch[i] = tu_file_request(file, p.offset[i], p.size[i], p.buffer + p.dst[i], p.size[i],
                                   DSTORAGE_COMPRESSION_FORMAT_NONE, 0);
    /* A fence already past its value does not hold anything. */
    queue->lpVtbl->EnqueueRequests(queue, batch, 100, &fence.iface, 1, DSTORAGE_ENQUEUE_REQUEST_FLAG_NONE);
    queue->lpVtbl->EnqueueStatus(queue, status, 0);
    for (i = 0; i < 100; i++)
        batch[i] = tu_file_request(file, p.offset[100 + i], p.size[100 + i], p.buffer + p.dst[100 + i],
                                   p.size[100 + i], DSTORAGE_COMPRESSION_FORMAT_NONE, 0);
    queue->lpVtbl->EnqueueRequests(queue, batch, 100, &fence.iface, 5,
                                   DSTORAGE_ENQUEUE_REQUEST_FLAG_FENCE_WAIT_BEFORE_SOURCE_ACCESS);
    /* The batch was copied: the app's array may change at once. */
    memset(batch, 0xAB, 100 * sizeof(*batch));
    queue->lpVtbl->EnqueueStatus(queue, status, 1);
    queue->lpVtbl->Submit(queue);
    tu_wait_status(status, 0);
    CHECK_HR(status->lpVtbl->GetHResult(status, 0), S_OK);
    Sleep(200);
    CHECK_HR(status->lpVtbl->GetHResult(status, 1), E_PENDING);
    for (i = 100; i < 200; i++)
        for (k = 0; k < p.size[i]; k++)
            if (p.buffer[p.dst[i] + k] != GUARD_BYTE) {
                touched++;
                break;
            }
    CHECK(!touched, "%u requests ran before their fence reached its value", touched);
    fence.iface.lpVtbl->Signal(&fence.iface, 5);
    tu_wait_status(status, 1);
    CHECK_HR(status->lpVtbl->GetHResult(status, 1), S_OK);
    check_plan(&p, data, "EnqueueRequests");
    free(batch);
    free_plan(&p);
    status->lpVtbl->Release(status);
    queue->lpVtbl->Release(queue);
}

/* 900 requests on a 128-slot queue with no ordering command until a
 * failing request at the end: the failure is still attributed (records of
 * ended requests are pruned without commands to prune them). */
static void no_commands(IDStorageFactory *factory, IDStorageFile *file, const BYTE *data)
{
    IDStorageQueue3 *queue = tu_queue(factory, DSTORAGE_REQUEST_SOURCE_FILE, 128, "no-commands", NULL);
    IDStorageStatusArray *status = tu_status_array(factory, 1);
    DSTORAGE_ERROR_RECORD record;
    DSTORAGE_REQUEST r;
    BYTE *dst = tu_alloc(900 * 1024);
    UINT32 i;

    for (i = 0; i < 900; i++) {
        r = tu_file_request(file, (UINT64)i * 4096, 1024, dst + i * 1024, 1024, DSTORAGE_COMPRESSION_FORMAT_NONE, 0);
        queue->lpVtbl->EnqueueRequest(queue, &r);
    }
    r = tu_file_request(file, FILE_SIZE - 8, 16, dst, 16, DSTORAGE_COMPRESSION_FORMAT_NONE, 0);
    r.Name = "last";
    queue->lpVtbl->EnqueueRequest(queue, &r);
    queue->lpVtbl->EnqueueStatus(queue, status, 0);
    queue->lpVtbl->Submit(queue);
    tu_wait_status(status, 0);
    CHECK_HR(status->lpVtbl->GetHResult(status, 0), E_DSTORAGE_END_OF_FILE);
    queue->lpVtbl->RetrieveErrorRecord(queue, &record);
    CHECK(record.FailureCount == 1 && !strcmp(record.FirstFailure.Request.RequestName, "last"),
          "after 900 requests without commands: %u failures, first %s", record.FailureCount,
          record.FirstFailure.Request.RequestName);
    for (i = 1; i < 900; i++)
        if (memcmp(dst + i * 1024, data + (size_t)i * 4096, 1024)) break;
    CHECK(i == 900, "request %u without commands read wrong bytes", i);
    tu_free(dst);
    status->lpVtbl->Release(status);
    queue->lpVtbl->Release(queue);
}

struct worker {
    IDStorageFactory *factory;
    IDStorageFile *file;
    const BYTE *data;
    UINT64 seed;
    struct plan plan;
    HRESULT result;
};

static DWORD WINAPI worker_main(void *arg)
{
    struct worker *w = arg;
    IDStorageQueue3 *queue = tu_queue(w->factory, DSTORAGE_REQUEST_SOURCE_FILE, 128, "worker", NULL);
    IDStorageStatusArray *status = tu_status_array(w->factory, 1);
    DSTORAGE_REQUEST r;
    UINT32 i;

    make_plan(&w->plan, 250, w->seed);
    for (i = 0; i < w->plan.count; i++) {
        r = tu_file_request(w->file, w->plan.offset[i], w->plan.size[i], w->plan.buffer + w->plan.dst[i],
                            w->plan.size[i], DSTORAGE_COMPRESSION_FORMAT_NONE, 0);
        queue->lpVtbl->EnqueueRequest(queue, &r);
    }
    queue->lpVtbl->EnqueueStatus(queue, status, 0);
    queue->lpVtbl->Submit(queue);
    tu_wait_status(status, 0);
    w->result = status->lpVtbl->GetHResult(status, 0);
    status->lpVtbl->Release(status);
    queue->lpVtbl->Release(queue);
    return 0;
}

static void two_threads(IDStorageFactory *factory, IDStorageFile *file, const BYTE *data)
{
    struct worker w[2];
    HANDLE threads[2];
    int i;

    for (i = 0; i < 2; i++) {
        memset(&w[i], 0, sizeof(w[i]));
        w[i].factory = factory;
        w[i].file = file;
        w[i].data = data;
        w[i].seed = 1000 + i;
        threads[i] = CreateThread(NULL, 0, worker_main, &w[i], 0, NULL);
        REQUIRE(threads[i], "CreateThread failed");
    }
    REQUIRE(WaitForMultipleObjects(2, threads, TRUE, TU_TIMEOUT_MS) == WAIT_OBJECT_0, "workers did not finish");
    for (i = 0; i < 2; i++) {
        CHECK_HR(w[i].result, S_OK);
        check_plan(&w[i].plan, data, "worker thread");
        free_plan(&w[i].plan);
        CloseHandle(threads[i]);
    }
}

int main(void)
{
    IDStorageFactory *factory;
    IDStorageFile *file;
    WCHAR path[MAX_PATH];
    BYTE *data;

    tu_load("t_read");
    factory = tu_factory();
    data = tu_alloc(FILE_SIZE);
    tu_fill(data, FILE_SIZE, 2024);
    tu_path(path, L"read.bin");
    tu_write_file(path, data, FILE_SIZE);
    file = tu_open(factory, path);

    many_file_reads(factory, file, data);
    memory_reads(factory, data);
    query_counts(factory, file, data);
    enqueue_requests(factory, file, data);
    two_threads(factory, file, data);
    no_commands(factory, file, data);

    file->lpVtbl->Release(file);
    factory->lpVtbl->Release(factory);
    tu_free(data);
    return tu_done();
}
