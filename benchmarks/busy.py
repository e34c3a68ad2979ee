"""A busy machine on demand: a child process spinning on one core.

``with busy_core():`` starts a child Python process that spins in a loop
pinned to one CPU (the last one this process may use), and ends it, by its
own process id, when the block exits, whether normally, on an exception, on
Ctrl-C or on SIGTERM; should this process die without a chance to (SIGKILL),
the child sees its parent gone and stops within a fraction of a second.
It stands for whatever else a machine runs (a browser, a test suite, a
neighbour on a cloud host): one core that our threads cannot have.

Used by ``benchmarks/threads.py`` and ``bench.py --busy``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time

#: The child: pin itself to one CPU, then spin until killed, or until its
#: parent is gone (killed by a signal no handler sees: it must not spin on).
_SPIN = """
import os, sys
cpu, parent = int(sys.argv[1]), int(sys.argv[2])
if cpu >= 0 and hasattr(os, "sched_setaffinity"):
    os.sched_setaffinity(0, {cpu})
sys.stdout.write("spinning\\n"); sys.stdout.flush()
while os.getppid() == parent:
    for _ in range(1_000_000):
        pass
"""


def spin_cpu() -> int:
    """The CPU the spinner takes: the last one this process may run on (-1: unknown)."""
    if hasattr(os, "sched_getaffinity"):
        return max(os.sched_getaffinity(0))
    return -1


@contextlib.contextmanager
def busy_core(enabled: bool = True):
    """Keep one core busy with a spinning child process for the duration of the block.

    Parameters
    ----------
    enabled : bool, default=True
        False makes this a no-op, so that callers can write
        ``with busy_core(busy):``.

    Yields
    ------
    pid : int or None
        The spinner's process id (None when disabled).
    """
    if not enabled:
        yield None
        return
    child = subprocess.Popen(
        [sys.executable, "-c", _SPIN, str(spin_cpu()), str(os.getpid())],
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    # SIGTERM (``timeout``, ``kill``) would end this process without running
    # the ``finally`` below: make it an exception while the child spins.
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        child.stdout.readline()  # it is pinned and spinning
        time.sleep(0.2)  # and the scheduler has seen it
        yield child.pid
    finally:
        _end(child)
        signal.signal(signal.SIGTERM, previous)


def _terminate(signum, frame):
    raise SystemExit(128 + signum)


def _end(child: subprocess.Popen) -> None:
    """Kill the spinner by its own pid and reap it (also after Ctrl-C)."""
    if child.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child.pid, signal.SIGKILL)
    child.wait()
    if child.stdout is not None:
        child.stdout.close()
