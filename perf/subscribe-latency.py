#!/usr/bin/python3
"""What a subscribe costs the client: the time from sending a ringcast.v1 subscribe command to its
subscribed notice, for a topic numbered by the connection's own worker (answered at once) and for
one numbered by the other worker (the subscribe waits for that worker's answer: docs/architecture.md,
"History and the joint"), with and without a snapshot.

    /usr/bin/python3 perf/subscribe-latency.py --build build/release --runs 3
    /usr/bin/python3 perf/subscribe-latency.py --server-flags="--idle-spin-us 200"

A server with 2 workers on CPUs 0 and 1, this client on CPU 1 (one raw blocking socket, no asyncio,
so that the client's own cost per round trip stays small and the same for both kinds). Each
measurement: N subscribes of fresh topics (so every one is a new subscription that needs the joint),
each followed by its unsubscribe, one at a time; the table gives the median and p99 of each run,
medians over runs in bold. The topic names are sorted into the two kinds by the server's debug log
(`topic_numbered` names the worker that numbers a topic), after one publish on each.
"""

import argparse
import base64
import json
import os
import re
import socket
import statistics
import struct
import sys
import time

from rcperf import server_start, server_stop


def ws_connect(port):
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall(("GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
               "Sec-WebSocket-Protocol: ringcast.v1\r\n\r\n" % key).encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        buf += s.recv(4096)
    head, _, rest = buf.partition(b"\r\n\r\n")
    if b" 101 " not in head.split(b"\r\n")[0]:
        sys.exit("handshake refused: %r" % head[:200])
    return s, bytearray(rest)


def send(s, opcode, payload):
    mask = os.urandom(4)
    n = len(payload)
    head = bytes([0x80 | opcode]) + (bytes([0x80 | n]) if n < 126 else
                                     bytes([0x80 | 126]) + struct.pack("!H", n))
    s.sendall(head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))


def recv_frame(s, buf):
    while True:
        if len(buf) >= 2:
            n, at = buf[1] & 0x7f, 2
            if n == 126 and len(buf) >= 4:
                n, at = struct.unpack_from("!H", buf, 2)[0], 4
            elif n == 127 and len(buf) >= 10:
                n, at = struct.unpack_from("!Q", buf, 2)[0], 10
            if n < 126 or at > 2:
                if len(buf) >= at + n:
                    op, payload = buf[0] & 0x0f, bytes(buf[at:at + n])
                    del buf[:at + n]
                    return op, payload
        d = s.recv(1 << 16)
        if not d:
            sys.exit("the server closed the connection")
        buf += d


def notice(s, buf, kind):
    """Skip MESSAGEs (a snapshot) until the next notice, which must be of this kind."""
    while True:
        op, payload = recv_frame(s, buf)
        if op == 1:
            n = json.loads(payload)
            if n["type"] != kind:
                sys.exit("expected a %s notice, got %r" % (kind, n))
            return n


def sort_topics(build_log, names):
    owner = {}
    with open(build_log) as f:
        for m in re.finditer(r"event=topic_numbered worker=(\d+) topic=(\S+)", f.read()):
            owner[m.group(2)] = int(m.group(1))
    return {n: owner.get(n) for n in names}


def measure(s, buf, topics, snapshot):
    times = []
    for t in topics:
        cmd = {"op": "subscribe", "topics": [t]}
        if snapshot:
            cmd["snapshot"] = True
        t0 = time.perf_counter_ns()
        send(s, 1, json.dumps(cmd).encode())
        notice(s, buf, "subscribed")
        times.append((time.perf_counter_ns() - t0) / 1000)
        send(s, 1, json.dumps({"op": "unsubscribe", "topics": [t]}).encode())
        notice(s, buf, "unsubscribed")
    times.sort()
    return statistics.median(times), times[int(0.99 * (len(times) - 1))]


def one_run(args, run):
    proc, port, log = server_start(args.build, ["--workers", "2", "--cpus", "0,1", "--log-level",
                                                "debug"] + args.server_flags.split(),
                                   taskset="0,1")
    try:
        s, buf = ws_connect(port)
        worker = None
        with open(log) as f:
            m = re.findall(r"event=ws_open worker=(\d+)", f.read())
            worker = int(m[-1]) if m else None
        names = ["sub.%d.%d" % (run, i) for i in range(args.topics * 4)]
        for t in names:  # one message each: numbered (and kept) by its owner, who logs it
            tb = t.encode()
            send(s, 2, struct.pack("!BBB", 1, 1, len(tb)) + tb + b"\0" * 8 + b"x")
        time.sleep(0.5)
        owners = sort_topics(log, names)
        here = [t for t in names if owners[t] == worker][:args.topics]
        there = [t for t in names if owners[t] not in (None, worker)][:args.topics]
        out = {}
        for kind, topics in (("owned here", here), ("owned by the other worker", there)):
            for snap in (False, True):
                out[(kind, snap)] = measure(s, buf, topics, snap)
        s.close()
        print("run %d: the connection is on worker %s" % (run + 1, worker), file=sys.stderr)
        return out
    finally:
        server_stop(proc, log)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build/release")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--topics", type=int, default=1000, help="subscribes per measurement")
    ap.add_argument("--server-flags", default="", help="more ringcast flags, one string")
    args = ap.parse_args()
    os.sched_setaffinity(0, {1})
    runs = [one_run(args, r) for r in range(args.runs)]
    print("| topic | snapshot | median, us | p99, us |")
    print("|---|---|---|---|")
    for key in runs[0]:
        med = [r[key][0] for r in runs]
        p99 = [r[key][1] for r in runs]
        print("| %s | %s | **%.1f** (%s) | **%.1f** (%s) |" % (
            key[0], "yes" if key[1] else "no", statistics.median(med),
            " / ".join("%.1f" % v for v in med), statistics.median(p99),
            " / ".join("%.1f" % v for v in p99)))


if __name__ == "__main__":
    main()
