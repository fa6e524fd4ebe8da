#!/usr/bin/env bash
# Instructions per page through the rewrite (benches/trackers.rs, TRACKERS_PAGES), under
# callgrind: the difference between 150 and 50 pages, over 100, so that configuration
# loading and start-up cancel out. Unlike time, the count does not move with what else
# the machine runs.
#
#   bench/trackers_callgrind.sh               # inj none five
#   CASES="none big" bench/trackers_callgrind.sh
#
# Cases: inj (trackers.block false: the injection alone), none (30 KB, no tracker),
# five (30 KB, the five most common trackers), rulesN (five, with N extra
# trackers.rules: rules10, rules100, rules1000), big (5 MB, no tracker; slow).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "valgrind is needed" >&2; exit 1; }
cargo bench --bench trackers --no-run 2>/dev/null
BIN=$(cargo bench --bench trackers --no-run 2>&1 | sed -n 's/.*Executable .*(\(.*\))$/\1/p' | tail -1)
count() { # case pages -> instructions
    TRACKERS_PAGES="$1:$2" valgrind --tool=callgrind --callgrind-out-file=/dev/null "$BIN" 2>&1 |
        sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
declare -A per
for c in ${CASES:-inj none five}; do
    lo=50 hi=150
    [[ $c == big ]] && lo=2 hi=4
    a=$(count "$c" $lo)
    b=$(count "$c" $hi)
    per[$c]=$(( (b - a) / (hi - lo) ))
    printf '%-10s %10d instructions/page\n' "$c" "${per[$c]}"
done
if [[ -n ${per[inj]:-} ]]; then
    for c in none five; do
        [[ -n ${per[$c]:-} ]] && awk -v a="${per[$c]}" -v b="${per[inj]}" -v c="$c" \
            'BEGIN { printf "%s/inj %.2f\n", c, a / b }'
    done
fi
