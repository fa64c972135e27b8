/*
 * tutil.h - helpers of the Windows test programs for the builtin
 * dstorage.dll (built with mingw-w64, run under wine by tests/run.sh).
 *
 * Every program starts with tu_load(), which fails loudly unless the
 * dstorage.dll in the process is this project's builtin: the module must
 * carry Wine's builtin mark, export wine_dstorage_runtime_info, and that
 * export must be answered by our unix side (dstorage.so) with the ABI
 * version the test was built against.
 *
 * Checks print "FAIL file:line: ..." and count; tu_done() prints the
 * summary and gives the exit code (0 pass, 1 fail, 77 skipped).
 */
#ifndef DSTORAGE_TUTIL_H
#define DSTORAGE_TUTIL_H

#define COBJMACROS
/* Each test program is one translation unit: define the d3d12.h IIDs here
 * (mingw-w64 ships no library with them). */
#include <initguid.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dstorage_api.h"

#define TU_SKIP 77
#define TU_TIMEOUT_MS 60000

static int tu_failures, tu_checks;
static const char *tu_name = "test";

static inline void tu_fail(const char *file, int line, const char *fmt, ...)
{
    va_list args;

    tu_failures++;
    fprintf(stdout, "FAIL %s:%d: ", file, line);
    va_start(args, fmt);
    vfprintf(stdout, fmt, args);
    va_end(args);
    fputc('\n', stdout);
    fflush(stdout);
}

#define CHECK(cond, ...)                                              \
    do {                                                              \
        tu_checks++;                                                  \
        if (!(cond)) tu_fail(__FILE__, __LINE__, __VA_ARGS__);        \
    } while (0)
#define CHECK_HR(expr, want)                                                                    \
    do {                                                                                        \
        HRESULT hr_ = (expr);                                                                   \
        tu_checks++;                                                                            \
        if (hr_ != (HRESULT)(want))                                                             \
            tu_fail(__FILE__, __LINE__, "%s = %#lx, expected %#lx", #expr, (unsigned long)hr_, \
                    (unsigned long)(HRESULT)(want));                                            \
    } while (0)
/* Fatal: the rest of the program cannot run without it. */
#define REQUIRE(cond, ...)                                            \
    do {                                                              \
        tu_checks++;                                                  \
        if (!(cond)) {                                                \
            tu_fail(__FILE__, __LINE__, __VA_ARGS__);                 \
            exit(tu_done());                                          \
        }                                                             \
    } while (0)

static inline int tu_done(void)
{
    printf("%s: %d checks, %d failures\n", tu_name, tu_checks, tu_failures);
    fflush(stdout);
    return tu_failures ? 1 : 0;
}

/* ---- the builtin ------------------------------------------------------------------------------ */

static HMODULE tu_module;
static PFN_DStorageGetFactory pDStorageGetFactory;
static PFN_DStorageSetConfiguration pDStorageSetConfiguration;
static PFN_DStorageSetConfiguration1 pDStorageSetConfiguration1;
static PFN_DStorageCreateCompressionCodec pDStorageCreateCompressionCodec;
typedef HRESULT(WINAPI *PFN_wine_dstorage_runtime_info)(char *buffer, UINT32 size);
static PFN_wine_dstorage_runtime_info pwine_dstorage_runtime_info;

/* The ABI version of ../src/unixlib.h this test was written for. */
#define TU_UNIX_ABI "abi 2 "

