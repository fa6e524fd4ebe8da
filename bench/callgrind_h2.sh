#!/usr/bin/env bash
# Instructions per request over TLS, HTTP/2 against HTTP/1.1, consentry against
# nginx, under callgrind (repeatable whatever else the machine is doing): what HTTP/2
# costs each proxy on top of HTTP/1.1 for the same request, and where it goes.
#
#   KEEP_TMP=1 SKIP_BUILD=1 SKIP_MEMORY=1 SKIP_QUIET=1 SKIP_PROD=1 ROUNDS=1 DURATION=2s bench/load.sh
#   bench/callgrind_h2.sh /tmp/consentry-load.XXXXXX [/data.json]
#
# It runs the kept directory's TLS targets (consentry-tls.yaml and nginx-tls.conf: the
# same ECDSA certificate in front of the same upstream), one at a time, under
# `valgrind --tool=callgrind` on core PROXY_CPU (1); the upstream and the load
# generator run on LOAD_CPU (0). nginx runs as one process (`master_process off`).
# Each process serves, with instrumentation off for a warm-up (WARMUP_REQUESTS, 2000)
# and on for REQUESTS (20000):
#   h2    `h2load -cH2_CONNS -mH2_STREAMS` (8 connections, 10 streams in flight on each)
#   h1    `h2load --h1 -cH2_CONNS -m1`: HTTP/1.1 with keep-alive, one request at a time
#         per connection; the same client, cipher suite and handshakes as h2
#   wrk   `wrk -cCONNS` (8) for DURATION (5s) after 3 s of warm-up (PROTOS="h2 h1 wrk");
#         wrk negotiates AES-256-GCM where h2load takes AES-128-GCM, so its rows pay more
#         for the cipher, and its handshakes weigh more (fewer requests per connection)
# and the instructions counted are divided by the requests completed. They include the
# connections' TLS handshakes (about 1.2 M instructions each in consentry: a few
# hundred per request at these counts) and user space only.
#
# LOGS: off (default; consentry with RUST_LOG=warn, nginx with access_log off), on
# (consentry's default info access line, nginx-tls.conf's buffered access log), or
# "off on". TARGETS ("consentry nginx") and PROTOS ("h2 h1") choose what runs. COOKIE
# is the Cookie header of every request (default: the realistic one, preferences
# granting statistics, a session, a CSRF token, `_ga` and a revoked `_fbp`).
#
# Profiles stay in the load directory as cg-TARGET-LOGS-PROTO.out, for
# `callgrind_annotate --inclusive=yes`. The summary ends with each profile's
# instructions per request by component (self cost, by the crate of each instruction's
# source line; standard-library code inlined into a function counts for the
# function's crate) and the calls per request that show how often the proxy polls a
# task, allocates, seals a TLS record and makes a system call.
set -euo pipefail
DIR=${1:?usage: bench/callgrind_h2.sh KEPT_LOAD_DIR [PATH]}
DIR=$(cd "$DIR" && pwd)
URL_PATH=${2:-/data.json}
REQUESTS=${REQUESTS:-20000}
WARMUP_REQUESTS=${WARMUP_REQUESTS:-2000}
H2_CONNS=${H2_CONNS:-8}
H2_STREAMS=${H2_STREAMS:-10}
CONNS=${CONNS:-8}
DURATION=${DURATION:-5s}
LOGS=${LOGS:-off}
TARGETS=${TARGETS:-consentry nginx}
PROTOS=${PROTOS:-h2 h1}
PROXY_CPU=${PROXY_CPU:-1}
LOAD_CPU=${LOAD_CPU:-0}
HOST=portal.test
COOKIE=${COOKIE:-cookies_preferences=%7B%22statistics%22%3Atrue%7D; sessionid=8f2b1c9d0e7a4b3c6d5e; csrftoken=Yh3kL9pQ2rT5vW8x; _ga=GA1.2.1234567890.1700000000; _fbp=fb.1.1700000000000.1234567890}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SCRIPT=callgrind_h2.sh
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
require_tools nginx wrk h2load taskset curl ss python3 valgrind callgrind_control
require_cores
for f in consentry-tls.yaml nginx-tls.conf upstream.conf; do
    [[ -f $DIR/$f ]] || {
        echo "$SCRIPT: $DIR/$f is missing; make it with load.sh's TLS part (see the top of this script)" >&2
        exit 1
    }
done
CONSENTRY=${CONSENTRY:-$ROOT/target/release/consentry}
[[ -x $CONSENTRY ]] || { echo "$SCRIPT: $CONSENTRY not built" >&2; exit 1; }

