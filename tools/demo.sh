#!/usr/bin/env bash
# tools/demo.sh: see ringcast run, from a fresh Debian 12 machine, in one command (as root):
#
#     bash tools/demo.sh [--port N] [--tls-port N] [--seconds N] [--rate R]
#
#   1. installs the Debian packages the build needs that are missing (the list tests/run.sh uses,
#      without the sanitizer's clang);
#   2. builds wolfSSL from Debian's source with its x86-64 assembly (tools/wolfssl-build.sh, into
#      build/wolfssl), then the release build into build/release (ringcast, ringcast-feed, ...);
#   3. makes a self-signed certificate for 127.0.0.1 (tools/gen-cert.sh, in the logs' folder),
#      starts the server on 127.0.0.1:PORT (ws://) and 127.0.0.1:TLS-PORT (wss://) pinned to
#      CPU 0, checks https://127.0.0.1:TLS-PORT/healthz with curl, a synthetic market-data feed
#      (ringcast-feed, 8 topics) pinned to CPU 1, and subscribers: a few Python WebSocket clients
#      on the feed's topics, and, if perf/ringcast-bench is built, a fan-out run of it (100
#      subscribers of its own topic) on CPU 1;
#   4. prints how to subscribe from a browser console and from Python, then every 3 seconds a line
#      of the server's /metrics (published, delivered, dropped, connections) and what a subscriber
#      just received, until Ctrl-C or --seconds;
#   5. stops everything: the feed first, then the server with SIGTERM (it drains: every client
#      gets what is queued, then close 1001, and the server exits 0), then whatever is left.
#
# Options: --port N (default 8080), --tls-port N (default 8443), --seconds N (default: until
# Ctrl-C), --rate R (the feed's
# messages per second, default 1000). Environment: RC_BUILD_DIR (default ./build, as tests/run.sh),
# RC_JOBS (build parallelism, default nproc), RC_DEMO_PLAIN_PYTHON=1 (use the built-in Python
# client even when python3-websockets is installed). Logs go to a directory under /tmp, printed with
# the instructions and kept. Exit status: 0 if the server drained and exited 0, 1 otherwise.
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${RC_BUILD_DIR:-$top/build}/release
jobs=${RC_JOBS:-$(nproc)}
port=8080
tls_port=8443
seconds=0
rate=1000
interval=3

die() { printf 'demo: %s\n' "$*" >&2; exit 1; }
usage() { sed -n '2,27p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
	case $1 in
	--port) port=${2:-}; shift 2 || die "--port needs a value" ;;
	--port=*) port=${1#*=}; shift ;;
	--tls-port) tls_port=${2:-}; shift 2 || die "--tls-port needs a value" ;;
	--tls-port=*) tls_port=${1#*=}; shift ;;
	--seconds) seconds=${2:-}; shift 2 || die "--seconds needs a value" ;;
	--seconds=*) seconds=${1#*=}; shift ;;
	--rate) rate=${2:-}; shift 2 || die "--rate needs a value" ;;
	--rate=*) rate=${1#*=}; shift ;;
	-h|--help) usage; exit 0 ;;
	*) die "unknown argument '$1' (try --help)" ;;
	esac
done
[[ $port =~ ^[0-9]+$ ]] && [ "$port" -ge 1 ] && [ "$port" -le 65535 ] ||
	die "--port must be 1..65535, not '$port'"
[[ $tls_port =~ ^[0-9]+$ ]] && [ "$tls_port" -ge 1 ] && [ "$tls_port" -le 65535 ] &&
	[ "$tls_port" -ne "$port" ] || die "--tls-port must be 1..65535 and not --port, not '$tls_port'"
[[ $seconds =~ ^[0-9]+$ ]] || die "--seconds must be a whole number of seconds, not '$seconds'"
[[ $rate =~ ^[0-9]+$ ]] && [ "$rate" -ge 1 ] || die "--rate must be a whole number >= 1, not '$rate'"

step() { printf '\n==> %s\n' "$*"; }

# --- 1. Debian packages ----------------------------------------------------------------------
. "$top/tools/apt-need.sh"
apt_need demo build-essential cmake pkg-config liburing-dev libwolfssl-dev libcriterion-dev curl \
	--cmd openssl openssl

