/*
 * queue.c - IDStorageQueue on the unix side: requests go to a ds-runtime
 * queue; ordering commands (status entries, fence signals, events) are
 * runtime markers; failures are counted here for status entries and the
 * error record.
 *
 * Why the shim keeps its own ordering on top of the runtime's markers: a
 * DirectStorage request can outlive its runtime request. Custom formats
 * (and GDeflate with built-in decompression disabled) are decompressed by
 * the app after the runtime read the bytes; buffer destinations are filled
 * by a D3D12 copy after the runtime wrote the upload staging; requests of
 * EnqueueRequests with a fence reach the runtime only once the fence fires.
 * Ordering commands must wait for all of that, and report its failures.
 *
 * Epochs. Every ordering command closes an epoch (the requests enqueued
 * since the previous one) and opens the next. An epoch record counts its
 * "holds" (requests in a tail stage, gates not yet opened) and keeps its
 * first failure in enqueue order. The command is delivered when its runtime
 * marker ran (so every runtime request before it ended: the runtime runs a
 * marker only after the callbacks of the requests before it returned) and
 * its epoch has no holds; commands are delivered in enqueue order. Holds
 * are only ever added to an epoch whose command has not been delivered: a
 * tail starts inside the request's runtime callback, before the marker
 * runs; a gate's requests belong to the gate's epoch, held until the gate's
 * own marker runs. So a command never waits on an earlier epoch.
 *
 * A status entry reports the first failure (lowest enqueue position) of the
 * requests since the previous status entry: failures of epochs closed by
 * signals and events carry over. Cancelled requests are not failures (the
 * runtime runs no callback for them, only release_user_data).
 *
 * Plain requests (host destination, built-in or no compression) carry no
 * callback, which is most of the shim's per-request cost: their failures
 * come through the queue's failure hook, which the runtime runs before the
 * request counts as ended. The hook finds the request's record (enqueue
 * position, epoch, the request as enqueued, its file) by runtime id in a
 * FIFO of records; a failure that arrives before its record was stored
 * waits as an "orphan" until it is. Every marker knows how many records
 * were stored before it, and prunes them when it runs (all those requests
 * have ended); a private marker prunes when no command comes for long.
 * Requests with a tail (custom decompression, GPU copy) keep a context and
 * a callback; their records only tell the hook to leave them alone.
 *
 * Locks: `enqueue_lock` serialises enqueue-side calls (so enqueue order is
 * the order of the runtime calls) and may be held across runtime calls;
 * `next_seq` and `open` change only under it (and `lock`, for the readers
 * in callbacks). `lock` guards the rest of the state and is never held
 * across a runtime call, because runtime callbacks (which take it) may run
 * inside those calls.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "private.h"

#define UQUEUE_MAGIC 0x44535175u /* "DSQu" */
/* Records stored per lock (on the ~1 MiB unix-call stack: 32 * 224 bytes). */
#define RECORD_BATCH 32

struct failure {
    int valid;
    uint64_t seq;
    hresult hr;
};

struct epoch {
    struct epoch *next;
    struct uqueue *queue;
    uint32_t kind;        /* DSW_ORDER_*, 0 while it is the open epoch */
    int fired;            /* its runtime marker ran */
    uint64_t prune_to;    /* records stored before its marker */
    uint64_t holds;
    struct failure first; /* first failed request of the epoch */
    uint64_t seq;         /* the command's own position */
    uint64_t object;      /* status array / fence / event */
    uint64_t slot;        /* status: int32_t * */
    uint64_t value;       /* signal: fence value */
    uint32_t index;
};

struct gate {
    struct gate *next;
    struct uqueue *queue;
    struct epoch *epoch;
    uint64_t seq_base;
    uint64_t submits;     /* the queue's submit count when it was reserved */
    uint64_t prune_to;    /* records stored before its marker */
    uint32_t count;
};

/* What the failure hook needs to report a request. */
struct record {
    uint64_t id;          /* the runtime's request id */
    uint64_t seq;
    struct epoch *epoch;
    struct ufile *file;   /* referenced until pruned; NULL for memory sources */
    int has_ctx;          /* its callback reports it: the hook leaves it alone */
    uint8_t app_request[DSW_APP_REQUEST_SIZE];
    char name[DS_NAME_CAPACITY];
};

/* A failure reported before its record was stored. */
struct orphan {
    uint64_t id;
    hresult hr;
    char message[DSW_MESSAGE_BYTES];
};

/* A private marker that prunes records. */
struct pruner {
    struct uqueue *queue;
    uint64_t prune_to;
};

/* The detailed first failure of the error record. */
struct first_failure {
    int valid;
    uint64_t seq;
    hresult hr;
    int32_t command_type;
    uint32_t index;
    uint64_t object, value;
    uint16_t filename[DSW_FILENAME_CHARS];
    char request_name[DSW_NAME_BYTES];
    uint8_t request[DSW_APP_REQUEST_SIZE];
    char message[DSW_MESSAGE_BYTES];
};

struct uqueue {
    uint32_t magic;
    struct ds_queue *runtime;
    uint64_t pe_queue, error_event;
    uint32_t source_type;
    uint32_t staging_size;
    char name[DS_NAME_CAPACITY];

    pthread_mutex_t enqueue_lock;
    pthread_mutex_t lock;
    int closed;
    uint64_t submits;          /* Submit calls so far */
    uint64_t next_seq;
    struct epoch *head, *open; /* undelivered commands, then the open epoch */
    struct failure carry;      /* failures of delivered epochs since the last status */
    struct gate *gates;
    /* error record */
    uint32_t failure_count;
    struct first_failure first;
    /* GPU copies for the copy thread */
    int copies_wake;
    struct dsw_copy *copies;
    size_t copy_count, copy_capacity;
    /* records of requests in the runtime: records[first .. first + count)
     * are positions base .. base + count */
    uint32_t capacity;
    struct record *records;
    size_t rec_first, rec_count, rec_capacity;
    uint64_t rec_base;
    int pruner_pending;
    struct orphan *orphans;
    size_t orphan_count, orphan_capacity;
};

static struct uqueue *uqueue_from_handle(uint64_t handle)
{
    struct uqueue *queue = (struct uqueue *)(uintptr_t)handle;

    return queue && queue->magic == UQUEUE_MAGIC ? queue : NULL;
}

static void keep_first(struct failure *f, uint64_t seq, hresult hr)
{
    if (f->valid && f->seq <= seq) return;
    f->valid = 1;
    f->seq = seq;
    f->hr = hr;
}

/* ---- failures (queue lock held) ------------------------------------------------------------- */

