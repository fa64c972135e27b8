/*
 * main.c - entry points of the builtin dstorage.dll: DllMain, the exports
 * (DStorageGetFactory, DStorageSetConfiguration(1),
 * DStorageCreateCompressionCodec, and the private wine_dstorage_runtime_info
 * the tests use to prove the builtin is loaded), the factory object and the
 * completion thread.
 *
 * The completion thread is a Wine thread that sits in a unix call
 * (DSW_FN_WAIT_ACTIONS) until runtime threads queue work only a Wine thread
 * may do: SetEvent, ID3D12Fence::Signal, IUnknown::Release, freeing a queue.
 * Runtime threads never call into Wine (LOADER-FACTS section 7).
 */
#include "private.h"

WINE_DEFAULT_DEBUG_CHANNEL(dstorage);

struct dstorage_settings dstorage_settings;
NTSTATUS dstorage_unix_status = 0xC0000135; /* STATUS_DLL_NOT_FOUND until DllMain ran */
LONG dstorage_live_objects;

static struct dsw_init_params unix_info;
static INIT_ONCE completion_once = INIT_ONCE_STATIC_INIT;
static HANDLE completion_thread_handle;

NTSTATUS dstorage_unix_call(enum dsw_func code, void *params)
{
    NTSTATUS status;

    if (dstorage_unix_status) return dstorage_unix_status;
    status = WINE_UNIX_CALL(code, params);
    if (status) WINE_ERR("unix call %u failed with status %#lx\n", code, (unsigned long)status);
    return status;
}

/* ---- the completion thread ---------------------------------------------------- */

static void report_command_failure(const struct dsw_action *action, UINT32 kind, HRESULT hr)
{
    struct dsw_command_failed_params params = {
        .queue = action->unix_queue,
        .seq = action->seq,
        .hr = hr,
        .kind = kind,
        .object = action->object,
        .value = action->value,
    };

    dstorage_unix_call(DSW_FN_COMMAND_FAILED, &params);
}

static void run_action(const struct dsw_action *action)
{
    switch (action->type) {
    case DSW_ACT_SET_EVENT:
        WINE_TRACE("SetEvent(%#I64x) seq %I64u\n", action->object, action->seq);
        if (!SetEvent((HANDLE)(ULONG_PTR)action->object))
            report_command_failure(action, DSW_ORDER_EVENT, HRESULT_FROM_WIN32(GetLastError()));
        break;
    case DSW_ACT_SIGNAL: {
        ID3D12Fence *fence = (ID3D12Fence *)(ULONG_PTR)action->object;
        HRESULT hr = ID3D12Fence_Signal(fence, action->value);
        WINE_TRACE("fence %p Signal(%I64u) -> %#lx\n", fence, action->value, hr);
        if (FAILED(hr)) report_command_failure(action, DSW_ORDER_SIGNAL, hr);
        ID3D12Fence_Release(fence);
        break;
    }
    case DSW_ACT_RELEASE:
        IUnknown_Release((IUnknown *)(ULONG_PTR)action->object);
        break;
    case DSW_ACT_ERROR:
        WINE_WARN("queue %#I64x: %s\n", action->pe_queue, action->message);
        if (dstorage_settings.debug_flags & DSTORAGE_DEBUG_SHOW_ERRORS) {
            OutputDebugStringA("dstorage: ");
            OutputDebugStringA(action->message);
            OutputDebugStringA("\n");
        }
        if (action->object) SetEvent((HANDLE)(ULONG_PTR)action->object);
        if ((dstorage_settings.debug_flags & DSTORAGE_DEBUG_BREAK_ON_ERROR) && IsDebuggerPresent())
            DebugBreak();
        break;
    case DSW_ACT_CUSTOM_EVENT:
        dstorage_custom_queue_signal();
        break;
    case DSW_ACT_QUEUE_FREE: {
        struct dsw_handle_params params = {.handle = action->unix_queue};
        dstorage_queue_free((struct dstorage_queue *)(ULONG_PTR)action->pe_queue);
        dstorage_unix_call(DSW_FN_QUEUE_FREE, &params);
        break;
    }
    default:
        WINE_ERR("unknown action %u from the unix side\n", action->type);
        break;
    }
}

