#!/usr/bin/env bash
# Run HERE (not on the device): builds the GPU-resident path benchmark and the executor test
# binaries in release mode and stages them under .device-carry/gpu-resident/ (git-ignored) for
# scripts/device/gpu_resident.sh on the device machine. Fetches the Vulkan loader packages into
# .gl/ if missing (the device machine has the NVIDIA driver but no loader). The data set (1 GiB of
# GDeflate files) is generated ON the device by the benchmark itself, so the carry stays small.
# Carry: .gl and .device-carry/gpu-resident (the script prints their sizes; the limit is 64 MiB).
set -euo pipefail
cd "$(dirname "$0")/../.."
target=${CARGO_TARGET_DIR:-$PWD/target}
carry=.device-carry/gpu-resident
cargo build --release -p ds-gpu --features wgpu --example gpu_resident
mkdir -p "$carry"
cp "$target/release/examples/gpu_resident" "$carry/"
# Test binaries: the executor suite (the GDS route runs where CUDA + cuFile exist) and the wgpu
# suite on the NVIDIA Vulkan driver.
for t in executor wgpu_executor; do
  bin=$(cargo test --release -p ds-gpu --features wgpu --test "$t" --no-run --message-format=json 2>/dev/null \
    | sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -n 1)
  cp "$bin" "$carry/$t"
done
strip "$carry"/gpu_resident "$carry"/executor "$carry"/wgpu_executor
if ! ls .gl/libvulkan1_*.deb >/dev/null 2>&1; then
  mkdir -p .gl /tmp/amd64/partial
  o=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64)
  apt-get "${o[@]}" update
  (cd .gl && apt-get "${o[@]}" download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
fi
# The Vulkan validation layer, so the executor test suites run on the device as they do here.
if ! ls "$carry"/debs/vulkan-validationlayers_*.deb >/dev/null 2>&1; then
  mkdir -p "$carry/debs" /tmp/amd64/partial
  o=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64)
  apt-get "${o[@]}" update
  (cd "$carry/debs" && apt-get "${o[@]}" download vulkan-validationlayers)
fi
du -sh .gl "$carry"
du -sc .gl "$carry" | tail -n 1
