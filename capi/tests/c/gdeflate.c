/*
 * GDeflate through the C ABI: the buffer codec (bound, compress at several
 * levels on one thread and on all cores with identical bytes, uncompressed
 * size, decompress on one and all cores), the vectors committed in
 * gdeflate/tests/vectors, and GDeflate requests on a queue from files and
 * from memory; then the failures: a corrupt stream (completion, status
 * entry, error record, failure hook all say DS_ERR_CORRUPT), a wrong
 * uncompressed size, a request over the staging buffer, a small output
 * buffer.
 */
#include "common.h"

#include <stdatomic.h>

static uint8_t *compress(const uint8_t *data, uint64_t len, int level, uint32_t threads,
                         uint64_t *out_len) {
    uint64_t bound = 0;
    OK(ds_gdeflate_compress_bound(len, &bound));
    CHECK(bound >= len);
    uint8_t *packed = malloc(bound);
    CHECK(packed != NULL);
    OK(ds_gdeflate_compress(data, len, packed, bound, level, threads, out_len));
    CHECK(*out_len >= 8 && *out_len <= bound);
    return packed;
}

static void roundtrip(const uint8_t *data, uint64_t len, int level) {
    uint64_t n1 = 0, n0 = 0;
    uint8_t *one = compress(data, len, level, 1, &n1);
    uint8_t *all = compress(data, len, level, 0, &n0);
    CHECK(n1 == n0 && memcmp(one, all, n1) == 0); /* identical whatever the threads */
    uint64_t size = 0;
    OK(ds_gdeflate_uncompressed_size(one, n1, &size));
    CHECK(size == len);
    uint8_t *back = calloc(1, len + 16);
    CHECK(back != NULL);
    for (uint32_t threads = 0; threads < 3; threads++) {
        memset(back, 0xAB, len + 16);
        uint64_t got = 0;
        OK(ds_gdeflate_decompress(one, n1, back, len + 16, threads, &got));
        CHECK(got == len && memcmp(back, data, len) == 0);
        CHECK(back[len] == 0xAB); /* nothing past the size */
    }
    if (len > 0) {
        uint64_t untouched = 12345;
        EXPECT_CODE(DS_ERR_BUFFER_TOO_SMALL,
                    ds_gdeflate_decompress(one, n1, back, len - 1, 1, &untouched));
        CHECK(untouched == 12345);
        EXPECT_CODE(DS_ERR_BUFFER_TOO_SMALL,
                    ds_gdeflate_compress(data, len, back, 4, level, 1, &untouched));
        EXPECT_CODE(DS_ERR_BUFFER_TOO_SMALL,
                    ds_gdeflate_compress(data, len, back, 4, level, 0, &untouched));
        CHECK(untouched == 12345);
    }
    printf("  level %2d: %llu -> %llu bytes\n", level, (unsigned long long)len,
           (unsigned long long)n1);
    free(one);
    free(all);
    free(back);
}

static void vectors(void) {
    const char *dir = getenv("DS_VECTORS_DIR");
    CHECK(dir != NULL);
    static const char *names[][2] = {{"text_64k_plus1.L9.gdef", "text_64k_plus1.bin"},
                                     {"random_64k.L9.gdef", "random_64k.bin"},
                                     {"zeros_64k.L9.gdef", "zeros_64k.bin"},
                                     {"text_4095.L12.gdef", "text_4095.bin"},
                                     {"byte1.L0.gdef", "byte1.bin"}};
    char path[4096];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        uint64_t zlen = 0, plen = 0;
        snprintf(path, sizeof path, "%s/%s", dir, names[i][0]);
        uint8_t *z = ds_test_read_all(path, &zlen);
        snprintf(path, sizeof path, "%s/%s", dir, names[i][1]);
        uint8_t *plain = ds_test_read_all(path, &plen);
        CHECK(z != NULL && plain != NULL);
        uint8_t *out = malloc(plen);
        CHECK(out != NULL);
        uint64_t got = 0;
        OK(ds_gdeflate_decompress(z, zlen, out, plen, 1, &got));
        CHECK(got == plen && memcmp(out, plain, plen) == 0);
        free(z);
        free(plain);
        free(out);
    }
    printf("  committed vectors decode\n");
}

typedef struct {
    const uint8_t *expect;
    uint8_t *buf;
    uint64_t len;
    atomic_int ok;
} gd_job;

