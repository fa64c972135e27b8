/*
 * Cancellation through the C ABI, raced against completion: one thread
 * enqueues requests with callbacks and release hooks while others cancel
 * them strongly by id, weakly by id and strongly by tag. Every accepted
 * request must end exactly once: its callback or its release_user_data
 * runs, never both, never twice; a request whose strong or weak cancel
 * returned 1 never runs its callback; and a destination whose strong cancel
 * returned 1 is never written afterwards (it is refilled with a sentinel at
 * that moment and checked at the end). Then cancel_all_pending, cancel_all,
 * release of a queue with work left, and what callbacks may and may not
 * call.
 */
#include "common.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#define SIZE 16384
#define SENTINEL 0x55

typedef struct {
    uint8_t buf[SIZE];
    uint64_t offset;
    _Atomic uint64_t id;
    atomic_int callbacks;
    atomic_int releases;
    atomic_int strong;  /* a strong cancel returned 1 */
    atomic_int weak;    /* a weak cancel returned 1 */
    atomic_int refused; /* enqueue refused it */
} slot;

static slot *slots;
static int nslots;
static ds_queue *queue;
static uint32_t seed = 21;
static atomic_int producer_done;

static void on_done(const ds_completion *c, void *user) {
    slot *s = user;
    atomic_fetch_add(&s->callbacks, 1);
    if (c->result != DS_OK) {
        fprintf(stderr, "request %llu ended with %d\n", (unsigned long long)c->id, c->result);
        exit(1);
    }
    for (int i = 0; i < SIZE; i++) {
        if (s->buf[i] != ds_test_byte(s->offset + (uint64_t)i, seed)) {
            fprintf(stderr, "completed request has wrong bytes\n");
            exit(1);
        }
    }
}

static void on_release(void *user) {
    slot *s = user;
    atomic_fetch_add(&s->releases, 1);
}

static ds_request request_for(ds_file *f, slot *s, int i) {
    ds_request r = ds_test_request();
    r.file = f;
    r.file_offset = s->offset;
    r.source_size = SIZE;
    r.destination = s->buf;
    r.destination_size = SIZE;
    r.cancellation_tag = (uint64_t)(i % 8);
    r.callback = on_done;
    r.user_data = s;
    r.release_user_data = on_release;
    return r;
}

typedef struct {
    ds_file *file;
} producer_args;

static void *producer(void *arg) {
    producer_args *a = arg;
    for (int i = 0; i < nslots; i++) {
        slot *s = &slots[i];
        ds_request r = request_for(a->file, s, i);
        uint64_t id = 0;
        ds_result res = ds_queue_enqueue_wait(queue, &r, DS_INFINITE, &id);
        if (res != DS_OK) {
            atomic_store(&s->refused, 1);
            continue;
        }
        atomic_store(&s->id, id);
        if (i % 16 == 15) OK(ds_queue_submit_all(queue));
    }
    atomic_store(&producer_done, 1);
    return NULL;
}

static void *strong_canceller(void *arg) {
    uint64_t rng = (uint64_t)(uintptr_t)arg;
    while (!atomic_load(&producer_done)) {
        rng = rng * 6364136223846793005ull + 1;
        slot *s = &slots[(rng >> 33) % (uint64_t)nslots];
        uint64_t id = atomic_load(&s->id);
        if (id == 0) continue;
        uint32_t cancelled = 7;
        OK(ds_queue_cancel(queue, id, &cancelled));
        CHECK(cancelled == 0 || cancelled == 1);
        if (cancelled) {
            /* The memory is ours again: any later write would show. */
            memset(s->buf, SENTINEL, SIZE);
            atomic_store(&s->strong, 1);
        }
    }
    return NULL;
}

static void *weak_canceller(void *arg) {
    uint64_t rng = (uint64_t)(uintptr_t)arg;
    while (!atomic_load(&producer_done)) {
        rng = rng * 6364136223846793005ull + 1;
        slot *s = &slots[(rng >> 33) % (uint64_t)nslots];
        uint64_t id = atomic_load(&s->id);
        if (id == 0) continue;
        uint32_t cancelled = 7;
        OK(ds_queue_try_cancel(queue, id, &cancelled));
        if (cancelled) atomic_store(&s->weak, 1);
        sched_yield();
    }
    return NULL;
}

