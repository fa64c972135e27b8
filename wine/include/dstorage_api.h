/*
 * dstorage_api.h - the DirectStorage 1.3 API (DSTORAGE_SDK_VERSION 300) as
 * plain C declarations for the Wine builtin dstorage.dll and its test
 * programs.
 *
 * Written for this project from the published facts (see
 * ../shared/directstorage/API.md and docs/wine_integration_guide.md): the
 * interface IIDs, the vtable order of every method, the struct layouts and
 * the HRESULT values of dstorageerr.h. Everything that crosses the ABI is
 * pinned by static assertions at the end of this file (sizes and offsets of
 * the x64 layouts), so a mistake here fails the build instead of corrupting
 * a game's memory.
 *
 * COM in C: every interface is a struct whose first member points to its
 * vtable; an interface derived from another repeats the base's methods first
 * (IUnknown, then the base's, then its own), exactly as the C++ vtable is
 * laid out. Methods use the Windows x64 calling convention (STDMETHODCALLTYPE).
 *
 * Requires a Windows (mingw-w64) compiler: windows.h and d3d12.h (for
 * ID3D12Device, ID3D12Fence, ID3D12Resource, D3D12_BOX, ...).
 */
#ifndef DSTORAGE_API_H
#define DSTORAGE_API_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <windows.h>
#include <unknwn.h>
#include <d3d12.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DSTORAGE_SDK_VERSION 300

/* ---- constants ---------------------------------------------------------- */

#define DSTORAGE_MIN_QUEUE_CAPACITY 0x80
#define DSTORAGE_MAX_QUEUE_CAPACITY 0x2000
#define DSTORAGE_REQUEST_MAX_NAME 64
#define DSTORAGE_DISABLE_BUILTIN_CPU_DECOMPRESSION (-1)

/* DSTORAGE_PRIORITY (INT8) */
#define DSTORAGE_PRIORITY_LOW (-1)
#define DSTORAGE_PRIORITY_NORMAL 0
#define DSTORAGE_PRIORITY_HIGH 1
#define DSTORAGE_PRIORITY_REALTIME 2
typedef INT8 DSTORAGE_PRIORITY;

/* DSTORAGE_REQUEST_SOURCE_TYPE (UINT64) */
#define DSTORAGE_REQUEST_SOURCE_FILE 0
#define DSTORAGE_REQUEST_SOURCE_MEMORY 1
typedef UINT64 DSTORAGE_REQUEST_SOURCE_TYPE;

/* DSTORAGE_REQUEST_DESTINATION_TYPE (UINT64) */
#define DSTORAGE_REQUEST_DESTINATION_MEMORY 0
#define DSTORAGE_REQUEST_DESTINATION_BUFFER 1
#define DSTORAGE_REQUEST_DESTINATION_TEXTURE_REGION 2
#define DSTORAGE_REQUEST_DESTINATION_MULTIPLE_SUBRESOURCES 3
#define DSTORAGE_REQUEST_DESTINATION_TILES 4
#define DSTORAGE_REQUEST_DESTINATION_MULTIPLE_SUBRESOURCES_RANGE 5
typedef UINT64 DSTORAGE_REQUEST_DESTINATION_TYPE;

/* DSTORAGE_COMPRESSION_FORMAT (UINT8) */
#define DSTORAGE_COMPRESSION_FORMAT_NONE 0
#define DSTORAGE_COMPRESSION_FORMAT_GDEFLATE 1
#define DSTORAGE_CUSTOM_COMPRESSION_0 0x80
typedef UINT8 DSTORAGE_COMPRESSION_FORMAT;

/* DSTORAGE_DEBUG flags */
#define DSTORAGE_DEBUG_NONE 0x00
#define DSTORAGE_DEBUG_SHOW_ERRORS 0x01
#define DSTORAGE_DEBUG_BREAK_ON_ERROR 0x02
#define DSTORAGE_DEBUG_RECORD_OBJECT_NAMES 0x04

/* DSTORAGE_ENQUEUE_REQUEST_FLAGS (UINT32) */
#define DSTORAGE_ENQUEUE_REQUEST_FLAG_NONE 0
#define DSTORAGE_ENQUEUE_REQUEST_FLAG_FENCE_WAIT_BEFORE_GPU_WORK 1
#define DSTORAGE_ENQUEUE_REQUEST_FLAG_FENCE_WAIT_BEFORE_SOURCE_ACCESS 2
typedef UINT32 DSTORAGE_ENQUEUE_REQUEST_FLAGS;

/* DSTORAGE_COMMAND_TYPE (int) */
#define DSTORAGE_COMMAND_TYPE_NONE (-1)
#define DSTORAGE_COMMAND_TYPE_REQUEST 0
#define DSTORAGE_COMMAND_TYPE_STATUS 1
#define DSTORAGE_COMMAND_TYPE_SIGNAL 2
#define DSTORAGE_COMMAND_TYPE_EVENT 3
typedef int DSTORAGE_COMMAND_TYPE;

/* DSTORAGE_STAGING_BUFFER_SIZE (UINT32) */
#define DSTORAGE_STAGING_BUFFER_SIZE_0 0u
#define DSTORAGE_STAGING_BUFFER_SIZE_32MB (32u * 1048576u)

