#!/usr/bin/env bash
# Scale: how consentry's CPU per request and memory grow with the size of its
# configuration, the requests' cookies and the number of open connections, in one run.
#
#   bench/scale.sh                                # DURATION=5s, all rows (< 10 min)
#   SKIP_BUILD=1 DURATION=1s bench/scale.sh       # a quick smoke run
#   CONSENTRY=/path/to/consentry bench/scale.sh   # a given binary (no build)
#   SITES="1 1000" ONLY="sites" bench/scale.sh    # some rows only
#
# Rows (each configuration is a fresh consentry process, pinned to PROXY_CPU, its
# config first validated with `consentry check`; wrk -t1 -c$CONNS for WARMUP, then
# for DURATION, pinned to LOAD_CPU with the upstream):
#   sites        SITES (1 100 10000) generated sites, shipped rules; requests go to
#                the LAST site's host (site-<N-1>.scale.test), no Cookie header;
#                /data.json and /page.html. Also: check time, time to first answer,
#                CPU spent loading, RSS at start.
#   rules        RULES (10 1000) generated cookie rules replacing the shipped ones:
#                exact names and globs alternating, all sharing a first byte with
#                the cookies sent (the matcher's worst case), then `sessionid`
#                (exact) and `scale_late_*` (glob) last. /cookies.json (500 B, 4
#                Set-Cookie lines: a late exact hit, a last-glob hit, two misses)
#                with a Cookie header of the same kinds.
#   cookies      COOKIE_COUNTS (0 5 30) cookies in the request's Cookie header (the
#                preferences cookie granting statistics, then necessary, statistics,
#                first-party, third-party and unclassified ones: the refused ones are
#                stripped and the classified refused ones expired), /data.json,
#                shipped rules.
#   connections  IDLE (100 10000) idle keep-alive connections, each having made one
#                /data.json request: (RSS with N - RSS with none) / N, and the CPU
#                the process uses per second while they sit idle; the same for a
#                one-process nginx proxy_pass (master_process off) when NGINX_IDLE=1.
#
# Environment: DURATION (5s) and WARMUP (1s) (whole seconds or minutes, as wrk takes
# them), CONNS (32), PROXY_CPU (1), LOAD_CPU (0), SITES, RULES, COOKIE_COUNTS, IDLE
# (the lists above), ONLY (a space-separated subset of "sites rules cookies
# connections"), NGINX_IDLE (1), HOLD (2: seconds idle connections are watched for
# CPU), READY_TIMEOUT (600 s for a process to answer), MEM_PER_SITE_KB (1024: a site
# row is skipped when MemAvailable is below this per site plus 512 MiB; each site
# held about 815 KiB at 3a4a6e5, so 10,000 sites need 8 GB), CONSENTRY (binary; default $ROOT/target/release/consentry,
# built first unless SKIP_BUILD=1 or CONSENTRY is given), KEEP_TMP=1 (keep the temp
# dir). Consent records are off in every configuration (bench/records_load.sh
# measures them). See "Scale" in bench/README.md for how to read the table.

set -euo pipefail

DURATION=${DURATION:-5s}
WARMUP=${WARMUP:-1s}
CONNS=${CONNS:-32}
PROXY_CPU=${PROXY_CPU:-1}
LOAD_CPU=${LOAD_CPU:-0}
SITES=${SITES:-1 100 10000}
RULES=${RULES:-10 1000}
COOKIE_COUNTS=${COOKIE_COUNTS:-0 5 30}
IDLE=${IDLE:-100 10000}
ONLY=${ONLY:-sites rules cookies connections}
NGINX_IDLE=${NGINX_IDLE:-1}
HOLD=${HOLD:-2}
READY_TIMEOUT=${READY_TIMEOUT:-600}
MEM_PER_SITE_KB=${MEM_PER_SITE_KB:-1024}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STARTED=$(date +%s)

