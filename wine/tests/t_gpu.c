/*
 * t_gpu.c - DSTORAGE_REQUEST_DESTINATION_BUFFER on a real D3D12 device
 * (Wine's d3d12 on vkd3d; in CI on Mesa's lavapipe under Xvfb): uncompressed,
 * GDeflate and custom-format requests into a default-heap buffer, through a
 * staging ring smaller than the data (so reservations wait for copies),
 * completion seen through a real ID3D12Fence (EnqueueSignal) and a status
 * entry, EnqueueRequests held by a real fence; the buffer is read back with
 * a copy and compared byte for byte. Also: a range past the resource's end
 * and a texture resource are refused with their HRESULTs.
 *
 * Exits 77 ("skipped") when no D3D12 device can be created (no display or
 * no Vulkan driver); tests/run.sh turns that into a failure under
 * DS_REQUIRE_ALL=1.
 */
#include "tutil.h"

#define BUFFER_BYTES (4u << 20)
#define STAGING_BYTES (1u << 20)
#define FORMAT_XOR 0x81

static ID3D12Device *device;
static IDStorageCustomDecompressionQueue1 *custom;
static volatile LONG stop, upload_heap_flags;

static ID3D12Resource *make_buffer(D3D12_HEAP_TYPE type, UINT64 size, D3D12_RESOURCE_STATES state)
{
    D3D12_HEAP_PROPERTIES heap;
    D3D12_RESOURCE_DESC desc;
    ID3D12Resource *resource = NULL;
    HRESULT hr;

    memset(&heap, 0, sizeof(heap));
    heap.Type = type;
    memset(&desc, 0, sizeof(desc));
    desc.Dimension = D3D12_RESOURCE_DIMENSION_BUFFER;
    desc.Width = size;
    desc.Height = 1;
    desc.DepthOrArraySize = 1;
    desc.MipLevels = 1;
    desc.SampleDesc.Count = 1;
    desc.Layout = D3D12_TEXTURE_LAYOUT_ROW_MAJOR;
    hr = ID3D12Device_CreateCommittedResource(device, &heap, D3D12_HEAP_FLAG_NONE, &desc, state, NULL,
                                              &IID_ID3D12Resource, (void **)&resource);
    REQUIRE(hr == S_OK, "CreateCommittedResource failed with %#lx", (unsigned long)hr);
    return resource;
}

static ID3D12Resource *make_texture(void)
{
    D3D12_HEAP_PROPERTIES heap;
    D3D12_RESOURCE_DESC desc;
    ID3D12Resource *resource = NULL;

    memset(&heap, 0, sizeof(heap));
    heap.Type = D3D12_HEAP_TYPE_DEFAULT;
    memset(&desc, 0, sizeof(desc));
    desc.Dimension = D3D12_RESOURCE_DIMENSION_TEXTURE2D;
    desc.Width = 64;
    desc.Height = 64;
    desc.DepthOrArraySize = 1;
    desc.MipLevels = 1;
    desc.Format = DXGI_FORMAT_R8G8B8A8_UNORM;
    desc.SampleDesc.Count = 1;
    REQUIRE(ID3D12Device_CreateCommittedResource(device, &heap, D3D12_HEAP_FLAG_NONE, &desc, D3D12_RESOURCE_STATE_COMMON,
                                                 NULL, &IID_ID3D12Resource, (void **)&resource) == S_OK,
            "cannot create a texture");
    return resource;
}

static void wait_fence(ID3D12Fence *fence, UINT64 value)
{
    HANDLE event = CreateEventW(NULL, FALSE, FALSE, NULL);

    ID3D12Fence_SetEventOnCompletion(fence, value, event);
    REQUIRE(WaitForSingleObject(event, TU_TIMEOUT_MS) == WAIT_OBJECT_0, "fence did not reach %llu (at %llu)",
            (unsigned long long)value, (unsigned long long)ID3D12Fence_GetCompletedValue(fence));
    CloseHandle(event);
}

