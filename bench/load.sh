#!/usr/bin/env bash
# Load test: consentry against nginx, on this machine, in one run.
#
#   bench/load.sh                      # DURATION=10s ROUNDS=2
#   DURATION=5s ROUNDS=2 bench/load.sh
#   SKIP_BUILD=1 CONSENTRY=/path/to/consentry BARE=/path/to/bare_hyper_proxy bench/load.sh
#
# Parts, one after the other, against processes all started at the beginning:
#   quiet       plain HTTP/1.1, no access logs, COOKIE (none by default): the comparison
#               this script always made                                    (SKIP_QUIET=1 skips it)
#   production  plain HTTP/1.1, access logs on and off, the realistic Cookie header
#               (REAL_COOKIE) and none                                      (SKIP_PROD=1)
#   tls         nginx and consentry terminating TLS, logs on, REAL_COOKIE: HTTP/1.1
#               keep-alive, HTTP/2, and a full handshake per request with an ECDSA
#               P-256 and an RSA 2048 certificate                          (SKIP_TLS=1)
#   then issue 16's targets, the access-log and TLS-session checks, and the streaming
#   memory check                                                            (SKIP_MEMORY=1)
#
# What runs (everything under one temp dir, on free 127.0.0.1 ports, killed on exit):
#   upstream   nginx serving /page.html (30 KB HTML, 12 Set-Cookie lines), /page-raw.html (the same,
#              with Cache-Control: no-transform, so consentry does not inject), /data.json
#              (500 B), /big.bin (1 GB sparse file) and /cookie (the Cookie it got)  -> core LOAD_CPU
#   nginx      nginx proxy_pass to the upstream (keepalive pool)         -> core PROXY_CPU
#   subfilter  nginx proxy_pass + sub_filter '</body>' (policy link)     -> core PROXY_CPU
#   consentry  CONSENTRY, one site for Host: portal.test, RUST_LOG=warn  -> core PROXY_CPU
#   injonly    the same with trackers.block: false                       -> core PROXY_CPU
#   bare       BARE (examples/bare_hyper_proxy): hyper + tokio passing
#              requests through, nothing else (the floor under consentry) -> core PROXY_CPU
#   nginx-log, consentry-log   as nginx and consentry, access logs on: nginx's combined
#              format, buffer=64k flush=1s; consentry's default (info) log -> core PROXY_CPU
#   nginx-tls, consentry-tls   TLS (ECDSA P-256), HTTP/1.1 and HTTP/2, logs on
#   nginx-rsa, consentry-rsa   the same with the RSA 2048 certificate -> core PROXY_CPU
#   sink       python3 upstream that reads and discards request bodies   -> core LOAD_CPU
#   wrk, h2load, openssl s_time   the load generators                    -> core LOAD_CPU
#
# Environment: DURATION (10s), ROUNDS (2), CONNS (32), WARMUP (2s), PROXY_CPU (1),
# LOAD_CPU (0), COOKIE (a Cookie header sent with every quiet request; default none),
# REAL_COOKIE (the production and TLS rows' Cookie header), H2_CONNS (CONNS) and
# H2_STREAMS (10) for h2load, HS_CONNS (8) s_time processes for the handshake rows,
# SKIP_BUILD=1 (do not run cargo build --release), CONSENTRY and BARE (the binaries to
# run; default target/release/consentry and target/release/examples/bare_hyper_proxy),
# SKIP_QUIET=1, SKIP_PROD=1, SKIP_TLS=1, SKIP_MEMORY=1 (leave out those parts),
# KEEP_TMP=1 (keep the temp dir with configs and logs).
# With DURATION=5s ROUNDS=2 a whole run takes about 10 minutes.
# See bench/README.md for how to read the output.

set -euo pipefail

DURATION=${DURATION:-10s}
ROUNDS=${ROUNDS:-2}
CONNS=${CONNS:-32}
# HTTP/2 rows: h2load's connections and the streams each keeps in flight.
H2_CONNS=${H2_CONNS:-$CONNS}
H2_STREAMS=${H2_STREAMS:-10}
# Handshake rows: openssl s_time processes side by side, one connection at a time each.
HS_CONNS=${HS_CONNS:-8}
# nginx keeps at most this many idle upstream connections per worker: at least one per
# request in flight, or past it nginx would close and reopen upstream connections
# under load, a cost consentry's pool (no idle cap) does not pay.
NGINX_KEEPALIVE=64
for n in "$CONNS" $((H2_CONNS * H2_STREAMS)); do
    ((n <= NGINX_KEEPALIVE)) || NGINX_KEEPALIVE=$n
done
WARMUP=${WARMUP:-2s}
PROXY_CPU=${PROXY_CPU:-1}
LOAD_CPU=${LOAD_CPU:-0}
COOKIE=${COOKIE:-}
# The TLS part (and the tools only it needs: openssl, h2load) unless SKIP_TLS=1.
TLS=1
[[ ${SKIP_TLS:-0} != 1 ]] || TLS=
# The Cookie header of the production rows: what a returning visitor of a portal sends.
# The preferences (percent-encoded JSON, as a consent banner's script writes them) grant
# statistics and internal cookies but not third-party ones, so _ga is kept and _fbp,
# Meta's pixel (third_party in proxy.yaml), is revoked: consentry strips it from the
# Cookie it forwards and expires it in the response. The sanity section checks both.
REAL_COOKIE=${REAL_COOKIE:-cookies_preferences=%7B%22necessary%22%3Atrue%2C%22statistics%22%3Atrue%2C%22first_party%22%3Atrue%2C%22third_party%22%3Afalse%7D; sessionid=8f2b1c9d0e7a4b3c6d5e7f8a9b0c1d2e; csrftoken=Yh3kL9pQ2rT5vW8xZ1aB4cD7eF0gH3jKmN6pQ9rS2tU5vW8xZ1aB4cD7eF0gH3jK; _ga=GA1.2.1234567890.1700000000; _fbp=fb.1.1700000000000.1234567890}
HOST=portal.test
UPLOAD_HOST=upload.test

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# ---------------------------------------------------------------- prerequisites
SCRIPT=load.sh
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
require_tools nginx wrk taskset curl python3 getconf pgrep ${TLS:+openssl h2load timeout}
require_cores
NCPU=$(getconf _NPROCESSORS_ONLN)
CLK_TCK=$(getconf CLK_TCK)

if [[ ${SKIP_BUILD:-0} != 1 ]]; then
    echo "== cargo build --release" >&2
    (cd "$ROOT" && cargo build --release --bin consentry --example bare_hyper_proxy)
fi
# CONSENTRY and BARE name other binaries (one built elsewhere, with SKIP_BUILD=1).
CONSENTRY=${CONSENTRY:-$ROOT/target/release/consentry}
[[ -x $CONSENTRY ]] || { echo "load.sh: $CONSENTRY not built" >&2; exit 1; }
BARE=${BARE:-$ROOT/target/release/examples/bare_hyper_proxy}
[[ -x $BARE ]] || echo "load.sh: $BARE not built: no 'bare' rows" >&2

# ---------------------------------------------------------------- temp dir, cleanup
TMP=$(mktemp -d /tmp/consentry-load.XXXXXX)
chmod 755 "$TMP"
PIDS=()
# cleanup (bench/lib.sh): every process in PIDS stopped, TMP removed unless KEEP_TMP=1.
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- ports
# (pick_port runs in a subshell: the parent adds each port to PICKED itself.)
for name in UP NGX SUB CS SINK BARE INJ NGX_LOG CS_LOG NGX_TLS CS_TLS NGX_RSA CS_RSA; do
    p=$(pick_port)
    PICKED+="$p "
    printf -v "${name}_PORT" '%s' "$p"
done