static void *tag_canceller(void *arg) {
    (void)arg;
    int rounds = 0;
    while (!atomic_load(&producer_done)) {
        uint64_t count = 0;
        /* Strong cancel of tag 3 requests; which ones is checked per slot
         * through their callbacks and releases. */
        OK(ds_queue_cancel_by_tag(queue, 7, 3, &count));
        rounds++;
        sched_yield();
    }
    return (void *)(intptr_t)rounds;
}

static void race(ds_backend *backend, const char *label, ds_file *f, uint64_t file_len) {
    nslots = ds_test_scale(3000, 300);
    slots = calloc((size_t)nslots, sizeof *slots);
    CHECK(slots != NULL);
    uint64_t rng = 99;
    for (int i = 0; i < nslots; i++) {
        rng = rng * 6364136223846793005ull + 1;
        slots[i].offset = (rng >> 20) % (file_len - SIZE);
    }
    ds_queue_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.struct_size = sizeof cfg;
    cfg.capacity = 256;
    OK(ds_queue_create(backend, &cfg, &queue));
    atomic_store(&producer_done, 0);
    pthread_t p, c1, c2, c3;
    producer_args pa = {f};
    CHECK(pthread_create(&p, NULL, producer, &pa) == 0);
    CHECK(pthread_create(&c1, NULL, strong_canceller, (void *)1) == 0);
    CHECK(pthread_create(&c2, NULL, weak_canceller, (void *)2) == 0);
    CHECK(pthread_create(&c3, NULL, tag_canceller, NULL) == 0);
    CHECK(pthread_join(p, NULL) == 0);
    CHECK(pthread_join(c1, NULL) == 0);
    CHECK(pthread_join(c2, NULL) == 0);
    CHECK(pthread_join(c3, NULL) == 0);
    OK(ds_queue_wait_all(queue, DS_INFINITE));
    ds_stats st;
    memset(&st, 0, sizeof st);
    st.struct_size = sizeof st;
    OK(ds_queue_stats(queue, &st));
    OK(ds_queue_release(queue));

    int called = 0, released = 0, strong = 0, weak = 0;
    for (int i = 0; i < nslots; i++) {
        slot *s = &slots[i];
        CHECK(atomic_load(&s->refused) == 0);
        int cb = atomic_load(&s->callbacks), rel = atomic_load(&s->releases);
        if (cb + rel != 1) {
            fprintf(stderr, "request %d: %d callbacks, %d releases\n", i, cb, rel);
            exit(1);
        }
        if (atomic_load(&s->strong)) {
            CHECK(cb == 0);
            for (int k = 0; k < SIZE; k++) CHECK(s->buf[k] == SENTINEL);
            strong++;
        }
        if (atomic_load(&s->weak)) {
            CHECK(cb == 0);
            weak++;
        }
        called += cb;
        released += rel;
    }
    CHECK(st.enqueued == (uint64_t)nslots);
    CHECK(st.completed + st.cancelled == (uint64_t)nslots && st.failed == 0);
    /* A weak cancel may lose to a request already writing: it completes
     * (counted) without its callback. */
    CHECK(st.completed >= (uint64_t)called && st.completed - (uint64_t)called <= (uint64_t)weak);
    printf("  [%s] %d requests: %d completed, %d released (%d strong, %d weak cancels won)\n",
           label, nslots, called, released, strong, weak);
    free(slots);
}

static atomic_int inside_ok;
static void on_checking_callback(const ds_completion *c, void *user) {
    (void)c;
    ds_queue *q = user;
    /* Blocking calls are refused inside callbacks; cancels are allowed. */
    EXPECT_CODE(DS_ERR_IN_CALLBACK, ds_queue_wait_all(q, DS_INFINITE));
    EXPECT_CODE(DS_ERR_IN_CALLBACK, ds_queue_release(q));
    ds_completion out;
    memset(&out, 0, sizeof out);
    out.struct_size = sizeof out;
    EXPECT_CODE(DS_ERR_IN_CALLBACK, ds_queue_wait(q, c->id + 1, DS_INFINITE, &out));
    uint64_t n = 0;
    OK(ds_queue_cancel_all(q, &n));
    atomic_fetch_add(&inside_ok, 1);
}