PIDS=()
# Its own cleanup, not bench/lib.sh's: the load directory it was given stays.
cleanup() {
    local p
    for p in "${PIDS[@]}"; do stop "$p"; done
    rm -f "$DIR"/cg-raw.out*
}
trap cleanup EXIT
trap 'exit 130' INT TERM

CS_PORT=$(grep -o '^  https: 127.0.0.1:[0-9]*' "$DIR/consentry-tls.yaml" | cut -d: -f3)
NGX_PORT=$(grep -o 'listen 127.0.0.1:[0-9]* ssl' "$DIR/nginx-tls.conf" | cut -d: -f2 | cut -d' ' -f1)
UP_PORT=$(grep -o 'listen 127.0.0.1:[0-9]*' "$DIR/upstream.conf" | head -1 | cut -d: -f2)
# Only a listener is in the way: both servers bind with SO_REUSEADDR, past the
# connections an earlier run left in TIME_WAIT.
for p in "$CS_PORT" "$NGX_PORT" "$UP_PORT"; do
    if [[ -n $(ss -Htln "sport = :$p") ]]; then
        echo "$SCRIPT: port $p already has a listener (is load.sh still running?)" >&2
        exit 1
    fi
done

taskset -c "$LOAD_CPU" nginx -p "$DIR/upstream" -e "$DIR/upstream/error.log" -c "$DIR/upstream.conf" \
    >"$DIR/cg-upstream.log" 2>&1 &
PIDS+=("$!")
for _ in $(seq 100); do
    curl -s -o /dev/null -H "Host: $HOST" "http://127.0.0.1:$UP_PORT$URL_PATH" && break
    sleep 0.1
done

# nginx as one process (callgrind follows the process that serves), its access log
# as in nginx-tls.conf (on) or off.
sed 's/^daemon off;/daemon off;\nmaster_process off;/' "$DIR/nginx-tls.conf" >"$DIR/cg-nginx-on.conf"
sed 's|^\( *\)access_log .*/access.log tls .*;$|\1access_log off;|' "$DIR/cg-nginx-on.conf" >"$DIR/cg-nginx-off.conf"

# One load against the server on PORT: a warm-up or the measured run.
load() { # proto port warm-up|measure
    local proto=$1 port=$2 n=$REQUESTS d=$DURATION
    [[ $3 == measure ]] || n=$WARMUP_REQUESTS d=3s
    case $proto in
    h2 | h1)
        local mode=(-m"$H2_STREAMS")
        # HTTP/1.1: one request at a time on each connection (-m above 1 would pipeline).
        [[ $proto == h2 ]] || mode=(--h1 -m1)
        taskset -c "$LOAD_CPU" h2load -t1 -n"$n" -c"$H2_CONNS" "${mode[@]}" \
            --connect-to="127.0.0.1:$port" -H "cookie: $COOKIE" "https://$HOST:$port$URL_PATH"
        ;;
    wrk)
        taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d"$d" -H "Host: $HOST" -H "Cookie: $COOKIE" \
            "https://127.0.0.1:$port$URL_PATH"
        ;;
    esac
}

# Warms up the process under valgrind (pid VPID), counts one measured load, dumps the
# counts to cg-NAME.out and prints "REQUESTS INSTRUCTIONS". Any failed request stops
# the script: the run measured another exchange than the one asked for.
count() { # vpid name proto port
    local vpid=$1 name=$2 proto=$3 port=$4 out=$DIR/cg-$2.out result requests
    load "$proto" "$port" warm-up >"$DIR/cg-$name.warmup" 2>&1
    local before
    before=$(ls "$DIR"/cg-raw.out.* 2>/dev/null || true)
    callgrind_control -i on "$vpid" >/dev/null 2>&1
    result=$(load "$proto" "$port" measure 2>&1)
    callgrind_control -i off "$vpid" >/dev/null 2>&1
    callgrind_control -d "$vpid" >/dev/null 2>&1
    echo "$result" >"$DIR/cg-$name.load"
    local dump
    dump=$(comm -13 <(echo "$before" | sort) <(ls "$DIR"/cg-raw.out.* 2>/dev/null | sort) | tail -1)
    [[ -n $dump ]] || { echo "$SCRIPT: $name: callgrind wrote no dump" >&2; return 1; }
    mv "$dump" "$out"
    case $proto in
    h2 | h1)
        # requests: N total, N started, N done, N succeeded, N failed, N errored, N timeout
        if ! grep -q "^requests: .* $REQUESTS succeeded, 0 failed" <<<"$result" ||
            ! grep -q "^status codes: $REQUESTS 2xx" <<<"$result"; then
            echo "$SCRIPT: $name: failed requests; h2load said:" >&2
            echo "$result" >&2
            return 1
        fi
        requests=$REQUESTS
        ;;
    wrk)
        requests=$(awk '/requests in/ { print $1 }' <<<"$result")
        if grep -q 'Non-2xx\|Socket errors' <<<"$result"; then
            echo "$SCRIPT: $name: error answers; wrk said:" >&2
            echo "$result" >&2
            return 1
        fi
        ;;
    esac
    echo "$requests $(awk '/^totals:/ { print $2; exit }' "$out")"
}

