/*
 * queue.c - IDStorageQueue .. IDStorageQueue3.
 *
 * Each method checks what only the PE side can check (that a file, status
 * array or fence is a usable object, that the request's fields fit the
 * queue) and translates the DSTORAGE_REQUEST into a struct dsw_request for
 * the unix side, which owns the runtime queue, the ordering and the error
 * record. A request refused here still goes to the unix side, with its
 * HRESULT set, so the failure lands in the error record and the next status
 * entry in enqueue order, as with DirectStorage (EnqueueRequest returns
 * nothing).
 *
 * EnqueueRequests with a fence that has not reached its value: the requests
 * are copied, their positions reserved on the unix side (so later ordering
 * commands wait for them), and a thread-pool wait on the fence's event
 * enqueues them once it fires. Every fence flag is handled as
 * FENCE_WAIT_BEFORE_SOURCE_ACCESS, the strictest: nothing of the requests
 * runs before the fence.
 */
#include "private.h"

WINE_DEFAULT_DEBUG_CHANNEL(dstorage);

/* Requests of an opening gate translated per unix call. */
#define CHUNK 64

static LONG unsupported_destination_seen;

static const IDStorageQueue3Vtbl queue_vtbl;

static struct dstorage_queue *impl_from_IDStorageQueue3(IDStorageQueue3 *iface)
{
    return CONTAINING_RECORD(iface, struct dstorage_queue, IDStorageQueue3_iface);
}

/* ---- translation ----------------------------------------------------------------- */

static BOOL reserved_fields_clear(const DSTORAGE_REQUEST_OPTIONS *options)
{
    UINT32 i;

    for (i = 0; i < ARRAYSIZE(options->Reserved1); i++)
        if (options->Reserved1[i]) return FALSE;
    return !options->Reserved;
}

/*
 * Fills `out` for one request. Failures are put in out->hr (the request is
 * still enqueued, to be reported in order). Returns S_FALSE when a buffer
 * destination needs staging that is not free right now and `may_block` is
 * FALSE: the caller enqueues what it holds, submits, and calls again with
 * `may_block` TRUE.
 */
static HRESULT translate_request(struct dstorage_queue *queue, const DSTORAGE_REQUEST *request,
                                 struct dsw_request *out, BOOL may_block)
{
    const DSTORAGE_REQUEST_OPTIONS *options;
    struct dstorage_file *file;
    UINT32 format;
    HRESULT hr;

    memset(out, 0, sizeof(*out));
    out->app_request = (UINT64)(ULONG_PTR)request;
    if (!request) {
        out->hr = E_INVALIDARG;
        return S_OK;
    }
    options = &request->Options;
    format = options->CompressionFormat;
    out->tag = request->CancellationTag;
    out->name = (UINT64)(ULONG_PTR)request->Name;
    out->format = (UINT8)format;
    out->uncompressed_size = request->UncompressedSize;

    if (!reserved_fields_clear(options)) {
        out->hr = E_DSTORAGE_RESERVED_FIELDS;
        return S_OK;
    }
    if (options->SourceType != queue->desc.SourceType) {
        out->hr = E_DSTORAGE_INVALID_SOURCE_TYPE;
        return S_OK;
    }
    if (format >= DSTORAGE_CUSTOM_COMPRESSION_0)
        out->app_decompresses = 1;
    else if (format == DSTORAGE_COMPRESSION_FORMAT_GDEFLATE)
        out->app_decompresses = dstorage_settings.config.NumBuiltInCpuDecompressionThreads ==
                                DSTORAGE_DISABLE_BUILTIN_CPU_DECOMPRESSION;
    else if (format != DSTORAGE_COMPRESSION_FORMAT_NONE) {
        out->hr = E_INVALIDARG;
        return S_OK;
    }

    if (options->SourceType == DSTORAGE_REQUEST_SOURCE_FILE) {
        file = dstorage_file_from_iface(request->Source.File.Source);
        if (!file) {
            out->hr = E_DSTORAGE_INVALID_FILE_HANDLE;
            return S_OK;
        }
        out->file = file->unix_file;
        out->src_offset = request->Source.File.Offset;
        out->src_size = request->Source.File.Size;
    } else {
        if (!request->Source.Memory.Source) {
            out->hr = E_INVALIDARG;
            return S_OK;
        }
        out->src_ptr = (UINT64)(ULONG_PTR)request->Source.Memory.Source;
        out->src_size = request->Source.Memory.Size;
    }

