"""Free TCP ports on 127.0.0.1, for stacks that must not collide with anything already running."""

from __future__ import annotations

import random
import socket
import threading

# Ports are drawn below Linux's ephemeral range (32768-60999 by default): a port from that
# range may be taken by some outgoing connection while its server is down for a restart.
# The ceiling leaves room for SeaweedFS's `port + 10000` pairs below the range too.
_RANGE = (15000, 22700)

_lock = threading.Lock()
_handed_out: set[int] = set()


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether `port` can be bound on `host` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def free_port(*, pair_offset: int = 0) -> int:
    """A port that is free now and not handed out before by this process.

    With `pair_offset`, `port + pair_offset` is free (and reserved) too: SeaweedFS derives
    some gRPC ports from HTTP ports that way.
    """
    with _lock:
        for _ in range(500):
            port = random.randrange(*_RANGE)
            if port in _handed_out or not port_is_free(port):
                continue
            if pair_offset:
                other = port + pair_offset
                if other > 65535 or other in _handed_out or not port_is_free(other):
                    continue
                _handed_out.add(other)
            _handed_out.add(port)
            return port
    raise RuntimeError("no free port found")
