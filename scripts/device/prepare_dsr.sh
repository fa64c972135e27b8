#!/usr/bin/env bash
# Run HERE (not on the device): builds `dsr` in release mode and stages it under
# .device-carry/dsr/ (git-ignored) for scripts/device/dsr_bench.sh on the device machine. Also
# fetches the Vulkan loader packages into .gl/ if missing (the device machine has the NVIDIA
# driver but no loader), as prepare_gpu_bench.sh does. Carry: .gl and .device-carry/dsr.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
target=${CARGO_TARGET_DIR:-$root/target}
cargo build --release -p ds-cli --bin dsr
mkdir -p .device-carry/dsr
cp "$target/release/dsr" .device-carry/dsr/
if ! ls .gl/libvulkan1_*.deb >/dev/null 2>&1; then
  mkdir -p .gl /tmp/amd64/partial
  o=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64)
  apt-get "${o[@]}" update
  (cd .gl && apt-get "${o[@]}" download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
fi
du -sh .gl .device-carry/dsr