    switch (options->DestinationType) {
    case DSTORAGE_REQUEST_DESTINATION_MEMORY:
        if (!request->Destination.Memory.Buffer) {
            out->hr = E_INVALIDARG;
            return S_OK;
        }
        out->dest = DSW_DEST_HOST;
        out->dst_ptr = (UINT64)(ULONG_PTR)request->Destination.Memory.Buffer;
        out->dst_size = request->Destination.Memory.Size;
        break;
    case DSTORAGE_REQUEST_DESTINATION_BUFFER:
        if (!queue->gpu) {
            WINE_WARN("buffer destination on queue %p without a usable device (%#lx)\n", queue,
                      queue->gpu_error);
            out->hr = E_DSTORAGE_INVALID_DESTINATION_TYPE;
            return S_OK;
        }
        out->dst_size = request->Destination.Buffer.Size;
        break;
    default:
        /* Texture, multiple-subresource and tile destinations are not
         * implemented (docs/wine_integration_guide.md, "Known issues"):
         * said once at the default level, then at warn level. */
        if (!InterlockedExchange(&unsupported_destination_seen, 1))
            WINE_ERR("destination type %u is not supported; such requests fail\n", (unsigned)options->DestinationType);
        else
            WINE_WARN("destination type %u is not supported\n", (unsigned)options->DestinationType);
        out->hr = E_DSTORAGE_INVALID_DESTINATION_TYPE;
        return S_OK;
    }

    /* Sizes: uncompressed data lands as is, so source, destination and a
     * given UncompressedSize agree; compressed data must decompress to
     * exactly the destination. */
    if (!out->src_size || !out->dst_size) {
        out->hr = E_DSTORAGE_INVALID_DESTINATION_SIZE;
        return S_OK;
    }
    if (format == DSTORAGE_COMPRESSION_FORMAT_NONE) {
        if (out->src_size != out->dst_size ||
            (request->UncompressedSize && request->UncompressedSize != out->dst_size)) {
            out->hr = E_DSTORAGE_INVALID_DESTINATION_SIZE;
            return S_OK;
        }
    } else if (request->UncompressedSize != out->dst_size) {
        out->hr = E_DSTORAGE_INVALID_DESTINATION_SIZE;
        return S_OK;
    }

    if (options->DestinationType == DSTORAGE_REQUEST_DESTINATION_BUFFER) {
        hr = dstorage_gpu_prepare(queue->gpu, &request->Destination.Buffer, out, may_block);
        if (hr == S_FALSE) return S_FALSE;
        if (FAILED(hr)) out->hr = hr;
    }
    return S_OK;
}

/* ---- enqueueing ------------------------------------------------------------------ */

static void unix_submit(struct dstorage_queue *queue)
{
    struct dsw_handle_params params = {.handle = queue->unix_queue};

    dstorage_unix_call(DSW_FN_SUBMIT, &params);
}

static void unix_enqueue(struct dstorage_queue *queue, struct dsw_request *requests, UINT32 count,
                         UINT64 gate)
{
    struct dsw_enqueue_params params;

    if (!count) return;
    memset(&params, 0, sizeof(params));
    params.queue = queue->unix_queue;
    params.requests = (UINT64)(ULONG_PTR)requests;
    params.count = count;
    params.gate = gate;
    if (dstorage_unix_call(DSW_FN_ENQUEUE, &params)) return;
    if (FAILED(params.hr)) WINE_WARN("queue %p: enqueue failed: %#x\n", queue, params.hr);
}

/* A CancelRequestsWithTag call made while a gate was waiting: it applies to
 * the gate's requests when the gate opens. */
struct gate_cancel {
    UINT64 mask, value;
};

struct gate_data {
    DSTORAGE_REQUEST *requests;
    UINT32 count;
    struct gate_cancel *cancels;
    UINT32 cancel_count, cancel_capacity;
};

/* Translates and enqueues the requests of a gate that opened, CHUNK at a
 * time, leaving out those cancelled while it waited. */