# ---------------------------------------------------------------- content
WWW=$TMP/www
mkdir -p "$WWW"
tail_html='</main><footer>Powered by the portal</footer></body></html>'
{
    printf '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>Open data portal</title>'
    printf '<link rel="stylesheet" href="/static/app.css"><script src="/static/app.js" defer></script></head>\n'
    printf '<body class="portal"><header><nav><a href="/">Home</a> <a href="/explore/">Datasets</a></nav></header><main>\n'
} >"$WWW/page.html"
# Dataset cards up to 30 KB, a comment to pad to exactly 30720 bytes, then the end.
for i in $(seq 0 299); do
    printf '<div class="card" data-id="%d"><h2><a href="/explore/dataset/ds-%d/">Dataset %d: street trees &amp; parks</a></h2>' "$i" "$i" "$i"
    printf '<p>Records of the city'"'"'s <em>public</em> assets, updated daily. Licence: <strong>ODbL</strong>.</p></div>\n'
done | awk -v room=$((30720 - $(stat -c %s "$WWW/page.html") - ${#tail_html} - 1 - 16)) \
    '!full && used + length($0) + 1 <= room { used += length($0) + 1; print; next } { full = 1 }' >>"$WWW/page.html"
pad=$((30720 - $(stat -c %s "$WWW/page.html") - ${#tail_html} - 1))
printf '<!-- %s -->' "$(head -c $((pad - 9)) /dev/zero | tr '\0' '.')" >>"$WWW/page.html"
printf '%s\n' "$tail_html" >>"$WWW/page.html"
# The same page marked `Cache-Control: no-transform`: consentry enforces its cookies
# but does not inject, which is the job plain nginx proxy_pass is compared on.
cp "$WWW/page.html" "$WWW/page-raw.html"
# The same page with the five most common trackers in its head, as their vendors'
# install guides give them: gtag.js and its config, the Tag Manager loader, the Meta
# pixel (and its noscript image), Hotjar, and a YouTube embed in the body.
TRACKERS_HEAD='<script async src="https://www.googletagmanager.com/gtag/js?id=G-BENCH1"></script><script>window.dataLayer=window.dataLayer||[];function gtag(){dataLayer.push(arguments);}gtag("js",new Date());gtag("config","G-BENCH1");</script><script>(function(w,d,s,l,i){w[l]=w[l]||[];w[l].push({"gtm.start":new Date().getTime(),event:"gtm.js"});var f=d.getElementsByTagName(s)[0],j=d.createElement(s);j.async=true;j.src="https://www.googletagmanager.com/gtm.js?id="+i;f.parentNode.insertBefore(j,f);})(window,document,"script","dataLayer","GTM-BENCH");</script><script>!function(f,b,e,v,n,t,s){if(f.fbq)return;n=f.fbq=function(){n.callMethod?n.callMethod.apply(n,arguments):n.queue.push(arguments)};if(!f._fbq)f._fbq=n;n.push=n;n.loaded=!0;n.version="2.0";n.queue=[];t=b.createElement(e);t.async=!0;t.src=v;s=b.getElementsByTagName(e)[0];s.parentNode.insertBefore(t,s)}(window,document,"script","https://connect.facebook.net/en_US/fbevents.js");fbq("init","1234567890");fbq("track","PageView");</script><noscript><img height="1" width="1" style="display:none" src="https://www.facebook.com/tr?id=1234567890&ev=PageView&noscript=1"/></noscript><script>(function(h,o,t,j,a,r){h.hj=h.hj||function(){(h.hj.q=h.hj.q||[]).push(arguments)};h._hjSettings={hjid:1234567,hjsv:6};a=o.getElementsByTagName("head")[0];r=o.createElement("script");r.async=1;r.src=t+h._hjSettings.hjid+j+h._hjSettings.hjsv;a.appendChild(r);})(window,document,"https://static.hotjar.com/c/hotjar-",".js?sv=");</script>'
TRACKERS_BODY='<iframe width="560" height="315" src="https://www.youtube.com/embed/bench" title="Video"></iframe>'
# (index/substr, not sub(): `&` in a replacement means the match to awk.)
awk -v head="$TRACKERS_HEAD" -v body="$TRACKERS_BODY" '
    function after(line, mark, text,   at) {
        at = index(line, mark)
        return at ? substr(line, 1, at + length(mark) - 1) text substr(line, at + length(mark)) : line
    }
    { print after(after($0, "</title>", head), "<main>", body) }' "$WWW/page.html" >"$WWW/page-trackers.html"
data_json >"$WWW/data.json"
truncate -s 1G "$WWW/big.bin"

# 12 Set-Cookie lines on /page.html: 4 necessary, 3 statistics, 3 third-party, 2 unclassified.
SET_COOKIES=(
    'sessionid=8f2b1c9d0e7a4b3c6d5e; HttpOnly; Path=/; SameSite=Lax'
    'csrftoken=Yh3kL9pQ2rT5vW8xZ1aB4cD7eF0gH3jK; Path=/; Max-Age=31449600; SameSite=Lax'
    'django_language=en; Path=/; Max-Age=31536000'
    'cookies_preferences={}; Path=/; Max-Age=15552000'
    '_ga=GA1.2.1234567890.1700000000; Path=/; Max-Age=63072000'
    '_gid=GA1.2.987654321.1700000000; Path=/; Max-Age=86400'
    '_pk_id.1.a1b2=0123456789abcdef.1700000000.; Path=/; Max-Age=33696000'
    '_fbp=fb.1.1700000000000.1234567890; Path=/; Max-Age=7776000'
    'IDE=AHWqTUm3x9yZ0aB1cD2eF3gH4; Path=/; Secure; SameSite=None'
    'li_gc=MTsyMTsxNzAwMDAwMDAwOzI7; Path=/; Max-Age=15552000'
    'ab_test_bucket=B; Path=/; Max-Age=2592000'
    'AWSALB=Zm9vYmFyYmF6cXV4; Path=/'
)
add_headers=""
for line in "${SET_COOKIES[@]}"; do
    add_headers+="            add_header Set-Cookie \"$line\" always;"$'\n'
done

# ---------------------------------------------------------------- certificates
# Made at run time, self-signed, for the portal's name: ECDSA P-256 (what most sites
# serve now) and RSA 2048 (the older default, whose signature costs the server far
# more per handshake). nginx and consentry serve the same files.
CERTS=$TMP/certs
make_cert() { # name -newkey arguments...
    local name=$1
    shift
    openssl req -x509 -nodes -days 7 -subj "/CN=$HOST" -addext "subjectAltName=DNS:$HOST" \
        -newkey "$@" -keyout "$CERTS/$name.key" -out "$CERTS/$name.crt" >"$CERTS/$name.log" 2>&1 ||
        { echo "load.sh: openssl could not make the $name certificate:" >&2; cat "$CERTS/$name.log" >&2; exit 1; }
}
if [[ -n $TLS ]]; then
    mkdir -p "$CERTS"
    make_cert ecdsa ec -pkeyopt ec_paramgen_curve:P-256
    make_cert rsa rsa:2048
fi

# ---------------------------------------------------------------- nginx configs
if [[ $(id -u) == 0 ]]; then NGINX_USER="user root;"; else NGINX_USER=""; fi
nginx_common() { # dir
    local d=$1
    mkdir -p "$d"
    cat <<EOF
$NGINX_USER
worker_processes 1;
daemon off;
pid $d/nginx.pid;
error_log $d/error.log warn;
events { worker_connections 4096; }
EOF
}
http_common() { # dir
    local d=$1
    cat <<EOF
    access_log off;
    client_body_temp_path $d/client_body;
    proxy_temp_path $d/proxy;
    fastcgi_temp_path $d/fastcgi;
    uwsgi_temp_path $d/uwsgi;
    scgi_temp_path $d/scgi;
    keepalive_requests 1000000;
    keepalive_timeout 60s;
EOF
}

UP_DIR=$TMP/upstream
{
    nginx_common "$UP_DIR"
    cat <<EOF
http {
$(http_common "$UP_DIR")
    types { text/html html; application/json json; application/octet-stream bin; }
    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
    server {
        listen 127.0.0.1:$UP_PORT;
        root $WWW;
        location = /page.html {
$add_headers        }
        location = /page-raw.html {
$add_headers            add_header Cache-Control no-transform always;
        }
        location = /page-trackers.html {
$add_headers        }
        # The Cookie header as the upstream receives it (the sanity checks read it).
        location = /cookie {
            default_type text/plain;
            return 200 "\$http_cookie\n";
        }
    }
}
EOF
} >"$TMP/upstream.conf"

proxy_conf() { # dir "port [listen parameters]" server-directives location-directives
    local d=$1 port=$2 server=$3 extra=$4
    nginx_common "$d"
    cat <<EOF
http {
$(http_common "$d")
    # The TLS targets' access log: the combined format, then the protocol, whether the
    # session was resumed (r) or not (.) and the request's number on its connection.
    log_format tls '\$remote_addr - \$remote_user [\$time_local] "\$request" \$status \$body_bytes_sent '
                   '"\$http_referer" "\$http_user_agent" \$ssl_protocol \$ssl_session_reused \$connection_requests';
    upstream backend {
        server 127.0.0.1:$UP_PORT;
        keepalive $NGINX_KEEPALIVE;
        keepalive_requests 1000000;
    }
    server {
        listen 127.0.0.1:$port;
$server
        location / {
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host \$http_host;
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto \$scheme;
            proxy_set_header X-Forwarded-Host \$http_host;
            proxy_buffer_size 16k;
            proxy_buffers 16 16k;
$extra
        }
    }
}
EOF
}
proxy_conf "$TMP/nginx" "$NGX_PORT" "" "" >"$TMP/nginx.conf"
# Production logging: nginx's standard format to a file, written 64 KB at a time.
proxy_conf "$TMP/nginx-log" "$NGX_LOG_PORT" "        access_log $TMP/nginx-log/access.log combined buffer=64k flush=1s;" "" \
    >"$TMP/nginx-log.conf"
# TLS as production nginx is commonly set up (Mozilla's "intermediate" settings: TLS
# 1.2 and 1.3, a shared session cache, no session tickets), HTTP/2 by ALPN, the
# access log buffered as above. Clients that ask can resume sessions, as they can
# with consentry (rustls keeps a session cache and sends TLS 1.3 tickets by default);
# the handshake rows' client never asks, which the tls log shows.
tls_server() { # cert-name dir
    cat <<EOF
        ssl_certificate $CERTS/$1.crt;
        ssl_certificate_key $CERTS/$1.key;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_prefer_server_ciphers off;
        ssl_session_cache shared:SSL:10m;
        ssl_session_timeout 1d;
        ssl_session_tickets off;
        access_log $2/access.log tls buffer=64k flush=1s;
EOF
}
if [[ -n $TLS ]]; then
    proxy_conf "$TMP/nginx-tls" "$NGX_TLS_PORT ssl http2" "$(tls_server ecdsa "$TMP/nginx-tls")" "" >"$TMP/nginx-tls.conf"
    proxy_conf "$TMP/nginx-rsa" "$NGX_RSA_PORT ssl http2" "$(tls_server rsa "$TMP/nginx-rsa")" "" >"$TMP/nginx-rsa.conf"
fi
proxy_conf "$TMP/subfilter" "$SUB_PORT" "" "            proxy_set_header Accept-Encoding \"\";
            sub_filter '</body>' '<a href=\"/terms/cookies-policy/\">Cookies policy</a></body>';
            sub_filter_once on;" >"$TMP/subfilter.conf"

# ---------------------------------------------------------------- consentry config
# The shipped proxy.yaml's consent, categories, cookies and policy; our own listener
# and sites; no admin listener.
awk '
    /^[A-Za-z_]+:/ { split($0, k, ":"); skip = (k[1] == "listen" || k[1] == "admin" || k[1] == "sites" || k[1] == "tls") }
    !skip { print }
' "$ROOT/proxy.yaml" >"$TMP/consentry.yaml"
cat >>"$TMP/consentry.yaml" <<EOF

listen:
  http: 127.0.0.1:$CS_PORT

sites:
  - name: portal
    hosts: [$HOST]
    upstream: http://127.0.0.1:$UP_PORT
  - name: upload
    hosts: [$UPLOAD_HOST]
    upstream: http://127.0.0.1:$SINK_PORT
EOF
"$CONSENTRY" check --config "$TMP/consentry.yaml" >/dev/null
# The same with trackers left alone: the injection-only path the tracker rewrite is
# measured against.
sed -e "s/127.0.0.1:$CS_PORT/127.0.0.1:$INJ_PORT/" "$TMP/consentry.yaml" >"$TMP/injonly.yaml"
printf '\ntrackers:\n  block: false\n' >>"$TMP/injonly.yaml"
"$CONSENTRY" check --config "$TMP/injonly.yaml" >/dev/null
# The same as consentry on its own port, for the rows with access logs on.
sed -e "s/127.0.0.1:$CS_PORT/127.0.0.1:$CS_LOG_PORT/" "$TMP/consentry.yaml" >"$TMP/consentry-log.yaml"
"$CONSENTRY" check --config "$TMP/consentry-log.yaml" >/dev/null
# And with a TLS listener instead (HTTP/1.1 and HTTP/2 by ALPN), one certificate each.
cs_tls_conf() { # name port cert-name
    sed -e "s|^  http: 127.0.0.1:$CS_PORT\$|  https: 127.0.0.1:$2|" "$TMP/consentry.yaml" >"$TMP/$1.yaml"
    printf '\ntls:\n  certificates:\n    - cert: %s\n      key: %s\n' "$CERTS/$3.crt" "$CERTS/$3.key" >>"$TMP/$1.yaml"
    "$CONSENTRY" check --config "$TMP/$1.yaml" >/dev/null
}
if [[ -n $TLS ]]; then
    cs_tls_conf consentry-tls "$CS_TLS_PORT" ecdsa
    cs_tls_conf consentry-rsa "$CS_RSA_PORT" rsa
fi

# ---------------------------------------------------------------- start everything
# Each process's port and the process whose CPU time a row counts (for nginx the master,
# whose workers cpu_ticks adds).
declare -A PORT=([upstream]=$UP_PORT [nginx]=$NGX_PORT [subfilter]=$SUB_PORT [consentry]=$CS_PORT
    [bare]=$BARE_PORT [injonly]=$INJ_PORT [sink]=$SINK_PORT [nginx-log]=$NGX_LOG_PORT [consentry-log]=$CS_LOG_PORT
    [nginx-tls]=$NGX_TLS_PORT [consentry-tls]=$CS_TLS_PORT [nginx-rsa]=$NGX_RSA_PORT [consentry-rsa]=$CS_RSA_PORT)
declare -A CPU_PID=()
start() { # name cpu command...
    local name=$1 cpu=$2
    shift 2
    taskset -c "$cpu" "$@" >"$TMP/$name.out" 2>&1 &
    PIDS+=("$!")
    CPU_PID[$name]=$!
}
wait_http() { # name url host
    local name=$1 url=$2 host=$3 code
    for _ in $(seq 100); do
        code=$(curl -sk -A load.sh-sanity -o /dev/null -w '%{http_code}' -H "Host: $host" "$url" || true)
        [[ $code == 200 ]] && return 0
        sleep 0.1
    done
    echo "load.sh: $name did not answer 200 at $url (last: $code); its output:" >&2
    cat "$TMP/$name.out" >&2 || true
    exit 1
}

start upstream "$LOAD_CPU" nginx -p "$UP_DIR" -e "$UP_DIR/error.log" -c "$TMP/upstream.conf"
wait_http upstream "http://127.0.0.1:$UP_PORT/data.json" "$HOST"
start nginx "$PROXY_CPU" nginx -p "$TMP/nginx" -e "$TMP/nginx/error.log" -c "$TMP/nginx.conf"
start subfilter "$PROXY_CPU" nginx -p "$TMP/subfilter" -e "$TMP/subfilter/error.log" -c "$TMP/subfilter.conf"
start consentry "$PROXY_CPU" env RUST_LOG=warn "$CONSENTRY" --config "$TMP/consentry.yaml"
start injonly "$PROXY_CPU" env RUST_LOG=warn "$CONSENTRY" --config "$TMP/injonly.yaml"
# Access logs on: nginx to access.log (its config), consentry at its default level
# (info: one access line per request, through its buffered writer) to its output,
# the file $TMP/consentry-log.out.
start nginx-log "$PROXY_CPU" nginx -p "$TMP/nginx-log" -e "$TMP/nginx-log/error.log" -c "$TMP/nginx-log.conf"
start consentry-log "$PROXY_CPU" env -u RUST_LOG "$CONSENTRY" --config "$TMP/consentry-log.yaml"
# TLS: access logs on, like the log-on targets above.
if [[ -n $TLS ]]; then
    for t in nginx-tls nginx-rsa; do
        start "$t" "$PROXY_CPU" nginx -p "$TMP/$t" -e "$TMP/$t/error.log" -c "$TMP/$t.conf"
    done
    for t in consentry-tls consentry-rsa; do
        start "$t" "$PROXY_CPU" env -u RUST_LOG "$CONSENTRY" --config "$TMP/$t.yaml"
    done
fi
HAVE_BARE=
if [[ -x $BARE ]]; then
    start bare "$PROXY_CPU" "$BARE" "127.0.0.1:$BARE_PORT" "127.0.0.1:$UP_PORT"
    HAVE_BARE=1
fi
cat >"$TMP/sink.py" <<'EOF'
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Sink(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _discard(self):
        n = 0
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    break
                while size:
                    got = len(self.rfile.read(min(size, 1 << 16)))
                    if not got:
                        raise ConnectionError("body cut short")
                    n, size = n + got, size - got
                self.rfile.readline()
        else:
            left = int(self.headers.get("Content-Length", "0"))
            while left:
                got = len(self.rfile.read(min(left, 1 << 16)))
                if not got:
                    break
                n, left = n + got, left - got
        body = b"%d\n" % n
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_PUT = do_POST = _discard

    def do_GET(self):
        body = b"sink\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Sink).serve_forever()
EOF
start sink "$LOAD_CPU" python3 "$TMP/sink.py" "$SINK_PORT"
for t in nginx subfilter consentry injonly nginx-log consentry-log ${HAVE_BARE:+bare}; do
    wait_http "$t" "http://127.0.0.1:${PORT[$t]}/data.json" "$HOST"
done
wait_http sink "http://127.0.0.1:$SINK_PORT/" "$UPLOAD_HOST"
if [[ -n $TLS ]]; then
    for t in nginx-tls consentry-tls nginx-rsa consentry-rsa; do
        wait_http "$t" "https://127.0.0.1:${PORT[$t]}/data.json" "$HOST"
    done
fi

# ---------------------------------------------------------------- sanity
echo "== $(date -u +%FT%TZ) $(uname -srm), $NCPU cores, $(nginx -v 2>&1 | sed 's/.*: //'), tree $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet 2>/dev/null || echo '+dirty')"
echo "== consentry: $CONSENTRY ($(stat -c %y "$CONSENTRY" | cut -d. -f1))${HAVE_BARE:+; bare: $BARE}"
echo "== wrk -t1 -c$CONNS -d$DURATION --latency${TLS:+, h2load -t1 -c$H2_CONNS -m$H2_STREAMS -D $DURATION}, $ROUNDS round(s); proxies on core $PROXY_CPU, load generator + upstream on core $LOAD_CPU; CLK_TCK=$CLK_TCK"
echo "== what each target returns for /page.html (Set-Cookie lines, <a> policy links, body bytes):"
for t in upstream nginx subfilter consentry; do
    curl -s -D "$TMP/h.$t" -o "$TMP/b.$t" -H "Host: $HOST" ${COOKIE:+-H "Cookie: $COOKIE"} "http://127.0.0.1:${PORT[$t]}/page.html"
    printf '   %-10s set-cookie=%-3s links=%s bytes=%s\n' "$t" \
        "$(grep -ci '^set-cookie:' "$TMP/h.$t" || true)" \
        "$(grep -o '<a href="/terms/cookies-policy/"' "$TMP/b.$t" | wc -l)" \
        "$(stat -c %s "$TMP/b.$t")"
done

cookie_names() { tr ';' '\n' | sed -e 's/^ *//' -e 's/=.*//' | tr '\n' ' '; }
echo "== the production rows' Cookie header (REAL_COOKIE) through nginx and consentry:"
curl -s -o "$TMP/fwd.nginx" -H "Host: $HOST" -H "Cookie: $REAL_COOKIE" "http://127.0.0.1:$NGX_PORT/cookie"
curl -s -o "$TMP/fwd.consentry" -H "Host: $HOST" -H "Cookie: $REAL_COOKIE" "http://127.0.0.1:$CS_PORT/cookie"
curl -s -o /dev/null -D "$TMP/h.real" -H "Host: $HOST" -H "Cookie: $REAL_COOKIE" "http://127.0.0.1:$CS_PORT/page.html"
EXPIRED=$(grep -i '^set-cookie:' "$TMP/h.real" | grep -i 'max-age=0' | sed -e 's/^[^:]*: *//' -e 's/=.*//' | tr '\n' ' ' || true)
echo "   sent:                        $(cookie_names <<<"$REAL_COOKIE")"
echo "   upstream got through nginx:     $(cookie_names <"$TMP/fwd.nginx")"
echo "   upstream got through consentry: $(cookie_names <"$TMP/fwd.consentry")"
echo "   consentry's /page.html: set-cookie=$(grep -ci '^set-cookie:' "$TMP/h.real" || true) (of the page's 12), expired: $EXPIRED"
# The default header must exercise the whole request path: a granted statistics
# cookie kept, a revoked one stripped and expired. (A REAL_COOKIE without _fbp is
# only shown.)
if [[ $REAL_COOKIE == *_fbp=* ]]; then
    if grep -q '_fbp=' "$TMP/fwd.consentry" || [[ " $EXPIRED " != *" _fbp "* ]] ||
        { [[ $REAL_COOKIE == *_ga=* ]] && ! grep -q '_ga=' "$TMP/fwd.consentry"; }; then
        echo "load.sh: consentry did not keep _ga and strip and expire _fbp for REAL_COOKIE; check proxy.yaml's categories" >&2
        exit 1
    fi
fi

# What each TLS target negotiates with OpenSSL's client, whether it resumes a session
# when the client offers one (a second connection with the first one's session), and
# whether it speaks HTTP/2.
tls_check() { # target
    local port=${PORT[$1]} first=$TMP/tls.$1.1 second=$TMP/tls.$1.2 req
    req=$'GET /data.json HTTP/1.1\r\nHost: '"$HOST"$'\r\nUser-Agent: load.sh-sanity\r\nConnection: close\r\n\r\n'
    printf '%s' "$req" | timeout 10 openssl s_client -connect "127.0.0.1:$port" -servername "$HOST" \
        -sess_out "$TMP/tls.$1.session" -ign_eof >"$first" 2>&1 || true
    printf '%s' "$req" | timeout 10 openssl s_client -connect "127.0.0.1:$port" -servername "$HOST" \
        -sess_in "$TMP/tls.$1.session" -ign_eof >"$second" 2>&1 || true
    local h2
    h2=$(curl -sk -A load.sh-sanity --http2 --resolve "$HOST:$port:127.0.0.1" -H "Cookie: $REAL_COOKIE" \
        -o /dev/null -w '%{http_code} over HTTP/%{http_version}' "https://$HOST:$port/data.json" || true)
    awk -v t="$1" -v h2="$h2" -v reused="$(grep -q '^Reused,' "$second" && echo yes || echo no)" '
        /^(New|Reused), / { gsub(/,/, ""); proto = $2; cipher = $5 }
        /^Server Temp Key:/ { sub(/^Server Temp Key: /, ""); sub(/,.*/, ""); kx = $0 }
        /^Peer signature type:/ { sig = $NF }
        /^HTTP\/1\.1 / { status = $2 }
        END { printf "   %-14s %s %s, key exchange %s, signature %s; status %s; resumes when asked: %s; h2: %s\n",
            t, proto, cipher, kx, sig, status, reused, h2 }' "$first"
}
if [[ -n $TLS ]]; then
    echo "== TLS targets (openssl s_client, then a second connection offering the first one's session; curl --http2):"
    for t in nginx-tls consentry-tls nginx-rsa consentry-rsa; do tls_check "$t"; done
fi

# ---------------------------------------------------------------- measuring
cpu_ticks() { # pid: utime+stime of the process and its children (nginx workers)
    local total=0 p line f
    for p in "$1" $(pgrep -P "$1" || true); do
        line=$(cat "/proc/$p/stat" 2>/dev/null) || continue
        read -ra f <<<"${line##*) }"
        total=$((total + f[11] + f[12]))
    done
    echo "$total"
}
to_us() { # wrk latency (123.45us, 1.23ms, 1.02s) -> microseconds
    awk -v v="$1" 'BEGIN {
        if (v ~ /us$/) { sub(/us$/, "", v); print v + 0 }
        else if (v ~ /ms$/) { sub(/ms$/, "", v); print v * 1000 }
        else if (v ~ /m$/) { sub(/m$/, "", v); print v * 60000000 }
        else if (v ~ /s$/) { sub(/s$/, "", v); print v * 1000000 }
        else print v + 0 }'
}
# The Cookie header of a row: none, real (REAL_COOKIE) or env (COOKIE).
cookie_value() { # name
    case $1 in
    none) ;;
    real) printf '%s' "$REAL_COOKIE" ;;
    env) printf '%s' "$COOKIE" ;;
    *) echo "load.sh: no cookie named $1" >&2; exit 1 ;;
    esac
}
wrk_run() { # duration url cookie [more wrk arguments...]: output in $TMP/load.out
    local dur=$1 url=$2 cookie=$3
    shift 3
    taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d"$dur" --latency -H "Host: $HOST" \
        ${cookie:+-H "Cookie: $cookie"} "$@" "$url" >"$TMP/load.out" 2>&1 || true
}
# s_time's -time: whole seconds (it runs past them to the next second boundary).
dur_secs() { # 10s, 1m, 500ms -> seconds, at least 1
    awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /ms$/) n /= 1000; else if (v ~ /m$/) n *= 60
        n = int(n + 0.5); print (n < 1 ? 1 : n) }'
}
CRLF=$'\r\n'
# A new TLS connection with a full handshake for every request. wrk and h2load cannot
# do it: when they reconnect they offer the previous connection's session, and both
# servers resume it. openssl s_time -new makes a new session for every connection;
# each process keeps one connection at a time, HS_CONNS of them run side by side.
s_time_run() { # duration port path cookie: outputs in $TMP/s_time.N, wall time in ns in $TMP/s_time.ns
    local secs pids=() i start
    secs=$(dur_secs "$1")
    # s_time sends "GET <page> HTTP/1.0\r\n\r\n": the page argument carries the rest of
    # an HTTP/1.1 request, and its last header's value takes the " HTTP/1.0".
    local req="$3 HTTP/1.1${CRLF}Host: $HOST${CRLF}${4:+Cookie: $4$CRLF}Connection: close${CRLF}X-Padding: s_time"
    rm -f "$TMP"/s_time.*
    # Start just after a second boundary: s_time stops at one (time(NULL) + secs), and
    # all processes should stop at the same one.
    sleep "$(awk -v ns="$(date +%N)" 'BEGIN { printf "%.3f", (1e9 - ns) / 1e9 + 0.02 }')"
    start=$(date +%s%N)
    for i in $(seq "$HS_CONNS"); do
        # (-no-CA*: s_time does not verify the certificate, but would still look for
        # its issuer in the system's CA directory on every connection.)
        taskset -c "$LOAD_CPU" timeout $((secs + 30)) openssl s_time -connect "127.0.0.1:$2" -new -time "$secs" \
            -no-CAfile -no-CApath -no-CAstore -www "$req" >"$TMP/s_time.$i" 2>&1 &
        pids+=("$!")
    done
    wait "${pids[@]}" || true
    echo $(($(date +%s%N) - start)) >"$TMP/s_time.ns"
}
parse_s_time() { # -> "rps - - requests errors": no latencies; a failed process and a resumed session are errors
    local ns
    ns=$(cat "$TMP/s_time.ns")
    # Per process: a line of one character per connection ('*' a new TLS 1.3 session,
    # 'r' a resumed one), then "N connections in T real seconds, ...".
    awk -v ns="$ns" -v procs="$HS_CONNS" '
        /^[*r0-9]+$/ { resumed += gsub(/r/, "") }
        / connections in [0-9]+ real seconds/ { conns += $1; ok++ }
        END { if (conns == 0) exit 1
              printf "%.1f - - %d %d\n", conns / (ns / 1e9), conns, procs - ok + resumed }' "$TMP"/s_time.[0-9]*
}
h2load_run() { # duration url cookie port
    rm -f "$TMP/h2load.log"
    taskset -c "$LOAD_CPU" h2load -t1 -c"$H2_CONNS" -m"$H2_STREAMS" -D "$1" --connect-to="127.0.0.1:$4" \
        --log-file="$TMP/h2load.log" ${3:+-H "cookie: $3"} "$2" >"$TMP/load.out" 2>&1 || true
}
parse_h2load() { # -> "rps p50us p99us requests errors" from $TMP/load.out and h2load's per-request log
    local out=$TMP/load.out rps reqs errs pct
    rps=$(awk '/^finished in/ { gsub(/,/, ""); print $4 }' "$out")
    # requests: N total, N started, N done, N succeeded, N failed, N errored, N timeout
    # ("failed" counts every request without a 2xx or 3xx status, errored ones included)
    reqs=$(awk '/^requests:/ { print $6 }' "$out")
    errs=$(awk '/^requests:/ { print $10 }' "$out")
    [[ -n $rps && -n $reqs && -s $TMP/h2load.log ]] || return 1
    # The log's third column: microseconds from sending the request to the end of the response.
    pct=$(cut -f3 "$TMP/h2load.log" | sort -n | awk '{ v[NR] = $1 }
        function at(p,   i) { i = int(NR * p); if (i < NR * p) i++; if (i < 1) i = 1; return v[i] }
        END { print at(0.50), at(0.99) }')
    echo "$rps $pct $reqs $errs"
}
parse_wrk() { # -> "rps p50us p99us requests errors" from $TMP/load.out
    local out=$TMP/load.out rps p50 p99 reqs errs
    rps=$(awk '/^Requests\/sec:/ { print $2 }' "$out")
    p50=$(to_us "$(awk '$1 == "50%" { print $2 }' "$out")")
    p99=$(to_us "$(awk '$1 == "99%" { print $2 }' "$out")")
    reqs=$(awk '/requests in/ { print $1 }' "$out")
    errs=$(awk '/Non-2xx/ { n += $NF } /Socket errors/ { gsub(/,/, ""); n += $4 + $6 + $8 + $10 } END { print n + 0 }' "$out")
    [[ -n $rps && -n $reqs ]] || return 1
    echo "$rps $p50 $p99 $reqs $errs"
}
# One run of the load generator against one target, with the target's CPU time.
measure() { # proto target path cookie duration -> "rps p50us p99us requests errors ticks"
    local proto=$1 t=$2 path=$3 dur=$5 port=${PORT[$2]} cookie before after result
    cookie=$(cookie_value "$4")
    before=$(cpu_ticks "${CPU_PID[$t]}")
    local parse=parse_wrk
    case $proto in
    http) wrk_run "$dur" "http://127.0.0.1:$port$path" "$cookie" ;;
    # HTTP/1.1 over TLS, connections kept alive. wrk sends the address as SNI; both
    # servers then serve their only certificate.
    https) wrk_run "$dur" "https://127.0.0.1:$port$path" "$cookie" ;;
    # One request per TLS connection, with a full handshake (see s_time_run).
    handshake)
        s_time_run "$dur" "$port" "$path" "$cookie"
        parse=parse_s_time
        ;;
    h2)
        h2load_run "$dur" "https://$HOST:$port$path" "$cookie" "$port"
        parse=parse_h2load
        ;;
    *) echo "load.sh: no protocol $proto" >&2; exit 1 ;;
    esac
    after=$(cpu_ticks "${CPU_PID[$t]}")
    if ! result=$($parse); then
        echo "load.sh: $proto $t$path (cookie $4) failed:" >&2
        cat "$TMP/load.out" >&2
        exit 1
    fi
    echo "$result $((after - before))"
}

