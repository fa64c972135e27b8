/*
 * wine_unixcall.h - the few Wine declarations the PE side needs to reach its
 * unix library, written by hand because Debian's Wine 8 development package
 * ships no wine/unixlib.h.
 *
 * Wine's libwinecrt0.a (member unix_lib.o) provides the three symbols: at
 * __wine_init_unix_call() it looks up ntdll's __wine_unix_call_dispatcher and
 * asks NtQueryVirtualMemory(MemoryWineUnixFuncs = 1000) for the handle of
 * the unix library paired with this module (x86_64-unix/dstorage.so next to
 * x86_64-windows/dstorage.dll in a Wine dll directory). A call then runs
 * __wine_unix_call_funcs[code](params) of that library on this thread.
 * See ../shared/wine/LOADER-FACTS.md sections 2 and 3.
 */
#ifndef DSTORAGE_WINE_UNIXCALL_H
#define DSTORAGE_WINE_UNIXCALL_H

#include <windows.h>

typedef UINT64 unixlib_handle_t;

extern unixlib_handle_t __wine_unixlib_handle;
extern NTSTATUS(WINAPI *__wine_unix_call_dispatcher)(unixlib_handle_t handle, unsigned int code,
                                                     void *args);
extern NTSTATUS WINAPI __wine_init_unix_call(void);

#define WINE_UNIX_CALL(code, args) __wine_unix_call_dispatcher(__wine_unixlib_handle, (code), (args))

/* kernel32!wine_get_unix_file_name (Wine only, looked up at run time): the
 * Unix path of a DOS path, freed with HeapFree on the process heap; NULL
 * when the parent directory does not exist. */
typedef char *(CDECL *wine_get_unix_file_name_fn)(const WCHAR *dos);

#endif /* DSTORAGE_WINE_UNIXCALL_H */
