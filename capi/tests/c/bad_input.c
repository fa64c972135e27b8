/*
 * Bad input through the C ABI returns the documented codes and changes
 * nothing: NULL pointers, bad, closed and write-only fds, missing files,
 * closed files, struct sizes too small, unknown enum values and flags,
 * invalid requests, reads past the end of a file, GPU destinations without
 * a GPU backend, released / double-released / bogus / wrong-typed handles,
 * full queues, timeouts, unknown ids, out-of-range indices, corrupt
 * streams, bad levels; out-parameters stay untouched on failure; the last
 * error message and errno describe the failure; the log hook receives the
 * runtime's warning for a failed request.
 */
#include "common.h"

#include <stdatomic.h>

static ds_request read_req(ds_file *f, void *dst, uint64_t size) {
    ds_request r = ds_test_request();
    r.file = f;
    r.source_size = size;
    r.destination = dst;
    r.destination_size = size;
    return r;
}

static void last_message_contains(const char *needle) {
    char msg[1024];
    uint64_t len = 0;
    OK(ds_last_error_message(msg, sizeof msg, &len));
    if (strstr(msg, needle) == NULL) {
        fprintf(stderr, "last error \"%s\" lacks \"%s\"\n", msg, needle);
        exit(1);
    }
}

static void results_and_messages(void) {
    for (ds_result r = 0; r <= DS_RESULT_MAX; r++) {
        const char *t = ds_result_text(r);
        CHECK(t != NULL && t[0] != 0);
        for (ds_result k = 0; k < r; k++) CHECK(strcmp(t, ds_result_text(k)) != 0);
    }
    CHECK(strcmp(ds_result_text(-3), "unknown result code") == 0);
    CHECK(strcmp(ds_result_text(DS_RESULT_MAX + 1), "unknown result code") == 0);
    EXPECT_CODE(DS_ERR_NULL_ARGUMENT, ds_make_cpu_backend(1, NULL));
    CHECK(ds_last_error_code() == DS_ERR_NULL_ARGUMENT);
    uint64_t len = 0;
    OK(ds_last_error_message(NULL, 0, &len)); /* length only */
    CHECK(len > 0);
    char tiny[5];
    OK(ds_last_error_message(tiny, sizeof tiny, NULL));
    CHECK(strlen(tiny) == 4);
    EXPECT_CODE(DS_ERR_NULL_ARGUMENT, ds_last_error_message(NULL, 10, NULL));
}

static void files(void) {
    ds_file *f = (ds_file *)0x1; /* sentinel: must stay untouched */
    EXPECT_CODE(DS_ERR_NULL_ARGUMENT, ds_file_open(NULL, &f));
    EXPECT_CODE(DS_ERR_NULL_ARGUMENT, ds_file_open("/tmp", NULL));
    EXPECT_CODE(DS_ERR_NOT_FOUND, ds_file_open("/nonexistent/ds-runtime/file", &f));
    CHECK(ds_last_os_error() == ENOENT);
    last_message_contains("/nonexistent/ds-runtime/file");
    EXPECT_CODE(DS_ERR_BAD_FD, ds_file_open_fd(-1, 0, NULL, &f));
    EXPECT_CODE(DS_ERR_BAD_FD, ds_file_open_fd(1000000, 0, NULL, &f));
    EXPECT_CODE(DS_ERR_BAD_FD, ds_file_open_fd(1000000, DS_FILE_TAKE_FD, NULL, &f));
    int fd = open("/dev/null", O_RDONLY);
    CHECK(fd >= 0);
    CHECK(close(fd) == 0);
    EXPECT_CODE(DS_ERR_BAD_FD, ds_file_open_fd(fd, 0, NULL, &f)); /* closed fd */
    CHECK(ds_last_os_error() == EBADF);
    EXPECT_CODE(DS_ERR_INVALID_ARGUMENT, ds_file_open_fd(0, 0x80, NULL, &f));
    CHECK(f == (ds_file *)0x1);
    EXPECT_CODE(DS_ERR_NULL_ARGUMENT, ds_file_close(NULL));
    EXPECT_CODE(DS_ERR_BAD_HANDLE, ds_file_close((ds_file *)0x1234));
    int32_t out_fd = -7;
    EXPECT_CODE(DS_ERR_BAD_HANDLE, ds_file_fd((ds_file *)0x1230, &out_fd));
    CHECK(out_fd == -7);
}

static atomic_int warn_records;
static void on_log(int32_t level, const char *target, const char *message, void *user) {
    CHECK(user == (void *)&warn_records);
    CHECK(target != NULL && message != NULL);
    if (level == DS_LOG_WARN && strstr(message, "passes the end of the file") != NULL)
        atomic_fetch_add(&warn_records, 1);
}