static inline void tu_load(const char *name)
{
    WCHAR path[MAX_PATH];
    char info[512];
    HRESULT hr;

    tu_name = name;
    REQUIRE(dstorage_options_layout_ok(), "DSTORAGE_REQUEST_OPTIONS bit fields laid out wrongly");
    tu_module = LoadLibraryW(L"dstorage.dll");
    REQUIRE(tu_module, "dstorage.dll did not load (error %lu): no dstorage.dll on the search path?", GetLastError());
    GetModuleFileNameW(tu_module, path, MAX_PATH);
    /* Wine writes this string at offset 0x40 of every builtin PE image. */
    REQUIRE(!memcmp((const char *)tu_module + 0x40, "Wine builtin DLL", 16),
            "%ls is not a Wine builtin DLL: the native DirectStorage (or another dll) was loaded", path);
    pwine_dstorage_runtime_info =
        (PFN_wine_dstorage_runtime_info)(void *)GetProcAddress(tu_module, "wine_dstorage_runtime_info");
    REQUIRE(pwine_dstorage_runtime_info, "%ls has no wine_dstorage_runtime_info: not the ds-runtime builtin", path);
    hr = pwine_dstorage_runtime_info(info, sizeof(info));
    REQUIRE(hr == S_OK, "wine_dstorage_runtime_info failed with %#lx (%s): dstorage.so not paired with the dll",
            (unsigned long)hr, info);
    REQUIRE(!strncmp(info, "ds-runtime dstorage.so " TU_UNIX_ABI, strlen("ds-runtime dstorage.so " TU_UNIX_ABI)),
            "unexpected unix side: %s", info);
    printf("%s: %ls -> %s\n", name, path, info);
    pDStorageGetFactory = (PFN_DStorageGetFactory)(void *)GetProcAddress(tu_module, "DStorageGetFactory");
    pDStorageSetConfiguration =
        (PFN_DStorageSetConfiguration)(void *)GetProcAddress(tu_module, "DStorageSetConfiguration");
    pDStorageSetConfiguration1 =
        (PFN_DStorageSetConfiguration1)(void *)GetProcAddress(tu_module, "DStorageSetConfiguration1");
    pDStorageCreateCompressionCodec =
        (PFN_DStorageCreateCompressionCodec)(void *)GetProcAddress(tu_module, "DStorageCreateCompressionCodec");
    REQUIRE(pDStorageGetFactory && pDStorageSetConfiguration && pDStorageSetConfiguration1 &&
                pDStorageCreateCompressionCodec,
            "an export of dstorage.dll is missing");
}

static inline IDStorageFactory *tu_factory(void)
{
    IDStorageFactory *factory = NULL;

    REQUIRE(pDStorageGetFactory(&IID_IDStorageFactory, (void **)&factory) == S_OK && factory,
            "DStorageGetFactory failed");
    return factory;
}

static inline IDStorageQueue3 *tu_queue(IDStorageFactory *factory, UINT64 source, UINT16 capacity, const char *name,
                                 ID3D12Device *device)
{
    DSTORAGE_QUEUE_DESC desc;
    IDStorageQueue3 *queue = NULL;
    HRESULT hr;

    memset(&desc, 0, sizeof(desc));
    desc.SourceType = source;
    desc.Capacity = capacity;
    desc.Priority = DSTORAGE_PRIORITY_NORMAL;
    desc.Name = name;
    desc.Device = device;
    hr = factory->lpVtbl->CreateQueue(factory, &desc, &IID_IDStorageQueue3, (void **)&queue);
    REQUIRE(hr == S_OK && queue, "CreateQueue(%s) failed with %#lx", name, (unsigned long)hr);
    return queue;
}

static inline IDStorageStatusArray *tu_status_array(IDStorageFactory *factory, UINT32 capacity)
{
    IDStorageStatusArray *array = NULL;
    HRESULT hr = factory->lpVtbl->CreateStatusArray(factory, capacity, "tests", &IID_IDStorageStatusArray,
                                                     (void **)&array);

    REQUIRE(hr == S_OK && array, "CreateStatusArray failed with %#lx", (unsigned long)hr);
    return array;
}

/* ---- data ------------------------------------------------------------------------------------------- */