static void post_error(struct uqueue *queue, hresult hr, const char *message)
{
    struct dsw_action action;

    memset(&action, 0, sizeof(action));
    action.type = DSW_ACT_ERROR;
    action.hr = hr;
    action.pe_queue = queue->pe_queue;
    action.unix_queue = (uint64_t)(uintptr_t)queue;
    action.object = queue->error_event;
    snprintf(action.message, sizeof(action.message), "%s", message);
    push_action(&action);
}

/* A failed request: its epoch's first failure, the error record, the event. */
static void record_request_failure(struct uqueue *queue, struct epoch *epoch, uint64_t seq, hresult hr,
                                   const uint8_t *app_request, const struct ufile *file, const char *name,
                                   const char *message)
{
    struct first_failure *f = &queue->first;

    if (epoch) keep_first(&epoch->first, seq, hr);
    queue->failure_count++;
    if (!f->valid || seq < f->seq) {
        memset(f, 0, sizeof(*f));
        f->valid = 1;
        f->seq = seq;
        f->hr = hr;
        f->command_type = CMD_REQUEST;
        if (app_request) memcpy(f->request, app_request, sizeof(f->request));
        if (file) memcpy(f->filename, file->win_path, sizeof(f->filename));
        if (name) snprintf(f->request_name, sizeof(f->request_name), "%s", name);
        snprintf(f->message, sizeof(f->message), "%s", message);
    }
    WARN("queue %s: request %lu failed with %#x: %s\n", queue->name, (unsigned long)seq, (unsigned)hr, message);
    post_error(queue, hr, message);
}

/* A failed ordering command (bad status array, NULL fence, failed Signal or
 * SetEvent): the error record only, as it is not a request. */
static void record_command_failure(struct uqueue *queue, uint64_t seq, hresult hr, uint32_t kind, uint64_t object,
                                   uint64_t value, uint32_t index)
{
    struct first_failure *f = &queue->first;
    char message[DSW_MESSAGE_BYTES];

    snprintf(message, sizeof(message), "%s command failed with %#x",
             kind == DSW_ORDER_STATUS ? "status" : kind == DSW_ORDER_SIGNAL ? "signal" : "event", (unsigned)hr);
    queue->failure_count++;
    if (!f->valid || seq < f->seq) {
        memset(f, 0, sizeof(*f));
        f->valid = 1;
        f->seq = seq;
        f->hr = hr;
        f->command_type = kind == DSW_ORDER_STATUS ? CMD_STATUS : kind == DSW_ORDER_SIGNAL ? CMD_SIGNAL : CMD_EVENT;
        f->object = object;
        f->value = value;
        f->index = index;
        snprintf(f->message, sizeof(f->message), "%s", message);
    }
    post_error(queue, hr, message);
}

/* ---- delivery of ordering commands (queue lock held) ------------------------------------------ */

static void deliver(struct uqueue *queue)
{
    struct dsw_action action;
    struct epoch *e;
    hresult hr;

    while ((e = queue->head) != queue->open && e->fired && !e->holds) {
        queue->head = e->next;
        if (e->first.valid) keep_first(&queue->carry, e->first.seq, e->first.hr);
        memset(&action, 0, sizeof(action));
        action.pe_queue = queue->pe_queue;
        action.unix_queue = (uint64_t)(uintptr_t)queue;
        action.object = e->object;
        action.seq = e->seq;
        switch (e->kind) {
        case DSW_ORDER_STATUS:
            hr = queue->carry.valid ? queue->carry.hr : S_OK_;
            queue->carry.valid = 0;
            /* Release: the requests' writes before it are visible to an
             * acquire load that sees the result (status.c). */
            __atomic_store_n((int32_t *)(uintptr_t)e->slot, hr, __ATOMIC_RELEASE);
            action.type = DSW_ACT_RELEASE;
            action.hr = hr;
            break;
        case DSW_ORDER_SIGNAL:
            action.type = DSW_ACT_SIGNAL;
            action.value = e->value;
            break;
        default:
            action.type = DSW_ACT_SET_EVENT;
            break;
        }
        TRACE("queue %s: command %lu (kind %u) delivered\n", queue->name, (unsigned long)e->seq, e->kind);
        push_action(&action);
        free(e);
    }
}

/* ---- records of plain requests (queue lock held) ------------------------------------------ */

/* Drops the records stored before position `to`: their requests ended. */
static void prune(struct uqueue *queue, uint64_t to)
{
    struct record *r;

    while (queue->rec_count && queue->rec_base < to) {
        r = &queue->records[queue->rec_first++];
        if (r->file) ufile_unref(r->file);
        queue->rec_count--;
        queue->rec_base++;
    }
    if (!queue->rec_count) queue->rec_first = 0;
}

static void report(struct uqueue *queue, const struct record *r, hresult hr, const char *message)
{
    if (!r->has_ctx) record_request_failure(queue, r->epoch, r->seq, hr, r->app_request, r->file, r->name, message);
}

/* Stores records (the requests are in the runtime); a failure that came
 * first is reported now. Returns 0 without memory (the records are then
 * reported as lost, see below). */
static int store_records(struct uqueue *queue, const struct record *batch, size_t n)
{
    struct record *grown;
    size_t i, k, capacity;

    if (queue->rec_first + queue->rec_count + n > queue->rec_capacity) {
        memmove(queue->records, queue->records + queue->rec_first, queue->rec_count * sizeof(*grown));
        queue->rec_first = 0;
        if (queue->rec_count + n > queue->rec_capacity) {
            capacity = queue->rec_capacity ? queue->rec_capacity : 256;
            while (capacity < queue->rec_count + n) capacity *= 2;
            grown = realloc(queue->records, capacity * sizeof(*grown));
            if (!grown) return 0;
            queue->records = grown;
            queue->rec_capacity = capacity;
        }
    }
    for (i = 0; i < n; i++) {
        queue->records[queue->rec_first + queue->rec_count++] = batch[i];
        for (k = 0; k < queue->orphan_count; k++) {
            if (queue->orphans[k].id != batch[i].id) continue;
            report(queue, &batch[i], queue->orphans[k].hr, queue->orphans[k].message);
            queue->orphans[k] = queue->orphans[--queue->orphan_count];
            break;
        }
    }
    return 1;
}

/* The queue's failure hook (runtime threads, or inside runtime calls): the
 * request has not counted as ended yet, so its record is still stored, or
 * not stored yet. */
