#!/usr/bin/env bash
# Set up, build, and run the whole test suite (GoogleTest through ctest).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
cd "${SSMKIT_BUILD_DIR:-build}"
ctest --output-on-failure --parallel "$(nproc)" "$@"