# Starts TARGET under valgrind with its access log LOGS and measures each of PROTOS.
measure() { # target logs
    local target=$1 logs=$2 port cmd vpid proto
    rm -f "$DIR"/cg-raw.out*
    case $target in
    consentry)
        port=$CS_PORT
        local level=warn
        [[ $logs == off ]] || level=info
        # (env before valgrind: valgrind does not follow an `env` exec)
        cmd=(env RUST_LOG=$level valgrind --tool=callgrind --instr-atstart=no
            --callgrind-out-file="$DIR/cg-raw.out" "$CONSENTRY" --config "$DIR/consentry-tls.yaml")
        ;;
    nginx)
        port=$NGX_PORT
        cmd=(valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$DIR/cg-raw.out"
            nginx -p "$DIR/nginx-tls" -e "$DIR/nginx-tls/error.log" -c "$DIR/cg-nginx-$logs.conf")
        ;;
    *) echo "$SCRIPT: no target $target" >&2; exit 1 ;;
    esac
    taskset -c "$PROXY_CPU" "${cmd[@]}" >"$DIR/cg-$target-$logs.log" 2>&1 &
    vpid=$!
    PIDS+=("$vpid")
    for _ in $(seq 300); do
        curl -sk -o /dev/null --resolve "$HOST:$port:127.0.0.1" "https://$HOST:$port$URL_PATH" && break
        sleep 0.2
    done
    for proto in $PROTOS; do
        local name=$target-$logs-$proto requests total
        read -r requests total <<<"$(count "$vpid" "$name" "$proto" "$port")"
        [[ -n ${total:-} ]] || exit 1
        awk -v n="$name" -v r="$requests" -v t="$total" -v f="cg-$name.out" \
            'BEGIN { printf "%-18s %8d requests %14.0f instructions %9.0f instructions/request  (%s)\n", n, r, t, t / r, f }'
        echo "$name $requests $total" >>"$DIR/cg-h2.summary"
    done
    stop "$vpid"
    rm -f "$DIR"/cg-raw.out*
}

: >"$DIR/cg-h2.summary"
echo "== $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'): $URL_PATH over TLS, h2load -c$H2_CONNS" \
    "(h2: -m$H2_STREAMS, h1: --h1 -m1) -n$REQUESTS after $WARMUP_REQUESTS; wrk -c$CONNS -d$DURATION after 3s"
for logs in $LOGS; do
    for target in $TARGETS; do
        measure "$target" "$logs"
    done
done

echo
echo "== instructions per request: consentry / nginx, and HTTP/2 - HTTP/1.1 (h2load --h1)"
awk '{ v[$1] = $3 / $2 } END {
    for (k in v) {
        split(k, p, "-")
        c = "consentry-" p[2] "-" p[3]; n = "nginx-" p[2] "-" p[3]
        if (p[1] == "consentry" && n in v) printf "   consentry/nginx  logs %-3s %-3s  %.3f\n", p[2], p[3], v[c] / v[n]
        if (p[3] == "h2" && (p[1] "-" p[2] "-h1") in v)
            printf "   h2 - h1          %-9s logs %-3s  %+.0f\n", p[1], p[2], v[k] - v[p[1] "-" p[2] "-h1"]
    }
}' "$DIR/cg-h2.summary" | sort

echo
echo "== per request by component (self cost; see the top of this script) and calls per request"
# shellcheck disable=SC2046
python3 - $(awk -v d="$DIR" '{ print d "/cg-" $1 ".out", $2 }' "$DIR/cg-h2.summary") <<'EOF'
import collections, re, sys