/* DSTORAGE_GET_REQUEST_FLAGS (UINT32) */
#define DSTORAGE_GET_REQUEST_FLAG_SELECT_CUSTOM 0x01
#define DSTORAGE_GET_REQUEST_FLAG_SELECT_BUILTIN 0x02
#define DSTORAGE_GET_REQUEST_FLAG_SELECT_ALL 0x03
typedef UINT32 DSTORAGE_GET_REQUEST_FLAGS;

/* DSTORAGE_CUSTOM_DECOMPRESSION_FLAGS (UINT32) */
#define DSTORAGE_CUSTOM_DECOMPRESSION_FLAG_NONE 0x00
#define DSTORAGE_CUSTOM_DECOMPRESSION_FLAG_DEST_IN_UPLOAD_HEAP 0x01
typedef UINT32 DSTORAGE_CUSTOM_DECOMPRESSION_FLAGS;

/* DSTORAGE_COMPRESSION_SUPPORT (UINT32) */
#define DSTORAGE_COMPRESSION_SUPPORT_NONE 0x00
#define DSTORAGE_COMPRESSION_SUPPORT_GPU_OPTIMIZED 0x01
#define DSTORAGE_COMPRESSION_SUPPORT_GPU_FALLBACK 0x02
#define DSTORAGE_COMPRESSION_SUPPORT_CPU_FALLBACK 0x04
#define DSTORAGE_COMPRESSION_SUPPORT_USES_COMPUTE_QUEUE 0x08
#define DSTORAGE_COMPRESSION_SUPPORT_USES_COPY_QUEUE 0x10
typedef UINT32 DSTORAGE_COMPRESSION_SUPPORT;

/* DSTORAGE_COMPRESSION (INT32): codec compression setting */
#define DSTORAGE_COMPRESSION_FASTEST (-1)
#define DSTORAGE_COMPRESSION_DEFAULT 0
#define DSTORAGE_COMPRESSION_BEST_RATIO 1
typedef INT32 DSTORAGE_COMPRESSION;

/* ---- HRESULTs (dstorageerr.h, facility FACILITY_GAME 2340 = 0x924) ------ */

#define E_DSTORAGE_ALREADY_RUNNING ((HRESULT)0x89240001L)
#define E_DSTORAGE_NOT_RUNNING ((HRESULT)0x89240002L)
#define E_DSTORAGE_INVALID_QUEUE_CAPACITY ((HRESULT)0x89240003L)
#define E_DSTORAGE_XVD_DEVICE_NOT_SUPPORTED ((HRESULT)0x89240004L)
#define E_DSTORAGE_UNSUPPORTED_VOLUME ((HRESULT)0x89240005L)
#define E_DSTORAGE_END_OF_FILE ((HRESULT)0x89240007L)
#define E_DSTORAGE_REQUEST_TOO_LARGE ((HRESULT)0x89240008L)
#define E_DSTORAGE_ACCESS_VIOLATION ((HRESULT)0x89240009L)
#define E_DSTORAGE_UNSUPPORTED_FILE ((HRESULT)0x8924000AL)
#define E_DSTORAGE_FILE_NOT_OPEN ((HRESULT)0x8924000BL)
#define E_DSTORAGE_RESERVED_FIELDS ((HRESULT)0x8924000CL)
#define E_DSTORAGE_INVALID_BCPACK_MODE ((HRESULT)0x8924000DL)
#define E_DSTORAGE_INVALID_SWIZZLE_MODE ((HRESULT)0x8924000EL)
#define E_DSTORAGE_INVALID_DESTINATION_SIZE ((HRESULT)0x8924000FL)
#define E_DSTORAGE_QUEUE_CLOSED ((HRESULT)0x89240010L)
#define E_DSTORAGE_INVALID_CLUSTER_SIZE ((HRESULT)0x89240011L)
#define E_DSTORAGE_TOO_MANY_QUEUES ((HRESULT)0x89240012L)
#define E_DSTORAGE_INVALID_QUEUE_PRIORITY ((HRESULT)0x89240013L)
#define E_DSTORAGE_TOO_MANY_FILES ((HRESULT)0x89240014L)
#define E_DSTORAGE_INDEX_BOUND ((HRESULT)0x89240015L)
#define E_DSTORAGE_IO_TIMEOUT ((HRESULT)0x89240016L)
#define E_DSTORAGE_INVALID_FILE_HANDLE ((HRESULT)0x89240017L)
#define E_DSTORAGE_DEPRECATED_PREVIEW_GDK ((HRESULT)0x89240018L)
#define E_DSTORAGE_XVD_NOT_REGISTERED ((HRESULT)0x89240019L)
#define E_DSTORAGE_INVALID_FILE_OFFSET ((HRESULT)0x8924001AL)
#define E_DSTORAGE_INVALID_SOURCE_TYPE ((HRESULT)0x8924001BL)
#define E_DSTORAGE_INVALID_INTERMEDIATE_SIZE ((HRESULT)0x8924001CL)
#define E_DSTORAGE_SYSTEM_NOT_SUPPORTED ((HRESULT)0x8924001DL)
#define E_DSTORAGE_STAGING_BUFFER_LOCKED ((HRESULT)0x8924001FL)
#define E_DSTORAGE_INVALID_STAGING_BUFFER_SIZE ((HRESULT)0x89240020L)
#define E_DSTORAGE_STAGING_BUFFER_TOO_SMALL ((HRESULT)0x89240021L)
#define E_DSTORAGE_INVALID_FENCE ((HRESULT)0x89240022L)
#define E_DSTORAGE_INVALID_STATUS_ARRAY ((HRESULT)0x89240023L)
#define E_DSTORAGE_INVALID_MEMORY_QUEUE_PRIORITY ((HRESULT)0x89240024L)
#define E_DSTORAGE_DECOMPRESSION_ERROR ((HRESULT)0x89240030L)
#define E_DSTORAGE_ZLIB_BAD_HEADER ((HRESULT)0x89240031L)
#define E_DSTORAGE_ZLIB_BAD_DATA ((HRESULT)0x89240032L)
#define E_DSTORAGE_ZLIB_PARITY_FAIL ((HRESULT)0x89240033L)
#define E_DSTORAGE_BCPACK_BAD_HEADER ((HRESULT)0x89240034L)
#define E_DSTORAGE_BCPACK_BAD_DATA ((HRESULT)0x89240035L)
#define E_DSTORAGE_DECRYPTION_ERROR ((HRESULT)0x89240036L)
#define E_DSTORAGE_PASSTHROUGH_ERROR ((HRESULT)0x89240037L)
#define E_DSTORAGE_FILE_TOO_FRAGMENTED ((HRESULT)0x89240038L)
#define E_DSTORAGE_COMPRESSED_DATA_TOO_LARGE ((HRESULT)0x89240039L)
#define E_DSTORAGE_INVALID_DESTINATION_TYPE ((HRESULT)0x89240040L)
#define E_DSTORAGE_FILEBUFFERING_REQUIRES_DISABLED_BYPASSIO ((HRESULT)0x89240041L)

