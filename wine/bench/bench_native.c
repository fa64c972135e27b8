/*
 * bench_native.c - the benchmark workload (workload.h) natively on Linux
 * through the C ABI of libds_runtime: the baseline the Wine shim is
 * compared with (bench/run.sh runs both in one go).
 *
 *   bench_native prepare DIR      writes DIR/data.bin, pack.bin, pack.idx
 *   bench_native run DIR ROUNDS   runs every case ROUNDS times after one
 *                                 warm-up, printing
 *                                 "native CASE REQUESTS BYTES SECONDS CHECKSUM"
 *
 * Same settings as the shim's defaults: an io_uring backend with the
 * runtime's default rings, a queue of QUEUE_CAPACITY slots, requests
 * without callbacks, then what EnqueueSetEvent + Submit + a wait is in the
 * C ABI: a marker whose callback posts a semaphore, ds_queue_submit_all,
 * sem_wait.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "ds_runtime.h"
#include "workload.h"

static void die(const char *what, ds_result r)
{
    char message[1024];

    ds_last_error_message(message, sizeof(message), NULL);
    fprintf(stderr, "bench_native: %s failed: %s (%s)\n", what, ds_result_text(r), message);
    exit(1);
}

static void *read_all(const char *path, uint64_t *size)
{
    FILE *f = fopen(path, "rb");
    void *data;
    long n;

    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    data = malloc((size_t)n + 1);
    if (!data || fread(data, 1, (size_t)n, f) != (size_t)n) {
        fclose(f);
        free(data);
        return NULL;
    }
    fclose(f);
    *size = (uint64_t)n;
    return data;
}

static void write_all(const char *path, const void *data, uint64_t size)
{
    FILE *f = fopen(path, "wb");

    if (!f || fwrite(data, 1, size, f) != size || fclose(f)) {
        fprintf(stderr, "bench_native: cannot write %s: %s\n", path, strerror(errno));
        exit(1);
    }
}

static int prepare(const char *dir)
{
    struct pack_entry *index = calloc(PACK_CHUNKS, sizeof(*index));
    uint8_t *data = malloc(DATA_BYTES), *pack;
    uint64_t bound = 0, written, packed = 0;
    char path[4096];
    ds_result r;
    uint32_t i;

    if (!index || !data) return 1;
    bench_fill(data, DATA_BYTES);
    snprintf(path, sizeof(path), "%s/data.bin", dir);
    write_all(path, data, DATA_BYTES);
    if ((r = ds_gdeflate_compress_bound(CHUNK, &bound))) die("ds_gdeflate_compress_bound", r);
    pack = malloc((size_t)bound * PACK_CHUNKS);
    if (!pack) return 1;
    for (i = 0; i < PACK_CHUNKS; i++) {
        r = ds_gdeflate_compress(data + (uint64_t)i * CHUNK, CHUNK, pack + packed, bound, DS_GDEFLATE_LEVEL_DEFAULT, 0,
                                 &written);
        if (r) die("ds_gdeflate_compress", r);
        index[i].offset = packed;
        index[i].size = (uint32_t)written;
        packed += written;
    }
    snprintf(path, sizeof(path), "%s/pack.bin", dir);
    write_all(path, pack, packed);
    snprintf(path, sizeof(path), "%s/pack.idx", dir);
    write_all(path, index, PACK_CHUNKS * sizeof(*index));
    printf("bench_native: wrote %s (%llu MiB data, %u GDeflate chunks in %llu bytes)\n", dir,
           (unsigned long long)(DATA_BYTES >> 20), PACK_CHUNKS, (unsigned long long)packed);
    free(pack);
    free(data);
    free(index);
    return 0;
}

static double now(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void post(void *user)
{
    sem_post(user);
}

static double run_case(struct ds_queue *queue, struct ds_file *data, struct ds_file *pack,
                       const struct pack_entry *index, const struct bench_case *c, uint8_t *dst, uint64_t *requests)
{
    struct ds_request req;
    uint64_t pos, n = 0;
    ds_result r;
    double t0;
    uint32_t i;
    static sem_t done;
    static int done_init;

    if (!done_init++) sem_init(&done, 0, 0);
    memset(&req, 0, sizeof(req));
    req.struct_size = sizeof(req);
    req.operation = DS_OP_READ;
    req.source_type = DS_SOURCE_FILE;
    req.destination_type = DS_DEST_MEMORY;
    t0 = now();
    if (c->request_bytes) {
        req.file = data;
        req.compression = DS_COMPRESSION_NONE;
        for (pos = 0; pos < c->span; pos += c->request_bytes, n++) {
            req.file_offset = pos;
            req.source_size = c->request_bytes;
            req.destination = dst + pos;
            req.destination_size = c->request_bytes;
            if ((r = ds_queue_enqueue_wait(queue, &req, DS_INFINITE, NULL))) die("ds_queue_enqueue_wait", r);
        }
    } else {
        req.file = pack;
        req.compression = DS_COMPRESSION_GDEFLATE;
        for (i = 0; i < PACK_CHUNKS; i++, n++) {
            req.file_offset = index[i].offset;
            req.source_size = index[i].size;
            req.destination = dst + (uint64_t)i * CHUNK;
            req.destination_size = CHUNK;
            req.uncompressed_size = CHUNK;
            if ((r = ds_queue_enqueue_wait(queue, &req, DS_INFINITE, NULL))) die("ds_queue_enqueue_wait", r);
        }
    }
    /* Markers have no waiting enqueue: retry while the queue is full, as the
     * shim's unix side does. */
    while ((r = ds_queue_enqueue_marker(queue, post, &done)) == DS_ERR_QUEUE_FULL) {
        struct timespec pause = {0, 50000};
        ds_queue_submit_all(queue);
        nanosleep(&pause, NULL);
    }
    if (r) die("ds_queue_enqueue_marker", r);
    if ((r = ds_queue_submit_all(queue))) die("ds_queue_submit_all", r);
    while (sem_wait(&done) && errno == EINTR) continue;
    *requests = n;
    return now() - t0;
}

