/*
 * gpu.c - DSTORAGE_REQUEST_DESTINATION_BUFFER through the D3D12 API.
 *
 * The portable path, which works on any D3D12 implementation Wine or Proton
 * offers (Wine's d3d12 on vkd3d, vkd3d-proton): the queue's device gets a
 * COPY command queue and an upload-heap buffer (the staging ring, the
 * factory's staging size) that stays mapped. A buffer request reserves a
 * range of the ring at enqueue; the runtime reads (and decompresses) the
 * data into that mapped range as into any host destination; when the
 * runtime is done, the unix side hands the copy to this queue's copy
 * thread, which records CopyBufferRegion(resource, offset, ring, range),
 * runs it on the copy queue, waits for its fence, frees the range and
 * reports the requests complete. Ordering commands enqueued after the
 * request wait for that report, so a status entry or fence seen complete
 * means the bytes are in the resource.
 *
 * The zero-copy design with vkd3d-proton (the runtime's Vulkan executor
 * writing the resource's VkBuffer directly) is described in
 * docs/wine_integration_guide.md.
 *
 * Ring: positions grow monotonically; a range never wraps (a request that
 * would cross the end starts at the beginning, the gap counts as used).
 * Ranges are freed in any order; the tail advances over the oldest freed
 * ones. Reservations wait on a condition variable while the ring is full.
 */
#include <initguid.h>
#include "private.h"

WINE_DEFAULT_DEBUG_CHANNEL(dstorage);

/* Ranges start at multiples of this (D3D12 needs no alignment for buffer
 * copies; 256 keeps ranges on cache lines and texture-copy pitch). */
#define RANGE_ALIGN 256u

struct ring_range {
    UINT64 start;     /* first position used (the gap before a wrap included) */
    UINT64 data;      /* position of the data */
    UINT64 end;
    BOOL done;
};

struct dstorage_gpu {
    struct dstorage_queue *queue;
    ID3D12Device *device;
    ID3D12CommandQueue *copy_queue;
    ID3D12CommandAllocator *allocator;
    ID3D12GraphicsCommandList *list;
    ID3D12Fence *fence;
    UINT64 fence_value;
    HANDLE fence_event;
    ID3D12Resource *upload;
    BYTE *mapped;
    UINT64 size;
    HANDLE thread;

    CRITICAL_SECTION lock;
    CONDITION_VARIABLE freed;
    UINT64 head, tail;
    struct ring_range *ranges; /* FIFO: [first, first + count) */
    UINT32 first, count, capacity;
};

/* ---- the ring ------------------------------------------------------------------------ */

static BOOL ranges_push(struct dstorage_gpu *gpu, const struct ring_range *range)
{
    struct ring_range *grown;
    UINT32 capacity;

    if (gpu->first + gpu->count == gpu->capacity) {
        if (gpu->first) {
            memmove(gpu->ranges, gpu->ranges + gpu->first, gpu->count * sizeof(*gpu->ranges));
            gpu->first = 0;
        } else {
            capacity = gpu->capacity ? gpu->capacity * 2 : 64;
            grown = gpu->ranges ? HeapReAlloc(GetProcessHeap(), 0, gpu->ranges, capacity * sizeof(*grown))
                                : HeapAlloc(GetProcessHeap(), 0, capacity * sizeof(*grown));
            if (!grown) return FALSE;
            gpu->ranges = grown;
            gpu->capacity = capacity;
        }
    }
    gpu->ranges[gpu->first + gpu->count++] = *range;
    return TRUE;
}

/* Reserves `size` bytes; returns the offset in the ring through `offset`.
 * S_FALSE: full and !may_block. */
