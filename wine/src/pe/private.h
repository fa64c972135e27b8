/*
 * private.h - objects and helpers shared by the PE side of the builtin
 * dstorage.dll.
 *
 * The PE side is thin: it implements the COM objects the game sees,
 * validates and translates their arguments into the fixed-width structs of
 * ../unixlib.h, and runs the Wine threads that do what runtime threads may
 * not (SetEvent, ID3D12Fence::Signal, D3D12 copies). Every request, status
 * entry, fence value and error record lives on the unix side, in
 * dstorage.so, on top of ds-runtime.
 */
#ifndef DSTORAGE_PE_PRIVATE_H
#define DSTORAGE_PE_PRIVATE_H

#define COBJMACROS
#include <windows.h>
#include <d3d12.h>
#include <stdint.h>
#include <string.h>

#include "dstorage_api.h"
#include "unixlib.h"
#include "wine_unixcall.h"
#include "wine/debug.h"

/* ---- exports (main.c) ------------------------------------------------------ */

HRESULT WINAPI DStorageGetFactory(REFIID riid, void **ppv);
HRESULT WINAPI DStorageSetConfiguration(const DSTORAGE_CONFIGURATION *config);
HRESULT WINAPI DStorageSetConfiguration1(const DSTORAGE_CONFIGURATION1 *config);
HRESULT WINAPI DStorageCreateCompressionCodec(DSTORAGE_COMPRESSION_FORMAT format, UINT32 threads,
                                              REFIID riid, void **ppv);
HRESULT WINAPI wine_dstorage_runtime_info(char *buffer, UINT32 size);

/* ---- process-wide state (main.c) ---------------------------------------- */

/* The configuration (DStorageSetConfiguration1) and the factory's settings
 * that queues pick up when they are created. */
struct dstorage_settings {
    DSTORAGE_CONFIGURATION1 config;
    UINT32 staging_size;
    UINT32 debug_flags;
    UINT32 backend; /* DSW_BACKEND_*, from DSTORAGE_WINE_BACKEND */
};

extern struct dstorage_settings dstorage_settings;

/* Status of the unix side (0: loaded). */
extern NTSTATUS dstorage_unix_status;

/* Number of live queues and files: configuration and staging size are
 * locked while it is not zero (E_DSTORAGE_STAGING_BUFFER_LOCKED). */
extern LONG dstorage_live_objects;

/* Runs a unix call; logs and returns the status when the call itself
 * failed (unix side missing or parameters refused). */
NTSTATUS dstorage_unix_call(enum dsw_func code, void *params);

/* Starts the completion thread once (InitOnce). */
HRESULT dstorage_start_completion_thread(void);

/* HRESULT of a failed NTSTATUS from a unix call. */
static inline HRESULT hresult_from_status(NTSTATUS status)
{
    return HRESULT_FROM_NT(status);
}

/* Copies a string into a fixed buffer, always NUL-terminated. */
static inline void copy_cstr(char *dst, size_t size, const char *src)
{
    size_t n = 0;
    if (src)
        while (n + 1 < size && src[n]) {
            dst[n] = src[n];
            n++;
        }
    dst[n] = 0;
}

/* ---- objects ------------------------------------------------------------------ */

struct dstorage_file {
    IDStorageFile IDStorageFile_iface;
    LONG refcount;
    HANDLE handle;     /* Windows handle; closed by Close() */
    UINT64 unix_file;  /* unix-side file */
    LONG closed;
    WCHAR *path;
};

/* The file object behind an app's IDStorageFile pointer, or NULL when it is
 * not one of ours. */
struct dstorage_file *dstorage_file_from_iface(IDStorageFile *iface);
HRESULT dstorage_file_open(const WCHAR *path, REFIID riid, void **ppv);

struct dstorage_status_array {
    IDStorageStatusArray IDStorageStatusArray_iface;
    LONG refcount;
    UINT32 capacity;
    char name[DSTORAGE_REQUEST_MAX_NAME];
    /* One HRESULT per entry, written by the unix side with release stores. */
    volatile LONG results[];
};

struct dstorage_status_array *dstorage_status_array_from_iface(IDStorageStatusArray *iface);
HRESULT dstorage_status_array_create(UINT32 capacity, const char *name, REFIID riid, void **ppv);

struct dstorage_gpu; /* gpu.c */

/* A fence wait of EnqueueRequests: requests held on the unix side until the
 * fence reaches the value. */
struct dstorage_gate {
    struct dstorage_gate *next;
    struct dstorage_queue *queue;
    UINT64 unix_gate;
    HANDLE event;
    HANDLE wait;
    LONG fired;
};

/* Requests handed to the unix side per call. */
#define DSTORAGE_PENDING_MAX 64

struct dstorage_queue {
    IDStorageQueue3 IDStorageQueue3_iface;
    LONG refcount;
    DSTORAGE_QUEUE_DESC desc;
    char name[DSTORAGE_REQUEST_MAX_NAME];
    UINT64 unix_queue;
    HANDLE error_event;
    LONG closed;
    /* D3D12 copy engine for buffer destinations; NULL when the queue has no
     * Device or the Device is not usable (gpu_error says why). */
    struct dstorage_gpu *gpu;
    HRESULT gpu_error;
    CRITICAL_SECTION gates_lock;
    struct dstorage_gate *gates;
    /* Requests translated but not yet handed to the unix side: one unix
     * call per DSTORAGE_PENDING_MAX requests. Flushed (under the lock)
     * before every call that orders, submits, cancels or observes them. */
    CRITICAL_SECTION pending_lock;
    UINT32 pending_count;
    DSTORAGE_REQUEST pending_copies[DSTORAGE_PENDING_MAX]; /* as enqueued, for the error record */
    struct dsw_request pending[DSTORAGE_PENDING_MAX];
};

HRESULT dstorage_queue_create(const DSTORAGE_QUEUE_DESC *desc, REFIID riid, void **ppv);
/* Frees the queue's memory (on the completion thread, once the unix side
 * delivered its last action for it). */
void dstorage_queue_free(struct dstorage_queue *queue);

HRESULT dstorage_custom_queue_query(REFIID riid, void **ppv);
void dstorage_custom_queue_signal(void);

HRESULT dstorage_codec_create(DSTORAGE_COMPRESSION_FORMAT format, UINT32 threads, REFIID riid,
                              void **ppv);

/* ---- GPU destinations (gpu.c) ------------------------------------------------- */

/* Creates the copy engine on the app's device: a COPY command queue, an
 * upload-heap staging ring of `staging_size` bytes, a fence and the copy
 * thread. Fails (and the queue refuses buffer destinations) when the device
 * cannot do any of that. */
HRESULT dstorage_gpu_create(struct dstorage_queue *queue, ID3D12Device *device,
                            UINT32 staging_size, struct dstorage_gpu **out);
/* Checks a buffer destination and reserves staging for it, filling the
 * GPU fields of `out`. While the ring is full it returns S_FALSE, or waits
 * for space when `may_block` (the caller submits first, so what holds the
 * space can finish). */
HRESULT dstorage_gpu_prepare(struct dstorage_gpu *gpu, const DSTORAGE_DESTINATION_BUFFER *dst,
                             struct dsw_request *out, BOOL may_block);
/* Ends the copy thread (after the unix side closed the queue) and frees
 * the engine. */
void dstorage_gpu_destroy(struct dstorage_gpu *gpu);

#endif /* DSTORAGE_PE_PRIVATE_H */
