/*
 * private.h - the unix side of the builtin dstorage.dll (dstorage.so):
 * shared declarations.
 *
 * This library runs inside a Wine process but is plain Linux code: it is
 * entered through Wine's unix calls (__wine_unix_call_funcs, on Wine
 * threads, on a stack of about 1 MiB) and from ds-runtime's own threads
 * (request callbacks, markers). Runtime threads never call into Wine; they
 * queue "actions" that the PE side's completion thread picks up
 * (DSW_FN_WAIT_ACTIONS). See docs/wine_integration_guide.md for the design.
 */
#ifndef DSTORAGE_UNIX_PRIVATE_H
#define DSTORAGE_UNIX_PRIVATE_H

#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>

#include "ds_runtime.h"
#include "unixlib.h"

/* What a unix call returns to Wine (an NTSTATUS). */
typedef uint32_t NTSTATUS_t;

/* ---- Wine (ntdll.so exports use the MS x64 ABI) ----------------------------------------- */

#define WINE_API __attribute__((ms_abi))
/* Gives a dup()ed Unix descriptor of a Windows handle (the caller closes it). */
extern WINE_API uint32_t wine_server_handle_to_fd(void *handle, unsigned int access, int *unix_fd,
                                                  unsigned int *options);
#define WINE_FILE_READ_DATA 0x0001u

/* ---- HRESULTs ------------------------------------------------------------------------------ */

typedef int32_t hresult;
#define HR(x) ((hresult)(x))
#define S_OK_ HR(0)
#define E_PENDING_ HR(0x8000000Au)
#define E_FAIL_ HR(0x80004005u)
#define E_INVALIDARG_ HR(0x80070057u)
#define E_OUTOFMEMORY_ HR(0x8007000Eu)
#define E_ACCESSDENIED_ HR(0x80070005u)
#define E_NOT_SUFFICIENT_BUFFER_ HR(0x8007007Au)
#define E_FILE_NOT_FOUND_ HR(0x80070002u)  /* HRESULT_FROM_WIN32(ERROR_FILE_NOT_FOUND) */
#define E_READ_FAULT_ HR(0x8007001Eu)      /* HRESULT_FROM_WIN32(ERROR_READ_FAULT) */
#define E_DSTORAGE_END_OF_FILE_ HR(0x89240007u)
#define E_DSTORAGE_ACCESS_VIOLATION_ HR(0x89240009u)
#define E_DSTORAGE_FILE_NOT_OPEN_ HR(0x8924000Bu)
#define E_DSTORAGE_QUEUE_CLOSED_ HR(0x89240010u)
#define E_DSTORAGE_IO_TIMEOUT_ HR(0x89240016u)
#define E_DSTORAGE_INVALID_FILE_HANDLE_ HR(0x89240017u)
#define E_DSTORAGE_STAGING_BUFFER_TOO_SMALL_ HR(0x89240021u)
#define E_DSTORAGE_DECOMPRESSION_ERROR_ HR(0x89240030u)
#define E_DSTORAGE_INVALID_DESTINATION_TYPE_ HR(0x89240040u)
#define FAILED_(hr) ((hr) < 0)

/* DSTORAGE_COMMAND_TYPE */
#define CMD_REQUEST 0
#define CMD_STATUS 1
#define CMD_SIGNAL 2
#define CMD_EVENT 3

/* DSTORAGE_CUSTOM_DECOMPRESSION_FLAG_DEST_IN_UPLOAD_HEAP */
#define CUSTOM_FLAG_DEST_IN_UPLOAD_HEAP 1u
/* DSTORAGE_GET_REQUEST_FLAG_* */
#define GET_SELECT_CUSTOM 1u
#define GET_SELECT_BUILTIN 2u
/* DSTORAGE_CUSTOM_COMPRESSION_0 */
#define FORMAT_CUSTOM_0 0x80u
#define FORMAT_NONE 0u
#define FORMAT_GDEFLATE 1u

/* HRESULT of a runtime result code (and its errno). */
hresult hresult_of(ds_result result, int32_t os_error);

/* The detailed message of this thread's last runtime failure. */
void last_error_text(char *buf, size_t size);

/* ---- logging (stderr; safe on any thread) ----------------------------------------------------- */