# Results, keyed "section proto target path cookie" (and " round" for R_CPU); DONE:
# requests completed per target over the whole run, warm-ups included (set against
# the lines of its access log at the end).
declare -A S_RPS S_P50 S_P99 S_REQ S_ERR S_TICK S_N R_CPU A_RPS A_P99 A_CPU DONE
ROW_FMT='%-5s %-9s %-13s %-19s %-6s %10s %9s %9s %10s %5s %7s\n'
# Microseconds (or "-": none measured) as milliseconds, for awk.
AWK_MS='function ms(us) { return us == "-" || us == "" ? "-" : sprintf("%.3f", us / 1000) }'
# Measures groups of targets compared with each other. A group is "proto path cookie
# target...". Every row is warmed up (WARMUP), then measured ROUNDS times; within a
# round a group's targets run one after the other, in reverse order every other round
# so that drift over the run does not favour one. Then a summary: means over rounds.
run_groups() { # section group...
    local section=$1 g proto path cookie targets t round k row rps p50 p99 reqs errs ticks i
    local order rev
    shift
    echo
    echo "== $section: warm-up ($WARMUP per row)"
    for g in "$@"; do
        read -r proto path cookie targets <<<"$g"
        for t in $targets; do
            row=$(measure "$proto" "$t" "$path" "$cookie" "$WARMUP") || exit 1
            read -r rps p50 p99 reqs errs ticks <<<"$row"
            DONE[$t]=$((${DONE[$t]:-0} + reqs))
            DONE[$t $proto]=$((${DONE[$t $proto]:-0} + reqs))
        done
    done
    printf "$ROW_FMT" round proto target path cookie req/s p50_ms p99_ms cpu_us/req busy% errors
    for round in $(seq "$ROUNDS"); do
        for g in "$@"; do
            read -r proto path cookie targets <<<"$g"
            read -ra order <<<"$targets"
            if ((round % 2 == 0)); then
                rev=()
                for ((i = ${#order[@]} - 1; i >= 0; i--)); do rev+=("${order[i]}"); done
                order=("${rev[@]}")
            fi
            for t in "${order[@]}"; do
                row=$(measure "$proto" "$t" "$path" "$cookie" "$DURATION") || exit 1
                read -r rps p50 p99 reqs errs ticks <<<"$row"
                DONE[$t]=$((${DONE[$t]:-0} + reqs))
                DONE[$t $proto]=$((${DONE[$t $proto]:-0} + reqs))
                k="$section $proto $t $path $cookie"
                S_RPS[$k]=$(awk -v a="${S_RPS[$k]:-0}" -v b="$rps" 'BEGIN { print a + b }')
                if [[ $p50 != - ]]; then
                    S_P50[$k]=$(awk -v a="${S_P50[$k]:-0}" -v b="$p50" 'BEGIN { print a + b }')
                    S_P99[$k]=$(awk -v a="${S_P99[$k]:-0}" -v b="$p99" 'BEGIN { print a + b }')
                fi
                S_REQ[$k]=$((${S_REQ[$k]:-0} + reqs))
                S_ERR[$k]=$((${S_ERR[$k]:-0} + errs))
                S_TICK[$k]=$((${S_TICK[$k]:-0} + ticks))
                S_N[$k]=$((${S_N[$k]:-0} + 1))
                R_CPU[$k $round]=$(awk -v t="$ticks" -v r="$reqs" -v hz="$CLK_TCK" 'BEGIN { print t / hz * 1e6 / r }')
                awk -v f="$ROW_FMT" -v r="$round" -v pr="$proto" -v t="$t" -v p="$path" -v c="$cookie" \
                    -v rps="$rps" -v p50="$p50" -v p99="$p99" -v reqs="$reqs" -v ticks="$ticks" -v hz="$CLK_TCK" \
                    -v errs="$errs" "$AWK_MS"'BEGIN { cpu = ticks / hz * 1e6 / reqs
                        printf f, r, pr, t, p, c, sprintf("%.0f", rps), ms(p50), ms(p99), sprintf("%.1f", cpu),
                            sprintf("%.0f", cpu * rps / 1e4), errs }'
            done
        done
    done
    echo
    echo "== $section summary: mean over $ROUNDS round(s); cpu_us/req = CPU time of the target process(es) / requests;"
    echo "   busy% = cpu_us/req x req/s: the share of its core the target used (near 100: the target was the limit)"
    printf "$ROW_FMT" '' proto target path cookie req/s p50_ms p99_ms cpu_us/req busy% errors
    for g in "$@"; do
        read -r proto path cookie targets <<<"$g"
        for t in $targets; do
            k="$section $proto $t $path $cookie"
            read -r rps p50 p99 cpu <<<"$(awk -v s="${S_RPS[$k]}" -v a="${S_P50[$k]:--}" -v b="${S_P99[$k]:--}" \
                -v n="${S_N[$k]}" -v ticks="${S_TICK[$k]}" -v reqs="${S_REQ[$k]}" -v hz="$CLK_TCK" \
                'BEGIN { printf "%.1f %s %s %.2f\n", s / n, a == "-" ? "-" : a / n, b == "-" ? "-" : b / n,
                    ticks / hz * 1e6 / reqs }')"
            A_RPS[$k]=$rps A_P99[$k]=$p99 A_CPU[$k]=$cpu
            awk -v f="$ROW_FMT" -v pr="$proto" -v t="$t" -v p="$path" -v c="$cookie" -v rps="$rps" -v p50="$p50" \
                -v p99="$p99" -v cpu="$cpu" -v e="${S_ERR[$k]}" "$AWK_MS"'BEGIN { printf f, "", pr, t, p, c,
                    sprintf("%.0f", rps), ms(p50), ms(p99), sprintf("%.1f", cpu), sprintf("%.0f", cpu * rps / 1e4), e }'
        done
    done
}

