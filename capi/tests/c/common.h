/*
 * Helpers shared by the C tests of libds_runtime (capi/tests/c, one program per .c file): checks
 * that print the library's last error message, temporary files with known
 * contents, and the light mode used under valgrind (DS_TEST_LIGHT=1: fewer
 * iterations, same code paths).
 */
#ifndef DS_TEST_COMMON_H
#define DS_TEST_COMMON_H

#define _GNU_SOURCE
#include "ds_runtime.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static inline void ds_test_fail(const char *file, int line, const char *what, ds_result r) {
    char msg[1024];
    uint64_t len = 0;
    ds_last_error_message(msg, sizeof msg, &len);
    fprintf(stderr, "%s:%d: %s failed: result %d (%s)\n  last error: %s\n", file, line, what,
            (int)r, ds_result_text(r), msg);
    exit(1);
}

/* The call must return DS_OK. */
#define OK(call)                                                                                   \
    do {                                                                                           \
        ds_result ok_r_ = (call);                                                                  \
        if (ok_r_ != DS_OK) ds_test_fail(__FILE__, __LINE__, #call, ok_r_);                        \
    } while (0)

/* The call must return exactly `code`. */
#define EXPECT_CODE(code, call)                                                                    \
    do {                                                                                           \
        ds_result ex_r_ = (call);                                                                  \
        if (ex_r_ != (code)) {                                                                     \
            fprintf(stderr, "%s:%d: %s returned %d (%s), expected %s (%d)\n", __FILE__, __LINE__,  \
                    #call, (int)ex_r_, ds_result_text(ex_r_), #code, (int)(code));                 \
            char m_[1024];                                                                         \
            ds_last_error_message(m_, sizeof m_, NULL);                                            \
            fprintf(stderr, "  last error: %s\n", m_);                                             \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);               \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

/* Light mode (valgrind): scale iteration counts down. */
static inline int ds_test_light(void) {
    const char *v = getenv("DS_TEST_LIGHT");
    return v != NULL && strcmp(v, "1") == 0;
}

static inline int ds_test_scale(int full, int light) { return ds_test_light() ? light : full; }

/* Byte i of the test pattern of seed `seed`: not periodic at small
 * offsets, so a read at a wrong offset is caught. */
static inline uint8_t ds_test_byte(uint64_t i, uint32_t seed) {
    uint64_t x = (i + 1) * 0x9E3779B97F4A7C15ull ^ ((uint64_t)seed << 32);
    x ^= x >> 29;
    x *= 0xBF58476D1CE4E5B9ull;
    x ^= x >> 32;
    return (uint8_t)x;
}

static inline void ds_test_fill(uint8_t *buf, uint64_t len, uint64_t offset, uint32_t seed) {
    for (uint64_t i = 0; i < len; i++) buf[i] = ds_test_byte(offset + i, seed);
}

/* Compressible data: words from a small vocabulary. */
static inline void ds_test_fill_text(uint8_t *buf, uint64_t len, uint32_t seed) {
    static const char *words[] = {"mesh ",    "texture ", "shader ", "asset ", "stream ",
                                  "request ", "tile ",    "lane ",   "queue ", "gpu "};
    uint64_t at = 0;
    uint32_t s = seed * 2654435761u + 1;
    while (at < len) {
        s = s * 1103515245u + 12345u;
        const char *w = words[(s >> 16) % 10];
        size_t n = strlen(w);
        for (size_t k = 0; k < n && at < len; k++) buf[at++] = (uint8_t)w[k];
    }
}

/* Creates a temporary file holding `len` pattern bytes of `seed`; returns
 * its path (malloc'ed; the caller unlinks and frees it). */
static inline char *ds_test_temp_file(uint64_t len, uint32_t seed) {
    const char *dir = getenv("TMPDIR");
    if (dir == NULL || dir[0] == 0) dir = "/tmp";
    char *path = malloc(strlen(dir) + 32);
    CHECK(path != NULL);
    sprintf(path, "%s/ds_c_test_XXXXXX", dir);
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    uint8_t *buf = malloc(len ? len : 1);
    CHECK(buf != NULL);
    ds_test_fill(buf, len, 0, seed);
    uint64_t done = 0;
    while (done < len) {
        ssize_t n = write(fd, buf + done, len - done);
        CHECK(n > 0);
        done += (uint64_t)n;
    }
    free(buf);
    CHECK(close(fd) == 0);
    return path;
}

/* Writes `len` bytes of `data` to a new temporary file; returns its path. */
static inline char *ds_test_temp_file_with(const uint8_t *data, uint64_t len) {
    char *path = ds_test_temp_file(0, 0);
    int fd = open(path, O_WRONLY | O_TRUNC);
    CHECK(fd >= 0);
    uint64_t done = 0;
    while (done < len) {
        ssize_t n = write(fd, data + done, len - done);
        CHECK(n > 0);
        done += (uint64_t)n;
    }
    CHECK(close(fd) == 0);
    return path;
}

/* Reads a whole file (malloc'ed); NULL if it cannot be read. */
static inline uint8_t *ds_test_read_all(const char *path, uint64_t *len) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) return NULL;
    CHECK(fseek(f, 0, SEEK_END) == 0);
    long n = ftell(f);
    CHECK(n >= 0);
    CHECK(fseek(f, 0, SEEK_SET) == 0);
    uint8_t *buf = malloc((size_t)n + 1);
    CHECK(buf != NULL);
    CHECK(fread(buf, 1, (size_t)n, f) == (size_t)n);
    fclose(f);
    *len = (uint64_t)n;
    return buf;
}

/* A zeroed request with struct_size set. */
static inline ds_request ds_test_request(void) {
    ds_request r;
    memset(&r, 0, sizeof r);
    r.struct_size = sizeof r;
    return r;
}

#endif
