#!/usr/bin/env bash
# Packs the C++ dependencies zoo builds against (headers, CMake configs, shared libraries) from
# this Debian machine into one archive, for a CUDA machine whose image has PyTorch but none of
# Debian's -dev packages (the lent GPU machines: Ubuntu, no package registry).
#
#   scripts/device/pack_sysroot.sh OUT_DIR      -> OUT_DIR/sysroot.tar.xz
#
# On the GPU machine, scripts/device/build_cuda.sh unpacks it and builds against that machine's
# LibTorch. OpenCV's imgcodecs links GDAL, GDCM, OpenEXR and GLX, whose closure is ~100 libraries
# (200 MB); zoo never reads those formats, so small stub libraries stand in for them: each defines
# exactly the symbols OpenCV imports from it, returning 0.
set -euo pipefail
out=${1:?usage: pack_sysroot.sh OUT_DIR}
arch=x86_64-linux-gnu
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/usr
mkdir -p "$root/include" "$root/lib/$arch" "$root/share/cmake" "$root/lib/cmake" "$root/share/fonts"

# Headers and CMake package configs.
for dir in opencv4 unicode freetype2 CLI nlohmann catch2; do cp -a /usr/include/$dir "$root/include/"; done
cp -a /usr/include/zlib.h /usr/include/zconf.h "$root/include/"
cp -a /usr/share/cmake/nlohmann_json /usr/share/cmake/CLI11 "$root/share/cmake/"
cp -a /usr/lib/cmake/Catch2 "$root/lib/cmake/"
cp -a /usr/lib/libCatch2WithMain.a "$root/lib/"
cp /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf "$root/share/fonts/"

# Debian's OpenCVModules.cmake insists that every OpenCV module's file exists; zoo needs three,
# so a small config declares just those.
mkdir -p "$root/lib/$arch/cmake/opencv4"
cat > "$root/lib/$arch/cmake/opencv4/OpenCVConfig.cmake" <<'EOF'
get_filename_component(_zoo_cv_prefix "${CMAKE_CURRENT_LIST_DIR}/../../../.." REALPATH)
set(OpenCV_VERSION 4.6.0)
set(OpenCV_INCLUDE_DIRS "${_zoo_cv_prefix}/include/opencv4")
set(OpenCV_LIBS "")
foreach(_m core imgproc imgcodecs)
  if(NOT TARGET opencv_${_m})
    add_library(opencv_${_m} SHARED IMPORTED)
    set_target_properties(opencv_${_m} PROPERTIES
      IMPORTED_LOCATION "${_zoo_cv_prefix}/lib/x86_64-linux-gnu/libopencv_${_m}.so.406"
      INTERFACE_INCLUDE_DIRECTORIES "${OpenCV_INCLUDE_DIRS}")
  endif()
  list(APPEND OpenCV_LIBS opencv_${_m})
endforeach()
set(OpenCV_FOUND TRUE)
EOF

# Shared libraries: the ones zoo links and their closure, minus glibc and the compiler runtime
# (the GPU machine has newer ones) and minus what the stubs replace.
stubbed='libgdal.so.32 libgdcmDSED.so.3.0 libgdcmMSFF.so.3.0 libOpenEXR-3_1.so.30 libGLX.so.0'
direct="/usr/lib/$arch/libopencv_core.so.406 /usr/lib/$arch/libopencv_imgproc.so.406
  /usr/lib/$arch/libopencv_imgcodecs.so.406 /usr/lib/$arch/libicuuc.so.72 /usr/lib/$arch/libicudata.so.72
  /usr/lib/$arch/libfreetype.so.6 /usr/lib/$arch/libz.so.1"
ldconfig -p > "$work/ldcache.txt"
copy_lib() { cp -L "$1" "$root/lib/$arch/$(basename "$1")"; }
queue=$direct
declare -A seen=()
while [[ -n ${queue// /} ]]; do
  next=""
  for lib in $queue; do
    name=$(basename "$lib")
    [[ -n ${seen[$name]:-} ]] && continue
    seen[$name]=1
    case $name in libc.so*|libm.so*|libstdc++*|libgcc_s*|libpthread*|libdl.so*|librt.so*|ld-linux*) continue ;; esac
    [[ " $stubbed " == *" $name "* ]] && continue
    # OpenBLAS (35 MB) is the system's choice behind libblas.so.3; the reference BLAS/LAPACK do.
    case $name in libblas.so.3) lib=/usr/lib/$arch/blas/libblas.so.3 ;; liblapack.so.3) lib=/usr/lib/$arch/lapack/liblapack.so.3 ;; esac
    copy_lib "$lib"
    for dep in $(readelf -d "$lib" | sed -n 's/.*NEEDED.*\[\(.*\)\]/\1/p'); do
      path=$(awk -v n="$dep" '$1 == n && /x86-64/ {print $NF; exit}' "$work/ldcache.txt")
      [[ -n $path ]] && next+=" $path"
    done
  done
  queue=$next
done
for m in core imgproc imgcodecs; do ln -sf libopencv_$m.so.406 "$root/lib/$arch/libopencv_$m.so"; done
ln -sf libicuuc.so.72 "$root/lib/$arch/libicuuc.so"; ln -sf libicudata.so.72 "$root/lib/$arch/libicudata.so"
ln -sf libfreetype.so.6 "$root/lib/$arch/libfreetype.so"; ln -sf libz.so.1 "$root/lib/$arch/libz.so"

# Stubs: every symbol the OpenCV libraries import from a stubbed library, as a function returning 0.
imports=$work/imports.txt
for m in core imgproc imgcodecs; do
  objdump -T /usr/lib/$arch/libopencv_$m.so.406 | awk '/\*UND\*/ {print $NF}'
done | sort -u > "$imports"
for name in $stubbed; do
  real=$(awk -v n="$name" '$1 == n {print $NF; exit}' "$work/ldcache.txt")
  nm -D --defined-only "$real" | awk '{print $3}' | sed 's/@.*//' | sort -u | comm -12 "$imports" - |
    awk '{print "long " $1 "(void) { return 0; }"}' > "$work/stub.c"
  gcc -shared -fPIC -o "$root/lib/$arch/$name" -Wl,-soname,"$name" "$work/stub.c"
done

mkdir -p "$out"
tar -cJf "$out/sysroot.tar.xz" -C "$work" usr
echo "$out/sysroot.tar.xz: $(du -h "$out/sysroot.tar.xz" | cut -f1), $(ls "$root/lib/$arch" | wc -l) libraries"