/* ---- interface identifiers ---------------------------------------------- */

#define DSTORAGE_DEFINE_IID(name, l, w1, w2, b1, b2, b3, b4, b5, b6, b7, b8) \
    static const IID name = {l, w1, w2, {b1, b2, b3, b4, b5, b6, b7, b8}}

/* {6924ea0c-c3cd-4826-b10a-f64f4ed927c1} */
DSTORAGE_DEFINE_IID(IID_IDStorageFactory, 0x6924ea0c, 0xc3cd, 0x4826,
                    0xb1, 0x0a, 0xf6, 0x4f, 0x4e, 0xd9, 0x27, 0xc1);
/* {5de95e7b-955a-4868-a73c-243b29f4b8da} */
DSTORAGE_DEFINE_IID(IID_IDStorageFile, 0x5de95e7b, 0x955a, 0x4868,
                    0xa7, 0x3c, 0x24, 0x3b, 0x29, 0xf4, 0xb8, 0xda);
/* {82397587-7cd5-453b-a02e-31379bd64656} */
DSTORAGE_DEFINE_IID(IID_IDStorageStatusArray, 0x82397587, 0x7cd5, 0x453b,
                    0xa0, 0x2e, 0x31, 0x37, 0x9b, 0xd6, 0x46, 0x56);
/* {cfdbd83f-9e06-4fda-8ea5-69042137f49b} */
DSTORAGE_DEFINE_IID(IID_IDStorageQueue, 0xcfdbd83f, 0x9e06, 0x4fda,
                    0x8e, 0xa5, 0x69, 0x04, 0x21, 0x37, 0xf4, 0x9b);
/* {dd2f482c-5eff-41e8-9c9e-d2374b278128} */
DSTORAGE_DEFINE_IID(IID_IDStorageQueue1, 0xdd2f482c, 0x5eff, 0x41e8,
                    0x9c, 0x9e, 0xd2, 0x37, 0x4b, 0x27, 0x81, 0x28);
/* {b1c9d643-3a49-44a2-b46f-653649470d18} */
DSTORAGE_DEFINE_IID(IID_IDStorageQueue2, 0xb1c9d643, 0x3a49, 0x44a2,
                    0xb4, 0x6f, 0x65, 0x36, 0x49, 0x47, 0x0d, 0x18);
/* {deb54c52-eca8-46b3-82a7-031b72262653} */
DSTORAGE_DEFINE_IID(IID_IDStorageQueue3, 0xdeb54c52, 0xeca8, 0x46b3,
                    0x82, 0xa7, 0x03, 0x1b, 0x72, 0x26, 0x26, 0x53);
/* {97179b2f-2c21-49ca-8291-4e1bf4a160df} */
DSTORAGE_DEFINE_IID(IID_IDStorageCustomDecompressionQueue, 0x97179b2f, 0x2c21,
                    0x49ca, 0x82, 0x91, 0x4e, 0x1b, 0xf4, 0xa1, 0x60, 0xdf);
/* {0d47c6c9-e61a-4706-93b4-68bfe3f4aa4a} */
DSTORAGE_DEFINE_IID(IID_IDStorageCustomDecompressionQueue1, 0x0d47c6c9, 0xe61a,
                    0x4706, 0x93, 0xb4, 0x68, 0xbf, 0xe3, 0xf4, 0xaa, 0x4a);
/* {84ef5121-9b43-4d03-b5c1-cc34606b262d} */
DSTORAGE_DEFINE_IID(IID_IDStorageCompressionCodec, 0x84ef5121, 0x9b43, 0x4d03,
                    0xb5, 0xc1, 0xcc, 0x34, 0x60, 0x6b, 0x26, 0x2d);

/* ---- structures ------------------------------------------------------------ */

typedef struct DSTORAGE_QUEUE_DESC {
    DSTORAGE_REQUEST_SOURCE_TYPE SourceType; /* 64-bit enum */
    UINT16 Capacity;
    DSTORAGE_PRIORITY Priority;
    const CHAR *Name;
    ID3D12Device *Device; /* NULL: memory destinations only */
} DSTORAGE_QUEUE_DESC;

