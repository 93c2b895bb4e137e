#!/usr/bin/python3
"""ringcast side by side with the broadcast servers users would otherwise pick (the results:
docs/benchmarks.md, "Side by side").

    /usr/bin/python3 perf/side-by-side.py                      # everything, about 10 minutes
    /usr/bin/python3 perf/side-by-side.py --runs 1 --no-doc    # a quick look, docs untouched
    /usr/bin/python3 perf/side-by-side.py --render-only DIR    # redo the section from DIR's JSON
    /usr/bin/python3 perf/side-by-side.py --tls                # the same over wss:// (TLS)

Servers, each on one thread pinned to --server-cpu (0), a fresh process per run:
    ringcast        build/release/tools/ringcast, 1 worker; the bench speaks --proto plain to /ws
    lws-broadcast   perf/peers/lws-broadcast.c on libwebsockets (Debian), built here with gcc
    ws-broadcast    perf/peers/ws-broadcast.js on Node's ws (npm, perf/peers/package-lock.json)
The peers relay every message to every other client, so the bench speaks --proto generic to them:
1,000 subscribers and 1 publisher, so 1,000 deliveries per message for every server.

Workloads, run by perf/ringcast-bench pinned to --bench-cpu (1), --runs times each (3):
    max         closed loop, 256 messages in flight: the peak delivery rate
    rate R      open loop at R messages/s (--rates, default 10,100,1000,5000), the bench
                busy-polling: the latency percentiles
                of a server that keeps up, or, for one that does not, what it delivers and how late
The runs are interleaved (run 1 of every server and workload, then run 2, ...) so that a change in
the machine's load falls on every server alike.

What it needs and installs when missing (as root): libwebsockets-dev, gnuplot (gnuplot-nox),
nodejs and npm (tools/apt-need.sh), then `npm ci` in perf/peers. Raw JSON, logs and gnuplot data
go to --work-dir (default build-peers/side-by-side, gitignored). Unless --no-doc, it rewrites
the part of docs/benchmarks.md between the side-by-side markers (appending the markers if absent)
and the charts docs/img/side-by-side-throughput.png and docs/img/side-by-side-latency.png.

--tls runs it all over wss://: tools/gen-cert.sh makes a certificate (ECDSA P-256) in the work dir
(default build-peers/side-by-side-tls), every server serves wss:// with it (ringcast on
--tls-listen, its plain --listen off; the peers with --tls-cert and --tls-key) and the bench
verifies it (--tls-ca). The section is its own, between the side-by-side-tls markers (placed right
after the plain section's end when absent), with its charts docs/img/side-by-side-tls-*.png and,
per run, the bench's CPU and its share spent in TLS crypto (its JSON's "tls" object).
"""

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time

from rcperf import cpu_busy_s, ksoftirqd_cpu_s, proc_cpu_s

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PEERS = os.path.join("perf", "peers")
DOC = os.path.join("docs", "benchmarks.md")
IMG_THROUGHPUT = os.path.join("docs", "img", "side-by-side-throughput.png")
IMG_LATENCY = os.path.join("docs", "img", "side-by-side-latency.png")
MARK_BEGIN = "<!-- side-by-side:begin -->"
MARK_END = "<!-- side-by-side:end -->"
# --tls: its own section, right after the plain one, and its own charts.
IMG_TLS_THROUGHPUT = os.path.join("docs", "img", "side-by-side-tls-throughput.png")
IMG_TLS_LATENCY = os.path.join("docs", "img", "side-by-side-tls-latency.png")
MARK_TLS_BEGIN = "<!-- side-by-side-tls:begin -->"
MARK_TLS_END = "<!-- side-by-side-tls:end -->"
GEN_CERT = "sh tools/gen-cert.sh {dir}"
LWS_BUILD = ("gcc -O2 -g -Wall -Wextra -o {out} perf/peers/lws-broadcast.c "
             "$(pkg-config --cflags --libs libwebsockets)")
# The bench's latency percentiles (its JSON's latency_us), in the order they are charted.
PERCENTILES = [("p50", "p50"), ("p90", "p90"), ("p99", "p99"), ("p99_9", "p99.9"),
               ("p99_99", "p99.99"), ("max", "max")]
SERVER_START_S = 10     # how long a server may take to accept connections
SERVER_STOP_S = 10      # after SIGTERM, before SIGKILL (ringcast drains its clients first)
# A run during which other processes kept more than this many CPUs busy is named in the notes.
OTHER_CPUS_NOTED = 0.5
# Sustained: nothing missing and at least this share of the offered deliveries/s arrived.
SUSTAINED_SHARE = 0.99


def die(msg):
    sys.exit("side-by-side.py: " + msg)


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ---- set-up: packages, npm, the lws peer ------------------------------------------------------

def ensure_tools(args):
    """Installs the missing Debian packages and Node modules and builds lws-broadcast."""
    need = ". tools/apt-need.sh && apt_need side-by-side.py --cmd gnuplot gnuplot-nox " \
           "--cmd node nodejs --cmd npm npm --cmd pkg-config pkg-config --cmd gcc gcc " \
           "libwebsockets-dev"
    if subprocess.run(["bash", "-c", need], cwd=ROOT).returncode != 0:
        die("could not install the packages it needs (see above)")
    if not os.path.exists(os.path.join(ROOT, PEERS, "node_modules", "ws", "package.json")):
        log("==> npm ci in %s" % PEERS)
        if subprocess.run(["npm", "ci", "--no-audit", "--no-fund"],
                          cwd=os.path.join(ROOT, PEERS)).returncode != 0:
            die("npm ci failed in %s (is the npm registry reachable?)" % PEERS)
    os.makedirs(os.path.join(ROOT, args.peers_build), exist_ok=True)
    cmd = LWS_BUILD.format(out=lws_binary(args))
    log("==> " + cmd)
    if subprocess.run(["bash", "-c", cmd], cwd=ROOT).returncode != 0:
        die("building the libwebsockets peer failed: " + cmd)