static void bulk(ds_backend *backend, ds_file *f) {
    ds_queue_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.struct_size = sizeof cfg;
    cfg.capacity = 1024;
    int n = 300; /* under half the capacity: nothing is submitted yet */
    slots = calloc((size_t)n, sizeof *slots);
    CHECK(slots != NULL);

    /* cancel_all_pending: nothing has started. */
    OK(ds_queue_create(backend, &cfg, &queue));
    for (int i = 0; i < n; i++) {
        ds_request r = request_for(f, &slots[i], i);
        OK(ds_queue_enqueue(queue, &r, NULL));
    }
    uint64_t count = 0;
    OK(ds_queue_cancel_all_pending(queue, &count));
    CHECK(count == (uint64_t)n);
    for (int i = 0; i < n; i++)
        CHECK(atomic_load(&slots[i].callbacks) == 0 && atomic_load(&slots[i].releases) == 1);

    /* cancel_all after submitting: each ends once. */
    memset(slots, 0, (size_t)n * sizeof *slots);
    for (int i = 0; i < n; i++) {
        ds_request r = request_for(f, &slots[i], i);
        OK(ds_queue_enqueue(queue, &r, NULL));
    }
    OK(ds_queue_submit_all(queue));
    OK(ds_queue_cancel_all(queue, &count));
    OK(ds_queue_wait_all(queue, DS_INFINITE));
    int cancelled = 0;
    for (int i = 0; i < n; i++) {
        int cb = atomic_load(&slots[i].callbacks), rel = atomic_load(&slots[i].releases);
        CHECK(cb + rel == 1);
        cancelled += rel;
    }
    CHECK((uint64_t)cancelled == count);

    /* Releasing a queue with unsubmitted work: every request is cancelled
     * and its user data released before ds_queue_release returns. */
    memset(slots, 0, (size_t)n * sizeof *slots);
    for (int i = 0; i < n; i++) {
        ds_request r = request_for(f, &slots[i], i);
        OK(ds_queue_enqueue(queue, &r, NULL));
    }
    OK(ds_queue_release(queue));
    for (int i = 0; i < n; i++)
        CHECK(atomic_load(&slots[i].callbacks) == 0 && atomic_load(&slots[i].releases) == 1);

    /* Inside a callback: no blocking calls, cancels allowed. */
    OK(ds_queue_create(backend, &cfg, &queue));
    atomic_store(&inside_ok, 0);
    uint8_t buf[64];
    ds_request r = ds_test_request();
    r.file = f;
    r.source_size = sizeof buf;
    r.destination = buf;
    r.destination_size = sizeof buf;
    r.callback = on_checking_callback;
    r.user_data = queue;
    OK(ds_queue_enqueue(queue, &r, NULL));
    OK(ds_queue_wait_all(queue, DS_INFINITE));
    CHECK(atomic_load(&inside_ok) == 1);
    OK(ds_queue_release(queue));
    free(slots);
}

int main(void) {
    uint64_t len = 8u << 20;
    char *path = ds_test_temp_file(len, seed);
    ds_file *f = NULL;
    OK(ds_file_open(path, &f));

    ds_backend *cpu = NULL;
    OK(ds_make_cpu_backend(2, &cpu));
    race(cpu, "cpu", f, len);
    bulk(cpu, f);
    OK(ds_backend_release(cpu));

    ds_backend *uring = NULL;
    OK(ds_make_io_uring_backend(NULL, &uring));
    race(uring, "io_uring", f, len);
    bulk(uring, f);
    OK(ds_backend_release(uring));

    OK(ds_file_release(f));
    unlink(path);
    free(path);
    printf("cancel: ok\n");
    return 0;
}