/* Copies the buffer into a readback buffer and returns its mapped bytes. */
static const BYTE *read_back(ID3D12Resource *buffer, ID3D12Resource *readback)
{
    D3D12_COMMAND_QUEUE_DESC qd;
    ID3D12CommandQueue *queue;
    ID3D12CommandAllocator *allocator;
    ID3D12GraphicsCommandList *list;
    ID3D12Fence *fence;
    D3D12_RANGE all = {0, BUFFER_BYTES};
    void *mapped = NULL;

    memset(&qd, 0, sizeof(qd));
    qd.Type = D3D12_COMMAND_LIST_TYPE_DIRECT;
    REQUIRE(ID3D12Device_CreateCommandQueue(device, &qd, &IID_ID3D12CommandQueue, (void **)&queue) == S_OK, "queue");
    REQUIRE(ID3D12Device_CreateCommandAllocator(device, D3D12_COMMAND_LIST_TYPE_DIRECT, &IID_ID3D12CommandAllocator,
                                                (void **)&allocator) == S_OK,
            "allocator");
    REQUIRE(ID3D12Device_CreateCommandList(device, 0, D3D12_COMMAND_LIST_TYPE_DIRECT, allocator, NULL,
                                           &IID_ID3D12GraphicsCommandList, (void **)&list) == S_OK,
            "command list");
    REQUIRE(ID3D12Device_CreateFence(device, 0, D3D12_FENCE_FLAG_NONE, &IID_ID3D12Fence, (void **)&fence) == S_OK,
            "fence");
    ID3D12GraphicsCommandList_CopyBufferRegion(list, readback, 0, buffer, 0, BUFFER_BYTES);
    ID3D12GraphicsCommandList_Close(list);
    ID3D12CommandQueue_ExecuteCommandLists(queue, 1, (ID3D12CommandList **)&list);
    ID3D12CommandQueue_Signal(queue, fence, 1);
    wait_fence(fence, 1);
    REQUIRE(ID3D12Resource_Map(readback, 0, &all, &mapped) == S_OK, "Map of the readback buffer failed");
    ID3D12Fence_Release(fence);
    ID3D12GraphicsCommandList_Release(list);
    ID3D12CommandAllocator_Release(allocator);
    ID3D12CommandQueue_Release(queue);
    return mapped;
}

static DWORD WINAPI xor_decompressor(void *arg)
{
    DSTORAGE_CUSTOM_DECOMPRESSION_REQUEST r[8];
    DSTORAGE_CUSTOM_DECOMPRESSION_RESULT res[8];
    UINT32 n, i;
    UINT64 k;

    (void)arg;
    while (!stop) {
        WaitForSingleObject(custom->lpVtbl->GetEvent(custom), 20);
        n = 0;
        custom->lpVtbl->GetRequests1(custom, DSTORAGE_GET_REQUEST_FLAG_SELECT_CUSTOM, 8, r, &n);
        for (i = 0; i < n; i++) {
            InterlockedOr(&upload_heap_flags, (LONG)r[i].Flags);
            for (k = 0; k < r[i].SrcSize; k++) ((BYTE *)r[i].DstBuffer)[k] = ((const BYTE *)r[i].SrcBuffer)[k] ^ 0x5A;
            res[i].Id = r[i].Id;
            res[i].Result = r[i].SrcSize == r[i].DstSize ? S_OK : E_FAIL;
        }
        if (n) custom->lpVtbl->SetRequestResults(custom, n, res);
    }
    return 0;
}