def lws_binary(args):
    return os.path.join(args.peers_build, "lws-broadcast")


def cert_paths(args):
    """--tls: the directory tools/gen-cert.sh writes, and its certificate and key."""
    d = os.path.join(args.work_dir, "cert")
    return d, os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")


def make_cert(args):
    """--tls: a fresh self-signed certificate (ECDSA P-256) for 127.0.0.1, once per run of the
    script; every server serves it and the bench trusts it (--tls-ca)."""
    cmd = GEN_CERT.format(dir=cert_paths(args)[0])
    log("==> " + cmd)
    # its one line to stderr with our log: stdout is the section's, with --no-doc
    if subprocess.run(["bash", "-c", cmd], cwd=ROOT, stdout=sys.stderr).returncode != 0:
        die("making the certificate failed: " + cmd)


def snapshot_binaries(args):
    """Copies ringcast and the bench into the work dir, so a rebuild of --build by someone else
    during the runs does not change what is measured. Returns (ringcast, bench) paths."""
    paths = []
    for rel in (os.path.join("tools", "ringcast"), os.path.join("perf", "ringcast-bench")):
        src = os.path.join(ROOT, args.build, rel)
        if not os.access(src, os.X_OK):
            die("%s is missing: build it first (cmake -S . -B %s -DCMAKE_BUILD_TYPE=Release && "
                "cmake --build %s), or pass --build DIR" % (src, args.build, args.build))
        dst = os.path.join(args.work_dir, "bin", os.path.basename(rel))
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copy2(src, dst)
        paths.append(dst)
    return paths


# ---- servers -----------------------------------------------------------------------------------

def server_specs(args):
    """Every server: its command (PORT filled in later), the URL and --proto the bench uses."""
    pin = ["taskset", "-c", str(args.server_cpu)]
    if args.tls:  # wss:// only: ringcast's plain listener off, the peers given the certificate
        _, cert, key = cert_paths(args)
        rc_listen = ["--listen", "off", "--tls-listen", "127.0.0.1:{port}", "--tls-cert", cert,
                     "--tls-key", key]
        peer_tls = ["--tls-cert", cert, "--tls-key", key]
        scheme = "wss"
    else:
        rc_listen, peer_tls, scheme = ["--listen", "127.0.0.1:{port}"], [], "ws"
    return [
        {"name": "ringcast", "what": "ringcast, 1 worker",
         "cmd": pin + [os.path.join(args.build, "tools", "ringcast")] + rc_listen,
         "run": pin + [args.ringcast_bin] + rc_listen,
         "url": scheme + "://127.0.0.1:{port}/ws", "proto": "plain"},
        {"name": "lws-broadcast", "what": "libwebsockets",
         "cmd": pin + [lws_binary(args), "--port", "{port}"] + peer_tls,
         "run": pin + [os.path.join(ROOT, lws_binary(args)), "--port", "{port}"] + peer_tls,
         "url": scheme + "://127.0.0.1:{port}/", "proto": "generic"},
        {"name": "ws-broadcast", "what": "Node ws",
         "cmd": pin + ["node", os.path.join(PEERS, "ws-broadcast.js"), "--port", "{port}"] +
         peer_tls,
         "run": pin + ["node", os.path.join(ROOT, PEERS, "ws-broadcast.js"), "--port",
                       "{port}"] + peer_tls,
         "url": scheme + "://127.0.0.1:{port}/", "proto": "generic"},
    ]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(spec, logpath):
    """Starts a server and waits until it accepts connections. Returns (proc, port) or raises
    RuntimeError with the end of its log."""
    port = free_port()
    cmd = [a.format(port=port) for a in spec["run"]]
    logf = open(logpath, "w")
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=logf, stderr=subprocess.STDOUT)
    logf.close()
    deadline = time.monotonic() + SERVER_START_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("exited with code %d at start: %s" % (proc.returncode,
                                                                      tail(logpath)))
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, port
        except OSError:
            time.sleep(0.05)
    stop_server(proc)
    raise RuntimeError("not listening on port %d after %d s: %s" % (port, SERVER_START_S,
                                                                     tail(logpath)))


def stop_server(proc):
    """SIGTERM, then SIGKILL if it takes too long. Returns a note when it did not stop cleanly."""
    if proc.poll() is not None:
        return "had exited with code %d" % proc.returncode
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=SERVER_STOP_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return "did not stop within %d s of SIGTERM (killed)" % SERVER_STOP_S
    return None


def tail(path, lines=5):
    try:
        with open(path, errors="replace") as f:
            return " | ".join(f.read().strip().splitlines()[-lines:]) or "(empty log)"
    except OSError:
        return "(no log)"


# ---- measuring one run ----------------------------------------------------------------------

def proc_peak_rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        m = re.search(r"^VmHWM:\s+(\d+) kB", f.read(), re.M)
    return int(m.group(1)) if m else None


def load1():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def bench_cmd(args, bench, spec, workload, port, pid):
    # open loop: the bench busy-polls, so an idle vCPU's ~100 us wake-up stays out of its stamps
    mode = ["--max"] if workload == "max" else ["--rate", workload.split()[1], "--busy-poll"]
    # --tls: the bench verifies the server's certificate and address (127.0.0.1)
    tls = ["--tls-ca", cert_paths(args)[1]] if args.tls else []
    return (["taskset", "-c", str(args.bench_cpu), bench] + mode +
            ["-n", str(args.subscribers), "-s", str(args.size), "-d", fmt_num(args.duration),
             "--warmup", fmt_num(args.warmup), "--cpus", str(args.bench_cpu), "--server-pid",
             str(pid), "-q", "--proto", spec["proto"]] + tls + [spec["url"].format(port=port)])


