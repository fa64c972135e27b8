/*
 * t_errors.c - every error path of requests and ordering commands, with the
 * HRESULT each must produce in its status entry, the error record (first
 * failure in enqueue order, failure count, file name, request name, the
 * request as enqueued) and the error event; and that requests around the
 * failing ones still succeed.
 */
#include "tutil.h"

#define FILE_BYTES 100000u
#define STREAM_BYTES 50000u

static BYTE data[FILE_BYTES];
static WCHAR data_path[MAX_PATH], stream_path[MAX_PATH], corrupt_path[MAX_PATH];

/* An object that looks like an IDStorageFile but is not the builtin's. */
static HRESULT STDMETHODCALLTYPE fake_qi(IDStorageFile *f, REFIID r, void **p)
{
    (void)f, (void)r;
    *p = NULL;
    return E_NOINTERFACE;
}
static ULONG STDMETHODCALLTYPE fake_ref(IDStorageFile *f)
{
    (void)f;
    return 1;
}
static void STDMETHODCALLTYPE fake_close(IDStorageFile *f)
{
    (void)f;
}
static HRESULT STDMETHODCALLTYPE fake_info(IDStorageFile *f, BY_HANDLE_FILE_INFORMATION *i)
{
    (void)f, (void)i;
    return E_NOTIMPL;
}
static const IDStorageFileVtbl fake_file_vtbl = {fake_qi, fake_ref, fake_ref, fake_close, fake_info};
static IDStorageFile fake_file = {&fake_file_vtbl};

/* An object passed as ID3D12Device that is not one (every call fails). */
static HRESULT STDMETHODCALLTYPE fake_device_qi(IUnknown *u, REFIID r, void **p)
{
    (void)u, (void)r;
    *p = NULL;
    return E_NOINTERFACE;
}
static ULONG STDMETHODCALLTYPE fake_device_ref(IUnknown *u)
{
    (void)u;
    return 1;
}
static const IUnknownVtbl fake_device_vtbl = {fake_device_qi, fake_device_ref, fake_device_ref};
static IUnknown fake_device = {(IUnknownVtbl *)&fake_device_vtbl};

/* A fence whose Signal fails. */
static HRESULT STDMETHODCALLTYPE failing_signal(ID3D12Fence *iface, UINT64 value)
{
    (void)iface, (void)value;
    return DXGI_ERROR_DEVICE_REMOVED;
}

struct expect {
    const char *name;
    DSTORAGE_REQUEST request;
    HRESULT hr;
};

static void write_files(void)
{
    size_t n;
    BYTE *stream;

    tu_fill(data, sizeof(data), 9);
    tu_path(data_path, L"err.bin");
    tu_write_file(data_path, data, sizeof(data));
    stream = tu_gdeflate(data, STREAM_BYTES, DSTORAGE_COMPRESSION_DEFAULT, &n);
    tu_path(stream_path, L"err.gdef");
    tu_write_file(stream_path, stream, n);
    /* Damage the tile data, keep the header (so the size checks pass). */
    memset(stream + n / 2, 0xFF, 48);
    tu_path(corrupt_path, L"err-corrupt.gdef");
    tu_write_file(corrupt_path, stream, n);
    tu_free(stream);
}

static UINT32 file_size(const WCHAR *path)
{
    WIN32_FILE_ATTRIBUTE_DATA a;

    REQUIRE(GetFileAttributesExW(path, GetFileExInfoStandard, &a), "no %ls", path);
    return a.nFileSizeLow;
}

