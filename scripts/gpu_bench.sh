#!/usr/bin/env bash
# On a GPU machine, from a checkout with a packaged build in $PKG (default .device/bench:
# ssmkit, ssmkit_tests and lib/ from this machine's build; optional: mamba_src/ and conv_src/,
# source checkouts of mamba_ssm and causal-conv1d, and py/ holding einops): the GPU tests,
# validate on every backend, compute-sanitizer on the bench kernels, then `ssmkit bench` side
# by side with mamba_ssm. Where the checkouts hold their CUDA sources, their compiled modules
# are built first (scripts/build_mamba_extensions.py, while the tests run). Logs go to $OUT
# (default ./out).
#   scripts/gpu_bench.sh [-- ssmkit bench arguments]
set -uo pipefail
PKG=${PKG:-.device/bench}
OUT=${OUT:-out}
mkdir -p "$OUT/bench"
[ "${1:-}" = "--" ] && shift
export SSMKIT_BINARY=$PWD/$PKG/ssmkit SSMKIT_SOURCE_DIR=$PWD
summary=()
{ nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem --format=csv; date -u; } > "$OUT/tests.log" 2>&1
ext_args=() ext_dirs=() ext_pid=""
[ -d "$PKG/mamba_src/csrc/selective_scan" ] && ext_args+=(--mamba-ssm-src "$PKG/mamba_src") &&
  ext_dirs+=("$OUT/ext/selective_scan_cuda")
[ -d "$PKG/conv_src/csrc" ] && ext_args+=(--causal-conv1d-src "$PKG/conv_src") &&
  ext_dirs+=("$OUT/ext/causal_conv1d_cuda" "$PKG/conv_src")
if ((${#ext_args[@]})); then
  { timeout ${EXT_TIMEOUT:-420} python3 "$(dirname "$0")/build_mamba_extensions.py" "${ext_args[@]}" \
      --out "$OUT/ext" > "$OUT/ext_build.log" 2>&1; echo "extensions: exit $?" > "$OUT/ext_build.status"; } &
  ext_pid=$!
fi
timeout ${TESTS_TIMEOUT:-90} "$PKG/ssmkit_tests" >> "$OUT/tests.log" 2>&1
summary+=("tests: exit $? $(grep -E '^\[  (PASSED|FAILED|SKIPPED) \] [0-9]+ test' "$OUT/tests.log" | tr '\n' ' ')")
timeout 60 "$PKG/ssmkit" validate --backend all golden/ > "$OUT/validate.log" 2>&1
summary+=("validate: exit $? $(tail -1 "$OUT/validate.log")")
if [ -n "$ext_pid" ]; then
  wait "$ext_pid"
  summary+=("$(cat "$OUT/ext_build.status")")
fi
# bench_vs_mamba_ssm.py refuses paths that do not exist: pass only what this package holds
# (without mamba_src its rows say mamba_ssm is unavailable, as before).
ref_args=()
[ -d "$PKG/mamba_src/mamba_ssm" ] && ref_args+=(--mamba-ssm-src "$PKG/mamba_src")
for d in "$PKG/py" "${ext_dirs[@]}"; do [ -d "$d" ] && ref_args+=(--python-path "$d"); done
PYTHONUNBUFFERED=1 timeout ${BENCH_TIMEOUT:-240} python3 "$(dirname "$0")/bench_vs_mamba_ssm.py" --ssmkit "$PKG/ssmkit" \
  "${ref_args[@]}" --out "$OUT/bench" -- "$@" > "$OUT/bench/compare.log" 2>&1
summary+=("bench: exit $?")
if command -v compute-sanitizer >/dev/null; then
  { timeout ${SANITIZER_TIMEOUT:-40} compute-sanitizer --tool memcheck "$PKG/ssmkit_tests" --gtest_filter='BenchOnGpu.*'
    timeout ${SANITIZER_TIMEOUT:-40} compute-sanitizer --tool racecheck "$PKG/ssmkit_tests" --gtest_filter='BenchOnGpu.SelectiveScan*'; } > "$OUT/sanitizer.log" 2>&1
  summary+=("sanitizer: $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$OUT/sanitizer.log" | tr '\n' ' ')")
fi

grep -E '^\| cuda \| (memory_copy|selective_state_update|selective_scan|causal_conv1d)' "$OUT/bench/ssmkit_bench.log" | cut -c1-230 | head -60
grep -E 'SKIP|WARN|checks:' "$OUT/bench/ssmkit_bench.log" | head -10
cat "$OUT/bench/vs_mamba_ssm.md" 2>/dev/null | cut -c1-260 || tail -30 "$OUT/bench/compare.log"
printf '%s\n' "${summary[@]}"
