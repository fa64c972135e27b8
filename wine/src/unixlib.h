/*
 * unixlib.h - the contract between the two halves of the Wine builtin
 * dstorage.dll: the PE side (src/pe, Windows x64 code built with mingw-w64)
 * and the unix side (src/unix, dstorage.so, an ELF library linking
 * libds_runtime.a).
 *
 * The PE side calls __wine_unix_call_dispatcher(handle, code, params); Wine
 * runs __wine_unix_call_funcs[code](params) on the same thread, on Wine's
 * unix stack (about 1 MiB). Both halves share one address space, so pointers
 * pass as 64-bit integers, but C types differ between the two ABIs (`long`
 * is 32-bit on Windows, 64-bit on Linux; there is no HANDLE on Linux), so
 * every struct here uses fixed-width types only, and the layout of each is
 * pinned by the static assertions at the end (compiled on both sides).
 *
 * Every call returns an NTSTATUS-like value: 0 when the call was carried
 * out (its DirectStorage result is then in the params' `hr`), or
 * DSW_STATUS_* when the parameters themselves were unusable.
 */
#ifndef DSW_UNIXLIB_H
#define DSW_UNIXLIB_H

#include <stddef.h>
#include <stdint.h>

/* Bumped whenever a struct or a function code below changes. */
#define DSW_UNIX_ABI_VERSION 2u
/* What the unix side answers to DSW_FN_INIT; the tests look for it. */
#define DSW_UNIX_MARKER "ds-runtime dstorage.so"

/* Bytes of a DSTORAGE_REQUEST (copied for the error record). */
#define DSW_APP_REQUEST_SIZE 104u
/* WCHARs of DSTORAGE_ERROR_PARAMETERS_REQUEST::Filename (MAX_PATH). */
#define DSW_FILENAME_CHARS 260u
/* Bytes of DSTORAGE_ERROR_PARAMETERS_REQUEST::RequestName. */
#define DSW_NAME_BYTES 64u
/* Bytes of the message texts handed to the PE side. */
#define DSW_MESSAGE_BYTES 256u

/* Call status codes (NTSTATUS values). */
#define DSW_STATUS_OK 0x00000000u
#define DSW_STATUS_INVALID_HANDLE 0xC0000008u
#define DSW_STATUS_INVALID_PARAMETER 0xC000000Du
#define DSW_STATUS_NO_MEMORY 0xC0000017u

enum dsw_func {
    DSW_FN_INIT,            /* struct dsw_init_params */
    DSW_FN_FILE_OPEN,       /* struct dsw_file_open_params */
    DSW_FN_FILE_CLOSE,      /* struct dsw_handle_params */
    DSW_FN_FILE_RELEASE,    /* struct dsw_handle_params */
    DSW_FN_QUEUE_CREATE,    /* struct dsw_queue_create_params */
    DSW_FN_QUEUE_CLOSE,     /* struct dsw_handle_params */
    DSW_FN_QUEUE_RELEASE,   /* struct dsw_handle_params: close; the free follows as an action */
    DSW_FN_ENQUEUE,         /* struct dsw_enqueue_params */
    DSW_FN_GATE_OPEN,       /* struct dsw_gate_params */
    DSW_FN_ENQUEUE_ORDER,   /* struct dsw_order_params */
    DSW_FN_SUBMIT,          /* struct dsw_handle_params */
    DSW_FN_CANCEL_TAG,      /* struct dsw_cancel_params */
    DSW_FN_QUERY,           /* struct dsw_query_params */
    DSW_FN_ERROR_RECORD,    /* struct dsw_error_record_params */
    DSW_FN_COMMAND_FAILED,  /* struct dsw_command_failed_params */
    DSW_FN_WAIT_ACTIONS,    /* struct dsw_wait_actions_params */
    DSW_FN_WAIT_COPIES,     /* struct dsw_wait_copies_params */
    DSW_FN_COPIES_DONE,     /* struct dsw_copies_done_params */
    DSW_FN_CUSTOM_GET,      /* struct dsw_custom_get_params */
    DSW_FN_CUSTOM_RESULTS,  /* struct dsw_custom_results_params */
    DSW_FN_CODEC_COMPRESS,  /* struct dsw_codec_params */
    DSW_FN_CODEC_DECOMPRESS,/* struct dsw_codec_params */
    DSW_FN_CODEC_BOUND,     /* struct dsw_codec_params */
    DSW_FN_QUEUE_FREE,      /* struct dsw_handle_params: from the completion thread, after DSW_ACT_QUEUE_FREE */
    DSW_FN_COUNT
};

/* ---- DSW_FN_INIT: identify the unix side, set its log level ---------------- */