typedef struct DSTORAGE_QUEUE_INFO {
    DSTORAGE_QUEUE_DESC Desc;
    UINT16 EmptySlotCount;
    UINT16 RequestCountUntilAutoSubmit;
} DSTORAGE_QUEUE_INFO;

/*
 * DSTORAGE_REQUEST_OPTIONS is two 64-bit words. In the SDK the first is an
 * 8-bit CompressionFormat bit field followed by 7 reserved bytes; the second
 * is a UINT64 holding SourceType (bit 0), DestinationType (bits 1..7) and 48
 * reserved bits (bits 8..55). The same layout is written here with fields
 * the C compilers agree on (mingw-w64 uses MS bit-field layout, so the
 * UINT64 bit fields share one 64-bit unit exactly as with MSVC).
 */
typedef struct DSTORAGE_REQUEST_OPTIONS {
    DSTORAGE_COMPRESSION_FORMAT CompressionFormat;
    UINT8 Reserved1[7];
    UINT64 SourceType : 1;
    UINT64 DestinationType : 7;
    UINT64 Reserved : 48;
} DSTORAGE_REQUEST_OPTIONS;

typedef struct DSTORAGE_SOURCE_FILE {
    struct IDStorageFile *Source;
    UINT64 Offset;
    UINT32 Size;
} DSTORAGE_SOURCE_FILE;

typedef struct DSTORAGE_SOURCE_MEMORY {
    const void *Source;
    UINT32 Size;
} DSTORAGE_SOURCE_MEMORY;

typedef struct DSTORAGE_DESTINATION_MEMORY {
    void *Buffer;
    UINT32 Size;
} DSTORAGE_DESTINATION_MEMORY;

typedef struct DSTORAGE_DESTINATION_BUFFER {
    ID3D12Resource *Resource;
    UINT64 Offset;
    UINT32 Size;
} DSTORAGE_DESTINATION_BUFFER;

typedef struct DSTORAGE_DESTINATION_TEXTURE_REGION {
    ID3D12Resource *Resource;
    UINT SubresourceIndex;
    D3D12_BOX Region;
} DSTORAGE_DESTINATION_TEXTURE_REGION;

typedef struct DSTORAGE_DESTINATION_MULTIPLE_SUBRESOURCES {
    ID3D12Resource *Resource;
    UINT FirstSubresource;
} DSTORAGE_DESTINATION_MULTIPLE_SUBRESOURCES;

typedef struct DSTORAGE_DESTINATION_MULTIPLE_SUBRESOURCES_RANGE {
    ID3D12Resource *Resource;
    UINT FirstSubresource;
    UINT NumSubresources;
} DSTORAGE_DESTINATION_MULTIPLE_SUBRESOURCES_RANGE;

typedef struct DSTORAGE_DESTINATION_TILES {
    ID3D12Resource *Resource;
    D3D12_TILED_RESOURCE_COORDINATE TiledRegionStartCoordinate;
    D3D12_TILE_REGION_SIZE TileRegionSize;
} DSTORAGE_DESTINATION_TILES;

typedef union DSTORAGE_SOURCE {
    DSTORAGE_SOURCE_MEMORY Memory;
    DSTORAGE_SOURCE_FILE File;
} DSTORAGE_SOURCE;

typedef union DSTORAGE_DESTINATION {
    DSTORAGE_DESTINATION_MEMORY Memory;
    DSTORAGE_DESTINATION_BUFFER Buffer;
    DSTORAGE_DESTINATION_TEXTURE_REGION Texture;
    DSTORAGE_DESTINATION_MULTIPLE_SUBRESOURCES MultipleSubresources;
    DSTORAGE_DESTINATION_TILES Tiles;
    DSTORAGE_DESTINATION_MULTIPLE_SUBRESOURCES_RANGE MultipleSubresourcesRange;
} DSTORAGE_DESTINATION;

typedef struct DSTORAGE_REQUEST {
    DSTORAGE_REQUEST_OPTIONS Options;
    DSTORAGE_SOURCE Source;
    DSTORAGE_DESTINATION Destination;
    /* Memory/buffer destinations: for compressed data it must equal the
     * destination size; for uncompressed data it may be 0. */
    UINT32 UncompressedSize;
    UINT64 CancellationTag;
    const CHAR *Name; /* optional, up to DSTORAGE_REQUEST_MAX_NAME stored */
} DSTORAGE_REQUEST;

typedef struct DSTORAGE_ERROR_PARAMETERS_REQUEST {
    WCHAR Filename[MAX_PATH];
    CHAR RequestName[DSTORAGE_REQUEST_MAX_NAME];
    DSTORAGE_REQUEST Request;
} DSTORAGE_ERROR_PARAMETERS_REQUEST;

typedef struct DSTORAGE_ERROR_PARAMETERS_STATUS {
    struct IDStorageStatusArray *StatusArray;
    UINT32 Index;
} DSTORAGE_ERROR_PARAMETERS_STATUS;

typedef struct DSTORAGE_ERROR_PARAMETERS_SIGNAL {
    ID3D12Fence *Fence;
    UINT64 Value;
} DSTORAGE_ERROR_PARAMETERS_SIGNAL;

typedef struct DSTORAGE_ERROR_PARAMETERS_EVENT {
    HANDLE Handle;
} DSTORAGE_ERROR_PARAMETERS_EVENT;

