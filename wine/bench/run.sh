#!/usr/bin/env bash
# The Wine shim's overhead: the same workload (bench/workload.h) natively
# through the C ABI (bench_native) and through the builtin dstorage.dll
# under wine (bench_shim.exe), in one run, alternating native and shim
# ROUNDS times so both see the same machine state; prints the median time
# of each case and the shim's overhead against the native run.
#
#   bench/run.sh [OUT]        OUT: the Makefile's output directory (default build)
#   ROUNDS=N                  rounds per side (default 5)
#   DSTORAGE_BENCH_DIR=DIR    where the data files go (default /tmp/dstorage-bench;
#                             about 400 MiB, kept between runs)
#
# Reads are served from the page cache (the files are read once before),
# so the numbers show the CPU cost of each path, which is where a shim's
# overhead would be; cold-cache device time would hide it.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
wine_dir=$(dirname "$here")
out=$(cd "${1:-$wine_dir/build}" && pwd)
rounds=${ROUNDS:-5}
dir=${DSTORAGE_BENCH_DIR:-/tmp/dstorage-bench}
WINE=${WINE:-$(command -v wine || echo /usr/lib/wine/wine64)}
WINESERVER=${WINESERVER:-$(command -v wineserver || echo /usr/lib/wine/wineserver)}

mkdir -p "$dir"
[ -f "$dir/pack.idx" ] || "$out/bench/bench_native" prepare "$dir"
cat "$dir/data.bin" "$dir/pack.bin" "$dir/pack.idx" >/dev/null

prefix=$(mktemp -d /tmp/dstorage-wine-bench.XXXXXX)
cleanup() {
    WINEPREFIX="$prefix" "$WINESERVER" -k 2>/dev/null || true
    rm -rf "$prefix"
}
trap cleanup EXIT
export WINEPREFIX="$prefix" WINEDEBUG=-all WINEDLLPATH="$out/lib"
export WINEDLLOVERRIDES="dstorage=b;mscoree,mshtml,winemenubuilder.exe="
"$WINE" wineboot --init >/dev/null 2>&1
"$WINESERVER" -w
test -f "$prefix/drive_c/windows/system32/dstorage.dll" ||
    cp "$out/lib/x86_64-windows/dstorage.dll" "$prefix/drive_c/windows/system32/"
"$WINESERVER" -p
windir="Z:$(printf '%s' "$dir" | tr / '\\')"

results=$(mktemp)
for r in $(seq "$rounds"); do
    "$out/bench/bench_native" run "$dir" 1 >>"$results"
    "$WINE" "$out/bench/bench_shim.exe" "$windir" 1 | grep '^shim ' | tr -d '\r' >>"$results"
done

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo), $(uname -r); wine $("$WINE" --version 2>/dev/null)"
echo "rounds: $rounds per side, alternating; median seconds per case"
printf '%-16s %9s %11s %11s %10s %10s %9s\n' case requests native_s shim_s native_MB/s shim_MB/s overhead
for c in $(awk '{print $2}' "$results" | awk '!seen[$0]++'); do
    median() { awk -v side="$1" -v c="$c" '$1 == side && $2 == c {print $5}' "$results" | sort -g |
        awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
    n=$(median native) s=$(median shim)
    sums=$(awk -v c="$c" '$2 == c {print $6}' "$results" | sort -u | wc -l)
    [ "$sums" = 1 ] || { echo "case $c: native and shim read different bytes" >&2; exit 1; }
    awk -v c="$c" -v n="$n" -v s="$s" -v req="$(awk -v c="$c" '$2 == c {print $3; exit}' "$results")" \
        -v bytes="$(awk -v c="$c" '$2 == c {print $4; exit}' "$results")" \
        'BEGIN {printf "%-16s %9d %11.4f %11.4f %10.0f %10.0f %+8.1f%%\n", c, req, n, s, bytes / n / 1e6, bytes / s / 1e6, (s / n - 1) * 100}'
done
rm -f "$results"