static void on_runtime_failure(const struct ds_error_info *info, void *user)
{
    struct uqueue *queue = user;
    hresult hr = hresult_of(info->result, info->os_error);
    struct orphan *grown;
    size_t i, capacity, len;

    pthread_mutex_lock(&queue->lock);
    for (i = 0; i < queue->rec_count; i++) {
        if (queue->records[queue->rec_first + i].id != info->request_id) continue;
        report(queue, &queue->records[queue->rec_first + i], hr, info->message);
        pthread_mutex_unlock(&queue->lock);
        return;
    }
    if (queue->orphan_count == queue->orphan_capacity) {
        capacity = queue->orphan_capacity ? queue->orphan_capacity * 2 : 8;
        grown = realloc(queue->orphans, capacity * sizeof(*grown));
        if (!grown) {
            ERR("queue %s: out of memory: failure of request %#lx not reported: %s\n", queue->name,
                (unsigned long)info->request_id, info->message);
            pthread_mutex_unlock(&queue->lock);
            return;
        }
        queue->orphans = grown;
        queue->orphan_capacity = capacity;
    }
    queue->orphans[queue->orphan_count].id = info->request_id;
    queue->orphans[queue->orphan_count].hr = hr;
    /* The runtime's message is cut to what the error record holds. */
    len = strnlen(info->message, DSW_MESSAGE_BYTES - 1);
    memcpy(queue->orphans[queue->orphan_count].message, info->message, len);
    queue->orphans[queue->orphan_count].message[len] = 0;
    queue->orphan_count++;
    pthread_mutex_unlock(&queue->lock);
}

static void on_marker(void *user)
{
    struct epoch *e = user;
    struct uqueue *queue = e->queue;

    pthread_mutex_lock(&queue->lock);
    prune(queue, e->prune_to);
    e->fired = 1;
    deliver(queue);
    pthread_mutex_unlock(&queue->lock);
}

static void on_pruner(void *user)
{
    struct pruner *p = user;
    struct uqueue *queue = p->queue;

    pthread_mutex_lock(&queue->lock);
    prune(queue, p->prune_to);
    queue->pruner_pending = 0;
    pthread_mutex_unlock(&queue->lock);
    free(p);
}

/* Drops one hold of `epoch` (queue lock held). */
static void drop_hold(struct uqueue *queue, struct epoch *epoch)
{
    if (queue->closed) return;
    epoch->holds--;
    deliver(queue);
}

/* ---- request contexts --------------------------------------------------------------------------- */

void ctx_free(struct uctx *ctx)
{
    if (ctx->file) ufile_unref(ctx->file);
    free(ctx->staging);
    free(ctx);
}

/* Queues a copy for the copy thread, or with `discard` only the release of
 * the request's staging range (queue lock held). A copy's ticket is the
 * context, reported back by queue_copies_done; a discard carries none. */
static void push_copy(struct uqueue *queue, const struct uctx *ctx, uint32_t discard)
{
    struct dsw_copy *grown;
    size_t capacity;

    if (queue->copy_count == queue->copy_capacity) {
        capacity = queue->copy_capacity ? queue->copy_capacity * 2 : 64;
        grown = realloc(queue->copies, capacity * sizeof(*grown));
        if (!grown) {
            ERR("out of memory queueing a GPU copy; staging at %#lx is lost\n", (unsigned long)ctx->staging_offset);
            return;
        }
        queue->copies = grown;
        queue->copy_capacity = capacity;
    }
    if (!queue->copy_count) wake_signal(queue->copies_wake);
    queue->copies[queue->copy_count++] = (struct dsw_copy){
        .ticket = discard ? 0 : (uint64_t)(uintptr_t)ctx,
        .resource = ctx->gpu_resource,
        .dst_offset = ctx->gpu_offset,
        .staging_offset = ctx->staging_offset,
        .size = ctx->dst_size,
        .discard = discard,
    };
}

/* A request that ends without reaching its destination: give back its GPU
 * staging, then free it. */
static void ctx_discard(struct uqueue *queue, struct uctx *ctx)
{
    if (queue && ctx->dest == DSW_DEST_GPU) {
        pthread_mutex_lock(&queue->lock);
        push_copy(queue, ctx, 1);
        pthread_mutex_unlock(&queue->lock);
    }
    ctx_free(ctx);
}

/* Runtime callback: the request completed or failed. */
static void on_request_done(const struct ds_completion *completion, void *user)
{
    struct uctx *ctx = user;
    struct uqueue *queue = ctx->queue;
    char message[DSW_MESSAGE_BYTES];

    if (completion->result != DS_OK) {
        last_error_text(message, sizeof(message));
        pthread_mutex_lock(&queue->lock);
        record_request_failure(queue, ctx->epoch, ctx->seq, hresult_of(completion->result, completion->os_error),
                               ctx->app_request, ctx->file, ctx->name, message);
        pthread_mutex_unlock(&queue->lock);
        ctx_discard(queue, ctx);
        return;
    }
    if (ctx->app_decompresses) {
        /* The hold is taken before this callback returns, so the marker of
         * the next ordering command cannot have run yet. */
        pthread_mutex_lock(&queue->lock);
        ctx->epoch->holds++;
        ctx->state = CTX_CUSTOM_READY;
        pthread_mutex_unlock(&queue->lock);
        custom_add(ctx);
        return;
    }
    if (ctx->dest == DSW_DEST_GPU) {
        pthread_mutex_lock(&queue->lock);
        ctx->epoch->holds++;
        ctx->state = CTX_COPY_QUEUED;
        push_copy(queue, ctx, 0);
        pthread_mutex_unlock(&queue->lock);
        return;
    }
    ctx_free(ctx);
}

/* Runtime callback: an accepted request will not run its callback
 * (cancelled, or the queue shut down). */
static void on_request_dropped(void *user)
{
    struct uctx *ctx = user;

    ctx_discard(ctx->queue, ctx);
}

