# syntax=docker/dockerfile:1
# consentry container image.
#
#   docker build -t consentry .
#   docker run --rm -p 8080:8080 -p 8443:8443 --stop-timeout 35 \
#       -v "$PWD/proxy.yaml:/etc/consentry/proxy.yaml:ro" \
#       -v "$PWD/certs:/etc/consentry/certs:ro" \
#       -v consentry-records:/var/lib/consentry \
#       consentry
#
# The image runs `consentry --config /etc/consentry/proxy.yaml --log-format json` as
# uid 10001. Mount your own proxy.yaml over the shipped one, and certs/ when the
# configuration has a `tls` section (paths in proxy.yaml are relative to its
# directory, so `certs/localhost.crt` means /etc/consentry/certs/localhost.crt).
# Consent records go to /var/lib/consentry/records.db (the shipped proxy.yaml's
# `records.store`, made absolute here): a named volume keeps them across containers;
# set `records.store: /var/lib/consentry/records.db` in your own proxy.yaml too, or
# postgres://… when several replicas run (docs/records.md). Read them with
# `docker run --rm -v consentry-records:/var/lib/consentry consentry records`.
# Other commands: `docker run --rm consentry check`, `docker run --rm -p 8080:8080
# consentry demo --listen 0.0.0.0:8080`. See deploy/README.md.

# ---- build -------------------------------------------------------------------------
FROM rust:1-bookworm AS build
WORKDIR /src

# Dependencies are cached across builds with BuildKit cache mounts (the default
# builder since Docker 23) rather than a placeholder crate: Cargo.toml declares bench
# targets whose files a placeholder would also have to fake. The target directory is
# a cache too, so the binary is copied out in the same step.
COPY . .
RUN --mount=type=cache,id=consentry-cargo-registry,target=/usr/local/cargo/registry \
    --mount=type=cache,id=consentry-cargo-git,target=/usr/local/cargo/git \
    --mount=type=cache,id=consentry-target,target=/src/target \
    cargo build --release --locked \
    && install -m 0755 target/release/consentry /usr/local/bin/consentry \
    && /usr/local/bin/consentry --version

# ---- runtime -----------------------------------------------------------------------
FROM debian:bookworm-slim

# ca-certificates: https:// upstreams are verified against the system roots.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*

RUN groupadd --system --gid 10001 consentry \
    && useradd --system --uid 10001 --gid 10001 --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin consentry

COPY --from=build /usr/local/bin/consentry /usr/local/bin/consentry

WORKDIR /etc/consentry
COPY proxy.yaml /etc/consentry/proxy.yaml
# Configuration and certificates are read-only for the proxy; the only file it
# writes is the consent records' SQLite database, in /var/lib/consentry.
RUN mkdir -p /etc/consentry/certs /var/lib/consentry \
    && sed -i 's|^  store: sqlite:records.db$|  store: sqlite:/var/lib/consentry/records.db|' \
        /etc/consentry/proxy.yaml \
    && grep -q 'store: sqlite:/var/lib/consentry/records.db' /etc/consentry/proxy.yaml \
    && chown 10001:10001 /var/lib/consentry \
    && chmod 0700 /var/lib/consentry \
    && chmod 0755 /etc/consentry /etc/consentry/certs \
    && chmod 0644 /etc/consentry/proxy.yaml
# proxy.yaml and certs/ are meant to be bind-mounted read-only (or mounted from a
# ConfigMap/Secret), which needs no declared volume. The records are data that must
# outlive the container: a declared volume, so that even a plain `docker run` keeps
# them out of the container's layer (name it with -v to find it again).
VOLUME ["/var/lib/consentry"]

USER 10001:10001

# 8080: plain HTTP (and h2c), 8443: HTTPS (HTTP/1.1 and HTTP/2 by ALPN),
# 9901: admin (/healthz, /readyz, /metrics, /cookies, /records). The shipped proxy.yaml binds
# the admin listener to 127.0.0.1, which is enough for the HEALTHCHECK below; bind it
# to 0.0.0.0:9901 in your proxy.yaml only if something outside must reach it, and
# never publish it to the internet.
EXPOSE 8080 8443 9901

# The slim image has no curl: a GET over bash's /dev/tcp. Needs `admin.listen` on
# 127.0.0.1:9901 or 0.0.0.0:9901 (change the port here if yours differs).
HEALTHCHECK --interval=30s --timeout=3s --start-period=5s --retries=3 \
    CMD bash -c 'exec 3<>/dev/tcp/127.0.0.1/9901 && printf "GET /healthz HTTP/1.0\r\n\r\n" >&3 && grep -q " 200 " <(head -1 <&3)'

# SIGTERM drains in-flight requests for up to `timeouts.shutdown_grace` (30 s by
# default): give `docker stop` more than that (`--stop-timeout 35`, or
# `stop_grace_period: 35s` in compose). SIGHUP reloads the configuration.
STOPSIGNAL SIGTERM
ENTRYPOINT ["consentry"]
CMD ["--config", "/etc/consentry/proxy.yaml", "--log-format", "json"]
