/*
 * t_loader.c - the builtin is the dstorage.dll that loads, and the API
 * surface around objects: factory interfaces, configuration rules (locked
 * while queues or files exist), queue creation arguments, Query,
 * GetCompressionSupport, GetFileInformation and IUnknown rules.
 *
 * Run first in a fresh prefix: DStorageSetConfiguration must succeed before
 * any queue or file exists, which only a new process guarantees.
 */
#include "tutil.h"

static void check_configuration_before_objects(void)
{
    DSTORAGE_CONFIGURATION config;
    DSTORAGE_CONFIGURATION1 config1;

    memset(&config, 0, sizeof(config));
    memset(&config1, 0, sizeof(config1));
    CHECK_HR(pDStorageSetConfiguration(NULL), E_INVALIDARG);
    CHECK_HR(pDStorageSetConfiguration(&config), S_OK);
    config1.ForceFileBuffering = TRUE;
    CHECK_HR(pDStorageSetConfiguration1(&config1), E_DSTORAGE_FILEBUFFERING_REQUIRES_DISABLED_BYPASSIO);
    config1.DisableBypassIO = TRUE;
    CHECK_HR(pDStorageSetConfiguration1(&config1), S_OK);
    config1.NumBuiltInCpuDecompressionThreads = -2;
    CHECK_HR(pDStorageSetConfiguration1(&config1), E_INVALIDARG);
    config1.NumBuiltInCpuDecompressionThreads = 2;
    config1.NumSubmitThreads = 2;
    CHECK_HR(pDStorageSetConfiguration1(&config1), S_OK);
}

static void check_factory(IDStorageFactory *factory)
{
    IDStorageCustomDecompressionQueue1 *custom = NULL;
    IUnknown *unk = NULL;
    void *p = (void *)1;

    CHECK_HR(factory->lpVtbl->QueryInterface(factory, &IID_IUnknown, (void **)&unk), S_OK);
    CHECK(unk == (IUnknown *)factory, "IUnknown of the factory is another pointer");
    if (unk) unk->lpVtbl->Release(unk);
    CHECK_HR(factory->lpVtbl->QueryInterface(factory, &IID_IDStorageQueue, &p), E_NOINTERFACE);
    CHECK(p == NULL, "failed QueryInterface left %p", p);
    CHECK_HR(factory->lpVtbl->QueryInterface(factory, &IID_IDStorageCustomDecompressionQueue1, (void **)&custom), S_OK);
    if (custom) {
        CHECK(custom->lpVtbl->GetEvent(custom) != NULL, "custom decompression queue has no event");
        custom->lpVtbl->Release(custom);
    }
    CHECK_HR(pDStorageGetFactory(&IID_IDStorageQueue, &p), E_NOINTERFACE);
}

static void check_queue_arguments(IDStorageFactory *factory)
{
    DSTORAGE_QUEUE_DESC desc;
    void *q = (void *)1;

    memset(&desc, 0, sizeof(desc));
    desc.SourceType = DSTORAGE_REQUEST_SOURCE_FILE;
    desc.Capacity = DSTORAGE_MIN_QUEUE_CAPACITY - 1;
    CHECK_HR(factory->lpVtbl->CreateQueue(factory, &desc, &IID_IDStorageQueue, &q), E_DSTORAGE_INVALID_QUEUE_CAPACITY);
    CHECK(q == NULL, "failed CreateQueue left %p", q);
    desc.Capacity = DSTORAGE_MAX_QUEUE_CAPACITY + 1;
    CHECK_HR(factory->lpVtbl->CreateQueue(factory, &desc, &IID_IDStorageQueue, &q), E_DSTORAGE_INVALID_QUEUE_CAPACITY);
    desc.Capacity = DSTORAGE_MIN_QUEUE_CAPACITY;
    desc.Priority = 3;
    CHECK_HR(factory->lpVtbl->CreateQueue(factory, &desc, &IID_IDStorageQueue, &q), E_DSTORAGE_INVALID_QUEUE_PRIORITY);
    desc.Priority = -2;
    CHECK_HR(factory->lpVtbl->CreateQueue(factory, &desc, &IID_IDStorageQueue, &q), E_DSTORAGE_INVALID_QUEUE_PRIORITY);
    desc.Priority = DSTORAGE_PRIORITY_NORMAL;
    desc.SourceType = 2;
    CHECK_HR(factory->lpVtbl->CreateQueue(factory, &desc, &IID_IDStorageQueue, &q), E_DSTORAGE_INVALID_SOURCE_TYPE);
    desc.SourceType = DSTORAGE_REQUEST_SOURCE_MEMORY;
    CHECK_HR(factory->lpVtbl->CreateQueue(factory, &desc, &IID_IDStorageFile, &q), E_NOINTERFACE);
    CHECK_HR(factory->lpVtbl->CreateQueue(factory, NULL, &IID_IDStorageQueue, &q), E_INVALIDARG);
    CHECK_HR(factory->lpVtbl->CreateStatusArray(factory, 0, NULL, &IID_IDStorageStatusArray, &q), E_INVALIDARG);
}