# ---------------------------------------------------------------- prerequisites
SCRIPT=scale.sh
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
require_tools nginx wrk taskset curl python3 getconf ss
require_cores
NCPU=$(getconf _NPROCESSORS_ONLN)
CLK_TCK=$(getconf CLK_TCK)
wants() { [[ " $ONLY " == *" $1 "* ]]; }

if [[ -n ${CONSENTRY:-} ]]; then
    : # a given binary is used as it is
elif [[ ${SKIP_BUILD:-0} != 1 ]]; then
    echo "== cargo build --release --bin consentry" >&2
    (cd "$ROOT" && cargo build --release --bin consentry)
fi
CONSENTRY=${CONSENTRY:-$ROOT/target/release/consentry}
[[ -x $CONSENTRY ]] || { echo "scale.sh: $CONSENTRY is not an executable (build it, or set CONSENTRY)" >&2; exit 1; }

# Every idle connection is a descriptor in the client and in the proxy (which inherit
# this shell's limit): raise the soft limit to the hard one, and leave out the
# connection counts that still do not fit.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
NOFILE=$(ulimit -n)
if [[ $NOFILE == unlimited ]]; then NOFILE=1048576; fi

# ---------------------------------------------------------------- temp dir, cleanup
TMP=$(mktemp -d /tmp/consentry-scale.XXXXXX)
chmod 755 "$TMP"
PIDS=()
# stop PID and cleanup: bench/lib.sh.
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- ports
# pick_port (bench/lib.sh) runs in a subshell: each caller adds its port to PICKED.

# ---------------------------------------------------------------- content
# /data.json (~500 B), /cookies.json (the same with 4 Set-Cookie lines for the rules
# rows), /page.html (30 KB of HTML with 4 Set-Cookie lines).
WWW=$TMP/www
mkdir -p "$WWW"
data_json >"$WWW/data.json"
cp "$WWW/data.json" "$WWW/cookies.json"
{
    printf '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>Open data portal</title>'
    printf '<link rel="stylesheet" href="/static/app.css"><script src="/static/app.js" defer></script></head>\n'
    printf '<body class="portal"><header><nav><a href="/">Home</a> <a href="/explore/">Datasets</a></nav></header><main>\n'
    for i in $(seq 0 139); do
        printf '<div class="card" data-id="%d"><h2><a href="/explore/dataset/ds-%d/">Dataset %d: street trees &amp; parks</a></h2>' "$i" "$i" "$i"
        printf '<p>Records of the city'"'"'s <em>public</em> assets, updated daily. Licence: <strong>ODbL</strong>.</p></div>\n'
    done
    printf '</main><footer>Powered by the portal</footer></body></html>\n'
} >"$WWW/page.html"

# Set-Cookie lines: for the page, 2 necessary, 1 statistics, 1 third-party (with no
# consent, 2 pass); for /cookies.json, one per kind of rule lookup in the rules rows.
PAGE_COOKIES=(
    'sessionid=8f2b1c9d0e7a4b3c6d5e; HttpOnly; Path=/; SameSite=Lax'
    'csrftoken=Yh3kL9pQ2rT5vW8xZ1aB4cD7eF0gH3jK; Path=/; Max-Age=31449600; SameSite=Lax'
    '_ga=GA1.2.1234567890.1700000000; Path=/; Max-Age=63072000'
    '_fbp=fb.1.1700000000000.1234567890; Path=/; Max-Age=7776000'
)
RULES_COOKIES=(
    'sessionid=8f2b1c9d0e7a4b3c6d5e; HttpOnly; Path=/'   # exact, next-to-last rule: kept
    'scale_late_a=1; Path=/'                            # the last rule, a glob: refused
    'scale_none_b=1; Path=/'                            # no rule: unclassified, removed
    'scale_none_c=1; Path=/'
)
add_headers() { local line; for line in "$@"; do printf '            add_header Set-Cookie "%s" always;\n' "$line"; done; }