static DWORD WINAPI completion_thread(void *arg)
{
    struct dsw_action actions[16];
    struct dsw_wait_actions_params params;
    UINT32 i;

    (void)arg;
    for (;;) {
        params.actions = (UINT64)(ULONG_PTR)actions;
        params.max = ARRAYSIZE(actions);
        params.count = 0;
        if (dstorage_unix_call(DSW_FN_WAIT_ACTIONS, &params)) return 1;
        for (i = 0; i < params.count; i++) run_action(&actions[i]);
    }
}

static BOOL CALLBACK start_completion_thread(INIT_ONCE *once, void *param, void **context)
{
    HMODULE self;

    (void)once;
    (void)param;
    (void)context;
    /* The thread runs until the process ends; pin the module so an app's
     * FreeLibrary cannot unmap the code it runs. */
    if (!GetModuleHandleExW(GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS | GET_MODULE_HANDLE_EX_FLAG_PIN,
                            (const WCHAR *)completion_thread, &self))
        return FALSE;
    completion_thread_handle = CreateThread(NULL, 0, completion_thread, NULL, 0, NULL);
    return completion_thread_handle != NULL;
}

HRESULT dstorage_start_completion_thread(void)
{
    if (dstorage_unix_status) return hresult_from_status(dstorage_unix_status);
    if (!InitOnceExecuteOnce(&completion_once, start_completion_thread, NULL, NULL))
        return HRESULT_FROM_WIN32(GetLastError());
    return S_OK;
}

/* ---- the factory ------------------------------------------------------------------- */

static HRESULT STDMETHODCALLTYPE factory_QueryInterface(IDStorageFactory *iface, REFIID riid, void **ppv)
{
    if (!ppv) return E_POINTER;
    *ppv = NULL;
    if (IsEqualGUID(riid, &IID_IUnknown) || IsEqualGUID(riid, &IID_IDStorageFactory)) {
        *ppv = iface;
        return S_OK;
    }
    if (IsEqualGUID(riid, &IID_IDStorageCustomDecompressionQueue) ||
        IsEqualGUID(riid, &IID_IDStorageCustomDecompressionQueue1))
        return dstorage_custom_queue_query(riid, ppv);
    WINE_WARN("no interface %s\n", wine_dbgstr_guid(riid));
    return E_NOINTERFACE;
}

/* The factory is a process-wide singleton that is never freed (DirectStorage
 * calls it "static"); the counts only serve COM's rules. */
static LONG factory_refcount = 1;

static ULONG STDMETHODCALLTYPE factory_AddRef(IDStorageFactory *iface)
{
    (void)iface;
    return InterlockedIncrement(&factory_refcount);
}

static ULONG STDMETHODCALLTYPE factory_Release(IDStorageFactory *iface)
{
    LONG ref = InterlockedDecrement(&factory_refcount);
    (void)iface;
    if (ref < 1) InterlockedExchange(&factory_refcount, 1);
    return ref < 1 ? 1 : (ULONG)ref;
}

static HRESULT STDMETHODCALLTYPE factory_CreateQueue(IDStorageFactory *iface,
                                                     const DSTORAGE_QUEUE_DESC *desc, REFIID riid,
                                                     void **ppv)
{
    (void)iface;
    return dstorage_queue_create(desc, riid, ppv);
}

static HRESULT STDMETHODCALLTYPE factory_OpenFile(IDStorageFactory *iface, const WCHAR *path,
                                                  REFIID riid, void **ppv)
{
    (void)iface;
    return dstorage_file_open(path, riid, ppv);
}