typedef struct DSTORAGE_ERROR_FIRST_FAILURE {
    HRESULT HResult;
    DSTORAGE_COMMAND_TYPE CommandType;
    union {
        DSTORAGE_ERROR_PARAMETERS_REQUEST Request;
        DSTORAGE_ERROR_PARAMETERS_STATUS Status;
        DSTORAGE_ERROR_PARAMETERS_SIGNAL Signal;
        DSTORAGE_ERROR_PARAMETERS_EVENT Event;
    };
} DSTORAGE_ERROR_FIRST_FAILURE;

typedef struct DSTORAGE_ERROR_RECORD {
    UINT32 FailureCount;
    DSTORAGE_ERROR_FIRST_FAILURE FirstFailure;
} DSTORAGE_ERROR_RECORD;

typedef struct DSTORAGE_CUSTOM_DECOMPRESSION_REQUEST {
    UINT64 Id;
    DSTORAGE_COMPRESSION_FORMAT CompressionFormat;
    UINT8 Reserved[3];
    DSTORAGE_CUSTOM_DECOMPRESSION_FLAGS Flags;
    UINT64 SrcSize;
    const void *SrcBuffer;
    UINT64 DstSize;
    void *DstBuffer;
} DSTORAGE_CUSTOM_DECOMPRESSION_REQUEST;

typedef struct DSTORAGE_CUSTOM_DECOMPRESSION_RESULT {
    UINT64 Id;
    HRESULT Result;
} DSTORAGE_CUSTOM_DECOMPRESSION_RESULT;

typedef struct DSTORAGE_CONFIGURATION {
    UINT32 NumSubmitThreads;
    INT32 NumBuiltInCpuDecompressionThreads;
    BOOL ForceMappingLayer;
    BOOL DisableBypassIO;
    BOOL DisableTelemetry;
    BOOL DisableGpuDecompressionMetacommand;
    BOOL DisableGpuDecompression;
} DSTORAGE_CONFIGURATION;

typedef struct DSTORAGE_CONFIGURATION1 {
    UINT32 NumSubmitThreads;
    INT32 NumBuiltInCpuDecompressionThreads;
    BOOL ForceMappingLayer;
    BOOL DisableBypassIO;
    BOOL DisableTelemetry;
    BOOL DisableGpuDecompressionMetacommand;
    BOOL DisableGpuDecompression;
    BOOL ForceFileBuffering;
} DSTORAGE_CONFIGURATION1;

/* ---- interfaces ------------------------------------------------------------ */

typedef struct IDStorageFile IDStorageFile;
typedef struct IDStorageStatusArray IDStorageStatusArray;
typedef struct IDStorageQueue3 IDStorageQueue3;
typedef struct IDStorageFactory IDStorageFactory;
typedef struct IDStorageCustomDecompressionQueue1 IDStorageCustomDecompressionQueue1;
typedef struct IDStorageCompressionCodec IDStorageCompressionCodec;

#define DSTORAGE_IUNKNOWN_METHODS(T)                                              \
    HRESULT(STDMETHODCALLTYPE *QueryInterface)(T * This, REFIID riid, void **ppv); \
    ULONG(STDMETHODCALLTYPE *AddRef)(T * This);                                   \
    ULONG(STDMETHODCALLTYPE *Release)(T * This)

typedef struct IDStorageFileVtbl {
    DSTORAGE_IUNKNOWN_METHODS(IDStorageFile);
    void(STDMETHODCALLTYPE *Close)(IDStorageFile *This);
    HRESULT(STDMETHODCALLTYPE *GetFileInformation)(IDStorageFile *This,
                                                   BY_HANDLE_FILE_INFORMATION *info);
} IDStorageFileVtbl;
struct IDStorageFile {
    const IDStorageFileVtbl *lpVtbl;
};

typedef struct IDStorageStatusArrayVtbl {
    DSTORAGE_IUNKNOWN_METHODS(IDStorageStatusArray);
    /* C++ bool: one byte returned in AL. */
    _Bool(STDMETHODCALLTYPE *IsComplete)(IDStorageStatusArray *This, UINT32 index);
    HRESULT(STDMETHODCALLTYPE *GetHResult)(IDStorageStatusArray *This, UINT32 index);
} IDStorageStatusArrayVtbl;
struct IDStorageStatusArray {
    const IDStorageStatusArrayVtbl *lpVtbl;
};

/* IDStorageQueue, ...Queue1, ...Queue2, ...Queue3 share this vtable; each
 * newer interface only appends methods, so an IDStorageQueue pointer is
 * called through the first ten entries. */
