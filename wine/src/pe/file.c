/*
 * file.c - IDStorageFile: a file opened for DirectStorage reads.
 *
 * OpenFile opens the path with CreateFileW (so Wine applies its own path
 * rules, drive mappings and sharing checks), keeps the HANDLE for
 * GetFileInformation, and hands it to the unix side, which turns it into a
 * Unix descriptor with wine_server_handle_to_fd (a dup() it owns) for the
 * runtime. The Unix path (kernel32!wine_get_unix_file_name) goes along for
 * messages: the runtime names files in its errors.
 */
#include "private.h"

WINE_DEFAULT_DEBUG_CHANNEL(dstorage);

static const IDStorageFileVtbl file_vtbl;

static struct dstorage_file *impl_from_IDStorageFile(IDStorageFile *iface)
{
    return CONTAINING_RECORD(iface, struct dstorage_file, IDStorageFile_iface);
}

struct dstorage_file *dstorage_file_from_iface(IDStorageFile *iface)
{
    if (!iface || iface->lpVtbl != &file_vtbl) return NULL;
    return impl_from_IDStorageFile(iface);
}

static HRESULT STDMETHODCALLTYPE file_QueryInterface(IDStorageFile *iface, REFIID riid, void **ppv)
{
    if (!ppv) return E_POINTER;
    if (IsEqualGUID(riid, &IID_IUnknown) || IsEqualGUID(riid, &IID_IDStorageFile)) {
        InterlockedIncrement(&impl_from_IDStorageFile(iface)->refcount);
        *ppv = iface;
        return S_OK;
    }
    *ppv = NULL;
    return E_NOINTERFACE;
}

static ULONG STDMETHODCALLTYPE file_AddRef(IDStorageFile *iface)
{
    return InterlockedIncrement(&impl_from_IDStorageFile(iface)->refcount);
}

/* Closes the Windows handle and the unix-side file: new requests are
 * refused and requests that have not run yet fail with
 * E_DSTORAGE_FILE_NOT_OPEN. Idempotent. */
static void file_close(struct dstorage_file *file)
{
    struct dsw_handle_params params = {.handle = file->unix_file};

    if (InterlockedExchange(&file->closed, 1)) return;
    WINE_TRACE("%p %s\n", file, wine_dbgstr_w(file->path));
    dstorage_unix_call(DSW_FN_FILE_CLOSE, &params);
    CloseHandle(file->handle);
    file->handle = INVALID_HANDLE_VALUE;
    InterlockedDecrement(&dstorage_live_objects);
}

static ULONG STDMETHODCALLTYPE file_Release(IDStorageFile *iface)
{
    struct dstorage_file *file = impl_from_IDStorageFile(iface);
    LONG ref = InterlockedDecrement(&file->refcount);
    struct dsw_handle_params params;

    if (!ref) {
        file_close(file);
        params.handle = file->unix_file;
        dstorage_unix_call(DSW_FN_FILE_RELEASE, &params);
        HeapFree(GetProcessHeap(), 0, file->path);
        HeapFree(GetProcessHeap(), 0, file);
    }
    return ref;
}

static void STDMETHODCALLTYPE file_Close(IDStorageFile *iface)
{
    file_close(impl_from_IDStorageFile(iface));
}

static HRESULT STDMETHODCALLTYPE file_GetFileInformation(IDStorageFile *iface,
                                                         BY_HANDLE_FILE_INFORMATION *info)
{
    struct dstorage_file *file = impl_from_IDStorageFile(iface);

    if (!info) return E_POINTER;
    if (file->closed) return E_DSTORAGE_FILE_NOT_OPEN;
    if (!GetFileInformationByHandle(file->handle, info)) return HRESULT_FROM_WIN32(GetLastError());
    return S_OK;
}

static const IDStorageFileVtbl file_vtbl = {
    file_QueryInterface,
    file_AddRef,
    file_Release,
    file_Close,
    file_GetFileInformation,
};

static char *unix_path_of(const WCHAR *path)
{
    static wine_get_unix_file_name_fn get_unix_name;

    if (!get_unix_name)
        get_unix_name = (wine_get_unix_file_name_fn)(void *)GetProcAddress(
            GetModuleHandleW(L"kernel32.dll"), "wine_get_unix_file_name");
    return get_unix_name ? get_unix_name(path) : NULL;
}

HRESULT dstorage_file_open(const WCHAR *path, REFIID riid, void **ppv)
{
    struct dsw_file_open_params params;
    struct dstorage_file *file;
    size_t len;
    char *unix_path;
    HANDLE handle;
    HRESULT hr;

    WINE_TRACE("%s, riid %s\n", wine_dbgstr_w(path), wine_dbgstr_guid(riid));
    if (!ppv) return E_POINTER;
    *ppv = NULL;
    if (!path) return E_INVALIDARG;
    if (!IsEqualGUID(riid, &IID_IDStorageFile) && !IsEqualGUID(riid, &IID_IUnknown))
        return E_NOINTERFACE;
    if (dstorage_unix_status) return hresult_from_status(dstorage_unix_status);

    handle = CreateFileW(path, GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, NULL, OPEN_EXISTING,
                         FILE_ATTRIBUTE_NORMAL, NULL);
    if (handle == INVALID_HANDLE_VALUE) {
        hr = HRESULT_FROM_WIN32(GetLastError());
        WINE_WARN("cannot open %s: %#lx\n", wine_dbgstr_w(path), hr);
        return hr;
    }
    len = lstrlenW(path);
    file = HeapAlloc(GetProcessHeap(), HEAP_ZERO_MEMORY, sizeof(*file));
    if (file) file->path = HeapAlloc(GetProcessHeap(), 0, (len + 1) * sizeof(WCHAR));
    if (!file || !file->path) {
        if (file) HeapFree(GetProcessHeap(), 0, file);
        CloseHandle(handle);
        return E_OUTOFMEMORY;
    }
    memcpy(file->path, path, (len + 1) * sizeof(WCHAR));
    file->IDStorageFile_iface.lpVtbl = &file_vtbl;
    file->refcount = 1;
    file->handle = handle;

    unix_path = unix_path_of(path);
    memset(&params, 0, sizeof(params));
    params.win_handle = (UINT64)(ULONG_PTR)handle;
    params.unix_path = (UINT64)(ULONG_PTR)unix_path;
    params.win_path = (UINT64)(ULONG_PTR)file->path;
    if (dstorage_unix_call(DSW_FN_FILE_OPEN, &params)) params.hr = E_FAIL;
    if (unix_path) HeapFree(GetProcessHeap(), 0, unix_path);
    if (FAILED(params.hr)) {
        WINE_WARN("%s: %s\n", wine_dbgstr_w(path), params.message);
        CloseHandle(handle);
        HeapFree(GetProcessHeap(), 0, file->path);
        HeapFree(GetProcessHeap(), 0, file);
        return params.hr;
    }
    file->unix_file = params.file;
    InterlockedIncrement(&dstorage_live_objects);
    WINE_TRACE("-> %p (unix file %#I64x)\n", file, params.file);
    *ppv = &file->IDStorageFile_iface;
    return S_OK;
}
