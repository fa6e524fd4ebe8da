#!/usr/bin/env bash
# Creates a self-signed development certificate for consentry's HTTPS listener:
#
#   certs/localhost.crt   the certificate (PEM)
#   certs/localhost.key   its private key (PEM, PKCS#8, EC P-256, mode 0600)
#
# valid for 825 days for localhost, 127.0.0.1, ::1 and the five portal host names of
# the shipped proxy.yaml. Extra DNS names may be given as arguments:
#
#   certs/make-dev-cert.sh                     # refuses to overwrite existing files
#   certs/make-dev-cert.sh --force             # replaces them
#   certs/make-dev-cert.sh portal.test         # adds DNS:portal.test
#
# The files are written next to this script, whatever the working directory.
# Development only: browsers will warn about it. Never commit the key (.gitignore
# already ignores certs/*.key, *.crt and *.pem). See certs/README.md.
set -euo pipefail

usage() {
    sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
}

force=0
extra=()
for arg in "$@"; do
    case "$arg" in
        --force) force=1 ;;
        -h|--help) usage; exit 0 ;;
        -*) echo "make-dev-cert.sh: unknown option $arg (try --help)" >&2; exit 2 ;;
        *)
            if [[ ! "$arg" =~ ^[A-Za-z0-9*]([A-Za-z0-9.-]*[A-Za-z0-9])?$ ]]; then
                echo "make-dev-cert.sh: '$arg' is not a DNS name" >&2
                exit 2
            fi
            extra+=("$arg")
            ;;
    esac
done

command -v openssl >/dev/null || { echo "make-dev-cert.sh: openssl is not installed" >&2; exit 1; }

dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
crt="$dir/localhost.crt"
key="$dir/localhost.key"

if [[ $force -eq 0 && ( -e "$crt" || -e "$key" ) ]]; then
    echo "make-dev-cert.sh: $crt or $key already exists; pass --force to replace them" >&2
    exit 1
fi

names=(
    localhost
    data.longbeach.gov
    codefortulsa.opendatasoft.com
    cityofsalinas.opendatasoft.com
    infrastructure-analyzejerseycity.opendatasoft.com
    goldcoast.opendatasoft.com
)
names+=("${extra[@]+"${extra[@]}"}")
san=""
for n in "${names[@]}"; do san+="DNS:$n,"; done
san+="IP:127.0.0.1,IP:::1"

# A minimal configuration so that the system's openssl.cnf adds no extensions of its
# own (its v3_ca section would make this a CA certificate, which rustls-based clients
# refuse as a server certificate).
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
cat >"$tmp/openssl.cnf" <<'CNF'
[req]
distinguished_name = dn
prompt = no
[dn]
CN = localhost
O = consentry development
CNF

umask 077
openssl req -x509 -new -nodes \
    -config "$tmp/openssl.cnf" \
    -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
    -sha256 -days 825 \
    -keyout "$tmp/localhost.key" -out "$tmp/localhost.crt" \
    -addext "subjectAltName=$san" \
    -addext "basicConstraints=critical,CA:FALSE" \
    -addext "keyUsage=critical,digitalSignature" \
    -addext "extendedKeyUsage=serverAuth" \
    2>"$tmp/openssl.log" || { cat "$tmp/openssl.log" >&2; exit 1; }

# Move into place only once both files exist.
mv -f "$tmp/localhost.key" "$key"
chmod 600 "$key"
mv -f "$tmp/localhost.crt" "$crt"
chmod 644 "$crt"

echo "wrote $crt"
echo "wrote $key"
openssl x509 -in "$crt" -noout -subject -enddate -ext subjectAltName 2>/dev/null \
    || openssl x509 -in "$crt" -noout -subject -enddate