# --- 2. build --------------------------------------------------------------------------------
# wolfSSL with its x86-64 assembly first (tools/wolfssl-build.sh: a few minutes the first time,
# nothing after; docs/benchmarks.md, "TLS crypto"); the build links it.
step "wolfSSL with assembly (tools/wolfssl-build.sh)"
RC_BUILD_DIR="${RC_BUILD_DIR:-$top/build}" RC_JOBS="$jobs" bash "$top/tools/wolfssl-build.sh"
step "building into ${build#"$top"/} (release)"
targets=(ringcast ringcast-feed ringcast-cli)
[ -d "$top/perf/bench" ] && targets+=(ringcast-bench)
cmake -S "$top" -B "$build" -DCMAKE_BUILD_TYPE=Release -DRC_WOLFSSL=own \
	-DRC_WOLFSSL_DIR="${RC_BUILD_DIR:-$top/build}/wolfssl" >/dev/null
cmake --build "$build" -j "$jobs" --target "${targets[@]}"
server_bin=$build/tools/ringcast
feed_bin=$build/tools/ringcast-feed
bench_bin=$build/perf/ringcast-bench
[ -x "$server_bin" ] && [ -x "$feed_bin" ] || die "the build did not produce $server_bin and $feed_bin"

# --- 3. start --------------------------------------------------------------------------------
# CPU 0 for the server, CPU 1 for the clients (both on CPU 0 if this machine lets us use one only).
server_cpu=0
client_cpu=1
taskset -c 0 true 2>/dev/null || die "taskset -c 0 failed: is CPU 0 outside this process's affinity mask?"
if ! taskset -c 1 true 2>/dev/null; then
	client_cpu=0
	echo "demo: only one CPU usable here: the clients share CPU 0 with the server"
fi

# Nothing may be listening on the port already. Checked by connecting, not only by the server's
# bind: the server sets SO_REUSEPORT, so a second ringcast of the same user would bind the same
# port next to a running one and the kernel would split the clients between the two.
for p in "$port:--port" "$tls_port:--tls-port"; do
	if (exec 3<>"/dev/tcp/127.0.0.1/${p%%:*}") 2>/dev/null; then
		who=$(ss -Hltnp "sport = :${p%%:*}" 2>/dev/null | sed -n 's/.*users:((\("[^"]*"\),pid=\([0-9]*\).*/\1 (pid \2)/p' | head -n 1)
		die "port ${p%%:*} is taken${who:+ by $who}: stop it, or pick another with ${p#*:} N"
	fi
done

logs=$(mktemp -d "${TMPDIR:-/tmp}/ringcast-demo.XXXXXX")
server_pid=
feed_pid=
bench_pid=
subs_pid=
server_status=
cleaned=0

alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }

# wait_gone PID SECONDS: wait for PID (our child) to exit; its status in $gone_status, or empty
# if it is still running after SECONDS.
wait_gone() {
	local pid=$1 i
	gone_status=
	for ((i = 0; i < $2 * 10; i++)); do
		if ! alive "$pid"; then
			gone_status=0
			wait "$pid" 2>/dev/null || gone_status=$?
			return 0
		fi
		sleep 0.1
	done
	return 0
}

stop_child() { # stop_child PID NAME: SIGTERM, a few seconds, then SIGKILL
	local pid=$1 name=$2
	alive "$pid" || { wait "$pid" 2>/dev/null || true; return 0; }
	kill -TERM "$pid" 2>/dev/null || true
	wait_gone "$pid" 5
	if [ -z "$gone_status" ]; then
		echo "demo: $name did not stop on SIGTERM: killing it"
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
}