void queue_custom_done(struct uctx *ctx, hresult result)
{
    struct uqueue *queue = ctx->queue;
    int cancelled = __atomic_load_n(&ctx->cancelled, __ATOMIC_ACQUIRE);
    char message[DSW_MESSAGE_BYTES];

    if (!queue) {
        /* Its queue was closed while the app held it. */
        ctx_free(ctx);
        return;
    }
    pthread_mutex_lock(&queue->lock);
    if (queue->closed) {
        pthread_mutex_unlock(&queue->lock);
        ctx_free(ctx);
        return;
    }
    if (!FAILED_(result) && !cancelled && ctx->dest == DSW_DEST_GPU) {
        /* Decompressed into upload staging: now the copy into the buffer;
         * the hold stays until the copy is done. */
        ctx->state = CTX_COPY_QUEUED;
        push_copy(queue, ctx, 0);
        pthread_mutex_unlock(&queue->lock);
        return;
    }
    if (FAILED_(result) && !cancelled) {
        snprintf(message, sizeof(message), "custom decompression of format %#x (%lu -> %lu bytes) failed with %#x",
                 ctx->format, (unsigned long)ctx->src_size, (unsigned long)ctx->dst_size, (unsigned)result);
        record_request_failure(queue, ctx->epoch, ctx->seq, result, ctx->app_request, ctx->file, ctx->name, message);
    }
    if (ctx->dest == DSW_DEST_GPU) push_copy(queue, ctx, 1);
    drop_hold(queue, ctx->epoch);
    pthread_mutex_unlock(&queue->lock);
    ctx_free(ctx);
}

/* ---- queue life ------------------------------------------------------------------------------------- */

static struct epoch *new_epoch(struct uqueue *queue)
{
    struct epoch *e = calloc(1, sizeof(*e));

    if (e) e->queue = queue;
    return e;
}

static void free_queue(struct uqueue *queue)
{
    struct epoch *e;

    while ((e = queue->head)) {
        queue->head = e->next;
        free(e);
    }
    free(queue->copies);
    free(queue->records);
    free(queue->orphans);
    if (queue->copies_wake >= 0) close(queue->copies_wake);
    pthread_mutex_destroy(&queue->lock);
    pthread_mutex_destroy(&queue->enqueue_lock);
    free(queue);
}

NTSTATUS_t queue_create(void *args)
{
    struct dsw_queue_create_params *params = args;
    struct ds_io_uring_backend_config uring;
    struct ds_queue_config config;
    struct ds_backend *backend = NULL;
    struct uqueue *queue;
    ds_result r;

    queue = calloc(1, sizeof(*queue));
    if (!queue) {
        params->hr = E_OUTOFMEMORY_;
        snprintf(params->message, sizeof(params->message), "out of memory");
        return DSW_STATUS_OK;
    }
    pthread_mutex_init(&queue->enqueue_lock, NULL);
    pthread_mutex_init(&queue->lock, NULL);
    queue->copies_wake = wake_create();
    queue->head = queue->open = new_epoch(queue);
    if (!queue->open || queue->copies_wake < 0) {
        params->hr = E_OUTOFMEMORY_;
        snprintf(params->message, sizeof(params->message), "out of memory or eventfds");
        free_queue(queue);
        return DSW_STATUS_OK;
    }
    queue->capacity = params->capacity;
    queue->pe_queue = params->pe_queue;
    queue->error_event = params->error_event;
    queue->source_type = params->source_type;
    queue->staging_size = params->staging_size;
    snprintf(queue->name, sizeof(queue->name), "%s",
             params->name && *(const char *)(uintptr_t)params->name ? (const char *)(uintptr_t)params->name : "queue");

    if (params->backend == DSW_BACKEND_PREAD) {
        r = ds_make_cpu_backend(params->io_threads, &backend);
    } else {
        memset(&uring, 0, sizeof(uring));
        uring.struct_size = sizeof(uring);
        uring.rings = params->io_threads;
        r = ds_make_io_uring_backend(&uring, &backend);
    }
    if (r == DS_OK) {
        memset(&config, 0, sizeof(config));
        config.struct_size = sizeof(config);
        config.capacity = params->capacity;
        config.priority = params->priority;
        config.decompress_threads = params->cpu_threads > 0 ? (uint32_t)params->cpu_threads : 0;
        /* DirectStorage's staging size 0 refuses every compressed request;
         * those are refused here before the runtime sees them. */
        config.staging_buffer_size = params->staging_size ? params->staging_size : 1;
        config.name = queue->name;
        config.on_failure = on_runtime_failure;
        config.on_failure_user_data = queue;
        r = ds_queue_create(backend, &config, &queue->runtime);
        /* The queue keeps what it needs of the backend. */
        ds_backend_release(backend);
    }
    if (r != DS_OK) {
        last_error_text(params->message, sizeof(params->message));
        params->hr = hresult_of(r, ds_last_os_error());
        free_queue(queue);
        return DSW_STATUS_OK;
    }
    queue->magic = UQUEUE_MAGIC;
    TRACE("queue %s created (capacity %u, priority %d, backend %u)\n", queue->name, params->capacity,
          params->priority, params->backend);
    params->queue = (uint64_t)(uintptr_t)queue;
    params->hr = S_OK_;
    return DSW_STATUS_OK;
}

static void *release_runtime(void *arg)
{
    struct uqueue *queue = arg;

    if (ds_queue_release(queue->runtime) != DS_OK) ERR("queue %s: runtime shutdown failed\n", queue->name);
    return NULL;
}

static void close_queue(struct uqueue *queue)
{
    struct uctx *ctx, *next;
    struct gate *gate;
    struct epoch *e;
    size_t i, kept;

    pthread_mutex_lock(&queue->enqueue_lock);
    if (queue->closed) {
        pthread_mutex_unlock(&queue->enqueue_lock);
        return;
    }
    /* Cancels everything still in the runtime (strongly: no destination is
     * written after it returns) and runs the markers still waiting. It joins
     * the runtime's threads, so it runs on a helper thread (see wake_wait). */
    if (run_on_helper_thread(release_runtime, queue, 0)) release_runtime(queue);
    queue->runtime = NULL;

    for (ctx = custom_detach(queue); ctx; ctx = next) {
        next = ctx->next;
        ctx_discard(queue, ctx);
    }

    pthread_mutex_lock(&queue->lock);
    /* Copies not started are dropped; the staging goes back to the ring. The
     * running ones end through queue_copies_done. */
    for (i = kept = 0; i < queue->copy_count; i++) {
        if (!queue->copies[i].discard) {
            ctx = (struct uctx *)(uintptr_t)queue->copies[i].ticket;
            queue->copies[i].discard = 1;
            queue->copies[i].ticket = 0;
            ctx_free(ctx);
        }
        queue->copies[kept++] = queue->copies[i];
    }
    queue->copy_count = kept;
    while ((gate = queue->gates)) {
        queue->gates = gate->next;
        free(gate);
    }
    /* Nothing holds the commands any more: deliver them all (their markers
     * ran during the shutdown), so no status entry or fence waits forever. */
    for (e = queue->head; e != queue->open; e = e->next) {
        e->holds = 0;
        e->fired = 1;
    }
    deliver(queue);
    prune(queue, queue->rec_base + queue->rec_count);
    queue->orphan_count = 0;
    queue->closed = 1;
    wake_signal(queue->copies_wake);
    pthread_mutex_unlock(&queue->lock);
    pthread_mutex_unlock(&queue->enqueue_lock);
    TRACE("queue %s closed\n", queue->name);
}