static HRESULT ring_reserve(struct dstorage_gpu *gpu, UINT64 size, BOOL may_block, UINT64 *offset)
{
    struct ring_range range;
    UINT64 need = (size + RANGE_ALIGN - 1) & ~(UINT64)(RANGE_ALIGN - 1);
    UINT64 pos, phys;
    HRESULT hr = S_OK;

    if (!need || need > gpu->size) return E_DSTORAGE_STAGING_BUFFER_TOO_SMALL;
    EnterCriticalSection(&gpu->lock);
    for (;;) {
        pos = gpu->head;
        phys = pos % gpu->size;
        if (phys + need > gpu->size) pos += gpu->size - phys;
        if (pos + need - gpu->tail <= gpu->size) break;
        if (!may_block) {
            hr = S_FALSE;
            break;
        }
        SleepConditionVariableCS(&gpu->freed, &gpu->lock, INFINITE);
    }
    if (hr == S_OK) {
        range.start = gpu->head;
        range.data = pos;
        range.end = pos + need;
        range.done = FALSE;
        if (ranges_push(gpu, &range)) {
            gpu->head = range.end;
            *offset = pos % gpu->size;
        } else
            hr = E_OUTOFMEMORY;
    }
    LeaveCriticalSection(&gpu->lock);
    return hr;
}

static void ring_free(struct dstorage_gpu *gpu, UINT64 offset)
{
    struct ring_range *r;
    UINT32 i;

    EnterCriticalSection(&gpu->lock);
    for (i = 0; i < gpu->count; i++) {
        r = &gpu->ranges[gpu->first + i];
        if (!r->done && r->data % gpu->size == offset) {
            r->done = TRUE;
            break;
        }
    }
    if (i == gpu->count) WINE_ERR("staging offset %#I64x is not reserved\n", offset);
    while (gpu->count && gpu->ranges[gpu->first].done) {
        gpu->tail = gpu->ranges[gpu->first].end;
        gpu->first++;
        gpu->count--;
    }
    if (!gpu->count) {
        gpu->first = 0;
        gpu->tail = gpu->head;
    }
    WakeAllConditionVariable(&gpu->freed);
    LeaveCriticalSection(&gpu->lock);
}

HRESULT dstorage_gpu_prepare(struct dstorage_gpu *gpu, const DSTORAGE_DESTINATION_BUFFER *dst,
                             struct dsw_request *out, BOOL may_block)
{
    D3D12_RESOURCE_DESC desc;
    ID3D12Device *device = NULL;
    UINT64 offset = 0;
    HRESULT hr;

    if (!dst->Resource) return E_INVALIDARG;
    dst->Resource->lpVtbl->GetDesc(dst->Resource, &desc);
    if (desc.Dimension != D3D12_RESOURCE_DIMENSION_BUFFER) return E_DSTORAGE_INVALID_DESTINATION_TYPE;
    if (dst->Offset > desc.Width || dst->Size > desc.Width - dst->Offset) return E_DSTORAGE_INVALID_DESTINATION_SIZE;
    if (SUCCEEDED(ID3D12Resource_GetDevice(dst->Resource, &IID_ID3D12Device, (void **)&device))) {
        ID3D12Device_Release(device);
        if (device != gpu->device) {
            WINE_WARN("resource %p belongs to device %p, the queue's is %p\n", dst->Resource, device, gpu->device);
            return E_INVALIDARG;
        }
    }
    if (!gpu->upload) return E_DSTORAGE_STAGING_BUFFER_TOO_SMALL;
    hr = ring_reserve(gpu, dst->Size, may_block, &offset);
    if (hr != S_OK) return hr;
    out->dest = DSW_DEST_GPU;
    out->dst_ptr = (UINT64)(ULONG_PTR)(gpu->mapped + offset);
    out->staging_offset = offset;
    out->gpu_resource = (UINT64)(ULONG_PTR)dst->Resource;
    out->gpu_offset = dst->Offset;
    return S_OK;
}

/* ---- the copy thread ----------------------------------------------------------------- */

