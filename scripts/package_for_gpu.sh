#!/usr/bin/env bash
# Packs the built ssmkit and test binaries with their non-glibc shared libraries into
# .device/ (RPATH $ORIGIN/lib), so they run on a GPU machine that has a driver but not
# Debian's libraries. Build first with CUDA (scripts/bootstrap.sh on a machine with nvcc).
# On the GPU machine, from a checkout holding .device/:
#   .device/ssmkit validate --backend all golden/
#   SSMKIT_BINARY=$PWD/.device/ssmkit SSMKIT_SOURCE_DIR=$PWD .device/ssmkit_tests
set -euo pipefail
cd "$(dirname "$0")/.."
build=${SSMKIT_BUILD_DIR:-build}
command -v patchelf >/dev/null || { echo "package_for_gpu: needs patchelf (apt-get install patchelf)" >&2; exit 2; }
rm -rf .device/lib .device/ssmkit .device/ssmkit_tests && mkdir -p .device/lib
cp "$build/apps/ssmkit" "$build/tests/ssmkit_tests" .device/
for bin in .device/ssmkit .device/ssmkit_tests; do
  ldd "$bin" | awk '/=> \//{print $3}' |
    grep -v -E '/(libc|libm|libpthread|libdl|librt|libgcc_s)\.so|ld-linux' |
    xargs -r -I{} cp -L {} .device/lib/
  strip "$bin"
  patchelf --set-rpath '$ORIGIN/lib' "$bin"
done
du -sh .device
