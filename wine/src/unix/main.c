/*
 * main.c - entry of dstorage.so: the unix-call table Wine looks up
 * (__wine_unix_call_funcs, the library's only export), DSW_FN_INIT, the log
 * hook, the action list read by the PE side's completion thread, the
 * mapping of runtime results to HRESULTs, and the GDeflate codec calls.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "private.h"

uint32_t log_level = DSW_LOG_ERROR;

/* ---- logging --------------------------------------------------------------------------------- */

void log_printf(uint32_t level, const char *fmt, ...)
{
    char line[1024];
    va_list args;
    int n;

    if (!(log_level & level)) return;
    n = snprintf(line, sizeof(line), "dstorage.so:%s: ",
                 level == DSW_LOG_ERROR ? "err" : level == DSW_LOG_WARN ? "warn" : "trace");
    va_start(args, fmt);
    vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, args);
    va_end(args);
    fputs(line, stderr);
}

/* The runtime's log records (any thread): to stderr, one line each. */
static void runtime_log(int32_t level, const char *target, const char *message, void *user)
{
    static const char *const names[] = {"off", "err", "warn", "info", "debug", "trace"};

    (void)user;
    fprintf(stderr, "dstorage.so:%s: %s: %s\n", level >= 0 && level <= DS_LOG_TRACE ? names[level] : "?",
            target, message);
}

void last_error_text(char *buf, size_t size)
{
    if (ds_last_error_message(buf, size, NULL) != DS_OK && size) buf[0] = 0;
}

hresult hresult_of(ds_result result, int32_t os_error)
{
    switch (result) {
    case DS_OK: return S_OK_;
    case DS_ERR_END_OF_FILE: return E_DSTORAGE_END_OF_FILE_;
    case DS_ERR_CORRUPT:
    case DS_ERR_SIZE_MISMATCH: return E_DSTORAGE_DECOMPRESSION_ERROR_;
    case DS_ERR_FILE_CLOSED: return E_DSTORAGE_FILE_NOT_OPEN_;
    case DS_ERR_BAD_FD:
    case DS_ERR_BAD_HANDLE: return E_DSTORAGE_INVALID_FILE_HANDLE_;
    case DS_ERR_TOO_LARGE: return E_DSTORAGE_STAGING_BUFFER_TOO_SMALL_;
    case DS_ERR_SHUT_DOWN: return E_DSTORAGE_QUEUE_CLOSED_;
    case DS_ERR_TIMEOUT: return E_DSTORAGE_IO_TIMEOUT_;
    case DS_ERR_NO_EXECUTOR: return E_DSTORAGE_INVALID_DESTINATION_TYPE_;
    case DS_ERR_NOT_FOUND: return E_FILE_NOT_FOUND_;
    case DS_ERR_PERMISSION: return E_ACCESSDENIED_;
    case DS_ERR_BUFFER_TOO_SMALL: return E_NOT_SUFFICIENT_BUFFER_;
    case DS_ERR_NULL_ARGUMENT:
    case DS_ERR_INVALID_ARGUMENT:
    case DS_ERR_INVALID_REQUEST: return E_INVALIDARG_;
    case DS_ERR_IO:
        switch (os_error) {
        case EACCES:
        case EPERM: return E_ACCESSDENIED_;
        case ENOMEM: return E_OUTOFMEMORY_;
        case EFAULT: return E_DSTORAGE_ACCESS_VIOLATION_;
        case EBADF: return E_DSTORAGE_INVALID_FILE_HANDLE_;
        default: return E_READ_FAULT_;
        }
    default: return E_FAIL_;
    }
}

/* ---- waiting on Wine threads ---------------------------------------------------------------- */

/*
 * Wine threads wait in unix calls by reading an eventfd, never in
 * pthread_cond_wait or pthread_join: when the process exits, Wine ends
 * such a thread from a signal handler on a reset stack, and glibc then runs
 * the cleanup handler those two functions pushed on the overwritten stack
 * (seen as a jump to address 0 and exit code 139). read() pushes none.
 */
int wake_create(void)
{
    return eventfd(0, EFD_CLOEXEC);
}

void wake_signal(int fd)
{
    uint64_t one = 1;

    while (write(fd, &one, sizeof(one)) < 0 && errno == EINTR) continue;
}

void wake_wait(int fd)
{
    uint64_t count;

    while (read(fd, &count, sizeof(count)) < 0 && errno == EINTR) continue;
}

struct helper {
    void *(*fn)(void *);
    void *arg;
    int done;
};

static void *helper_main(void *arg)
{
    struct helper *h = arg;

    h->fn(h->arg);
    wake_signal(h->done);
    return NULL;
}

