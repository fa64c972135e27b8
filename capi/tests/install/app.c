/*
 * A program built only from an installed ds-runtime, the way its users
 * build: cc app.c $(pkg-config --cflags --libs ds-runtime). `cargo xtask
 * test --only capi-install` installs into a temporary prefix, builds this
 * against the shared and the static library and runs it. It reads its own
 * source file through a queue and round-trips it through GDeflate.
 */
#include <ds_runtime.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TRY(call)                                                                                  \
    do {                                                                                           \
        ds_result r_ = (call);                                                                     \
        if (r_ != DS_OK) {                                                                         \
            char m_[512];                                                                          \
            ds_last_error_message(m_, sizeof m_, NULL);                                            \
            fprintf(stderr, "%s: %s (%s)\n", #call, ds_result_text(r_), m_);                       \
            return 1;                                                                              \
        }                                                                                          \
    } while (0)

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: app FILE\n");
        return 2;
    }
    FILE *f = fopen(argv[1], "rb");
    if (f == NULL) return 2;
    static uint8_t expect[1 << 16];
    size_t len = fread(expect, 1, sizeof expect, f);
    fclose(f);
    if (len == 0) return 2;

    ds_backend *backend = NULL;
    TRY(ds_make_cpu_backend(1, &backend));
    ds_queue *queue = NULL;
    TRY(ds_queue_create(backend, NULL, &queue));
    ds_file *file = NULL;
    TRY(ds_file_open(argv[1], &file));
    static uint8_t got[1 << 16];
    ds_request req;
    memset(&req, 0, sizeof req);
    req.struct_size = sizeof req;
    req.file = file;
    req.source_size = len;
    req.destination = got;
    req.destination_size = len;
    TRY(ds_queue_enqueue(queue, &req, NULL));
    TRY(ds_queue_wait_all(queue, DS_INFINITE));
    if (memcmp(got, expect, len) != 0) {
        fprintf(stderr, "read back different bytes\n");
        return 1;
    }
    uint64_t bound = 0, packed_len = 0, unpacked_len = 0;
    TRY(ds_gdeflate_compress_bound(len, &bound));
    uint8_t *packed = malloc(bound);
    if (packed == NULL) return 1;
    TRY(ds_gdeflate_compress(got, len, packed, bound, DS_GDEFLATE_LEVEL_DEFAULT, 1, &packed_len));
    TRY(ds_gdeflate_decompress(packed, packed_len, got, sizeof got, 1, &unpacked_len));
    free(packed);
    if (unpacked_len != len || memcmp(got, expect, len) != 0) {
        fprintf(stderr, "GDeflate round trip differs\n");
        return 1;
    }
    TRY(ds_file_release(file));
    TRY(ds_queue_release(queue));
    TRY(ds_backend_release(backend));
    printf("ds-runtime %s from pkg-config: read and round-tripped %zu bytes\n", ds_version(), len);
    return 0;
}
