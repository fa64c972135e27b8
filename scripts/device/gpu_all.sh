#!/usr/bin/env bash
# Run ON the device machine (H100) from the repository root, after
# scripts/device/prepare_gpu_all.sh staged .device-carry/gpu-all and .gl here. One run, about
# 5 minutes (each step has a time limit; all of it stays under 9.5 minutes). Writes to $OUT:
#   machine.txt          GPU, driver, cores, memory, file system, cuFile config, nvidia-fs
#   bench_decode.log     GDeflate decode GB/s per batch size (512..16384 tiles) for the shader
#                        variants and the driver's VK_NV_memory_decompression, against the CPU on
#                        all cores; every output checked against the CPU; pipeline statistics
#   gds_fallback.log     the executor's GDS test before the step below: where cuFile refuses
#                        files it must still load them (through host memory), not fail
#   udev.txt             the udev database entry made for the data disk (cuFile in compatibility
#                        mode reads ID_FS_USAGE/ID_FS_TYPE through libudev; this VM runs no udev)
#   executor_tests.log   the executor suite, DS_REQUIRE_VULKAN=1 DS_REQUIRE_CUFILE=1 (GDS must
#                        really read with cuFileRead)
#   wgpu_tests.log       the wgpu suite on the NVIDIA Vulkan driver
#   vectors_tests.log    decode_vectors + vulkan suites on the H100 (committed and generated
#                        streams, both shader variants and table formats, the driver path with
#                        DS_REQUIRE_NV_DECOMPRESSION=1)
#   gpu_resident.log     1 GiB of GDeflate files -> GPU buffers: every route x {shader, driver},
#                        warm and cold, with the read and PCIe ceilings
#   gpu_resident_sweep.log  staging and host-import with batch overlap on/off and 32/64/128 MiB
#                        slots (warm only)
#   cufile*.log          libcufile's own logs of the steps that used it
set -uo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD
carry=$repo/.device-carry/gpu-all
out=${OUT:-/tmp/gpu_all_out}
mkdir -p "$out"
start=$(date +%s)
# Seconds a step may take: at most $1, and never past 560 s after the start.
budget() {
  local left=$((560 - ($(date +%s) - start)))
  [ "$left" -lt "$1" ] && echo $((left > 5 ? left : 5)) || echo "$1"
}
status=0
step() { # name, command...: runs it, records its exit status and time
  local name=$1 t0=$SECONDS
  shift
  "$@"
  local rc=$?
  echo "$name: exit $rc after $((SECONDS - t0)) s" | tee -a "$out/steps.txt"
  [ "$rc" -eq 0 ] || status=1
}