# ---------------------------------------------------------------- upstream nginx
if [[ $(id -u) == 0 ]]; then NGINX_USER="user root;"; else NGINX_USER=""; fi
nginx_head() { # dir [extra main-context lines]
    mkdir -p "$1"
    cat <<EOF
$NGINX_USER
worker_processes 1;
daemon off;
pid $1/nginx.pid;
error_log $1/error.log warn;
$2
EOF
}
nginx_http() { # dir
    cat <<EOF
    access_log off;
    client_body_temp_path $1/client_body;
    proxy_temp_path $1/proxy;
    fastcgi_temp_path $1/fastcgi;
    uwsgi_temp_path $1/uwsgi;
    scgi_temp_path $1/scgi;
    keepalive_requests 1000000;
    keepalive_timeout 600s;
EOF
}
UP_PORT=$(pick_port)
PICKED+="$UP_PORT "
{
    nginx_head "$TMP/upstream" "events { worker_connections 4096; }"
    cat <<EOF
http {
$(nginx_http "$TMP/upstream")
    types { text/html html; application/json json; }
    default_type application/octet-stream;
    server {
        listen 127.0.0.1:$UP_PORT backlog=4096;
        root $WWW;
        location = /page.html {
$(add_headers "${PAGE_COOKIES[@]}")
        }
        location = /cookies.json {
$(add_headers "${RULES_COOKIES[@]}")
        }
    }
}
EOF
} >"$TMP/upstream.conf"
taskset -c "$LOAD_CPU" nginx -p "$TMP/upstream" -e "$TMP/upstream/error.log" -c "$TMP/upstream.conf" \
    >"$TMP/upstream.out" 2>&1 &
