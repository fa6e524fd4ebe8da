#!/usr/bin/env bash
# Instructions per request with consent records off and on, under callgrind: unlike
# CPU time, repeatable to a fraction of a percent whatever else the machine does, so
# the on/off ratio is not lost in a busy machine's noise (issue: "within 3 %").
#
#   cargo build --release && bench/records_callgrind.sh
#
# An nginx upstream serves a 500 B JSON; consentry (the release binary) runs under
# valgrind with the shipped proxy.yaml's policy, once without `records` and once
# recording to SQLite in a temporary directory. Every request carries the realistic
# cookie header (a percent-encoded JSON preferences cookie, a session, a CSRF token,
# `_ga`, `_fbp`): the consent value is the same on every request, so after the first
# one the records path is the common one, a value seen before. wrk warms each up,
# then instrumentation runs for DURATION (5s) of `wrk -c4`; instructions / requests.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SCRIPT=records_callgrind.sh
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
DURATION=${DURATION:-5s}
for tool in valgrind callgrind_control callgrind_annotate nginx wrk curl python3; do
    command -v "$tool" >/dev/null || { echo "records_callgrind.sh: $tool is missing" >&2; exit 1; }
done
TMP=$(mktemp -d /tmp/consentry-records-cg.XXXXXX)
PIDS=()
# cleanup: bench/lib.sh.
trap cleanup EXIT

UP_PORT=$(pick_port)
PICKED+="$UP_PORT "
mkdir -p "$TMP/www" "$TMP/up"
printf '{"dataset":"street-trees","records":[%s{"id":7}]}\n' "$(for i in 1 2 3 4 5 6 7 8; do printf '{"id":%d,"species":"Quercus robur","height_m":12.5},' "$i"; done)" >"$TMP/www/data.json"
static_upstream_conf "$TMP/up" "$UP_PORT" "$TMP/www" 1024 >"$TMP/up.conf"
nginx -p "$TMP/up" -c "$TMP/up.conf" &
PIDS+=("$!")

COOKIE='cookies_preferences=%7B%22statistics%22%3Atrue%2C%22third_party%22%3Afalse%7D; sessionid=8f2b1c9d0e7a4b3c6d5e; csrftoken=Yh3kL9pQ2rT5vW8xZ1aB4cD7eF0gH3jK; _ga=GA1.2.1234567890.1700000000; _fbp=fb.1.1700000000000.1234567890'

config() { # port records-yaml
    awk '
        /^[A-Za-z_]+:/ { split($0, k, ":"); skip = (k[1] == "listen" || k[1] == "admin" || k[1] == "sites" || k[1] == "tls" || k[1] == "records") }
        !skip { print }
    ' "$ROOT/proxy.yaml"
    printf '\nlisten:\n  http: 127.0.0.1:%s\nsites:\n  - name: portal\n    hosts: [portal.test]\n    upstream: http://127.0.0.1:%s\n%s\n' "$1" "$UP_PORT" "$2"
}

measure() { # name records-yaml
    local name=$1 port out=$TMP/cg-$1.out
    port=$(pick_port)
    PICKED+="$port "
    config "$port" "$2" >"$TMP/$name.yaml"
    "$ROOT/target/release/consentry" check --config "$TMP/$name.yaml" >/dev/null
    RUST_LOG=warn valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$out" \
        "$ROOT/target/release/consentry" --config "$TMP/$name.yaml" >"$TMP/$name.log" 2>&1 &
    local vpid=$!
    PIDS+=("$vpid")
    local requests per file
    read -r requests per file <<<"$(callgrind_count "$vpid" "$out" "$port" /data.json 4 "$DURATION" \
        -H "Cookie: $COOKIE")"
    awk -v n="$name" -v r="$requests" -v t="$per" \
        'BEGIN { printf "%-12s %8d requests  %8.0f instructions/request\n", n, r, t }'
    echo "$name $per" >>"$TMP/summary"
}

: >"$TMP/summary"
measure records-off ""
measure records-on "records:
  store: sqlite:$TMP/records.db"
awk '{ v[$1] = $2 } END { printf "ratio records-on/records-off: %.4f\n", v["records-on"] / v["records-off"] }' "$TMP/summary"
