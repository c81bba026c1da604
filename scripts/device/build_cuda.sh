#!/usr/bin/env bash
# Builds zoo against the CUDA PyTorch of a GPU machine that lacks Debian's -dev packages, using
# the archive from scripts/device/pack_sysroot.sh. Writes BUILD_DIR/env.sh, to be sourced before
# running the binaries (it points the loader at the packed libraries the machine does not have).
#
#   scripts/device/build_cuda.sh SYSROOT_TAR [BUILD_DIR]
set -euo pipefail
tarball=$(realpath "${1:?usage: build_cuda.sh SYSROOT_TAR [BUILD_DIR]}")
cd "$(dirname "$0")/../.."
build=${2:-build-cuda}
sysroot=/opt/zoo-sysroot
arch=x86_64-linux-gnu

mkdir -p "$sysroot" && tar -xJf "$tarball" -C "$sysroot"
# The loader gets only the packed libraries this machine has no version of: same soname, same
# ABI, and its own (newer) ones stay in charge for the compiler and PyTorch.
runtime=$sysroot/runtime-lib
mkdir -p "$runtime"
for lib in "$sysroot/usr/lib/$arch"/*.so.*; do
  name=$(basename "$lib")
  ldconfig -p | grep -q "^[[:space:]]*$name " || ln -sf "$lib" "$runtime/$name"
done
cat > "$sysroot/env.sh" <<EOF
export LD_LIBRARY_PATH=$runtime\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}
export ZOO_FONT=$sysroot/usr/share/fonts/DejaVuSans.ttf
EOF
source "$sysroot/env.sh"

torch_prefix=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')
cuda_root=$(dirname "$(dirname "$(command -v nvcc)")")
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=ON \
  -DCMAKE_PREFIX_PATH="$torch_prefix;$sysroot/usr" -DCUDAToolkit_ROOT="$cuda_root" \
  -DCMAKE_EXE_LINKER_FLAGS="-Wl,-rpath-link,$sysroot/usr/lib/$arch"
cp "$sysroot/env.sh" "$build/env.sh"
cmake --build "$build" -- -k 0