PIDS+=("$!")
for _ in $(seq 100); do
    [[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$UP_PORT/data.json" || true) == 200 ]] && break
    sleep 0.1
done
[[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$UP_PORT/data.json" || true) == 200 ]] ||
    { echo "scale.sh: the upstream nginx does not answer:" >&2; cat "$TMP/upstream.out" "$TMP/upstream/error.log" >&2; exit 1; }

# ---------------------------------------------------------------- consentry configs
# The shipped proxy.yaml's consent, categories, policy (and rules, unless replaced),
# with our own listener and sites, no admin listener, TLS or consent records.
base_config() { # drop-cookies(0|1)
    awk -v drop="$1" '
        /^[A-Za-z_]+:/ { split($0, k, ":"); skip = (k[1] == "listen" || k[1] == "admin" || k[1] == "sites" ||
            k[1] == "tls" || k[1] == "records" || k[1] == "limits" || k[1] == "timeouts" || (drop && k[1] == "cookies")) }
        !skip { print }
    ' "$ROOT/proxy.yaml"
}
# listen + timeouts (a short shutdown grace, and an idle timeout the connection rows
# cannot outlive) + limits (room for the idle connections).
common_tail() { # port
    local max_idle=0 n
    for n in $IDLE; do ((n > max_idle)) && max_idle=$n; done
    printf '\nlisten:\n  http: 127.0.0.1:%s\n' "$1"
    printf 'timeouts:\n  idle: 600s\n  shutdown_grace: 2s\n'
    printf 'limits:\n  max_connections: %s\n' "$((max_idle > 10000 ? max_idle + 100 : 10100))"
}
sites_yaml() { # count: site0 .. site<count-1>, hosts site-<i>.scale.test
    printf 'sites:\n'
    awk -v n="$1" -v up="$UP_PORT" 'BEGIN {
        for (i = 0; i < n; i++)
            printf "  - name: site%d\n    hosts: [site-%d.scale.test]\n    upstream: http://127.0.0.1:%s\n", i, i, up
    }'
}
rules_yaml() { # count: count-2 generated rules, then sessionid, then scale_late_*
    printf 'cookies:\n'
    awk -v n="$1" 'BEGIN {
        split("statistics first_party third_party", cat, " ")
        for (i = 0; i < n - 2; i++) {
            if (i % 2 == 0) printf "  - name: scale_rule_%d\n", i
            else            printf "  - name: scale_glob_%d_*\n", i
            printf "    category: %s\n    provider: Scale bench\n", cat[i % 3 + 1]
        }
        printf "  - name: sessionid\n    category: necessary\n    provider: Opendatasoft\n"
        printf "  - name: scale_late_*\n    category: statistics\n    provider: Scale bench\n"
    }'
}

# ---------------------------------------------------------------- cookie headers
# The preferences cookie grants statistics: necessary and statistics cookies pass;
# first-party, third-party and unclassified ones are stripped from the request, and
# the classified ones among them expired in the response.
PREFS='cookies_preferences=%7B%22statistics%22%3Atrue%7D'
COOKIES_5=("$PREFS" sessionid=8f2b1c9d0e7a4b3c6d5e csrftoken=Yh3kL9pQ2rT5vW8x
    _ga=GA1.2.1234567890.1700000000 _fbp=fb.1.1700000000000.1234567890)
COOKIES_30=("$PREFS"
    # necessary (3)
    sessionid=8f2b1c9d0e7a4b3c6d5e csrftoken=Yh3kL9pQ2rT5vW8x django_language=en
    # statistics, granted (11)
    _ga=GA1.2.1234567890.1700000000 _ga_BENCH1=GS1.1.1700000000.1.1.1700000100.0.0.0
    _gid=GA1.2.987654321.1700000000 _gat_UA1=1 _pk_id.1.a1b2=0123456789abcdef.1700000000.
    _pk_ses.1.a1b2=1 _pk_ref.1.a1b2=%5B%22%22%2C%22%22%5D _hjSessionUser_123=eyJpZCI6IjEifQ
    _hjSession_123=eyJpZCI6IjIifQ _clck=1a2b3c%7C2%7Cf1 _clsk=4d5e6f%7C1700000000000%7C1
    # first party, refused (2)
    ods_last_dataset=street-trees ods_theme=dark
    # third party, refused (9)
    _fbp=fb.1.1700000000000.1234567890 _fbc=fb.1.1700000000000.AbCdEf _gcl_au=1.1.123.456
    IDE=AHWqTUm3x9yZ0aB1cD2eF3gH4 YSC=abcDEF123 VISITOR_INFO1_LIVE=xyz789 _uetsid=0a1b2c
    _uetvid=3d4e5f li_gc=MTsyMTsxNzAwMDAwMDAwOzI7
    # unclassified (4)
    ab_test_bucket=B AWSALB=Zm9vYmFyYmF6cXV4 AWSALBCORS=Zm9vYmFyYmF6cXV4 intercom-id-abc=1f2e3d)
RULES_COOKIE="cookies_preferences=%7B%22statistics%22%3Afalse%7D; sessionid=8f2b1c9d0e7a4b3c6d5e; scale_late_x=1; scale_none_y=1"
cookie_header() { # count -> the Cookie header value (empty for 0)
    case $1 in
    0) echo "" ;;
    5 | 30)
        local -n list="COOKIES_$1"
        ((${#list[@]} == $1)) || { echo "scale.sh: COOKIES_$1 has ${#list[@]} cookies" >&2; exit 1; }
        local joined
        printf -v joined '%s; ' "${list[@]}"
        echo "${joined%; }"
        ;;
    *) echo "scale.sh: no cookie header defined for $1 cookies (0, 5, 30)" >&2; exit 1 ;;
    esac
}

# ---------------------------------------------------------------- measuring helpers
cpu_ticks() { # pid: utime + stime, all threads
    local line f
    line=$(cat "/proc/$1/stat")
    read -ra f <<<"${line##*) }"
    echo $((f[11] + f[12]))
}
rss_kb() { awk '$1 == "VmRSS:" { print $2 }' "/proc/$1/status"; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
now_ns() { date +%s%N; }
secs_since() { awk -v a="$1" -v b="$(now_ns)" 'BEGIN { printf "%.2f", (b - a) / 1e9 }'; }

TABLE=$TMP/table
: >"$TABLE"
row() { # dimension value request rps cpu rss notes
    printf '%-12s %-6s %-26s %9s %11s %8s  %s\n' "$@" | tee -a "$TABLE"
}

# check_config file -> CHECK_S (wall seconds of `consentry check`)
check_config() {
    local t0
    t0=$(now_ns)
    if ! "$CONSENTRY" check --config "$1" >"$1.check" 2>&1; then
        echo "scale.sh: consentry check rejects $1:" >&2
        head -20 "$1.check" >&2
        exit 1
    fi
    CHECK_S=$(secs_since "$t0")
}

# start_consentry config port host -> CS_PID, READY_S (start to first 200 answer),
# LOAD_CPU_S (CPU used by then), START_RSS_KB
start_consentry() {
    local config=$1 port=$2 host=$3 t0 code=000
    t0=$(now_ns)
    taskset -c "$PROXY_CPU" env RUST_LOG=warn "$CONSENTRY" --config "$config" >"$config.out" 2>&1 &
    CS_PID=$!
    PIDS+=("$CS_PID")
    local deadline=$(($(date +%s) + READY_TIMEOUT))
    while (($(date +%s) < deadline)); do
        kill -0 "$CS_PID" 2>/dev/null || break
        code=$(curl -s -o /dev/null -w '%{http_code}' -H "Host: $host" "http://127.0.0.1:$port/data.json" || true)
        [[ $code == 200 ]] && break
        sleep 0.05
    done
    if [[ $code != 200 ]]; then
        echo "scale.sh: consentry ($config) did not answer 200 for Host: $host (last: $code); its output:" >&2
        tail -20 "$config.out" >&2
        exit 1
    fi
    READY_S=$(secs_since "$t0")
    LOAD_CPU_S=$(awk -v t="$(cpu_ticks "$CS_PID")" -v hz="$CLK_TCK" 'BEGIN { printf "%.2f", t / hz }')
    START_RSS_KB=$(rss_kb "$CS_PID")
}

# run_wrk port host path cookie duration -> "rps requests errors ticks" (ticks: CS_PID's)
run_wrk() {
    local port=$1 host=$2 path=$3 cookie=$4 dur=$5 out=$TMP/wrk.out before after
    before=$(cpu_ticks "$CS_PID")
    taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d"$dur" -H "Host: $host" ${cookie:+-H "Cookie: $cookie"} \
        "http://127.0.0.1:$port$path" >"$out" 2>&1 || true
    after=$(cpu_ticks "$CS_PID")
    local rps reqs errs secs
    rps=$(awk '/^Requests\/sec:/ { print $2 }' "$out")
    reqs=$(awk '/requests in/ { print $1 }' "$out")
    secs=$(to_s "$(awk '/requests in/ { sub(/,$/, "", $4); print $4 }' "$out")")
    errs=$(awk '/Non-2xx/ { n += $NF } /Socket errors/ { gsub(/,/, ""); n += $4 + $6 + $8 + $10 } END { print n + 0 }' "$out")
    if [[ -z $rps || -z $reqs || $reqs == 0 ]]; then
        echo "scale.sh: wrk against $host$path failed:" >&2
        cat "$out" >&2
        exit 1
    fi
    echo "$rps $reqs $errs $((after - before)) $secs"
}
to_s() { # wrk duration (1.00s, 1.00m, 500.00ms) -> seconds
    awk -v v="$1" 'BEGIN {
        if (v ~ /ms$/) { sub(/ms$/, "", v); print v / 1000 }
        else if (v ~ /m$/) { sub(/m$/, "", v); print v * 60 }
        else { sub(/s$/, "", v); print v + 0 } }'
}

# sanity port host path cookie -> "status, N Set-Cookie (M expiring)": what one
# request gets, so each row shows it did what it claims (421 = routing missed)
sanity() {
    local h=$TMP/sanity.h code
    code=$(curl -s -D "$h" -o /dev/null -w '%{http_code}' -H "Host: $2" ${4:+-H "Cookie: $4"} "http://127.0.0.1:$1$3" || true)
    if [[ $code != 200 ]]; then
        echo "scale.sh: $2$3 answered $code" >&2
        exit 1
    fi
    printf '%s Set-Cookie (%s expiring)' "$(grep -ci '^set-cookie:' "$h" || true)" \
        "$(grep -i '^set-cookie:' "$h" | grep -ci 'max-age=0' || true)"
}

# measure dimension value port host path cookie notes: warm-up, measured run, one row
measure() {
    local dim=$1 value=$2 port=$3 host=$4 path=$5 cookie=$6 notes=$7 check
    check=$(sanity "$port" "$host" "$path" "$cookie")
    run_wrk "$port" "$host" "$path" "$cookie" "$WARMUP" >/dev/null
    local result cpu rss busy
    result=$(run_wrk "$port" "$host" "$path" "$cookie" "$DURATION") # (a failure stops here: set -e)
    read -r rps reqs errs ticks secs <<<"$result"
    cpu=$(awk -v t="$ticks" -v r="$reqs" -v hz="$CLK_TCK" 'BEGIN { printf "%.1f", t / hz * 1e6 / r }')
    # How much of its core consentry used: well under 100 % means it waited on
    # something else (wrk, the upstream, a neighbour on its core), so req/s says
    # little about consentry and cpu_us/req is the number to read.
    busy=$(awk -v t="$ticks" -v s="$secs" -v hz="$CLK_TCK" 'BEGIN { printf "%.0f", (s > 0 ? t / hz / s * 100 : 0) }')
    rss=$(mib "$(rss_kb "$CS_PID")")
    ((errs == 0)) || notes+="; $errs ERRORS"
    row "$dim" "$value" "$path" "$(printf '%.0f' "$rps")" "$cpu" "$rss" "busy $busy%; $check; $notes"
}

mem_available_kb() { awk '$1 == "MemAvailable:" { print $2 }' /proc/meminfo; }

# ---------------------------------------------------------------- header
echo "== $(date -u +%FT%TZ) $(uname -srm), $NCPU cores, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), $(nginx -v 2>&1 | sed 's/.*: //'), consentry $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet 2>/dev/null || echo '+dirty')"
echo "== binary $CONSENTRY ($("$CONSENTRY" --version 2>/dev/null), built $(date -u -r "$CONSENTRY" +%FT%TZ))"
echo "== wrk -t1 -c$CONNS, $WARMUP warm-up + $DURATION measured per row; consentry on core $PROXY_CPU, wrk + upstream on core $LOAD_CPU; CLK_TCK=$CLK_TCK; load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== cpu_us/req = consentry's utime+stime over the measured run / requests; RSS = VmRSS after it"
echo
printf '%-12s %-6s %-26s %9s %11s %8s  %s\n' dimension value request req/s cpu_us/req RSS_MiB notes

# ---------------------------------------------------------------- sites
if wants sites; then
    base_config 0 >"$TMP/base.yaml"
    for n in $SITES; do
        need=$((n * MEM_PER_SITE_KB + 524288))
        if (($(mem_available_kb) < need)); then
            row sites "$n" - - - - "skipped: needs ~$((need / 1024)) MiB, MemAvailable $(($(mem_available_kb) / 1024)) MiB"
            continue
        fi
        port=$(pick_port)
        PICKED+="$port "
        host="site-$((n - 1)).scale.test"
        config=$TMP/sites-$n.yaml
        { cat "$TMP/base.yaml"; common_tail "$port"; sites_yaml "$n"; } >"$config"
        check_config "$config"
        start_consentry "$config" "$port" "$host"
        load="host $host; check ${CHECK_S}s, first answer ${READY_S}s (${LOAD_CPU_S}s CPU), RSS at start $(mib "$START_RSS_KB") MiB"
        # What each site beyond the first row's adds to the RSS at start.
        if [[ -z ${FIRST_SITES:-} ]]; then
            FIRST_SITES=$n FIRST_SITES_KB=$START_RSS_KB
        elif ((n != FIRST_SITES)); then
            load+=" ($(awk -v a="$START_RSS_KB" -v b="$FIRST_SITES_KB" -v n="$n" -v m="$FIRST_SITES" \
                'BEGIN { printf "%+.0f", (a - b) / (n - m) }') KiB/site over the $FIRST_SITES-site row)"
        fi
        measure sites "$n" "$port" "$host" /data.json "" "$load"
        measure sites "$n" "$port" "$host" /page.html "" "host $host"
        stop "$CS_PID"
    done
fi

# ---------------------------------------------------------------- rules
if wants rules; then
    base_config 1 >"$TMP/base-norules.yaml"
    host=site-0.scale.test
    for n in $RULES; do
        ((n >= 2)) || { echo "scale.sh: RULES entries must be at least 2" >&2; exit 1; }
        port=$(pick_port)
        PICKED+="$port "
        config=$TMP/rules-$n.yaml
        { cat "$TMP/base-norules.yaml"; common_tail "$port"; sites_yaml 1; rules_yaml "$n"; } >"$config"
        check_config "$config"
        start_consentry "$config" "$port" "$host"
        measure rules "$n" "$port" "$host" /cookies.json "$RULES_COOKIE" \
            "4 Set-Cookie in, 4 cookies sent; check ${CHECK_S}s, RSS at start $(mib "$START_RSS_KB") MiB"
        stop "$CS_PID"
    done
fi

# ---------------------------------------------------------------- cookies per request
if wants cookies; then
    [[ -f $TMP/base.yaml ]] || base_config 0 >"$TMP/base.yaml"
    host=site-0.scale.test
    for n in $COOKIE_COUNTS; do
        cookie=$(cookie_header "$n")
        port=$(pick_port)
        PICKED+="$port "
        config=$TMP/cookies-$n.yaml
        { cat "$TMP/base.yaml"; common_tail "$port"; sites_yaml 1; } >"$config"
        check_config "$config"
        start_consentry "$config" "$port" "$host"
        measure cookies "$n" "$port" "$host" /data.json "$cookie" "Cookie header $(printf %s "$cookie" | wc -c) B"
        stop "$CS_PID"
    done
fi

# ---------------------------------------------------------------- idle connections
cat >"$TMP/idle.py" <<'PY'
# idle.py PID PORT HOST PATH SETTLE HOLD N...: opens connections to PORT one by one,
# each sending one request and reading the whole answer, then leaves them open. At 0
# and at each N: after SETTLE s, PID's VmRSS (kB), then its CPU ticks over HOLD s.
# Prints "N rss_kb ticks seconds" per step.
import os, socket, sys, time
pid, port, host, path = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
settle, hold = float(sys.argv[5]), float(sys.argv[6])
counts = [int(x) for x in sys.argv[7:]]
request = ("GET %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (path, host)).encode()

def rss_kb():
    with open("/proc/%s/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])

def ticks():
    with open("/proc/%s/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])

def sample(n):
    time.sleep(settle)
    rss = rss_kb()
    t0, c0 = time.monotonic(), ticks()
    time.sleep(hold)
    print(n, rss, ticks() - c0, "%.3f" % (time.monotonic() - t0), flush=True)

def one():
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    s.sendall(request)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        if not chunk:
            raise ConnectionError("closed before the response headers")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    if lines[0].split()[1] != b"200":
        raise ConnectionError("answered %r" % lines[0])
    length = 0
    for line in lines[1:]:
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    while len(body) < length:
        chunk = s.recv(65536)
        if not chunk:
            raise ConnectionError("closed in the body")
        body += chunk
    return s

socks = []
sample(0)
for n in counts:
    while len(socks) < n:
        socks.append(one())
    sample(n)
for s in socks:
    s.close()
PY

nginx_proxy_conf() { # dir port worker_connections: one process holding the connections
    nginx_head "$1" "master_process off;
events { worker_connections $3; }"
    cat <<EOF
http {
$(nginx_http "$1")
    upstream backend {
        server 127.0.0.1:$UP_PORT;
        keepalive 64;
    }
    server {
        listen 127.0.0.1:$2 backlog=4096;
        location / {
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host \$http_host;
        }
    }
}
EOF
}

# idle_rows target pid port host: one row per count of IDLE
idle_rows() {
    local target=$1 pid=$2 port=$3 host=$4 counts=() n out=$TMP/idle.out
    for n in $IDLE; do
        if ((n + 64 > NOFILE)); then
            row connections "$n" "idle keep-alive, $target" - - - "skipped: ulimit -n is $NOFILE"
        else
            counts+=("$n")
        fi
    done
    ((${#counts[@]})) || return 0
    if ! taskset -c "$LOAD_CPU" python3 "$TMP/idle.py" "$pid" "$port" "$host" /data.json 1 "$HOLD" \
        "${counts[@]}" >"$out" 2>"$TMP/idle.err"; then
        echo "scale.sh: idle connections to $target failed:" >&2
        cat "$out" "$TMP/idle.err" >&2
        exit 1
    fi
    local base_kb base_ticks base_secs
    read -r _ base_kb base_ticks base_secs < <(head -1 "$out")
    tail -n +2 "$out" | while read -r n kb t secs; do
        row connections "$n" "idle keep-alive, $target" - - "$(mib "$kb")" "$(awk -v n="$n" -v kb="$kb" \
            -v b="$base_kb" -v t="$t" -v s="$secs" -v bt="$base_ticks" -v bs="$base_secs" -v hz="$CLK_TCK" \
            'BEGIN { printf "%.1f KiB/connection (+%.1f MiB over %.1f MiB with none); CPU while idle %.1f%% of a core (%.1f%% with none)",
                (kb - b) / n, (kb - b) / 1024, b / 1024, t / hz / s * 100, bt / hz / bs * 100 }')"
    done
}

if wants connections; then
    [[ -f $TMP/base.yaml ]] || base_config 0 >"$TMP/base.yaml"
    host=site-0.scale.test
    port=$(pick_port)
    PICKED+="$port "
    config=$TMP/connections.yaml
    { cat "$TMP/base.yaml"; common_tail "$port"; sites_yaml 1; } >"$config"
    check_config "$config"
    start_consentry "$config" "$port" "$host" # its one request opens the upstream pool
    idle_rows consentry "$CS_PID" "$port" "$host"
    stop "$CS_PID"
    if [[ $NGINX_IDLE == 1 ]]; then
        port=$(pick_port)
        PICKED+="$port "
        max_idle=0
        for n in $IDLE; do ((n > max_idle)) && max_idle=$n; done
        nginx_proxy_conf "$TMP/nginx" "$port" $((max_idle + 1024)) >"$TMP/nginx.conf"
        taskset -c "$PROXY_CPU" nginx -p "$TMP/nginx" -e "$TMP/nginx/error.log" -c "$TMP/nginx.conf" \
            >"$TMP/nginx.out" 2>&1 &
        NGX_PID=$!
        PIDS+=("$NGX_PID")
        for _ in $(seq 100); do
            [[ $(curl -s -o /dev/null -w '%{http_code}' -H "Host: $host" "http://127.0.0.1:$port/data.json" || true) == 200 ]] && break
            sleep 0.1
        done
        idle_rows nginx "$NGX_PID" "$port" "$host"
        stop "$NGX_PID"
    fi
fi

# ---------------------------------------------------------------- the table again
echo
echo "== summary ($(($(date +%s) - STARTED)) s)"
printf '%-12s %-6s %-26s %9s %11s %8s  %s\n' dimension value request req/s cpu_us/req RSS_MiB notes
cat "$TABLE"