/* Log levels for the runtime's messages, which the unix side writes to
 * stderr (runtime threads are not Wine threads and must not use Wine's
 * debug channels). Chosen by the PE side from WINEDEBUG's "dstorage"
 * channel. */
#define DSW_LOG_ERROR 1u
#define DSW_LOG_WARN 2u
#define DSW_LOG_DEBUG 4u

struct dsw_init_params {
    uint32_t log_level;                /* in: DSW_LOG_* */
    uint32_t abi_version;              /* out: DSW_UNIX_ABI_VERSION */
    char marker[64];                   /* out: DSW_UNIX_MARKER */
    char runtime_version[64];          /* out: the runtime's version */
    char unix_path[256];               /* out: where dstorage.so was loaded from */
};

/* ---- files --------------------------------------------------------------- */

struct dsw_file_open_params {
    uint64_t win_handle;   /* in: Windows file HANDLE (GENERIC_READ) */
    uint64_t unix_path;    /* in: const char *, the Unix path for messages (0 if unknown) */
    uint64_t win_path;     /* in: const uint16_t *, the path given to OpenFile */
    uint64_t file;         /* out: unix-side file handle */
    int32_t hr;            /* out: HRESULT */
    uint32_t pad;
    char message[DSW_MESSAGE_BYTES]; /* out: why it failed */
};

/* Any call that takes one unix-side handle. */
struct dsw_handle_params {
    uint64_t handle;
    int32_t hr;            /* out */
    uint32_t pad;
};

/* ---- queues -------------------------------------------------------------- */

/* I/O backend of a queue (environment variable DSTORAGE_WINE_BACKEND). */
#define DSW_BACKEND_AUTO 0u   /* io_uring, falling back to pread */
#define DSW_BACKEND_PREAD 1u
#define DSW_BACKEND_IO_URING 2u

struct dsw_queue_create_params {
    uint64_t pe_queue;         /* in: the PE queue object (cookie in actions) */
    uint64_t name;             /* in: const char *, may be 0 */
    uint64_t error_event;      /* in: HANDLE of the queue's error event (for DSW_ACT_ERROR) */
    uint32_t capacity;         /* in: 128..8192 */
    int32_t priority;          /* in: DSTORAGE_PRIORITY */
    uint32_t source_type;      /* in: DSTORAGE_REQUEST_SOURCE_* */
    uint32_t backend;          /* in: DSW_BACKEND_* */
    uint32_t io_threads;       /* in: 0 = runtime default */
    int32_t cpu_threads;       /* in: decompression threads, 0 default, -1 app decompresses */
    uint32_t staging_size;     /* in: largest compressed request in bytes */
    uint32_t pad;
    uint64_t queue;            /* out */
    int32_t hr;                /* out */
    uint32_t pad2;
    char message[DSW_MESSAGE_BYTES]; /* out */
};

/* One request as translated by the PE side. */
#define DSW_DEST_HOST 0u   /* dst_ptr is the app's memory */
#define DSW_DEST_GPU 1u    /* dst_ptr is upload-heap staging; a GPU copy follows */

struct dsw_request {
    uint64_t app_request;      /* const DSTORAGE_REQUEST * (copied for the error record) */
    uint64_t file;             /* unix-side file handle; 0 for memory sources */
    uint64_t src_offset;       /* file offset */
    uint64_t src_ptr;          /* memory source */
    uint64_t dst_ptr;          /* host destination */
    uint64_t tag;              /* CancellationTag */
    uint64_t name;             /* const char *, may be 0 */
    uint64_t gpu_resource;     /* DSW_DEST_GPU: ID3D12Resource * (cookie) */
    uint64_t gpu_offset;       /* DSW_DEST_GPU: offset in the resource */
    uint64_t staging_offset;   /* DSW_DEST_GPU: offset of dst_ptr in the upload ring */
    uint32_t src_size;
    uint32_t dst_size;
    uint32_t uncompressed_size;
    int32_t hr;                /* nonzero: the PE side already refused it with this HRESULT */
    uint8_t format;            /* DSTORAGE_COMPRESSION_FORMAT */
    uint8_t dest;              /* DSW_DEST_* */
    uint8_t app_decompresses;  /* 1: handed to the custom decompression queue */
    uint8_t pad;
    uint32_t gate_index;       /* requests of a gate: position in the EnqueueRequests array */
};

/*
 * Enqueues requests. EnqueueRequests with a fence that has not reached its
 * value goes in three steps: reserve (requests = 0, count = n, reserve = 1)
 * returns a gate that keeps the n positions in enqueue order, so ordering
 * commands enqueued later wait for them; once the fence fires, the PE side
 * enqueues the requests with `gate` set (each with its gate_index), then
 * DSW_FN_GATE_OPEN ends the reservation.
 */
