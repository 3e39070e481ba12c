"""Small helpers shared by the test bed: paths, ports, deadlines, child-process bookkeeping."""

from __future__ import annotations

import atexit
import logging
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Callable, Optional, TypeVar

REPO = Path(__file__).resolve().parent.parent
VENV = REPO / ".venv"
#: Holds librdkafka.so.1 -> the confluent-kafka wheel's librdkafka 2.16 (scripts/bootstrap.sh).
RDKAFKA_LIB_DIR = VENV / "rdkafka-lib"
#: Default place for logs of processes started by the demo (git-ignored).
STATE_DIR = REPO / ".state"

log = logging.getLogger("testbed")
T = TypeVar("T")


class TimeoutExpired(AssertionError):
    """A bounded wait ran out. An AssertionError, so pytest reports it as a test failure."""


class Deadline:
    """A point in time after which waiting stops."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    def remaining(self) -> float:
        return max(0.0, self.end - time.monotonic())

    def expired(self) -> bool:
        return time.monotonic() >= self.end


def wait_until(
    predicate: Callable[[], T],
    timeout: float,
    what: str,
    interval: float = 0.2,
    max_interval: float = 1.0,
    describe: Optional[Callable[[], str]] = None,
) -> T:
    """Calls `predicate` until it returns something truthy and returns that; raises
    TimeoutExpired after `timeout` seconds. The poll interval grows from `interval` to
    `max_interval`. `describe()` (if given) adds the current state to the timeout message."""
    deadline = Deadline(timeout)
    delay = interval
    last_error: Optional[BaseException] = None
    while True:
        try:
            result = predicate()
            if result:
                return result
            last_error = None
        except TimeoutExpired:
            raise
        except Exception as e:  # noqa: BLE001 - a failing probe is "not yet", reported at the end
            last_error = e
        if deadline.expired():
            msg = f"timed out after {timeout:.0f}s waiting for {what}"
            if describe is not None:
                try:
                    msg += f" ({describe()})"
                except Exception as e:  # noqa: BLE001
                    msg += f" (describe failed: {e!r})"
            if last_error is not None:
                msg += f"; last error: {last_error!r}"
            raise TimeoutExpired(msg)
        time.sleep(min(delay, deadline.remaining()) or 0.01)
        delay = min(delay * 1.5, max_interval)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tail(path: Optional[Path], lines: int = 40) -> str:
    """The last `lines` lines of a log file ('' if there is none)."""
    if path is None or not Path(path).exists():
        return ""
    with open(path, "rb") as f:
        try:
            f.seek(-256 * 1024, os.SEEK_END)
        except OSError:
            f.seek(0)
        data = f.read().decode("utf-8", "replace")
    return "\n".join(data.splitlines()[-lines:])


# Processes started by the test bed, stopped at interpreter exit if still running, so that an
# aborted test run or demo does not leave brokers and bridges behind.
_children: "dict[int, subprocess.Popen]" = {}


def track(proc: subprocess.Popen) -> subprocess.Popen:
    _children[proc.pid] = proc
    return proc


def untrack(proc: subprocess.Popen) -> None:
    _children.pop(proc.pid, None)


def stop_process(proc: subprocess.Popen, timeout: float = 10.0, sig: int = signal.SIGTERM) -> Optional[int]:
    """Sends `sig` (after SIGCONT, in case it was stopped), waits up to `timeout`, then SIGKILLs.
    Returns the exit code (negative signal number when killed by a signal)."""
    if proc.poll() is None:
        try:
            proc.send_signal(signal.SIGCONT)
            proc.send_signal(sig)
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            log.warning("pid %d did not stop within %.0fs after signal %d: SIGKILL", proc.pid, timeout, sig)
            proc.kill()
            proc.wait(10)
        except ProcessLookupError:
            pass
    untrack(proc)
    return proc.returncode


@atexit.register
def _stop_children() -> None:
    # Newest first: bridges before the stand-in and the broker they depend on.
    for proc in reversed(list(_children.values())):
        stop_process(proc, timeout=5)


def kafka_logger() -> logging.Logger:
    """The Python logger handed to confluent_kafka clients (instead of librdkafka printing to
    stderr): pytest captures it and shows it with a failing test."""
    return logging.getLogger("testbed.kafka")
