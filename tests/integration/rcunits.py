"""What the systemd tests share: the shipped unit files (docs/systemd/) and a free port for a
socket that is bound before the server runs."""

import os
import socket

HERE = os.path.dirname(os.path.abspath(__file__))
UNITS = os.path.join(HERE, "..", "..", "docs", "systemd")


def unit(name):
    """{section: {key: [values]}} of a unit file in docs/systemd/."""
    out, sec = {}, None
    with open(os.path.join(UNITS, name)) as f:
        for ln in f:
            ln = ln.strip()
            if not ln or ln.startswith("#"):
                continue
            if ln.startswith("["):
                sec = out.setdefault(ln.strip("[]"), {})
                continue
            k, _, v = ln.partition("=")
            sec.setdefault(k, []).append(v)
    return out


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p
