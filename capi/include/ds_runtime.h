/*
 * ds_runtime.h: the C ABI of ds-runtime (libds_runtime.a / libds_runtime.so).
 *
 * GENERATED FILE: do not edit. Produced by cbindgen from capi/src (settings in
 * capi/cbindgen.toml); regenerate with
 *     DS_BLESS_HEADER=1 cargo test -p ds-capi --test header
 * CI fails when this copy differs from the generator's output.
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */

#ifndef DS_RUNTIME_H
#define DS_RUNTIME_H

#include <stdint.h>
/*
 * ABI rules (the full text, with examples, is docs/abi.md).
 *
 * Types. Only fixed-width integers, pointers and char arrays cross the ABI.
 * "Enums" are int32_t/uint32_t values with #defines; values are never
 * renumbered. Structs that may grow start with uint32_t struct_size: set it
 * to sizeof(the struct) as your header declares it. The library accepts any
 * size at least the struct's first published layout (smaller: DS_ERR_STRUCT_SIZE),
 * reads input fields it knows within your size (missing tail = zero) and
 * writes output structs only up to your size. Zero-initialise structs: zero is
 * the default of every field.
 *
 * Results. Every function returning ds_result returns DS_OK (0) or a
 * positive DS_ERR_* code; codes are stable. ds_result_text() gives a code's
 * fixed text; ds_last_error_message() the detailed text of the last failure
 * on the calling thread (with file, offset, errno); ds_last_os_error() its errno.
 *
 * Out-parameters are written only on success; on failure they are untouched.
 * Out-pointers documented "may be NULL" are optional; others must not be NULL
 * (DS_ERR_NULL_ARGUMENT).
 *
 * NULL. A NULL handle or required pointer gives DS_ERR_NULL_ARGUMENT. NULL
 * config pointers mean "all defaults". A NULL name means "no name".
 *
 * Ownership. Handles (ds_backend, ds_queue, ds_file, ds_status_array,
 * ds_fence) are created by ds_*_create / ds_make_* / ds_file_open* and owned
 * by the caller until the matching *_release. Handles are checked on every
 * call and never dereferenced by the library: a released, foreign or bogus
 * handle gives DS_ERR_BAD_HANDLE (so a double release is reported, never
 * undefined). Objects used by live requests or other objects (a file by its
 * requests, a status array or fence by enqueued commands, a backend's device
 * by its queues) stay alive internally until those end; releasing a handle
 * early is safe. Strings passed in are copied; strings passed out are
 * copied into caller buffers or are static.
 *
 * Memory of requests. A request's source and destination memory (and a
 * write's data) must stay valid, and a destination untouched by the caller,
 * from ds_queue_enqueue until the request reaches a terminal state
 * (completed, failed, cancelled: its callback ran, its status entry / fence
 * / ds_queue_wait_all covering it returned, or ds_queue_wait collected it),
 * or until a strong cancel of it (ds_queue_cancel, ds_queue_cancel_by_tag,
 * ds_queue_cancel_all returned 1 / counted it) returned, or until
 * ds_queue_release returned. A weak cancel does not end this duty.
 *
 * Threads. Every function is thread-safe and may be called from any thread,
 * on the same handles at once. Callbacks (completion, failure, marker,
 * fence, log) run on library worker threads, or on the calling thread inside
 * ds_queue_enqueue / ds_queue_submit_all / cancel calls (ordering commands
 * and requests cancelled there), possibly on several threads at once.
 * Callbacks may call any function of this library except the blocking ones:
 * ds_queue_wait, ds_queue_wait_all, ds_fence_wait, ds_queue_release and
 * ds_set_log_callback give DS_ERR_IN_CALLBACK, ds_queue_enqueue_wait does
 * not wait, and a strong cancel does not wait for a request being written
 * (it leaves it alone). The log callback should only record the message; it
 * must not cancel requests. Callbacks must not unwind (C++ exceptions, longjmp).
 *
 * User data. It is the caller's; the library only passes it back. A
 * request's user_data is used until its callback returned or, if it will
 * not run (cancelled, weak-cancelled, shut down), until release_user_data
 * (when given) was called with it, exactly once. A refused request (an
 * error from ds_queue_enqueue) calls neither. A queue's on_complete /
 * on_failure data lives until ds_queue_release returned; a marker's until
 * it ran; a fence's until its release_user_data was called; the log
 * callback's until ds_set_log_callback replaced it.
 *
 * Panics never cross into C: each function catches them and returns
 * DS_ERR_PANIC (an internal bug; the message says where).
 */

/**
 * Most worker threads or rings a backend may ask for.
 */
#define DS_MAX_WORKERS 256

/**
 * `ds_io_uring_backend_config.flags`: read through O_DIRECT descriptors
 * (page cache bypassed; unaligned requests bounce through aligned memory).
 */
#define DS_IO_URING_DIRECT 1

/**
 * Kernel submission polling (SQPOLL), idle time `sqpoll_idle_ms`.
 */
#define DS_IO_URING_SQPOLL 2

/**
 * Do not register files in the rings' fixed file tables.
 */
#define DS_IO_URING_NO_FIXED_FILES 4

/**
 * Do not register the rings' staging pools as fixed buffers.
 */
#define DS_IO_URING_NO_FIXED_BUFFERS 8

/**
 * Stored blocks only.
 */
#define DS_GDEFLATE_LEVEL_STORE 0

/**
 * DirectStorage's FASTEST.
 */
#define DS_GDEFLATE_LEVEL_FASTEST 1

/**
 * DirectStorage's DEFAULT.
 */
#define DS_GDEFLATE_LEVEL_DEFAULT 9

/**
 * DirectStorage's BEST_RATIO (the highest level).
 */
#define DS_GDEFLATE_LEVEL_BEST 12

/**
 * Largest input one GDeflate stream holds (65535 tiles of 64 KiB).
 */
#define DS_GDEFLATE_MAX_INPUT (65535 * 65536)

/**
 * `ds_cufile_backend_config.flags`: fail when libcufile is missing instead
 * of reading through host memory.
 */
#define DS_CUFILE_REQUIRE_GDS 1

/**
 * Read with buffered descriptors instead of reopening files with O_DIRECT.
 */
#define DS_CUFILE_NO_DIRECT 2

/**
 * `ds_file_open_fd` flag: the library takes ownership of `fd` (closes it
 * when the file and every request on it are gone) instead of duplicating it.
 */
#define DS_FILE_TAKE_FD 1

/**
 * Log levels (the `log` crate's numbers): off.
 */
#define DS_LOG_OFF 0

/**
 * Errors.
 */
#define DS_LOG_ERROR 1

/**
 * Warnings (every failed request logs one).
 */
#define DS_LOG_WARN 2

/**
 * Information.
 */
#define DS_LOG_INFO 3

/**
 * Debugging (queue creation and shutdown).
 */
#define DS_LOG_DEBUG 4

/**
 * Tracing.
 */
#define DS_LOG_TRACE 5

/**
 * Most entries of one status array.
 */
#define DS_MAX_STATUS_ENTRIES (1 << 20)

/**
 * Status entry states (`ds_status_array_get`): never enqueued.
 */
#define DS_STATUS_IDLE 0

/**
 * Enqueued; requests before it still running.
 */
#define DS_STATUS_PENDING 1

/**
 * Every request since the previous entry completed or was cancelled.
 */
