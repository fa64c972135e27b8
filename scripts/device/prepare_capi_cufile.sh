#!/usr/bin/env bash
# Run HERE (not on the device): builds, in release mode, the C ABI's GPUDirect Storage test
# (capi/tests/cufile.rs: ds_make_cufile_backend, a CUDA allocation registered with
# ds_queue_register_gpu_buffer, an uncompressed and a GDeflate read into it, copied back and
# compared) and stages it, stripped, in .device-carry/capi/ (git-ignored) for
# scripts/device/capi_cufile.sh. Carry: .device-carry/capi (a few MiB).
set -euo pipefail
cd "$(dirname "$0")/../.."
carry=.device-carry/capi
mkdir -p "$carry"
test_bin=$(cargo test --release -p ds-capi --test cufile --no-run --message-format=json 2>/dev/null \
  | sed -n 's/.*"executable":"\([^"]*cufile[^"]*\)".*/\1/p' | tail -1)
cp "$test_bin" "$carry/capi_cufile"
strip "$carry/capi_cufile"
du -sh "$carry"