typedef struct IDStorageQueue3Vtbl {
    DSTORAGE_IUNKNOWN_METHODS(IDStorageQueue3);
    /* IDStorageQueue */
    void(STDMETHODCALLTYPE *EnqueueRequest)(IDStorageQueue3 *This, const DSTORAGE_REQUEST *request);
    void(STDMETHODCALLTYPE *EnqueueStatus)(IDStorageQueue3 *This, IDStorageStatusArray *array,
                                           UINT32 index);
    void(STDMETHODCALLTYPE *EnqueueSignal)(IDStorageQueue3 *This, ID3D12Fence *fence, UINT64 value);
    void(STDMETHODCALLTYPE *Submit)(IDStorageQueue3 *This);
    void(STDMETHODCALLTYPE *CancelRequestsWithTag)(IDStorageQueue3 *This, UINT64 mask, UINT64 value);
    void(STDMETHODCALLTYPE *Close)(IDStorageQueue3 *This);
    HANDLE(STDMETHODCALLTYPE *GetErrorEvent)(IDStorageQueue3 *This);
    void(STDMETHODCALLTYPE *RetrieveErrorRecord)(IDStorageQueue3 *This, DSTORAGE_ERROR_RECORD *record);
    void(STDMETHODCALLTYPE *Query)(IDStorageQueue3 *This, DSTORAGE_QUEUE_INFO *info);
    /* IDStorageQueue1 */
    void(STDMETHODCALLTYPE *EnqueueSetEvent)(IDStorageQueue3 *This, HANDLE handle);
    /* IDStorageQueue2 */
    DSTORAGE_COMPRESSION_SUPPORT(STDMETHODCALLTYPE *GetCompressionSupport)(
        IDStorageQueue3 *This, DSTORAGE_COMPRESSION_FORMAT format);
    /* IDStorageQueue3 */
    void(STDMETHODCALLTYPE *EnqueueRequests)(IDStorageQueue3 *This, const DSTORAGE_REQUEST *requests,
                                             UINT count, ID3D12Fence *fence, UINT64 value,
                                             DSTORAGE_ENQUEUE_REQUEST_FLAGS flags);
} IDStorageQueue3Vtbl;
struct IDStorageQueue3 {
    const IDStorageQueue3Vtbl *lpVtbl;
};
typedef IDStorageQueue3 IDStorageQueue;
typedef IDStorageQueue3 IDStorageQueue1;
typedef IDStorageQueue3 IDStorageQueue2;

typedef struct IDStorageFactoryVtbl {
    DSTORAGE_IUNKNOWN_METHODS(IDStorageFactory);
    HRESULT(STDMETHODCALLTYPE *CreateQueue)(IDStorageFactory *This, const DSTORAGE_QUEUE_DESC *desc,
                                            REFIID riid, void **ppv);
    HRESULT(STDMETHODCALLTYPE *OpenFile)(IDStorageFactory *This, const WCHAR *path, REFIID riid,
                                         void **ppv);
    HRESULT(STDMETHODCALLTYPE *CreateStatusArray)(IDStorageFactory *This, UINT32 capacity,
                                                  const CHAR *name, REFIID riid, void **ppv);
    void(STDMETHODCALLTYPE *SetDebugFlags)(IDStorageFactory *This, UINT32 flags);
    HRESULT(STDMETHODCALLTYPE *SetStagingBufferSize)(IDStorageFactory *This, UINT32 size);
} IDStorageFactoryVtbl;
struct IDStorageFactory {
    const IDStorageFactoryVtbl *lpVtbl;
};

/* IDStorageCustomDecompressionQueue and ...Queue1 share this vtable. */
typedef struct IDStorageCustomDecompressionQueue1Vtbl {
    DSTORAGE_IUNKNOWN_METHODS(IDStorageCustomDecompressionQueue1);
    HANDLE(STDMETHODCALLTYPE *GetEvent)(IDStorageCustomDecompressionQueue1 *This);
    HRESULT(STDMETHODCALLTYPE *GetRequests)(IDStorageCustomDecompressionQueue1 *This, UINT32 max,
                                            DSTORAGE_CUSTOM_DECOMPRESSION_REQUEST *requests,
                                            UINT32 *count);
    HRESULT(STDMETHODCALLTYPE *SetRequestResults)(IDStorageCustomDecompressionQueue1 *This,
                                                  UINT32 count,
                                                  DSTORAGE_CUSTOM_DECOMPRESSION_RESULT *results);
    /* IDStorageCustomDecompressionQueue1 */
    HRESULT(STDMETHODCALLTYPE *GetRequests1)(IDStorageCustomDecompressionQueue1 *This,
                                             DSTORAGE_GET_REQUEST_FLAGS flags, UINT32 max,
                                             DSTORAGE_CUSTOM_DECOMPRESSION_REQUEST *requests,
                                             UINT32 *count);
} IDStorageCustomDecompressionQueue1Vtbl;
struct IDStorageCustomDecompressionQueue1 {
    const IDStorageCustomDecompressionQueue1Vtbl *lpVtbl;
};
typedef IDStorageCustomDecompressionQueue1 IDStorageCustomDecompressionQueue;

typedef struct IDStorageCompressionCodecVtbl {
    DSTORAGE_IUNKNOWN_METHODS(IDStorageCompressionCodec);
    HRESULT(STDMETHODCALLTYPE *CompressBuffer)(IDStorageCompressionCodec *This, const void *src,
                                               SIZE_T src_size, DSTORAGE_COMPRESSION setting,
                                               void *dst, SIZE_T dst_size, SIZE_T *written);
    HRESULT(STDMETHODCALLTYPE *DecompressBuffer)(IDStorageCompressionCodec *This, const void *src,
                                                 SIZE_T src_size, void *dst, SIZE_T dst_size,
                                                 SIZE_T *written);
    SIZE_T(STDMETHODCALLTYPE *CompressBufferBound)(IDStorageCompressionCodec *This, SIZE_T size);
} IDStorageCompressionCodecVtbl;
struct IDStorageCompressionCodec {
    const IDStorageCompressionCodecVtbl *lpVtbl;
};

/* ---- exports of dstorage.dll ----------------------------------------------- */

