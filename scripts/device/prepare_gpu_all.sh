#!/usr/bin/env bash
# Run HERE (not on the device): builds everything scripts/device/gpu_all.sh runs on the device
# machine, in release mode, and stages it under .device-carry/gpu-all/ (git-ignored; binaries
# stripped and gzipped):
#   bench_decode, gpu_resident          the decode benchmark (batch sweep) and the GPU-resident one
#   executor, wgpu_executor,            the GPU test suites (the committed vectors go along as
#   decode_vectors, vulkan              the tracked gpu/tests/data)
#   streams/*.gdef                      the 32 MiB bench streams of ../shared/gdeflate/bench
#   debs/vulkan-validationlayers_*.deb  the validation layer the suites run with
# and the Vulkan loader packages into .gl/ (the device has the NVIDIA driver but no loader).
# Carry: .gl and .device-carry/gpu-all; the script fails if they pass 60 MiB (the limit is 64).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
shared=${DS_SHARED_DIR:-$root/../shared}
target=${CARGO_TARGET_DIR:-$root/target}
carry=.device-carry/gpu-all
rm -rf "$carry"
mkdir -p "$carry/streams" "$carry/debs"
cargo build --release -p ds-gpu --features wgpu --example bench_decode --example gpu_resident
cp "$target/release/examples/bench_decode" "$target/release/examples/gpu_resident" "$carry/"
for t in executor wgpu_executor decode_vectors vulkan; do
  bin=$(cargo test --release -p ds-gpu --features wgpu --test "$t" --no-run --message-format=json 2>/dev/null \
    | sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -n 1)
  cp "$bin" "$carry/$t"
done
bins=(bench_decode gpu_resident executor wgpu_executor decode_vectors vulkan)
for b in "${bins[@]}"; do
  strip "$carry/$b"
  gzip -9 -n "$carry/$b"   # gpu_all.sh unpacks them: the carry stays well under 64 MiB
done
cp "$shared"/gdeflate/bench/*.gdef "$carry/streams/"
chmod u+w "$carry"/streams/*.gdef
o=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64)
if ! ls .gl/libvulkan1_*.deb >/dev/null 2>&1 || [ -z "$(ls .device-carry/gpu-resident/debs/vulkan-validationlayers_*.deb 2>/dev/null)" ]; then
  mkdir -p /tmp/amd64/partial
  apt-get "${o[@]}" update
fi
if ! ls .gl/libvulkan1_*.deb >/dev/null 2>&1; then
  mkdir -p .gl
  (cd .gl && apt-get "${o[@]}" download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
fi
if ls .device-carry/gpu-resident/debs/vulkan-validationlayers_*.deb >/dev/null 2>&1; then
  cp .device-carry/gpu-resident/debs/vulkan-validationlayers_*.deb "$carry/debs/"
else
  (cd "$carry/debs" && apt-get "${o[@]}" download vulkan-validationlayers)
fi
du -sh .gl "$carry" "$carry"/* | sort -h
total=$(du -sbc .gl "$carry" | tail -n 1 | cut -f1)
echo "carry total: $total bytes ($((total >> 20)) MiB)"
if [ "$total" -gt $((60 << 20)) ]; then
  echo "carry over 60 MiB: drop a stream from $carry/streams" >&2
  exit 1
fi