static atomic_int stray_calls;
static void stray_callback(const ds_completion *c, void *user) {
    (void)c;
    (void)user;
    atomic_fetch_add(&stray_calls, 1);
}
static void stray_release(void *user) {
    (void)user;
    atomic_fetch_add(&stray_calls, 1);
}

static void requests(ds_backend *b) {
    uint64_t flen = 10000;
    char *path = ds_test_temp_file(flen, 5);
    ds_file *f = NULL;
    OK(ds_file_open(path, &f));
    ds_queue_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.struct_size = sizeof cfg;
    cfg.capacity = 128;
    ds_queue *q = NULL;
    OK(ds_queue_create(b, &cfg, &q));
    uint8_t buf[20000];
    memset(buf, 0, sizeof buf);
    uint64_t id = 777;

    /* NULL and struct sizes. */
    EXPECT_CODE(DS_ERR_NULL_ARGUMENT, ds_queue_enqueue(q, NULL, &id));
    EXPECT_CODE(DS_ERR_NULL_ARGUMENT, ds_queue_enqueue(NULL, NULL, &id));
    ds_request r = read_req(f, buf, 100);
    r.struct_size = 0;
    EXPECT_CODE(DS_ERR_STRUCT_SIZE, ds_queue_enqueue(q, &r, &id));
    last_message_contains("sizeof(ds_request)");
    r.struct_size = 8;
    EXPECT_CODE(DS_ERR_STRUCT_SIZE, ds_queue_enqueue(q, &r, &id));
    r = read_req(f, NULL, 100);
    EXPECT_CODE(DS_ERR_NULL_ARGUMENT, ds_queue_enqueue(q, &r, &id));
    r = read_req(NULL, buf, 100);
    EXPECT_CODE(DS_ERR_NULL_ARGUMENT, ds_queue_enqueue(q, &r, &id));
    r = read_req(f, buf, 100);
    r.source_type = DS_SOURCE_MEMORY; /* source pointer left NULL */
    EXPECT_CODE(DS_ERR_NULL_ARGUMENT, ds_queue_enqueue(q, &r, &id));

    /* Unknown values. */
    r = read_req(f, buf, 100);
    r.operation = 9;
    EXPECT_CODE(DS_ERR_INVALID_ARGUMENT, ds_queue_enqueue(q, &r, &id));
    r = read_req(f, buf, 100);
    r.source_type = 9;
    EXPECT_CODE(DS_ERR_INVALID_ARGUMENT, ds_queue_enqueue(q, &r, &id));
    r = read_req(f, buf, 100);
    r.destination_type = 9;
    EXPECT_CODE(DS_ERR_INVALID_ARGUMENT, ds_queue_enqueue(q, &r, &id));
    r = read_req(f, buf, 100);
    r.compression = 0x80;
    EXPECT_CODE(DS_ERR_INVALID_ARGUMENT, ds_queue_enqueue(q, &r, &id));
    r = read_req(f, buf, 100);
    r.flags = 0x100;
    EXPECT_CODE(DS_ERR_INVALID_ARGUMENT, ds_queue_enqueue(q, &r, &id));
    r = read_req(f, buf, 100);
    r.flags = DS_REQUEST_USE_PRIORITY;
    r.priority = 3;
    EXPECT_CODE(DS_ERR_INVALID_ARGUMENT, ds_queue_enqueue(q, &r, &id));

    /* Invalid requests. */
    r = read_req(f, buf, 0);
    EXPECT_CODE(DS_ERR_INVALID_REQUEST, ds_queue_enqueue(q, &r, &id));
    r = read_req(f, buf, 100);
    r.destination_size = 50;
    EXPECT_CODE(DS_ERR_INVALID_REQUEST, ds_queue_enqueue(q, &r, &id));
    last_message_contains("destination too small");
    r = read_req(f, buf, 100);
    r.uncompressed_size = 99;
    EXPECT_CODE(DS_ERR_INVALID_REQUEST, ds_queue_enqueue(q, &r, &id));
    r = read_req(f, buf, 100);
    r.file_offset = UINT64_MAX - 10;
    EXPECT_CODE(DS_ERR_INVALID_REQUEST, ds_queue_enqueue(q, &r, &id));
    r = read_req(f, buf, 100);
    r.name = "a name that is far too long for a request name, it has more than sixty-four bytes";
    EXPECT_CODE(DS_ERR_INVALID_REQUEST, ds_queue_enqueue(q, &r, &id));
    r = read_req(f, buf, 100);
    r.name = "\xff\xfe";
    EXPECT_CODE(DS_ERR_INVALID_ARGUMENT, ds_queue_enqueue(q, &r, &id));
    r = read_req(f, buf, 100);
    r.operation = DS_OP_WRITE; /* a write from a file into memory */
    EXPECT_CODE(DS_ERR_INVALID_REQUEST, ds_queue_enqueue(q, &r, &id));
    r = read_req(f, buf, 100);
    r.flags = DS_REQUEST_KEEP_COMPLETION;
    r.callback = (ds_completion_fn)(void (*)(void))on_log; /* never called */
    EXPECT_CODE(DS_ERR_INVALID_ARGUMENT, ds_queue_enqueue(q, &r, &id));
    /* A refused request keeps its user data: neither callback nor release. */
    r = read_req(f, buf, 0);
    r.callback = stray_callback;
    r.release_user_data = stray_release;
    EXPECT_CODE(DS_ERR_INVALID_REQUEST, ds_queue_enqueue(q, &r, &id));
    r = read_req(f, buf, 100);
    r.release_user_data = stray_release; /* without a callback */
    EXPECT_CODE(DS_ERR_INVALID_ARGUMENT, ds_queue_enqueue(q, &r, &id));
    CHECK(atomic_load(&stray_calls) == 0);
    r = read_req(f, buf, 100);
    r.destination_type = DS_DEST_GPU_BUFFER;
    r.gpu_buffer = 0x1000;
    EXPECT_CODE(DS_ERR_NO_EXECUTOR, ds_queue_enqueue(q, &r, &id));
    last_message_contains("no GPU backend");
    CHECK(id == 777);

    /* A read past the end of the file fails when it runs, and is logged. */
    atomic_store(&warn_records, 0);
    OK(ds_set_log_callback(on_log, DS_LOG_WARN, (void *)&warn_records));
    r = read_req(f, buf, 5000);
    r.file_offset = flen - 100;
    r.flags = DS_REQUEST_KEEP_COMPLETION;
    OK(ds_queue_enqueue(q, &r, &id));
    ds_completion c;
    memset(&c, 0, sizeof c);
    c.struct_size = sizeof c;
    OK(ds_queue_wait(q, id, DS_INFINITE, &c));
    CHECK(c.result == DS_ERR_END_OF_FILE);
    last_message_contains("only 100 bytes there");
    OK(ds_set_log_callback(NULL, DS_LOG_OFF, NULL));
    CHECK(atomic_load(&warn_records) == 1);
    EXPECT_CODE(DS_ERR_INVALID_ARGUMENT, ds_set_log_callback(on_log, 17, NULL));

    /* A descriptor opened write-only cannot be read: EBADF from pread. */
    int wfd = open(path, O_WRONLY);
    CHECK(wfd >= 0);
    ds_file *wf = NULL;
    OK(ds_file_open_fd(wfd, DS_FILE_TAKE_FD, path, &wf));
    r = read_req(wf, buf, 100);
    r.flags = DS_REQUEST_KEEP_COMPLETION;
    OK(ds_queue_enqueue(q, &r, &id));
    OK(ds_queue_wait(q, id, DS_INFINITE, &c));
    CHECK(c.result == DS_ERR_BAD_FD && c.os_error == EBADF);
    OK(ds_file_release(wf));

    /* A closed file refuses new requests. */
    ds_file *cf = NULL;
    OK(ds_file_open(path, &cf));
    OK(ds_file_close(cf));
    r = read_req(cf, buf, 100);
    EXPECT_CODE(DS_ERR_FILE_CLOSED, ds_queue_enqueue(q, &r, &id));
    OK(ds_file_release(cf));
    EXPECT_CODE(DS_ERR_BAD_HANDLE, ds_file_release(cf)); /* double release */
    r = read_req(cf, buf, 100);
    EXPECT_CODE(DS_ERR_BAD_HANDLE, ds_queue_enqueue(q, &r, &id)); /* use after release */

    /* A full queue: kept completions hold their slots until collected. */
    uint64_t ids[128];
    for (int i = 0; i < 128; i++) {
        r = read_req(f, buf + i * 16, 16);
        r.flags = DS_REQUEST_KEEP_COMPLETION;
        OK(ds_queue_enqueue(q, &r, &ids[i]));
    }
    r = read_req(f, buf, 16);
    id = 777;
    EXPECT_CODE(DS_ERR_QUEUE_FULL, ds_queue_enqueue(q, &r, &id));
    EXPECT_CODE(DS_ERR_TIMEOUT, ds_queue_enqueue_wait(q, &r, 1000000, &id));
    CHECK(id == 777);
    ds_queue_info info;
    memset(&info, 0, sizeof info);
    info.struct_size = sizeof info;
    OK(ds_queue_query(q, &info));
    CHECK(info.empty_slots == 0);
    for (int i = 0; i < 128; i++) {
        OK(ds_queue_wait(q, ids[i], DS_INFINITE, &c));
        CHECK(c.result == DS_OK);
    }
    EXPECT_CODE(DS_ERR_UNKNOWN_REQUEST, ds_queue_wait(q, ids[0], 0, &c));
    EXPECT_CODE(DS_ERR_UNKNOWN_REQUEST, ds_queue_wait(q, 0, 0, &c));
    c.struct_size = 4;
    EXPECT_CODE(DS_ERR_STRUCT_SIZE, ds_queue_wait(q, ids[0], 0, &c));

    /* Ordering objects. */
    ds_status_array *sa = NULL;
    EXPECT_CODE(DS_ERR_INVALID_ARGUMENT, ds_status_array_create(0, &sa));
    CHECK(sa == NULL);
    OK(ds_status_array_create(4, &sa));
    EXPECT_CODE(DS_ERR_INVALID_ARGUMENT, ds_queue_enqueue_status(q, sa, 4));
    int32_t st = 99;
    EXPECT_CODE(DS_ERR_INVALID_ARGUMENT, ds_status_array_get(sa, 9, &st, NULL));
    CHECK(st == 99);
    ds_error_info ei;
    memset(&ei, 0, sizeof ei);
    ei.struct_size = sizeof ei;
    EXPECT_CODE(DS_ERR_INVALID_ARGUMENT, ds_status_array_get_error(sa, 0, &ei));
    EXPECT_CODE(DS_ERR_BAD_HANDLE, ds_queue_enqueue_status(q, (ds_status_array *)q, 0));
    ds_fence *fe = NULL;
    OK(ds_fence_create(0, NULL, NULL, NULL, &fe));
    EXPECT_CODE(DS_ERR_TIMEOUT, ds_fence_wait(fe, 1, 1000000));
    EXPECT_CODE(DS_ERR_INVALID_ARGUMENT, ds_fence_create(0, NULL, NULL, (ds_release_fn)free, &fe));
    EXPECT_CODE(DS_ERR_NULL_ARGUMENT, ds_queue_enqueue_marker(q, NULL, NULL));
    EXPECT_CODE(DS_ERR_BAD_HANDLE, ds_queue_enqueue_signal(q, (ds_fence *)sa, 1));
    OK(ds_fence_release(fe));
    EXPECT_CODE(DS_ERR_BAD_HANDLE, ds_fence_release(fe));
    OK(ds_status_array_release(sa));

    /* Queue-level queries with bad arguments. */
    uint32_t flags = 42;
    EXPECT_CODE(DS_ERR_INVALID_ARGUMENT, ds_queue_compression_support(q, 0x80, &flags));
    CHECK(flags == 42);
    ds_stats s;
    memset(&s, 0, sizeof s);
    EXPECT_CODE(DS_ERR_STRUCT_SIZE, ds_queue_stats(q, &s));
    EXPECT_CODE(DS_ERR_NULL_ARGUMENT, ds_queue_query(q, NULL));
    int32_t state = 5;
    OK(ds_queue_poll(q, 0, &state, NULL));
    CHECK(state == DS_REQUEST_UNKNOWN);

    OK(ds_queue_release(q));
    EXPECT_CODE(DS_ERR_BAD_HANDLE, ds_queue_release(q));
    EXPECT_CODE(DS_ERR_BAD_HANDLE, ds_queue_submit_all(q));
    EXPECT_CODE(DS_ERR_BAD_HANDLE, ds_queue_release((ds_queue *)f)); /* a file is not a queue */
    OK(ds_file_release(f));
    unlink(path);
    free(path);
}