static void enqueue_requests(struct dstorage_queue *queue, const DSTORAGE_REQUEST *requests,
                             UINT32 count, UINT64 gate, const struct gate_data *cancels)
{
    struct dsw_request chunk[CHUNK];
    UINT32 i, n = 0, k;
    const DSTORAGE_REQUEST *r;
    BOOL skip;

    for (i = 0; i < count; i++) {
        r = &requests[i];
        skip = FALSE;
        if (cancels)
            for (k = 0; k < cancels->cancel_count; k++)
                if ((r->CancellationTag & cancels->cancels[k].mask) == cancels->cancels[k].value) skip = TRUE;
        if (skip) continue;
        if (translate_request(queue, r, &chunk[n], FALSE) == S_FALSE) {
            /* Staging is full: let what we hold run, then wait for space. */
            unix_enqueue(queue, chunk, n, gate);
            n = 0;
            unix_submit(queue);
            translate_request(queue, r, &chunk[n], TRUE);
        }
        chunk[n].gate_index = i;
        if (++n == CHUNK) {
            unix_enqueue(queue, chunk, n, gate);
            n = 0;
        }
    }
    unix_enqueue(queue, chunk, n, gate);
}

/* Hands the pending requests to the unix side (pending_lock held). */
static void flush_locked(struct dstorage_queue *queue)
{
    unix_enqueue(queue, queue->pending, queue->pending_count, 0);
    queue->pending_count = 0;
}

static void flush(struct dstorage_queue *queue)
{
    EnterCriticalSection(&queue->pending_lock);
    flush_locked(queue);
    LeaveCriticalSection(&queue->pending_lock);
}

/* Translates a request into the pending buffer (pending_lock held). The
 * request is copied: the app may reuse its struct as soon as the call
 * returns, and the error record shows the request as enqueued. */
static void add_locked(struct dstorage_queue *queue, const DSTORAGE_REQUEST *request)
{
    UINT32 i = queue->pending_count;
    const DSTORAGE_REQUEST *copy = NULL;

    if (request) {
        queue->pending_copies[i] = *request;
        copy = &queue->pending_copies[i];
    }
    if (translate_request(queue, copy, &queue->pending[i], FALSE) == S_FALSE) {
        /* Staging is full: let what we hold run, then wait for space. */
        flush_locked(queue);
        unix_submit(queue);
        i = 0;
        queue->pending_copies[0] = *request;
        translate_request(queue, &queue->pending_copies[0], &queue->pending[0], TRUE);
    }
    queue->pending_count = i + 1;
    if (queue->pending_count == DSTORAGE_PENDING_MAX) flush_locked(queue);
}

static void STDMETHODCALLTYPE queue_EnqueueRequest(IDStorageQueue3 *iface, const DSTORAGE_REQUEST *request)
{
    struct dstorage_queue *queue = impl_from_IDStorageQueue3(iface);

    EnterCriticalSection(&queue->pending_lock);
    add_locked(queue, request);
    LeaveCriticalSection(&queue->pending_lock);
}

/* ---- gates (EnqueueRequests with a fence) ------------------------------------------- */

struct gate {
    struct dstorage_gate base;
    struct gate_data data;
};

static void free_gate(struct gate *gate)
{
    HeapFree(GetProcessHeap(), 0, gate->data.requests);
    HeapFree(GetProcessHeap(), 0, gate->data.cancels);
    HeapFree(GetProcessHeap(), 0, gate);
}

static void CALLBACK gate_fired(void *context, BOOLEAN timed_out)
{
    struct gate *gate = context;
    struct dstorage_queue *queue = gate->base.queue;
    struct dsw_gate_params params = {.queue = queue->unix_queue, .gate = gate->base.unix_gate};

    (void)timed_out;
    WINE_TRACE("queue %p: gate %#I64x opens (%u requests)\n", queue, gate->base.unix_gate, gate->data.count);
    EnterCriticalSection(&queue->gates_lock);
    /* Cancels recorded so far apply; later ones reach the runtime directly. */
    gate->base.fired = 1;
    LeaveCriticalSection(&queue->gates_lock);
    enqueue_requests(queue, gate->data.requests, gate->data.count, gate->base.unix_gate, &gate->data);
    dstorage_unix_call(DSW_FN_GATE_OPEN, &params);
}

