/*
 * Reads files through the C ABI on the CPU and io_uring backends: files
 * opened from a path, from a duplicated fd and from an fd handed over;
 * completion callbacks with user data (contents checked inside the
 * callback), the queue's default callback, kept completions collected with
 * ds_queue_wait, detached requests observed through status arrays, fences
 * (with callback) and markers; memory-to-memory copies, a write request read
 * back, queue info, file info, stats and polling.
 */
#include "common.h"

#include <pthread.h>
#include <stdatomic.h>

typedef struct {
    uint8_t *buf;
    uint64_t offset;
    uint64_t size;
    uint32_t seed;
    atomic_int calls;
    atomic_int bad;
} read_job;

static void on_read(const ds_completion *c, void *user) {
    read_job *j = user;
    if (c->result != DS_OK || c->bytes != j->size || c->struct_size != sizeof(ds_completion)) {
        atomic_fetch_add(&j->bad, 1);
    } else {
        for (uint64_t i = 0; i < j->size; i++) {
            if (j->buf[i] != ds_test_byte(j->offset + i, j->seed)) {
                atomic_fetch_add(&j->bad, 1);
                break;
            }
        }
    }
    atomic_fetch_add(&j->calls, 1);
}

static atomic_int default_calls;
static void on_default(const ds_completion *c, void *user) {
    CHECK(user == (void *)&default_calls);
    CHECK(c->result == DS_OK);
    atomic_fetch_add(&default_calls, 1);
}

static atomic_uint_fast64_t fence_seen;
static atomic_int fence_released;
static void on_fence(uint64_t value, void *user) {
    CHECK(user == (void *)&fence_seen);
    atomic_store(&fence_seen, value);
}
static void release_fence_data(void *user) {
    CHECK(user == (void *)&fence_seen);
    atomic_fetch_add(&fence_released, 1);
}

static atomic_int marker_runs;
static void on_marker(void *user) {
    CHECK(user == (void *)&marker_runs);
    atomic_fetch_add(&marker_runs, 1);
}

static uint64_t next_rand(uint64_t *s) {
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return *s >> 33;
}

static void check_pattern(const uint8_t *buf, uint64_t len, uint64_t offset, uint32_t seed) {
    for (uint64_t i = 0; i < len; i++) {
        if (buf[i] != ds_test_byte(offset + i, seed)) {
            fprintf(stderr, "byte %llu of a read at %llu differs\n", (unsigned long long)i,
                    (unsigned long long)offset);
            exit(1);
        }
    }
}

