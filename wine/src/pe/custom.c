/*
 * custom.c - IDStorageCustomDecompressionQueue(1), obtained with
 * QueryInterface on the factory.
 *
 * Requests with a custom compression format (0x80 and up), and GDeflate
 * requests when built-in CPU decompression is disabled
 * (NumBuiltInCpuDecompressionThreads = -1), are read by the runtime into a
 * staging buffer and then wait on the unix side for the app: GetRequests
 * hands them out (SrcBuffer = the compressed bytes, DstBuffer = the
 * request's destination, or upload-heap staging for a buffer destination),
 * SetRequestResults ends them with the app's HRESULT. Until then they count
 * as running: status entries, fences and events enqueued after them wait.
 *
 * The event is manual-reset. GetRequests resets it before asking the unix
 * side and sets it again when requests remain; requests that arrive later
 * set it through the completion thread, so no arrival is missed.
 */
#include "private.h"

WINE_DEFAULT_DEBUG_CHANNEL(dstorage);

static INIT_ONCE event_once = INIT_ONCE_STATIC_INIT;
static HANDLE custom_event;

static BOOL CALLBACK create_event(INIT_ONCE *once, void *param, void **context)
{
    (void)once;
    (void)param;
    (void)context;
    custom_event = CreateEventW(NULL, TRUE, FALSE, NULL);
    return custom_event != NULL;
}

static HANDLE get_event(void)
{
    return InitOnceExecuteOnce(&event_once, create_event, NULL, NULL) ? custom_event : NULL;
}

void dstorage_custom_queue_signal(void)
{
    HANDLE event = get_event();

    if (event) SetEvent(event);
}

static HRESULT STDMETHODCALLTYPE custom_QueryInterface(IDStorageCustomDecompressionQueue1 *iface,
                                                       REFIID riid, void **ppv)
{
    (void)iface;
    return dstorage_custom_queue_query(riid, ppv);
}

/* Part of the static factory: never freed. */
static ULONG STDMETHODCALLTYPE custom_AddRef(IDStorageCustomDecompressionQueue1 *iface)
{
    (void)iface;
    return 2;
}

static ULONG STDMETHODCALLTYPE custom_Release(IDStorageCustomDecompressionQueue1 *iface)
{
    (void)iface;
    return 1;
}

static HANDLE STDMETHODCALLTYPE custom_GetEvent(IDStorageCustomDecompressionQueue1 *iface)
{
    (void)iface;
    return get_event();
}

static HRESULT STDMETHODCALLTYPE custom_GetRequests1(IDStorageCustomDecompressionQueue1 *iface,
                                                     DSTORAGE_GET_REQUEST_FLAGS flags, UINT32 max,
                                                     DSTORAGE_CUSTOM_DECOMPRESSION_REQUEST *requests,
                                                     UINT32 *count)
{
    struct dsw_custom_get_params params;
    HANDLE event = get_event();

    (void)iface;
    if (!count) return E_POINTER;
    *count = 0;
    if (max && !requests) return E_POINTER;
    if (flags & ~DSTORAGE_GET_REQUEST_FLAG_SELECT_ALL) return E_INVALIDARG;
    if (event) ResetEvent(event);
    memset(&params, 0, sizeof(params));
    params.flags = flags;
    params.max = max;
    params.requests = (UINT64)(ULONG_PTR)requests;
    if (dstorage_unix_call(DSW_FN_CUSTOM_GET, &params)) return E_FAIL;
    *count = params.count;
    if (params.remaining && event) SetEvent(event);
    WINE_TRACE("flags %#x, max %u -> %u (%u waiting)\n", flags, max, params.count, params.remaining);
    return S_OK;
}

static HRESULT STDMETHODCALLTYPE custom_GetRequests(IDStorageCustomDecompressionQueue1 *iface, UINT32 max,
                                                    DSTORAGE_CUSTOM_DECOMPRESSION_REQUEST *requests,
                                                    UINT32 *count)
{
    return custom_GetRequests1(iface, DSTORAGE_GET_REQUEST_FLAG_SELECT_ALL, max, requests, count);
}

static HRESULT STDMETHODCALLTYPE custom_SetRequestResults(IDStorageCustomDecompressionQueue1 *iface,
                                                          UINT32 count,
                                                          DSTORAGE_CUSTOM_DECOMPRESSION_RESULT *results)
{
    struct dsw_custom_results_params params;

    (void)iface;
    if (!count) return S_OK;
    if (!results) return E_POINTER;
    memset(&params, 0, sizeof(params));
    params.results = (UINT64)(ULONG_PTR)results;
    params.count = count;
    if (dstorage_unix_call(DSW_FN_CUSTOM_RESULTS, &params)) return E_FAIL;
    if (params.unknown) {
        WINE_WARN("%u of %u results name requests that were not handed out\n", params.unknown, count);
        return E_INVALIDARG;
    }
    return S_OK;
}

static const IDStorageCustomDecompressionQueue1Vtbl custom_vtbl = {
    custom_QueryInterface,
    custom_AddRef,
    custom_Release,
    custom_GetEvent,
    custom_GetRequests,
    custom_SetRequestResults,
    custom_GetRequests1,
};

static IDStorageCustomDecompressionQueue1 custom_queue = {&custom_vtbl};

HRESULT dstorage_custom_queue_query(REFIID riid, void **ppv)
{
    if (!ppv) return E_POINTER;
    *ppv = NULL;
    if (IsEqualGUID(riid, &IID_IUnknown) || IsEqualGUID(riid, &IID_IDStorageFactory)) {
        return DStorageGetFactory(riid, ppv);
    }
    if (!IsEqualGUID(riid, &IID_IDStorageCustomDecompressionQueue) &&
        !IsEqualGUID(riid, &IID_IDStorageCustomDecompressionQueue1))
        return E_NOINTERFACE;
    if (!get_event()) return HRESULT_FROM_WIN32(GetLastError());
    *ppv = &custom_queue;
    return S_OK;
}