def parse(path):
    """Self cost per (object, function, function's file, line's file); calls per callee."""
    names = collections.defaultdict(dict)
    table = {'ob': 'ob', 'cob': 'ob', 'fn': 'fn', 'cfn': 'fn'}
    cost, calls = collections.Counter(), collections.Counter()
    ob = fl = fn = cur = cfn = None
    in_call = False
    with open(path, errors='replace') as f:
        for line in f:
            c = line[:1]
            if c.isdigit() or c in '+-*':
                if in_call:
                    in_call = False
                else:
                    cost[(ob, fn, fl, cur)] += int(line.split()[1])
                continue
            key, eq, rest = line.rstrip('\n').partition('=')
            if not eq:
                continue
            if key == 'calls':
                calls[cfn] += int(rest.split()[0])
                in_call = True
                continue
            m = re.match(r'\((\d+)\)(?: (.*))?$', rest)
            t = table.get(key, 'fl')
            value = rest if not m else names[t].setdefault(m.group(1), m.group(2))
            if key == 'ob': ob = value
            elif key == 'fl': fl = cur = value
            elif key in ('fi', 'fe'): cur = value
            elif key == 'fn': fn, cur = value, fl
            elif key == 'cfn': cfn = value
    return cost, calls

def crate(path):
    m = re.search(r'/registry/src/[^/]+/([A-Za-z0-9_-]+?)-\d+\.\d+\.\d+[^/]*/(.*)', path or '')
    if m:
        name, rest = m.groups()
        if name == 'hyper':
            for part, label in (('src/proto/h2', 'hyper HTTP/2 glue'), ('src/proto/h1', 'hyper HTTP/1'), ('src/client', 'hyper HTTP/1')):
                if rest.startswith(part):
                    return label
            return 'hyper other'
        return {'tokio-util': 'h2', 'slab': 'h2', 'fnv': 'h2', 'indexmap': 'h2', 'mio': 'tokio', 'hyper-util': 'hyper other',
                'tokio-rustls': 'rustls'}.get(name, name)
    if path and '/rustc/' in path:
        return 'std'
    if path and path.startswith('/') and '/src/' in path:
        return 'consentry'
    return None

def group(ob, fn, fl, lf):
    ob = ob or ''
    if 'libc.so' in ob:
        if re.match(r'_*(mem|str)', fn): return 'libc memcpy/memmove/memcmp'
        if re.search(r'malloc|free|memalign|realloc|calloc|tcache|consolidate|unlink', fn): return 'libc malloc/free'
        return 'libc other'
    for lib in ('libssl', 'libcrypto'):
        if lib in ob: return 'openssl ' + lib
    if 'nginx' in ob: return 'nginx'
    c = crate(lf)
    if c in (None, 'std'):
        c = crate(fl) if crate(fl) not in (None, 'std') else (c or 'other')
    return c

COUNTED = [('task polls (tokio raw::poll)', r'^tokio::runtime::task::raw::poll$'),
           ('malloc + posix_memalign', r'^(malloc|posix_memalign)$'),
           ('memcpy', r'^__memcpy_\w+$'),
           ('TLS records sealed', r'MessageEncrypter>::encrypt$|^SSL_write$'),
           ('recv/read system calls', r'^(recv|read|recvfrom)$'),
           ('writev/write system calls', r'^(writev|write|send|sendto)$')]
args = sys.argv[1:]
runs = []
for path, requests in zip(args[0::2], args[1::2]):
    cost, calls = parse(path)
    by = collections.Counter()
    for key, ir in cost.items():
        by[group(*key)] += ir
    counted = {label: sum(n for fn, n in calls.items() if fn and re.search(p, fn)) for label, p in COUNTED}
    runs.append((re.sub(r'^.*/cg-|\.out$', '', path), int(requests), by, counted))
rows = sorted({k for _, _, by, _ in runs for k in by}, key=lambda k: -max(by.get(k, 0) / n for _, n, by, _ in runs))
print('%-28s' % 'component' + ''.join('%18s' % name for name, *_ in runs))
small = [0.0] * len(runs)
for k in rows:
    values = [by.get(k, 0) / n for _, n, by, _ in runs]
    if max(values) < 100:
        small = [s + v for s, v in zip(small, values)]
        continue
    print('%-28s' % k + ''.join('%18.0f' % v for v in values))
print('%-28s' % 'the rest (each < 100)' + ''.join('%18.0f' % v for v in small))
print('%-28s' % 'total' + ''.join('%18.0f' % (sum(by.values()) / n) for _, n, by, _ in runs))
print()
for label, _ in COUNTED:
    print('%-28s' % label + ''.join('%18.2f' % (counted[label] / n) for _, n, _, counted in runs))
EOF