/* xorshift64*: reproducible test bytes. */
static inline UINT64 tu_rand(UINT64 *state)
{
    UINT64 x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* Compressible bytes: runs, words from a small alphabet, and noise. */
static inline void tu_fill(BYTE *data, size_t size, UINT64 seed)
{
    static const char words[] = "texture mesh shader asset stream block tile lane ";
    const size_t nwords = sizeof(words) - 1;
    UINT64 s = seed * 2654435761u + 1, r;
    size_t i = 0, n, k, at;

    while (i < size) {
        r = tu_rand(&s);
        n = 1 + (r >> 8) % 24;
        at = (size_t)(r >> 24) % nwords;
        for (k = 0; k < n && i < size; k++, i++) {
            switch (r & 3) {
            case 0: data[i] = (BYTE)tu_rand(&s); break;
            case 1: data[i] = (BYTE)(r >> 16); break;
            default: data[i] = (BYTE)words[(at + k) % nwords]; break;
            }
        }
    }
}

/* FNV-1a 64: the checksum every read is verified with (and memcmp). */
static inline UINT64 tu_fnv(const BYTE *data, size_t size)
{
    UINT64 h = 0xcbf29ce484222325ULL;
    size_t i;

    for (i = 0; i < size; i++) {
        h ^= data[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

static inline BYTE *tu_alloc(size_t size)
{
    BYTE *p = VirtualAlloc(NULL, size ? size : 1, MEM_COMMIT | MEM_RESERVE, PAGE_READWRITE);

    REQUIRE(p, "out of memory (%lu bytes)", (unsigned long)size);
    return p;
}

static inline void tu_free(void *p)
{
    VirtualFree(p, 0, MEM_RELEASE);
}

/* The directory test files go to (C:\dstest, created on demand). */
static inline const WCHAR *tu_dir(void)
{
    CreateDirectoryW(L"C:\\dstest", NULL);
    return L"C:\\dstest";
}

static inline void tu_path(WCHAR *out, const WCHAR *name)
{
    swprintf(out, MAX_PATH, L"%ls\\%ls", tu_dir(), name);
}

static inline void tu_write_file(const WCHAR *path, const void *data, size_t size)
{
    HANDLE h = CreateFileW(path, GENERIC_WRITE, 0, NULL, CREATE_ALWAYS, FILE_ATTRIBUTE_NORMAL, NULL);
    DWORD written = 0;

    REQUIRE(h != INVALID_HANDLE_VALUE, "cannot create %ls (%lu)", path, GetLastError());
    REQUIRE(WriteFile(h, data, (DWORD)size, &written, NULL) && written == size, "cannot write %ls", path);
    CloseHandle(h);
}

static inline BYTE *tu_read_file(const WCHAR *path, size_t *size)
{
    HANDLE h = CreateFileW(path, GENERIC_READ, FILE_SHARE_READ, NULL, OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, NULL);
    LARGE_INTEGER len;
    DWORD got = 0;
    BYTE *data;

    if (h == INVALID_HANDLE_VALUE) return NULL;
    GetFileSizeEx(h, &len);
    data = tu_alloc((size_t)len.QuadPart);
    if (!ReadFile(h, data, (DWORD)len.QuadPart, &got, NULL) || got != len.QuadPart) {
        CloseHandle(h);
        tu_free(data);
        return NULL;
    }
    CloseHandle(h);
    *size = (size_t)len.QuadPart;
    return data;
}

static inline IDStorageFile *tu_open(IDStorageFactory *factory, const WCHAR *path)
{
    IDStorageFile *file = NULL;
    HRESULT hr = factory->lpVtbl->OpenFile(factory, path, &IID_IDStorageFile, (void **)&file);

    REQUIRE(hr == S_OK && file, "OpenFile(%ls) failed with %#lx", path, (unsigned long)hr);
    return file;
}

/* ---- requests --------------------------------------------------------------------------------------- */

static inline DSTORAGE_REQUEST tu_file_request(IDStorageFile *file, UINT64 offset, UINT32 size, void *dst, UINT32 dst_size,
                                        UINT8 format, UINT32 uncompressed)
{
    DSTORAGE_REQUEST r;

    memset(&r, 0, sizeof(r));
    r.Options.CompressionFormat = format;
    r.Options.SourceType = DSTORAGE_REQUEST_SOURCE_FILE;
    r.Options.DestinationType = DSTORAGE_REQUEST_DESTINATION_MEMORY;
    r.Source.File.Source = file;
    r.Source.File.Offset = offset;
    r.Source.File.Size = size;
    r.Destination.Memory.Buffer = dst;
    r.Destination.Memory.Size = dst_size;
    r.UncompressedSize = uncompressed;
    return r;
}

static inline DSTORAGE_REQUEST tu_memory_request(const void *src, UINT32 size, void *dst, UINT32 dst_size, UINT8 format,
                                          UINT32 uncompressed)
{
    DSTORAGE_REQUEST r;

    memset(&r, 0, sizeof(r));
    r.Options.CompressionFormat = format;
    r.Options.SourceType = DSTORAGE_REQUEST_SOURCE_MEMORY;
    r.Options.DestinationType = DSTORAGE_REQUEST_DESTINATION_MEMORY;
    r.Source.Memory.Source = src;
    r.Source.Memory.Size = size;
    r.Destination.Memory.Buffer = dst;
    r.Destination.Memory.Size = dst_size;
    r.UncompressedSize = uncompressed;
    return r;
}

/* Enqueues an event and waits for it: everything enqueued before is done. */
static inline void tu_drain(IDStorageQueue3 *queue)
{
    HANDLE event = CreateEventW(NULL, FALSE, FALSE, NULL);
    DWORD w;

    queue->lpVtbl->EnqueueSetEvent(queue, event);
    queue->lpVtbl->Submit(queue);
    w = WaitForSingleObject(event, TU_TIMEOUT_MS);
    CloseHandle(event);
    REQUIRE(w == WAIT_OBJECT_0, "queue did not drain within %d ms (wait %lu)", TU_TIMEOUT_MS, w);
}

static inline void tu_wait_status(IDStorageStatusArray *array, UINT32 index)
{
    DWORD start = GetTickCount();

    while (!array->lpVtbl->IsComplete(array, index)) {
        REQUIRE(GetTickCount() - start < TU_TIMEOUT_MS, "status entry %u not complete after %d ms", index,
                TU_TIMEOUT_MS);
        Sleep(1);
    }
}

/* ---- GDeflate through the codec API ------------------------------------------------------------- */

static inline BYTE *tu_gdeflate(const BYTE *data, size_t size, DSTORAGE_COMPRESSION level, size_t *out_size)
{
    IDStorageCompressionCodec *codec = NULL;
    size_t bound, written = 0;
    BYTE *out;
    HRESULT hr;

    hr = pDStorageCreateCompressionCodec(DSTORAGE_COMPRESSION_FORMAT_GDEFLATE, 0, &IID_IDStorageCompressionCodec,
                                         (void **)&codec);
    REQUIRE(hr == S_OK && codec, "DStorageCreateCompressionCodec failed with %#lx", (unsigned long)hr);
    bound = codec->lpVtbl->CompressBufferBound(codec, size);
    REQUIRE(bound >= size, "CompressBufferBound(%lu) = %lu", (unsigned long)size, (unsigned long)bound);
    out = tu_alloc(bound);
    hr = codec->lpVtbl->CompressBuffer(codec, data, size, level, out, bound, &written);
    REQUIRE(hr == S_OK && written > 0 && written <= bound, "CompressBuffer failed with %#lx (%lu bytes)",
            (unsigned long)hr, (unsigned long)written);
    codec->lpVtbl->Release(codec);
    *out_size = written;
    return out;
}

/* ---- a minimal ID3D12Fence (no D3D12 device needed) --------------------------------------------- */

/*
 * Implements what DirectStorage uses of a fence: Signal (from the shim's
 * completion thread), GetCompletedValue and SetEventOnCompletion (for
 * EnqueueRequests). Counts Signal calls and records the thread they came
 * from.
 */
struct tu_fence {
    ID3D12Fence iface;
    LONG refs;
    volatile LONG64 value;
    LONG signals;
    DWORD signal_thread;
    CRITICAL_SECTION lock;
    struct {
        UINT64 value;
        HANDLE event;
    } waits[16];
    int wait_count;
};

static inline struct tu_fence *tu_fence_impl(ID3D12Fence *iface)
{
    return CONTAINING_RECORD(iface, struct tu_fence, iface);
}

static inline HRESULT STDMETHODCALLTYPE tu_fence_QueryInterface(ID3D12Fence *iface, REFIID riid, void **ppv)
{
    if (IsEqualGUID(riid, &IID_ID3D12Fence) || IsEqualGUID(riid, &IID_IUnknown)) {
        InterlockedIncrement(&tu_fence_impl(iface)->refs);
        *ppv = iface;
        return S_OK;
    }
    *ppv = NULL;
    return E_NOINTERFACE;
}

static inline ULONG STDMETHODCALLTYPE tu_fence_AddRef(ID3D12Fence *iface)
{
    return InterlockedIncrement(&tu_fence_impl(iface)->refs);
}

static inline ULONG STDMETHODCALLTYPE tu_fence_Release(ID3D12Fence *iface)
{
    return InterlockedDecrement(&tu_fence_impl(iface)->refs);
}

static inline HRESULT STDMETHODCALLTYPE tu_fence_GetPrivateData(ID3D12Fence *iface, REFGUID guid, UINT *size, void *data)
{
    (void)iface, (void)guid, (void)size, (void)data;
    return E_NOTIMPL;
}

static inline HRESULT STDMETHODCALLTYPE tu_fence_SetPrivateData(ID3D12Fence *iface, REFGUID guid, UINT size,
                                                         const void *data)
{
    (void)iface, (void)guid, (void)size, (void)data;
    return E_NOTIMPL;
}

static inline HRESULT STDMETHODCALLTYPE tu_fence_SetPrivateDataInterface(ID3D12Fence *iface, REFGUID guid,
                                                                  const IUnknown *data)
{
    (void)iface, (void)guid, (void)data;
    return E_NOTIMPL;
}

static inline HRESULT STDMETHODCALLTYPE tu_fence_SetName(ID3D12Fence *iface, const WCHAR *name)
{
    (void)iface, (void)name;
    return E_NOTIMPL;
}

static inline HRESULT STDMETHODCALLTYPE tu_fence_GetDevice(ID3D12Fence *iface, REFIID riid, void **device)
{
    (void)iface, (void)riid;
    *device = NULL;
    return E_NOTIMPL;
}

static inline UINT64 STDMETHODCALLTYPE tu_fence_GetCompletedValue(ID3D12Fence *iface)
{
    return (UINT64)InterlockedCompareExchange64(&tu_fence_impl(iface)->value, 0, 0);
}

static inline HRESULT STDMETHODCALLTYPE tu_fence_SetEventOnCompletion(ID3D12Fence *iface, UINT64 value, HANDLE event)
{
    struct tu_fence *f = tu_fence_impl(iface);

    EnterCriticalSection(&f->lock);
    if ((UINT64)f->value >= value)
        SetEvent(event);
    else if (f->wait_count < 16) {
        f->waits[f->wait_count].value = value;
        f->waits[f->wait_count].event = event;
        f->wait_count++;
    }
    LeaveCriticalSection(&f->lock);
    return S_OK;
}

static inline HRESULT STDMETHODCALLTYPE tu_fence_Signal(ID3D12Fence *iface, UINT64 value)
{
    struct tu_fence *f = tu_fence_impl(iface);
    int i, kept = 0;

    EnterCriticalSection(&f->lock);
    InterlockedExchange64(&f->value, (LONG64)value);
    f->signal_thread = GetCurrentThreadId();
    InterlockedIncrement(&f->signals);
    for (i = 0; i < f->wait_count; i++) {
        if (value >= f->waits[i].value)
            SetEvent(f->waits[i].event);
        else
            f->waits[kept++] = f->waits[i];
    }
    f->wait_count = kept;
    LeaveCriticalSection(&f->lock);
    return S_OK;
}

static const ID3D12FenceVtbl tu_fence_vtbl __attribute__((unused)) = {
    tu_fence_QueryInterface, tu_fence_AddRef,   tu_fence_Release,
    tu_fence_GetPrivateData, tu_fence_SetPrivateData, tu_fence_SetPrivateDataInterface,
    tu_fence_SetName,        tu_fence_GetDevice, tu_fence_GetCompletedValue,
    tu_fence_SetEventOnCompletion, tu_fence_Signal,
};

static inline void tu_fence_init(struct tu_fence *f, UINT64 initial)
{
    memset(f, 0, sizeof(*f));
    f->iface.lpVtbl = (ID3D12FenceVtbl *)&tu_fence_vtbl;
    f->refs = 1;
    f->value = (LONG64)initial;
    InitializeCriticalSection(&f->lock);
}

/* Waits until the fence reaches `value`. */
static inline void tu_fence_wait(struct tu_fence *f, UINT64 value)
{
    DWORD start = GetTickCount();

    while (tu_fence_GetCompletedValue(&f->iface) < value) {
        REQUIRE(GetTickCount() - start < TU_TIMEOUT_MS, "fence did not reach %llu", (unsigned long long)value);
        Sleep(1);
    }
}

#endif /* DSTORAGE_TUTIL_H */
