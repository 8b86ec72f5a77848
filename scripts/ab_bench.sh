#!/usr/bin/env bash
# A/B timing of two ssmkit builds on one machine: `ssmkit bench` with each binary in turn,
# ROUNDS times (default 2), so that both see the same clocks, temperature and neighbours;
# then `ssmkit bench-compare` (of the new binary) for each round. A change is real when
# every round gives it the same verdict. JSON files and logs go to $OUT (default out/ab).
#   scripts/ab_bench.sh OLD_SSMKIT NEW_SSMKIT [-- ssmkit bench arguments, no --json]
set -uo pipefail
usage() {
  echo "usage: scripts/ab_bench.sh OLD_SSMKIT NEW_SSMKIT [-- ssmkit bench arguments]" >&2
  exit 2
}
(($# >= 2)) || usage
old=$1 new=$2
shift 2
[ "${1:-}" = "--" ] && shift
for bin in "$old" "$new"; do
  [ -f "$bin" ] && [ -x "$bin" ] || { echo "ab_bench: $bin is not an executable file" >&2; exit 2; }
done
for arg in "$@"; do
  case $arg in
    --json | --json=* | --list)
      echo "ab_bench: $arg: the script writes the JSON files itself (in \$OUT); drop it" >&2
      exit 2 ;;
  esac
done
ROUNDS=${ROUNDS:-2}
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || { echo "ab_bench: ROUNDS=$ROUNDS (expected a positive integer)" >&2; exit 2; }
OUT=${OUT:-out/ab}
mkdir -p "$OUT" || exit 2
for ((r = 1; r <= ROUNDS; r++)); do
  for side in old new; do
    bin=$old
    [ "$side" = new ] && bin=$new
    json="$OUT/${side}_$r.json"
    rm -f "$json"  # an earlier run's file must not stand in for this one's
    if ! "$bin" bench --json "$json" "$@" > "$OUT/${side}_$r.log" 2>&1 || [ ! -s "$json" ]; then
      echo "ab_bench: round $r, $side binary: ssmkit bench failed or wrote no JSON; see $OUT/${side}_$r.log" >&2
      tail -3 "$OUT/${side}_$r.log" >&2
      exit 1
    fi
  done
done
status=0
for ((r = 1; r <= ROUNDS; r++)); do
  echo "== round $r (old: $old, new: $new)"
  "$new" bench-compare "$OUT/old_$r.json" "$OUT/new_$r.json" | sed -n '/^| row/,$p' || status=1
done
exit $status
