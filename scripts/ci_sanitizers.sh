#!/usr/bin/env bash
# CI, after scripts/test.sh: the CPU code built with clang under AddressSanitizer and
# UndefinedBehaviorSanitizer, the whole test suite run under them, then every libFuzzer
# harness (tests/fuzz/) for SSMKIT_FUZZ_SECONDS each, seeded from the shipped files. A fuzzer
# finding fails the run; its input is left under $build/fuzz-findings/ to be kept as a
# regression input in tests/fuzz/regressions/<harness>/ once fixed.
set -euo pipefail
cd "$(dirname "$0")/.."

build=${SSMKIT_ASAN_BUILD_DIR:-build-asan}
fuzz_seconds=${SSMKIT_FUZZ_SECONDS:-60}
jobs=$(nproc)

# clang and its runtimes (libFuzzer, ASan, UBSan) from Debian, only what is missing.
missing=()
for p in clang libclang-rt-dev; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

section() { echo; echo "== $1 ($(date +%T))"; }
timed() {  # label, command...: runs it and prints how long it took
  local label=$1 start=$SECONDS
  shift
  "$@"
  echo "ci_sanitizers: $label took $((SECONDS - start)) s"
}

section "configure $build (clang, -fsanitize=address,undefined)"
# fuzzer-no-link: coverage for the fuzzers' guidance, harmless in the other binaries.
flags="-fsanitize=address,undefined,fuzzer-no-link -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
if [[ ! -f "$build/build.ninja" ]]; then
  CC=clang CXX=clang++ cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DSSMKIT_CUDA=OFF -DSSMKIT_BUILD_BENCH=OFF -DSSMKIT_FUZZ=ON \
    -DCMAKE_C_FLAGS="$flags" -DCMAKE_CXX_FLAGS="$flags" \
    -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined"
fi
section "build"
timed "sanitizer build" cmake --build "$build" --parallel "$jobs"

section "tests under ASan + UBSan"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:strict_string_checks=1:check_initialization_order=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
timed "sanitizer tests" bash -c "cd '$build' && ctest --output-on-failure --parallel '$jobs'"

section "fuzzing, ${fuzz_seconds} s per harness"
findings="$build/fuzz-findings"
mkdir -p "$findings"
status=0
# The bigger goldens slow every execution down; the small ones cover the same structures.
seed_goldens=$(find golden -name '*.h5' -size -64k)
fuzz_start=$SECONDS
for h in hf_config scenario trace golden results_json; do
  corpus="$build/fuzz-corpus/$h"
  mkdir -p "$corpus"
  seeds=("tests/fuzz/seeds/$h" "tests/fuzz/regressions/$h")
  case $h in
    scenario) seeds+=(scenarios/*.yaml) ;;
    golden) seeds+=($seed_goldens) ;;
  esac
  for s in "${seeds[@]}"; do
    if [[ -d $s ]]; then cp -r "$s"/. "$corpus"/; elif [[ -f $s ]]; then cp "$s" "$corpus"/; fi
  done
  log="$findings/$h.log"
  if ! "$build/tests/fuzz/fuzz_$h" -max_total_time="$fuzz_seconds" -timeout=30 -rss_limit_mb=2560 \
       -max_len=65536 -print_final_stats=1 -artifact_prefix="$findings/$h-" "$corpus" >"$log" 2>&1; then
    echo "ci_sanitizers: fuzz_$h FOUND A FAILURE:"; tail -40 "$log"; status=1
  fi
  runs=$(grep -m1 'stat::number_of_executed_units' "$log" | awk '{print $2}')
  echo "ci_sanitizers: fuzz_$h ran ${runs:-?} inputs in ${fuzz_seconds} s"
done
echo "ci_sanitizers: fuzzing took $((SECONDS - fuzz_start)) s"
exit $status