NTSTATUS_t queue_close(void *args)
{
    struct dsw_handle_params *params = args;
    struct uqueue *queue = uqueue_from_handle(params->handle);

    if (!queue) return DSW_STATUS_INVALID_HANDLE;
    close_queue(queue);
    params->hr = S_OK_;
    return DSW_STATUS_OK;
}

/* The PE side released its last reference: close, and have the completion
 * thread free both halves once it ran every action queued before (one of
 * them may still report a failed command on this queue). */
NTSTATUS_t queue_release(void *args)
{
    struct dsw_handle_params *params = args;
    struct uqueue *queue = uqueue_from_handle(params->handle);
    struct dsw_action action;

    if (!queue) return DSW_STATUS_INVALID_HANDLE;
    close_queue(queue);
    memset(&action, 0, sizeof(action));
    action.type = DSW_ACT_QUEUE_FREE;
    action.pe_queue = queue->pe_queue;
    action.unix_queue = (uint64_t)(uintptr_t)queue;
    push_action(&action);
    params->hr = S_OK_;
    return DSW_STATUS_OK;
}

NTSTATUS_t queue_free(void *args)
{
    struct dsw_handle_params *params = args;
    struct uqueue *queue = uqueue_from_handle(params->handle);

    if (!queue || !queue->closed) return DSW_STATUS_INVALID_HANDLE;
    queue->magic = 0;
    free_queue(queue);
    params->hr = S_OK_;
    return DSW_STATUS_OK;
}

/* ---- enqueueing ----------------------------------------------------------------------------------- */

/* The runtime takes names of at most 64 bytes of UTF-8; DirectStorage names
 * are ANSI: keep ASCII, show other bytes as '?'. */
static void copy_name(char *dst, const char *src)
{
    size_t i;

    for (i = 0; src && src[i] && i < DS_MAX_NAME_LEN; i++) dst[i] = (unsigned char)src[i] < 0x80 ? src[i] : '?';
    dst[i] = 0;
}

/* Runtime calls that take a slot wait here while the queue is full: the
 * runtime has a waiting enqueue for requests, not for markers. */
static ds_result enqueue_marker(struct uqueue *queue, ds_notify_fn callback, void *user)
{
    struct timespec pause = {0, 50000};
    ds_result r;

    while ((r = ds_queue_enqueue_marker(queue->runtime, callback, user)) == DS_ERR_QUEUE_FULL) {
        ds_queue_submit_all(queue->runtime);
        nanosleep(&pause, NULL);
    }
    return r;
}

static struct gate *find_gate(struct uqueue *queue, uint64_t handle)
{
    struct gate *gate;

    for (gate = queue->gates; gate; gate = gate->next)
        if ((uint64_t)(uintptr_t)gate == handle) return gate;
    return NULL;
}

/* Fails a request that never reached the runtime. A buffer destination's
 * staging (reserved by the PE side exactly when dest is DSW_DEST_GPU) goes
 * back to the ring unless `keep_staging` (a context still owns it). */
static void fail_before_runtime(struct uqueue *queue, struct epoch *epoch, uint64_t seq, const struct dsw_request *r,
                                struct ufile *file, hresult hr, const char *message, int keep_staging)
{
    struct uctx staging = {.dest = r->dest, .staging_offset = r->staging_offset};
    char name[DS_NAME_CAPACITY];

    copy_name(name, (const char *)(uintptr_t)r->name);
    pthread_mutex_lock(&queue->lock);
    record_request_failure(queue, epoch, seq, hr, r->app_request ? (const uint8_t *)(uintptr_t)r->app_request : NULL,
                           file, name, message);
    if (r->dest == DSW_DEST_GPU && !keep_staging) push_copy(queue, &staging, 1);
    pthread_mutex_unlock(&queue->lock);
}

/* The runtime request of a DirectStorage request reading into `dst`. */
static void runtime_request(struct ds_request *req, const struct dsw_request *r, struct ufile *file, const char *name)
{
    memset(req, 0, sizeof(*req));
    req->struct_size = sizeof(*req);
    req->operation = DS_OP_READ;
    req->cancellation_tag = r->tag;
    req->name = name[0] ? name : NULL;
    if (file) {
        req->source_type = DS_SOURCE_FILE;
        req->file = file->file;
        req->file_offset = r->src_offset;
    } else {
        req->source_type = DS_SOURCE_MEMORY;
        req->source = (const void *)(uintptr_t)r->src_ptr;
    }
    req->source_size = r->src_size;
    req->destination_type = DS_DEST_MEMORY;
    req->destination = (void *)(uintptr_t)r->dst_ptr;
    req->destination_size = r->dst_size;
    req->compression = r->format == FORMAT_GDEFLATE ? DS_COMPRESSION_GDEFLATE : DS_COMPRESSION_NONE;
    req->uncompressed_size = r->format == FORMAT_GDEFLATE ? r->uncompressed_size : 0;
}

/* A request with a tail: a context, and a callback that starts the tail. */
static int enqueue_with_ctx(struct uqueue *queue, const struct dsw_request *r, struct ufile *file, uint64_t seq,
                            struct epoch *epoch, struct record *rec)
{
    char message[DSW_MESSAGE_BYTES];
    struct ds_request req;
    struct uctx *ctx;
    ds_result res;

    ctx = calloc(1, sizeof(*ctx));
    if (!ctx) {
        fail_before_runtime(queue, epoch, seq, r, file, E_OUTOFMEMORY_, "out of memory", 0);
        return 0;
    }
    ctx->queue = queue;
    ctx->epoch = epoch;
    ctx->seq = seq;
    ctx->tag = r->tag;
    ctx->format = r->format;
    ctx->dest = r->dest;
    ctx->app_decompresses = r->app_decompresses;
    ctx->src_offset = r->src_offset;
    ctx->src_size = r->src_size;
    ctx->dst_ptr = r->dst_ptr;
    ctx->dst_size = r->dst_size;
    ctx->gpu_resource = r->gpu_resource;
    ctx->gpu_offset = r->gpu_offset;
    ctx->staging_offset = r->staging_offset;
    if (r->app_request) memcpy(ctx->app_request, (const void *)(uintptr_t)r->app_request, sizeof(ctx->app_request));
    copy_name(ctx->name, (const char *)(uintptr_t)r->name);
    if (file) {
        ufile_ref(file);
        ctx->file = file;
    }

