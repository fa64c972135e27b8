#!/usr/bin/env bash
# Run HERE (not on the device): builds, in release mode, the GPUDirect Storage check
# (os-linux/examples/cufile_check), the I/O driver benchmark (os-linux/benches/io_drivers.rs) and
# the request-runtime benchmark (os-linux/benches/queue.rs), plus a static fio (the device machine
# has none; Debian's fio .deb pulls ~80 MiB of shared libraries, so fio 3.33 is built from
# Debian's source package with --build-static instead), and stages them, stripped, in
# .device-carry/io/ (git-ignored) for scripts/device/io_and_cufile.sh.
# Carry: .device-carry/io (about 6 MiB).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
target=${CARGO_TARGET_DIR:-$root/target}
carry=.device-carry/io
mkdir -p "$carry"
cargo build --release -p ds-os-linux --example cufile_check
cp "$target/release/examples/cufile_check" "$carry/"
# The bench binaries: cargo prints their paths with --no-run.
bench_exe() {
  cargo bench -p ds-os-linux --bench "$1" --no-run --message-format=json 2>/dev/null \
    | sed -n "s/.*\"executable\":\"\([^\"]*\/$1-[^\"]*\)\".*/\1/p" | tail -1
}
cp "$(bench_exe io_drivers)" "$carry/io_drivers"
cp "$(bench_exe queue)" "$carry/queue_bench"
if [ ! -x "$carry/fio" ]; then
  work=$(mktemp -d)
  printf 'Types: deb-src\nURIs: http://deb.debian.org/debian\nSuites: bookworm\nComponents: main\n' \
    > "$work/src.sources"
  mkdir -p "$work/lists/partial"
  o=(-oDir::Etc::sourcelist=/dev/null "-oDir::Etc::sourceparts=$work" "-oDir::State::Lists=$work/lists")
  apt-get "${o[@]}" update -qq
  (cd "$work" && apt-get "${o[@]}" source --download-only fio >/dev/null 2>&1)
  tar -C "$work" -xzf "$work"/fio_*.orig.tar.gz
  (cd "$work"/fio-* && ./configure --build-static --disable-native >/dev/null && make -j"$(nproc)" >/dev/null)
  cp "$work"/fio-*/fio "$carry/fio"
  rm -rf "$work"
fi
strip "$carry/cufile_check" "$carry/io_drivers" "$carry/queue_bench" "$carry/fio"
du -sh "$carry"
