/*
 * status.c - IDStorageStatusArray: HRESULT slots that EnqueueStatus entries
 * complete.
 *
 * The array is plain memory of this object. EnqueueStatus stores E_PENDING
 * in the slot, then the unix side stores the entry's result there (a release
 * store, from whichever thread completes the entry) once every request
 * enqueued before it has ended: S_OK, or the first failure in enqueue order
 * since the previous status entry. Reads here are acquire loads, so a reader
 * that sees the result also sees the data the requests wrote. A queue holds
 * a reference on the array while an entry of it is pending.
 */
#include "private.h"

WINE_DEFAULT_DEBUG_CHANNEL(dstorage);

static const IDStorageStatusArrayVtbl status_vtbl;

static struct dstorage_status_array *impl_from_IDStorageStatusArray(IDStorageStatusArray *iface)
{
    return CONTAINING_RECORD(iface, struct dstorage_status_array, IDStorageStatusArray_iface);
}

struct dstorage_status_array *dstorage_status_array_from_iface(IDStorageStatusArray *iface)
{
    if (!iface || iface->lpVtbl != &status_vtbl) return NULL;
    return impl_from_IDStorageStatusArray(iface);
}

static HRESULT STDMETHODCALLTYPE status_QueryInterface(IDStorageStatusArray *iface, REFIID riid,
                                                       void **ppv)
{
    if (!ppv) return E_POINTER;
    if (IsEqualGUID(riid, &IID_IUnknown) || IsEqualGUID(riid, &IID_IDStorageStatusArray)) {
        InterlockedIncrement(&impl_from_IDStorageStatusArray(iface)->refcount);
        *ppv = iface;
        return S_OK;
    }
    *ppv = NULL;
    return E_NOINTERFACE;
}

static ULONG STDMETHODCALLTYPE status_AddRef(IDStorageStatusArray *iface)
{
    return InterlockedIncrement(&impl_from_IDStorageStatusArray(iface)->refcount);
}

static ULONG STDMETHODCALLTYPE status_Release(IDStorageStatusArray *iface)
{
    struct dstorage_status_array *array = impl_from_IDStorageStatusArray(iface);
    LONG ref = InterlockedDecrement(&array->refcount);

    if (!ref) HeapFree(GetProcessHeap(), 0, array);
    return ref;
}

static HRESULT STDMETHODCALLTYPE status_GetHResult(IDStorageStatusArray *iface, UINT32 index)
{
    struct dstorage_status_array *array = impl_from_IDStorageStatusArray(iface);

    if (index >= array->capacity) return E_DSTORAGE_INDEX_BOUND;
    return __atomic_load_n(&array->results[index], __ATOMIC_ACQUIRE);
}

static _Bool STDMETHODCALLTYPE status_IsComplete(IDStorageStatusArray *iface, UINT32 index)
{
    return status_GetHResult(iface, index) != E_PENDING;
}

static const IDStorageStatusArrayVtbl status_vtbl = {
    status_QueryInterface,
    status_AddRef,
    status_Release,
    status_IsComplete,
    status_GetHResult,
};

HRESULT dstorage_status_array_create(UINT32 capacity, const char *name, REFIID riid, void **ppv)
{
    struct dstorage_status_array *array;

    WINE_TRACE("capacity %u, name %s, riid %s\n", capacity, wine_dbgstr_a(name), wine_dbgstr_guid(riid));
    if (!ppv) return E_POINTER;
    *ppv = NULL;
    if (!capacity) return E_INVALIDARG;
    if (!IsEqualGUID(riid, &IID_IDStorageStatusArray) && !IsEqualGUID(riid, &IID_IUnknown))
        return E_NOINTERFACE;
    if (capacity > (0x7fffffffu - sizeof(*array)) / sizeof(LONG)) return E_OUTOFMEMORY;
    array = HeapAlloc(GetProcessHeap(), HEAP_ZERO_MEMORY, sizeof(*array) + capacity * sizeof(LONG));
    if (!array) return E_OUTOFMEMORY;
    array->IDStorageStatusArray_iface.lpVtbl = &status_vtbl;
    array->refcount = 1;
    array->capacity = capacity;
    copy_cstr(array->name, sizeof(array->name), name);
    /* Entries never enqueued report S_OK (zero-filled). */
    *ppv = &array->IDStorageStatusArray_iface;
    return S_OK;
}