static HRESULT run_copies(struct dstorage_gpu *gpu, const struct dsw_copy *copies, UINT32 count)
{
    ID3D12CommandList *lists[1];
    UINT32 i;
    HRESULT hr;

    if (FAILED(hr = ID3D12CommandAllocator_Reset(gpu->allocator))) return hr;
    if (FAILED(hr = ID3D12GraphicsCommandList_Reset(gpu->list, gpu->allocator, NULL))) return hr;
    for (i = 0; i < count; i++)
        if (!copies[i].discard)
            ID3D12GraphicsCommandList_CopyBufferRegion(gpu->list, (ID3D12Resource *)(ULONG_PTR)copies[i].resource,
                                                       copies[i].dst_offset, gpu->upload,
                                                       copies[i].staging_offset, copies[i].size);
    if (FAILED(hr = ID3D12GraphicsCommandList_Close(gpu->list))) return hr;
    lists[0] = (ID3D12CommandList *)gpu->list;
    ID3D12CommandQueue_ExecuteCommandLists(gpu->copy_queue, 1, lists);
    if (FAILED(hr = ID3D12CommandQueue_Signal(gpu->copy_queue, gpu->fence, ++gpu->fence_value))) return hr;
    if (FAILED(hr = ID3D12Fence_SetEventOnCompletion(gpu->fence, gpu->fence_value, gpu->fence_event))) return hr;
    if (WaitForSingleObject(gpu->fence_event, INFINITE) != WAIT_OBJECT_0) return HRESULT_FROM_WIN32(GetLastError());
    return ID3D12Device_GetDeviceRemovedReason(gpu->device);
}

static DWORD WINAPI copy_thread(void *arg)
{
    struct dstorage_gpu *gpu = arg;
    struct dsw_copy copies[64];
    UINT64 tickets[64];
    struct dsw_wait_copies_params wait;
    struct dsw_copies_done_params done;
    UINT32 i, real;

    for (;;) {
        memset(&wait, 0, sizeof(wait));
        wait.queue = gpu->queue->unix_queue;
        wait.copies = (UINT64)(ULONG_PTR)copies;
        wait.max = ARRAYSIZE(copies);
        if (dstorage_unix_call(DSW_FN_WAIT_COPIES, &wait) || !wait.count) break;
        memset(&done, 0, sizeof(done));
        for (i = real = 0; i < wait.count; i++)
            if (!copies[i].discard) tickets[real++] = copies[i].ticket;
        done.hr = real ? run_copies(gpu, copies, wait.count) : S_OK;
        if (FAILED(done.hr)) WINE_ERR("copy of %u requests to GPU buffers failed: %#x\n", real, done.hr);
        else WINE_TRACE("copied %u requests to GPU buffers\n", real);
        for (i = 0; i < wait.count; i++) ring_free(gpu, copies[i].staging_offset);
        if (!real) continue;
        done.queue = gpu->queue->unix_queue;
        done.tickets = (UINT64)(ULONG_PTR)tickets;
        done.count = real;
        dstorage_unix_call(DSW_FN_COPIES_DONE, &done);
    }
    return 0;
}

/* ---- life cycle ----------------------------------------------------------------------- */

static void release_gpu(struct dstorage_gpu *gpu)
{
    if (gpu->upload) ID3D12Resource_Release(gpu->upload);
    if (gpu->fence) ID3D12Fence_Release(gpu->fence);
    if (gpu->list) ID3D12GraphicsCommandList_Release(gpu->list);
    if (gpu->allocator) ID3D12CommandAllocator_Release(gpu->allocator);
    if (gpu->copy_queue) ID3D12CommandQueue_Release(gpu->copy_queue);
    if (gpu->device) ID3D12Device_Release(gpu->device);
    if (gpu->fence_event) CloseHandle(gpu->fence_event);
    DeleteCriticalSection(&gpu->lock);
    HeapFree(GetProcessHeap(), 0, gpu->ranges);
    HeapFree(GetProcessHeap(), 0, gpu);
}

HRESULT dstorage_gpu_create(struct dstorage_queue *queue, ID3D12Device *device, UINT32 staging_size,
                            struct dstorage_gpu **out)
{
    D3D12_COMMAND_QUEUE_DESC queue_desc;
    D3D12_HEAP_PROPERTIES heap;
    D3D12_RESOURCE_DESC desc;
    D3D12_RANGE no_read = {0, 0};
    struct dstorage_gpu *gpu;
    void *mapped = NULL;
    HRESULT hr;

