#!/usr/bin/env bash
# Memory after a burst: does consentry's RSS come back once a burst of connections
# closes? (Issue: "after a burst of 10,000 connections closes, RSS returns to within
# 2 MiB of its warm-up level within 30 s".)
#
#   cargo build --release && bench/burst.sh            # CONNS=10000 HOLD=5
#
# An nginx upstream serves a 500 B JSON. consentry (the release binary, shipped
# policy) is warmed up with wrk, then CONNS clients connect at once, each sends one
# request with the realistic cookie header and keeps its connection open HOLD
# seconds; then all close. RSS (VmRSS) is printed after warm-up, at the peak, and
# every second for 30 s after the burst closed.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CONNS=${CONNS:-10000}
HOLD=${HOLD:-5}
SCRIPT=burst.sh
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
require_tools nginx wrk curl python3
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
TMP=$(mktemp -d /tmp/consentry-burst.XXXXXX)
PIDS=()
# cleanup: bench/lib.sh.
trap cleanup EXIT

UP_PORT=$(pick_port)
PICKED+="$UP_PORT "
CS_PORT=$(pick_port)
PICKED+="$CS_PORT "
mkdir -p "$TMP/www" "$TMP/up"
printf '{"dataset":"street-trees","records":[{"id":1,"species":"Quercus robur"}]}\n' >"$TMP/www/data.json"
static_upstream_conf "$TMP/up" "$UP_PORT" "$TMP/www" 20000 "backlog=16384" >"$TMP/up.conf"
nginx -p "$TMP/up" -c "$TMP/up.conf" &
PIDS+=("$!")
awk '
    /^[A-Za-z_]+:/ { split($0, k, ":"); skip = (k[1] == "listen" || k[1] == "admin" || k[1] == "sites" || k[1] == "tls" || k[1] == "records") }
    !skip { print }
' "$ROOT/proxy.yaml" >"$TMP/consentry.yaml"
printf '\nlisten:\n  http: 127.0.0.1:%s\nlimits:\n  max_connections: %s\nsites:\n  - name: portal\n    hosts: [portal.test]\n    upstream: http://127.0.0.1:%s\n' \
    "$CS_PORT" "$((CONNS + 100))" "$UP_PORT" >>"$TMP/consentry.yaml"
RUST_LOG=warn ${MALLOC_ENV:-} "$ROOT/target/release/consentry" --config "$TMP/consentry.yaml" &
CS_PID=$!
PIDS+=("$CS_PID")
for _ in $(seq 100); do
    curl -s -o /dev/null -H 'Host: portal.test' "http://127.0.0.1:$CS_PORT/data.json" && break
    sleep 0.1
done
rss() { awk '$1 == "VmRSS:" { printf "%.1f", $2 / 1024 }' "/proc/$CS_PID/status"; }
COOKIE='cookies_preferences=%7B%22statistics%22%3Atrue%7D; sessionid=8f2b1c9d0e7a4b3c6d5e; csrftoken=Yh3kL9pQ2rT5vW8x; _ga=GA1.2.1234567890.1700000000; _fbp=fb.1.1700000000000.1234567890'
wrk -t1 -c32 -d5s -H 'Host: portal.test' -H "Cookie: $COOKIE" "http://127.0.0.1:$CS_PORT/data.json" >/dev/null
sleep 2
echo "after warm-up: RSS $(rss) MiB"

cat >"$TMP/burst.py" <<'PY'
import asyncio, sys
port, conns, hold, cookie = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
request = ("GET /data.json HTTP/1.1\r\nHost: portal.test\r\nCookie: %s\r\n\r\n" % cookie).encode()
async def one(gate):
    async with gate:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    length = int([l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")][0].split(b":")[1])
    await reader.readexactly(length)
    return writer
async def main():
    gate = asyncio.Semaphore(512)
    writers = await asyncio.gather(*(one(gate) for _ in range(conns)), return_exceptions=True)
    ok = [w for w in writers if not isinstance(w, BaseException)]
    print("open and answered: %d of %d" % (len(ok), conns), flush=True)
    await asyncio.sleep(hold)
    for w in ok:
        w.close()
asyncio.run(main())
PY
python3 "$TMP/burst.py" "$CS_PORT" "$CONNS" "$HOLD" "$COOKIE" &
BURST=$!
peak=0
while kill -0 "$BURST" 2>/dev/null; do
    now=$(rss)
    peak=$(awk -v a="$peak" -v b="$now" 'BEGIN { print (b > a ? b : a) }')
    sleep 0.5
done
wait "$BURST" || true
echo "peak during the burst: RSS $peak MiB"
printf 'after the burst closed, RSS (MiB) each second:'
for s in $(seq 30); do
    sleep 1
    printf ' %s' "$(rss)"
done
echo
