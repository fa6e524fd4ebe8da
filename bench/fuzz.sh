#!/usr/bin/env bash
# Fuzzes consentry's consent-cookie readers (src/consent/format/) with cargo-fuzz
# (libFuzzer), FUZZ_SECONDS seconds per target (default 180). Not part of CI.
#
#   bench/fuzz.sh                      # every target
#   bench/fuzz.sh tcf cookiebot        # some of them
#   FUZZ_SECONDS=600 bench/fuzz.sh
#
# Each target (fuzz/fuzz_targets/<format>.rs) reads its input as one consent-cookie
# value and checks that reading never panics, reads the same twice, and grants only
# configured categories. The corpus grows in fuzz/corpus/<target>/, starting from the
# real-shaped values in fuzz/seeds/<target>/; a crash leaves its input in
# fuzz/artifacts/<target>/ (replay: cargo +nightly fuzz run <target> <file>).
#
# cargo-fuzz needs a nightly toolchain; this script installs cargo-fuzz when it is
# missing. On a machine that cannot get either, it says so and exits 0 without fuzzing.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

all_targets=(json list cookieconsent klaro cookiebot onetrust govuk django-cookie-consent tcf)
seconds="${FUZZ_SECONDS:-180}"

say() { printf 'fuzz.sh: %s\n' "$*" >&2; }
skip() {
    say "NOT FUZZING: $*"
    say "fuzzing is optional (not part of CI); nothing was run."
    exit 0
}

if ! [[ "$seconds" =~ ^[1-9][0-9]*$ ]]; then
    say "FUZZ_SECONDS must be a positive number of seconds, not '$seconds'"
    exit 2
fi

targets=("${all_targets[@]}")
if (($# > 0)); then
    targets=("$@")
    for t in "${targets[@]}"; do
        if [[ " ${all_targets[*]} " != *" $t "* ]]; then
            say "unknown target '$t' (targets: ${all_targets[*]})"
            exit 2
        fi
    done
fi

# A nightly toolchain: libFuzzer's instrumentation needs -Z flags.
command -v rustup >/dev/null 2>&1 ||
    skip "rustup is not installed, and cargo-fuzz needs a nightly toolchain."
if ! rustup toolchain list | grep -q '^nightly'; then
    say "no nightly toolchain; trying: rustup toolchain install nightly --profile minimal"
    rustup toolchain install nightly --profile minimal ||
        skip "this machine has no nightly Rust toolchain and could not install one (offline?). Install it with 'rustup toolchain install nightly' and rerun."
fi

if ! command -v cargo-fuzz >/dev/null 2>&1; then
    say "cargo-fuzz is missing; installing it: cargo install cargo-fuzz"
    cargo install cargo-fuzz ||
        skip "cargo-fuzz is missing and 'cargo install cargo-fuzz' failed (offline?)."
fi

say "fuzzing ${#targets[@]} target(s) for ${seconds}s each"
failed=()
for t in "${targets[@]}"; do
    corpus=("fuzz/corpus/$t")
    mkdir -p "${corpus[0]}"
    [[ -d "fuzz/seeds/$t" ]] && corpus+=("fuzz/seeds/$t")
    say "== $t"
    # -a: debug assertions and overflow checks; -max_len: a little over the 4 KiB
    # that consentry reads at most, so the size check is exercised too.
    if ! cargo +nightly fuzz run -a "$t" "${corpus[@]}" -- \
        -max_total_time="$seconds" -max_len=4200 -timeout=10; then
        failed+=("$t")
    fi
done

if ((${#failed[@]} > 0)); then
    say "FAILED: ${failed[*]} (inputs in fuzz/artifacts/)"
    exit 1
fi
say "no failure in ${#targets[@]} target(s)"
