#!/usr/bin/env bash
# Compiles the GLSL compute shaders to the committed SPIR-V (generated files: never edit the .spv).
# Each X.comp gives X.spv (Vulkan/ash build); a source that has `#ifdef DS_NAGA` also gives
# X_naga.spv, built with -DDS_NAGA, the form wgpu ingests through naga's SPIR-V front end (checked
# with `naga` when that tool is installed).
#   shaders/build.sh          rebuild every .spv next to its .comp
#   shaders/build.sh --check  rebuild into a temporary folder and fail if any committed .spv
#                             differs (run by `cargo xtask test --only spirv`)
# The flags below are the pinned build: change them only together with the committed .spv files.
# -O0 on purpose: with spirv-opt's -O the shared-memory variant decodes wrongly on lavapipe (Mesa
# 22.3, our CI device) while the unoptimized module is right everywhere we can test; drivers run
# their own optimizer on the SPIR-V anyway.
set -euo pipefail
cd "$(dirname "$0")"
GLSLC_FLAGS=(--target-env=vulkan1.2 -O0 -fshader-stage=compute)
mode=${1:-build}
out=.
if [ "$mode" = --check ]; then
  out=$(mktemp -d)
  trap 'rm -rf "$out"' EXIT
elif [ "$mode" != build ]; then
  echo "usage: $0 [--check]" >&2
  exit 2
fi
status=0
build_one() { # source, output, extra glslc flags...
  local src=$1 spv=$2
  shift 2
  glslc "${GLSLC_FLAGS[@]}" "$@" -o "$out/$spv" "$src"
  spirv-val --target-env vulkan1.2 "$out/$spv"
  if [ "$mode" = --check ]; then
    if ! cmp -s "$out/$spv" "$spv"; then
      echo "shaders/$spv is stale: run shaders/build.sh and commit the result" >&2
      status=1
    fi
  fi
}
for src in *.comp; do
  build_one "$src" "${src%.comp}.spv"
  if grep -q '^#ifdef DS_NAGA' "$src"; then
    build_one "$src" "${src%.comp}_naga.spv" -DDS_NAGA
    if command -v naga >/dev/null; then
      naga "$out/${src%.comp}_naga.spv" >/dev/null
    fi
  fi
done
exit $status
