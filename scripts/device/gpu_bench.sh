#!/usr/bin/env bash
# Run ON THE DEVICE machine (H100), from the repository root, after prepare_gpu_bench.sh staged
# .device-carry/gpu and .gl here. Unpacks the Vulkan loader, points it at the NVIDIA driver when
# no driver manifest is installed, and runs the GDeflate decode benchmark (our shader, the
# driver's VK_NV_memory_decompression path, the CPU decoder on all cores; outputs checked against
# the CPU) over batches of 512..16384 tiles for the subgroup, shared-memory and 16-bit-table
# shader variants. Logs go to $OUT. (scripts/device/gpu_all.sh runs this and everything else of
# the GPU work in one run.)
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${OUT:-/tmp/gpu_bench_out}
mkdir -p "$out"
for f in .gl/*.deb; do dpkg -x "$f" /; done
ldconfig
if [ -z "${VK_DRIVER_FILES:-}" ] && ! ls /usr/share/vulkan/icd.d/*.json /etc/vulkan/icd.d/*.json >/dev/null 2>&1; then
  export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
fi
bin=.device-carry/gpu/bench_decode
streams=(.device-carry/gpu/streams/*.gdef)
iters=${ITERS:-10}
{ nvidia-smi || true; echo "VK_DRIVER_FILES=${VK_DRIVER_FILES:-}"; nproc; } >"$out/machine.txt" 2>&1
status=0
"$bin" --iters "$iters" "${streams[@]}" 2>&1 | tee "$out/bench_decode.log" || status=1
exit $status