cleanup() {
	[ "$cleaned" = 1 ] && return
	cleaned=1
	trap '' INT TERM HUP
	set +e
	step "stopping"
	if alive "$feed_pid"; then
		stop_child "$feed_pid" "ringcast-feed"
		echo "feed:        $(tail -n 1 "$logs/feed.log")"
	fi
	if alive "$bench_pid"; then
		# With --seconds it ends by itself just after; its summary says whether every one of
		# its subscribers got every message. Otherwise it has no end: stop it.
		[ "$seconds" -gt 0 ] && wait_gone "$bench_pid" 6
		stop_child "$bench_pid" "ringcast-bench"
	fi
	if [ -n "$bench_pid" ]; then
		line=$(grep -m 1 -E '^ +delivered ' "$logs/bench.log" 2>/dev/null | sed 's/^ *//')
		echo "bench:       ${line:-stopped before its summary (see $logs/bench.log)}"
	fi
	if alive "$server_pid"; then
		echo "server:      SIGTERM: draining (subscribers get what is queued, then close 1001)"
		kill -TERM "$server_pid" 2>/dev/null
		wait_gone "$server_pid" 15
		if [ -z "$gone_status" ]; then
			echo "demo: the server did not exit within 15 s: killing it"
			kill -KILL "$server_pid" 2>/dev/null
			wait "$server_pid" 2>/dev/null
			server_status=killed
		else
			server_status=$gone_status
		fi
		grep -E 'event=(draining|drain_timeout|drained|exit) ' "$logs/ringcast.log" | sed 's/^/             /'
		echo "server:      exit status $server_status"
	elif [ -n "$server_pid" ]; then
		wait "$server_pid" 2>/dev/null; server_status=$?
	fi
	if [ -n "$subs_pid" ]; then
		wait_gone "$subs_pid" 3
		[ -z "$gone_status" ] && stop_child "$subs_pid" "the Python subscribers"
		echo "subscribers: $(tail -n 1 "$logs/subscribers.log" 2>/dev/null)"
	fi
	echo "logs:        $logs"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# Each child gets its own session (setsid), so that Ctrl-C in the terminal reaches this script
# only: the server must see one SIGTERM from cleanup, not a SIGINT of its own first (a second
# signal makes it drop everyone at once instead of draining).
sh "$top/tools/gen-cert.sh" "$logs/tls" >/dev/null || die "tools/gen-cert.sh failed"
server_args=(--listen "127.0.0.1:$port" --tls-listen "127.0.0.1:$tls_port"
	--tls-cert "$logs/tls/cert.pem" --tls-key "$logs/tls/key.pem")
# Registering the buffer region locks it in memory: that needs CAP_IPC_LOCK (root normally has
# it, but not in a container that dropped it) or an RLIMIT_MEMLOCK as large as the region (192 MiB
# with the defaults). Without either, a small region (6 MiB) is plenty for the demo.
cap_eff=$(awk '/^CapEff:/ { print $2 }' /proc/self/status 2>/dev/null || true)
if [ -z "$cap_eff" ] || [ $(((16#$cap_eff >> 14) & 1)) -eq 0 ]; then # bit 14: CAP_IPC_LOCK
	lim=$(ulimit -l)
	if [ "$lim" != unlimited ] && [ "$lim" -lt $((192 * 1024)) ]; then
		server_args+=(--recv-buffers 32 --pool-buffers 64)
		echo "demo: no CAP_IPC_LOCK and ulimit -l is $lim KiB: the server gets a small buffer region (6 MiB)"
	fi
fi
step "starting ringcast on 127.0.0.1:$port (ws) and 127.0.0.1:$tls_port (wss), pinned to CPU $server_cpu"
setsid taskset -c "$server_cpu" "$server_bin" "${server_args[@]}" >"$logs/ringcast.log" 2>&1 &
server_pid=$!
for ((i = 0; i < 150; i++)); do
	grep -q 'event=listening ' "$logs/ringcast.log" && break
	if ! alive "$server_pid"; then
		cat "$logs/ringcast.log" >&2
		if grep -qi 'address already in use' "$logs/ringcast.log"; then
			die "port $port or $tls_port is taken: pick others with --port N / --tls-port N"
		fi
		die "the server did not start (its log is above)"
	fi
	sleep 0.1
done
grep -q 'event=listening ' "$logs/ringcast.log" || die "the server did not report listening within 15 s (log: $logs/ringcast.log)"
grep 'event=listening ' "$logs/ringcast.log" | sed 's/^/    /'
step "checking wss: curl --cacert $logs/tls/cert.pem https://127.0.0.1:$tls_port/healthz"
curl -sS --max-time 5 --cacert "$logs/tls/cert.pem" "https://127.0.0.1:$tls_port/healthz" ||
	die "the TLS listener did not answer (log: $logs/ringcast.log)"

feed_topics=(BTC-USD ETH-USD SOL-USD XRP-USD BNB-USD DOGE-USD ADA-USD AVAX-USD)
topics_csv=$(IFS=,; echo "${feed_topics[*]}")
step "starting ringcast-feed: ${#feed_topics[@]} topics, $rate msg/s, pinned to CPU $client_cpu"
setsid taskset -c "$client_cpu" "$feed_bin" --url "ws://127.0.0.1:$port" --topics "${#feed_topics[@]}" \
	--rate "$rate" >"$logs/feed.log" 2>&1 &
feed_pid=$!

# Subscribers on the feed's topics: Python, with python3-websockets if it is installed, else a
# small client of its own on the standard library.
python=
[ -x /usr/bin/python3 ] && python=/usr/bin/python3
[ -z "$python" ] && command -v python3 >/dev/null && python=$(command -v python3)
if [ -n "$python" ]; then
	if [ "${RC_DEMO_PLAIN_PYTHON:-0}" != 1 ] && "$python" -c 'import websockets' 2>/dev/null; then
		client=websockets
	else
		client=stdlib
	fi
	cat >"$logs/subscribers.py" <<'PY'
"""demo subscribers: N plain WebSocket connections to /ws?topics=...; every few seconds one line:
messages received, and the latest one. Ends when the server closes the connections."""
import sys, time
url, n, topics, every, client = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4]), sys.argv[5]
target = f"{url}/ws?topics={topics}"
state = {"count": 0, "last": "", "codes": []}

def line(msg):
    print(msg, flush=True)

def report(prev):
    """One progress line; returns the count it reported."""
    c = state["count"]
    line(f"{n} connected, {c} messages ({(c - prev) / every:.0f}/s), latest: {state['last']}")
    return c

def summary():
    codes = sorted(set(state["codes"]))
    line(f"{n} subscriber connections received {state['count']} messages; "
         f"closed by the server with {', '.join(map(str, codes)) or 'nothing yet'}")

if client == "websockets":
    import asyncio, websockets

    async def one():
        async with websockets.connect(target, max_size=None, ping_interval=None,
                                      close_timeout=5) as ws:
            try:
                async for m in ws:
                    state["count"] += 1
                    state["last"] = m if isinstance(m, str) else m.hex()
            except websockets.ConnectionClosed:
                pass
            state["codes"].append(ws.close_code)

    async def main():
        tasks = [asyncio.create_task(one()) for _ in range(n)]
        prev = 0
        while not all(t.done() for t in tasks):
            await asyncio.wait(tasks, timeout=every)
            if not all(t.done() for t in tasks):
                prev = report(prev)
        for t in tasks:
            if t.exception() is not None:
                line(f"a subscriber failed: {t.exception()!r}")
        summary()

    asyncio.run(main())
else:
    # RFC 6455 client on the standard library: handshake, unmasked server frames, pings, close.
    import base64, hashlib, os, selectors, socket, struct
    from urllib.parse import urlsplit

    u = urlsplit(target)
    sel = selectors.DefaultSelector()

    class Conn:
        def __init__(self):
            self.s = socket.create_connection((u.hostname, u.port), timeout=10)
            key = base64.b64encode(os.urandom(16)).decode()
            self.s.sendall((f"GET {u.path}?{u.query} HTTP/1.1\r\nHost: {u.netloc}\r\n"
                            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
            buf = b""
            while b"\r\n\r\n" not in buf:
                d = self.s.recv(4096)
                if not d:
                    raise ConnectionError("closed during the handshake")
                buf += d
            head, self.buf = buf.split(b"\r\n\r\n", 1)
            if not head.startswith(b"HTTP/1.1 101"):
                raise ConnectionError(head.split(b"\r\n")[0].decode(errors="replace"))
            want = base64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest())
            if b"sec-websocket-accept: " + want.lower() not in head.lower():
                raise ConnectionError("bad Sec-WebSocket-Accept")
            self.s.setblocking(False)
            self.frag = []
            sel.register(self.s, selectors.EVENT_READ, self)

        def send(self, op, payload):
            mask = os.urandom(4)
            hdr = bytes([0x80 | op, 0x80 | len(payload)])  # control frames only: <= 125 bytes
            self.s.setblocking(True)
            self.s.sendall(hdr + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
            self.s.setblocking(False)

        def readable(self):
            try:
                d = self.s.recv(65536)
            except BlockingIOError:
                return True
            except OSError:
                d = b""
            if not d:
                self.finish(1006)
                return False
            self.buf += d
            while len(self.buf) >= 2:
                b0, b1 = self.buf[0], self.buf[1]
                op, ln, off = b0 & 0x0F, b1 & 0x7F, 2
                if ln == 126:
                    if len(self.buf) < 4: break
                    ln, off = struct.unpack_from("!H", self.buf, 2)[0], 4
                elif ln == 127:
                    if len(self.buf) < 10: break
                    ln, off = struct.unpack_from("!Q", self.buf, 2)[0], 10
                if len(self.buf) < off + ln:
                    break
                payload, self.buf = self.buf[off:off + ln], self.buf[off + ln:]
                if op == 0x9:
                    self.send(0xA, payload)
                elif op == 0x8:
                    code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                    try:
                        self.send(0x8, payload[:2])
                    except OSError:
                        pass
                    self.finish(code)
                    return False
                elif op in (0x0, 0x1, 0x2):
                    self.frag.append(payload)
                    if b0 & 0x80:
                        m = b"".join(self.frag)
                        self.frag = []
                        state["count"] += 1
                        state["last"] = m.decode(errors="replace")
            return True

        def finish(self, code):
            state["codes"].append(code)
            sel.unregister(self.s)
            self.s.close()

    conns = [Conn() for _ in range(n)]
    prev, next_report = 0, time.monotonic() + every
    while sel.get_map():
        for k, _ in sel.select(timeout=max(0.0, next_report - time.monotonic())):
            k.data.readable()
        if time.monotonic() >= next_report and sel.get_map():
            prev = report(prev)
            next_report += every
    summary()
PY
	step "starting 4 Python subscribers ($client client) on $topics_csv, pinned to CPU $client_cpu"
	setsid taskset -c "$client_cpu" "$python" -u "$logs/subscribers.py" "ws://127.0.0.1:$port" 4 \
		"$topics_csv" "$interval" "$client" >"$logs/subscribers.log" 2>&1 &
	subs_pid=$!
else
	echo "demo: no python3 here: no Python subscribers (apt-get install python3 python3-websockets for them)"
fi

# ringcast-bench, if it was built and answers --help with the flags used here: 100 subscribers
# and 1 publisher of its own topic, open loop, each subscriber checking it gets every message.
if [ -x "$bench_bin" ] && help=$("$bench_bin" --help 2>&1) &&
   grep -q -- '--subscribers' <<<"$help" && grep -q -- '--topic' <<<"$help" &&
   grep -q -- '--warmup' <<<"$help" && grep -q -- '--cpus' <<<"$help"; then
	bench_rate=$((rate < 100 ? rate : 100))
	bench_secs=$((seconds > 0 ? seconds : 86400))
	step "starting ringcast-bench: 100 subscribers + 1 publisher of topic demo.fanout at $bench_rate msg/s, pinned to CPU $client_cpu"
	setsid "$bench_bin" --subscribers 100 --publishers 1 --topic demo.fanout --rate "$bench_rate" \
		--duration "$bench_secs" --warmup 0 --drain 1 --cpus "$client_cpu" \
		"ws://127.0.0.1:$port/ws" >"$logs/bench.json" 2>"$logs/bench.log" &
	bench_pid=$!
fi

sleep 1
alive "$feed_pid" || { cat "$logs/feed.log" >&2; die "ringcast-feed stopped (its log is above)"; }

# --- 4. show ---------------------------------------------------------------------------------
cat <<EOF

ringcast is serving ws://127.0.0.1:$port/ws and wss://127.0.0.1:$tls_port/ws
(routes on both: / /ws /echo /healthz /readyz /metrics). The wss certificate is self-signed:
$logs/tls/cert.pem (trust it to use wss://, e.g. curl --cacert $logs/tls/cert.pem
https://127.0.0.1:$tls_port/healthz).

  Watch it in a browser: open http://127.0.0.1:$port/ (from another machine, first
  ssh -L $port:127.0.0.1:$port this-host): the feed's quotes as a live ticker, with sequence
  numbers, what each topic missed, and the latency from the feed's time stamp to your screen.

  Or subscribe yourself with ringcast-cli (docs/cli.md): the last quote, then the live ones:

    $build/tools/ringcast-cli sub ws://127.0.0.1:$port BTC-USD --snapshot --count 5

  or paste into that tab's developer console:

    new WebSocket("ws://127.0.0.1:$port/ws?topics=BTC-USD").onmessage = e => console.log(e.data)

  From Python (Debian: apt-get install python3-websockets):

    python3 -c 'import asyncio, websockets
    async def main():
        async with websockets.connect("ws://127.0.0.1:$port/ws?topics=BTC-USD,ETH-USD") as ws:
            async for m in ws: print(m)
    asyncio.run(main())'

  The same over wss://, trusting the demo's certificate:

    python3 -c 'import asyncio, ssl, websockets
    async def main():
        tls = ssl.create_default_context(cafile="$logs/tls/cert.pem")
        async with websockets.connect("wss://127.0.0.1:$tls_port/ws?topics=BTC-USD", ssl=tls) as ws:
            async for m in ws: print(m)
    asyncio.run(main())'

  The metrics: curl -s http://127.0.0.1:$port/metrics   Logs: $logs
EOF
if [ "$seconds" -gt 0 ]; then
	step "live for $seconds s (Ctrl-C stops earlier)"
else
	step "live until Ctrl-C"
fi

# One GET /metrics over bash's /dev/tcp (no curl needed); prints the body.
scrape() {
	timeout 3 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
		printf "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" >&3
		cat <&3' _ "$port" 2>/dev/null | tr -d '\r'
}
metric() { # metric NAME TEXT: the value of a sample without labels, or of the sum of a family
	awk -v n="$1" '$1 == n || index($1, n "{") == 1 { s += $2; f = 1 } END { if (f) printf "%d", s }' <<<"$2"
}

# From here Ctrl-C is the normal way to stop: it ends the loop, and the exit status says whether
# the server drained cleanly.
stopping=0
trap 'stopping=1' INT
start=$(date +%s)
body=$(scrape || true)
prev_pub=$(metric ringcast_messages_published_total "$body")
prev_del=$(metric ringcast_messages_delivered_total "$body")
prev_pub=${prev_pub:-0}
prev_del=${prev_del:-0}
prev_t=$start
while :; do
	nap=$interval
	if [ "$seconds" -gt 0 ]; then
		left=$((start + seconds - $(date +%s)))
		[ "$left" -le 0 ] && break
		[ "$left" -lt "$nap" ] && nap=$left
	fi
	sleep "$nap" & wait $! || true
	[ "$stopping" = 1 ] && break
	now=$(date +%s)
	body=$(scrape || true)
	if [ -z "$body" ]; then
		alive "$server_pid" || die "the server exited (log: $logs/ringcast.log)"
		echo "demo: /metrics did not answer"
		continue
	fi
	pub=$(metric ringcast_messages_published_total "$body")
	del=$(metric ringcast_messages_delivered_total "$body")
	drop=$(metric ringcast_messages_dropped_total "$body")
	conns=$(metric ringcast_connections "$body")
	if [ -z "$conns" ]; then
		# Derived when the gauge is missing from the page: every accepted connection is
		# counted once in closed_total when it ends.
		acc=$(metric ringcast_connections_accepted_total "$body")
		closed=$(metric ringcast_connections_closed_total "$body")
		[ -n "$acc" ] && [ -n "$closed" ] && conns=$((acc - closed))
	fi
	dt=$((now - prev_t > 0 ? now - prev_t : 1))
	printf '[%4ss] published %s (%s/s)  delivered %s (%s/s)  dropped %s  connections %s\n' \
		"$((now - start))" "${pub:-?}" "$(((${pub:-0} - prev_pub) / dt))" "${del:-?}" \
		"$(((${del:-0} - prev_del) / dt))" "${drop:-?}" "${conns:-?}"
	if [ -n "$subs_pid" ] && [ -s "$logs/subscribers.log" ]; then
		printf '        subscribers: %s\n' "$(tail -n 1 "$logs/subscribers.log" | cut -c 1-160)"
	fi
	prev_pub=${pub:-0}
	prev_del=${del:-0}
	prev_t=$now
	alive "$server_pid" || die "the server exited (log: $logs/ringcast.log)"
	alive "$feed_pid" || { tail -n 3 "$logs/feed.log" >&2; die "ringcast-feed stopped"; }
done

# --- 5. stop (cleanup, from the EXIT trap) ----------------------------------------------------
cleanup
[ "$server_status" = 0 ] || exit 1
exit 0
