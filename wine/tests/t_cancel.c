/*
 * t_cancel.c - CancelRequestsWithTag: requests whose (tag & mask) == value
 * are cancelled, others run; a cancelled request is never a failure (status
 * entries S_OK, empty error record); requests cancelled before they were
 * submitted never touch their destination; requests cancelled while running
 * either complete whole or leave their destination untouched; requests held
 * by a fence (EnqueueRequests) are cancelled before they run.
 */
#include "tutil.h"

#define FILE_BYTES (4u << 20)
#define REQ 400u
#define SIZE 8192u
#define UNTOUCHED 0xEE

static BYTE *data;
static WCHAR path[MAX_PATH];

static BOOL untouched(const BYTE *p, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (p[i] != UNTOUCHED) return FALSE;
    return TRUE;
}

static void check_clean_record(IDStorageQueue3 *queue, const char *what)
{
    DSTORAGE_ERROR_RECORD record;

    queue->lpVtbl->RetrieveErrorRecord(queue, &record);
    CHECK(record.FailureCount == 0, "%s: %u failures recorded for cancelled requests", what, record.FailureCount);
    CHECK(WaitForSingleObject(queue->lpVtbl->GetErrorEvent(queue), 0) == WAIT_TIMEOUT, "%s: error event set", what);
}

/* Cancelled while still pending: deterministic. */
static void cancel_pending(IDStorageFactory *factory, IDStorageFile *file)
{
    IDStorageQueue3 *queue = tu_queue(factory, DSTORAGE_REQUEST_SOURCE_FILE, 1024, "cancel-pending", NULL);
    IDStorageStatusArray *status = tu_status_array(factory, 1);
    BYTE *dst = tu_alloc(REQ * SIZE);
    DSTORAGE_REQUEST r;
    UINT32 i, wrong = 0;

    memset(dst, UNTOUCHED, REQ * SIZE);
    for (i = 0; i < REQ; i++) {
        r = tu_file_request(file, (UINT64)i * SIZE, SIZE, dst + i * SIZE, SIZE, 0, 0);
        r.CancellationTag = 0x100 | (i % 4);
        queue->lpVtbl->EnqueueRequest(queue, &r);
    }
    /* A request that would fail, cancelled: not a failure. */
    r = tu_file_request(file, FILE_BYTES, 10, dst, 10, 0, 0);
    r.CancellationTag = 0x999;
    queue->lpVtbl->EnqueueRequest(queue, &r);
    /* Tag 1 exactly, then every tag with bit 1 set (2 and 3), then the failing one. */
    queue->lpVtbl->CancelRequestsWithTag(queue, ~0ull, 0x101);
    queue->lpVtbl->CancelRequestsWithTag(queue, 0x2, 0x2);
    queue->lpVtbl->CancelRequestsWithTag(queue, 0xfff, 0x999);
    queue->lpVtbl->EnqueueStatus(queue, status, 0);
    queue->lpVtbl->Submit(queue);
    tu_wait_status(status, 0);
    CHECK_HR(status->lpVtbl->GetHResult(status, 0), S_OK);
    for (i = 0; i < REQ; i++) {
        BOOL cancelled = (i % 4) != 0;
        if (cancelled ? !untouched(dst + i * SIZE, SIZE) : memcmp(dst + i * SIZE, data + (size_t)i * SIZE, SIZE) != 0)
            wrong++;
    }
    CHECK(!wrong, "%u of %u requests wrong after cancelling tags 1, 2, 3 before submission", wrong, REQ);
    check_clean_record(queue, "cancel before submit");
    status->lpVtbl->Release(status);
    queue->lpVtbl->Release(queue);
    tu_free(dst);
}