/* Unregisters and frees gates: the fired ones, or all when `all` (at Close,
 * waiting for callbacks that are running). */
static void reap_gates(struct dstorage_queue *queue, BOOL all)
{
    struct dstorage_gate **link, *g, *done = NULL;

    EnterCriticalSection(&queue->gates_lock);
    for (link = &queue->gates; (g = *link);) {
        if (all || g->fired) {
            *link = g->next;
            g->next = done;
            done = g;
        } else
            link = &g->next;
    }
    LeaveCriticalSection(&queue->gates_lock);
    while ((g = done)) {
        done = g->next;
        UnregisterWaitEx(g->wait, INVALID_HANDLE_VALUE);
        CloseHandle(g->event);
        free_gate(CONTAINING_RECORD(g, struct gate, base));
    }
}

static void enqueue_gated(struct dstorage_queue *queue, const DSTORAGE_REQUEST *requests, UINT32 count,
                          ID3D12Fence *fence, UINT64 value)
{
    struct dsw_enqueue_params params;
    struct gate *gate;
    HRESULT hr;
    UINT32 i;

    reap_gates(queue, FALSE);
    gate = HeapAlloc(GetProcessHeap(), HEAP_ZERO_MEMORY, sizeof(*gate));
    if (gate) gate->data.requests = HeapAlloc(GetProcessHeap(), 0, count * sizeof(*requests));
    if (!gate || !gate->data.requests) {
        WINE_ERR("out of memory holding %u requests for a fence; enqueueing them now\n", count);
        if (gate) free_gate(gate);
        EnterCriticalSection(&queue->pending_lock);
        for (i = 0; i < count; i++) add_locked(queue, &requests[i]);
        LeaveCriticalSection(&queue->pending_lock);
        return;
    }
    memcpy(gate->data.requests, requests, count * sizeof(*requests));
    gate->data.count = count;
    gate->base.queue = queue;

    memset(&params, 0, sizeof(params));
    params.queue = queue->unix_queue;
    params.count = count;
    params.reserve = 1;
    if (dstorage_unix_call(DSW_FN_ENQUEUE, &params) || FAILED(params.hr)) {
        free_gate(gate);
        return;
    }
    gate->base.unix_gate = params.gate;
    gate->base.event = CreateEventW(NULL, FALSE, FALSE, NULL);
    hr = gate->base.event ? ID3D12Fence_SetEventOnCompletion(fence, value, gate->base.event) : E_OUTOFMEMORY;
    if (FAILED(hr) || !RegisterWaitForSingleObject(&gate->base.wait, gate->base.event, gate_fired, gate,
                                                   INFINITE, WT_EXECUTEONLYONCE)) {
        /* The fence cannot tell us: run the requests now rather than never. */
        WINE_ERR("fence %p cannot signal an event (%#lx); not waiting for value %I64u\n", fence, hr, value);
        gate_fired(gate, FALSE);
        if (gate->base.event) CloseHandle(gate->base.event);
        free_gate(gate);
        return;
    }
    EnterCriticalSection(&queue->gates_lock);
    gate->base.next = queue->gates;
    queue->gates = &gate->base;
    LeaveCriticalSection(&queue->gates_lock);
}

static void STDMETHODCALLTYPE queue_EnqueueRequests(IDStorageQueue3 *iface, const DSTORAGE_REQUEST *requests,
                                                    UINT count, ID3D12Fence *fence, UINT64 value,
                                                    DSTORAGE_ENQUEUE_REQUEST_FLAGS flags)
{
    struct dstorage_queue *queue = impl_from_IDStorageQueue3(iface);

    UINT32 i;

    WINE_TRACE("queue %p, %u requests, fence %p, value %I64u, flags %#x\n", queue, count, fence, value, flags);
    if (!count) return;
    if (!requests) {
        queue_EnqueueRequest(iface, NULL);
        return;
    }
    if (fence && ID3D12Fence_GetCompletedValue(fence) < value) {
        flush(queue);
        enqueue_gated(queue, requests, count, fence, value);
        return;
    }
    EnterCriticalSection(&queue->pending_lock);
    for (i = 0; i < count; i++) add_locked(queue, &requests[i]);
    LeaveCriticalSection(&queue->pending_lock);
}