struct dsw_enqueue_params {
    uint64_t queue;
    uint64_t requests;         /* struct dsw_request[count] */
    uint32_t count;
    uint32_t reserve;          /* 1: only reserve `count` positions; the gate comes back in `gate` */
    uint64_t gate;             /* in: the requests belong to this gate; out after a reserve */
    int32_t hr;                /* out */
    uint32_t pad;
};

struct dsw_gate_params {
    uint64_t queue;
    uint64_t gate;
    int32_t hr;                /* out */
    uint32_t pad;
};

/* Ordering commands. */
#define DSW_ORDER_STATUS 1u
#define DSW_ORDER_SIGNAL 2u
#define DSW_ORDER_EVENT 3u

struct dsw_order_params {
    uint64_t queue;
    uint32_t kind;             /* DSW_ORDER_* */
    uint32_t index;            /* status index */
    uint64_t object;           /* status array / fence / event HANDLE (cookie) */
    uint64_t status_slot;      /* DSW_ORDER_STATUS: int32_t * receiving the HRESULT */
    uint64_t value;            /* DSW_ORDER_SIGNAL: fence value */
    int32_t hr;                /* in: nonzero records this failure instead (bad array, NULL fence) */
    uint32_t pad;
};

struct dsw_cancel_params {
    uint64_t queue;
    uint64_t mask;
    uint64_t value;
    uint32_t cancelled;        /* out: requests cancelled */
    uint32_t pad;
};

struct dsw_query_params {
    uint64_t queue;
    uint32_t empty_slots;      /* out */
    uint32_t until_auto_submit;/* out */
};

/* The first failure (in enqueue order) and the failure count since the last
 * retrieval; the PE side turns it into a DSTORAGE_ERROR_RECORD. */
struct dsw_error_record_params {
    uint64_t queue;
    uint32_t failure_count;    /* out */
    int32_t hr;                /* out: HRESULT of the first failure */
    int32_t command_type;      /* out: DSTORAGE_COMMAND_TYPE */
    uint32_t index;            /* out: status index */
    uint64_t object;           /* out: status array / fence / event */
    uint64_t value;            /* out: fence value */
    uint16_t filename[DSW_FILENAME_CHARS]; /* out */
    char request_name[DSW_NAME_BYTES];     /* out */
    uint8_t request[DSW_APP_REQUEST_SIZE]; /* out: the DSTORAGE_REQUEST as enqueued */
    char message[DSW_MESSAGE_BYTES];       /* out: the runtime's text */
};

/* The PE side failed to deliver an ordering command (fence Signal or
 * SetEvent failed). */
struct dsw_command_failed_params {
    uint64_t queue;
    uint64_t seq;              /* from the action */
    int32_t hr;
    uint32_t kind;             /* DSW_ORDER_* */
    uint64_t object;
    uint64_t value;
};

/* ---- completion thread ----------------------------------------------------- */

/* What a Wine thread must do on the PE side; runtime threads queue these
 * because they must never call into Wine. */
#define DSW_ACT_SET_EVENT 1u       /* SetEvent(object); failure -> DSW_FN_COMMAND_FAILED */
#define DSW_ACT_SIGNAL 2u          /* ((ID3D12Fence *)object)->Signal(value), then Release */
#define DSW_ACT_RELEASE 3u         /* IUnknown_Release(object) (a status array) */
#define DSW_ACT_ERROR 4u           /* a failure: SetEvent(queue's error event); message */
#define DSW_ACT_CUSTOM_EVENT 5u    /* SetEvent(custom decompression queue event) */
#define DSW_ACT_QUEUE_FREE 6u      /* free pe_queue, then DSW_FN_QUEUE_FREE(unix_queue): no action
                                    * queued before names the queue any more */

struct dsw_action {
    uint32_t type;             /* DSW_ACT_* */
    int32_t hr;
    uint64_t pe_queue;
    uint64_t unix_queue;
    uint64_t object;
    uint64_t value;
    uint64_t seq;
    char message[DSW_MESSAGE_BYTES]; /* DSW_ACT_ERROR */
};

struct dsw_wait_actions_params {
    uint64_t actions;          /* struct dsw_action[max] */
    uint32_t max;
    uint32_t count;            /* out; blocks until at least one */
};

/* GPU copies (buffer destinations), run by the queue's copy thread. */
struct dsw_copy {
    uint64_t ticket;           /* give back in DSW_FN_COPIES_DONE */
    uint64_t resource;         /* ID3D12Resource * */
    uint64_t dst_offset;
    uint64_t staging_offset;   /* offset of the data in the upload ring */
    uint64_t size;
    uint32_t discard;          /* 1: no copy (the request failed or was cancelled), only free the staging */
    uint32_t pad;
};