/* SetStagingBufferSize applies to queues created later; nothing may be open. */
static void staging_too_small(IDStorageFactory *factory)
{
    IDStorageQueue3 *queue;
    IDStorageStatusArray *status;
    DSTORAGE_REQUEST r;
    BYTE *stream, *out = tu_alloc(STREAM_BYTES);
    size_t n;

    CHECK_HR(factory->lpVtbl->SetStagingBufferSize(factory, 16384), S_OK);
    queue = tu_queue(factory, DSTORAGE_REQUEST_SOURCE_MEMORY, 128, "small-staging", NULL);
    status = tu_status_array(factory, 2);
    stream = tu_gdeflate(data, STREAM_BYTES, DSTORAGE_COMPRESSION_FASTEST, &n);
    r = tu_memory_request(stream, (UINT32)n, out, STREAM_BYTES, DSTORAGE_COMPRESSION_FORMAT_GDEFLATE, STREAM_BYTES);
    queue->lpVtbl->EnqueueRequest(queue, &r);
    queue->lpVtbl->EnqueueStatus(queue, status, 0);
    /* Uncompressed requests need no staging. */
    r = tu_memory_request(data, STREAM_BYTES, out, STREAM_BYTES, DSTORAGE_COMPRESSION_FORMAT_NONE, 0);
    queue->lpVtbl->EnqueueRequest(queue, &r);
    queue->lpVtbl->EnqueueStatus(queue, status, 1);
    queue->lpVtbl->Submit(queue);
    tu_wait_status(status, 1);
    CHECK_HR(status->lpVtbl->GetHResult(status, 0), E_DSTORAGE_STAGING_BUFFER_TOO_SMALL);
    CHECK_HR(status->lpVtbl->GetHResult(status, 1), S_OK);
    CHECK(!memcmp(out, data, STREAM_BYTES), "uncompressed request on a small-staging queue read wrong bytes");
    queue->lpVtbl->Release(queue);
    status->lpVtbl->Release(status);
    tu_free(stream);
    tu_free(out);
    CHECK_HR(factory->lpVtbl->SetStagingBufferSize(factory, DSTORAGE_STAGING_BUFFER_SIZE_32MB), S_OK);
}