/* ---- ordering commands ------------------------------------------------------------ */

/* The pending requests go first, under the lock, so the command lands
 * after every request enqueued before it. */
static void enqueue_order(struct dstorage_queue *queue, struct dsw_order_params *params)
{
    params->queue = queue->unix_queue;
    EnterCriticalSection(&queue->pending_lock);
    flush_locked(queue);
    dstorage_unix_call(DSW_FN_ENQUEUE_ORDER, params);
    LeaveCriticalSection(&queue->pending_lock);
}

static void STDMETHODCALLTYPE queue_EnqueueStatus(IDStorageQueue3 *iface, IDStorageStatusArray *array,
                                                  UINT32 index)
{
    struct dstorage_queue *queue = impl_from_IDStorageQueue3(iface);
    struct dstorage_status_array *impl = dstorage_status_array_from_iface(array);
    struct dsw_order_params params;

    memset(&params, 0, sizeof(params));
    params.kind = DSW_ORDER_STATUS;
    params.index = index;
    params.object = (UINT64)(ULONG_PTR)array;
    if (!impl)
        params.hr = E_DSTORAGE_INVALID_STATUS_ARRAY;
    else if (index >= impl->capacity)
        params.hr = E_DSTORAGE_INDEX_BOUND;
    else {
        __atomic_store_n(&impl->results[index], E_PENDING, __ATOMIC_RELEASE);
        params.status_slot = (UINT64)(ULONG_PTR)&impl->results[index];
        /* Released by the completion thread once the entry is written. */
        InterlockedIncrement(&impl->refcount);
    }
    enqueue_order(queue, &params);
}

static void STDMETHODCALLTYPE queue_EnqueueSignal(IDStorageQueue3 *iface, ID3D12Fence *fence, UINT64 value)
{
    struct dstorage_queue *queue = impl_from_IDStorageQueue3(iface);
    struct dsw_order_params params;

    memset(&params, 0, sizeof(params));
    params.kind = DSW_ORDER_SIGNAL;
    params.object = (UINT64)(ULONG_PTR)fence;
    params.value = value;
    if (!fence)
        params.hr = E_DSTORAGE_INVALID_FENCE;
    else
        ID3D12Fence_AddRef(fence); /* released after Signal */
    enqueue_order(queue, &params);
}

static void STDMETHODCALLTYPE queue_EnqueueSetEvent(IDStorageQueue3 *iface, HANDLE handle)
{
    struct dstorage_queue *queue = impl_from_IDStorageQueue3(iface);
    struct dsw_order_params params;

    memset(&params, 0, sizeof(params));
    params.kind = DSW_ORDER_EVENT;
    params.object = (UINT64)(ULONG_PTR)handle;
    enqueue_order(queue, &params);
}

static void STDMETHODCALLTYPE queue_Submit(IDStorageQueue3 *iface)
{
    struct dstorage_queue *queue = impl_from_IDStorageQueue3(iface);

    EnterCriticalSection(&queue->pending_lock);
    flush_locked(queue);
    unix_submit(queue);
    LeaveCriticalSection(&queue->pending_lock);
}

static void STDMETHODCALLTYPE queue_CancelRequestsWithTag(IDStorageQueue3 *iface, UINT64 mask, UINT64 value)
{
    struct dstorage_queue *queue = impl_from_IDStorageQueue3(iface);
    struct dsw_cancel_params params = {.queue = queue->unix_queue, .mask = mask, .value = value};
    struct dstorage_gate *g;
    struct gate_data *data;
    struct gate_cancel *grown;
    UINT32 capacity;

    EnterCriticalSection(&queue->gates_lock);
    for (g = queue->gates; g; g = g->next) {
        if (g->fired) continue;
        data = &CONTAINING_RECORD(g, struct gate, base)->data;
        if (data->cancel_count == data->cancel_capacity) {
            capacity = data->cancel_capacity ? data->cancel_capacity * 2 : 4;
            grown = data->cancels
                        ? HeapReAlloc(GetProcessHeap(), 0, data->cancels, capacity * sizeof(*grown))
                        : HeapAlloc(GetProcessHeap(), 0, capacity * sizeof(*grown));
            if (!grown) continue;
            data->cancels = grown;
            data->cancel_capacity = capacity;
        }
        data->cancels[data->cancel_count].mask = mask;
        data->cancels[data->cancel_count].value = value;
        data->cancel_count++;
    }
    LeaveCriticalSection(&queue->gates_lock);
    flush(queue);
    dstorage_unix_call(DSW_FN_CANCEL_TAG, &params);
    WINE_TRACE("queue %p: mask %#I64x value %#I64x cancelled %u\n", queue, mask, value, params.cancelled);
}

