/*
 * file.c - IDStorageFile on the unix side: the Windows HANDLE becomes a
 * Unix descriptor (wine_server_handle_to_fd gives a dup() that the runtime's
 * ds_file then owns), named by its Unix path in the runtime's messages.
 *
 * A struct ufile is shared by the PE object and the requests that read it
 * (their error records name the file with the path the app gave), so it is
 * reference counted; the runtime keeps its own descriptor alive for
 * requests in flight.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "private.h"

#define UFILE_MAGIC 0x44534669u /* "DSFi" */

struct ufile *ufile_from_handle(uint64_t handle)
{
    struct ufile *file = (struct ufile *)(uintptr_t)handle;

    return file && file->magic == UFILE_MAGIC ? file : NULL;
}

void ufile_ref(struct ufile *file)
{
    __atomic_add_fetch(&file->refs, 1, __ATOMIC_RELAXED);
}

void ufile_unref(struct ufile *file)
{
    /* AcqRel: the last owner sees every write of the others before freeing. */
    if (__atomic_sub_fetch(&file->refs, 1, __ATOMIC_ACQ_REL)) return;
    file->magic = 0;
    free(file);
}

NTSTATUS_t file_open(void *args)
{
    struct dsw_file_open_params *params = args;
    const uint16_t *win_path = (const uint16_t *)(uintptr_t)params->win_path;
    const char *unix_path = (const char *)(uintptr_t)params->unix_path;
    unsigned int options = 0;
    struct ufile *file;
    uint32_t status;
    ds_result r;
    size_t i;
    int fd = -1;

    status = wine_server_handle_to_fd((void *)(uintptr_t)params->win_handle, WINE_FILE_READ_DATA, &fd, &options);
    if (status) {
        snprintf(params->message, sizeof(params->message),
                 "wine_server_handle_to_fd of handle %#lx failed with status %#x",
                 (unsigned long)params->win_handle, status);
        params->hr = E_DSTORAGE_INVALID_FILE_HANDLE_;
        return DSW_STATUS_OK;
    }
    file = calloc(1, sizeof(*file));
    if (!file) {
        close(fd);
        snprintf(params->message, sizeof(params->message), "out of memory");
        params->hr = E_OUTOFMEMORY_;
        return DSW_STATUS_OK;
    }
    /* The runtime owns the dup()ed descriptor from here on. */
    r = ds_file_open_fd(fd, DS_FILE_TAKE_FD, unix_path, &file->file);
    if (r != DS_OK) {
        last_error_text(params->message, sizeof(params->message));
        close(fd);
        free(file);
        params->hr = hresult_of(r, ds_last_os_error());
        return DSW_STATUS_OK;
    }
    for (i = 0; win_path && win_path[i] && i + 1 < DSW_FILENAME_CHARS; i++) file->win_path[i] = win_path[i];
    file->magic = UFILE_MAGIC;
    file->refs = 1;
    TRACE("opened %s as fd %d\n", unix_path ? unix_path : "(unknown path)", fd);
    params->file = (uint64_t)(uintptr_t)file;
    params->hr = S_OK_;
    return DSW_STATUS_OK;
}

NTSTATUS_t file_close(void *args)
{
    struct dsw_handle_params *params = args;
    struct ufile *file = ufile_from_handle(params->handle);

    if (!file) return DSW_STATUS_INVALID_HANDLE;
    params->hr = ds_file_close(file->file) == DS_OK ? S_OK_ : E_FAIL_;
    return DSW_STATUS_OK;
}

NTSTATUS_t file_release(void *args)
{
    struct dsw_handle_params *params = args;
    struct ufile *file = ufile_from_handle(params->handle);

    if (!file) return DSW_STATUS_INVALID_HANDLE;
    /* Requests still reading it keep the runtime's descriptor. */
    ds_file_release(file->file);
    file->file = NULL;
    ufile_unref(file);
    params->hr = S_OK_;
    return DSW_STATUS_OK;
}