/* One request per error, each followed by its own status entry. */
static void request_errors(IDStorageFactory *factory)
{
    IDStorageFile *file = tu_open(factory, data_path), *stream = tu_open(factory, stream_path),
                  *corrupt = tu_open(factory, corrupt_path), *closed = tu_open(factory, data_path);
    IDStorageQueue3 *queue = tu_queue(factory, DSTORAGE_REQUEST_SOURCE_FILE, 128, "errors", NULL);
    UINT32 stream_size = file_size(stream_path);
    static BYTE dst[32][STREAM_BYTES];
    struct expect e[32];
    IDStorageStatusArray *status;
    DSTORAGE_ERROR_RECORD record;
    HANDLE error_event = queue->lpVtbl->GetErrorEvent(queue);
    int n = 0, i, failures = 0;

    closed->lpVtbl->Close(closed);
#define ADD(label, req, want) (e[n].name = (label), e[n].request = (req), e[n].hr = (want), n++)
    ADD("eof", tu_file_request(file, FILE_BYTES - 10, 100, dst[n], 100, 0, 0), E_DSTORAGE_END_OF_FILE);
    ADD("ok-1", tu_file_request(file, 0, 1000, dst[n], 1000, 0, 0), S_OK);
    ADD("far-past-eof", tu_file_request(file, 1ull << 40, 10, dst[n], 10, 0, 0), E_DSTORAGE_END_OF_FILE);
    ADD("src-ne-dst", tu_file_request(file, 0, 100, dst[n], 200, 0, 0), E_DSTORAGE_INVALID_DESTINATION_SIZE);
    ADD("uncompressed-size", tu_file_request(file, 0, 100, dst[n], 100, 0, 50), E_DSTORAGE_INVALID_DESTINATION_SIZE);
    ADD("gdeflate-size-ne-dst",
        tu_file_request(stream, 0, stream_size, dst[n], STREAM_BYTES, 1, STREAM_BYTES - 1),
        E_DSTORAGE_INVALID_DESTINATION_SIZE);
    ADD("gdeflate-size-ne-stream",
        tu_file_request(stream, 0, stream_size, dst[n], STREAM_BYTES - 1000, 1, STREAM_BYTES - 1000),
        E_DSTORAGE_DECOMPRESSION_ERROR);
    ADD("ok-gdeflate", tu_file_request(stream, 0, stream_size, dst[n], STREAM_BYTES, 1, STREAM_BYTES), S_OK);
    ADD("corrupt", tu_file_request(corrupt, 0, stream_size, dst[n], STREAM_BYTES, 1, STREAM_BYTES),
        E_DSTORAGE_DECOMPRESSION_ERROR);
    ADD("truncated-stream", tu_file_request(stream, 0, stream_size / 2, dst[n], STREAM_BYTES, 1, STREAM_BYTES),
        E_DSTORAGE_DECOMPRESSION_ERROR);
    ADD("reserved1", tu_file_request(file, 0, 10, dst[n], 10, 0, 0), E_DSTORAGE_RESERVED_FIELDS);
    e[n - 1].request.Options.Reserved1[3] = 1;
    ADD("reserved", tu_file_request(file, 0, 10, dst[n], 10, 0, 0), E_DSTORAGE_RESERVED_FIELDS);
    e[n - 1].request.Options.Reserved = 1;
    ADD("memory-source", tu_memory_request(data, 10, dst[n], 10, 0, 0), E_DSTORAGE_INVALID_SOURCE_TYPE);
    ADD("foreign-file", tu_file_request(&fake_file, 0, 10, dst[n], 10, 0, 0), E_DSTORAGE_INVALID_FILE_HANDLE);
    ADD("null-file", tu_file_request(NULL, 0, 10, dst[n], 10, 0, 0), E_DSTORAGE_INVALID_FILE_HANDLE);
    ADD("closed-file", tu_file_request(closed, 0, 10, dst[n], 10, 0, 0), E_DSTORAGE_FILE_NOT_OPEN);
    ADD("buffer-no-device", tu_file_request(file, 0, 10, dst[n], 10, 0, 0), E_DSTORAGE_INVALID_DESTINATION_TYPE);
    e[n - 1].request.Options.DestinationType = DSTORAGE_REQUEST_DESTINATION_BUFFER;
    ADD("texture", tu_file_request(file, 0, 10, dst[n], 10, 0, 0), E_DSTORAGE_INVALID_DESTINATION_TYPE);
    e[n - 1].request.Options.DestinationType = DSTORAGE_REQUEST_DESTINATION_TEXTURE_REGION;
    ADD("format-5", tu_file_request(file, 0, 10, dst[n], 10, 5, 10), E_INVALIDARG);
    ADD("zero-size", tu_file_request(file, 0, 0, dst[n], 0, 0, 0), E_DSTORAGE_INVALID_DESTINATION_SIZE);
    ADD("null-destination", tu_file_request(file, 0, 10, NULL, 10, 0, 0), E_INVALIDARG);
    ADD("ok-2", tu_file_request(file, 5000, 4000, dst[n], 4000, 0, 4000), S_OK);
#undef ADD

    status = tu_status_array(factory, n);
    for (i = 0; i < n; i++) {
        e[i].request.Name = e[i].name;
        queue->lpVtbl->EnqueueRequest(queue, &e[i].request);
        queue->lpVtbl->EnqueueStatus(queue, status, i);
        if (FAILED(e[i].hr)) failures++;
    }
    tu_drain(queue);
    for (i = 0; i < n; i++) {
        HRESULT hr = status->lpVtbl->GetHResult(status, i);
        CHECK(hr == e[i].hr, "request %s: status %#lx, expected %#lx", e[i].name, (unsigned long)hr,
              (unsigned long)e[i].hr);
    }
    CHECK(!memcmp(dst[1], data, 1000), "ok-1 read wrong bytes");
    CHECK(!memcmp(dst[7], data, STREAM_BYTES), "ok-gdeflate decompressed wrong bytes");
    CHECK(!memcmp(dst[n - 1], data + 5000, 4000), "ok-2 read wrong bytes");

    CHECK(WaitForSingleObject(error_event, TU_TIMEOUT_MS) == WAIT_OBJECT_0, "error event not set after failures");
    queue->lpVtbl->RetrieveErrorRecord(queue, &record);
    CHECK(record.FailureCount == (UINT32)failures, "error record counts %u failures, expected %d",
          record.FailureCount, failures);
    CHECK_HR(record.FirstFailure.HResult, E_DSTORAGE_END_OF_FILE);
    CHECK(record.FirstFailure.CommandType == DSTORAGE_COMMAND_TYPE_REQUEST, "first failure type %d",
          record.FirstFailure.CommandType);
    CHECK(!wcscmp(record.FirstFailure.Request.Filename, data_path), "first failure file %ls, expected %ls",
          record.FirstFailure.Request.Filename, data_path);
    CHECK(!strcmp(record.FirstFailure.Request.RequestName, "eof"), "first failure name %s",
          record.FirstFailure.Request.RequestName);
    CHECK(!memcmp(&record.FirstFailure.Request.Request, &e[0].request, sizeof(DSTORAGE_REQUEST)),
          "the error record's request differs from the one enqueued");
    CHECK(WaitForSingleObject(error_event, 0) == WAIT_TIMEOUT, "error event still set after RetrieveErrorRecord");
    queue->lpVtbl->RetrieveErrorRecord(queue, &record);
    CHECK(record.FailureCount == 0, "second retrieval counts %u", record.FailureCount);
    CHECK(record.FirstFailure.CommandType == DSTORAGE_COMMAND_TYPE_NONE, "second retrieval type %d",
          record.FirstFailure.CommandType);

    /* A new failure sets the event again. */
    queue->lpVtbl->EnqueueRequest(queue, &e[0].request);
    tu_drain(queue);
    CHECK(WaitForSingleObject(error_event, TU_TIMEOUT_MS) == WAIT_OBJECT_0, "error event not set again");
    queue->lpVtbl->RetrieveErrorRecord(queue, &record);
    CHECK(record.FailureCount == 1, "%u failures after one more", record.FailureCount);

    status->lpVtbl->Release(status);
    queue->lpVtbl->Release(queue);
    file->lpVtbl->Release(file);
    stream->lpVtbl->Release(stream);
    corrupt->lpVtbl->Release(corrupt);
    closed->lpVtbl->Release(closed);
}

