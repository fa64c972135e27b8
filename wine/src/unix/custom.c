/*
 * custom.c - the custom decompression queue (one per process, like the
 * factory it hangs off): requests whose compressed bytes are ready wait in a
 * FIFO until GetRequests hands them to the app, which reports back with
 * SetRequestResults.
 *
 * Handed-out requests live in a slot table; a request's id is its slot
 * index (low 32 bits) and the slot's generation (high 32 bits), so an id
 * from the app is checked in O(1) and a stale or invented id is refused.
 *
 * Locking: `lock` is taken alone, or before a queue's lock (results are
 * processed under it, so a queue close, which detaches the queue's requests
 * under it, never races with a result being applied).
 */
#include <stdlib.h>
#include <string.h>

#include "private.h"

struct slot {
    struct uctx *ctx;
    uint32_t generation;
    uint32_t next_free;
};

#define NO_SLOT UINT32_MAX

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct uctx *ready_head, *ready_tail;
static uint32_t ready_count;
static struct slot *slots;
static uint32_t slot_count, slot_capacity, free_slot = NO_SLOT;

static void unlink_ready(struct uctx *ctx)
{
    if (ctx->prev) ctx->prev->next = ctx->next;
    else ready_head = ctx->next;
    if (ctx->next) ctx->next->prev = ctx->prev;
    else ready_tail = ctx->prev;
    ctx->prev = ctx->next = NULL;
    ready_count--;
}

void custom_add(struct uctx *ctx)
{
    struct dsw_action action;
    int was_empty;

    pthread_mutex_lock(&lock);
    was_empty = !ready_head;
    ctx->next = NULL;
    ctx->prev = ready_tail;
    if (ready_tail) ready_tail->next = ctx;
    else ready_head = ctx;
    ready_tail = ctx;
    ready_count++;
    pthread_mutex_unlock(&lock);
    /* The event goes up when the list stops being empty; GetRequests resets
     * it before taking requests and sets it again if some remain. */
    if (was_empty) {
        memset(&action, 0, sizeof(action));
        action.type = DSW_ACT_CUSTOM_EVENT;
        push_action(&action);
    }
}

/* Slot for a handed-out request; returns its id, or 0 without memory. */
static uint64_t take_slot(struct uctx *ctx)
{
    struct slot *grown;
    uint32_t index, capacity;

    if (free_slot == NO_SLOT) {
        if (slot_count == slot_capacity) {
            capacity = slot_capacity ? slot_capacity * 2 : 64;
            grown = realloc(slots, capacity * sizeof(*grown));
            if (!grown) return 0;
            slots = grown;
            slot_capacity = capacity;
        }
        slots[slot_count].generation = 0;
        slots[slot_count].next_free = NO_SLOT;
        free_slot = slot_count++;
    }
    index = free_slot;
    free_slot = slots[index].next_free;
    /* Generation 0 is never used, so no id is 0. */
    if (!++slots[index].generation) slots[index].generation = 1;
    slots[index].ctx = ctx;
    return ((uint64_t)slots[index].generation << 32) | index;
}

static struct uctx *put_slot(uint64_t id)
{
    uint32_t index = (uint32_t)id, generation = (uint32_t)(id >> 32);
    struct uctx *ctx;

    if (index >= slot_count || !slots[index].ctx || slots[index].generation != generation) return NULL;
    ctx = slots[index].ctx;
    slots[index].ctx = NULL;
    slots[index].next_free = free_slot;
    free_slot = index;
    return ctx;
}

static int selected(const struct uctx *ctx, uint32_t flags)
{
    return ctx->format >= FORMAT_CUSTOM_0 ? (flags & GET_SELECT_CUSTOM) != 0 : (flags & GET_SELECT_BUILTIN) != 0;
}

NTSTATUS_t custom_get(void *args)
{
    struct dsw_custom_get_params *params = args;
    struct dsw_custom_request *out = (struct dsw_custom_request *)(uintptr_t)params->requests;
    struct uctx *ctx, *next;
    uint32_t n = 0, left = 0;
    uint64_t id;

    if (params->max && !out) return DSW_STATUS_INVALID_PARAMETER;
    pthread_mutex_lock(&lock);
    for (ctx = ready_head; ctx; ctx = next) {
        next = ctx->next;
        if (!selected(ctx, params->flags)) continue;
        if (n == params->max || !(id = take_slot(ctx))) {
            left++;
            continue;
        }
        unlink_ready(ctx);
        ctx->state = CTX_CUSTOM_APP;
        memset(&out[n], 0, sizeof(out[n]));
        out[n].id = id;
        out[n].format = (uint8_t)ctx->format;
        out[n].flags = ctx->dest == DSW_DEST_GPU ? CUSTOM_FLAG_DEST_IN_UPLOAD_HEAP : 0;
        out[n].src_size = ctx->src_size;
        out[n].src_buffer = (uint64_t)(uintptr_t)ctx->src;
        out[n].dst_size = ctx->dst_size;
        out[n].dst_buffer = ctx->dst_ptr;
        n++;
    }
    pthread_mutex_unlock(&lock);
    params->count = n;
    params->remaining = left;
    return DSW_STATUS_OK;
}

NTSTATUS_t custom_results(void *args)
{
    struct dsw_custom_results_params *params = args;
    const struct dsw_custom_result *results = (const struct dsw_custom_result *)(uintptr_t)params->results;
    struct uctx *ctx;
    uint32_t i, unknown = 0;

    if (params->count && !results) return DSW_STATUS_INVALID_PARAMETER;
    pthread_mutex_lock(&lock);
    for (i = 0; i < params->count; i++) {
        if (!(ctx = put_slot(results[i].id))) {
            unknown++;
            continue;
        }
        queue_custom_done(ctx, results[i].result);
    }
    pthread_mutex_unlock(&lock);
    params->unknown = unknown;
    return DSW_STATUS_OK;
}

struct uctx *custom_cancel(struct uqueue *queue, uint64_t mask, uint64_t value)
{
    struct uctx *ctx, *next, *taken = NULL;
    uint32_t i;

    pthread_mutex_lock(&lock);
    for (ctx = ready_head; ctx; ctx = next) {
        next = ctx->next;
        if (ctx->queue != queue || (ctx->tag & mask) != value) continue;
        unlink_ready(ctx);
        ctx->next = taken;
        taken = ctx;
    }
    /* Handed out: the app may still finish them; their failures no longer
     * count (a cancelled request is not a failure). */
    for (i = 0; i < slot_count; i++)
        if ((ctx = slots[i].ctx) && ctx->queue == queue && (ctx->tag & mask) == value)
            __atomic_store_n(&ctx->cancelled, 1, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&lock);
    return taken;
}

struct uctx *custom_detach(struct uqueue *queue)
{
    struct uctx *ctx, *next, *taken = NULL;
    uint32_t i;

    pthread_mutex_lock(&lock);
    for (ctx = ready_head; ctx; ctx = next) {
        next = ctx->next;
        if (ctx->queue != queue) continue;
        unlink_ready(ctx);
        ctx->next = taken;
        taken = ctx;
    }
    for (i = 0; i < slot_count; i++)
        if ((ctx = slots[i].ctx) && ctx->queue == queue) ctx->queue = NULL;
    pthread_mutex_unlock(&lock);
    return taken;
}
