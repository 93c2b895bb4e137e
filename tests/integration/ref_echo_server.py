#!/usr/bin/env python3
"""Reference RFC 6455 echo server, used to validate tests/integration/conformance.py itself.

Built on the Python `websockets` library (Debian package python3-websockets, 10.4, its asyncio
"legacy" server API). Serves one route (default /echo) that sends every message back unchanged,
with a configurable message size limit (longer messages: close 1009), no compression, no
keepalive pings.

    python3 tests/integration/ref_echo_server.py --port 0 [--max-message BYTES] [--route /echo]

The first line on stdout is the port it listens on (useful with --port 0); it runs until SIGTERM
or SIGINT and then exits 0.

Two small additions over stock websockets 10.4, both so that the handshake refusals follow
RFC 6455 the way ringcast does (docs/protocol.md section 4); --stock turns both off:
  * any path other than the route is refused with 404 (stock: every path is upgraded);
  * an upgrade with a Sec-WebSocket-Version other than 13 gets 426 with
    "Sec-WebSocket-Version: 13" (RFC 6455 4.4 MUST; stock websockets answers 400 without it).
"""

import argparse
import asyncio
import http
import signal
import sys

try:
    import websockets
except ImportError:  # an interpreter without Debian's dist-packages on its path (pyenv, venv)
    sys.path.append("/usr/lib/python3/dist-packages")
    try:
        import websockets
    except ImportError:
        sys.exit("ref_echo_server: the Python 'websockets' package is missing "
                 "(Debian: apt-get install python3-websockets)")


async def echo(ws, _path=None):
    try:
        async for message in ws:
            await ws.send(message)
    except websockets.ConnectionClosed:
        pass


def make_process_request(route: str, stock: bool):
    def refuse(status, body, extra=()):
        headers = [("Content-Type", "text/plain"), ("Connection", "close")] + list(extra)
        return status, headers, body

    def process_request(path, headers):
        if stock:
            return None
        if path.split("?", 1)[0] != route:
            return refuse(http.HTTPStatus.NOT_FOUND, b"not found\n")
        versions = headers.get_all("Sec-WebSocket-Version")
        if "Upgrade" in headers and versions and versions != ["13"]:
            return refuse(http.HTTPStatus.UPGRADE_REQUIRED,
                          b"unsupported WebSocket version, only 13\n",
                          [("Sec-WebSocket-Version", "13"), ("Upgrade", "websocket")])
        return None
    return process_request


async def serve(args) -> None:
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: stop.done() or stop.set_result(None))
    async with websockets.serve(
            echo, args.host, args.port,
            max_size=args.max_message if args.max_message > 0 else None,
            max_queue=4,
            compression=None,
            ping_interval=None,
            close_timeout=args.close_timeout,
            process_request=make_process_request(args.route, args.stock)) as server:
        port = server.sockets[0].getsockname()[1]
        print(port, flush=True)
        await stop


def main() -> int:
    ap = argparse.ArgumentParser(description="RFC 6455 echo server (reference, on websockets)")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0, help="0: pick a free port (printed first)")
    ap.add_argument("--route", default="/echo", help="path served (default %(default)s)")
    ap.add_argument("--max-message", type=int, default=16 * 1024 * 1024, metavar="BYTES",
                    help="largest message accepted, longer ones are refused with close 1009; "
                         "0 = no limit (default %(default)s)")
    ap.add_argument("--close-timeout", type=float, default=2.0,
                    help="how long to wait for the client's close frame (default %(default)s)")
    ap.add_argument("--stock", action="store_true",
                    help="plain websockets behaviour: no 404 routing, no 426 version fix-up")
    args = ap.parse_args()
    asyncio.run(serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