/* Many failures mixed with successes, each failure followed by its own
 * status entry: every one is attributed to its entry (failures found by the
 * runtime while the shim is still enqueueing the batch included). */
static void many_failures(IDStorageFactory *factory)
{
    IDStorageFile *file = tu_open(factory, data_path);
    IDStorageQueue3 *queue = tu_queue(factory, DSTORAGE_REQUEST_SOURCE_FILE, 1024, "many-failures", NULL);
    IDStorageStatusArray *status = tu_status_array(factory, 150);
    DSTORAGE_ERROR_RECORD record;
    static BYTE dst[300][512];
    DSTORAGE_REQUEST r;
    UINT32 i, wrong = 0;

    for (i = 0; i < 300; i++) {
        if (i % 2)
            r = tu_file_request(file, FILE_BYTES - i, 512, dst[i], 512, 0, 0);
        else
            r = tu_file_request(file, i * 100, 512, dst[i], 512, 0, 0);
        queue->lpVtbl->EnqueueRequest(queue, &r);
        if (i % 2) queue->lpVtbl->EnqueueStatus(queue, status, i / 2);
    }
    tu_drain(queue);
    for (i = 0; i < 150; i++)
        if (status->lpVtbl->GetHResult(status, i) != E_DSTORAGE_END_OF_FILE) wrong++;
    CHECK(!wrong, "%u of 150 status entries after a failing request are not E_DSTORAGE_END_OF_FILE", wrong);
    for (i = 0; i < 300; i += 2)
        if (memcmp(dst[i], data + i * 100, 512)) wrong++;
    CHECK(!wrong, "%u good requests among failing ones read wrong bytes", wrong);
    queue->lpVtbl->RetrieveErrorRecord(queue, &record);
    CHECK(record.FailureCount == 150, "%u failures recorded, expected 150", record.FailureCount);
    CHECK(record.FirstFailure.Request.Request.Source.File.Offset == FILE_BYTES - 1,
          "first failure in enqueue order is the one at offset %llu",
          (unsigned long long)record.FirstFailure.Request.Request.Source.File.Offset);
    status->lpVtbl->Release(status);
    queue->lpVtbl->Release(queue);
    file->lpVtbl->Release(file);
}

/* A status entry reports the first failure in enqueue order, not in time,
 * and failures before a signal or event carry over to the next status. */
