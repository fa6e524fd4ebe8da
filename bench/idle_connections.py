#!/usr/bin/env python3
"""Memory per idle keep-alive connection: the RSS of a proxy holding N client
connections that have each made one request and stay open.

    bench/idle_connections.py PID HOST:PORT HOST_HEADER PATH N [N...]

PID is the proxy's process (for nginx, run it with `master_process off` so that one
process holds the connections). Raise `ulimit -n` above the largest N first. Start
the proxies from a kept load directory (`KEEP_TMP=1 bench/load.sh`), as the README in
this directory shows."""
import socket, sys, time
pid, addr, host, path = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
counts = [int(x) for x in sys.argv[5:]]
h, p = addr.rsplit(':', 1)
def rss():
    for line in open(f'/proc/{pid}/status'):
        if line.startswith('VmRSS'):
            return int(line.split()[1]) / 1024
socks = []
print(f"{0:6d} connections: RSS {rss():7.1f} MB")
req = f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
for n in counts:
    while len(socks) < n:
        s = socket.create_connection((h, int(p)))
        s.sendall(req)
        data = b''
        while b'\r\n\r\n' not in data:
            data += s.recv(65536)
        # drain the body by Content-Length
        head, _, rest = data.partition(b'\r\n\r\n')
        cl = 0
        for line in head.split(b'\r\n'):
            if line.lower().startswith(b'content-length:'):
                cl = int(line.split(b':')[1])
        while len(rest) < cl:
            rest += s.recv(65536)
        socks.append(s)
    time.sleep(1)
    r = rss()
    print(f"{n:6d} connections: RSS {r:7.1f} MB")
for s in socks: s.close()
