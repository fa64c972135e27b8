#!/usr/bin/env bash
# The I/O driver benchmark (os-linux/benches/io_drivers.rs): the queue on io_uring (one ring per
# core, and one ring) against the queue on pread and against fio's io_uring engine (as many jobs
# as rings, and one job), same file / block size / total queue depth, one run, one table with
# ratios and CPU time per request. Installs fio (Debian package) when it is missing.
#
# Usage: scripts/bench_io.sh [LOG]   (the table also goes to LOG when given)
# Knobs (environment): DS_BENCH_SECS (per cell, default 2), DS_BENCH_FILE_MB (default 1024),
# DS_BENCH_DIR (file location; O_DIRECT needs a file system that supports it, default $TMPDIR),
# DS_BENCH_FIO (fio binary), DS_BENCH_ONLY (substring filter on cell names, e.g. "direct"),
# DS_BENCH_ENGINES (comma list of pread,uring,fio,uring1,fio1), DS_BENCH_RINGS (rings / fio jobs).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v "${DS_BENCH_FIO:-fio}" >/dev/null; then
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get install -y -qq --no-install-recommends fio >/dev/null
fi
echo "machine: $(nproc) cores, $(uname -sr), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
cargo bench -p ds-os-linux --bench io_drivers 2>/dev/null | tee "${1:-/dev/null}"
