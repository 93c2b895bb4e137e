#!/usr/bin/env python3
"""Server user-space memory per idle WebSocket connection.

Opens N WebSocket connections to a running ringcast (/ws, no topics; with --topic T, each a
subscriber of T: /ws?topics=T), waits until every one has its 101, waits 2.5 s, and reports the
growth of the server's resident memory (VmRSS of its pid) divided by N. The connections send
nothing: an idle client (or an idle subscriber of a quiet topic). Kernel socket memory is not in
VmRSS and is reported apart (from /proc/net/sockstat, for the whole machine).

    taskset -c 0 build/release/tools/ringcast --listen 127.0.0.1:8080 &
    taskset -c 1 python3 perf/idle-memory.py --port 8080 --pid $! --connections 9000

Over TLS (wss://, the server started with --tls-listen): --tls-ca CERT.pem, with --port the TLS
port; each connection makes a full handshake (verified against CERT.pem) before its upgrade.

The client needs one descriptor per connection in this process; the per-process limit here is
about 20,000, so N is kept below that.
"""
import argparse
import base64
import os
import socket
import ssl
import time


def rss(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS for pid %d" % pid)


def sockstat_mem_pages():
    with open("/proc/net/sockstat") as f:
        for line in f:
            if line.startswith("TCP:"):
                parts = line.split()
                return int(parts[parts.index("mem") + 1])
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8080)
    ap.add_argument("--pid", type=int, required=True, help="the server's pid")
    ap.add_argument("--connections", type=int, default=9000)
    ap.add_argument("--topic", help="subscribe every connection to this topic")
    ap.add_argument("--tls-ca", help="wss://: the server's CA (PEM); --port is its TLS port")
    a = ap.parse_args()
    tls = ssl.create_default_context(cafile=a.tls_ca) if a.tls_ca else None
    base_rss, base_mem = rss(a.pid), sockstat_mem_pages()
    socks = []
    for _ in range(a.connections):
        s = socket.create_connection((a.host, a.port))
        if tls is not None:
            s = tls.wrap_socket(s, server_hostname=a.host)
        key = base64.b64encode(os.urandom(16)).decode()
        path = "/ws" if a.topic is None else "/ws?topics=" + a.topic
        s.sendall((f"GET {path} HTTP/1.1\r\nHost: {a.host}\r\nUpgrade: websocket\r\n"
                   f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                   f"Sec-WebSocket-Version: 13\r\n\r\n").encode())
        socks.append(s)
    for s in socks:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                raise SystemExit("server closed a connection during the handshake")
            data += chunk
        if not data.startswith(b"HTTP/1.1 101"):
            raise SystemExit("handshake refused: %r" % data[:60])
    time.sleep(2.5)  # the server trims chunk memory a burst left resident after 1 s idle
    after_rss, after_mem = rss(a.pid), sockstat_mem_pages()
    n = a.connections
    print(f"connections={n} rss_before={base_rss} rss_after={after_rss} "
          f"user_bytes_per_connection={(after_rss - base_rss) / n:.0f} "
          f"kernel_tcp_pages_delta={after_mem - base_mem}")
    for s in socks:
        s.close()


if __name__ == "__main__":
    main()