static void run(ds_backend *backend, const char *label, const char *path, uint64_t file_len,
                uint32_t seed) {
    printf("[%s]\n", label);
    ds_queue_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.struct_size = sizeof cfg;
    cfg.capacity = 256;
    cfg.name = "read-test";
    ds_queue *q = NULL;
    OK(ds_queue_create(backend, &cfg, &q));

    ds_queue_info info;
    memset(&info, 0, sizeof info);
    info.struct_size = sizeof info;
    OK(ds_queue_query(q, &info));
    CHECK(info.struct_size == sizeof info);
    CHECK(info.capacity == 256);
    CHECK(info.empty_slots == 256);
    CHECK(info.requests_until_auto_submit == 128);
    CHECK(strcmp(info.name, "read-test") == 0);
    CHECK(info.priority == DS_PRIORITY_NORMAL);
    CHECK(info.staging_buffer_size == 32u << 20);
    printf("  executors: %s\n", info.executors);
    CHECK(strstr(info.executors, "pread") != NULL || strstr(info.executors, "io_uring") != NULL);

    /* Three ways to open the same file. */
    ds_file *files[3];
    OK(ds_file_open(path, &files[0]));
    int fd = open(path, O_RDONLY);
    CHECK(fd >= 0);
    OK(ds_file_open_fd(fd, 0, path, &files[1]));
    CHECK(close(fd) == 0); /* duplicated: the library's copy stays open */
    fd = open(path, O_RDONLY);
    CHECK(fd >= 0);
    OK(ds_file_open_fd(fd, DS_FILE_TAKE_FD, NULL, &files[2]));
    int lib_fd = -1;
    OK(ds_file_fd(files[2], &lib_fd));
    CHECK(lib_fd == fd);
    ds_file_info finfo;
    memset(&finfo, 0, sizeof finfo);
    finfo.struct_size = sizeof finfo;
    OK(ds_file_get_info(files[1], &finfo));
    CHECK(finfo.size == file_len);
    CHECK((finfo.mode & 0170000) == 0100000); /* regular file */
    CHECK(finfo.links >= 1 && finfo.modify_time_ns > 0);

    /* 1. Callbacks with user data: contents checked inside the callback. */
    int n = ds_test_scale(300, 40);
    read_job *jobs = calloc((size_t)n, sizeof *jobs);
    CHECK(jobs != NULL);
    uint64_t rng = seed;
    for (int i = 0; i < n; i++) {
        read_job *j = &jobs[i];
        j->size = 1 + next_rand(&rng) % (64 * 1024);
        j->offset = next_rand(&rng) % (file_len - j->size + 1);
        j->seed = seed;
        j->buf = calloc(1, j->size);
        CHECK(j->buf != NULL);
        ds_request r = ds_test_request();
        r.file = files[i % 3];
        r.file_offset = j->offset;
        r.source_size = j->size;
        r.destination = j->buf;
        r.destination_size = j->size;
        r.cancellation_tag = (uint64_t)i;
        r.name = "cb-read";
        r.callback = on_read;
        r.user_data = j;
        if (i % 7 == 0) {
            r.flags = DS_REQUEST_USE_PRIORITY;
            r.priority = (i % 2) ? DS_PRIORITY_HIGH : DS_PRIORITY_LOW;
        }
        uint64_t id = 0;
        OK(ds_queue_enqueue_wait(q, &r, DS_INFINITE, &id));
        CHECK(id != 0);
    }
    OK(ds_queue_wait_all(q, DS_INFINITE));
    for (int i = 0; i < n; i++) {
        CHECK(atomic_load(&jobs[i].calls) == 1);
        CHECK(atomic_load(&jobs[i].bad) == 0);
        free(jobs[i].buf);
    }
    free(jobs);

    /* 2. Kept completions. */
    int kept = ds_test_scale(60, 10);
    uint64_t *ids = calloc((size_t)kept, sizeof *ids);
    uint8_t **bufs = calloc((size_t)kept, sizeof *bufs);
    CHECK(ids != NULL && bufs != NULL);
    for (int i = 0; i < kept; i++) {
        bufs[i] = calloc(1, 4096);
        CHECK(bufs[i] != NULL);
        ds_request r = ds_test_request();
        r.flags = DS_REQUEST_KEEP_COMPLETION;
        r.file = files[0];
        r.file_offset = (uint64_t)i * 4096 % (file_len - 4096);
        r.source_size = 4096;
        r.destination = bufs[i];
        r.destination_size = 4096;
        r.cancellation_tag = 0xABC;
        OK(ds_queue_enqueue(q, &r, &ids[i]));
    }
    for (int i = 0; i < kept; i++) {
        ds_completion c;
        memset(&c, 0, sizeof c);
        c.struct_size = sizeof c;
        OK(ds_queue_wait(q, ids[i], DS_INFINITE, &c));
        CHECK(c.result == DS_OK && c.bytes == 4096 && c.id == ids[i]);
        CHECK(c.cancellation_tag == 0xABC);
        check_pattern(bufs[i], 4096, (uint64_t)i * 4096 % (file_len - 4096), seed);
        /* Collected: a second wait knows nothing of it. */
        EXPECT_CODE(DS_ERR_UNKNOWN_REQUEST, ds_queue_wait(q, ids[i], 0, &c));
        int32_t state = -1;
        OK(ds_queue_poll(q, ids[i], &state, NULL));
        CHECK(state == DS_REQUEST_UNKNOWN);
        free(bufs[i]);
    }
    free(ids);
    free(bufs);

    /* 3. Detached requests, status entries, a fence with a callback, a marker. */
    ds_status_array *status = NULL;
    OK(ds_status_array_create(2, &status));
    int32_t st = -1;
    OK(ds_status_array_get(status, 0, &st, NULL));
    CHECK(st == DS_STATUS_IDLE);
    ds_fence *fence = NULL;
    atomic_store(&fence_seen, 0);
    atomic_store(&fence_released, 0);
    OK(ds_fence_create(1, on_fence, (void *)&fence_seen, release_fence_data, &fence));
    uint64_t fv = 0;
    OK(ds_fence_value(fence, &fv));
    CHECK(fv == 1);
    int det = ds_test_scale(120, 20);
    uint8_t *big = calloc(1, (uint64_t)det * 8192);
    CHECK(big != NULL);
    for (int i = 0; i < det; i++) {
        ds_request r = ds_test_request();
        r.file = files[1];
        r.file_offset = (uint64_t)i * 8192 % (file_len - 8192);
        r.source_size = 8192;
        r.destination = big + (uint64_t)i * 8192;
        r.destination_size = 8192;
        OK(ds_queue_enqueue_wait(q, &r, DS_INFINITE, NULL));
        if (i == det / 2) OK(ds_queue_enqueue_status(q, status, 0));
    }
    OK(ds_queue_enqueue_status(q, status, 1));
    atomic_store(&marker_runs, 0);
    OK(ds_queue_enqueue_marker(q, on_marker, (void *)&marker_runs));
    /* Ordering commands run in enqueue order: once the fence reached 5, the
     * status entries and the marker ran too. */
    OK(ds_queue_enqueue_signal(q, fence, 5));
    OK(ds_queue_submit_all(q));
    OK(ds_fence_wait(fence, 5, DS_INFINITE));
    CHECK(atomic_load(&fence_seen) == 5);
    OK(ds_queue_wait_all(q, DS_INFINITE));
    CHECK(atomic_load(&marker_runs) == 1);
    for (uint32_t e = 0; e < 2; e++) {
        ds_result why = -1;
        OK(ds_status_array_get(status, e, &st, &why));
        CHECK(st == DS_STATUS_COMPLETE && why == DS_OK);
    }
    for (int i = 0; i < det; i++)
        check_pattern(big + (uint64_t)i * 8192, 8192, (uint64_t)i * 8192 % (file_len - 8192), seed);
    free(big);
    OK(ds_fence_signal(fence, 9)); /* CPU signal runs the callback too */
    CHECK(atomic_load(&fence_seen) == 9);
    OK(ds_fence_release(fence));
    /* The user data is released once the last holder (the handle, or the
     * queue's signal command finishing on a worker) lets go. */
    for (int spin = 0; spin < 10000 && atomic_load(&fence_released) == 0; spin++) usleep(1000);
    CHECK(atomic_load(&fence_released) == 1);
    OK(ds_status_array_release(status));

    /* 4. Memory to memory. */
    uint8_t src[3000], dst[3000];
    ds_test_fill(src, sizeof src, 100, seed);
    memset(dst, 0, sizeof dst);
    ds_request m = ds_test_request();
    m.source_type = DS_SOURCE_MEMORY;
    m.source = src;
    m.source_size = sizeof src;
    m.destination = dst;
    m.destination_size = sizeof dst;
    m.flags = DS_REQUEST_KEEP_COMPLETION;
    uint64_t mid = 0;
    OK(ds_queue_enqueue(q, &m, &mid));
    ds_completion mc;
    memset(&mc, 0, sizeof mc);
    mc.struct_size = sizeof mc;
    OK(ds_queue_wait(q, mid, DS_INFINITE, &mc));
    CHECK(mc.result == DS_OK && mc.bytes == sizeof src);
    CHECK(memcmp(src, dst, sizeof src) == 0);

    /* 5. A write request, read back. */
    char *wpath = ds_test_temp_file(0, 0);
    int wfd = open(wpath, O_RDWR);
    CHECK(wfd >= 0);
    ds_file *wf = NULL;
    OK(ds_file_open_fd(wfd, DS_FILE_TAKE_FD, wpath, &wf));
    ds_request w = ds_test_request();
    w.operation = DS_OP_WRITE;
    w.source_type = DS_SOURCE_MEMORY;
    w.destination_type = DS_DEST_FILE;
    w.source = src;
    w.source_size = sizeof src;
    w.file = wf;
    w.file_offset = 10;
    w.flags = DS_REQUEST_KEEP_COMPLETION;
    uint64_t wid = 0;
    OK(ds_queue_enqueue(q, &w, &wid));
    OK(ds_queue_wait(q, wid, DS_INFINITE, &mc));
    CHECK(mc.result == DS_OK && mc.bytes == sizeof src);
    memset(dst, 0, sizeof dst);
    ds_request rb = ds_test_request();
    rb.file = wf;
    rb.file_offset = 10;
    rb.source_size = sizeof dst;
    rb.destination = dst;
    rb.destination_size = sizeof dst;
    rb.flags = DS_REQUEST_KEEP_COMPLETION;
    OK(ds_queue_enqueue(q, &rb, &wid));
    OK(ds_queue_wait(q, wid, DS_INFINITE, &mc));
    CHECK(mc.result == DS_OK && memcmp(src, dst, sizeof src) == 0);
    OK(ds_file_release(wf));
    unlink(wpath);
    free(wpath);

    /* 6. Stats. */
    ds_stats s;
    memset(&s, 0, sizeof s);
    s.struct_size = sizeof s;
    OK(ds_queue_stats(q, &s));
    uint64_t total = (uint64_t)(n + kept + det + 3);
    CHECK(s.enqueued == total && s.completed == total);
    CHECK(s.failed == 0 && s.cancelled == 0 && s.in_flight == 0);
    CHECK(s.latency_p50_ns > 0 && s.latency_p99_ns >= s.latency_p50_ns);
    printf("  %llu requests, %llu bytes, p50 %llu ns\n", (unsigned long long)s.completed,
           (unsigned long long)s.bytes, (unsigned long long)s.latency_p50_ns);

    OK(ds_queue_release(q));

    /* 7. A queue with a default completion callback. */
    memset(&cfg, 0, sizeof cfg);
    cfg.struct_size = sizeof cfg;
    cfg.on_complete = on_default;
    cfg.on_complete_user_data = (void *)&default_calls;
    OK(ds_queue_create(backend, &cfg, &q));
    atomic_store(&default_calls, 0);
    uint8_t small[64][512];
    for (int i = 0; i < 64; i++) {
        ds_request r = ds_test_request();
        r.file = files[i % 3];
        r.file_offset = (uint64_t)i * 512;
        r.source_size = 512;
        r.destination = small[i];
        r.destination_size = 512;
        OK(ds_queue_enqueue(q, &r, NULL));
    }
    OK(ds_queue_wait_all(q, DS_INFINITE));
    CHECK(atomic_load(&default_calls) == 64);
    for (int i = 0; i < 64; i++) check_pattern(small[i], 512, (uint64_t)i * 512, seed);
    OK(ds_queue_release(q));

    for (int i = 0; i < 3; i++) OK(ds_file_release(files[i]));
}