    if (ctx->app_decompresses && !file) {
        /* Memory source for the app's decompressor: nothing to read. */
        ctx->src = (const void *)(uintptr_t)r->src_ptr;
        pthread_mutex_lock(&queue->lock);
        epoch->holds++;
        ctx->state = CTX_CUSTOM_READY;
        pthread_mutex_unlock(&queue->lock);
        custom_add(ctx);
        return 0;
    }

    runtime_request(&req, r, file, ctx->name);
    req.callback = on_request_done;
    req.user_data = ctx;
    req.release_user_data = on_request_dropped;
    if (ctx->app_decompresses) {
        /* Read the compressed bytes for the app's decompressor. */
        ctx->staging = malloc(r->src_size);
        if (!ctx->staging) {
            fail_before_runtime(queue, epoch, seq, r, file, E_OUTOFMEMORY_, "out of memory for custom staging", 1);
            ctx_discard(queue, ctx);
            return 0;
        }
        ctx->src = ctx->staging;
        req.destination = ctx->staging;
        req.destination_size = r->src_size;
        req.compression = DS_COMPRESSION_NONE;
        req.uncompressed_size = 0;
    }
    res = ds_queue_enqueue_wait(queue->runtime, &req, DS_INFINITE, &rec->id);
    if (res != DS_OK) {
        /* Refused: neither callback runs; the context is still ours. */
        last_error_text(message, sizeof(message));
        fail_before_runtime(queue, epoch, seq, r, file, hresult_of(res, ds_last_os_error()), message, 1);
        ctx_discard(queue, ctx);
        return 0;
    }
    rec->has_ctx = 1;
    rec->file = NULL;
    return 1;
}

/* Enqueues one request into the runtime; fills `rec` and returns 1 when the
 * runtime took it (the caller stores the record). */
static int enqueue_one(struct uqueue *queue, const struct dsw_request *r, struct gate *gate, struct record *rec)
{
    struct ufile *file = NULL;
    struct ds_request req;
    struct epoch *epoch;
    char message[DSW_MESSAGE_BYTES];
    uint64_t seq;
    ds_result res;

    /* next_seq and open change only under enqueue_lock, which we hold. */
    if (gate) {
        seq = gate->seq_base + (r->gate_index < gate->count ? r->gate_index : gate->count - 1);
        epoch = gate->epoch;
    } else {
        seq = queue->next_seq++;
        epoch = queue->open;
    }

    if (r->file && !(file = ufile_from_handle(r->file))) {
        fail_before_runtime(queue, epoch, seq, r, NULL, E_DSTORAGE_INVALID_FILE_HANDLE_, "unknown file handle", 0);
        return 0;
    }
    if (r->hr) {
        snprintf(message, sizeof(message), "EnqueueRequest refused the request: %#x", (unsigned)r->hr);
        fail_before_runtime(queue, epoch, seq, r, file, r->hr, message, 0);
        return 0;
    }
    if (r->format != FORMAT_NONE && r->src_size > queue->staging_size) {
        snprintf(message, sizeof(message), "compressed request of %u bytes exceeds the %u-byte staging buffer",
                 r->src_size, queue->staging_size);
        fail_before_runtime(queue, epoch, seq, r, file, E_DSTORAGE_STAGING_BUFFER_TOO_SMALL_, message, 0);
        return 0;
    }

    rec->seq = seq;
    rec->epoch = epoch;
    rec->has_ctx = 0;
    if (r->app_decompresses || r->dest == DSW_DEST_GPU) return enqueue_with_ctx(queue, r, file, seq, epoch, rec);

    /* Plain: no callback; the record reports a failure through the hook. */
    if (r->app_request) memcpy(rec->app_request, (const void *)(uintptr_t)r->app_request, sizeof(rec->app_request));
    else memset(rec->app_request, 0, sizeof(rec->app_request));
    copy_name(rec->name, (const char *)(uintptr_t)r->name);
    runtime_request(&req, r, file, rec->name);
    res = ds_queue_enqueue_wait(queue->runtime, &req, DS_INFINITE, &rec->id);
    if (res != DS_OK) {
        last_error_text(message, sizeof(message));
        fail_before_runtime(queue, epoch, seq, r, file, hresult_of(res, ds_last_os_error()), message, 0);
        return 0;
    }
    if (file) ufile_ref(file);
    rec->file = file;
    return 1;
}

/* Stores a batch of records; keeps their count bounded with a private
 * pruning marker when no ordering command comes (enqueue_lock held). */
static void flush_records(struct uqueue *queue, const struct record *batch, size_t n)
{
    struct pruner *p = NULL;
    size_t i;

    if (!n) return;
    pthread_mutex_lock(&queue->lock);
    if (!store_records(queue, batch, n)) {
        ERR("queue %s: out of memory: failures of %lu requests will not be reported\n", queue->name,
            (unsigned long)n);
        for (i = 0; i < n; i++)
            if (batch[i].file) ufile_unref(batch[i].file);
    }
    if (queue->rec_count > 2 * (size_t)queue->capacity && !queue->pruner_pending && (p = malloc(sizeof(*p)))) {
        p->queue = queue;
        p->prune_to = queue->rec_base + queue->rec_count;
        queue->pruner_pending = 1;
    }
    pthread_mutex_unlock(&queue->lock);
    if (p && enqueue_marker(queue, on_pruner, p) != DS_OK) {
        pthread_mutex_lock(&queue->lock);
        queue->pruner_pending = 0;
        pthread_mutex_unlock(&queue->lock);
        free(p);
    }
}