typedef HRESULT(WINAPI *PFN_DStorageGetFactory)(REFIID riid, void **ppv);
typedef HRESULT(WINAPI *PFN_DStorageSetConfiguration)(const DSTORAGE_CONFIGURATION *config);
typedef HRESULT(WINAPI *PFN_DStorageSetConfiguration1)(const DSTORAGE_CONFIGURATION1 *config);
typedef HRESULT(WINAPI *PFN_DStorageCreateCompressionCodec)(DSTORAGE_COMPRESSION_FORMAT format,
                                                            UINT32 threads, REFIID riid, void **ppv);

/* ---- the x64 ABI, pinned ------------------------------------------------------ */

#define DSTORAGE_ASSERT_LAYOUT(expr) _Static_assert(expr, #expr)

DSTORAGE_ASSERT_LAYOUT(sizeof(void *) == 8);
DSTORAGE_ASSERT_LAYOUT(sizeof(DSTORAGE_QUEUE_DESC) == 32);
DSTORAGE_ASSERT_LAYOUT(offsetof(DSTORAGE_QUEUE_DESC, Capacity) == 8);
DSTORAGE_ASSERT_LAYOUT(offsetof(DSTORAGE_QUEUE_DESC, Priority) == 10);
DSTORAGE_ASSERT_LAYOUT(offsetof(DSTORAGE_QUEUE_DESC, Name) == 16);
DSTORAGE_ASSERT_LAYOUT(offsetof(DSTORAGE_QUEUE_DESC, Device) == 24);
DSTORAGE_ASSERT_LAYOUT(sizeof(DSTORAGE_QUEUE_INFO) == 40);
DSTORAGE_ASSERT_LAYOUT(offsetof(DSTORAGE_QUEUE_INFO, EmptySlotCount) == 32);
DSTORAGE_ASSERT_LAYOUT(offsetof(DSTORAGE_QUEUE_INFO, RequestCountUntilAutoSubmit) == 34);
DSTORAGE_ASSERT_LAYOUT(sizeof(DSTORAGE_REQUEST_OPTIONS) == 16);
DSTORAGE_ASSERT_LAYOUT(offsetof(DSTORAGE_REQUEST_OPTIONS, Reserved1) == 1);
DSTORAGE_ASSERT_LAYOUT(sizeof(DSTORAGE_SOURCE_FILE) == 24);
DSTORAGE_ASSERT_LAYOUT(offsetof(DSTORAGE_SOURCE_FILE, Offset) == 8);
DSTORAGE_ASSERT_LAYOUT(offsetof(DSTORAGE_SOURCE_FILE, Size) == 16);
DSTORAGE_ASSERT_LAYOUT(sizeof(DSTORAGE_SOURCE_MEMORY) == 16);
DSTORAGE_ASSERT_LAYOUT(offsetof(DSTORAGE_SOURCE_MEMORY, Size) == 8);
DSTORAGE_ASSERT_LAYOUT(sizeof(DSTORAGE_DESTINATION_MEMORY) == 16);
DSTORAGE_ASSERT_LAYOUT(offsetof(DSTORAGE_DESTINATION_MEMORY, Size) == 8);
DSTORAGE_ASSERT_LAYOUT(sizeof(DSTORAGE_DESTINATION_BUFFER) == 24);
DSTORAGE_ASSERT_LAYOUT(offsetof(DSTORAGE_DESTINATION_BUFFER, Offset) == 8);
DSTORAGE_ASSERT_LAYOUT(offsetof(DSTORAGE_DESTINATION_BUFFER, Size) == 16);
DSTORAGE_ASSERT_LAYOUT(sizeof(DSTORAGE_DESTINATION_TEXTURE_REGION) == 40);
DSTORAGE_ASSERT_LAYOUT(offsetof(DSTORAGE_DESTINATION_TEXTURE_REGION, Region) == 12);
DSTORAGE_ASSERT_LAYOUT(sizeof(DSTORAGE_DESTINATION_MULTIPLE_SUBRESOURCES) == 16);
DSTORAGE_ASSERT_LAYOUT(sizeof(DSTORAGE_DESTINATION_MULTIPLE_SUBRESOURCES_RANGE) == 16);
DSTORAGE_ASSERT_LAYOUT(sizeof(DSTORAGE_DESTINATION_TILES) == 40);
DSTORAGE_ASSERT_LAYOUT(offsetof(DSTORAGE_DESTINATION_TILES, TileRegionSize) == 24);
DSTORAGE_ASSERT_LAYOUT(sizeof(DSTORAGE_SOURCE) == 24);
DSTORAGE_ASSERT_LAYOUT(sizeof(DSTORAGE_DESTINATION) == 40);
DSTORAGE_ASSERT_LAYOUT(sizeof(DSTORAGE_REQUEST) == 104);
DSTORAGE_ASSERT_LAYOUT(offsetof(DSTORAGE_REQUEST, Source) == 16);
DSTORAGE_ASSERT_LAYOUT(offsetof(DSTORAGE_REQUEST, Destination) == 40);
DSTORAGE_ASSERT_LAYOUT(offsetof(DSTORAGE_REQUEST, UncompressedSize) == 80);
DSTORAGE_ASSERT_LAYOUT(offsetof(DSTORAGE_REQUEST, CancellationTag) == 88);
DSTORAGE_ASSERT_LAYOUT(offsetof(DSTORAGE_REQUEST, Name) == 96);
DSTORAGE_ASSERT_LAYOUT(sizeof(DSTORAGE_ERROR_PARAMETERS_REQUEST) == 688);
DSTORAGE_ASSERT_LAYOUT(offsetof(DSTORAGE_ERROR_PARAMETERS_REQUEST, RequestName) == 520);
DSTORAGE_ASSERT_LAYOUT(offsetof(DSTORAGE_ERROR_PARAMETERS_REQUEST, Request) == 584);
DSTORAGE_ASSERT_LAYOUT(sizeof(DSTORAGE_ERROR_PARAMETERS_STATUS) == 16);
DSTORAGE_ASSERT_LAYOUT(sizeof(DSTORAGE_ERROR_PARAMETERS_SIGNAL) == 16);
DSTORAGE_ASSERT_LAYOUT(sizeof(DSTORAGE_ERROR_FIRST_FAILURE) == 696);
DSTORAGE_ASSERT_LAYOUT(offsetof(DSTORAGE_ERROR_FIRST_FAILURE, CommandType) == 4);
DSTORAGE_ASSERT_LAYOUT(offsetof(DSTORAGE_ERROR_FIRST_FAILURE, Request) == 8);
DSTORAGE_ASSERT_LAYOUT(sizeof(DSTORAGE_ERROR_RECORD) == 704);
DSTORAGE_ASSERT_LAYOUT(offsetof(DSTORAGE_ERROR_RECORD, FirstFailure) == 8);
DSTORAGE_ASSERT_LAYOUT(sizeof(DSTORAGE_CUSTOM_DECOMPRESSION_REQUEST) == 48);
DSTORAGE_ASSERT_LAYOUT(offsetof(DSTORAGE_CUSTOM_DECOMPRESSION_REQUEST, CompressionFormat) == 8);
DSTORAGE_ASSERT_LAYOUT(offsetof(DSTORAGE_CUSTOM_DECOMPRESSION_REQUEST, Flags) == 12);
DSTORAGE_ASSERT_LAYOUT(offsetof(DSTORAGE_CUSTOM_DECOMPRESSION_REQUEST, SrcSize) == 16);
DSTORAGE_ASSERT_LAYOUT(offsetof(DSTORAGE_CUSTOM_DECOMPRESSION_REQUEST, SrcBuffer) == 24);
DSTORAGE_ASSERT_LAYOUT(offsetof(DSTORAGE_CUSTOM_DECOMPRESSION_REQUEST, DstSize) == 32);
DSTORAGE_ASSERT_LAYOUT(offsetof(DSTORAGE_CUSTOM_DECOMPRESSION_REQUEST, DstBuffer) == 40);
DSTORAGE_ASSERT_LAYOUT(sizeof(DSTORAGE_CUSTOM_DECOMPRESSION_RESULT) == 16);
DSTORAGE_ASSERT_LAYOUT(offsetof(DSTORAGE_CUSTOM_DECOMPRESSION_RESULT, Result) == 8);
DSTORAGE_ASSERT_LAYOUT(sizeof(DSTORAGE_CONFIGURATION) == 28);
DSTORAGE_ASSERT_LAYOUT(sizeof(DSTORAGE_CONFIGURATION1) == 32);
DSTORAGE_ASSERT_LAYOUT(offsetof(DSTORAGE_CONFIGURATION1, ForceFileBuffering) == 28);
/* vtable slots (in pointers): IUnknown is 0..2. */
DSTORAGE_ASSERT_LAYOUT(offsetof(IDStorageFactoryVtbl, SetStagingBufferSize) / 8 == 7);
DSTORAGE_ASSERT_LAYOUT(offsetof(IDStorageFileVtbl, GetFileInformation) / 8 == 4);
DSTORAGE_ASSERT_LAYOUT(offsetof(IDStorageStatusArrayVtbl, GetHResult) / 8 == 4);
DSTORAGE_ASSERT_LAYOUT(offsetof(IDStorageQueue3Vtbl, Query) / 8 == 11);
DSTORAGE_ASSERT_LAYOUT(offsetof(IDStorageQueue3Vtbl, EnqueueSetEvent) / 8 == 12);
DSTORAGE_ASSERT_LAYOUT(offsetof(IDStorageQueue3Vtbl, GetCompressionSupport) / 8 == 13);
DSTORAGE_ASSERT_LAYOUT(offsetof(IDStorageQueue3Vtbl, EnqueueRequests) / 8 == 14);
DSTORAGE_ASSERT_LAYOUT(offsetof(IDStorageCustomDecompressionQueue1Vtbl, GetRequests1) / 8 == 6);
DSTORAGE_ASSERT_LAYOUT(offsetof(IDStorageCompressionCodecVtbl, CompressBufferBound) / 8 == 5);

/*
 * The bit fields of DSTORAGE_REQUEST_OPTIONS cannot be checked with offsetof;
 * dstorage_options_layout_ok() checks them at run time (bit 0 of byte 8 is
 * SourceType, bits 1..7 DestinationType). The dll runs it once at load, and
 * the tests run it too.
 */
static inline int dstorage_options_layout_ok(void)
{
    union {
        DSTORAGE_REQUEST_OPTIONS o;
        UINT8 b[16];
    } u;
    memset(&u, 0, sizeof(u));
    u.o.CompressionFormat = 0x81;
    u.o.SourceType = 1;
    u.o.DestinationType = 5;
    u.o.Reserved = 1;
    return u.b[0] == 0x81 && u.b[8] == (1 | (5 << 1)) && u.b[9] == 1 && u.b[15] == 0;
}

#ifdef __cplusplus
}
#endif

#endif /* DSTORAGE_API_H */