static void status_order(IDStorageFactory *factory)
{
    IDStorageFile *file = tu_open(factory, data_path);
    IDStorageQueue3 *queue = tu_queue(factory, DSTORAGE_REQUEST_SOURCE_FILE, 128, "order", NULL);
    IDStorageStatusArray *status = tu_status_array(factory, 3);
    struct tu_fence fence;
    static BYTE dst[4][2000];
    DSTORAGE_REQUEST r;

    tu_fence_init(&fence, 0);
    /* An I/O failure found by the runtime, then one refused at once. */
    r = tu_file_request(file, FILE_BYTES - 1, 2, dst[0], 2, 0, 0);
    queue->lpVtbl->EnqueueRequest(queue, &r);
    r = tu_file_request(file, 0, 10, dst[1], 20, 0, 0);
    queue->lpVtbl->EnqueueRequest(queue, &r);
    queue->lpVtbl->EnqueueStatus(queue, status, 0);
    /* A failure, a signal, a good request, a status. */
    r = tu_file_request(file, FILE_BYTES, 1, dst[2], 1, 0, 0);
    queue->lpVtbl->EnqueueRequest(queue, &r);
    queue->lpVtbl->EnqueueSignal(queue, &fence.iface, 1);
    r = tu_file_request(file, 0, 2000, dst[3], 2000, 0, 0);
    queue->lpVtbl->EnqueueRequest(queue, &r);
    queue->lpVtbl->EnqueueStatus(queue, status, 1);
    queue->lpVtbl->EnqueueRequest(queue, &r);
    queue->lpVtbl->EnqueueStatus(queue, status, 2);
    tu_drain(queue);
    CHECK_HR(status->lpVtbl->GetHResult(status, 0), E_DSTORAGE_END_OF_FILE);
    CHECK_HR(status->lpVtbl->GetHResult(status, 1), E_DSTORAGE_END_OF_FILE);
    CHECK_HR(status->lpVtbl->GetHResult(status, 2), S_OK);
    CHECK(fence.value == 1, "the signal after a failure did not happen");
    status->lpVtbl->Release(status);
    queue->lpVtbl->Release(queue);
    file->lpVtbl->Release(file);
}