/* ---- queue state ------------------------------------------------------------------- */

static void STDMETHODCALLTYPE queue_Close(IDStorageQueue3 *iface)
{
    struct dstorage_queue *queue = impl_from_IDStorageQueue3(iface);
    struct dsw_handle_params params = {.handle = queue->unix_queue};

    if (InterlockedExchange(&queue->closed, 1)) return;
    WINE_TRACE("queue %p\n", queue);
    flush(queue);
    reap_gates(queue, TRUE);
    dstorage_unix_call(DSW_FN_QUEUE_CLOSE, &params);
    if (queue->gpu) dstorage_gpu_destroy(queue->gpu);
    queue->gpu = NULL;
    InterlockedDecrement(&dstorage_live_objects);
}

static HANDLE STDMETHODCALLTYPE queue_GetErrorEvent(IDStorageQueue3 *iface)
{
    return impl_from_IDStorageQueue3(iface)->error_event;
}

static void STDMETHODCALLTYPE queue_RetrieveErrorRecord(IDStorageQueue3 *iface, DSTORAGE_ERROR_RECORD *record)
{
    struct dstorage_queue *queue = impl_from_IDStorageQueue3(iface);
    struct dsw_error_record_params params;
    DSTORAGE_ERROR_FIRST_FAILURE *first;

    if (!record) return;
    memset(record, 0, sizeof(*record));
    first = &record->FirstFailure;
    first->CommandType = DSTORAGE_COMMAND_TYPE_NONE;
    /* Reset first: a failure recorded after the reset sets the event again,
     * so none is lost (at worst the event fires for a record already taken). */
    ResetEvent(queue->error_event);
    flush(queue);
    memset(&params, 0, sizeof(params));
    params.queue = queue->unix_queue;
    if (dstorage_unix_call(DSW_FN_ERROR_RECORD, &params)) return;
    record->FailureCount = params.failure_count;
    if (!params.failure_count) return;
    first->HResult = params.hr;
    first->CommandType = params.command_type;
    switch (params.command_type) {
    case DSTORAGE_COMMAND_TYPE_REQUEST:
        memcpy(first->Request.Filename, params.filename, sizeof(first->Request.Filename));
        memcpy(first->Request.RequestName, params.request_name, sizeof(first->Request.RequestName));
        memcpy(&first->Request.Request, params.request, sizeof(first->Request.Request));
        break;
    case DSTORAGE_COMMAND_TYPE_STATUS:
        first->Status.StatusArray = (IDStorageStatusArray *)(ULONG_PTR)params.object;
        first->Status.Index = params.index;
        break;
    case DSTORAGE_COMMAND_TYPE_SIGNAL:
        first->Signal.Fence = (ID3D12Fence *)(ULONG_PTR)params.object;
        first->Signal.Value = params.value;
        break;
    case DSTORAGE_COMMAND_TYPE_EVENT:
        first->Event.Handle = (HANDLE)(ULONG_PTR)params.object;
        break;
    }
    WINE_TRACE("queue %p: %u failures, first %#lx: %s\n", queue, params.failure_count, first->HResult,
               params.message);
}

static void STDMETHODCALLTYPE queue_Query(IDStorageQueue3 *iface, DSTORAGE_QUEUE_INFO *info)
{
    struct dstorage_queue *queue = impl_from_IDStorageQueue3(iface);
    struct dsw_query_params params = {.queue = queue->unix_queue};

    if (!info) return;
    memset(info, 0, sizeof(*info));
    info->Desc = queue->desc;
    flush(queue);
    if (dstorage_unix_call(DSW_FN_QUERY, &params)) return;
    info->EmptySlotCount = (UINT16)params.empty_slots;
    info->RequestCountUntilAutoSubmit = (UINT16)params.until_auto_submit;
}

