#!/usr/bin/env bash
# Instructions per request, consentry against nginx (and the bare hyper proxy of
# examples/, when built), under callgrind: unlike CPU time,
# repeatable to a fraction of a percent whatever else the machine is doing, so it
# shows what a code change did to the request path.
#
#   KEEP_TMP=1 SKIP_MEMORY=1 ROUNDS=1 DURATION=2s bench/load.sh   # makes the configs (and builds bare)
#   bench/callgrind.sh /tmp/consentry-load.XXXXXX [/page-raw.html]
#
# Each proxy runs under valgrind on core PROXY_CPU (1) with the upstream on LOAD_CPU (0);
# wrk warms it up, then instrumentation is switched on for DURATION (10s) of
# `wrk -c8` and the instruction count is divided by the requests wrk completed.
# Output files stay in the given directory (cg-consentry.out.*, cg-nginx.out.*, cg-bare.out.*)
# for `callgrind_annotate --inclusive=yes`. ONLY=consentry measures consentry alone (a
# quick look at a change; the ratios need all three). COOKIE='…' sends that Cookie
# header with every request (issue 16's realistic header: COOKIE=realistic). INJONLY=1
# also measures the injection-only proxy (trackers.block: false) and prints the ratio.

set -euo pipefail
DIR=${1:?usage: bench/callgrind.sh KEPT_LOAD_DIR [PATH]}
URL_PATH=${2:-/page-raw.html}
DURATION=${DURATION:-10s}
PROXY_CPU=${PROXY_CPU:-1}
LOAD_CPU=${LOAD_CPU:-0}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SCRIPT=callgrind.sh
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
COOKIE=${COOKIE:-}
if [[ $COOKIE == realistic ]]; then
    # A percent-encoded JSON preferences value granting statistics and refusing third
    # parties, a session, a CSRF token, `_ga` (granted) and `_fbp` (revoked: stripped
    # from the forwarded Cookie and expired in the response).
    COOKIE='cookies_preferences=%7B%22statistics%22%3Atrue%2C%22third_party%22%3Afalse%7D; sessionid=8f2b1c9d0e7a4b3c6d5e; csrftoken=Yh3kL9pQ2rT5vW8xZ1aB4cD7eF0gH3jK; _ga=GA1.2.1234567890.1700000000; _fbp=fb.1.1700000000000.1234567890'
fi
for tool in valgrind callgrind_control callgrind_annotate nginx wrk taskset curl; do
    command -v "$tool" >/dev/null || { echo "callgrind.sh: $tool is missing" >&2; exit 1; }
done

PIDS=()
# Its own cleanup, not bench/lib.sh's: the load directory it was given stays.
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

port_of() { grep -o 'listen 127.0.0.1:[0-9]*' "$1" | head -1 | cut -d: -f2; }
taskset -c "$LOAD_CPU" nginx -p "$DIR/upstream" -e "$DIR/upstream/error.log" -c "$DIR/upstream.conf" &
PIDS+=("$!")

measure() { # name port command...
    local name=$1 port=$2 out=$DIR/cg-$1.out
    shift 2
    rm -f "$out".*
    taskset -c "$PROXY_CPU" valgrind --tool=callgrind --instr-atstart=no \
        --callgrind-out-file="$out" "$@" >"$DIR/cg-$name.log" 2>&1 &
    local vpid=$!
    PIDS+=("$vpid")
    local requests per file
    read -r requests per file <<<"$(callgrind_count "$vpid" "$out" "$port" "$URL_PATH" 8 "$DURATION" \
        ${COOKIE:+-H "Cookie: $COOKIE"})"
    awk -v n="$name" -v p="$URL_PATH" -v r="$requests" -v t="$per" -v f="$file" \
        'BEGIN { printf "%-10s %-16s %8d requests  %8.0f instructions/request  (%s)\n", n, p, r, t, f }'
    echo "$name $per" >>"$DIR/callgrind.summary"
}

# Access lines off unless RUST_LOG says otherwise (RUST_LOG=info: the default log).
export RUST_LOG=${RUST_LOG:-warn} # (valgrind does not follow an `env` exec)
: >"$DIR/callgrind.summary"
measure consentry "$(grep -A1 '^listen:' "$DIR/consentry.yaml" | grep -o '[0-9]*$')" \
    "$ROOT/target/release/consentry" --config "$DIR/consentry.yaml"
# The same proxy with trackers.block: false (today's injection alone), for issue 15's
# budget: INJONLY=1 measures it too and prints the ratio.
if [[ -n ${INJONLY:-} ]]; then
    measure injonly "$(grep -A1 '^listen:' "$DIR/injonly.yaml" | grep -o '[0-9]*$')" \
        "$ROOT/target/release/consentry" --config "$DIR/injonly.yaml"
    awk '{ v[$1] = $2 } END { printf "ratio consentry/injonly: %.2f\n", v["consentry"] / v["injonly"] }' \
        "$DIR/callgrind.summary"
fi
if [[ ${ONLY:-} == consentry ]]; then
    exit 0
fi
sed 's/^daemon off;/daemon off;\nmaster_process off;/' "$DIR/nginx.conf" >"$DIR/nginx-single.conf"
measure nginx "$(port_of "$DIR/nginx.conf")" \
    nginx -p "$DIR/nginx" -e "$DIR/nginx/error.log" -c "$DIR/nginx-single.conf"
# The floor: hyper and tokio passing requests through with nothing else (examples/).
BARE=$ROOT/target/release/examples/bare_hyper_proxy
if [[ -x $BARE ]]; then
    BARE_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    measure bare "$BARE_PORT" "$BARE" "127.0.0.1:$BARE_PORT" "127.0.0.1:$(port_of "$DIR/upstream.conf")"
fi
awk '{ v[$1] = $2 } END {
    printf "ratio consentry/nginx: %.2f\n", v["consentry"] / v["nginx"]
    if ("bare" in v) printf "ratio bare/nginx: %.2f   consentry beyond bare: %d instructions/request\n", v["bare"] / v["nginx"], v["consentry"] - v["bare"]
}' "$DIR/callgrind.summary"