static void command_errors(IDStorageFactory *factory)
{
    IDStorageQueue3 *queue = tu_queue(factory, DSTORAGE_REQUEST_SOURCE_MEMORY, 128, "commands", NULL);
    IDStorageStatusArray *status = tu_status_array(factory, 2);
    DSTORAGE_ERROR_RECORD record;
    struct tu_fence fence;
    ID3D12FenceVtbl failing;

    queue->lpVtbl->EnqueueStatus(queue, NULL, 0);
    tu_drain(queue);
    queue->lpVtbl->RetrieveErrorRecord(queue, &record);
    CHECK(record.FailureCount == 1 && record.FirstFailure.CommandType == DSTORAGE_COMMAND_TYPE_STATUS,
          "NULL status array: %u failures, type %d", record.FailureCount, record.FirstFailure.CommandType);
    CHECK_HR(record.FirstFailure.HResult, E_DSTORAGE_INVALID_STATUS_ARRAY);

    queue->lpVtbl->EnqueueStatus(queue, status, 7);
    tu_drain(queue);
    queue->lpVtbl->RetrieveErrorRecord(queue, &record);
    CHECK_HR(record.FirstFailure.HResult, E_DSTORAGE_INDEX_BOUND);
    CHECK(record.FirstFailure.CommandType == DSTORAGE_COMMAND_TYPE_STATUS &&
              record.FirstFailure.Status.StatusArray == status && record.FirstFailure.Status.Index == 7,
          "index past the end: type %d, array %p, index %u", record.FirstFailure.CommandType,
          record.FirstFailure.Status.StatusArray, record.FirstFailure.Status.Index);

    queue->lpVtbl->EnqueueSignal(queue, NULL, 3);
    tu_drain(queue);
    queue->lpVtbl->RetrieveErrorRecord(queue, &record);
    CHECK_HR(record.FirstFailure.HResult, E_DSTORAGE_INVALID_FENCE);
    CHECK(record.FirstFailure.CommandType == DSTORAGE_COMMAND_TYPE_SIGNAL, "NULL fence: type %d",
          record.FirstFailure.CommandType);

    tu_fence_init(&fence, 0);
    failing = *fence.iface.lpVtbl;
    failing.Signal = failing_signal;
    fence.iface.lpVtbl = &failing;
    queue->lpVtbl->EnqueueSignal(queue, &fence.iface, 9);
    tu_drain(queue);
    CHECK(WaitForSingleObject(queue->lpVtbl->GetErrorEvent(queue), TU_TIMEOUT_MS) == WAIT_OBJECT_0,
          "failed Signal did not set the error event");
    queue->lpVtbl->RetrieveErrorRecord(queue, &record);
    CHECK_HR(record.FirstFailure.HResult, DXGI_ERROR_DEVICE_REMOVED);
    CHECK(record.FirstFailure.CommandType == DSTORAGE_COMMAND_TYPE_SIGNAL &&
              record.FirstFailure.Signal.Fence == &fence.iface && record.FirstFailure.Signal.Value == 9,
          "failed Signal: type %d, fence %p, value %llu", record.FirstFailure.CommandType,
          record.FirstFailure.Signal.Fence, (unsigned long long)record.FirstFailure.Signal.Value);
    CHECK(fence.refs == 1, "failed Signal leaked %ld fence references", fence.refs - 1);

    queue->lpVtbl->EnqueueSetEvent(queue, (HANDLE)(ULONG_PTR)0x7ff0);
    tu_drain(queue);
    CHECK(WaitForSingleObject(queue->lpVtbl->GetErrorEvent(queue), TU_TIMEOUT_MS) == WAIT_OBJECT_0,
          "failed SetEvent did not set the error event");
    queue->lpVtbl->RetrieveErrorRecord(queue, &record);
    CHECK(record.FirstFailure.CommandType == DSTORAGE_COMMAND_TYPE_EVENT &&
              record.FirstFailure.Event.Handle == (HANDLE)(ULONG_PTR)0x7ff0,
          "bad event handle: type %d, handle %p", record.FirstFailure.CommandType, record.FirstFailure.Event.Handle);
    CHECK_HR(record.FirstFailure.HResult, HRESULT_FROM_WIN32(ERROR_INVALID_HANDLE));

    /* A closed queue refuses work; a status entry ends instead of hanging. */
    queue->lpVtbl->Close(queue);
    queue->lpVtbl->EnqueueStatus(queue, status, 1);
    CHECK_HR(status->lpVtbl->GetHResult(status, 1), E_DSTORAGE_QUEUE_CLOSED);
    {
        BYTE dst[10];
        DSTORAGE_REQUEST r = tu_memory_request(data, 10, dst, 10, 0, 0);
        queue->lpVtbl->EnqueueRequest(queue, &r);
        queue->lpVtbl->Submit(queue);
    }
    status->lpVtbl->Release(status);
    queue->lpVtbl->Release(queue);
}

/* A Device that is not a usable D3D12 device: the queue works for memory
 * destinations and refuses buffer destinations with a clear HRESULT. */
static void unusable_device(IDStorageFactory *factory)
{
    IDStorageQueue3 *queue =
        tu_queue(factory, DSTORAGE_REQUEST_SOURCE_MEMORY, 128, "fake-device", (ID3D12Device *)&fake_device);
    IDStorageStatusArray *status = tu_status_array(factory, 2);
    DSTORAGE_REQUEST r;
    BYTE dst[100];

    CHECK(queue->lpVtbl->GetCompressionSupport(queue, DSTORAGE_COMPRESSION_FORMAT_GDEFLATE) ==
              DSTORAGE_COMPRESSION_SUPPORT_CPU_FALLBACK,
          "unusable device: support %#x", queue->lpVtbl->GetCompressionSupport(queue, 1));
    r = tu_memory_request(data, 100, dst, 100, 0, 0);
    r.Options.DestinationType = DSTORAGE_REQUEST_DESTINATION_BUFFER;
    r.Destination.Buffer.Resource = (ID3D12Resource *)&fake_device;
    r.Destination.Buffer.Offset = 0;
    r.Destination.Buffer.Size = 100;
    queue->lpVtbl->EnqueueRequest(queue, &r);
    queue->lpVtbl->EnqueueStatus(queue, status, 0);
    r = tu_memory_request(data, 100, dst, 100, 0, 0);
    queue->lpVtbl->EnqueueRequest(queue, &r);
    queue->lpVtbl->EnqueueStatus(queue, status, 1);
    tu_drain(queue);
    CHECK_HR(status->lpVtbl->GetHResult(status, 0), E_DSTORAGE_INVALID_DESTINATION_TYPE);
    CHECK_HR(status->lpVtbl->GetHResult(status, 1), S_OK);
    CHECK(!memcmp(dst, data, 100), "memory request on a fake-device queue read wrong bytes");
    status->lpVtbl->Release(status);
    queue->lpVtbl->Release(queue);
}