RATIO_FMT='%-27s %-9s %-19s %-6s %8s %8s %8s   %s\n'
ratio_header() { # title
    echo
    echo "== $1"
    printf "$RATIO_FMT" comparison proto path cookie req/s cpu/req p99 'cpu/req by round: median (min-max)'
}
# One comparison: req/s, cpu/req and p99 of the first target divided by the second's,
# and the cpu/req ratio of each round on its own (both targets ran minutes apart at
# most there, so drift of the machine over the whole run weighs less).
ratio_row() { # section proto path cookie first second
    local s=$1 proto=$2 p=$3 cookie=$4 f=$5 o=$6 per_round="" round
    local c="$s $proto $f $p $cookie" k="$s $proto $o $p $cookie"
    for round in $(seq "$ROUNDS"); do
        per_round+="$(awk -v a="${R_CPU[$c $round]}" -v b="${R_CPU[$k $round]}" 'BEGIN { print (b > 0 ? a / b : 0) }') "
    done
    awk -v fmt="$RATIO_FMT" -v name="$f/$o" -v proto="$proto" -v p="$p" -v cookie="$cookie" \
        -v r1="${A_RPS[$c]}" -v r0="${A_RPS[$k]}" -v c1="${A_CPU[$c]}" -v c0="${A_CPU[$k]}" \
        -v l1="${A_P99[$c]}" -v l0="${A_P99[$k]}" -v rounds="$per_round" \
        'BEGIN {
            n = split(rounds, r, " ")
            for (i = 2; i <= n; i++) { v = r[i]; for (j = i - 1; j >= 1 && r[j] > v; j--) r[j + 1] = r[j]; r[j + 1] = v }
            median = (n % 2) ? r[(n + 1) / 2] : (r[n / 2] + r[n / 2 + 1]) / 2
            printf fmt, name, proto, p, cookie, sprintf("%.2f", r1 / r0), sprintf("%.2f", c0 > 0 ? c1 / c0 : 0),
                l0 == "-" ? "-" : sprintf("%.2f", l1 / l0), sprintf("%5.2f (%.2f-%.2f)", median, r[1], r[n]) }'
}