for f in .gl/*.deb "$carry"/debs/*.deb; do dpkg -x "$f" /; done
for f in "$carry"/*.gz; do [ -e "$f" ] && gunzip -f "$f"; done
ldconfig
if [ -z "${VK_DRIVER_FILES:-}" ] && ! ls /usr/share/vulkan/icd.d/*.json /etc/vulkan/icd.d/*.json >/dev/null 2>&1; then
  export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
fi
export LD_LIBRARY_PATH=/usr/local/cuda-13.0/targets/x86_64-linux/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export DS_GPU_TEST_DATA=$repo/gpu/tests/data
# Test files and the benchmark's data set on the repository's disk (not a tmpfs).
export TMPDIR=$repo/.device-carry/tmp
data=$repo/.device-carry/gpu-resident-data
mkdir -p "$TMPDIR" "$data"
{
  nvidia-smi 2>&1 | head -15; nproc; free -g
  echo "VK_DRIVER_FILES=${VK_DRIVER_FILES:-}"
  echo "--- data directory"; df -hT "$data"; findmnt -no SOURCE,MAJ:MIN,FSTYPE -T "$data" 2>&1
  echo "--- /run/udev"; ls -la /run/udev/data 2>&1 | head -5
  echo "--- nvidia-fs module"; grep -i nvidia_fs /proc/modules || echo "not loaded (cuFile compatibility mode)"
  echo "--- /etc/cufile.json (allow_compat_mode, logging)"; grep -E 'allow_compat_mode|"level"' /etc/cufile.json 2>&1
} > "$out/machine.txt" 2>&1
# libcufile writes cufile.log into the working directory.
cd "$out"

streams=("$carry"/streams/*.gdef)
step bench_decode timeout "$(budget 200)" "$carry/bench_decode" --iters 5 \
  --tiles 512,2048,8192,16384 --variants subgroup,shared,subgroup-t16 "${streams[@]}" \
  > "$out/bench_decode.log" 2>&1

# GDS before the udev entry exists: cuFile is expected to refuse the files; the route must
# still load them through host memory (the test prints how many segments took which path).
step gds_fallback env DS_REQUIRE_VULKAN=1 timeout "$(budget 60)" "$carry/executor" \
  gds_route_loads_files --exact --nocapture > "$out/gds_fallback.log" 2>&1
[ -f "$out/cufile.log" ] && mv "$out/cufile.log" "$out/cufile_fallback.log"

# libudev reads a block device's properties from /run/udev/data/b<major>:<minor>, which udevd
# writes on a normal system; give the data disk the two cuFile asks for.
majmin=$(findmnt -no MAJ:MIN -T "$TMPDIR" | tr -d ' ')
fstype=$(findmnt -no FSTYPE -T "$TMPDIR" | tr -d ' ')
if [ -n "$majmin" ] && [ ! -e "/run/udev/data/b$majmin" ]; then
  mkdir -p /run/udev/data
  printf 'E:ID_FS_USAGE=filesystem\nE:ID_FS_TYPE=%s\n' "$fstype" > "/run/udev/data/b$majmin"
fi
{ echo "device $majmin ($fstype)"; cat "/run/udev/data/b$majmin" 2>&1; } > "$out/udev.txt"

step executor_tests env DS_REQUIRE_VULKAN=1 DS_REQUIRE_CUFILE=1 timeout "$(budget 120)" \
  "$carry/executor" --test-threads=1 --nocapture > "$out/executor_tests.log" 2>&1
[ -f "$out/cufile.log" ] && mv "$out/cufile.log" "$out/cufile_executor.log"
step wgpu_tests env DS_REQUIRE_VULKAN=1 timeout "$(budget 60)" "$carry/wgpu_executor" \
  --test-threads=1 --nocapture > "$out/wgpu_tests.log" 2>&1
{
  step decode_vectors env DS_REQUIRE_VULKAN=1 DS_REQUIRE_NV_DECOMPRESSION=1 \
    timeout "$(budget 90)" "$carry/decode_vectors" --test-threads=1 --nocapture
  step vulkan_tests env DS_REQUIRE_VULKAN=1 timeout "$(budget 60)" "$carry/vulkan" \
    --test-threads=1 --nocapture
} > "$out/vectors_tests.log" 2>&1

step gpu_resident timeout "$(budget 200)" "$carry/gpu_resident" --dir "$data" \
  --total-mib 1024 --reps 2 --decode shader,driver > "$out/gpu_resident.log" 2>&1
[ -f "$out/cufile.log" ] && mv "$out/cufile.log" "$out/cufile_resident.log"
step gpu_resident_sweep timeout "$(budget 150)" "$carry/gpu_resident" --dir "$data" \
  --total-mib 1024 --reps 2 --no-cold --no-cpu --routes staging,host-import \
  --decode shader,driver --overlap on,off --slot-mib 32,64,128 > "$out/gpu_resident_sweep.log" 2>&1

rm -rf "$data" "$TMPDIR"
cat "$out/steps.txt"
grep -hE "^test result|FAILED|panicked" "$out"/*_tests.log "$out/gds_fallback.log" | head -40
exit $status