static HRESULT STDMETHODCALLTYPE factory_CreateStatusArray(IDStorageFactory *iface, UINT32 capacity,
                                                           const CHAR *name, REFIID riid, void **ppv)
{
    (void)iface;
    return dstorage_status_array_create(capacity, name, riid, ppv);
}

static void STDMETHODCALLTYPE factory_SetDebugFlags(IDStorageFactory *iface, UINT32 flags)
{
    (void)iface;
    WINE_TRACE("flags %#x\n", flags);
    dstorage_settings.debug_flags = flags;
}

static HRESULT STDMETHODCALLTYPE factory_SetStagingBufferSize(IDStorageFactory *iface, UINT32 size)
{
    (void)iface;
    WINE_TRACE("size %u\n", size);
    if (dstorage_live_objects) return E_DSTORAGE_STAGING_BUFFER_LOCKED;
    dstorage_settings.staging_size = size;
    return S_OK;
}

static const IDStorageFactoryVtbl factory_vtbl = {
    factory_QueryInterface,
    factory_AddRef,
    factory_Release,
    factory_CreateQueue,
    factory_OpenFile,
    factory_CreateStatusArray,
    factory_SetDebugFlags,
    factory_SetStagingBufferSize,
};

static IDStorageFactory factory = {&factory_vtbl};

/* ---- exports ------------------------------------------------------------------------ */

HRESULT WINAPI DStorageGetFactory(REFIID riid, void **ppv)
{
    HRESULT hr;

    WINE_TRACE("riid %s, ppv %p\n", wine_dbgstr_guid(riid), ppv);
    if (!ppv) return E_POINTER;
    *ppv = NULL;
    if (FAILED(hr = dstorage_start_completion_thread())) {
        WINE_ERR("the unix side of dstorage.dll is not available (%#lx); see docs/wine_integration_guide.md\n",
                 hr);
        return hr;
    }
    hr = factory_QueryInterface(&factory, riid, ppv);
    if (SUCCEEDED(hr)) factory_AddRef(&factory);
    return hr;
}

static HRESULT set_configuration(const DSTORAGE_CONFIGURATION1 *config)
{
    if (!config) return E_INVALIDARG;
    if (dstorage_live_objects) return E_DSTORAGE_STAGING_BUFFER_LOCKED;
    if (config->ForceFileBuffering && !config->DisableBypassIO)
        return E_DSTORAGE_FILEBUFFERING_REQUIRES_DISABLED_BYPASSIO;
    if (config->NumBuiltInCpuDecompressionThreads < DSTORAGE_DISABLE_BUILTIN_CPU_DECOMPRESSION)
        return E_INVALIDARG;
    WINE_TRACE("submit threads %u, cpu decompression threads %d, mapping layer %d, bypass io off %d, "
               "file buffering %d, gpu decompression off %d\n",
               config->NumSubmitThreads, config->NumBuiltInCpuDecompressionThreads,
               config->ForceMappingLayer, config->DisableBypassIO, config->ForceFileBuffering,
               config->DisableGpuDecompression);
    dstorage_settings.config = *config;
    return S_OK;
}

HRESULT WINAPI DStorageSetConfiguration(const DSTORAGE_CONFIGURATION *config)
{
    DSTORAGE_CONFIGURATION1 c1;

    if (!config) return E_INVALIDARG;
    memset(&c1, 0, sizeof(c1));
    memcpy(&c1, config, sizeof(*config));
    return set_configuration(&c1);
}

HRESULT WINAPI DStorageSetConfiguration1(const DSTORAGE_CONFIGURATION1 *config)
{
    return set_configuration(config);
}

HRESULT WINAPI DStorageCreateCompressionCodec(DSTORAGE_COMPRESSION_FORMAT format, UINT32 threads,
                                              REFIID riid, void **ppv)
{
    WINE_TRACE("format %u, threads %u, riid %s\n", format, threads, wine_dbgstr_guid(riid));
    if (!ppv) return E_POINTER;
    *ppv = NULL;
    if (dstorage_unix_status) return hresult_from_status(dstorage_unix_status);
    return dstorage_codec_create(format, threads, riid, ppv);
}

