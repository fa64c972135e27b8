#!/usr/bin/env bash
# Run ON the device machine (H100, 16 cores) from the repository root, after
# scripts/device/prepare_io_and_cufile.sh staged .device-carry/io here. Writes everything to $OUT:
#   machine.txt       kernel, cores, memory, GPU, /etc/cufile.json, nvidia-fs presence, file systems
#   cufile_check.log  file -> GPU memory via cuFileRead, checksum computed on the device (1 GiB file;
#                     DS_REQUIRE_CUFILE=1, so a missing libcufile is a failure, exit 1)
#   io_bench.log      benches/io_drivers table (io_uring vs pread backend vs fio io_uring, each
#                     fio column with as many jobs as the queue has rings or threads)
#   queue_bench.log   benches/queue (the queue on pread and io_uring vs a plain pread loop;
#                     DS_BENCH_SCALE, default 1)
#   cufile.log        libcufile's own log (it writes it to its working directory, $OUT)
# About 4 minutes in all (io_drivers: 14 cells x 5 engines x 2.25 s).
set -uo pipefail
cd "$(dirname "$0")/../.."
carry=.device-carry/io
out=${OUT:-/tmp/ds-io-out}
mkdir -p "$out"
dir=${DS_BENCH_DIR:-$PWD/.device-carry}
export DS_REQUIRE_CUFILE=1
export LD_LIBRARY_PATH=/usr/local/cuda-13.0/targets/x86_64-linux/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
{
  uname -a; nproc; grep -m1 'model name' /proc/cpuinfo; free -g; uptime
  echo "clocksource: $(cat /sys/devices/system/clocksource/clocksource0/current_clocksource 2>&1)"
  nvidia-smi 2>&1 | head -20
  echo "--- /etc/cufile.json"; grep -v '^\s*//' /etc/cufile.json 2>&1 | head -80
  echo "--- nvidia-fs module:"; grep -i nvidia_fs /proc/modules || echo "not loaded (cuFile compatibility mode)"
  echo "--- file systems"; df -hT "$dir" /tmp
} > "$out/machine.txt" 2>&1
(cd "$out" && "$OLDPWD/$carry/cufile_check" "$dir" "${DS_CHECK_MIB:-1024}") > "$out/cufile_check.log" 2>&1
echo "cufile_check exit status $?" >> "$out/cufile_check.log"
DS_BENCH_FIO="$PWD/$carry/fio" DS_BENCH_DIR="$dir" "$carry/io_drivers" > "$out/io_bench.log" 2>&1
echo "io_drivers exit status $?" >> "$out/io_bench.log"
rm -f "$dir"/ds-io-bench-*.bin
DS_BENCH_SCALE="${DS_BENCH_SCALE:-1}" "$carry/queue_bench" > "$out/queue_bench.log" 2>&1
echo "queue_bench exit status $?" >> "$out/queue_bench.log"
tail -n 3 "$out/cufile_check.log"; cat "$out/io_bench.log"; tail -n 7 "$out/queue_bench.log"