/* SetDebugFlags(DSTORAGE_DEBUG_SHOW_ERRORS): each failure's message goes
 * to OutputDebugStringA, which raises DBG_PRINTEXCEPTION_C: a vectored
 * handler sees the text. */
static char debug_text[4096];
static volatile LONG debug_lines;

static LONG CALLBACK catch_debug_print(EXCEPTION_POINTERS *e)
{
    const char *text;
    size_t used;

    if (e->ExceptionRecord->ExceptionCode != DBG_PRINTEXCEPTION_C || e->ExceptionRecord->NumberParameters < 2)
        return EXCEPTION_CONTINUE_SEARCH;
    text = (const char *)e->ExceptionRecord->ExceptionInformation[1];
    used = strlen(debug_text);
    if (text && used + strlen(text) + 1 < sizeof(debug_text)) strcat(debug_text, text);
    InterlockedIncrement(&debug_lines);
    return EXCEPTION_CONTINUE_SEARCH;
}

static void debug_flags(IDStorageFactory *factory)
{
    IDStorageFile *file = tu_open(factory, data_path);
    IDStorageQueue3 *queue = tu_queue(factory, DSTORAGE_REQUEST_SOURCE_FILE, 128, "debug-flags", NULL);
    void *handler = AddVectoredExceptionHandler(1, catch_debug_print);
    DSTORAGE_REQUEST r;
    BYTE dst[64];

    REQUIRE(handler, "AddVectoredExceptionHandler failed");
    factory->lpVtbl->SetDebugFlags(factory, DSTORAGE_DEBUG_SHOW_ERRORS);
    r = tu_file_request(file, FILE_BYTES - 4, 64, dst, 64, 0, 0);
    r.Name = "shown";
    queue->lpVtbl->EnqueueRequest(queue, &r);
    tu_drain(queue);
    /* The message is printed by the completion thread, before it sets the
     * error event. */
    CHECK(WaitForSingleObject(queue->lpVtbl->GetErrorEvent(queue), TU_TIMEOUT_MS) == WAIT_OBJECT_0, "no error event");
    CHECK(strstr(debug_text, "dstorage: ") && strstr(debug_text, "shown") && strstr(debug_text, "end of the file"),
          "SHOW_ERRORS printed %ld lines: \"%s\"", debug_lines, debug_text);
    factory->lpVtbl->SetDebugFlags(factory, DSTORAGE_DEBUG_NONE);
    debug_text[0] = 0;
    queue->lpVtbl->EnqueueRequest(queue, &r);
    tu_drain(queue);
    queue->lpVtbl->RetrieveErrorRecord(queue, NULL);
    Sleep(100);
    CHECK(!strstr(debug_text, "dstorage: "), "failure printed with the debug flags off: \"%s\"", debug_text);
    RemoveVectoredExceptionHandler(handler);
    queue->lpVtbl->Release(queue);
    file->lpVtbl->Release(file);
}

int main(void)
{
    IDStorageFactory *factory;

    tu_load("t_errors");
    factory = tu_factory();
    write_files();
    staging_too_small(factory);
    request_errors(factory);
    status_order(factory);
    many_failures(factory);
    command_errors(factory);
    unusable_device(factory);
    debug_flags(factory);
    factory->lpVtbl->Release(factory);
    return tu_done();
}