static DSTORAGE_COMPRESSION_SUPPORT STDMETHODCALLTYPE queue_GetCompressionSupport(IDStorageQueue3 *iface,
                                                                                  DSTORAGE_COMPRESSION_FORMAT format)
{
    struct dstorage_queue *queue = impl_from_IDStorageQueue3(iface);
    DSTORAGE_COMPRESSION_SUPPORT support;

    /* GDeflate is decompressed by ds-runtime on the CPU; buffer destinations
     * are then filled by copies on a D3D12 copy queue. Custom formats are
     * the app's; with built-in decompression disabled, GDeflate is too. */
    if (format != DSTORAGE_COMPRESSION_FORMAT_GDEFLATE ||
        dstorage_settings.config.NumBuiltInCpuDecompressionThreads == DSTORAGE_DISABLE_BUILTIN_CPU_DECOMPRESSION)
        return DSTORAGE_COMPRESSION_SUPPORT_NONE;
    support = DSTORAGE_COMPRESSION_SUPPORT_CPU_FALLBACK;
    if (queue->gpu) support |= DSTORAGE_COMPRESSION_SUPPORT_USES_COPY_QUEUE;
    return support;
}

/* ---- IUnknown ------------------------------------------------------------------------ */

static BOOL is_queue_iid(REFIID riid)
{
    return IsEqualGUID(riid, &IID_IUnknown) || IsEqualGUID(riid, &IID_IDStorageQueue) ||
           IsEqualGUID(riid, &IID_IDStorageQueue1) || IsEqualGUID(riid, &IID_IDStorageQueue2) ||
           IsEqualGUID(riid, &IID_IDStorageQueue3);
}

static HRESULT STDMETHODCALLTYPE queue_QueryInterface(IDStorageQueue3 *iface, REFIID riid, void **ppv)
{
    if (!ppv) return E_POINTER;
    if (is_queue_iid(riid)) {
        InterlockedIncrement(&impl_from_IDStorageQueue3(iface)->refcount);
        *ppv = iface;
        return S_OK;
    }
    *ppv = NULL;
    return E_NOINTERFACE;
}

static ULONG STDMETHODCALLTYPE queue_AddRef(IDStorageQueue3 *iface)
{
    return InterlockedIncrement(&impl_from_IDStorageQueue3(iface)->refcount);
}

static ULONG STDMETHODCALLTYPE queue_Release(IDStorageQueue3 *iface)
{
    struct dstorage_queue *queue = impl_from_IDStorageQueue3(iface);
    LONG ref = InterlockedDecrement(&queue->refcount);
    struct dsw_handle_params params;

    if (!ref) {
        queue_Close(iface);
        /* Freed by the completion thread (both halves), after every action
         * that names it. */
        params.handle = queue->unix_queue;
        dstorage_unix_call(DSW_FN_QUEUE_RELEASE, &params);
    }
    return ref;
}

void dstorage_queue_free(struct dstorage_queue *queue)
{
    WINE_TRACE("queue %p\n", queue);
    CloseHandle(queue->error_event);
    DeleteCriticalSection(&queue->gates_lock);
    DeleteCriticalSection(&queue->pending_lock);
    HeapFree(GetProcessHeap(), 0, queue);
}

static const IDStorageQueue3Vtbl queue_vtbl = {
    queue_QueryInterface,
    queue_AddRef,
    queue_Release,
    queue_EnqueueRequest,
    queue_EnqueueStatus,
    queue_EnqueueSignal,
    queue_Submit,
    queue_CancelRequestsWithTag,
    queue_Close,
    queue_GetErrorEvent,
    queue_RetrieveErrorRecord,
    queue_Query,
    queue_EnqueueSetEvent,
    queue_GetCompressionSupport,
    queue_EnqueueRequests,
};