static int run(const char *dir, int rounds)
{
    struct ds_io_uring_backend_config uring;
    struct ds_queue_config config;
    struct ds_backend *backend;
    struct ds_queue *queue;
    struct ds_file *data, *pack;
    struct pack_entry *index;
    uint64_t index_size = 0, requests;
    char path[4096];
    uint8_t *dst;
    double seconds;
    ds_result r;
    size_t k;
    int round;

    snprintf(path, sizeof(path), "%s/pack.idx", dir);
    index = read_all(path, &index_size);
    if (!index || index_size != PACK_CHUNKS * sizeof(*index)) {
        fprintf(stderr, "bench_native: no %s; run 'bench_native prepare %s'\n", path, dir);
        return 1;
    }
    snprintf(path, sizeof(path), "%s/data.bin", dir);
    if ((r = ds_file_open(path, &data))) die("ds_file_open", r);
    snprintf(path, sizeof(path), "%s/pack.bin", dir);
    if ((r = ds_file_open(path, &pack))) die("ds_file_open", r);
    memset(&uring, 0, sizeof(uring));
    uring.struct_size = sizeof(uring);
    if ((r = ds_make_io_uring_backend(&uring, &backend))) die("ds_make_io_uring_backend", r);
    memset(&config, 0, sizeof(config));
    config.struct_size = sizeof(config);
    config.capacity = QUEUE_CAPACITY;
    config.name = "bench-native";
    if ((r = ds_queue_create(backend, &config, &queue))) die("ds_queue_create", r);
    ds_backend_release(backend);
    /* Page-aligned anonymous memory, as VirtualAlloc gives the shim. */
    dst = mmap(NULL, DATA_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (dst == MAP_FAILED) return 1;
    memset(dst, 0, DATA_BYTES);

    for (k = 0; k < BENCH_CASES; k++) {
        const struct bench_case *c = &bench_cases[k];
        run_case(queue, data, pack, index, c, dst, &requests); /* warm-up */
        for (round = 0; round < rounds; round++) {
            memset(dst, 0, c->span);
            seconds = run_case(queue, data, pack, index, c, dst, &requests);
            printf("native %s %llu %llu %.6f %016llx\n", c->name, (unsigned long long)requests,
                   (unsigned long long)c->span, seconds, (unsigned long long)bench_fnv(dst, c->span));
            fflush(stdout);
        }
    }
    ds_queue_release(queue);
    ds_file_release(data);
    ds_file_release(pack);
    munmap(dst, DATA_BYTES);
    free(index);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "prepare")) return prepare(argv[2]);
    if (argc == 4 && !strcmp(argv[1], "run")) return run(argv[2], atoi(argv[3]));
    fprintf(stderr, "usage: bench_native prepare DIR | bench_native run DIR ROUNDS\n");
    return 2;
}
