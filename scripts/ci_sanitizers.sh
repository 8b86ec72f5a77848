#!/usr/bin/env bash
# CI, after scripts/test.sh: the CPU code built with clang under AddressSanitizer and
# UndefinedBehaviorSanitizer, the whole test suite run under them, then every libFuzzer
# harness (tests/fuzz/) for SSMKIT_FUZZ_SECONDS each, seeded from the shipped files. A fuzzer
# finding fails the run; its input is left under $build/fuzz-findings/ to be kept as a
# regression input in tests/fuzz/regressions/<harness>/ once fixed. Every stage is bounded
# (ctest --timeout, timeout -k around each fuzzer), so the script always ends.
set -euo pipefail
cd "$(dirname "$0")/.."

build=${SSMKIT_ASAN_BUILD_DIR:-build-asan}
fuzz_seconds=${SSMKIT_FUZZ_SECONDS:-60}
jobs=$(nproc)

# clang and its runtimes (libFuzzer, ASan, UBSan) from Debian, only what is missing, the way
# scripts/bootstrap.sh installs the rest. Without them this stage cannot run: it fails and
# says so rather than passing without sanitizers.
missing=()
for p in clang libclang-rt-dev; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "ci_sanitizers: installing ${missing[*]}"
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  if ! command -v apt-get >/dev/null || { [[ -n $sudo ]] && ! command -v sudo >/dev/null; } ||
     ! $sudo apt-get update -qq ||
     ! DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"; then
    echo "ci_sanitizers: FAILED: cannot install ${missing[*]} (Debian packages; needs apt-get as" \
         "root or through sudo, and the package mirrors). The sanitizer and fuzzing stage did not run." >&2
    exit 1
  fi
fi

section() { echo; echo "== $1 ($(date +%T))"; }
cpu_file=$(mktemp)
trap 'rm -f "$cpu_file"' EXIT
cpu_now() {  # sets $cpu: user + system seconds of every child waited for so far
  times >"$cpu_file"  # in this shell: a subshell would count only its own children
  cpu=$(awk 'NR == 2 { for (i = 1; i <= 2; i++) { split($i, t, /[ms]/); s += t[1] * 60 + t[2] } } END { printf "%d", s }' "$cpu_file")
}
timed() {  # label, command...: runs it and prints its wall time and CPU time (a loaded
  # machine stretches the first, not the second)
  local label=$1 start=$SECONDS cpu0
  shift
  cpu_now
  cpu0=$cpu
  "$@"
  cpu_now
  echo "ci_sanitizers: $label took $((SECONDS - start)) s ($((cpu - cpu0)) CPU s)"
}

section "configure $build (clang, -fsanitize=address,undefined)"
# fuzzer-no-link: coverage for the fuzzers' guidance, harmless in the other binaries. -O1
# with line tables only: cheaper to compile than -O2 -g, and still file:line in every
# sanitizer report.
flags="-fsanitize=address,undefined,fuzzer-no-link -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
opt="-O1 -gline-tables-only -DNDEBUG"
if [[ ! -f "$build/build.ninja" ]]; then
  CC=clang CXX=clang++ cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DSSMKIT_CUDA=OFF -DSSMKIT_BUILD_BENCH=OFF -DSSMKIT_FUZZ=ON \
    -DCMAKE_C_FLAGS="$flags" -DCMAKE_CXX_FLAGS="$flags" \
    -DCMAKE_C_FLAGS_RELWITHDEBINFO="$opt" -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="$opt" \
    -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined"
fi
section "build"
timed "sanitizer build" cmake --build "$build" --parallel "$jobs"

section "tests under ASan + UBSan"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:strict_string_checks=1:check_initialization_order=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# A test that hangs fails after 10 minutes instead of holding CI to its own limit.
timed "sanitizer tests" bash -c "cd '$build' && ctest --output-on-failure --timeout 600 --parallel '$jobs'"

section "fuzzing, ${fuzz_seconds} s per harness"
findings="$build/fuzz-findings"
rm -rf "$findings"
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
  # libFuzzer ends by itself after -max_total_time, and turns an input that runs past
  # -timeout seconds or past -rss_limit_mb into a finding. `timeout` is the backstop for a
  # fuzzer that does not end (one stuck in its own out-of-memory report did not): TERM two
  # minutes past the budget, KILL 30 s later, the whole process group (the golden reader's
  # guard children too).
  # The golden reader's guard gives libhdf5 10 s per file; past that it is an input error.
  per_input=10
  [[ $h == golden ]] && per_input=30
  rc=0
  cpu_now
  cpu0=$cpu
  timeout -k 30 $((fuzz_seconds + 120)) "$build/tests/fuzz/fuzz_$h" \
    -max_total_time="$fuzz_seconds" -timeout="$per_input" -rss_limit_mb=2048 \
    -max_len=65536 -print_final_stats=1 -artifact_prefix="$findings/$h-" "$corpus" \
    </dev/null >"$log" 2>&1 || rc=$?
  cpu_now
  # The last count is the fuzzer's own (the golden guard's children print theirs too).
  runs=$(awk '/stat::number_of_executed_units/ { n = $2 } END { print n }' "$log")
  if ((rc == 124 || rc == 137)); then
    echo "ci_sanitizers: fuzz_$h DID NOT STOP within $((fuzz_seconds + 120)) s and was killed; last output:"
    tail -40 "$log"
    status=1
  elif ((rc != 0)); then
    echo "ci_sanitizers: fuzz_$h FOUND A FAILURE (exit $rc):"
    tail -40 "$log"
    status=1
  fi
  # (slow-unit-* files are libFuzzer's notes on inputs that took over 10 s, not findings.)
  found=$(find "$findings" -maxdepth 1 -type f -regex ".*/$h-\(crash\|timeout\|oom\|leak\)-.*" | sort)
  if [[ -n $found ]]; then
    echo "ci_sanitizers: fuzz_$h left its input(s), to fix and then keep in tests/fuzz/regressions/$h/:"
    echo "$found" | sed 's/^/  /'
    status=1
  fi
  echo "ci_sanitizers: fuzz_$h ran ${runs:-?} inputs in ${fuzz_seconds} s ($((cpu - cpu0)) CPU s)"
done
echo "ci_sanitizers: fuzzing took $((SECONDS - fuzz_start)) s"
exit $status