#define DS_STATUS_COMPLETE 2

/**
 * A request since the previous entry failed.
 */
#define DS_STATUS_FAILED 3

/**
 * A timeout that never expires.
 */
#define DS_INFINITE 18446744073709551615ull

/**
 * Smallest queue capacity.
 */
#define DS_MIN_QUEUE_CAPACITY 128

/**
 * Largest queue capacity.
 */
#define DS_MAX_QUEUE_CAPACITY 8192

/**
 * `ds_queue_poll` states.
 */
#define DS_REQUEST_UNKNOWN 0

/**
 * Enqueued, not submitted.
 */
#define DS_REQUEST_PENDING 1

/**
 * Submitted, waiting for an executor.
 */
#define DS_REQUEST_SUBMITTED 2

/**
 * Being executed.
 */
#define DS_REQUEST_IN_FLIGHT 3

/**
 * Completed (kept completion not collected yet).
 */
#define DS_REQUEST_COMPLETE 4

/**
 * Failed (kept completion not collected yet).
 */
#define DS_REQUEST_FAILED 5

/**
 * Cancelled (kept completion not collected yet).
 */
#define DS_REQUEST_CANCELLED 6

/**
 * `ds_queue_compression_support` flags (DirectStorage's numbers).
 */
#define DS_COMPRESSION_SUPPORT_GPU_OPTIMIZED 1

/**
 * A GPU decoder that is not the vendor's optimized one.
 */
#define DS_COMPRESSION_SUPPORT_GPU_FALLBACK 2

/**
 * Decompression on the CPU.
 */
#define DS_COMPRESSION_SUPPORT_CPU_FALLBACK 4

/**
 * GPU work runs on a compute queue.
 */
#define DS_COMPRESSION_SUPPORT_USES_COMPUTE_QUEUE 8

/**
 * GPU work runs on a copy queue.
 */
#define DS_COMPRESSION_SUPPORT_USES_COPY_QUEUE 16

/**
 * `ds_request.operation`: read from a file or memory into a destination.
 */
#define DS_OP_READ 0

/**
 * `ds_request.operation`: write memory to a file.
 */
#define DS_OP_WRITE 1

/**
 * `ds_request.source_type`: `file` at `file_offset` (DirectStorage FILE).
 */
#define DS_SOURCE_FILE 0

/**
 * `ds_request.source_type`: `source` in memory (DirectStorage MEMORY).
 */
#define DS_SOURCE_MEMORY 1

/**
 * `ds_request.destination_type`: `destination` in host memory
 * (DirectStorage MEMORY).
 */
#define DS_DEST_MEMORY 0

/**
 * `ds_request.destination_type`: `gpu_buffer` (a `VkBuffer` of the queue's
 * Vulkan device) at `gpu_offset` (DirectStorage BUFFER).
 */
#define DS_DEST_GPU_BUFFER 1

/**
 * `ds_request.destination_type`: `file` at `file_offset` (writes).
 */
#define DS_DEST_FILE 2

/**
 * `ds_request.compression`: none (`uncompressed_size` 0 or `source_size`).
 */
#define DS_COMPRESSION_NONE 0

/**
 * `ds_request.compression`: the source is a GDeflate stream that
 * decompresses to `uncompressed_size` bytes.
 */
#define DS_COMPRESSION_GDEFLATE 1

/**
 * `ds_request.flags`: keep the completion for `ds_queue_wait` (the request
 * holds its queue slot until collected). Not with a callback.
 */
#define DS_REQUEST_KEEP_COMPLETION 1

/**
 * `ds_request.flags`: use `priority` instead of the queue's priority.
 */
#define DS_REQUEST_USE_PRIORITY 2

/**
 * Priorities (DirectStorage's numbers).
 */
#define DS_PRIORITY_LOW -1

/**
 * Normal priority (the default).
 */
#define DS_PRIORITY_NORMAL 0

/**
 * High priority.
 */
#define DS_PRIORITY_HIGH 1

/**
 * Realtime priority.
 */
#define DS_PRIORITY_REALTIME 2

/**
 * Longest request name in bytes (longer names are refused).
 */
#define DS_MAX_NAME_LEN 64

/**
 * Bytes of the name fields of output structs (name + NUL).
 */
#define DS_NAME_CAPACITY 65

/**
 * Bytes of the path field of `ds_error_info` (cut to fit, NUL-terminated).
 */
#define DS_PATH_CAPACITY 4096

/**
 * Bytes of the message field of `ds_error_info`.
 */
#define DS_MESSAGE_CAPACITY 1024

/**
 * `ds_vulkan_backend_config.flags`: adopt the handles in the config
 * instead of creating a device.
 */
#define DS_VULKAN_ADOPT 1

/**
 * Enable the validation layer (created devices only).
 */
#define DS_VULKAN_VALIDATION 2

/**
 * `device_index` value: pick the best device.
 */
#define DS_VULKAN_ANY_DEVICE 4294967295

/**
 * Adopted device features (what the embedder enabled):
 * `storageBuffer8BitAccess` (required).
 */
#define DS_VK_FEATURE_STORAGE_BUFFER_8BIT 1

/**
 * `vulkanMemoryModel` (then device scope is required too).
 */
#define DS_VK_FEATURE_VULKAN_MEMORY_MODEL 2

/**
 * `vulkanMemoryModelDeviceScope`.
 */
#define DS_VK_FEATURE_VULKAN_MEMORY_MODEL_DEVICE_SCOPE 4

/**
 * `timelineSemaphore` (required).
 */
#define DS_VK_FEATURE_TIMELINE_SEMAPHORE 8

/**
 * `bufferDeviceAddress`.
 */
#define DS_VK_FEATURE_BUFFER_DEVICE_ADDRESS 16

/**
 * `subgroupSizeControl` and `computeFullSubgroups`.
 */
#define DS_VK_FEATURE_FULL_SUBGROUPS 32

/**
 * `VK_EXT_external_memory_host` enabled.
 */
#define DS_VK_FEATURE_EXTERNAL_MEMORY_HOST 64

/**
 * `VK_NV_memory_decompression` enabled with its feature.
 */
#define DS_VK_FEATURE_NV_MEMORY_DECOMPRESSION 128

/**
 * `VK_EXT_memory_decompression` and `VK_KHR_maintenance5` enabled.
 */
#define DS_VK_FEATURE_EXT_MEMORY_DECOMPRESSION 256

/**
 * Major ABI version: bumped only when an existing function, struct
 * field or constant changes meaning (also the soname's number).
 */
#define DS_ABI_VERSION_MAJOR 0

/**
 * Minor ABI version: bumped when functions, constants or struct tail
 * fields are added.
 */
#define DS_ABI_VERSION_MINOR 1

/**
 * A backend (opaque).
 */
typedef struct ds_backend ds_backend;

/**
 * A fence (opaque).
 */
typedef struct ds_fence ds_fence;

/**
 * An open file (opaque).
 */
typedef struct ds_file ds_file;

/**
 * A request queue (opaque).
 */
typedef struct ds_queue ds_queue;

/**
 * An array of status entries (opaque).
 */
typedef struct ds_status_array ds_status_array;

/**
 * A result code: `DS_OK` (0) or one of the `DS_ERR_*` codes (positive).
 */
typedef int32_t ds_result;

/**
 * Settings of an io_uring backend. Zero fields take the defaults.
 */
