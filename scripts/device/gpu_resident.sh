#!/usr/bin/env bash
# Run ON the device machine (H100) from the repository root, after
# scripts/device/prepare_gpu_resident.sh staged .device-carry/gpu-resident and .gl here.
# Writes to $OUT:
#   machine.txt        GPU, driver, cores, memory, file system of the data directory, nvidia-fs
#   gpu_resident.log   the benchmark: 1 GiB of GDeflate files -> GPU buffers on every route of the
#                      Vulkan executor (staging, host import, upload heap, GDS) and the
#                      CPU-decode-then-upload path, warm and cold, with the read and PCIe ceilings
#   executor_tests.log the executor test suite on the H100 (DS_REQUIRE_CUFILE=1: the GDS route
#                      must run), with the Vulkan validation layer when it is installed
#   wgpu_tests.log     the wgpu fallback suite on the NVIDIA Vulkan driver
set -uo pipefail
cd "$(dirname "$0")/../.."
carry=.device-carry/gpu-resident
out=${OUT:-/tmp/gpu_resident_out}
mkdir -p "$out"
for f in .gl/*.deb "$carry"/debs/*.deb; do dpkg -x "$f" /; done
ldconfig
if [ -z "${VK_DRIVER_FILES:-}" ] && ! ls /usr/share/vulkan/icd.d/*.json /etc/vulkan/icd.d/*.json >/dev/null 2>&1; then
  export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
fi
export LD_LIBRARY_PATH=/usr/local/cuda-13.0/targets/x86_64-linux/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
data=${DATA_DIR:-$PWD/.device-carry/gpu-resident-data}
mkdir -p "$data"
{
  nvidia-smi 2>&1 | head -15; nproc; free -g
  echo "VK_DRIVER_FILES=${VK_DRIVER_FILES:-}"
  echo "--- data directory"; df -hT "$data"
  echo "--- nvidia-fs module:"; lsmod 2>/dev/null | grep -i nvidia_fs || echo "not loaded (cuFile compatibility mode)"
} > "$out/machine.txt" 2>&1
status=0
(cd "$out" && "$OLDPWD/$carry/gpu_resident" --dir "$data" --total-mib "${TOTAL_MIB:-1024}" --reps "${REPS:-2}") \
  2>&1 | tee "$out/gpu_resident.log" || status=1
# The suites use the validation layer unpacked above; DS_REQUIRE_VULKAN makes a missing device
# a failure, DS_REQUIRE_CUFILE a missing GDS route.
(cd "$out" && DS_REQUIRE_VULKAN=1 DS_REQUIRE_CUFILE=1 "$OLDPWD/$carry/executor" --test-threads=1 --nocapture) \
  > "$out/executor_tests.log" 2>&1 || status=1
DS_REQUIRE_VULKAN=1 "$carry/wgpu_executor" --test-threads=1 --nocapture > "$out/wgpu_tests.log" 2>&1 || status=1
tail -n 3 "$out/executor_tests.log" "$out/wgpu_tests.log"
rm -rf "$data"
exit $status