# ---------------------------------------------------------------- quiet: the original comparison
# Plain HTTP/1.1, no access logs, COOKIE (none by default) on every request.
QC=none
[[ -z $COOKIE ]] || QC=env
if [[ ${SKIP_QUIET:-0} != 1 ]]; then
run_groups quiet \
    "http /page.html $QC upstream nginx subfilter consentry injonly" \
    "http /page-trackers.html $QC consentry injonly" \
    "http /page-raw.html $QC upstream nginx consentry${HAVE_BARE:+ bare}" \
    "http /data.json $QC upstream nginx consentry${HAVE_BARE:+ bare}"
echo "   (upstream rows: the upstream nginx, which shares its core with wrk; proxy rows: the proxy alone)"

ratio_header "quiet ratios (first / second): req/s above 1 = the first faster; cpu/req and p99 above 1 = the first costlier"
ratio_row quiet http /page.html $QC consentry nginx
ratio_row quiet http /page-raw.html $QC consentry nginx
ratio_row quiet http /data.json $QC consentry nginx
ratio_row quiet http /page.html $QC consentry subfilter
# The tracker rewrite against the injection-only path (trackers.block: false).
ratio_row quiet http /page.html $QC consentry injonly
ratio_row quiet http /page-trackers.html $QC consentry injonly
if [[ -n $HAVE_BARE ]]; then
    # How much of consentry's cost is hyper and tokio themselves.
    ratio_row quiet http /page-raw.html $QC bare nginx
    ratio_row quiet http /data.json $QC bare nginx
    ratio_row quiet http /page-raw.html $QC consentry bare
    ratio_row quiet http /data.json $QC consentry bare