typedef struct ds_io_uring_backend_config {
    /**
     * Set to `sizeof(ds_io_uring_backend_config)`.
     */
    uint32_t struct_size;
    /**
     * Submission queue entries per ring (0: 256); also the most operations
     * one ring keeps in flight.
     */
    uint32_t entries;
    /**
     * Rings, each with its worker thread (0: one per core, at most 16).
     */
    uint32_t rings;
    /**
     * Most requests a ring takes from the queue at a time (0: 32).
     */
    uint32_t batch;
    /**
     * `DS_IO_URING_*` flags.
     */
    uint32_t flags;
    /**
     * SQPOLL idle time in milliseconds (0: 1000), with `DS_IO_URING_SQPOLL`.
     */
    uint32_t sqpoll_idle_ms;
    /**
     * Fixed file slots per ring (0: 64).
     */
    uint32_t file_slots;
    /**
     * Reserved, set to 0.
     */
    uint32_t reserved;
    /**
     * Bytes of each ring's aligned staging pool (0: 4 MiB).
     */
    uint64_t pool_bytes;
} ds_io_uring_backend_config;

/**
 * Settings of a GPUDirect Storage backend. Zero fields take the defaults.
 */
typedef struct ds_cufile_backend_config {
    /**
     * `sizeof(ds_cufile_backend_config)`.
     */
    uint32_t struct_size;
    /**
     * `DS_CUFILE_*` flags.
     */
    uint32_t flags;
    /**
     * CUDA device ordinal.
     */
    int32_t device;
    /**
     * Host I/O workers, and cuFile read threads, per queue (0: defaults).
     */
    uint32_t worker_count;
} ds_cufile_backend_config;

/**
 * Metadata of an open file (`fstat`), for `GetFileInformation`.
 */
typedef struct ds_file_info {
    /**
     * Set to `sizeof(ds_file_info)` by the caller.
     */
    uint32_t struct_size;
    /**
     * `st_mode` (type and permission bits).
     */
    uint32_t mode;
    /**
     * Size in bytes.
     */
    uint64_t size;
    /**
     * Device id (`st_dev`).
     */
    uint64_t device;
    /**
     * Inode number (`st_ino`).
     */
    uint64_t inode;
    /**
     * Hard links (`st_nlink`).
     */
    uint64_t links;
    /**
     * Last access, nanoseconds since the Unix epoch.
     */
    int64_t access_time_ns;
    /**
     * Last modification, nanoseconds since the Unix epoch.
     */
    int64_t modify_time_ns;
    /**
     * Last status change, nanoseconds since the Unix epoch.
     */
    int64_t change_time_ns;
} ds_file_info;

/**
 * Log callback: `target` is the Rust module that logged, `message` the
 * text; both NUL-terminated and valid during the call only.
 */
typedef void (*ds_log_fn)(int32_t level,
                          const char *target,
                          const char *message,
                          void *user_data);

/**
 * The details of a failure (error records, status entries, failure hook).
 */
typedef struct ds_error_info {
    /**
     * `sizeof(ds_error_info)`.
     */
    uint32_t struct_size;
    /**
     * Why it failed (`DS_ERR_*`).
     */
    ds_result result;
    /**
     * The errno behind it, 0 if none.
     */
    int32_t os_error;
    /**
     * The file's descriptor, -1 if the request had no file.
     */
    int32_t fd;
    /**
     * The failed request.
     */
    uint64_t request_id;
    /**
     * Its file offset.
     */
    uint64_t offset;
    /**
     * Its source size.
     */
    uint64_t size;
    /**
     * Its name (may be empty).
     */
    char name[DS_NAME_CAPACITY];
    /**
     * Its file's path when known (may be empty; cut to fit).
     */
    char path[DS_PATH_CAPACITY];
    /**
     * The full English description (cut to fit).
     */
    char message[DS_MESSAGE_CAPACITY];
} ds_error_info;

/**
 * Fence callback: `value` is the value just signalled.
 */
typedef void (*ds_fence_fn)(uint64_t value,
                            void *user_data);

/**
 * Called once with user data the library will no longer use.
 */
typedef void (*ds_release_fn)(void *user_data);

/**
 * The final report of a request, passed to completion callbacks and
 * returned by `ds_queue_wait`.
 */
typedef struct ds_completion {
    /**
     * `sizeof(ds_completion)` (set by the caller for `ds_queue_wait`).
     */
    uint32_t struct_size;
    /**
     * `DS_OK`, `DS_ERR_CANCELLED` (kept completions only), or why the
     * request failed (its full text is then the thread's last error
     * message, inside the callback or after `ds_queue_wait`).
     */
    ds_result result;
    /**
     * The errno behind `result`, 0 if none.
     */
    int32_t os_error;
    /**
     * Reserved, 0.
     */
    uint32_t reserved;
    /**
     * The request's id.
     */
    uint64_t id;
    /**
     * Its cancellation tag.
     */
    uint64_t cancellation_tag;
    /**
     * Bytes written to the destination (0 unless `result` is `DS_OK`).
     */
    uint64_t bytes;
    /**
     * Nanoseconds from enqueue to the end.
     */
    uint64_t latency_ns;
} ds_completion;

/**
 * Completion callback: `completion` is valid during the call only.
 */
typedef void (*ds_completion_fn)(const struct ds_completion *completion,
                                 void *user_data);

/**
 * Failure hook: `error` is valid during the call only.
 */
typedef void (*ds_failure_fn)(const struct ds_error_info *error,
                              void *user_data);

/**
 * Settings of a queue. Zero fields take the defaults.
 */
typedef struct ds_queue_config {
    /**
     * `sizeof(ds_queue_config)`.
     */
    uint32_t struct_size;
    /**
     * Slots shared by requests and ordering commands, 128..=8192 (0: 1024).
     */
    uint32_t capacity;
    /**
     * `DS_PRIORITY_*` of the queue's requests.
     */
    int32_t priority;
    /**
     * Threads decompressing one large GDeflate request on the CPU (0: one
     * per core).
     */
    uint32_t decompress_threads;
    /**
     * Reserved, 0.
     */
    uint32_t flags;
    /**
     * Reserved, 0.
     */
    uint32_t reserved;
    /**
     * Largest GDeflate request, compressed or not (0: 32 MiB).
     */
    uint64_t staging_buffer_size;
    /**
     * NULL or a NUL-terminated UTF-8 name for logs (copied).
     */
    const char *name;
    /**
     * Completion callback of requests that carry none and are not kept.
     */
    ds_completion_fn on_complete;
    /**
     * Passed to `on_complete`; must stay valid until `ds_queue_release`.
     */
    void *on_complete_user_data;
    /**
     * Called for every failed request (DirectStorage's error event).
     */
    ds_failure_fn on_failure;
    /**
     * Passed to `on_failure`; must stay valid until `ds_queue_release`.
     */
    void *on_failure_user_data;
} ds_queue_config;

/**
 * One request. Zero-initialise it, set `struct_size = sizeof(ds_request)`
 * and the fields the request needs. The library copies what it needs
 * during `ds_queue_enqueue`; the struct itself may be reused at once (the
 * memory it points to may not, see the ABI rules).
 */