static void check_queue_interfaces(IDStorageFactory *factory)
{
    static const IID *const iids[] = {&IID_IDStorageQueue, &IID_IDStorageQueue1, &IID_IDStorageQueue2,
                                      &IID_IDStorageQueue3, &IID_IUnknown};
    DSTORAGE_QUEUE_INFO info;
    IDStorageQueue3 *queue = tu_queue(factory, DSTORAGE_REQUEST_SOURCE_FILE, 300, "interfaces", NULL);
    void *p;
    UINT32 i;

    for (i = 0; i < ARRAYSIZE(iids); i++) {
        p = NULL;
        CHECK_HR(queue->lpVtbl->QueryInterface(queue, iids[i], &p), S_OK);
        CHECK(p == queue, "queue interface %u is another pointer", i);
        if (p) queue->lpVtbl->Release(queue);
    }
    CHECK_HR(queue->lpVtbl->QueryInterface(queue, &IID_IDStorageFactory, &p), E_NOINTERFACE);

    memset(&info, 0xcc, sizeof(info));
    queue->lpVtbl->Query(queue, &info);
    CHECK(info.Desc.Capacity == 300, "Query: capacity %u", info.Desc.Capacity);
    CHECK(info.Desc.SourceType == DSTORAGE_REQUEST_SOURCE_FILE, "Query: source type");
    CHECK(info.Desc.Name && !strcmp(info.Desc.Name, "interfaces"), "Query: name");
    CHECK(info.Desc.Device == NULL, "Query: device");
    CHECK(info.EmptySlotCount == 299, "Query: %u empty slots of an idle queue of 300, expected 299",
          info.EmptySlotCount);
    CHECK(info.RequestCountUntilAutoSubmit > 0 && info.RequestCountUntilAutoSubmit <= 150,
          "Query: %u requests until auto-submit, expected half the capacity or less",
          info.RequestCountUntilAutoSubmit);

    CHECK(queue->lpVtbl->GetCompressionSupport(queue, DSTORAGE_COMPRESSION_FORMAT_GDEFLATE) ==
              DSTORAGE_COMPRESSION_SUPPORT_CPU_FALLBACK,
          "GDeflate on a queue without device: %#x", queue->lpVtbl->GetCompressionSupport(queue, 1));
    CHECK(queue->lpVtbl->GetCompressionSupport(queue, DSTORAGE_COMPRESSION_FORMAT_NONE) ==
              DSTORAGE_COMPRESSION_SUPPORT_NONE,
          "uncompressed support flags");
    CHECK(queue->lpVtbl->GetCompressionSupport(queue, DSTORAGE_CUSTOM_COMPRESSION_0) ==
              DSTORAGE_COMPRESSION_SUPPORT_NONE,
          "custom format support flags");
    CHECK(queue->lpVtbl->GetErrorEvent(queue) != NULL, "no error event");
    CHECK(WaitForSingleObject(queue->lpVtbl->GetErrorEvent(queue), 0) == WAIT_TIMEOUT,
          "error event set on a new queue");

    /* Configuration and staging size are locked while a queue exists. */
    CHECK_HR(factory->lpVtbl->SetStagingBufferSize(factory, 1 << 20), E_DSTORAGE_STAGING_BUFFER_LOCKED);
    {
        DSTORAGE_CONFIGURATION config;
        memset(&config, 0, sizeof(config));
        CHECK_HR(pDStorageSetConfiguration(&config), E_DSTORAGE_STAGING_BUFFER_LOCKED);
    }
    queue->lpVtbl->Close(queue);
    queue->lpVtbl->Close(queue);
    CHECK(queue->lpVtbl->Release(queue) == 0, "queue refcount");
    /* Unlocked again. */
    CHECK_HR(factory->lpVtbl->SetStagingBufferSize(factory, DSTORAGE_STAGING_BUFFER_SIZE_32MB), S_OK);
}