def run_one(args, bench, spec, workload, tag):
    """One fresh server, one bench run. Returns the bench's JSON object plus our own fields
    (load, other_cpu, peak_rss_kib, server_note), or {"ok": False, "error": ...}."""
    logpath = os.path.join(args.work_dir, "%s.server.log" % tag)
    load = load1()
    try:
        proc, port = start_server(spec, logpath)
    except RuntimeError as e:
        return {"ok": False, "error": "server " + str(e), "load1": load}
    cmd = bench_cmd(args, bench, spec, workload, port, proc.pid)
    busy0, soft0 = cpu_busy_s(), ksoftirqd_cpu_s()
    server0, t0 = proc_cpu_s(proc.pid), time.monotonic()
    timeout = args.duration + args.warmup + 120  # connect, drain and close fit well inside
    try:
        with open(os.path.join(args.work_dir, "%s.json" % tag), "w") as out, \
                open(os.path.join(args.work_dir, "%s.bench.log" % tag), "w") as err:
            bench_proc = subprocess.Popen(cmd, stdout=out, stderr=err)
            deadline = time.monotonic() + timeout
            while True:
                wpid, status, rusage = os.wait4(bench_proc.pid, os.WNOHANG)
                if wpid:
                    break
                if time.monotonic() > deadline:
                    bench_proc.kill()
                    wpid, status, rusage = os.wait4(bench_proc.pid, 0)
                    break
                time.sleep(0.1)
        code = os.waitstatus_to_exitcode(status)
        bench_proc.returncode = code  # os.wait4 reaped it: tell Popen, which would wait again
        alive = proc.poll() is None
        busy1, soft1, t1 = cpu_busy_s(), ksoftirqd_cpu_s(), time.monotonic()
        server1 = proc_cpu_s(proc.pid) if alive else server0
        rss = proc_peak_rss_kib(proc.pid) if alive else None
    finally:
        note = stop_server(proc)
    with open(os.path.join(args.work_dir, "%s.json" % tag)) as f:
        text = f.read().strip()
    try:
        res = json.loads(text)
    except ValueError:
        res = {"ok": False, "error": "the bench printed no JSON (exit code %d): %s" % (
            code, tail(os.path.join(args.work_dir, "%s.bench.log" % tag)))}
    if code != 0 and res.get("ok", True):
        res = {"ok": False, "error": "the bench exited with code %d: %s" % (
            code, tail(os.path.join(args.work_dir, "%s.bench.log" % tag)))}
    if not alive:
        res["ok"] = False
        res["error"] = "server died during the run (%s): %s" % (note, tail(logpath))
    bench_cpu = rusage.ru_utime + rusage.ru_stime
    res["load1"] = load
    # CPU used while the bench ran by anything but the server, the bench and ksoftirqd, in CPUs:
    # what else was running on the machine.
    own = (server1 - server0) + bench_cpu + (soft1 - soft0)
    res["other_cpus"] = max(0.0, (busy1 - busy0) - own) / (t1 - t0)
    res["peak_rss_kib"] = rss
    res["server_note"] = note
    return res


def run_all(args, specs, bench):
    workloads = ["max"] + ["rate %d" % r for r in args.rates]
    results = {s["name"]: {w: [] for w in workloads} for s in specs}
    total = len(specs) * len(workloads) * args.runs
    done = 0
    for run in range(1, args.runs + 1):
        for workload in workloads:
            for spec in specs:
                done += 1
                tag = "%s-%s-%d" % (spec["name"], workload.replace(" ", ""), run)
                res = run_one(args, bench, spec, workload, tag)
                results[spec["name"]][workload].append(res)
                log("[%2d/%d] %-14s %-10s run %d: %s" % (done, total, spec["name"], workload,
                                                          run, one_line(res)))
    return workloads, results


def one_line(r):
    if not r.get("ok"):
        return "FAILED: " + r.get("error", "?")
    lat = r["latency_us"]
    tls = r.get("tls")
    return ("%.0f deliveries/s, %s per server CPU-s, missing %d, p50 %s p99 %s, load %.2f, "
            "other %.2f CPUs%s" % (r["deliveries_per_sec"], si(r["deliveries_per_server_cpu_s"]),
                                   r["missing"], ms(lat["p50"] if lat["count"] else None),
                                   ms(lat["p99"] if lat["count"] else None), r["load1"],
                                   r["other_cpus"],
                                   ", bench CPU %.0f%% (TLS crypto %.0f%% of it)" % (
                                       100 * r["bench_cpu_util"], 100 * tls["crypto_share"])
                                   if tls else ""))


# ---- summarising -------------------------------------------------------------------------------

def ok_runs(runs):
    return [r for r in runs if r.get("ok")]


def median_of(runs, get):
    vals = [v for v in (get(r) for r in ok_runs(runs)) if v is not None]
    return statistics.median(vals) if vals else None


def latency(r, key):
    lat = r["latency_us"]
    return lat[key] if lat["count"] else None


def si(v):
    if v is None:
        return "–"
    for div, unit in ((1e6, "M"), (1e3, "k")):
        if abs(v) >= div * 0.9995:  # what rounds to 1000k is 1M
            return "%.3g%s" % (v / div, unit)
    return "%.3g" % v


def ms(us):
    if us is None:
        return "–"
    v = us / 1e3
    return ("%.3g ms" % v) if v < 1000 else ("%.3g s" % (v / 1e3))


def ratio(a, b):
    if a is None or b is None or b == 0:
        return "–"
    return "%.3gx" % (a / b)