int main(void)
{
    enum { N = 240 };
    IDStorageFactory *factory;
    IDStorageQueue3 *queue;
    IDStorageStatusArray *status;
    IDStorageFile *file;
    ID3D12Resource *buffer, *readback, *texture;
    ID3D12Fence *fence, *gate;
    DSTORAGE_REQUEST r, held[20];
    WCHAR path[MAX_PATH];
    BYTE *data, *pack, *stream;
    const BYTE *mapped;
    UINT64 offsets[N], s = 8;
    UINT32 sizes[N], packed_sizes[N], i, wrong = 0;
    BYTE formats[N];
    size_t pos = 0, packed = 0, n;
    HANDLE thread;
    HRESULT hr;

    tu_load("t_gpu");
    hr = D3D12CreateDevice(NULL, D3D_FEATURE_LEVEL_11_0, &IID_ID3D12Device, (void **)&device);
    if (FAILED(hr)) {
        printf("t_gpu: skipped: no D3D12 device (D3D12CreateDevice %#lx; needs a display and a Vulkan driver)\n",
               (unsigned long)hr);
        return TU_SKIP;
    }
    factory = tu_factory();
    /* Smaller than the data, so the ring wraps and reservations wait. */
    CHECK_HR(factory->lpVtbl->SetStagingBufferSize(factory, STAGING_BYTES), S_OK);
    REQUIRE(factory->lpVtbl->QueryInterface(factory, &IID_IDStorageCustomDecompressionQueue1, (void **)&custom) == S_OK,
            "no custom queue");

    /* The source file: uncompressed, GDeflate and xor chunks. */
    data = tu_alloc(BUFFER_BYTES);
    tu_fill(data, BUFFER_BYTES, 21);
    pack = tu_alloc(2 * BUFFER_BYTES);
    for (i = 0; i < N; i++) {
        sizes[i] = 1 + (UINT32)(tu_rand(&s) % 30000);
        if (pos + sizes[i] > BUFFER_BYTES) sizes[i] = (UINT32)(BUFFER_BYTES - pos);
        formats[i] = i % 3 == 0 ? 0 : i % 3 == 1 ? DSTORAGE_COMPRESSION_FORMAT_GDEFLATE : FORMAT_XOR;
        offsets[i] = pos;
        if (formats[i] == DSTORAGE_COMPRESSION_FORMAT_GDEFLATE) {
            stream = tu_gdeflate(data + pos, sizes[i], DSTORAGE_COMPRESSION_FASTEST, &n);
            memcpy(pack + packed, stream, n);
            tu_free(stream);
        } else {
            for (n = 0; n < sizes[i]; n++) pack[packed + n] = data[pos + n] ^ (formats[i] ? 0x5A : 0);
        }
        packed_sizes[i] = (UINT32)n;
        packed += n;
        pos += sizes[i];
    }
    tu_path(path, L"gpu.pak");
    tu_write_file(path, pack, packed);
    file = tu_open(factory, path);

    buffer = make_buffer(D3D12_HEAP_TYPE_DEFAULT, BUFFER_BYTES, D3D12_RESOURCE_STATE_COMMON);
    readback = make_buffer(D3D12_HEAP_TYPE_READBACK, BUFFER_BYTES, D3D12_RESOURCE_STATE_COPY_DEST);
    texture = make_texture();
    REQUIRE(ID3D12Device_CreateFence(device, 0, D3D12_FENCE_FLAG_NONE, &IID_ID3D12Fence, (void **)&fence) == S_OK,
            "fence");
    REQUIRE(ID3D12Device_CreateFence(device, 0, D3D12_FENCE_FLAG_NONE, &IID_ID3D12Fence, (void **)&gate) == S_OK,
            "fence");
    queue = tu_queue(factory, DSTORAGE_REQUEST_SOURCE_FILE, 256, "gpu", device);
    status = tu_status_array(factory, 4);
    CHECK(queue->lpVtbl->GetCompressionSupport(queue, DSTORAGE_COMPRESSION_FORMAT_GDEFLATE) ==
              (DSTORAGE_COMPRESSION_SUPPORT_CPU_FALLBACK | DSTORAGE_COMPRESSION_SUPPORT_USES_COPY_QUEUE),
          "GDeflate support on a device queue: %#x", queue->lpVtbl->GetCompressionSupport(queue, 1));
    thread = CreateThread(NULL, 0, xor_decompressor, NULL, 0, NULL);
    REQUIRE(thread, "CreateThread failed");

    /* The first 20 wait for `gate`; the rest go at once. */
    for (packed = 0, i = 0; i < N; packed += packed_sizes[i], i++) {
        r = tu_file_request(file, packed, packed_sizes[i], NULL, sizes[i], formats[i], formats[i] ? sizes[i] : 0);
        r.Options.DestinationType = DSTORAGE_REQUEST_DESTINATION_BUFFER;
        r.Destination.Buffer.Resource = buffer;
        r.Destination.Buffer.Offset = offsets[i];
        r.Destination.Buffer.Size = sizes[i];
        if (i < 20)
            held[i] = r;
        else
            queue->lpVtbl->EnqueueRequest(queue, &r);
        if (i == 19) queue->lpVtbl->EnqueueRequests(queue, held, 20, gate, 1, DSTORAGE_ENQUEUE_REQUEST_FLAG_NONE);
    }
    queue->lpVtbl->EnqueueStatus(queue, status, 0);
    queue->lpVtbl->EnqueueSignal(queue, fence, 1);
    queue->lpVtbl->Submit(queue);
    Sleep(200);
    CHECK_HR(status->lpVtbl->GetHResult(status, 0), E_PENDING);
    CHECK(ID3D12Fence_GetCompletedValue(fence) == 0, "fence signalled before the held requests ran");
    ID3D12Fence_Signal(gate, 1);
    wait_fence(fence, 1);
    CHECK_HR(status->lpVtbl->GetHResult(status, 0), S_OK);
    CHECK(upload_heap_flags & DSTORAGE_CUSTOM_DECOMPRESSION_FLAG_DEST_IN_UPLOAD_HEAP,
          "custom requests for a buffer were not flagged DEST_IN_UPLOAD_HEAP");

    mapped = read_back(buffer, readback);
    for (i = 0; i < N; i++)
        if (memcmp(mapped + offsets[i], data + offsets[i], sizes[i]) ||
            tu_fnv(mapped + offsets[i], sizes[i]) != tu_fnv(data + offsets[i], sizes[i]))
            if (wrong++ < 5) tu_fail(__FILE__, __LINE__, "buffer range %u (format %u, %u bytes) wrong", i, formats[i],
                                     sizes[i]);
    CHECK(!wrong, "%u of %u buffer requests wrong", wrong, N);
    ID3D12Resource_Unmap(readback, 0, NULL);

    /* Refusals: past the end of the resource, a texture, too large for staging. */
    r = tu_file_request(file, 0, 100, NULL, 100, 0, 0);
    r.Options.DestinationType = DSTORAGE_REQUEST_DESTINATION_BUFFER;
    r.Destination.Buffer.Resource = buffer;
    r.Destination.Buffer.Offset = BUFFER_BYTES - 50;
    r.Destination.Buffer.Size = 100;
    queue->lpVtbl->EnqueueRequest(queue, &r);
    queue->lpVtbl->EnqueueStatus(queue, status, 1);
    r.Destination.Buffer.Resource = texture;
    r.Destination.Buffer.Offset = 0;
    queue->lpVtbl->EnqueueRequest(queue, &r);
    queue->lpVtbl->EnqueueStatus(queue, status, 2);
    r = tu_file_request(file, 0, STAGING_BYTES + 1, NULL, STAGING_BYTES + 1, 0, 0);
    r.Options.DestinationType = DSTORAGE_REQUEST_DESTINATION_BUFFER;
    r.Destination.Buffer.Resource = buffer;
    r.Destination.Buffer.Size = STAGING_BYTES + 1;
    queue->lpVtbl->EnqueueRequest(queue, &r);
    queue->lpVtbl->EnqueueStatus(queue, status, 3);
    tu_drain(queue);
    CHECK_HR(status->lpVtbl->GetHResult(status, 1), E_DSTORAGE_INVALID_DESTINATION_SIZE);
    CHECK_HR(status->lpVtbl->GetHResult(status, 2), E_DSTORAGE_INVALID_DESTINATION_TYPE);
    CHECK_HR(status->lpVtbl->GetHResult(status, 3), E_DSTORAGE_STAGING_BUFFER_TOO_SMALL);

    InterlockedExchange(&stop, 1);
    WaitForSingleObject(thread, TU_TIMEOUT_MS);
    CloseHandle(thread);
    queue->lpVtbl->Release(queue);
    status->lpVtbl->Release(status);
    file->lpVtbl->Release(file);
    ID3D12Fence_Release(fence);
    ID3D12Fence_Release(gate);
    ID3D12Resource_Release(texture);
    ID3D12Resource_Release(readback);
    ID3D12Resource_Release(buffer);
    custom->lpVtbl->Release(custom);
    factory->lpVtbl->Release(factory);
    ID3D12Device_Release(device);
    tu_free(pack);
    tu_free(data);
    return tu_done();
}