static void check_files(IDStorageFactory *factory)
{
    BY_HANDLE_FILE_INFORMATION info;
    WCHAR path[MAX_PATH];
    IDStorageFile *file;
    void *p = (void *)1;
    BYTE data[5000];

    tu_fill(data, sizeof(data), 1);
    tu_path(path, L"info.bin");
    tu_write_file(path, data, sizeof(data));
    file = tu_open(factory, path);
    CHECK_HR(file->lpVtbl->GetFileInformation(file, &info), S_OK);
    CHECK(info.nFileSizeLow == sizeof(data) && info.nFileSizeHigh == 0, "file size %lu", info.nFileSizeLow);
    CHECK_HR(file->lpVtbl->GetFileInformation(file, NULL), E_POINTER);
    CHECK_HR(factory->lpVtbl->SetStagingBufferSize(factory, 1 << 20), E_DSTORAGE_STAGING_BUFFER_LOCKED);
    file->lpVtbl->Close(file);
    CHECK_HR(file->lpVtbl->GetFileInformation(file, &info), E_DSTORAGE_FILE_NOT_OPEN);
    CHECK(file->lpVtbl->Release(file) == 0, "file refcount");

    tu_path(path, L"does-not-exist.bin");
    CHECK_HR(factory->lpVtbl->OpenFile(factory, path, &IID_IDStorageFile, &p), HRESULT_FROM_WIN32(ERROR_FILE_NOT_FOUND));
    CHECK(p == NULL, "failed OpenFile left %p", p);
    CHECK_HR(factory->lpVtbl->OpenFile(factory, L"Q:\\no\\such\\dir\\x.bin", &IID_IDStorageFile, &p),
             HRESULT_FROM_WIN32(ERROR_PATH_NOT_FOUND));
    tu_path(path, L"info.bin");
    CHECK_HR(factory->lpVtbl->OpenFile(factory, path, &IID_IDStorageQueue, &p), E_NOINTERFACE);
}

static void check_status_array(IDStorageFactory *factory)
{
    IDStorageStatusArray *array = tu_status_array(factory, 3);

    CHECK_HR(array->lpVtbl->GetHResult(array, 0), S_OK);
    CHECK(array->lpVtbl->IsComplete(array, 2), "idle entry not complete");
    CHECK_HR(array->lpVtbl->GetHResult(array, 3), E_DSTORAGE_INDEX_BOUND);
    CHECK(array->lpVtbl->Release(array) == 0, "status array refcount");
}

int main(void)
{
    IDStorageFactory *factory;
    char info[8];

    tu_load("t_loader");
    CHECK_HR(pwine_dstorage_runtime_info(info, sizeof(info)), E_NOT_SUFFICIENT_BUFFER);
    CHECK_HR(pwine_dstorage_runtime_info(NULL, 0), E_INVALIDARG);
    check_configuration_before_objects();
    factory = tu_factory();
    check_factory(factory);
    check_queue_arguments(factory);
    check_queue_interfaces(factory);
    check_files(factory);
    check_status_array(factory);
    factory->lpVtbl->Release(factory);
    return tu_done();
}