typedef struct ds_request {
    /**
     * `sizeof(ds_request)`.
     */
    uint32_t struct_size;
    /**
     * `DS_OP_READ` or `DS_OP_WRITE`.
     */
    uint32_t operation;
    /**
     * `DS_SOURCE_FILE` or `DS_SOURCE_MEMORY` (writes: memory).
     */
    uint32_t source_type;
    /**
     * `DS_DEST_MEMORY`, `DS_DEST_GPU_BUFFER` or (writes) `DS_DEST_FILE`.
     */
    uint32_t destination_type;
    /**
     * `DS_COMPRESSION_NONE` or `DS_COMPRESSION_GDEFLATE`.
     */
    uint32_t compression;
    /**
     * `DS_REQUEST_*` flags.
     */
    uint32_t flags;
    /**
     * `DS_PRIORITY_*`, used with `DS_REQUEST_USE_PRIORITY`.
     */
    int32_t priority;
    /**
     * Reserved, 0.
     */
    uint32_t reserved;
    /**
     * The file read (file sources) or written (file destinations).
     */
    struct ds_file *file;
    /**
     * Offset in `file`.
     */
    uint64_t file_offset;
    /**
     * Memory source (and the data of a write).
     */
    const void *source;
    /**
     * Bytes read from the file or memory (the compressed size for
     * GDeflate).
     */
    uint64_t source_size;
    /**
     * Memory destination: valid for `destination_size` bytes until the
     * request ends.
     */
    void *destination;
    /**
     * Bytes available at `destination`, or the size of the GPU range.
     */
    uint64_t destination_size;
    /**
     * `VkBuffer` handle (as a 64-bit value) of a GPU destination.
     */
    uint64_t gpu_buffer;
    /**
     * Offset in `gpu_buffer`.
     */
    uint64_t gpu_offset;
    /**
     * Bytes the request produces (GDeflate: required; none: 0 or
     * `source_size`).
     */
    uint64_t uncompressed_size;
    /**
     * Tag for `ds_queue_cancel_by_tag` (`tag & mask == value`).
     */
    uint64_t cancellation_tag;
    /**
     * NULL or a NUL-terminated UTF-8 name of at most 64 bytes (copied).
     */
    const char *name;
    /**
     * NULL (detached, or kept with `DS_REQUEST_KEEP_COMPLETION`, or the
     * queue's `on_complete`) or the completion callback.
     */
    ds_completion_fn callback;
    /**
     * Passed to `callback` / `release_user_data`.
     */
    void *user_data;
    /**
     * NULL, or called with `user_data` when an accepted request will not
     * run its callback (cancelled, weak-cancelled, queue released). Only
     * with a callback.
     */
    ds_release_fn release_user_data;
} ds_request;

/**
 * A callback with only user data (ordering markers).
 */
typedef void (*ds_notify_fn)(void *user_data);

/**
 * The failures since the last retrieval (RetrieveErrorRecord).
 */
typedef struct ds_error_record {
    /**
     * `sizeof(ds_error_record)`.
     */
    uint32_t struct_size;
    /**
     * Failed requests since the last retrieval.
     */
    uint32_t failure_count;
    /**
     * 1 when `first_failure` holds a failure.
     */
    uint32_t has_failure;
    /**
     * Reserved, 0.
     */
    uint32_t reserved;
    /**
     * The first failure in enqueue order.
     */
    struct ds_error_info first_failure;
} ds_error_record;

/**
 * Queue properties and state (DirectStorage's Query).
 */
typedef struct ds_queue_info {
    /**
     * `sizeof(ds_queue_info)`.
     */
    uint32_t struct_size;
    /**
     * Slots in all.
     */
    uint32_t capacity;
    /**
     * Free slots now.
     */
    uint32_t empty_slots;
    /**
     * Enqueues left before the automatic submit.
     */
    uint32_t requests_until_auto_submit;
    /**
     * The queue's `DS_PRIORITY_*`.
     */
    int32_t priority;
    /**
     * Reserved, 0.
     */
    uint32_t reserved;
    /**
     * Largest GDeflate request.
     */
    uint64_t staging_buffer_size;
    /**
     * The queue's name (cut to fit).
     */
    char name[DS_NAME_CAPACITY];
    /**
     * Executors in routing order, comma-separated ("pread",
     * "io_uring", "vulkan").
     */
    char executors[DS_NAME_CAPACITY];
} ds_queue_info;

/**
 * Queue statistics.
 */
typedef struct ds_stats {
    /**
     * `sizeof(ds_stats)`.
     */
    uint32_t struct_size;
    /**
     * Reserved, 0.
     */
    uint32_t reserved;
    /**
     * Requests accepted.
     */
    uint64_t enqueued;
    /**
     * Requests completed successfully.
     */
    uint64_t completed;
    /**
     * Requests failed.
     */
    uint64_t failed;
    /**
     * Requests cancelled.
     */
    uint64_t cancelled;
    /**
     * Requests accepted and not ended yet.
     */
    uint64_t in_flight;
    /**
     * Bytes delivered by completed requests.
     */
    uint64_t bytes;
    /**
     * Median enqueue-to-end latency, nanoseconds.
     */
    uint64_t latency_p50_ns;
    /**
     * 99th percentile of the same.
     */
    uint64_t latency_p99_ns;
} ds_stats;

/**
 * `PFN_vkGetInstanceProcAddr` without including vulkan.h (cast
 * `vkGetInstanceProcAddr` to it).
 */
typedef void (*(*ds_vk_get_instance_proc_addr)(void *instance,
                                               const char *name))(void);

/**
 * Settings of a Vulkan backend. Zero-initialise, set `struct_size`; for
 * adoption set `DS_VULKAN_ADOPT` and every handle field.
 */
typedef struct ds_vulkan_backend_config {
    /**
     * `sizeof(ds_vulkan_backend_config)`.
     */
    uint32_t struct_size;
    /**
     * `DS_VULKAN_*` flags.
     */
    uint32_t flags;
    /**
     * Host I/O worker threads per queue (0: default). The GPU-buffer
     * executor has its own submit and completion threads.
     */
    uint32_t worker_count;
    /**
     * Adopt: the family of `queue` (must support compute).
     */
    uint32_t queue_family_index;
    /**
     * Adopt: the `apiVersion` the device was created for (1.2 or newer).
     */
    uint32_t api_version;
    /**
     * Adopt: `DS_VK_FEATURE_*` the embedder enabled on `device`.
     */
    uint32_t features;
    /**
     * Create: the n-th device with a compute queue, or
     * `DS_VULKAN_ANY_DEVICE` (0 picks the first).
     */
    uint32_t device_index;
    /**
     * Reserved, 0.
     */
    uint32_t reserved;
    /**
     * Adopt: the instance's `vkGetInstanceProcAddr`.
     */
    ds_vk_get_instance_proc_addr get_instance_proc_addr;
    /**
     * Adopt: `VkInstance`.
     */
    void *instance;
    /**
     * Adopt: `VkPhysicalDevice` of `device`.
     */
    void *physical_device;
    /**
     * Adopt: `VkDevice`.
     */
    void *device;
    /**
     * Adopt: a `VkQueue` of `device` in `queue_family_index`. The library
     * submits to it from its own threads under its own lock: the embedder
     * must not submit to the same queue at the same time.
     */
    void *queue;
} ds_vulkan_backend_config;

/**
 * Success.
 */
#define DS_OK 0

/**
 * A required pointer argument was NULL.
 */
#define DS_ERR_NULL_ARGUMENT 1

