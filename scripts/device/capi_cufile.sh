#!/usr/bin/env bash
# Run ON the device machine (H100) from the repository root, after
# scripts/device/prepare_capi_cufile.sh staged .device-carry/capi here. DS_REQUIRE_CUFILE=1 makes
# a missing CUDA driver a failure instead of a skip. Writes $OUT/capi_cufile.log (cuFile's own
# log lands in $OUT too).
set -uo pipefail
cd "$(dirname "$0")/../.."
out=${OUT:-/tmp/ds-capi-out}
mkdir -p "$out"
export DS_REQUIRE_CUFILE=1
export LD_LIBRARY_PATH=/usr/local/cuda-13.0/targets/x86_64-linux/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
(cd "$out" && "$OLDPWD/.device-carry/capi/capi_cufile" --nocapture) > "$out/capi_cufile.log" 2>&1
status=$?
echo "capi_cufile exit status $status" >> "$out/capi_cufile.log"
tail -n 5 "$out/capi_cufile.log"
exit $status