int run_on_helper_thread(void *(*fn)(void *), void *arg, size_t stack_size)
{
    struct helper h = {fn, arg, wake_create()};
    pthread_attr_t attr;
    pthread_t thread;
    int err;

    if (h.done < 0) return errno;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (stack_size) pthread_attr_setstacksize(&attr, stack_size);
    err = pthread_create(&thread, &attr, helper_main, &h);
    pthread_attr_destroy(&attr);
    if (!err) wake_wait(h.done);
    close(h.done);
    return err;
}

/* ---- actions ------------------------------------------------------------------------------------ */

static pthread_mutex_t actions_lock = PTHREAD_MUTEX_INITIALIZER;
static int actions_wake = -1; /* created by DSW_FN_INIT */
static struct dsw_action *actions;
static size_t actions_first, actions_count, actions_capacity;

void push_action(const struct dsw_action *action)
{
    struct dsw_action *grown;
    size_t capacity;

    pthread_mutex_lock(&actions_lock);
    if (actions_first + actions_count == actions_capacity) {
        if (actions_first) {
            memmove(actions, actions + actions_first, actions_count * sizeof(*actions));
            actions_first = 0;
        } else {
            capacity = actions_capacity ? actions_capacity * 2 : 64;
            grown = realloc(actions, capacity * sizeof(*actions));
            if (!grown) {
                pthread_mutex_unlock(&actions_lock);
                ERR("out of memory: action %u for queue %#lx lost\n", action->type,
                    (unsigned long)action->pe_queue);
                return;
            }
            actions = grown;
            actions_capacity = capacity;
        }
    }
    actions[actions_first + actions_count++] = *action;
    if (actions_count == 1) wake_signal(actions_wake);
    pthread_mutex_unlock(&actions_lock);
}

static NTSTATUS_t fn_wait_actions(void *args)
{
    struct dsw_wait_actions_params *params = args;
    struct dsw_action *out = (struct dsw_action *)(uintptr_t)params->actions;
    size_t n;

    if (!out || !params->max) return DSW_STATUS_INVALID_PARAMETER;
    pthread_mutex_lock(&actions_lock);
    while (!actions_count) {
        /* The eventfd counts wake-ups, so one sent before this wait is not lost. */
        pthread_mutex_unlock(&actions_lock);
        wake_wait(actions_wake);
        pthread_mutex_lock(&actions_lock);
    }
    n = actions_count < params->max ? actions_count : params->max;
    memcpy(out, actions + actions_first, n * sizeof(*out));
    actions_first += n;
    actions_count -= n;
    if (!actions_count) actions_first = 0;
    pthread_mutex_unlock(&actions_lock);
    params->count = (uint32_t)n;
    return DSW_STATUS_OK;
}

/* ---- init ---------------------------------------------------------------------------------------- */

static void copy_text(char *dst, size_t size, const char *src)
{
    snprintf(dst, size, "%s", src ? src : "");
}

static NTSTATUS_t fn_init(void *args)
{
    struct dsw_init_params *params = args;
    Dl_info info;
    int32_t level = DS_LOG_ERROR;

    if (actions_wake < 0 && (actions_wake = wake_create()) < 0) {
        ERR("cannot create an eventfd: %s\n", strerror(errno));
        return DSW_STATUS_NO_MEMORY;
    }
    log_level = params->log_level | DSW_LOG_ERROR;
    if (log_level & DSW_LOG_WARN) level = DS_LOG_WARN;
    if (log_level & DSW_LOG_DEBUG) level = DS_LOG_DEBUG;
    if (ds_set_log_callback(runtime_log, level, NULL) != DS_OK) ERR("cannot install the runtime's log hook\n");
    params->abi_version = DSW_UNIX_ABI_VERSION;
    copy_text(params->marker, sizeof(params->marker), DSW_UNIX_MARKER);
    copy_text(params->runtime_version, sizeof(params->runtime_version), ds_version());
    if (dladdr((void *)fn_init, &info) && info.dli_fname)
        copy_text(params->unix_path, sizeof(params->unix_path), info.dli_fname);
    else
        copy_text(params->unix_path, sizeof(params->unix_path), "(unknown)");
    TRACE("%s %s, runtime %s\n", DSW_UNIX_MARKER, params->unix_path, params->runtime_version);
    return DSW_STATUS_OK;
}

/* ---- codec ------------------------------------------------------------------------------------------ */

/* The encoder and decoder run on a thread of their own with a large stack:
 * a unix call has only Wine's ~1 MiB kernel stack (LOADER-FACTS section 7). */