static void queues_and_backends(void) {
    ds_backend *b = (ds_backend *)0x1;
    EXPECT_CODE(DS_ERR_INVALID_ARGUMENT, ds_make_cpu_backend(100000, &b));
    CHECK(b == (ds_backend *)0x1);
    ds_io_uring_backend_config uc;
    memset(&uc, 0, sizeof uc);
    EXPECT_CODE(DS_ERR_STRUCT_SIZE, ds_make_io_uring_backend(&uc, &b));
    uc.struct_size = sizeof uc;
    uc.entries = 100; /* not a power of two */
    EXPECT_CODE(DS_ERR_INVALID_ARGUMENT, ds_make_io_uring_backend(&uc, &b));
    uc.entries = 0;
    uc.flags = 0x8000;
    EXPECT_CODE(DS_ERR_INVALID_ARGUMENT, ds_make_io_uring_backend(&uc, &b));
    OK(ds_make_cpu_backend(1, &b));
    ds_queue_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.struct_size = sizeof cfg;
    ds_queue *q = (ds_queue *)0x1;
    cfg.capacity = 100;
    EXPECT_CODE(DS_ERR_INVALID_ARGUMENT, ds_queue_create(b, &cfg, &q));
    cfg.capacity = 9000;
    EXPECT_CODE(DS_ERR_INVALID_ARGUMENT, ds_queue_create(b, &cfg, &q));
    cfg.capacity = 0;
    cfg.priority = 5;
    EXPECT_CODE(DS_ERR_INVALID_ARGUMENT, ds_queue_create(b, &cfg, &q));
    cfg.priority = 0;
    cfg.struct_size = 12;
    EXPECT_CODE(DS_ERR_STRUCT_SIZE, ds_queue_create(b, &cfg, &q));
    EXPECT_CODE(DS_ERR_NULL_ARGUMENT, ds_queue_create(NULL, NULL, &q));
    EXPECT_CODE(DS_ERR_BAD_HANDLE, ds_queue_create((ds_backend *)0x40, NULL, &q));
    CHECK(q == (ds_queue *)0x1);
    EXPECT_CODE(DS_ERR_NULL_ARGUMENT, ds_gdeflate_decompress_gpu(b, NULL, 0, NULL, 0, NULL));
    uint64_t n = 0;
    uint8_t in[16] = {0}, out[16];
    EXPECT_CODE(DS_ERR_UNSUPPORTED, ds_gdeflate_decompress_gpu(b, in, sizeof in, out, sizeof out, &n));
    OK(ds_backend_release(b));
    EXPECT_CODE(DS_ERR_BAD_HANDLE, ds_backend_release(b));
}