/**
 * An argument has a value outside its documented range (unknown enum
 * value or flag, capacity out of range, index past the end, bad UTF-8).
 */
#define DS_ERR_INVALID_ARGUMENT 2

/**
 * The handle is not a live handle of the expected type (NULL handles give
 * `DS_ERR_NULL_ARGUMENT`; a released, never issued or wrong-typed handle
 * gives this code, which is how a double free is reported).
 */
#define DS_ERR_BAD_HANDLE 3

/**
 * `struct_size` of an argument struct is smaller than the first published
 * layout of that struct.
 */
#define DS_ERR_STRUCT_SIZE 4

/**
 * Every slot of the queue is taken (requests and ordering commands share
 * them): submit, collect kept completions, or use `ds_queue_enqueue_wait`.
 */
#define DS_ERR_QUEUE_FULL 5

/**
 * The request description is invalid: zero size, destination too small,
 * uncompressed size that differs from the source size of an uncompressed
 * request, offset overflow, impossible source/destination combination, name
 * over 64 bytes.
 */
#define DS_ERR_INVALID_REQUEST 6

/**
 * No executor of the queue serves the destination (a GPU-buffer request on
 * a queue without a Vulkan backend).
 */
#define DS_ERR_NO_EXECUTOR 7

/**
 * The file was closed with `ds_file_close` (at enqueue, or before the
 * request ran).
 */
#define DS_ERR_FILE_CLOSED 8

/**
 * A GDeflate request larger than the queue's staging buffer.
 */
#define DS_ERR_TOO_LARGE 9

/**
 * The queue is shutting down.
 */
#define DS_ERR_SHUT_DOWN 10

/**
 * The timeout passed first.
 */
#define DS_ERR_TIMEOUT 11

/**
 * The request id is unknown, already collected, or the request does not
 * keep its completion.
 */
#define DS_ERR_UNKNOWN_REQUEST 12

/**
 * A blocking call (wait, release of a queue) was made inside a callback.
 */
#define DS_ERR_IN_CALLBACK 13

/**
 * An OS call failed (the errno is the `os_error`).
 */
#define DS_ERR_IO 14

/**
 * The requested range passes the end of the file.
 */
#define DS_ERR_END_OF_FILE 15

/**
 * The file descriptor is not usable (EBADF: closed, invalid, or opened
 * without the access the operation needs).
 */
#define DS_ERR_BAD_FD 16

/**
 * The GDeflate stream is corrupt.
 */
#define DS_ERR_CORRUPT 17

/**
 * The GDeflate stream decompresses to another size than the request's
 * uncompressed size.
 */
#define DS_ERR_SIZE_MISMATCH 18

/**
 * An executor dropped a request without a result (it panicked).
 */
#define DS_ERR_EXECUTOR_LOST 19

/**
 * The executor cannot perform this request.
 */
#define DS_ERR_UNSUPPORTED 20

/**
 * A device API (Vulkan, CUDA, cuFile) failed.
 */
#define DS_ERR_DEVICE 21

/**
 * The facility is not available on this machine (no Vulkan loader or
 * device, no CUDA driver).
 */
#define DS_ERR_UNAVAILABLE 22

/**
 * A caller-provided output buffer is too small.
 */
#define DS_ERR_BUFFER_TOO_SMALL 23

/**
 * The request was cancelled (a completion's result, never a call's).
 */
#define DS_ERR_CANCELLED 24

/**
 * The GPU-buffer destination is not usable by the executor.
 */
#define DS_ERR_BAD_GPU_BUFFER 25

/**
 * The library caught a panic (an internal bug); the call had no effect
 * beyond what the message says.
 */
#define DS_ERR_PANIC 26

/**
 * A file could not be found.
 */
#define DS_ERR_NOT_FOUND 27

/**
 * Permission denied by the OS.
 */
#define DS_ERR_PERMISSION 28

/**
 * Largest code in use (for tables in C code).
 */
#define DS_RESULT_MAX 28