static void on_gd(const ds_completion *c, void *user) {
    gd_job *j = user;
    if (c->result == DS_OK && c->bytes == j->len && memcmp(j->buf, j->expect, j->len) == 0)
        atomic_fetch_add(&j->ok, 1);
}

static atomic_int failures_seen;
static atomic_int last_failure_code;
static void on_failure(const ds_error_info *e, void *user) {
    CHECK(user == (void *)&failures_seen);
    CHECK(e->struct_size == sizeof(ds_error_info));
    CHECK(e->request_id != 0 && e->message[0] != 0);
    atomic_store(&last_failure_code, e->result);
    atomic_fetch_add(&failures_seen, 1);
}

static void queue_requests(const uint8_t *data, uint64_t len) {
    ds_backend *b = NULL;
    OK(ds_make_cpu_backend(2, &b));
    ds_queue_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.struct_size = sizeof cfg;
    cfg.on_failure = on_failure;
    cfg.on_failure_user_data = (void *)&failures_seen;
    cfg.decompress_threads = 2;
    ds_queue *q = NULL;
    OK(ds_queue_create(b, &cfg, &q));
    uint32_t support = 0;
    OK(ds_queue_compression_support(q, DS_COMPRESSION_GDEFLATE, &support));
    CHECK(support == DS_COMPRESSION_SUPPORT_CPU_FALLBACK);

    /* Several streams in one file, each read by its own request. */
    enum { STREAMS = 6 };
    uint64_t part = len / STREAMS, zlen[STREAMS], zoff[STREAMS], total = 0;
    uint8_t *z[STREAMS];
    for (int i = 0; i < STREAMS; i++) {
        z[i] = compress(data + part * (uint64_t)i, part, 1 + 2 * i, 1, &zlen[i]);
        zoff[i] = total;
        total += zlen[i];
    }
    uint8_t *packed = malloc(total);
    CHECK(packed != NULL);
    for (int i = 0; i < STREAMS; i++) memcpy(packed + zoff[i], z[i], zlen[i]);
    char *path = ds_test_temp_file_with(packed, total);
    ds_file *f = NULL;
    OK(ds_file_open(path, &f));
    gd_job jobs[2 * STREAMS];
    memset(jobs, 0, sizeof jobs);
    for (int i = 0; i < 2 * STREAMS; i++) {
        int s = i % STREAMS;
        gd_job *j = &jobs[i];
        j->expect = data + part * (uint64_t)s;
        j->len = part;
        j->buf = calloc(1, part);
        CHECK(j->buf != NULL);
        ds_request r = ds_test_request();
        r.compression = DS_COMPRESSION_GDEFLATE;
        if (i < STREAMS) {
            r.file = f;
            r.file_offset = zoff[s];
        } else {
            r.source_type = DS_SOURCE_MEMORY;
            r.source = z[s];
        }
        r.source_size = zlen[s];
        r.uncompressed_size = part;
        r.destination = j->buf;
        r.destination_size = part;
        r.callback = on_gd;
        r.user_data = j;
        OK(ds_queue_enqueue(q, &r, NULL));
    }
    OK(ds_queue_wait_all(q, DS_INFINITE));
    for (int i = 0; i < 2 * STREAMS; i++) {
        CHECK(atomic_load(&jobs[i].ok) == 1);
        free(jobs[i].buf);
    }
    printf("  %d GDeflate requests from a file and from memory\n", 2 * STREAMS);

    /* A corrupt stream: flip bytes inside the first tile's payload. */
    uint8_t *bad = malloc(zlen[0]);
    CHECK(bad != NULL);
    memcpy(bad, z[0], zlen[0]);
    for (uint64_t k = 24; k < zlen[0] && k < 64; k++) bad[k] ^= 0x5A;
    uint8_t *out = calloc(1, part);
    CHECK(out != NULL);
    ds_status_array *st = NULL;
    OK(ds_status_array_create(1, &st));
    atomic_store(&failures_seen, 0);
    ds_request r = ds_test_request();
    r.compression = DS_COMPRESSION_GDEFLATE;
    r.source_type = DS_SOURCE_MEMORY;
    r.source = bad;
    r.source_size = zlen[0];
    r.uncompressed_size = part;
    r.destination = out;
    r.destination_size = part;
    r.flags = DS_REQUEST_KEEP_COMPLETION;
    r.name = "corrupt";
    uint64_t id = 0;
    OK(ds_queue_enqueue(q, &r, &id));
    OK(ds_queue_enqueue_status(q, st, 0));
    ds_completion c;
    memset(&c, 0, sizeof c);
    c.struct_size = sizeof c;
    OK(ds_queue_wait(q, id, DS_INFINITE, &c));
    CHECK(c.result == DS_ERR_CORRUPT && c.bytes == 0);
    char msg[512];
    OK(ds_last_error_message(msg, sizeof msg, NULL));
    CHECK(strstr(msg, "corrupt") != NULL && strstr(msg, "'corrupt'") != NULL);
    OK(ds_queue_wait_all(q, DS_INFINITE));
    int32_t state = -1;
    ds_result why = -1;
    OK(ds_status_array_get(st, 0, &state, &why));
    CHECK(state == DS_STATUS_FAILED && why == DS_ERR_CORRUPT);
    ds_error_info info;
    memset(&info, 0, sizeof info);
    info.struct_size = sizeof info;
    OK(ds_status_array_get_error(st, 0, &info));
    CHECK(info.result == DS_ERR_CORRUPT && info.request_id == id);
    CHECK(strcmp(info.name, "corrupt") == 0 && info.fd == -1);
    CHECK(atomic_load(&failures_seen) == 1 && atomic_load(&last_failure_code) == DS_ERR_CORRUPT);

    /* A wrong uncompressed size, from the file. */
    r = ds_test_request();
    r.compression = DS_COMPRESSION_GDEFLATE;
    r.file = f;
    r.file_offset = zoff[1];
    r.source_size = zlen[1];
    r.uncompressed_size = part - 1;
    r.destination = out;
    r.destination_size = part;
    r.flags = DS_REQUEST_KEEP_COMPLETION;
    OK(ds_queue_enqueue(q, &r, &id));
    OK(ds_queue_wait(q, id, DS_INFINITE, &c));
    CHECK(c.result == DS_ERR_SIZE_MISMATCH);

    /* The error record is updated once a request's end is accounted for,
     * which wait_all waits for (ds_queue_wait returns at delivery). */
    OK(ds_queue_wait_all(q, DS_INFINITE));
    ds_error_record rec;
    memset(&rec, 0, sizeof rec);
    rec.struct_size = sizeof rec;
    OK(ds_queue_retrieve_error_record(q, &rec));
    CHECK(rec.failure_count == 2 && rec.has_failure == 1);
    CHECK(rec.first_failure.result == DS_ERR_CORRUPT);
    CHECK(strstr(rec.first_failure.message, "corrupt GDeflate stream") != NULL);
    OK(ds_queue_retrieve_error_record(q, &rec)); /* taken: starts over */
    CHECK(rec.failure_count == 0 && rec.has_failure == 0);
    OK(ds_queue_release(q));

    /* A request larger than the staging buffer is refused at enqueue. */
    cfg.staging_buffer_size = part / 2;
    cfg.on_failure = NULL;
    OK(ds_queue_create(b, &cfg, &q));
    r.uncompressed_size = part;
    EXPECT_CODE(DS_ERR_TOO_LARGE, ds_queue_enqueue(q, &r, &id));
    OK(ds_queue_release(q));

    OK(ds_status_array_release(st));
    OK(ds_file_release(f));
    OK(ds_backend_release(b));
    unlink(path);
    free(path);
    free(bad);
    free(out);
    free(packed);
    for (int i = 0; i < STREAMS; i++) free(z[i]);
}

int main(void) {
    /* The library under test is a debug build: keep the encoder's work small. */
    uint64_t len = (uint64_t)ds_test_scale(150000, 12000);
    uint8_t *text = malloc(len);
    CHECK(text != NULL);
    ds_test_fill_text(text, len, 3);
    roundtrip(text, len, DS_GDEFLATE_LEVEL_STORE);
    roundtrip(text, len, DS_GDEFLATE_LEVEL_FASTEST);
    roundtrip(text, len, DS_GDEFLATE_LEVEL_DEFAULT);
    roundtrip(text, (uint64_t)ds_test_scale(40000, 3000), DS_GDEFLATE_LEVEL_BEST);
    roundtrip(text, 0, DS_GDEFLATE_LEVEL_DEFAULT);
    uint64_t nlen = 70000; /* more than one 64 KiB tile */
    uint8_t *noise = malloc(nlen);
    CHECK(noise != NULL);
    ds_test_fill(noise, nlen, 0, 11);
    roundtrip(noise, nlen, ds_test_scale(5, 1));
    free(noise);
    vectors();
    queue_requests(text, len);
    free(text);
    printf("gdeflate: ok\n");
    return 0;
}
