/*
 * codec.c - IDStorageCompressionCodec (DStorageCreateCompressionCodec) for
 * GDeflate, backed by ds-runtime's encoder and decoder on the unix side.
 *
 * Compression settings map to the encoder's levels as the GDeflate
 * reference does: FASTEST -> 1, DEFAULT -> 9, BEST_RATIO -> 12. The codec
 * has no state shared between calls, so the SDK's "not thread safe" rule is
 * only a permission: concurrent calls on one codec work.
 */
#include "private.h"

WINE_DEFAULT_DEBUG_CHANNEL(dstorage);

struct dstorage_codec {
    IDStorageCompressionCodec IDStorageCompressionCodec_iface;
    LONG refcount;
    UINT32 threads;
};

static struct dstorage_codec *impl_from_IDStorageCompressionCodec(IDStorageCompressionCodec *iface)
{
    return CONTAINING_RECORD(iface, struct dstorage_codec, IDStorageCompressionCodec_iface);
}

static HRESULT STDMETHODCALLTYPE codec_QueryInterface(IDStorageCompressionCodec *iface, REFIID riid, void **ppv)
{
    if (!ppv) return E_POINTER;
    if (IsEqualGUID(riid, &IID_IUnknown) || IsEqualGUID(riid, &IID_IDStorageCompressionCodec)) {
        InterlockedIncrement(&impl_from_IDStorageCompressionCodec(iface)->refcount);
        *ppv = iface;
        return S_OK;
    }
    *ppv = NULL;
    return E_NOINTERFACE;
}

static ULONG STDMETHODCALLTYPE codec_AddRef(IDStorageCompressionCodec *iface)
{
    return InterlockedIncrement(&impl_from_IDStorageCompressionCodec(iface)->refcount);
}

static ULONG STDMETHODCALLTYPE codec_Release(IDStorageCompressionCodec *iface)
{
    struct dstorage_codec *codec = impl_from_IDStorageCompressionCodec(iface);
    LONG ref = InterlockedDecrement(&codec->refcount);

    if (!ref) HeapFree(GetProcessHeap(), 0, codec);
    return ref;
}

static HRESULT STDMETHODCALLTYPE codec_CompressBuffer(IDStorageCompressionCodec *iface, const void *src,
                                                      SIZE_T src_size, DSTORAGE_COMPRESSION setting,
                                                      void *dst, SIZE_T dst_size, SIZE_T *written)
{
    struct dstorage_codec *codec = impl_from_IDStorageCompressionCodec(iface);
    struct dsw_codec_params params;

    if (!written || (!src && src_size) || !dst) return E_POINTER;
    *written = 0;
    memset(&params, 0, sizeof(params));
    switch (setting) {
    case DSTORAGE_COMPRESSION_FASTEST: params.level = 1; break;
    case DSTORAGE_COMPRESSION_DEFAULT: params.level = 9; break;
    case DSTORAGE_COMPRESSION_BEST_RATIO: params.level = 12; break;
    default: return E_INVALIDARG;
    }
    params.src = (UINT64)(ULONG_PTR)src;
    params.src_size = src_size;
    params.dst = (UINT64)(ULONG_PTR)dst;
    params.dst_size = dst_size;
    params.threads = codec->threads;
    if (dstorage_unix_call(DSW_FN_CODEC_COMPRESS, &params)) return E_FAIL;
    if (SUCCEEDED(params.hr)) *written = (SIZE_T)params.written;
    WINE_TRACE("%Iu bytes, level %u -> %#x, %I64u bytes\n", src_size, params.level, params.hr, params.written);
    return params.hr;
}

static HRESULT STDMETHODCALLTYPE codec_DecompressBuffer(IDStorageCompressionCodec *iface, const void *src,
                                                        SIZE_T src_size, void *dst, SIZE_T dst_size,
                                                        SIZE_T *written)
{
    struct dstorage_codec *codec = impl_from_IDStorageCompressionCodec(iface);
    struct dsw_codec_params params;

    if (!written || !src || (!dst && dst_size)) return E_POINTER;
    *written = 0;
    memset(&params, 0, sizeof(params));
    params.src = (UINT64)(ULONG_PTR)src;
    params.src_size = src_size;
    params.dst = (UINT64)(ULONG_PTR)dst;
    params.dst_size = dst_size;
    params.threads = codec->threads;
    if (dstorage_unix_call(DSW_FN_CODEC_DECOMPRESS, &params)) return E_FAIL;
    if (SUCCEEDED(params.hr)) *written = (SIZE_T)params.written;
    WINE_TRACE("%Iu bytes -> %#x, %I64u bytes\n", src_size, params.hr, params.written);
    return params.hr;
}

static SIZE_T STDMETHODCALLTYPE codec_CompressBufferBound(IDStorageCompressionCodec *iface, SIZE_T size)
{
    struct dsw_codec_params params;

    (void)iface;
    memset(&params, 0, sizeof(params));
    params.src_size = size;
    if (dstorage_unix_call(DSW_FN_CODEC_BOUND, &params) || FAILED(params.hr)) return 0;
    return (SIZE_T)params.written;
}

static const IDStorageCompressionCodecVtbl codec_vtbl = {
    codec_QueryInterface,
    codec_AddRef,
    codec_Release,
    codec_CompressBuffer,
    codec_DecompressBuffer,
    codec_CompressBufferBound,
};

HRESULT dstorage_codec_create(DSTORAGE_COMPRESSION_FORMAT format, UINT32 threads, REFIID riid, void **ppv)
{
    struct dstorage_codec *codec;

    if (format != DSTORAGE_COMPRESSION_FORMAT_GDEFLATE) {
        WINE_WARN("no built-in codec for format %u\n", format);
        return E_INVALIDARG;
    }
    if (!IsEqualGUID(riid, &IID_IDStorageCompressionCodec) && !IsEqualGUID(riid, &IID_IUnknown))
        return E_NOINTERFACE;
    codec = HeapAlloc(GetProcessHeap(), HEAP_ZERO_MEMORY, sizeof(*codec));
    if (!codec) return E_OUTOFMEMORY;
    codec->IDStorageCompressionCodec_iface.lpVtbl = &codec_vtbl;
    codec->refcount = 1;
    codec->threads = threads;
    *ppv = &codec->IDStorageCompressionCodec_iface;
    return S_OK;
}