NTSTATUS_t queue_enqueue(void *args)
{
    struct dsw_enqueue_params *params = args;
    struct uqueue *queue = uqueue_from_handle(params->queue);
    const struct dsw_request *requests = (const struct dsw_request *)(uintptr_t)params->requests;
    struct record batch[RECORD_BATCH];
    struct gate *gate = NULL;
    uint32_t i, n = 0;

    if (!queue) return DSW_STATUS_INVALID_HANDLE;
    pthread_mutex_lock(&queue->enqueue_lock);
    if (queue->closed) {
        pthread_mutex_unlock(&queue->enqueue_lock);
        params->hr = E_DSTORAGE_QUEUE_CLOSED_;
        return DSW_STATUS_OK;
    }
    if (params->reserve) {
        gate = calloc(1, sizeof(*gate));
        if (!gate || !params->count) {
            free(gate);
            pthread_mutex_unlock(&queue->enqueue_lock);
            params->hr = gate ? E_INVALIDARG_ : E_OUTOFMEMORY_;
            return DSW_STATUS_OK;
        }
        pthread_mutex_lock(&queue->lock);
        gate->queue = queue;
        gate->epoch = queue->open;
        gate->count = params->count;
        gate->submits = queue->submits;
        gate->seq_base = queue->next_seq;
        queue->next_seq += params->count;
        queue->open->holds++;
        gate->next = queue->gates;
        queue->gates = gate;
        pthread_mutex_unlock(&queue->lock);
        pthread_mutex_unlock(&queue->enqueue_lock);
        params->gate = (uint64_t)(uintptr_t)gate;
        params->hr = S_OK_;
        return DSW_STATUS_OK;
    }
    if (params->gate) {
        pthread_mutex_lock(&queue->lock);
        gate = find_gate(queue, params->gate);
        pthread_mutex_unlock(&queue->lock);
        if (!gate) {
            pthread_mutex_unlock(&queue->enqueue_lock);
            return DSW_STATUS_INVALID_HANDLE;
        }
    }
    if (!requests && params->count) {
        pthread_mutex_unlock(&queue->enqueue_lock);
        return DSW_STATUS_INVALID_PARAMETER;
    }
    for (i = 0; i < params->count; i++) {
        if (enqueue_one(queue, &requests[i], gate, &batch[n])) n++;
        if (n == RECORD_BATCH) {
            flush_records(queue, batch, n);
            n = 0;
        }
    }
    flush_records(queue, batch, n);
    pthread_mutex_unlock(&queue->enqueue_lock);
    params->hr = S_OK_;
    return DSW_STATUS_OK;
}

static void on_gate_marker(void *user)
{
    struct gate *gate = user, **link;
    struct uqueue *queue = gate->queue;

    pthread_mutex_lock(&queue->lock);
    for (link = &queue->gates; *link; link = &(*link)->next)
        if (*link == gate) {
            *link = gate->next;
            break;
        }
    prune(queue, gate->prune_to);
    drop_hold(queue, gate->epoch);
    pthread_mutex_unlock(&queue->lock);
    free(gate);
}

NTSTATUS_t queue_gate_open(void *args)
{
    struct dsw_gate_params *params = args;
    struct uqueue *queue = uqueue_from_handle(params->queue);
    struct gate *gate;
    int submitted;

    if (!queue) return DSW_STATUS_INVALID_HANDLE;
    pthread_mutex_lock(&queue->enqueue_lock);
    pthread_mutex_lock(&queue->lock);
    gate = queue->closed ? NULL : find_gate(queue, params->gate);
    if (gate) gate->prune_to = queue->rec_base + queue->rec_count;
    pthread_mutex_unlock(&queue->lock);
    if (!gate) {
        pthread_mutex_unlock(&queue->enqueue_lock);
        params->hr = E_DSTORAGE_QUEUE_CLOSED_;
        return DSW_STATUS_OK;
    }
    /* Runs once the gate's requests (enqueued just before) ended. */
    submitted = gate->submits != queue->submits;
    if (enqueue_marker(queue, on_gate_marker, gate) != DS_OK) on_gate_marker(gate);
    /* The app submitted them while they waited: they run now. */
    if (submitted) ds_queue_submit_all(queue->runtime);
    pthread_mutex_unlock(&queue->enqueue_lock);
    params->hr = S_OK_;
    return DSW_STATUS_OK;
}

/* An accepted command that will not run: end its status entry with `hr`
 * and drop the references the PE side took (queue lock held). */
static void release_order_refs(struct uqueue *queue, const struct dsw_order_params *params, hresult hr)
{
    struct dsw_action action;

    if (params->kind == DSW_ORDER_EVENT) return;
    if (params->kind == DSW_ORDER_STATUS) __atomic_store_n((int32_t *)(uintptr_t)params->status_slot, hr, __ATOMIC_RELEASE);
    memset(&action, 0, sizeof(action));
    action.type = DSW_ACT_RELEASE;
    action.pe_queue = queue->pe_queue;
    action.object = params->object;
    push_action(&action);
}

NTSTATUS_t queue_enqueue_order(void *args)
{
    struct dsw_order_params *params = args;
    struct uqueue *queue = uqueue_from_handle(params->queue);
    struct epoch *e, *open;
    int closed;

    if (!queue) return DSW_STATUS_INVALID_HANDLE;
    pthread_mutex_lock(&queue->enqueue_lock);
    pthread_mutex_lock(&queue->lock);
    closed = queue->closed;
    if (params->hr || closed) {
        record_command_failure(queue, queue->next_seq++, closed ? E_DSTORAGE_QUEUE_CLOSED_ : params->hr,
                               params->kind, params->object, params->value, params->index);
        if (!params->hr) release_order_refs(queue, params, E_DSTORAGE_QUEUE_CLOSED_);
        pthread_mutex_unlock(&queue->lock);
        pthread_mutex_unlock(&queue->enqueue_lock);
        return DSW_STATUS_OK;
    }
    if (!(open = new_epoch(queue))) {
        record_command_failure(queue, queue->next_seq++, E_OUTOFMEMORY_, params->kind, params->object, params->value,
                               params->index);
        release_order_refs(queue, params, E_OUTOFMEMORY_);
        pthread_mutex_unlock(&queue->lock);
        pthread_mutex_unlock(&queue->enqueue_lock);
        return DSW_STATUS_OK;
    }
    e = queue->open;
    e->kind = params->kind;
    e->seq = queue->next_seq++;
    e->object = params->object;
    e->slot = params->status_slot;
    e->value = params->value;
    e->index = params->index;
    e->prune_to = queue->rec_base + queue->rec_count;
    e->next = open;
    queue->open = open;
    pthread_mutex_unlock(&queue->lock);
    if (enqueue_marker(queue, on_marker, e) != DS_OK) on_marker(e);
    pthread_mutex_unlock(&queue->enqueue_lock);
    return DSW_STATUS_OK;
}

NTSTATUS_t queue_submit(void *args)
{
    struct dsw_handle_params *params = args;
    struct uqueue *queue = uqueue_from_handle(params->handle);

    if (!queue) return DSW_STATUS_INVALID_HANDLE;
    pthread_mutex_lock(&queue->enqueue_lock);
    params->hr = queue->closed ? E_DSTORAGE_QUEUE_CLOSED_ : S_OK_;
    queue->submits++;
    if (!queue->closed) ds_queue_submit_all(queue->runtime);
    pthread_mutex_unlock(&queue->enqueue_lock);
    return DSW_STATUS_OK;
}