/*
 * Private export: writes "<marker> abi <n> runtime <version> at <path of
 * dstorage.so>" into buffer. Only this builtin's unix side can answer it,
 * so a test (or a user) can prove which dstorage.dll a process loaded.
 */
HRESULT WINAPI wine_dstorage_runtime_info(char *buffer, UINT32 size)
{
    int n;

    if (!buffer || !size) return E_INVALIDARG;
    if (dstorage_unix_status) {
        copy_cstr(buffer, size, "unix side not loaded");
        return hresult_from_status(dstorage_unix_status);
    }
    n = snprintf(buffer, size, "%s abi %u runtime %s at %s", unix_info.marker, unix_info.abi_version,
                 unix_info.runtime_version, unix_info.unix_path);
    return n >= 0 && (UINT32)n < size ? S_OK : E_NOT_SUFFICIENT_BUFFER;
}

static UINT32 backend_from_environment(void)
{
    char value[32];
    DWORD n = GetEnvironmentVariableA("DSTORAGE_WINE_BACKEND", value, sizeof(value));

    if (!n || n >= sizeof(value)) return DSW_BACKEND_AUTO;
    if (!lstrcmpiA(value, "pread")) return DSW_BACKEND_PREAD;
    if (!lstrcmpiA(value, "io_uring") || !lstrcmpiA(value, "uring")) return DSW_BACKEND_IO_URING;
    if (lstrcmpiA(value, "auto"))
        WINE_ERR("DSTORAGE_WINE_BACKEND=%s is not one of auto, pread, io_uring; using auto\n", value);
    return DSW_BACKEND_AUTO;
}

BOOL WINAPI DllMain(HINSTANCE instance, DWORD reason, void *reserved)
{
    (void)reserved;
    if (reason != DLL_PROCESS_ATTACH) return TRUE;
    DisableThreadLibraryCalls(instance);
    if (!dstorage_options_layout_ok()) {
        WINE_ERR("DSTORAGE_REQUEST_OPTIONS bit fields are laid out wrongly by this compiler\n");
        return FALSE;
    }
    dstorage_settings.staging_size = DSTORAGE_STAGING_BUFFER_SIZE_32MB;
    dstorage_settings.backend = backend_from_environment();
    dstorage_unix_status = __wine_init_unix_call();
    if (dstorage_unix_status) {
        WINE_ERR("cannot reach dstorage.so (status %#lx): install dstorage.dll and dstorage.so as a pair "
                 "(x86_64-windows/ and x86_64-unix/ of a Wine dll directory); see "
                 "docs/wine_integration_guide.md\n",
                 (unsigned long)dstorage_unix_status);
        return TRUE;
    }
    unix_info.log_level = DSW_LOG_ERROR;
    if (WINE_WARN_ON(dstorage)) unix_info.log_level |= DSW_LOG_WARN;
    if (WINE_TRACE_ON(dstorage)) unix_info.log_level |= DSW_LOG_DEBUG;
    dstorage_unix_status = WINE_UNIX_CALL(DSW_FN_INIT, &unix_info);
    if (!dstorage_unix_status && unix_info.abi_version != DSW_UNIX_ABI_VERSION) {
        WINE_ERR("dstorage.so speaks unix ABI %u, dstorage.dll %u: install both from one build\n",
                 unix_info.abi_version, DSW_UNIX_ABI_VERSION);
        dstorage_unix_status = 0xC0000059; /* STATUS_REVISION_MISMATCH */
    }
    if (!dstorage_unix_status) WINE_TRACE("%s, runtime %s\n", unix_info.marker, unix_info.runtime_version);
    return TRUE;
}
