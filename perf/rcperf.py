"""What the perf/ scripts share: start a ringcast server and learn its port, stop it; the CPU time
of the machine, of a process and of the kernel's ksoftirqd threads (to tell what else ran).

    from rcperf import server_start, server_stop
    proc, port, log = server_start("build/release", ["--workers", "2"], taskset=0)
    ...
    server_stop(proc, log)
"""

import os
import re
import signal
import subprocess
import sys
import tempfile
import time

LISTENING = re.compile(r"event=listening\b.*?\baddr=127\.0\.0\.1:(\d+)")


def server_start(build, flags=(), taskset=None, timeout=15.0):
    """Start build/tools/ringcast on 127.0.0.1:0 (pinned with taskset -c when taskset is not None)
    and wait for its `listening` line, which comes once every worker is set up. Returns (process,
    port, log path); exits the script with the command and log if the server does not start."""
    log = tempfile.NamedTemporaryFile(prefix="ringcast-perf-", suffix=".log", delete=False)
    cmd = ([] if taskset is None else ["taskset", "-c", str(taskset)]) + [
        os.path.join(build, "tools", "ringcast"), "--listen", "127.0.0.1:0"] + [str(f) for f in flags]
    proc = subprocess.Popen(cmd, stderr=log, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(log.name) as f:
            m = LISTENING.search(f.read())
        if m:
            return proc, int(m.group(1)), log.name
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    proc.kill()
    sys.exit("server did not start: %s (log %s)" % (" ".join(cmd), log.name))


def server_stop(proc, log):
    """SIGTERM (a drain), SIGKILL if it has not exited within 30 s; remove the log."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    os.unlink(log)


def cpu_busy_s():
    """Seconds of CPU time all CPUs have spent busy since boot (/proc/stat: user, nice, system,
    irq, softirq; steal and idle are not busy)."""
    with open("/proc/stat") as f:
        fields = f.readline().split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq = (int(x) for x in fields[:7])
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def proc_cpu_s(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def ksoftirqd_cpu_s():
    """CPU time of the kernel's ksoftirqd threads, which do part of the runs' own loopback
    TCP work when softirqs pile up: not "other load"."""
    total = 0.0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/comm" % pid) as f:
                if f.read().startswith("ksoftirqd/"):
                    total += proc_cpu_s(int(pid))
        except OSError:
            pass  # gone meanwhile
    return total