NTSTATUS_t queue_cancel_tag(void *args)
{
    struct dsw_cancel_params *params = args;
    struct uqueue *queue = uqueue_from_handle(params->queue);
    struct uctx *ctx, *next;
    uint64_t count = 0;
    uint32_t taken = 0;

    if (!queue) return DSW_STATUS_INVALID_HANDLE;
    pthread_mutex_lock(&queue->enqueue_lock);
    if (queue->closed) {
        pthread_mutex_unlock(&queue->enqueue_lock);
        return DSW_STATUS_OK;
    }
    /* DirectStorage's cancel is the weak form: a request being written may
     * still complete. */
    if (ds_queue_try_cancel_by_tag(queue->runtime, params->mask, params->value, &count) != DS_OK)
        ERR("queue %s: cancel by tag failed\n", queue->name);
    for (ctx = custom_cancel(queue, params->mask, params->value); ctx; ctx = next) {
        next = ctx->next;
        pthread_mutex_lock(&queue->lock);
        if (ctx->dest == DSW_DEST_GPU) push_copy(queue, ctx, 1);
        drop_hold(queue, ctx->epoch);
        pthread_mutex_unlock(&queue->lock);
        ctx_free(ctx);
        taken++;
    }
    pthread_mutex_unlock(&queue->enqueue_lock);
    params->cancelled = (uint32_t)count + taken;
    return DSW_STATUS_OK;
}

NTSTATUS_t queue_query(void *args)
{
    struct dsw_query_params *params = args;
    struct uqueue *queue = uqueue_from_handle(params->queue);
    struct ds_queue_info info;

    if (!queue) return DSW_STATUS_INVALID_HANDLE;
    params->empty_slots = params->until_auto_submit = 0;
    pthread_mutex_lock(&queue->enqueue_lock);
    memset(&info, 0, sizeof(info));
    info.struct_size = sizeof(info);
    if (!queue->closed && ds_queue_query(queue->runtime, &info) == DS_OK) {
        /* DirectStorage keeps one slot free to tell full from empty. */
        params->empty_slots = info.empty_slots ? info.empty_slots - 1 : 0;
        params->until_auto_submit = info.requests_until_auto_submit;
    }
    pthread_mutex_unlock(&queue->enqueue_lock);
    return DSW_STATUS_OK;
}

NTSTATUS_t queue_error_record(void *args)
{
    struct dsw_error_record_params *params = args;
    struct uqueue *queue = uqueue_from_handle(params->queue);
    struct first_failure *f;

    if (!queue) return DSW_STATUS_INVALID_HANDLE;
    pthread_mutex_lock(&queue->lock);
    f = &queue->first;
    params->failure_count = queue->failure_count;
    params->hr = f->valid ? f->hr : S_OK_;
    params->command_type = f->valid ? f->command_type : -1;
    params->index = f->index;
    params->object = f->object;
    params->value = f->value;
    memcpy(params->filename, f->filename, sizeof(params->filename));
    memcpy(params->request_name, f->request_name, sizeof(params->request_name));
    memcpy(params->request, f->request, sizeof(params->request));
    memcpy(params->message, f->message, sizeof(params->message));
    queue->failure_count = 0;
    memset(f, 0, sizeof(*f));
    pthread_mutex_unlock(&queue->lock);
    return DSW_STATUS_OK;
}

NTSTATUS_t queue_command_failed(void *args)
{
    struct dsw_command_failed_params *params = args;
    struct uqueue *queue = uqueue_from_handle(params->queue);

    if (!queue) return DSW_STATUS_INVALID_HANDLE;
    pthread_mutex_lock(&queue->lock);
    record_command_failure(queue, params->seq, params->hr, params->kind, params->object, params->value, 0);
    pthread_mutex_unlock(&queue->lock);
    return DSW_STATUS_OK;
}

/* ---- GPU copies ------------------------------------------------------------------------------------ */

NTSTATUS_t queue_wait_copies(void *args)
{
    struct dsw_wait_copies_params *params = args;
    struct uqueue *queue = uqueue_from_handle(params->queue);
    struct dsw_copy *out = (struct dsw_copy *)(uintptr_t)params->copies;
    struct uctx *ctx;
    size_t n, i;

    if (!queue) return DSW_STATUS_INVALID_HANDLE;
    if (!out || !params->max) return DSW_STATUS_INVALID_PARAMETER;
    pthread_mutex_lock(&queue->lock);
    while (!queue->copy_count && !queue->closed) {
        pthread_mutex_unlock(&queue->lock);
        wake_wait(queue->copies_wake);
        pthread_mutex_lock(&queue->lock);
    }
    n = queue->copy_count < params->max ? queue->copy_count : params->max;
    memcpy(out, queue->copies, n * sizeof(*out));
    memmove(queue->copies, queue->copies + n, (queue->copy_count - n) * sizeof(*out));
    queue->copy_count -= n;
    for (i = 0; i < n; i++) {
        if (out[i].discard) continue;
        ctx = (struct uctx *)(uintptr_t)out[i].ticket;
        ctx->state = CTX_COPY_RUNNING;
    }
    pthread_mutex_unlock(&queue->lock);
    params->count = (uint32_t)n;
    return DSW_STATUS_OK;
}

NTSTATUS_t queue_copies_done(void *args)
{
    struct dsw_copies_done_params *params = args;
    struct uqueue *queue = uqueue_from_handle(params->queue);
    const uint64_t *tickets = (const uint64_t *)(uintptr_t)params->tickets;
    char message[DSW_MESSAGE_BYTES];
    struct uctx *ctx;
    uint32_t i;

    if (!queue) return DSW_STATUS_INVALID_HANDLE;
    if (!tickets && params->count) return DSW_STATUS_INVALID_PARAMETER;
    pthread_mutex_lock(&queue->lock);
    for (i = 0; i < params->count; i++) {
        ctx = (struct uctx *)(uintptr_t)tickets[i];
        if (!queue->closed) {
            if (FAILED_(params->hr) && !__atomic_load_n(&ctx->cancelled, __ATOMIC_ACQUIRE)) {
                snprintf(message, sizeof(message), "D3D12 copy of %lu bytes to resource %#lx failed with %#x",
                         (unsigned long)ctx->dst_size, (unsigned long)ctx->gpu_resource, (unsigned)params->hr);
                record_request_failure(queue, ctx->epoch, ctx->seq, params->hr, ctx->app_request, ctx->file,
                                       ctx->name, message);
            }
            drop_hold(queue, ctx->epoch);
        }
        ctx_free(ctx);
    }
    pthread_mutex_unlock(&queue->lock);
    return DSW_STATUS_OK;
}
