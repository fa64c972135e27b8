#!/usr/bin/env bash
# Run HERE (not on the device): builds the GPU decode benchmark in release mode and stages it with
# the 32 MiB bench streams under .device-carry/gpu/ (git-ignored), for scripts/device/gpu_bench.sh
# on the device machine. Also fetches the Vulkan loader packages into .gl/ if missing (the device
# machine has the NVIDIA driver but no loader). Carry: .gl and .device-carry/gpu (about 50 MiB).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
shared=${DS_SHARED_DIR:-$root/../shared}
target=${CARGO_TARGET_DIR:-$root/target}
cargo build --release -p ds-gpu --example bench_decode
mkdir -p .device-carry/gpu/streams
cp "$target/release/examples/bench_decode" .device-carry/gpu/
cp "$shared"/gdeflate/bench/*.gdef .device-carry/gpu/streams/
if ! ls .gl/libvulkan1_*.deb >/dev/null 2>&1; then
  mkdir -p .gl /tmp/amd64/partial
  o=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64)
  apt-get "${o[@]}" update
  (cd .gl && apt-get "${o[@]}" download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
fi
du -sh .gl .device-carry/gpu