fi
fi

# ---------------------------------------------------------------- production: plain HTTP/1.1
# Access logs on (nginx-log, consentry-log) and off (nginx, consentry; bare has none),
# with the realistic Cookie header and without. Each group is one path and one cookie.
if [[ ${SKIP_PROD:-0} != 1 ]]; then
    prod_groups=()
    for cookie in real none; do
        prod_groups+=("http /data.json $cookie nginx-log consentry-log nginx consentry${HAVE_BARE:+ bare}")
        prod_groups+=("http /page.html $cookie nginx-log consentry-log nginx consentry")
    done
    run_groups production "${prod_groups[@]}"

    ratio_header "production ratios (first / second); consentry injects in /page.html, nginx does not"
    for cookie in real none; do
        for path in /data.json /page.html; do
            ratio_row production http "$path" "$cookie" consentry-log nginx-log
            ratio_row production http "$path" "$cookie" consentry nginx
        done
    done
    echo "   what access logs cost each (log on / log off):"
    for cookie in real none; do
        for path in /data.json /page.html; do
            ratio_row production http "$path" "$cookie" nginx-log nginx
            ratio_row production http "$path" "$cookie" consentry-log consentry
        done
    done
    if [[ -n $HAVE_BARE ]]; then
        echo "   consentry's own work on top of hyper and tokio:"
        ratio_row production http /data.json real consentry bare
        ratio_row production http /data.json none consentry bare
    fi