#define CODEC_STACK (16u << 20)

enum codec_op { CODEC_COMPRESS, CODEC_DECOMPRESS };

struct codec_job {
    enum codec_op op;
    struct dsw_codec_params *params;
};

static void *codec_thread(void *arg)
{
    struct codec_job *job = arg;
    struct dsw_codec_params *p = job->params;
    const uint8_t *src = (const uint8_t *)(uintptr_t)p->src;
    uint8_t *dst = (uint8_t *)(uintptr_t)p->dst;
    uint64_t written = 0;
    ds_result r;
    char message[512];

    if (job->op == CODEC_COMPRESS)
        r = ds_gdeflate_compress(src, p->src_size, dst, p->dst_size, (int32_t)p->level, p->threads, &written);
    else
        r = ds_gdeflate_decompress(src, p->src_size, dst, p->dst_size, p->threads, &written);
    if (r == DS_OK) {
        p->written = written;
        p->hr = S_OK_;
    } else {
        last_error_text(message, sizeof(message));
        WARN("GDeflate %s of %lu bytes failed: %s\n", job->op == CODEC_COMPRESS ? "compression" : "decompression",
             (unsigned long)p->src_size, message);
        p->hr = job->op == CODEC_DECOMPRESS && (r == DS_ERR_CORRUPT || r == DS_ERR_SIZE_MISMATCH)
                    ? E_DSTORAGE_DECOMPRESSION_ERROR_
                    : hresult_of(r, ds_last_os_error());
    }
    return NULL;
}

static NTSTATUS_t run_codec(enum codec_op op, struct dsw_codec_params *params)
{
    struct codec_job job = {op, params};
    int err = run_on_helper_thread(codec_thread, &job, CODEC_STACK);

    if (err) {
        ERR("cannot start the codec thread: %s\n", strerror(err));
        params->hr = E_OUTOFMEMORY_;
    }
    return DSW_STATUS_OK;
}

NTSTATUS_t codec_compress(void *args)
{
    return run_codec(CODEC_COMPRESS, args);
}

NTSTATUS_t codec_decompress(void *args)
{
    return run_codec(CODEC_DECOMPRESS, args);
}

NTSTATUS_t codec_bound(void *args)
{
    struct dsw_codec_params *params = args;
    uint64_t bound = 0;
    ds_result r = ds_gdeflate_compress_bound(params->src_size, &bound);

    params->hr = r == DS_OK ? S_OK_ : hresult_of(r, 0);
    params->written = r == DS_OK ? bound : 0;
    return DSW_STATUS_OK;
}

/* ---- the table --------------------------------------------------------------------------------------- */

typedef NTSTATUS_t (*unixlib_entry_t)(void *args);

__attribute__((visibility("default"))) const unixlib_entry_t __wine_unix_call_funcs[] = {
    [DSW_FN_INIT] = fn_init,
    [DSW_FN_FILE_OPEN] = file_open,
    [DSW_FN_FILE_CLOSE] = file_close,
    [DSW_FN_FILE_RELEASE] = file_release,
    [DSW_FN_QUEUE_CREATE] = queue_create,
    [DSW_FN_QUEUE_CLOSE] = queue_close,
    [DSW_FN_QUEUE_RELEASE] = queue_release,
    [DSW_FN_ENQUEUE] = queue_enqueue,
    [DSW_FN_GATE_OPEN] = queue_gate_open,
    [DSW_FN_ENQUEUE_ORDER] = queue_enqueue_order,
    [DSW_FN_SUBMIT] = queue_submit,
    [DSW_FN_CANCEL_TAG] = queue_cancel_tag,
    [DSW_FN_QUERY] = queue_query,
    [DSW_FN_ERROR_RECORD] = queue_error_record,
    [DSW_FN_COMMAND_FAILED] = queue_command_failed,
    [DSW_FN_WAIT_ACTIONS] = fn_wait_actions,
    [DSW_FN_WAIT_COPIES] = queue_wait_copies,
    [DSW_FN_COPIES_DONE] = queue_copies_done,
    [DSW_FN_CUSTOM_GET] = custom_get,
    [DSW_FN_CUSTOM_RESULTS] = custom_results,
    [DSW_FN_CODEC_COMPRESS] = codec_compress,
    [DSW_FN_CODEC_DECOMPRESS] = codec_decompress,
    [DSW_FN_CODEC_BOUND] = codec_bound,
    [DSW_FN_QUEUE_FREE] = queue_free,
};

_Static_assert(sizeof(__wine_unix_call_funcs) / sizeof(__wine_unix_call_funcs[0]) == DSW_FN_COUNT,
               "one entry per function code");
