#!/usr/bin/env bash
# Run ON THE DEVICE machine (H100), from the repository root, after prepare_dsr.sh staged
# .device-carry/dsr and .gl here. Unpacks the Vulkan loader, points it at the NVIDIA driver when
# no driver manifest is installed, then runs `dsr demo` (GPU stage required) and every `dsr bench`
# suite at sizes that mean something on a real GPU and 16 cores. Logs go to $OUT.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${OUT:-/tmp/dsr_bench_out}
mkdir -p "$out"
for f in .gl/*.deb; do dpkg -x "$f" /; done
ldconfig
if [ -z "${VK_DRIVER_FILES:-}" ] && ! ls /usr/share/vulkan/icd.d/*.json /etc/vulkan/icd.d/*.json >/dev/null 2>&1; then
  export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
fi
dsr=.device-carry/dsr/dsr
{ nvidia-smi || true; echo "VK_DRIVER_FILES=${VK_DRIVER_FILES:-}"; nproc; uptime; } >"$out/machine.txt" 2>&1
status=0
"$dsr" demo --require-gpu --size 256 --gpu-size 64 2>&1 | tee "$out/demo.log" || status=1
"$dsr" bench --size 32 --gpu-size 32 --io-size 2048 --e2e-size 256 --reps 5 2>&1 | tee "$out/bench.log" || status=1
exit $status