/* Cancelled while running: each request completes whole or not at all. */
static void cancel_running(IDStorageFactory *factory, IDStorageFile *file)
{
    IDStorageQueue3 *queue = tu_queue(factory, DSTORAGE_REQUEST_SOURCE_FILE, 1024, "cancel-running", NULL);
    IDStorageStatusArray *status = tu_status_array(factory, 1);
    BYTE *dst = tu_alloc(REQ * SIZE);
    DSTORAGE_REQUEST r;
    UINT32 i, done = 0, skipped = 0, torn = 0;

    memset(dst, UNTOUCHED, REQ * SIZE);
    for (i = 0; i < REQ; i++) {
        r = tu_file_request(file, (UINT64)i * SIZE, SIZE, dst + i * SIZE, SIZE, 0, 0);
        r.CancellationTag = 7;
        queue->lpVtbl->EnqueueRequest(queue, &r);
        if (i == REQ / 2) queue->lpVtbl->Submit(queue);
    }
    queue->lpVtbl->Submit(queue);
    queue->lpVtbl->CancelRequestsWithTag(queue, ~0ull, 7);
    queue->lpVtbl->EnqueueStatus(queue, status, 0);
    queue->lpVtbl->Submit(queue);
    tu_wait_status(status, 0);
    CHECK_HR(status->lpVtbl->GetHResult(status, 0), S_OK);
    for (i = 0; i < REQ; i++) {
        if (!memcmp(dst + i * SIZE, data + (size_t)i * SIZE, SIZE))
            done++;
        else if (untouched(dst + i * SIZE, SIZE))
            skipped++;
        else
            torn++;
    }
    printf("t_cancel: cancelled while running: %u completed, %u cancelled\n", done, skipped);
    CHECK(!torn, "%u requests left partly written destinations", torn);
    check_clean_record(queue, "cancel while running");
    status->lpVtbl->Release(status);
    queue->lpVtbl->Release(queue);
    tu_free(dst);
}

/* Held by a fence (EnqueueRequests): cancelled before they ever run. */
static void cancel_gated(IDStorageFactory *factory, IDStorageFile *file)
{
    IDStorageQueue3 *queue = tu_queue(factory, DSTORAGE_REQUEST_SOURCE_FILE, 256, "cancel-gated", NULL);
    IDStorageStatusArray *status = tu_status_array(factory, 1);
    DSTORAGE_REQUEST batch[100];
    BYTE *dst = tu_alloc(100 * SIZE);
    struct tu_fence fence;
    UINT32 i, wrong = 0;

    tu_fence_init(&fence, 0);
    memset(dst, UNTOUCHED, 100 * SIZE);
    for (i = 0; i < 100; i++) {
        batch[i] = tu_file_request(file, (UINT64)i * SIZE, SIZE, dst + i * SIZE, SIZE, 0, 0);
        batch[i].CancellationTag = i < 50 ? 5 : 6;
    }
    queue->lpVtbl->EnqueueRequests(queue, batch, 100, &fence.iface, 1, DSTORAGE_ENQUEUE_REQUEST_FLAG_NONE);
    queue->lpVtbl->EnqueueStatus(queue, status, 0);
    queue->lpVtbl->Submit(queue);
    queue->lpVtbl->CancelRequestsWithTag(queue, ~0ull, 5);
    CHECK_HR(status->lpVtbl->GetHResult(status, 0), E_PENDING);
    fence.iface.lpVtbl->Signal(&fence.iface, 1);
    tu_wait_status(status, 0);
    CHECK_HR(status->lpVtbl->GetHResult(status, 0), S_OK);
    for (i = 0; i < 100; i++)
        if (i < 50 ? !untouched(dst + i * SIZE, SIZE) : memcmp(dst + i * SIZE, data + (size_t)i * SIZE, SIZE) != 0)
            wrong++;
    CHECK(!wrong, "%u of 100 fence-held requests wrong after cancelling half of them", wrong);
    check_clean_record(queue, "cancel held requests");
    status->lpVtbl->Release(status);
    queue->lpVtbl->Release(queue);
    tu_free(dst);
}

int main(void)
{
    IDStorageFactory *factory;
    IDStorageFile *file;

    tu_load("t_cancel");
    factory = tu_factory();
    data = tu_alloc(FILE_BYTES);
    tu_fill(data, FILE_BYTES, 4);
    tu_path(path, L"cancel.bin");
    tu_write_file(path, data, FILE_BYTES);
    file = tu_open(factory, path);
    cancel_pending(factory, file);
    cancel_running(factory, file);
    cancel_gated(factory, file);
    file->lpVtbl->Release(file);
    factory->lpVtbl->Release(factory);
    tu_free(data);
    return tu_done();
}
