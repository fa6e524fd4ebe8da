# Shared by the load scripts of bench/ (sourced, not run): what they check before
# starting, and how they pick ports. Each script sets SCRIPT (its name, for
# messages) before sourcing this file.

# Stops with the Debian packages to install when a tool is missing.
#   require_tools nginx wrk taskset ...
require_tools() {
    local -A package=([nginx]=nginx [wrk]=wrk [taskset]=util-linux [curl]=curl [python3]=python3
        [getconf]=libc-bin [pgrep]=procps [openssl]=openssl [h2load]=nghttp2-client
        [timeout]=coreutils [ss]=iproute2)
    local missing=() install=() tool
    for tool in "$@"; do
        command -v "$tool" >/dev/null 2>&1 && continue
        missing+=("$tool")
        install+=("${package[$tool]:-$tool}")
    done
    if ((${#missing[@]})); then
        echo "$SCRIPT: missing: ${missing[*]}" >&2
        echo "$SCRIPT: install them with: apt-get install -y ${install[*]}" >&2
        exit 1
    fi
}

# Stops unless PROXY_CPU and LOAD_CPU name cores this machine has.
require_cores() {
    local ncpu
    ncpu=$(getconf _NPROCESSORS_ONLN)
    if ((PROXY_CPU >= ncpu || LOAD_CPU >= ncpu)); then
        echo "$SCRIPT: this machine has $ncpu core(s); set PROXY_CPU and LOAD_CPU to cores that exist" >&2
        exit 1
    fi
}

# Listening ports are taken below the kernel's range of ephemeral ports when there is
# room: load runs leave thousands of client ports in TIME_WAIT for a minute, and
# nginx cannot bind a port that one of them holds (nor can anything else: a client
# connecting to a port in that range with no listener may even connect to itself).
# For the same reason a port is only free when no socket at all (not only no
# listener) has it as its local port.
PICKED=" "
read -r EPHEMERAL_LO _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || EPHEMERAL_LO=0
if ((EPHEMERAL_LO > 12000)); then PORT_LO=10000 PORT_N=$((EPHEMERAL_LO - 10000)); else PORT_LO=20000 PORT_N=30000; fi
port_free() {
    local p=$1
    [[ $PICKED != *" $p "* ]] || return 1
    if command -v ss >/dev/null 2>&1 && [[ -n $(ss -Htan "sport = :$p" 2>/dev/null) ]]; then
        return 1
    fi
    ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null
}
# Prints a free 127.0.0.1 port. It runs in a subshell (`p=$(pick_port)`): the caller
# adds the port to PICKED itself, so that it is not handed out twice.
pick_port() {
    local p
    for _ in $(seq 200); do
        p=$((PORT_LO + RANDOM % PORT_N))
        if port_free "$p"; then
            echo "$p"
            return 0
        fi
    done
    echo "$SCRIPT: no free port found" >&2
    exit 1
}

# Stops one process: TERM, then KILL after 10 s; reaps it and takes it out of PIDS.
stop() {
    local pid=$1 keep=() p
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    for p in "${PIDS[@]}"; do [[ $p == "$pid" ]] || keep+=("$p"); done
    PIDS=("${keep[@]}")
}

# The EXIT trap of a script: stops every process it started (PIDS), all asked at
# once, and removes its temporary directory TMP unless KEEP_TMP=1.
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do stop "$pid"; done
    if [[ ${KEEP_TMP:-0} == 1 ]]; then
        echo "$SCRIPT: kept $TMP" >&2
    else
        rm -rf "$TMP"
    fi
}

# The JSON answer the scripts load (about 500 bytes): an open-data API response.
data_json() {
    printf '{"dataset":"street-trees","licence":"ODbL-1.0","total_count":1234,"records":['
    for i in 1 2 3 4 5; do
        printf '{"id":%d,"species":"Quercus robur","height_m":%d.5,"district":"north"},' "$i" "$((i + 10))"
    done
    printf '{"id":7,"species":"Acer platanoides","height_m":9.0,"district":"south"}]}\n'
}

# Instructions per request of a process started under
# `valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file=OUT` (pid VPID)
# that serves Host: portal.test on PORT: waits for it to answer, warms it up 3 s
# with wrk, counts DURATION of `wrk -cCONNS` on URL_PATH with instrumentation on,
# then stops it. Prints "REQUESTS INSTRUCTIONS_PER_REQUEST FILE". wrk runs on
# LOAD_CPU when it is set; extra arguments go to wrk (`-H "Cookie: …"`). A run with
# error answers (an upstream that is not there) measured another exchange than the
# one asked for: it stops the script.
callgrind_count() { # vpid out port url-path conns duration [wrk arguments...]
    local vpid=$1 out=$2 port=$3 url_path=$4 conns=$5 duration=$6
    shift 6
    local load=()
    [[ -z ${LOAD_CPU:-} ]] || load=(taskset -c "$LOAD_CPU")
    for _ in $(seq 150); do
        curl -s -o /dev/null -H 'Host: portal.test' "http://127.0.0.1:$port/data.json" && break
        sleep 0.2
    done
    local url="http://127.0.0.1:$port$url_path"
    "${load[@]}" wrk -t1 -c"$conns" -d3s -H 'Host: portal.test' "$@" "$url" >/dev/null
    callgrind_control -i on "$vpid" >/dev/null 2>&1
    local result
    result=$("${load[@]}" wrk -t1 -c"$conns" -d"$duration" -H 'Host: portal.test' "$@" "$url")
    callgrind_control -i off "$vpid" >/dev/null 2>&1
    callgrind_control -d "$vpid" >/dev/null 2>&1
    sleep 1
    kill "$vpid" 2>/dev/null || true
    wait "$vpid" 2>/dev/null || true
    if grep -q 'Non-2xx' <<<"$result"; then
        echo "$SCRIPT: error answers under callgrind; is the upstream up? wrk said:" >&2
        echo "$result" >&2
        exit 1
    fi
    local requests file total
    requests=$(awk '/requests in/ { print $1 }' <<<"$result")
    file=$(ls "$out".* | sort -t. -k3 -n | tail -1)
    total=$(callgrind_annotate "$file" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }')
    echo "$requests $((total / requests)) $file"
}

# An nginx upstream (one worker, no logs) serving the files under WWW on PORT; its
# configuration and working files go to DIR. Prints the configuration.
static_upstream_conf() { # dir port www worker-connections [listen parameters]
    local dir=$1 port=$2 www=$3 conns=$4 listen_extra=${5:-}
    mkdir -p "$dir"
    if [[ $(id -u) == 0 ]]; then echo "user root;"; fi
    cat <<CONF
worker_processes 1; daemon off; pid $dir/nginx.pid; error_log $dir/error.log warn;
worker_rlimit_nofile $((conns > 1024 ? conns : 1024));
events { worker_connections $conns; }
http {
    access_log off; keepalive_requests 1000000;
    client_body_temp_path $dir/cb; proxy_temp_path $dir/p; fastcgi_temp_path $dir/f;
    uwsgi_temp_path $dir/u; scgi_temp_path $dir/s;
    types { application/json json; }
    server { listen 127.0.0.1:$port${listen_extra:+ $listen_extra}; root $www; }
}
CONF
}
