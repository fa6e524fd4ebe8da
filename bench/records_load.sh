#!/usr/bin/env bash
# The request path's CPU per request with consent records off and on, end to end:
# wrk against target/release/consentry in front of a one-line nginx upstream, every
# request carrying a JSON preferences cookie.
#
#   bench/records_load.sh            # DURATION=10s ROUNDS=3
#   TARGETS="off seen" ROUNDS=6 bench/records_load.sh
#
# Targets, in alternating rounds (PITFALLS.md: compare ratios within one run):
#   off        no `records` key
#   seen       records to SQLite, the same cookie on every request (the common case:
#              one lookup per request)
#   new_state  records to SQLite, a new consent state on every request (wrk script):
#              each builds a record and queues it; what the writer cannot keep up
#              with is dropped and counted (shown as dropped)
# consentry is pinned to core PROXY_CPU (1), wrk and nginx to LOAD_CPU (0).
# cpu_us/req = consentry's user+system CPU time over the run / requests answered.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10s}
ROUNDS=${ROUNDS:-3}
TARGETS=${TARGETS:-off seen new_state}
CONNS=${CONNS:-32}
PROXY_CPU=${PROXY_CPU:-1}
LOAD_CPU=${LOAD_CPU:-0}
BIN=${BIN:-target/release/consentry}
[ -x "$BIN" ] || cargo build --release --bin consentry

tmp=$(mktemp -d /tmp/consentry-records-load.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

up=$(free_port)
cat >"$tmp/nginx.conf" <<NGINX
daemon off; worker_processes 1; pid $tmp/nginx.pid; error_log $tmp/nginx.err;
events { worker_connections 1024; }
http { access_log off;
  server { listen 127.0.0.1:$up; keepalive_requests 1000000;
    location / { default_type text/plain; return 200 "ok"; } } }
NGINX
taskset -c "$LOAD_CPU" nginx -c "$tmp/nginx.conf" -p "$tmp" &
pids+=($!)

cat >"$tmp/new_state.lua" <<'LUA'
local n = 0
request = function()
  n = n + 1
  return wrk.format("GET", "/", {["Host"] = "portal.test",
    ["Cookie"] = "cookies_preferences=%7B%22statistics%22%3Atrue%2C%22n%22%3A" .. n .. "%7D"})
end
LUA

config() { # name records_yaml
  local port admin
  port=$(free_port); admin=$(free_port)
  cat >"$tmp/$1.yaml" <<YAML
listen: { http: 127.0.0.1:$port }
admin: { listen: 127.0.0.1:$admin }
categories:
  necessary: { required: true }
  statistics: {}
  third_party: { gpc: true }
cookies:
  - { name: _ga*, category: statistics }
sites:
  - { name: portal, hosts: [portal.test], upstream: "http://127.0.0.1:$up" }
$2
YAML
  echo "$port $admin"
}

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
cookie='cookies_preferences=%7B%22statistics%22%3Atrue%2C%22id%22%3A%220f1e2d3c4b5a6978%22%7D'

printf '%-6s %-10s %10s %9s %11s %9s\n' round target req/s p99_ms cpu_us/req dropped
for round in $(seq 1 "$ROUNDS"); do
  for target in $TARGETS; do
    rm -f "$tmp/records.db"*
    case $target in
      off) records="" ;;
      *) records="records: { store: \"sqlite:$tmp/records.db\" }" ;;
    esac
    read -r port admin < <(config "$target" "$records")
    RUST_LOG=warn taskset -c "$PROXY_CPU" "$BIN" --config "$tmp/$target.yaml" 2>"$tmp/$target.log" &
    pid=$!
    for _ in $(seq 100); do curl -sf "http://127.0.0.1:$admin/healthz" >/dev/null && break; sleep 0.05; done
    if [ "$target" = new_state ]; then args=(-s "$tmp/new_state.lua"); else args=(-H "Host: portal.test" -H "Cookie: $cookie"); fi
    taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d2s "${args[@]}" "http://127.0.0.1:$port/" >/dev/null
    before=$(cpu_ticks "$pid")
    out=$(taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d"$DURATION" --latency "${args[@]}" "http://127.0.0.1:$port/")
    after=$(cpu_ticks "$pid")
    requests=$(echo "$out" | awk '/requests in/ { print $1 }')
    rps=$(echo "$out" | awk '/Requests\/sec/ { print $2 }')
    p99=$(echo "$out" | awk '$1 == "99%" { v=$2; if (v ~ /us$/) { sub(/us/,"",v); v/=1000 } else if (v ~ /ms$/) { sub(/ms/,"",v) } else if (v ~ /s$/) { sub(/s/,"",v); v*=1000 } print v }')
    dropped=$(curl -s "http://127.0.0.1:$admin/metrics" | awk '/^consentry_records_dropped_total/ { s += $2 } END { print s + 0 }')
    cpu=$(awk -v t=$((after - before)) -v hz="$hz" -v n="$requests" 'BEGIN { printf "%.1f", t * 1e6 / hz / n }')
    printf '%-6s %-10s %10s %9s %11s %9s\n' "$round" "$target" "$rps" "$p99" "$cpu" "$dropped"
    kill "$pid"; wait "$pid" 2>/dev/null || true
  done
done