int main(void) {
    printf("ds-runtime %s, ABI %u.%u\n", ds_version(), ds_abi_version() >> 16,
           ds_abi_version() & 0xFFFF);
    CHECK(ds_abi_version() >> 16 == DS_ABI_VERSION_MAJOR);
    uint64_t len = (uint64_t)ds_test_scale(2 << 20, 256 << 10);
    uint32_t seed = 7;
    char *path = ds_test_temp_file(len, seed);

    ds_backend *cpu = NULL;
    OK(ds_make_cpu_backend(3, &cpu));
    run(cpu, "cpu backend", path, len, seed);
    OK(ds_backend_release(cpu));

    ds_io_uring_backend_config ucfg;
    memset(&ucfg, 0, sizeof ucfg);
    ucfg.struct_size = sizeof ucfg;
    ucfg.rings = 2;
    ucfg.entries = 64;
    ds_backend *uring = NULL;
    OK(ds_make_io_uring_backend(&ucfg, &uring));
    run(uring, "io_uring backend", path, len, seed);
    OK(ds_backend_release(uring));

    /* GPUDirect Storage: refused without the CUDA driver (this is how a
     * machine without an NVIDIA GPU answers); with it, its queues serve host
     * memory like the others and name the cufile executor. */
    ds_cufile_backend_config ccfg;
    memset(&ccfg, 0, sizeof ccfg);
    ccfg.struct_size = sizeof ccfg;
    ds_backend *gds = NULL;
    ds_result gr = ds_make_cufile_backend(&ccfg, &gds);
    if (gr == DS_OK) {
        run(gds, "cufile backend", path, len, seed);
        OK(ds_backend_release(gds));
    } else {
        CHECK(gr == DS_ERR_UNAVAILABLE && gds == NULL);
        char m[512];
        OK(ds_last_error_message(m, sizeof m, NULL));
        printf("[cufile backend] unavailable: %s\n", m);
    }

    ds_backend *defaults = NULL;
    OK(ds_make_io_uring_backend(NULL, &defaults));
    ds_queue *q = NULL;
    OK(ds_queue_create(defaults, NULL, &q));
    OK(ds_backend_release(defaults)); /* the queue keeps what it needs */
    ds_file *f = NULL;
    OK(ds_file_open(path, &f));
    uint8_t buf[100];
    memset(buf, 0, sizeof buf);
    ds_request r = ds_test_request();
    r.file = f;
    r.file_offset = 1000;
    r.source_size = sizeof buf;
    r.destination = buf;
    r.destination_size = sizeof buf;
    OK(ds_queue_enqueue(q, &r, NULL));
    OK(ds_file_release(f)); /* the request keeps the file open */
    OK(ds_queue_wait_all(q, DS_INFINITE));
    check_pattern(buf, sizeof buf, 1000, seed);
    OK(ds_queue_release(q));

    unlink(path);
    free(path);
    printf("read_files: ok\n");
    return 0;
}