extern uint32_t log_level; /* DSW_LOG_* bits */
void log_printf(uint32_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define ERR(...) log_printf(DSW_LOG_ERROR, __VA_ARGS__)
#define WARN(...) log_printf(DSW_LOG_WARN, __VA_ARGS__)
#define TRACE(...) log_printf(DSW_LOG_DEBUG, __VA_ARGS__)

/* ---- waiting on Wine threads (main.c) ------------------------------------------------------- */

/* An eventfd; wake_signal adds one, wake_wait blocks until it is non-zero
 * and clears it. The only way a Wine thread blocks in this library. */
int wake_create(void);
void wake_signal(int fd);
void wake_wait(int fd);
/* Runs fn(arg) on a new pthread (with `stack_size` bytes of stack, 0: the
 * default) and waits for it through an eventfd; returns 0 or an errno. */
int run_on_helper_thread(void *(*fn)(void *), void *arg, size_t stack_size);

/* ---- actions for the PE completion thread (main.c) ----------------------------------------- */

void push_action(const struct dsw_action *action);

/* ---- files (file.c) --------------------------------------------------------------------------- */

struct ufile {
    uint32_t magic;
    int refs;                              /* atomic: the PE object + live requests */
    struct ds_file *file;
    uint16_t win_path[DSW_FILENAME_CHARS]; /* for the error record, cut to fit */
};

void ufile_ref(struct ufile *file);
void ufile_unref(struct ufile *file);
struct ufile *ufile_from_handle(uint64_t handle);

/* ---- requests and queues (queue.c) --------------------------------------------------------- */

struct uqueue;
struct epoch;

/* Where a request is. Requests in CUSTOM_* and COPY_* are "tails": the
 * runtime is done with them but ordering commands after them still wait. */
enum ctx_state {
    CTX_RUNTIME,      /* enqueued in the runtime */
    CTX_CUSTOM_READY, /* compressed bytes read, waiting for GetRequests */
    CTX_CUSTOM_APP,   /* handed to the app's decompressor */
    CTX_COPY_QUEUED,  /* waiting for the copy thread */
    CTX_COPY_RUNNING, /* taken by the copy thread */
};

struct uctx {
    struct uqueue *queue;   /* NULL once orphaned by a queue close */
    struct epoch *epoch;    /* ordering window it belongs to */
    uint64_t seq;           /* position in enqueue order */
    uint64_t tag;
    struct ufile *file;     /* referenced; NULL for memory sources */
    enum ctx_state state;
    int cancelled;          /* atomic: CancelRequestsWithTag matched it in a tail */
    uint32_t format, dest;
    int app_decompresses;
    uint64_t src_offset, src_size;
    const void *src;        /* custom decompression: the compressed bytes */
    void *staging;          /* malloc'ed bytes read for the app's decompressor */
    uint64_t dst_ptr, dst_size;
    uint64_t gpu_resource, gpu_offset, staging_offset;
    uint8_t app_request[DSW_APP_REQUEST_SIZE];
    char name[DS_NAME_CAPACITY];
    /* custom decompression list */
    struct uctx *prev, *next;
};

/* A custom-decompression request came back from the app. */
void queue_custom_done(struct uctx *ctx, hresult result);
/* Frees a context that never reached a tail or whose tail ended. */
void ctx_free(struct uctx *ctx);

NTSTATUS_t queue_create(void *args);
NTSTATUS_t queue_close(void *args);
NTSTATUS_t queue_release(void *args);
NTSTATUS_t queue_free(void *args);
NTSTATUS_t queue_enqueue(void *args);
NTSTATUS_t queue_gate_open(void *args);
NTSTATUS_t queue_enqueue_order(void *args);
NTSTATUS_t queue_submit(void *args);
NTSTATUS_t queue_cancel_tag(void *args);
NTSTATUS_t queue_query(void *args);
NTSTATUS_t queue_error_record(void *args);
NTSTATUS_t queue_command_failed(void *args);
NTSTATUS_t queue_wait_copies(void *args);
NTSTATUS_t queue_copies_done(void *args);

/* ---- the custom decompression queue (custom.c) ------------------------------------------ */

/* Adds a request whose compressed bytes are ready for the app. */
void custom_add(struct uctx *ctx);
/* Takes the ready requests of `queue` matching the tag out of the list and
 * marks handed-out ones cancelled; returns the taken ones, linked by next. */
struct uctx *custom_cancel(struct uqueue *queue, uint64_t mask, uint64_t value);
/* At close: takes every ready request of `queue` (returned, linked by next)
 * and orphans the handed-out ones. */
struct uctx *custom_detach(struct uqueue *queue);
NTSTATUS_t custom_get(void *args);
NTSTATUS_t custom_results(void *args);

/* ---- files and codec entry points ---------------------------------------------------------- */

NTSTATUS_t file_open(void *args);
NTSTATUS_t file_close(void *args);
NTSTATUS_t file_release(void *args);
NTSTATUS_t codec_compress(void *args);
NTSTATUS_t codec_decompress(void *args);
NTSTATUS_t codec_bound(void *args);

#endif /* DSTORAGE_UNIX_PRIVATE_H */