fi

# ---------------------------------------------------------------- production: TLS
# nginx and consentry terminating TLS with the same certificate in front of the same
# upstream, access logs on, the realistic Cookie header: HTTP/1.1 with keep-alive,
# HTTP/2 (H2_CONNS connections, H2_STREAMS streams in flight on each), and a new TLS
# connection per request, with the ECDSA certificate and with the RSA one.
if [[ -n $TLS ]]; then
    run_groups tls \
        "https /data.json real nginx-tls consentry-tls" \
        "https /page.html real nginx-tls consentry-tls" \
        "h2 /data.json real nginx-tls consentry-tls" \
        "h2 /page.html real nginx-tls consentry-tls" \
        "handshake /data.json real nginx-tls consentry-tls" \
        "handshake /data.json real nginx-rsa consentry-rsa"
    echo "   (handshake rows: openssl s_time -new, HS_CONNS=$HS_CONNS processes; req/s = new TLS connections per"
    echo "    second, each with one request; cpu_us/req includes the handshake; no latencies; a resumed session"
    echo "    counts as an error. -tls targets: ECDSA P-256, -rsa: RSA 2048)"

    ratio_header "tls ratios (first / second); consentry injects in /page.html, nginx does not"
    for proto in https h2; do
        for path in /data.json /page.html; do
            ratio_row tls "$proto" "$path" real consentry-tls nginx-tls
        done
    done
    ratio_row tls handshake /data.json real consentry-tls nginx-tls
    ratio_row tls handshake /data.json real consentry-rsa nginx-rsa
fi