def failures(runs):
    bad = [r for r in runs if not r.get("ok")]
    if not bad:
        return ""
    errors = sorted(set(r.get("error", "?") for r in bad))
    return "%d of %d runs failed: %s" % (len(bad), len(runs), "; ".join(errors))


def cell(runs, get, fmt):
    """Median in bold and every run in brackets, or why there is none."""
    good = ok_runs(runs)
    if not good:
        return "failed" if runs else "not run"
    med = median_of(runs, get)
    if med is None:
        return "none delivered"
    each = " / ".join(fmt(get(r)) for r in good)
    return "**%s** (%s)" % (fmt(med), each)


def sustained(r, offered_per_s):
    return (r.get("ok") and r["missing"] == 0 and
            r["deliveries_per_sec"] >= SUSTAINED_SHARE * offered_per_s)


# ---- the section --------------------------------------------------------------------------------

def out(cmd):
    try:
        return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True,
                              timeout=30).stdout.strip()
    except OSError:
        return ""


def shared_lib(binary, name):
    """The Debian package and version of the shared library `name` (libwolfssl, libssl) that
    binary loads, its path when no package owns it, or None when it loads none."""
    m = re.search(r"^\s*%s\.so\S* => (\S+)" % re.escape(name), out(["ldd", binary]), re.M)
    if not m:
        return None
    path = os.path.realpath(m.group(1))
    pkg = out(["dpkg", "-S", path]).split(":")[0]
    version = out(["dpkg-query", "-W", "-f", "${Version}", pkg]) if pkg else ""
    return "%s %s" % (pkg, version) if version else path


def wolfssl_aesni(include):
    """Whether the wolfSSL whose headers are in include was built with AES-NI."""
    try:
        with open(os.path.join(include, "wolfssl", "options.h")) as f:
            return "with AES-NI" if re.search(r"^#define WOLFSSL_AESNI\b", f.read(), re.M) \
                else "without AES-NI"
    except OSError:
        return "AES-NI: unknown"


def wolfssl_of(args, binary):
    """Which wolfSSL binary runs with: a shared library (Debian's), or, linked statically, the
    build that CMake's RC_WOLFSSL chose (RC_WOLFSSL_USED in the build's CMakeCache.txt)."""
    lib = shared_lib(binary, "libwolfssl")
    if lib:
        return "%s (shared, %s)" % (lib, wolfssl_aesni("/usr/include"))
    try:
        with open(os.path.join(ROOT, args.build, "CMakeCache.txt")) as f:
            m = re.search(r"^RC_WOLFSSL_USED:INTERNAL=own (.+)$", f.read(), re.M)
        include = os.path.join(m.group(1), "include")
        with open(os.path.join(include, "wolfssl", "version.h")) as f:
            v = re.search(r'LIBWOLFSSL_VERSION_STRING "([^"]+)"', f.read()).group(1)
        return "wolfSSL %s (static, %s), built by tools/wolfssl-build.sh in %s" % (
            v, wolfssl_aesni(include), os.path.relpath(m.group(1), ROOT))
    except (OSError, AttributeError):
        return "wolfSSL linked statically (which build: unknown)"


def tls_facts(args, bench):
    """--tls: the TLS libraries of every side, and whether the CPU has AES-NI."""
    with open("/proc/cpuinfo") as f:
        aes = re.search(r"^flags\s*:.*\baes\b", f.read(), re.M) is not None
    return {
        "ringcast_wolfssl": wolfssl_of(args, args.ringcast_bin),
        "bench_wolfssl": wolfssl_of(args, bench),
        "lws_openssl": shared_lib(os.path.join(ROOT, lws_binary(args)), "libssl") or "unknown",
        "node_openssl": out(["node", "-p", "process.versions.openssl"]),
        "aes_ni": aes,
    }