HRESULT dstorage_queue_create(const DSTORAGE_QUEUE_DESC *desc, REFIID riid, void **ppv)
{
    struct dsw_queue_create_params params;
    struct dstorage_queue *queue;
    HRESULT hr;

    if (!ppv) return E_POINTER;
    *ppv = NULL;
    if (!desc) return E_INVALIDARG;
    WINE_TRACE("source %I64u, capacity %u, priority %d, name %s, device %p, riid %s\n", desc->SourceType,
               desc->Capacity, desc->Priority, wine_dbgstr_a(desc->Name), desc->Device, wine_dbgstr_guid(riid));
    if (!is_queue_iid(riid)) return E_NOINTERFACE;
    if (desc->Capacity < DSTORAGE_MIN_QUEUE_CAPACITY || desc->Capacity > DSTORAGE_MAX_QUEUE_CAPACITY)
        return E_DSTORAGE_INVALID_QUEUE_CAPACITY;
    if (desc->Priority < DSTORAGE_PRIORITY_LOW || desc->Priority > DSTORAGE_PRIORITY_REALTIME)
        return E_DSTORAGE_INVALID_QUEUE_PRIORITY;
    if (desc->SourceType > DSTORAGE_REQUEST_SOURCE_MEMORY) return E_DSTORAGE_INVALID_SOURCE_TYPE;
    if (FAILED(hr = dstorage_start_completion_thread())) return hr;

    queue = HeapAlloc(GetProcessHeap(), HEAP_ZERO_MEMORY, sizeof(*queue));
    if (!queue) return E_OUTOFMEMORY;
    queue->IDStorageQueue3_iface.lpVtbl = &queue_vtbl;
    queue->refcount = 1;
    queue->desc = *desc;
    copy_cstr(queue->name, sizeof(queue->name), desc->Name);
    queue->desc.Name = desc->Name ? queue->name : NULL;
    InitializeCriticalSection(&queue->gates_lock);
    InitializeCriticalSection(&queue->pending_lock);
    queue->error_event = CreateEventW(NULL, TRUE, FALSE, NULL);
    if (!queue->error_event) {
        hr = HRESULT_FROM_WIN32(GetLastError());
        DeleteCriticalSection(&queue->pending_lock);
        DeleteCriticalSection(&queue->gates_lock);
        HeapFree(GetProcessHeap(), 0, queue);
        return hr;
    }

    memset(&params, 0, sizeof(params));
    params.pe_queue = (UINT64)(ULONG_PTR)queue;
    params.name = (UINT64)(ULONG_PTR)queue->name;
    params.capacity = desc->Capacity;
    params.priority = desc->Priority;
    params.source_type = (UINT32)desc->SourceType;
    params.backend = dstorage_settings.backend;
    params.io_threads = dstorage_settings.config.NumSubmitThreads;
    params.cpu_threads = dstorage_settings.config.NumBuiltInCpuDecompressionThreads;
    params.staging_size = dstorage_settings.staging_size;
    params.error_event = (UINT64)(ULONG_PTR)queue->error_event;
    if (dstorage_unix_call(DSW_FN_QUEUE_CREATE, &params)) params.hr = E_FAIL;
    if (FAILED(params.hr)) {
        WINE_ERR("cannot create queue %s: %s\n", wine_dbgstr_a(desc->Name), params.message);
        CloseHandle(queue->error_event);
        DeleteCriticalSection(&queue->pending_lock);
        DeleteCriticalSection(&queue->gates_lock);
        HeapFree(GetProcessHeap(), 0, queue);
        return params.hr;
    }
    queue->unix_queue = params.queue;
    InterlockedIncrement(&dstorage_live_objects);

    if (desc->Device) {
        queue->gpu_error = dstorage_gpu_create(queue, desc->Device, dstorage_settings.staging_size, &queue->gpu);
        if (FAILED(queue->gpu_error))
            WINE_ERR("device %p of queue %s is not usable (%#lx): buffer destinations will fail with "
                     "E_DSTORAGE_INVALID_DESTINATION_TYPE\n",
                     desc->Device, wine_dbgstr_a(desc->Name), queue->gpu_error);
    }
    WINE_TRACE("-> %p (unix queue %#I64x)\n", queue, queue->unix_queue);
    *ppv = &queue->IDStorageQueue3_iface;
    return S_OK;
}
