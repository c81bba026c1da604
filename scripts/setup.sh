#!/usr/bin/env bash
# Installs zoo's build and test dependencies from Debian's packages, idempotently (apt, as root
# or through sudo), and points libblas.so.3, liblapack.so.3 and libopenblas.so.0 (LibTorch links
# both libraries) at OpenBLAS's OpenMP build, which shares LibTorch's OpenMP threads instead of
# fighting them (measured in docs/PERFORMANCE.md).
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache       # toolchain; ccache + ninja keep rebuilds fast
  pkg-config                                     # finds SentencePiece and FFmpeg
  libtorch-dev                                   # LibTorch 1.13.1 (CPU)
  libopencv-dev                                  # image decoding and transforms
  libavformat-dev libavcodec-dev libswscale-dev  # video decoding (data/video_file.cpp)
  libcli11-dev nlohmann-json3-dev                # command line, JSON
  libicu-dev                                     # Unicode lowercasing and character classes (word tokenizer)
  libsentencepiece-dev                           # SentencePiece BPE / unigram (the plug-in libzoo_sentencepiece.so)
  zlib1g-dev                                     # reading .gz text corpora
  libfreetype-dev fonts-dejavu-core              # UTF-8 token labels on attention maps
  catch2                                         # unit tests (v2 API)
  clang libclang-rt-14-dev                       # libFuzzer and the sanitizers (scripts/fuzz.sh)
  libopenblas0-openmp                            # the BLAS behind LibTorch's GEMMs
  libgloo-dev                                    # c10d's CPU collectives (runs launched by torchrun)
  libprotobuf-dev protobuf-compiler              # TensorBoard event files (lib/train/tensorboard.*)
  python3-protobuf                               # the tests' independent reader of those files
  python3-torch python3-torchvision              # test oracles (/usr/bin/python3)
)

sudo=()
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo > /dev/null || { echo "setup.sh: run as root or install sudo" >&2; exit 1; }
  sudo=(sudo)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2> /dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup.sh: installing ${missing[*]}" >&2
  "${sudo[@]}" apt-get update -q
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q "${missing[@]}"
fi

arch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2> /dev/null || gcc -print-multiarch)
for lib in libblas.so.3 liblapack.so.3 libopenblas.so.0; do
  want=/usr/lib/$arch/openblas-openmp/$lib
  current=$(update-alternatives --query "$lib-$arch" 2> /dev/null | sed -n 's/^Value: //p')
  if [[ -e $want && $current != "$want" ]]; then
    echo "setup.sh: selecting $want for $lib" >&2
    "${sudo[@]}" update-alternatives --set "$lib-$arch" "$want"
  fi
done