# ---------------------------------------------------------------- targets
# Issue 16's targets for consentry against nginx, from the rows above: access logs on
# both sides, the realistic Cookie header. CPU targets divide consentry's cpu_us/req
# by nginx's. Throughput targets (HTTP/2 req/s, handshakes/s) are about what one core
# can serve: the req/s measured when both proxies kept their core busy (90 % or more),
# else 1e6 / cpu_us/req of each (the load generator, on the other core, was the limit,
# which it is for handshakes on a 2-core machine: the client's side of a full
# handshake costs more CPU than the server's).
TARGET_FMT='%-64s %8s %8s  %-8s %s\n'
target_row() { # description metric(cpu|rate) wanted("<= 1.00") section proto path cookie first second
    local what=$1 metric=$2 wanted=$3 c="$4 $5 $8 $6 $7" k="$4 $5 $9 $6 $7"
    [[ -n ${A_CPU[$c]:-} && -n ${A_CPU[$k]:-} ]] || return 0
    awk -v fmt="$TARGET_FMT" -v what="$what" -v metric="$metric" -v wanted="$wanted" \
        -v r1="${A_RPS[$c]}" -v r0="${A_RPS[$k]}" -v c1="${A_CPU[$c]}" -v c0="${A_CPU[$k]}" 'BEGIN {
        split(wanted, w, " ")
        b1 = c1 * r1 / 1e4; b0 = c0 * r0 / 1e4; note = ""
        if (metric == "cpu") v = c1 / c0
        else if (b1 >= 90 && b0 >= 90) { v = r1 / r0; note = "req/s measured" }
        else { v = c0 / c1; note = sprintf("per core; measured req/s %.2f, proxies %.0f%%/%.0f%% busy", r1 / r0, b1, b0) }
        met = (w[1] == "<=") ? (v <= w[2] + 0) : (v >= w[2] + 0)
        printf fmt, what, sprintf("%.2f", v), wanted, met ? "met" : "NOT MET", note }'
}
p99_worst() { # "section proto path cookie first second"...: the highest p99 ratio, and how many exceed 1.10
    local cmp section proto path cookie f o worst=0 which="" over=0 n=0 r
    for cmp in "$@"; do
        read -r section proto path cookie f o <<<"$cmp"
        local c="$section $proto $f $path $cookie" k="$section $proto $o $path $cookie"
        [[ -n ${A_P99[$c]:-} && -n ${A_P99[$k]:-} && ${A_P99[$k]} != - ]] || continue
        r=$(awk -v a="${A_P99[$c]}" -v b="${A_P99[$k]}" 'BEGIN { printf "%.2f", a / b }')
        n=$((n + 1))
        if awk -v r="$r" 'BEGIN { exit !(r > 1.10) }'; then over=$((over + 1)); fi
        if awk -v r="$r" -v w="$worst" 'BEGIN { exit !(r > w) }'; then worst=$r which="$proto $path $cookie, $f/$o"; fi
    done
    ((n > 0)) || return 0
    printf "$TARGET_FMT" "p99 at most 10 % above nginx's: worst of $n comparisons" "$worst" "<= 1.10" \
        "$( ((over == 0)) && echo met || echo 'NOT MET')" "$which; $over of $n above 1.10"
}
if [[ ${SKIP_PROD:-0} != 1 || -n $TLS ]]; then
    echo
    echo "== issue 16 targets: consentry / nginx in this run; access logs on both sides, realistic Cookie header"
    printf "$TARGET_FMT" target measured wanted verdict ''
    target_row "JSON, HTTP/1.1: CPU per request" cpu "<= 1.00" production http /data.json real consentry-log nginx-log
    target_row "JSON, HTTP/1.1 over TLS: CPU per request" cpu "<= 1.00" tls https /data.json real consentry-tls nginx-tls
    target_row "injected 30 KB page vs plain nginx, HTTP/1.1: CPU per request" cpu "<= 1.40" production http /page.html real consentry-log nginx-log
    target_row "injected 30 KB page vs plain nginx, over TLS: CPU per request" cpu "<= 1.40" tls https /page.html real consentry-tls nginx-tls
    target_row "TLS handshakes per second, ECDSA P-256" rate ">= 1.00" tls handshake /data.json real consentry-tls nginx-tls
    target_row "TLS handshakes per second, RSA 2048" rate ">= 1.00" tls handshake /data.json real consentry-rsa nginx-rsa
    target_row "HTTP/2 requests per second, JSON" rate ">= 1.00" tls h2 /data.json real consentry-tls nginx-tls
    # Every consentry/nginx pair with latencies, logs on and off, with and without cookies.
    p99_pairs=()
    for path in /data.json /page.html; do
        for cookie in real none; do
            p99_pairs+=("production http $path $cookie consentry-log nginx-log" "production http $path $cookie consentry nginx")
        done
        for proto in https h2; do p99_pairs+=("tls $proto $path real consentry-tls nginx-tls"); done
    done
    p99_worst "${p99_pairs[@]}"
fi

# ---------------------------------------------------------------- access logs
# Every request the load generators completed must have its line: a writer that drops
# lines under load (consentry's does when its queue is full) would make the log-on
# rows cheaper than production. The logs hold more lines than completed requests: the
# sanity requests, and those in flight when a run stopped (up to CONNS per run).
log_lines() { # target
    case $1 in
    nginx-*) cat "$TMP/$1"/access*.log 2>/dev/null | wc -l ;;
    consentry-*) grep -c 'consentry::access' "$TMP/$1.out" || true ;;
    esac
}
LOGGED=()
for t in nginx-log consentry-log nginx-tls consentry-tls nginx-rsa consentry-rsa; do
    ((${DONE[$t]:-0} == 0)) || LOGGED+=("$t")
done
if ((${#LOGGED[@]})); then
    sleep 1.5 # nginx's buffered log is flushed within flush=1s
    echo
    echo "== access logs: lines written against requests completed by the load generator"
    for t in "${LOGGED[@]}"; do
        lines=$(log_lines "$t")
        printf '   %-14s %9d lines for %9d requests: %s\n' "$t" "$lines" "${DONE[$t]:-0}" \
            "$( ((lines >= ${DONE[$t]:-0})) && echo 'none missing' || echo 'LINES MISSING')"
    done
    echo "   last line of each:"
    for t in "${LOGGED[@]}"; do
        case $t in
        nginx-*) tail -n1 "$TMP/$t/access.log" ;;
        consentry-*) grep 'consentry::access' "$TMP/$t.out" | tail -n1 ;;
        esac | sed 's/^/   /'
    done
fi

# ---------------------------------------------------------------- TLS sessions
# Whether the handshake rows made full handshakes: nginx logs for each request whether
# its session was resumed and its number on the connection. Left out: the sanity
# requests (one of which resumes on purpose). The handshake rows use the same client
# (wrk) against nginx and consentry, so what holds for nginx's side holds for both.
if [[ -n $TLS && ${DONE[nginx-rsa handshake]:-0} -gt 0 ]]; then
    echo
    echo "== TLS sessions in nginx's logs (\$ssl_session_reused, \$connection_requests; sanity requests left out)"
    for t in nginx-tls nginx-rsa; do
        awk -v t="$t" -v hs="${DONE[$t handshake]:-0}" '!/load\.sh-sanity/ {
                n++
                if ($(NF - 1) == "r") reused++
                if ($NF == 1) first++
                proto[$(NF - 2)]++
            }
            END {
                for (p in proto) protos = protos sprintf(" %s %d", p, proto[p])
                printf "   %-10s %8d requests (%s): %d on a resumed session, %d first on their connection; the handshake rows completed %d\n",
                    t, n, substr(protos, 2), reused, first, hs }' "$TMP/$t/access.log"
    done
fi

# ---------------------------------------------------------------- streaming memory
if [[ ${SKIP_MEMORY:-0} == 1 ]]; then exit 0; fi
mem_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
sample_mem() { # pid file: VmRSS every 0.2 s until killed
    while :; do
        mem_kb "$1" VmRSS >>"$2" 2>/dev/null || break
        sleep 0.2
    done
}
mem_test() { # label output curl-args...
    local label=$1 output=$2 pid=${CPU_PID[consentry]} samples=$TMP/mem.samples sampler result
    shift 2
    : >"$samples"
    local base
    base=$(mem_kb "$pid" VmRSS)
    echo 5 >"/proc/$pid/clear_refs" 2>/dev/null || true # reset VmHWM to the current RSS
    sample_mem "$pid" "$samples" &
    sampler=$!
    result=$(taskset -c "$LOAD_CPU" curl -s -o "$output" -w '%{http_code} %{size_download} %{size_upload} %{time_total}' "$@")
    kill "$sampler" 2>/dev/null || true
    wait "$sampler" 2>/dev/null || true
    local peak hwm
    peak=$(sort -n "$samples" | tail -1)
    hwm=$(mem_kb "$pid" VmHWM)
    read -r code down up secs <<<"$result"
    awk -v l="$label" -v code="$code" -v bytes="$((down + up))" -v s="$secs" -v base="$base" -v peak="$peak" \
        -v hwm="$hwm" -v n="$(wc -l <"$samples")" 'BEGIN {
        printf "%-22s status=%s %6.0f MB in %5.1f s (%5.0f MB/s)  RSS before %5.1f MB, peak sampled %5.1f MB (%d samples), VmHWM %5.1f MB\n",
            l, code, bytes / 1048576, s, bytes / 1048576 / s, base / 1024, peak / 1024, n, hwm / 1024 }'
}
echo
echo "== streaming memory through consentry (VmRSS sampled every 0.2 s; VmHWM reset before each transfer)"
mem_test "GET 1 GB download" /dev/null -H "Host: $HOST" "http://127.0.0.1:$CS_PORT/big.bin"
mem_test "PUT 1 GB upload" "$TMP/upload.answer" -T "$WWW/big.bin" -H "Host: $UPLOAD_HOST" "http://127.0.0.1:$CS_PORT/upload"
echo "   (the upload's upstream received $(cat "$TMP/upload.answer" 2>/dev/null || echo '?') bytes; the file has $(stat -c %s "$WWW/big.bin"))"
