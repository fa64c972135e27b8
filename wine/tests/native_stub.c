/*
 * native_stub.c - a "native" dstorage.dll (not builtin-marked, no unix
 * side) for the negative control in tests/run.sh: a test program run next
 * to it with WINEDLLOVERRIDES=dstorage=n must refuse to run, proving the
 * programs notice when the builtin is not the dll that loaded.
 */
#include <windows.h>

__declspec(dllexport) HRESULT WINAPI DStorageGetFactory(REFIID riid, void **ppv)
{
    (void)riid;
    if (ppv) *ppv = NULL;
    return E_NOTIMPL;
}

__declspec(dllexport) HRESULT WINAPI DStorageSetConfiguration(const void *config)
{
    (void)config;
    return E_NOTIMPL;
}

__declspec(dllexport) HRESULT WINAPI DStorageSetConfiguration1(const void *config)
{
    (void)config;
    return E_NOTIMPL;
}

__declspec(dllexport) HRESULT WINAPI DStorageCreateCompressionCodec(UINT8 format, UINT32 threads, REFIID riid,
                                                                   void **ppv)
{
    (void)format, (void)threads, (void)riid;
    if (ppv) *ppv = NULL;
    return E_NOTIMPL;
}