    *out = NULL;
    gpu = HeapAlloc(GetProcessHeap(), HEAP_ZERO_MEMORY, sizeof(*gpu));
    if (!gpu) return E_OUTOFMEMORY;
    gpu->queue = queue;
    InitializeCriticalSection(&gpu->lock);
    InitializeConditionVariable(&gpu->freed);

    /* An object that is not a D3D12 device (or a stub) fails here. */
    if (FAILED(hr = ID3D12Device_QueryInterface(device, &IID_ID3D12Device, (void **)&gpu->device))) goto fail;
    memset(&queue_desc, 0, sizeof(queue_desc));
    queue_desc.Type = D3D12_COMMAND_LIST_TYPE_COPY;
    if (FAILED(hr = ID3D12Device_CreateCommandQueue(gpu->device, &queue_desc, &IID_ID3D12CommandQueue,
                                                    (void **)&gpu->copy_queue)))
        goto fail;
    if (FAILED(hr = ID3D12Device_CreateCommandAllocator(gpu->device, D3D12_COMMAND_LIST_TYPE_COPY,
                                                        &IID_ID3D12CommandAllocator, (void **)&gpu->allocator)))
        goto fail;
    if (FAILED(hr = ID3D12Device_CreateCommandList(gpu->device, 0, D3D12_COMMAND_LIST_TYPE_COPY, gpu->allocator,
                                                   NULL, &IID_ID3D12GraphicsCommandList, (void **)&gpu->list)))
        goto fail;
    if (FAILED(hr = ID3D12GraphicsCommandList_Close(gpu->list))) goto fail;
    if (FAILED(hr = ID3D12Device_CreateFence(gpu->device, 0, D3D12_FENCE_FLAG_NONE, &IID_ID3D12Fence,
                                             (void **)&gpu->fence)))
        goto fail;
    if (!(gpu->fence_event = CreateEventW(NULL, FALSE, FALSE, NULL))) {
        hr = HRESULT_FROM_WIN32(GetLastError());
        goto fail;
    }
    if (staging_size) {
        memset(&heap, 0, sizeof(heap));
        heap.Type = D3D12_HEAP_TYPE_UPLOAD;
        memset(&desc, 0, sizeof(desc));
        desc.Dimension = D3D12_RESOURCE_DIMENSION_BUFFER;
        desc.Width = staging_size;
        desc.Height = 1;
        desc.DepthOrArraySize = 1;
        desc.MipLevels = 1;
        desc.SampleDesc.Count = 1;
        desc.Layout = D3D12_TEXTURE_LAYOUT_ROW_MAJOR;
        if (FAILED(hr = ID3D12Device_CreateCommittedResource(gpu->device, &heap, D3D12_HEAP_FLAG_NONE, &desc,
                                                             D3D12_RESOURCE_STATE_GENERIC_READ, NULL,
                                                             &IID_ID3D12Resource, (void **)&gpu->upload)))
            goto fail;
        if (FAILED(hr = ID3D12Resource_Map(gpu->upload, 0, &no_read, &mapped))) goto fail;
        gpu->mapped = mapped;
        gpu->size = staging_size;
    }
    if (!(gpu->thread = CreateThread(NULL, 0, copy_thread, gpu, 0, NULL))) {
        hr = HRESULT_FROM_WIN32(GetLastError());
        goto fail;
    }
    WINE_TRACE("queue %p: copy queue %p, %u bytes of upload staging\n", queue, gpu->copy_queue, staging_size);
    *out = gpu;
    return S_OK;

fail:
    release_gpu(gpu);
    return hr;
}

void dstorage_gpu_destroy(struct dstorage_gpu *gpu)
{
    /* The unix side closed the queue: the thread's next wait returns 0. */
    WaitForSingleObject(gpu->thread, INFINITE);
    CloseHandle(gpu->thread);
    release_gpu(gpu);
}