#ifdef __cplusplus
extern "C" {
#endif // __cplusplus

/**
 * A backend of `worker_count` threads doing positioned reads and writes
 * (`pread`/`pwrite`) and CPU GDeflate decoding for each queue made from it
 * (0: one per core, at most 16; at most `DS_MAX_WORKERS`). On success
 * `*out_backend` is a new handle, to release with `ds_backend_release`.
 *
 * # Safety
 * `out_backend`: NULL or valid for a write.
 */
ds_result ds_make_cpu_backend(uint32_t worker_count,
                              struct ds_backend **out_backend);

/**
 * A backend of io_uring rings (one worker thread each) for each queue made
 * from it; `config` NULL takes every default. Where io_uring cannot be set
 * up (old kernel, seccomp, `kernel.io_uring_disabled`, `DS_IO_URING=off`)
 * queues fall back to pread workers and log why once; `ds_queue_query`
 * names the executor in use.
 *
 * # Safety
 * `config`: NULL or valid for reads of its `struct_size`; `out_backend`:
 * NULL or valid for a write.
 */
ds_result ds_make_io_uring_backend(const struct ds_io_uring_backend_config *config,
                                   struct ds_backend **out_backend);

/**
 * Releases the handle. Queues made from the backend keep what they need.
 * A second release gives `DS_ERR_BAD_HANDLE`.
 *
 * # Safety
 * None beyond passing a handle value (any value is checked).
 */
ds_result ds_backend_release(struct ds_backend *backend);

/**
 * The most bytes `ds_gdeflate_compress` can produce for `size` input
 * bytes; `DS_ERR_INVALID_ARGUMENT` above `DS_GDEFLATE_MAX_INPUT`.
 *
 * # Safety
 * `out_bound`: NULL or valid for a write.
 */
ds_result ds_gdeflate_compress_bound(uint64_t size,
                                     uint64_t *out_bound);

/**
 * Compresses `src_size` bytes at `level` (0..=12, `DS_GDEFLATE_LEVEL_*`)
 * into a GDeflate tile stream at `dst` (room for `dst_capacity` bytes;
 * `ds_gdeflate_compress_bound` always suffices). `threads`: 1 compresses on
 * this thread without allocating; 0 spreads tiles over every core, n over
 * n threads (same bytes either way). `*out_size` is the stream's length.
 * `DS_ERR_BUFFER_TOO_SMALL` if it does not fit (`dst` contents are then
 * unspecified).
 *
 * # Safety
 * `src`: valid for reads of `src_size` bytes (NULL only with size 0);
 * `dst`: valid for writes of `dst_capacity` bytes, not overlapping `src`;
 * `out_size`: NULL or valid for a write.
 */
ds_result ds_gdeflate_compress(const uint8_t *src,
                               uint64_t src_size,
                               uint8_t *dst,
                               uint64_t dst_capacity,
                               int32_t level,
                               uint32_t threads,
                               uint64_t *out_size);

/**
 * The uncompressed size announced by a GDeflate stream's header and tile
 * table (the container is validated; `DS_ERR_CORRUPT` if it is not one).
 *
 * # Safety
 * `src`: valid for reads of `src_size` bytes (NULL only with size 0);
 * `out_size`: NULL or valid for a write.
 */
ds_result ds_gdeflate_uncompressed_size(const uint8_t *src,
                                        uint64_t src_size,
                                        uint64_t *out_size);

/**
 * Decompresses a GDeflate stream into `dst` (at least its uncompressed
 * size; bytes past it are not touched). `threads`: 1 decodes on this
 * thread without allocating; 0 spreads tiles over every core, n over n
 * threads. `*out_size` is the decompressed length. Untrusted input is
 * safe: a corrupt stream gives `DS_ERR_CORRUPT` naming the tile and
 * offset, `dst` then holds unspecified bytes.
 *
 * # Safety
 * `src`: valid for reads of `src_size` bytes (NULL only with size 0);
 * `dst`: valid for writes of `dst_capacity` bytes, not overlapping `src`;
 * `out_size`: NULL or valid for a write.
 */
ds_result ds_gdeflate_decompress(const uint8_t *src,
                                 uint64_t src_size,
                                 uint8_t *dst,
                                 uint64_t dst_capacity,
                                 uint32_t threads,
                                 uint64_t *out_size);

/**
 * A backend whose queues read host-memory destinations with pread workers
 * and CUDA device memory with cuFile; `config` NULL takes the defaults
 * (device 0). The CUDA driver is loaded now: `DS_ERR_UNAVAILABLE` without
 * it (or without libcufile and `DS_CUFILE_REQUIRE_GDS`).
 *
 * # Safety
 * `config`: NULL or valid for reads of its `struct_size`; `out_backend`:
 * NULL or valid for a write.
 */
ds_result ds_make_cufile_backend(const struct ds_cufile_backend_config *config,
                                 struct ds_backend **out_backend);

/**
 * Copies this thread's last error message into `buf` (at most `buf_len`
 * bytes including the terminating NUL, cut at a UTF-8 character boundary)
 * and stores the message's full length (without NUL) in `*out_len` when
 * `out_len` is not NULL. With no failure yet on this thread the message is
 * empty. `buf` may be NULL only when `buf_len` is 0 (to ask for the
 * length). Never changes the last error itself.
 *
 * # Safety
 * `buf` must be valid for writes of `buf_len` bytes; `out_len` NULL or valid
 * for a write.
 */
ds_result ds_last_error_message(char *buf,
                                uint64_t buf_len,
                                uint64_t *out_len);

/**
 * The result code of the last failed call on this thread (`DS_OK` when no
 * call failed yet). Calls that succeed do not reset it.
 */
ds_result ds_last_error_code(void);

/**
 * The OS error number (errno) behind the last failure on this thread, 0 if
 * it had none.
 */
int32_t ds_last_os_error(void);

/**
 * Opens `path` (a NUL-terminated byte string, any encoding the file
 * system takes) for reading. On success `*out_file` is a new handle, to
 * release with `ds_file_release`.
 *
 * # Safety
 * `path`: NULL or a NUL-terminated string; `out_file`: NULL or valid for a
 * write.
 */
ds_result ds_file_open(const char *path,
                       struct ds_file **out_file);

/**
 * Wraps an open descriptor. Without `DS_FILE_TAKE_FD` in `flags` the
 * descriptor is duplicated and stays the caller's; with it the library
 * owns `fd` from a successful return on (on failure the caller still owns
 * it). `path` (may be NULL) only names the file in error messages. A
 * descriptor that is not open gives `DS_ERR_BAD_FD`.
 *
 * # Safety
 * `path`: NULL or a NUL-terminated string; `out_file`: NULL or valid for a
 * write. With `DS_FILE_TAKE_FD`, nothing else may close `fd` afterwards.
 */
ds_result ds_file_open_fd(int32_t fd,
                          uint32_t flags,
                          const char *path,
                          struct ds_file **out_file);

/**
 * Marks the file closed (`IDStorageFile::Close`): enqueueing requests on it
 * fails with `DS_ERR_FILE_CLOSED`, requests that have not started I/O fail
 * with it. The handle stays valid until `ds_file_release`.
 *
 * # Safety
 * None beyond passing a handle value (any value is checked).
 */
ds_result ds_file_close(struct ds_file *file);

/**
 * Releases the handle. Requests still using the file keep it open until
 * they end. A second release of the same handle gives `DS_ERR_BAD_HANDLE`.
 *
 * # Safety
 * None beyond passing a handle value (any value is checked).
 */
ds_result ds_file_release(struct ds_file *file);

/**
 * The descriptor the library reads through (valid while the handle or a
 * request on it lives; do not close it).
 *
 * # Safety
 * `out_fd`: NULL or valid for a write.
 */
ds_result ds_file_fd(struct ds_file *file,
                     int32_t *out_fd);

/**
 * `fstat` of the file into `*out_info` (whose `struct_size` the caller
 * sets).
 *
 * # Safety
 * `out_info`: NULL or valid for reads and writes of its `struct_size`.
 */
ds_result ds_file_get_info(struct ds_file *file,
                           struct ds_file_info *out_info);

/**
 * Routes the library's log records up to `max_level` (`DS_LOG_*`) to
 * `callback` with `user_data`; `callback` NULL (or `DS_LOG_OFF`) turns
 * logging off. Process-wide. Returns after calls of a previous callback on
 * other threads have returned. Not inside callbacks (`DS_ERR_IN_CALLBACK`).
 * `DS_ERR_UNSUPPORTED` if the process already has another Rust `log`
 * logger (a Rust program linking this library installed its own).
 *
 * # Safety
 * `callback` must be safe to call from any thread, concurrently, with
 * `user_data` until it is replaced.
 */
ds_result ds_set_log_callback(ds_log_fn callback,
                              int32_t max_level,
                              void *user_data);

/**
 * Creates an array of `capacity` idle entries (1..=`DS_MAX_STATUS_ENTRIES`).
 *
 * # Safety
 * `out_array`: NULL or valid for a write.
 */
ds_result ds_status_array_create(uint32_t capacity,
                                 struct ds_status_array **out_array);

/**
 * Releases the handle (queues holding entries of it keep it alive until
 * those complete). A second release gives `DS_ERR_BAD_HANDLE`.
 *
 * # Safety
 * None beyond passing a handle value (any value is checked).
 */
ds_result ds_status_array_release(struct ds_status_array *array);

/**
 * The state of entry `index` (`DS_STATUS_*`) in `*out_state`, and in
 * `*out_result` (may be NULL) `DS_OK`, or the failure's code for
 * `DS_STATUS_FAILED`. Cheap: for polling.
 *
 * # Safety
 * `out_state`: NULL or valid for a write; `out_result`: NULL or valid for a
 * write.
 */
ds_result ds_status_array_get(struct ds_status_array *array,
                              uint32_t index,
                              int32_t *out_state,
                              ds_result *out_result);

/**
 * The failure of entry `index` in `*out_error`; `DS_ERR_INVALID_ARGUMENT`
 * when the entry is not `DS_STATUS_FAILED`.
 *
 * # Safety
 * `out_error`: NULL or valid for reads and writes of its `struct_size`.
 */
ds_result ds_status_array_get_error(struct ds_status_array *array,
                                    uint32_t index,
                                    struct ds_error_info *out_error);

/**
 * Creates a fence at `initial`. `callback` (may be NULL) runs for every
 * signal on the signalling thread, just before the value is set and
 * waiters are released; `release_user_data` (may be NULL) gets
 * `user_data` once the fence is released and no signal of it is pending.
 *
 * # Safety
 * `out_fence`: NULL or valid for a write; the callbacks must be safe to
 * call from any thread with `user_data`.
 */
ds_result ds_fence_create(uint64_t initial,
                          ds_fence_fn callback,
                          void *user_data,
                          ds_release_fn release_user_data,
                          struct ds_fence **out_fence);

/**
 * Releases the handle. Signals still enqueued keep the fence until they
 * ran. A second release gives `DS_ERR_BAD_HANDLE`.
 *
 * # Safety
 * None beyond passing a handle value (any value is checked).
 */
ds_result ds_fence_release(struct ds_fence *fence);

/**
 * The fence's current value.
 *
 * # Safety
 * `out_value`: NULL or valid for a write.
 */
ds_result ds_fence_value(struct ds_fence *fence,
                         uint64_t *out_value);

/**
 * Sets the fence to `value` from the CPU (ID3D12Fence::Signal): runs its
 * callback on this thread, then sets the value and wakes its waiters.
 *
 * # Safety
 * None beyond passing a handle value (any value is checked).
 */
ds_result ds_fence_signal(struct ds_fence *fence,
                          uint64_t value);

/**
 * Waits until the fence's value is at least `value`, or `timeout_ns`
 * passed (`DS_ERR_TIMEOUT`; `DS_INFINITE` waits forever). Not inside
 * callbacks (`DS_ERR_IN_CALLBACK`).
 *
 * # Safety
 * None beyond passing a handle value (any value is checked).
 */
ds_result ds_fence_wait(struct ds_fence *fence,
                        uint64_t value,
                        uint64_t timeout_ns);

/**
 * Creates a queue whose requests run on `backend`'s executors. `config`
 * NULL takes every default. On success `*out_queue` is a new handle, to
 * release with `ds_queue_release`.
 *
 * # Safety
 * `config`: NULL or valid for reads of its `struct_size`, with its `name`
 * NULL or NUL-terminated; `out_queue`: NULL or valid for a write.
 */
ds_result ds_queue_create(struct ds_backend *backend,
                          const struct ds_queue_config *config,
                          struct ds_queue **out_queue);

/**
 * Shuts the queue down and releases the handle: every request still live
 * is cancelled (strongly: no destination is written after this returns),
 * executors stop, waiting ordering commands complete; after it returns no
 * callback of this queue runs again. Not allowed inside a callback
 * (`DS_ERR_IN_CALLBACK`). A second release gives `DS_ERR_BAD_HANDLE`.
 *
 * # Safety
 * None beyond passing a handle value (any value is checked).
 */
ds_result ds_queue_release(struct ds_queue *queue);

/**
 * Enqueues a request; never blocks (`DS_ERR_QUEUE_FULL` when no slot is
 * free). On success `*out_id` (when not NULL) is the request's id, never 0.
 * A refused request changes nothing: its callback and `release_user_data`
 * are not called. Unsubmitted work is submitted automatically once half the
 * queue holds it.
 *
 * # Safety
 * `request`: NULL or a valid `ds_request` whose pointers follow its field
 * contracts; `out_id`: NULL or valid for a write.
 */
ds_result ds_queue_enqueue(struct ds_queue *queue,
                           const struct ds_request *request,
                           uint64_t *out_id);

/**
 * `ds_queue_enqueue` that waits up to `timeout_ns` (`DS_INFINITE`: forever)
 * for a free slot when the queue is full, submitting pending work
 * meanwhile (DirectStorage's blocking EnqueueRequest). Requests that keep
 * their completion hold slots until collected. Inside a callback it does
 * not wait (`DS_ERR_QUEUE_FULL`).
 *
 * # Safety
 * As `ds_queue_enqueue`.
 */
ds_result ds_queue_enqueue_wait(struct ds_queue *queue,
                                const struct ds_request *request,
                                uint64_t timeout_ns,
                                uint64_t *out_id);

/**
 * Submits everything enqueued so far. May run ordering commands whose
 * requests already ended (status entries, fences, markers) on this thread.
 *
 * # Safety
 * None beyond passing a handle value (any value is checked).
 */
ds_result ds_queue_submit_all(struct ds_queue *queue);

/**
 * Submits, then waits until every request enqueued before the call ended
 * (completed, failed or cancelled) and their callbacks returned, or
 * `timeout_ns` passed (`DS_ERR_TIMEOUT`). Not inside callbacks.
 *
 * # Safety
 * None beyond passing a handle value (any value is checked).
 */
ds_result ds_queue_wait_all(struct ds_queue *queue,
                            uint64_t timeout_ns);

/**
 * Waits for a request enqueued with `DS_REQUEST_KEEP_COMPLETION` and
 * collects its completion into `*out_completion` (freeing its slot). The
 * call succeeds whatever the request's outcome; `out_completion->result`
 * tells it (`DS_ERR_CANCELLED` for a cancelled request; for a failure the
 * full text is the thread's last error message). Not inside callbacks.
 *
 * # Safety
 * `out_completion`: NULL or valid for reads and writes of its
 * `struct_size`.
 */
ds_result ds_queue_wait(struct ds_queue *queue,
                        uint64_t id,
                        uint64_t timeout_ns,
                        struct ds_completion *out_completion);

/**
 * The current state of a request (`DS_REQUEST_*`): `DS_REQUEST_UNKNOWN`
 * once a request ended and its slot was released (callback run, detached,
 * or completion collected) or for ids never issued. `*out_result` (may be
 * NULL) gets the failure category for `DS_REQUEST_FAILED`, else `DS_OK`.
 *
 * # Safety
 * `out_state`: NULL or valid for a write; `out_result`: NULL or valid for a
 * write.
 */
ds_result ds_queue_poll(struct ds_queue *queue,
                        uint64_t id,
                        int32_t *out_state,
                        ds_result *out_result);

/**
 * Strong cancel: `*out_cancelled` (may be NULL) becomes 1 only if the
 * request will never complete and its destination is not written after
 * this returns (from then on its memory is the caller's again); 0 for
 * finished, unknown or reused ids. May wait for one write into the
 * destination in progress; inside a callback it does not wait and leaves
 * such a request alone (0).
 *
 * # Safety
 * `out_cancelled`: NULL or valid for a write.
 */
ds_result ds_queue_cancel(struct ds_queue *queue,
                          uint64_t id,
                          uint32_t *out_cancelled);

/**
 * Weak cancel: `*out_cancelled` (may be NULL) becomes 1 if the request was
 * live; it may still complete (its destination may still be written until
 * it ends), but its callback will not run. Never waits.
 *
 * # Safety
 * `out_cancelled`: NULL or valid for a write.
 */
ds_result ds_queue_try_cancel(struct ds_queue *queue,
                              uint64_t id,
                              uint32_t *out_cancelled);

/**
 * Strong cancel of every live request with `tag & mask == value`;
 * `*out_count` (may be NULL) is how many will never complete.
 *
 * # Safety
 * `out_count`: NULL or valid for a write.
 */
ds_result ds_queue_cancel_by_tag(struct ds_queue *queue,
                                 uint64_t mask,
                                 uint64_t value,
                                 uint64_t *out_count);

/**
 * Weak cancel of every live request with `tag & mask == value`
 * (DirectStorage's CancelRequestsWithTag); `*out_count` (may be NULL) is
 * how many were live.
 *
 * # Safety
 * `out_count`: NULL or valid for a write.
 */
ds_result ds_queue_try_cancel_by_tag(struct ds_queue *queue,
                                     uint64_t mask,
                                     uint64_t value,
                                     uint64_t *out_count);

/**
 * Cancels every request no executor has started; `*out_count` (may be
 * NULL) is how many.
 *
 * # Safety
 * `out_count`: NULL or valid for a write.
 */
ds_result ds_queue_cancel_all_pending(struct ds_queue *queue,
                                      uint64_t *out_count);

/**
 * Strong cancel of every live request, in flight too; `*out_count` (may be
 * NULL) is how many will never complete.
 *
 * # Safety
 * `out_count`: NULL or valid for a write.
 */
ds_result ds_queue_cancel_all(struct ds_queue *queue,
                              uint64_t *out_count);

/**
 * Enqueues a status write (EnqueueStatus): entry `index` of `array` becomes
 * complete, or failed with the first failure in enqueue order since the
 * previous status entry of this queue, once everything enqueued before it
 * ended. Takes a queue slot until then.
 *
 * # Safety
 * None beyond passing handle values (any value is checked).
 */
ds_result ds_queue_enqueue_status(struct ds_queue *queue,
                                  struct ds_status_array *array,
                                  uint32_t index);

/**
 * Enqueues a fence signal (EnqueueSignal): `fence` is set to `value` (and
 * its callback run) once everything enqueued before it ended.
 *
 * # Safety
 * None beyond passing handle values (any value is checked).
 */
ds_result ds_queue_enqueue_signal(struct ds_queue *queue,
                                  struct ds_fence *fence,
                                  uint64_t value);

/**
 * Enqueues a callback (EnqueueSetEvent) run once everything enqueued
 * before it ended. It runs exactly once if this returns `DS_OK` (at the
 * latest during `ds_queue_release`); on failure never.
 *
 * # Safety
 * `callback` must be safe to call from any thread with `user_data`.
 */
ds_result ds_queue_enqueue_marker(struct ds_queue *queue,
                                  ds_notify_fn callback,
                                  void *user_data);

/**
 * Takes the queue's error record: the failures since the last call and
 * the first in enqueue order; the record starts over.
 *
 * # Safety
 * `out_record`: NULL or valid for reads and writes of its `struct_size`.
 */
ds_result ds_queue_retrieve_error_record(struct ds_queue *queue,
                                         struct ds_error_record *out_record);

/**
 * Fills `*out_info` (whose `struct_size` the caller sets).
 *
 * # Safety
 * `out_info`: NULL or valid for reads and writes of its `struct_size`.
 */
ds_result ds_queue_query(struct ds_queue *queue,
                         struct ds_queue_info *out_info);

/**
 * Fills `*out_stats` (whose `struct_size` the caller sets).
 *
 * # Safety
 * `out_stats`: NULL or valid for reads and writes of its `struct_size`.
 */
ds_result ds_queue_stats(struct ds_queue *queue,
                         struct ds_stats *out_stats);

/**
 * How the queue decompresses `compression` (`DS_COMPRESSION_*`) for
 * GPU-buffer destinations, as DirectStorage's GetCompressionSupport
 * flags. Host-memory destinations always decompress on the CPU.
 *
 * # Safety
 * `out_flags`: NULL or valid for a write.
 */
ds_result ds_queue_compression_support(struct ds_queue *queue,
                                       uint32_t compression,
                                       uint32_t *out_flags);

/**
 * Makes a GPU buffer of `size` bytes a destination of `DS_DEST_GPU_BUFFER`
 * requests on this queue: on a Vulkan backend `gpu_buffer` is a `VkBuffer`
 * of the backend's device (as a 64-bit value) created with
 * `VK_BUFFER_USAGE_TRANSFER_DST_BIT | VK_BUFFER_USAGE_STORAGE_BUFFER_BIT`
 * (GDeflate is decoded into it by a compute shader); on a cuFile backend
 * it is the base `CUdeviceptr` of a CUDA allocation (also registered with
 * cuFile).
 * Requests into unregistered buffers, or past `size`, fail with
 * `DS_ERR_BAD_GPU_BUFFER` without writing. `DS_ERR_NO_EXECUTOR` for queues
 * without a GPU backend; `DS_ERR_INVALID_ARGUMENT` if already registered
 * or NULL/empty. The buffer must stay valid until it is unregistered and
 * every request into it ended.
 *
 * # Safety
 * `gpu_buffer` is a buffer of the queue's device with the usage and size
 * given, bound to memory, for as long as it is registered.
 */
ds_result ds_queue_register_gpu_buffer(struct ds_queue *queue,
                                       uint64_t gpu_buffer,
                                       uint64_t size);

/**
 * Removes a registration; `*out_removed` (may be NULL) is 0 if
 * `gpu_buffer` was not registered. Requests already running into it finish
 * first only if the caller waited for them; new ones fail with
 * `DS_ERR_BAD_GPU_BUFFER`.
 *
 * # Safety
 * `out_removed`: NULL or valid for a write.
 */
ds_result ds_queue_unregister_gpu_buffer(struct ds_queue *queue,
                                         uint64_t gpu_buffer,
                                         uint32_t *out_removed);

/**
 * Returns the fixed, static, NUL-terminated English text of a result code
 * (never NULL; "unknown result code" for codes this library does not know).
 * Thread-safe; the string is never freed.
 */
const char *ds_result_text(ds_result result);

/**
 * A backend whose queues read into host memory with `worker_count` pread
 * workers and into Vulkan buffers with a GPU executor on the backend's
 * device: adopted from the handles in `config` with `DS_VULKAN_ADOPT`
 * (never destroyed by the library: they must outlive every queue made
 * from the backend), else created (and destroyed when the backend and its
 * queues are gone). `config` NULL creates one with defaults.
 * `DS_ERR_UNAVAILABLE` without a Vulkan loader or device;
 * `DS_ERR_UNSUPPORTED` when the device or the adopted features lack what
 * the runtime needs (Vulkan 1.2, timeline semaphores, 8-bit storage).
 *
 * # Safety
 * `config`: NULL or valid for reads of its `struct_size`; with
 * `DS_VULKAN_ADOPT` its handles valid and made from each other;
 * `out_backend`: NULL or valid for a write.
 */
ds_result ds_make_vulkan_backend(const struct ds_vulkan_backend_config *config,
                                 struct ds_backend **out_backend);

/**
 * Decompresses a whole GDeflate stream on the Vulkan backend's GPU (the
 * validating compute shader) into `dst`; `*out_size` is the decompressed
 * length. A corrupt tile gives `DS_ERR_CORRUPT`. Calls on one backend run
 * one at a time.
 * `DS_ERR_UNSUPPORTED` for backends without a GPU.
 *
 * # Safety
 * `src`: valid for reads of `src_size` bytes; `dst`: valid for writes of
 * `dst_capacity` bytes; `out_size`: NULL or valid for a write.
 */
ds_result ds_gdeflate_decompress_gpu(struct ds_backend *backend,
                                     const uint8_t *src,
                                     uint64_t src_size,
                                     uint8_t *dst,
                                     uint64_t dst_capacity,
                                     uint64_t *out_size);

/**
 * The library's version, e.g. "0.1.0" (static, never NULL).
 */
const char *ds_version(void);

/**
 * The ABI version of the library as `(major << 16) | minor`; a program
 * built against header major M runs with a library of major M and a
 * minor at least the header's.
 */
uint32_t ds_abi_version(void);

#ifdef __cplusplus
}  // extern "C"
#endif  // __cplusplus

#endif  /* DS_RUNTIME_H */
