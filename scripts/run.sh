#!/usr/bin/env bash
# The main job: set up, build, and validate every bundled golden on every backend this
# machine has (the CPU reference always; CUDA where it is built and a GPU is present).
# Extra arguments go to `ssmkit validate`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
exec "${SSMKIT_BUILD_DIR:-build}/apps/ssmkit" validate --backend all "$@"