def machine_facts(args):
    model = "unknown CPU"
    with open("/proc/cpuinfo") as f:
        m = re.search(r"^model name\s*:\s*(.+)$", f.read(), re.M)
        if m:
            model = m.group(1).strip()

    ws_pkg = os.path.join(ROOT, PEERS, "node_modules", "ws", "package.json")
    with open(ws_pkg) as f:
        ws_version = json.load(f)["version"]
    build = os.path.join(ROOT, args.build, "tools", "ringcast")
    return {
        "model": model, "cpus": os.cpu_count(), "kernel": platform.release(),
        "os": out(["bash", "-c", ". /etc/os-release && echo $PRETTY_NAME"]),
        "lws": out(["pkg-config", "--modversion", "libwebsockets"]).rstrip("-"),
        "node": out(["node", "--version"]), "ws": ws_version,
        "gcc": out(["gcc", "-dumpfullversion"]),
        "commit": out(["git", "log", "-1", "--format=%h (%cs)"]),
        "build_time": datetime.datetime.fromtimestamp(
            os.path.getmtime(build), datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def commands_block(args, specs):
    bench = os.path.join(args.build, "perf", "ringcast-bench")
    lines = ["# build and install: /usr/bin/python3 perf/side-by-side.py does all of this",
             "cmake -S . -B %s -DCMAKE_BUILD_TYPE=Release && cmake --build %s" % (
                 args.build, args.build),
             "(cd %s && npm ci)" % PEERS, LWS_BUILD.format(out=lws_binary(args)), ""]
    if args.tls:
        lines += ["# once: the certificate every server serves and the bench trusts",
                  GEN_CERT.format(dir=cert_paths(args)[0]), ""]
    lines += ["# each run: a fresh server ..."]
    for spec in specs:
        lines.append(" ".join(a.format(port="$PORT") for a in spec["cmd"]) + " &")
    lines.append("# ... and one workload: --max, or --rate R for R in %s" %
                 ", ".join(str(r) for r in args.rates))
    for spec in specs:
        lines.append(" ".join(bench_cmd(args, bench, spec, "max", "$PORT", "$!")))
    return "\n".join(lines)


def marks(args):
    return (MARK_TLS_BEGIN, MARK_TLS_END) if args.tls else (MARK_BEGIN, MARK_END)


def images(args):
    return (IMG_TLS_THROUGHPUT, IMG_TLS_LATENCY) if args.tls else (IMG_THROUGHPUT, IMG_LATENCY)


def tls_negotiated(runs):
    """The TLS versions and ciphers the bench reports for a server's runs."""
    got = sorted(set("%s %s" % (r["tls"]["version"], r["tls"]["cipher"])
                     for r in ok_runs(runs) if r.get("tls")))
    return ", ".join(got) if got else "no run succeeded"


def render_section(args, specs, workloads, results, facts, loads, img_rel):
    names = [s["name"] for s in specs]
    peers = names[1:]
    lines = [marks(args)[0], ""]
    if args.tls:
        lines += ["## Side by side over TLS (wss://): ringcast, libwebsockets, Node ws "
                  "(perf/side-by-side.py --tls)", "",
                  "Generated by `/usr/bin/python3 perf/side-by-side.py --tls` on %s; run it again "
                  "to regenerate this section and its two charts. Raw JSON of every run: %s (not "
                  "in the repository). The same servers, workloads and table as the plain "
                  "side-by-side section above, every connection over TLS." % (
                      facts["date"], args.work_dir), ""]
    else:
        lines += ["## Side by side: ringcast, libwebsockets, Node ws (perf/side-by-side.py)", "",
                  "Generated by `/usr/bin/python3 perf/side-by-side.py` on %s; run it again to "
                  "regenerate this section and its two charts. Raw JSON of every run: %s (not in "
                  "the repository)." % (facts["date"], args.work_dir), ""]
    lines += [
        "What is compared: ringcast with one worker against two small broadcast servers "
        "built the way a user of each library would write one (perf/peers/README.md): "
        "every message from a client goes to every other client. Each server runs on one "
        "thread pinned to CPU %d, the load generator on CPU %d, a fresh server process for "
        "every run, %d runs of each workload interleaved across the servers. %d subscribers "
        "and 1 publisher (%d deliveries per message for every server), %d-byte binary "
        "messages, %s s measured after %s s of warm-up." % (
            args.server_cpu, args.bench_cpu, args.runs, args.subscribers, args.subscribers,
            args.size, fmt_num(args.duration), fmt_num(args.warmup)), "",
        "- Machine: %s, %d CPUs, kernel %s, %s; gcc %s." % (
            facts["model"], facts["cpus"], facts["kernel"], facts["os"], facts["gcc"]),
        "- Versions: ringcast at commit %s (%s built %s); libwebsockets %s (Debian); "
        "Node %s with ws %s (npm)." % (facts["commit"], args.build, facts["build_time"],
                                        facts["lws"], facts["node"], facts["ws"])]
    if args.tls:
        tls = facts["tls"]
        lines += [
            "- TLS: every server serves the same self-signed ECDSA P-256 certificate, made for "
            "the run by tools/gen-cert.sh; the bench verifies it (`--tls-ca`) and makes one full "
            "handshake per connection (no `--tls-resume`), all during its set-up, before the "
            "measured interval. Negotiated: %s." % "; ".join(
                "%s %s" % (n, tls_negotiated([r for w in workloads for r in results[n][w]]))
                for n in names),
            "- TLS libraries: ringcast %s; the bench (the client) %s; libwebsockets OpenSSL "
            "(%s); Node its own OpenSSL %s. The CPU %s AES-NI." % (
                tls["ringcast_wolfssl"], tls["bench_wolfssl"], tls["lws_openssl"],
                tls["node_openssl"], "has" if tls["aes_ni"] else "has no")]
    lines += [
        "- Load: the 1-minute load average was %.2f before the script started, and %.2f-"
        "%.2f at the start of the runs (a run's own server and bench count for up to 2 of "
        "it). While the bench ran, other processes used a median of %.2f CPUs (at most "
        "%.2f; busy CPU time from /proc/stat less that of the server, the bench and "
        "ksoftirqd, which does part of their loopback TCP work)." % (
            loads["before"], loads["min"], loads["max"], loads["other_median"],
            loads["other_max"]), "",
        "```", commands_block(args, specs), "```", "",
        "![deliveries per second and per server CPU-second](%s)" % img_rel[0], "",
        "![open-loop latency percentiles](%s)" % img_rel[1], ""]

    lines += ["Medians in bold, then every run. Ratios are ringcast's median over the peer's: "
              "above 1 ringcast delivers more; for latency, below 1 ringcast is faster.", ""]
    head = "| workload | metric | " + " | ".join(names) + " | " + \
        " | ".join("ringcast / %s" % p for p in peers) + " |"
    lines += [head, "|" + "---|" * (2 + len(names) + len(peers))]

    def row(workload, metric, get, fmt, want_ratio=True):
        cells = [cell(results[n][workload], get, fmt) for n in names]
        meds = [median_of(results[n][workload], get) for n in names]
        ratios = [ratio(meds[0], m) if want_ratio else "" for m in meds[1:]]
        lines.append("| %s | %s | %s | %s |" % (workload_label(workload), metric,
                                                " | ".join(cells), " | ".join(ratios)))

    for w in workloads:
        row(w, "deliveries/s", lambda r: r["deliveries_per_sec"], si)
        row(w, "deliveries per server CPU-s", lambda r: r["deliveries_per_server_cpu_s"], si)
        if w != "max":
            offered = float(w.split()[1]) * args.subscribers
            kept = []
            for n in names:
                runs = results[n][w]
                good = ok_runs(runs)
                if not good:
                    kept.append("failed")
                    continue
                k = sum(1 for r in good if sustained(r, offered))
                arrived = median_of(runs, lambda r: 100.0 * r["deliveries_per_sec"] / offered)
                miss = median_of(runs, lambda r: 100.0 * r["missing"] / max(r["expected"], 1))
                kept.append("%d of %d runs%s" % (
                    k, len(good), "" if k == len(good) else
                    " (median: %.3g%% of the offered rate arrived, %.3g%% missing)" % (
                        arrived, miss)))
            lines.append("| %s | kept up (nothing missing, >= %d%% of %s/s) | %s |%s" % (
                workload_label(w), SUSTAINED_SHARE * 100, si(offered), " | ".join(kept),
                " |" * len(peers)))
        else:
            row(w, "missing (given up after 1 s)", lambda r: r["missing"], lambda v: "%d" % v,
                want_ratio=False)
        row(w, "latency p50", lambda r: latency(r, "p50"), ms)
        row(w, "latency p99", lambda r: latency(r, "p99"), ms)
        row(w, "server peak RSS", lambda r: r["peak_rss_kib"] and r["peak_rss_kib"] / 1024,
            lambda v: "%.0f MiB" % v, want_ratio=False)
        if args.tls:  # the bench decrypts every delivery: was it, not the server, the limit?
            if w == "max":  # (open loop busy-polls: its CPU is all used by design)
                row(w, "bench CPU used (of its 1 CPU)", lambda r: r["bench_cpu_util"], pct,
                    want_ratio=False)
            row(w, "bench CPU time in TLS crypto", lambda r: r["tls"] and r["tls"]["crypto_share"],
                pct, want_ratio=False)
    lines.append("")

    notes = []
    for n in names:
        for w in workloads:
            f = failures(results[n][w])
            if f:
                notes.append("- %s, %s: %s" % (n, workload_label(w), f))
            stops = [r["server_note"] for r in results[n][w] if r.get("server_note")]
            if stops:
                notes.append("- %s, %s: in %d of %d runs the server %s" % (
                    n, workload_label(w), len(stops), len(results[n][w]),
                    "; ".join(sorted(set(stops)))))
            busy = ["%.2f" % r["other_cpus"] for r in results[n][w]
                    if r.get("other_cpus", 0) > OTHER_CPUS_NOTED]
            if busy:
                notes.append("- %s, %s: other processes used %s CPUs during %d of %d runs" % (
                    n, workload_label(w), " / ".join(busy), len(busy), len(results[n][w])))
            sat = [r for r in ok_runs(results[n][w]) if r.get("bench_saturated")]
            if sat:
                crypto = [r["tls"]["crypto_share"] for r in sat if r.get("tls")]
                notes.append("- %s, %s: in %d of %d runs the bench used over 90%% of its CPU%s, "
                             "so it may have been the limit" % (
                                 n, workload_label(w), len(sat), len(results[n][w]),
                                 " (%s of it in TLS crypto)" % " / ".join(map(pct, crypto))
                                 if crypto else ""))
    if notes:
        lines += ["Runs to read with care:", ""] + notes + [""]
    lines += [
        "How to read it: `max` is a closed loop with 256 messages in flight, so its latency is "
        "queueing in that loop, not a service latency, and the bench gives up on a message after "
        "1 s (`--stall-ms`), counting it missing. In the open-loop rows latency is measured "
        "from each message's intended send time, so a server that falls behind shows it as "
        "latency and as missing messages instead of quietly receiving fewer; a dash means no "
        "message sent in the measured interval arrived. Deliveries per server CPU-second is the "
        "server's own CPU time (utime + stime) over the measured interval; on loopback it "
        "includes the TCP work done in the server's context. Peak RSS is the server's VmHWM: "
        "ringcast's includes its registered buffer region (192 MiB by default, locked at "
        "start), so it says little about per-connection cost (see the idle-memory section).", ""]
    if args.tls:
        lines += [
            "Over wss:// the bench, a wolfSSL client on one CPU, decrypts every delivery (%d per "
            "message) and the server encrypts them, so both sides pay for TLS: deliveries per "
            "server CPU-second include the server's encryption. \"Bench CPU time in TLS crypto\" "
            "is the bench's own measure of the share of its CPU time spent inside wolfSSL's calls "
            "(its JSON's `tls.crypto_share`, docs/ringcast-bench.md, \"wss:// (TLS)\"). In "
            "`max`, a bench CPU near 100%% means the bench, not the server, may have been the "
            "limit (named under \"Runs to read with care\"), and the crypto share says how much "
            "of that was TLS. In the open loop the bench busy-polls, so its CPU is all used "
            "whatever the load, and only the crypto share tells what TLS cost it." % (
                args.subscribers), ""]
    lines += [marks(args)[1]]
    return "\n".join(lines) + "\n"


def pct(v):
    return ("%.0f%%" if v >= 0.1 else "%.1f%%") % (100 * v)


def workload_label(w):
    return "max" if w == "max" else "open loop, %s msgs/s" % w.split()[1]


def fmt_num(v):
    return ("%g" % v)


def update_doc(args, section):
    """Replaces the section between its markers. Absent, the plain one is appended to the file,
    the TLS one placed right after the plain one's end (appended when there is none)."""
    mark_begin, mark_end = marks(args)
    path = os.path.join(ROOT, DOC)
    with open(path) as f:
        text = f.read()
    begin, end = text.find(mark_begin), text.find(mark_end)
    after = text.find(MARK_END) if args.tls else -1
    if begin < 0 and end < 0 and after >= 0:
        after += len(MARK_END)
        rest = text[after:].lstrip("\n")
        text = text[:after] + "\n\n" + section + ("\n" + rest if rest else "")
    elif begin < 0 and end < 0:
        text = text.rstrip("\n") + "\n\n" + section
    elif 0 <= begin < end:
        rest = text[end + len(mark_end):].lstrip("\n")
        text = text[:begin] + section + ("\n" + rest if rest else "")
    else:
        die("%s has only one of the markers %s and %s, or in the wrong order: fix it by hand"
            % (DOC, mark_begin, mark_end))
    with open(path, "w") as f:
        f.write(text)


# ---- charts --------------------------------------------------------------------------------------

COLORS = ["#1b7837", "#2166ac", "#b2182b"]  # one per server, in server order


def charts(args, specs, workloads, results):
    names = [s["name"] for s in specs]
    rates = [w for w in workloads if w != "max"]
    data = os.path.join(args.work_dir, "charts")
    os.makedirs(data, exist_ok=True)
    os.makedirs(os.path.join(ROOT, "docs", "img"), exist_ok=True)

    # Saturation: one row per server (median deliveries/s, per server CPU-s).
    with open(os.path.join(data, "max.dat"), "w") as f:
        for i, n in enumerate(names):
            runs = results[n]["max"]
            f.write("%d %s %s %s\n" % (i, n, dat(median_of(runs, lambda r: r["deliveries_per_sec"])),
                                       dat(median_of(runs,
                                                     lambda r: r["deliveries_per_server_cpu_s"]))))
    # Open loop: offered vs delivered, one file per server.
    for n in names:
        with open(os.path.join(data, "open-%s.dat" % n), "w") as f:
            for w in rates:
                offered = float(w.split()[1]) * args.subscribers
                f.write("%g %s\n" % (offered, dat(median_of(results[n][w],
                                                            lambda r: r["deliveries_per_sec"]))))
    # Latency: one file per server and rate, one line per percentile (x index, label, ms).
    lat_plots = []
    for si_, n in enumerate(names):
        for ri, w in enumerate(rates):
            meds = [median_of(results[n][w], lambda r, k=k: latency(r, k)) for k, _ in PERCENTILES]
            if all(m is None for m in meds):
                continue
            path = os.path.join(data, "lat-%s-%s.dat" % (n, w.split()[1]))
            with open(path, "w") as f:
                for i, ((_, label), m) in enumerate(zip(PERCENTILES, meds)):
                    f.write("%d %s %s\n" % (i, label, dat(m and m / 1e3)))
            lat_plots.append("'%s' using 1:3 with linespoints lc rgb '%s' dt %d pt %d lw 2 "
                             "title '%s, %s msgs/s'" % (path, COLORS[si_ % len(COLORS)], ri + 1,
                                                        ri + 5, n, w.split()[1]))

    open_plots = ["'%s' using 1:2 with linespoints lc rgb '%s' pt 7 lw 2 title '%s'" % (
        os.path.join(data, "open-%s.dat" % n), COLORS[i % len(COLORS)], n)
        for i, n in enumerate(names)]
    offered = [float(w.split()[1]) * args.subscribers for w in rates]
    if args.tls:  # on two lines (gnuplot's "\n"), or it is wider than the chart
        lat_title = ('"Open-loop latency over wss:// from intended send time, %d subscribers\\n'
                     '(median of %d runs; missing line: nothing arrived)"' % (args.subscribers,
                                                                              args.runs))
    else:
        lat_title = ("'Open-loop latency from intended send time, %d subscribers (median of %d "
                     "runs; missing line: nothing arrived)'" % (args.subscribers, args.runs))
    script = """
set terminal pngcairo size 1200,500 font 'sans,10'
set output '{tp}'
si(v) = v >= 1e6 ? sprintf('%.3gM', v / 1e6) : sprintf('%.3gk', v / 1e3)
set multiplot layout 1,2 title 'Broadcast to {n} subscribers{over}, 64-byte messages, one server CPU ({date})'
set title 'Saturation (--max): median of {runs} runs'
set logscale y
set yrange [1e3:*]
set format y '%.0s%c'
set ylabel 'deliveries'
set xrange [-0.6:{last}.6]
set style fill solid 0.8 border -1
set boxwidth 0.38
set key top right
set grid ytics
plot '{max}' using ($1-0.2):3:xtic(2) with boxes lc rgb '#4393c3' title 'per second', \\
     '' using ($1+0.2):4 with boxes lc rgb '#f4a582' title 'per server CPU-second', \\
     '' using ($1-0.2):3:(si($3)) with labels offset 0,0.7 notitle, \\
     '' using ($1+0.2):4:(si($4)) with labels offset 0,0.7 notitle
set title 'Open loop: deliveries/s that arrived (median)'
set logscale xy
set autoscale
set xrange [{xmin}:{xmax}]
set format x '%.0s%c'
set xlabel 'offered deliveries/s ({n} per message)'
set ylabel 'delivered per second'
set key top left
plot x with lines lc rgb '#999999' dt 2 title 'offered', \\
     {open}
unset multiplot

set terminal pngcairo size 1000,550 font 'sans,10'
set output '{lp}'
unset logscale
set logscale y
set autoscale
set xrange [-0.3:{plast}.3]
set format y '%g'
unset format x
set xtics ({xt})
set title {lat_title}
set xlabel 'percentile'
set ylabel 'latency (ms, log scale)'
set key outside right
set grid
plot {lat}
""".format(tp=os.path.join(ROOT, images(args)[0]), lp=os.path.join(ROOT, images(args)[1]),
           n=args.subscribers, over=" over wss://" if args.tls else "",
           lat_title=lat_title,
           runs=args.runs, last=len(names) - 1, max=os.path.join(data, "max.dat"),
           xmin=min(offered) / 2, xmax=max(offered) * 2, open=", \\\n     ".join(open_plots),
           plast=len(PERCENTILES) - 1,
           xt=", ".join("'%s' %d" % (label, i) for i, (_, label) in enumerate(PERCENTILES)),
           lat=", \\\n     ".join(lat_plots) if lat_plots else "NaN notitle",
           date=datetime.date.today().isoformat())
    gp = os.path.join(data, "charts.gp")
    with open(gp, "w") as f:
        f.write(script)
    out = subprocess.run(["gnuplot", gp], capture_output=True, text=True)
    if out.returncode != 0:
        die("gnuplot failed on %s: %s" % (gp, out.stderr.strip()[-2000:]))


def dat(v):
    return "NaN" if v is None else "%g" % v


# ---- main ----------------------------------------------------------------------------------------

def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n".join(__doc__.split("\n")[2:]))
    ap.add_argument("--build", default=os.path.join("build", "release"),
                    help="ringcast's build dir, relative to the repository (default build/release)")
    ap.add_argument("--peers-build", default="build-peers",
                    help="where lws-broadcast is built (default build-peers, gitignored)")
    ap.add_argument("--work-dir", default=None,
                    help="raw JSON, logs, chart data (default PEERS_BUILD/side-by-side, "
                    "with --tls PEERS_BUILD/side-by-side-tls)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--rates", default="10,100,1000,5000",
                    help="open-loop rates, messages/s (default 10,100,1000,5000)")
    ap.add_argument("-n", "--subscribers", type=int, default=1000)
    ap.add_argument("-s", "--size", type=int, default=64)
    ap.add_argument("-d", "--duration", type=float, default=5)
    ap.add_argument("--warmup", type=float, default=1)
    ap.add_argument("--server-cpu", type=int, default=0)
    ap.add_argument("--bench-cpu", type=int, default=1)
    ap.add_argument("--servers", default="ringcast,lws-broadcast,ws-broadcast",
                    help="which to run, ringcast first (default all three)")
    ap.add_argument("--tls", action="store_true",
                    help="every server over wss:// (TLS); its own section and charts")
    ap.add_argument("--no-doc", action="store_true",
                    help="leave docs/benchmarks.md and docs/img alone")
    ap.add_argument("--render-only", metavar="DIR",
                    help="no runs: rewrite the section and charts from DIR/results.json")
    args = ap.parse_args()
    try:
        args.rates = [int(r) for r in args.rates.split(",") if r]
    except ValueError:
        die("--rates wants comma-separated integers, not %r" % args.rates)
    if not args.rates:
        die("--rates wants at least one rate")
    if args.work_dir is None:
        args.work_dir = os.path.join(args.peers_build,
                                     "side-by-side-tls" if args.tls else "side-by-side")
    return args


def main():
    args = parse_args()
    os.chdir(ROOT)
    if args.render_only:
        with open(os.path.join(args.render_only, "results.json")) as f:
            saved = json.load(f)
        for k in ("runs", "rates", "subscribers", "size", "duration", "warmup", "server_cpu",
                  "bench_cpu", "build", "peers_build", "servers"):
            setattr(args, k, saved["args"][k])
        args.tls = saved["args"].get("tls", False)  # what was run, whatever --tls says
        args.work_dir = args.render_only
        args.ringcast_bin = "(unused)"
        specs = select(args, server_specs(args))
        finish(args, specs, saved["workloads"], saved["results"], saved["facts"],
               saved["loads"])
        return

    before = load1()
    log("load average before start: %.2f" % before)
    ensure_tools(args)
    os.makedirs(args.work_dir, exist_ok=True)
    if args.tls:
        make_cert(args)
    args.ringcast_bin, bench = snapshot_binaries(args)
    specs = select(args, server_specs(args))
    facts = machine_facts(args)
    facts["date"] = datetime.date.today().isoformat()
    if args.tls:
        facts["tls"] = tls_facts(args, bench)
    workloads, results = run_all(args, specs, bench)
    every = [r for n in results for w in results[n] for r in results[n][w]]
    others = [r["other_cpus"] for r in every if "other_cpus" in r]
    loads = {"before": before, "min": min(r["load1"] for r in every),
             "max": max(r["load1"] for r in every),
             "other_median": statistics.median(others) if others else 0,
             "other_max": max(others) if others else 0}
    saved = {"args": {k: getattr(args, k) for k in (
        "runs", "rates", "subscribers", "size", "duration", "warmup", "server_cpu", "bench_cpu",
        "build", "peers_build", "servers", "tls")}, "workloads": workloads, "results": results,
        "facts": facts, "loads": loads}
    with open(os.path.join(args.work_dir, "results.json"), "w") as f:
        json.dump(saved, f, indent=1)
    log("raw results: %s" % os.path.join(args.work_dir, "results.json"))
    finish(args, specs, workloads, results, facts, loads)


def select(args, specs):
    wanted = args.servers.split(",")
    unknown = set(wanted) - set(s["name"] for s in specs)
    if unknown or wanted[0] != "ringcast":
        die("--servers wants ringcast first, then any of lws-broadcast, ws-broadcast; got %r"
            % args.servers)
    return [s for s in specs if s["name"] in wanted]


def finish(args, specs, workloads, results, facts, loads):
    section = render_section(args, specs, workloads, results, facts, loads,
                             [os.path.relpath(img, "docs") for img in images(args)])
    if args.no_doc:
        print(section)
        return
    charts(args, specs, workloads, results)
    update_doc(args, section)
    log("wrote the section of %s, %s and %s" % ((DOC,) + images(args)))


if __name__ == "__main__":
    main()