struct dsw_wait_copies_params {
    uint64_t queue;
    uint64_t copies;           /* struct dsw_copy[max] */
    uint32_t max;
    uint32_t count;            /* out; 0 means the queue closed: end the thread */
};

struct dsw_copies_done_params {
    uint64_t queue;
    uint64_t tickets;          /* uint64_t[count] */
    uint32_t count;
    int32_t hr;                /* S_OK, or why the copies failed */
};

/* ---- custom decompression queue ---------------------------------------------- */

/* Same layout as DSTORAGE_CUSTOM_DECOMPRESSION_REQUEST. */
struct dsw_custom_request {
    uint64_t id;
    uint8_t format;
    uint8_t reserved[3];
    uint32_t flags;
    uint64_t src_size;
    uint64_t src_buffer;
    uint64_t dst_size;
    uint64_t dst_buffer;
};

/* Same layout as DSTORAGE_CUSTOM_DECOMPRESSION_RESULT. */
struct dsw_custom_result {
    uint64_t id;
    int32_t result;
    uint32_t pad;
};

struct dsw_custom_get_params {
    uint32_t flags;            /* DSTORAGE_GET_REQUEST_FLAGS */
    uint32_t max;
    uint64_t requests;         /* struct dsw_custom_request[max] */
    uint32_t count;            /* out */
    uint32_t remaining;        /* out: matching requests still waiting */
};

struct dsw_custom_results_params {
    uint64_t results;          /* struct dsw_custom_result[count] */
    uint32_t count;
    uint32_t unknown;          /* out: ids that were not handed out */
};

/* ---- compression codec ----------------------------------------------------- */

struct dsw_codec_params {
    uint64_t src;
    uint64_t src_size;
    uint64_t dst;
    uint64_t dst_size;
    uint32_t level;            /* GDeflate level 1..12 */
    uint32_t threads;          /* 0: default */
    uint64_t written;          /* out (DSW_FN_CODEC_BOUND: the bound) */
    int32_t hr;                /* out */
    uint32_t pad;
};

/* ---- layouts, pinned on both sides -------------------------------------------- */

#define DSW_ASSERT(expr) _Static_assert(expr, #expr)
DSW_ASSERT(sizeof(struct dsw_init_params) == 392);
DSW_ASSERT(sizeof(struct dsw_file_open_params) == 296);
DSW_ASSERT(sizeof(struct dsw_handle_params) == 16);
DSW_ASSERT(sizeof(struct dsw_queue_create_params) == 328);
DSW_ASSERT(sizeof(struct dsw_request) == 104);
DSW_ASSERT(offsetof(struct dsw_request, src_size) == 80);
DSW_ASSERT(offsetof(struct dsw_request, format) == 96);
DSW_ASSERT(sizeof(struct dsw_enqueue_params) == 40);
DSW_ASSERT(sizeof(struct dsw_gate_params) == 24);
DSW_ASSERT(sizeof(struct dsw_order_params) == 48);
DSW_ASSERT(sizeof(struct dsw_cancel_params) == 32);
DSW_ASSERT(sizeof(struct dsw_query_params) == 16);
DSW_ASSERT(offsetof(struct dsw_error_record_params, filename) == 40);
DSW_ASSERT(sizeof(struct dsw_error_record_params) == 40 + 520 + 64 + 104 + 256);
DSW_ASSERT(sizeof(struct dsw_command_failed_params) == 40);
DSW_ASSERT(sizeof(struct dsw_action) == 48 + DSW_MESSAGE_BYTES);
DSW_ASSERT(sizeof(struct dsw_wait_actions_params) == 16);
DSW_ASSERT(sizeof(struct dsw_copy) == 48);
DSW_ASSERT(sizeof(struct dsw_wait_copies_params) == 24);
DSW_ASSERT(sizeof(struct dsw_copies_done_params) == 24);
DSW_ASSERT(sizeof(struct dsw_custom_request) == 48);
DSW_ASSERT(offsetof(struct dsw_custom_request, flags) == 12);
DSW_ASSERT(offsetof(struct dsw_custom_request, dst_buffer) == 40);
DSW_ASSERT(sizeof(struct dsw_custom_result) == 16);
DSW_ASSERT(sizeof(struct dsw_custom_get_params) == 24);
DSW_ASSERT(sizeof(struct dsw_custom_results_params) == 16);
DSW_ASSERT(sizeof(struct dsw_codec_params) == 56);

#endif /* DSW_UNIXLIB_H */