static void codec(void) {
    uint8_t data[1000], packed[4096], out[1000];
    ds_test_fill_text(data, sizeof data, 1);
    uint64_t n = 9;
    EXPECT_CODE(DS_ERR_INVALID_ARGUMENT,
                ds_gdeflate_compress(data, sizeof data, packed, sizeof packed, 13, 1, &n));
    EXPECT_CODE(DS_ERR_INVALID_ARGUMENT,
                ds_gdeflate_compress(data, sizeof data, packed, sizeof packed, -1, 1, &n));
    EXPECT_CODE(DS_ERR_NULL_ARGUMENT, ds_gdeflate_compress(NULL, 10, packed, sizeof packed, 1, 1, &n));
    EXPECT_CODE(DS_ERR_NULL_ARGUMENT, ds_gdeflate_compress(data, sizeof data, packed, sizeof packed, 1, 1, NULL));
    CHECK(n == 9);
    EXPECT_CODE(DS_ERR_INVALID_ARGUMENT, ds_gdeflate_compress_bound(UINT64_MAX, &n));
    OK(ds_gdeflate_compress(data, sizeof data, packed, sizeof packed, 9, 1, &n));
    /* Corrupt streams: every single-byte change of the header, table and
     * first payload bytes gives an error or the right size, never a crash. */
    for (uint64_t at = 0; at < n && at < 64; at++) {
        uint8_t bad[4096];
        memcpy(bad, packed, n);
        bad[at] ^= 0xA5;
        uint64_t got = 0;
        ds_result r = ds_gdeflate_decompress(bad, n, out, sizeof out, 1, &got);
        CHECK(r == DS_OK || r == DS_ERR_CORRUPT || r == DS_ERR_BUFFER_TOO_SMALL);
        if (r == DS_OK) CHECK(got == sizeof data);
    }
    uint64_t size = 5;
    EXPECT_CODE(DS_ERR_CORRUPT, ds_gdeflate_uncompressed_size(packed, 4, &size));
    EXPECT_CODE(DS_ERR_CORRUPT, ds_gdeflate_decompress(data, sizeof data, out, sizeof out, 1, &size));
    CHECK(size == 5);
    packed[0] = 7; /* wrong codec id */
    EXPECT_CODE(DS_ERR_CORRUPT, ds_gdeflate_decompress(packed, n, out, sizeof out, 0, &size));
    last_message_contains("not a GDeflate stream");
}

int main(void) {
    results_and_messages();
    files();
    ds_backend *b = NULL;
    OK(ds_make_cpu_backend(2, &b));
    requests(b);
    OK(ds_backend_release(b));
    queues_and_backends();
    codec();
    printf("bad_input: ok\n");
    return 0;
}
