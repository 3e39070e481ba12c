"""Fixtures for the end-to-end tests: a real Tansu broker, the Loki stand-in and the real
kafka-loki-bridge binary, all on loopback, all stopped again even when a test fails.

Run with `make test` (or, after `make deps` and `swift build`:
`.venv/bin/python -m pytest Tests/EndToEnd -q`). The binary is $BRIDGE_BIN or
.build/debug/kafka-loki-bridge; it runs with LD_LIBRARY_PATH=.venv/rdkafka-lib (librdkafka 2.16).
The test bed's packages are imported unconditionally: a missing .venv fails loudly, it never
skips.
"""

from __future__ import annotations

import itertools
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence

import pytest

from testbed.bridge import Bridge, bridge_binary
from testbed.broker import Broker
from testbed.loki_client import LokiStandin
from testbed.producers import ProducedEntry
from testbed.util import RDKAFKA_LIB_DIR, REPO, tail
from testbed.verify import DeliveryReport, format_offsets, wait_committed_to_end, wait_for_delivery

# One line per zero-loss check, printed at the end of the run (pytest -q hides test output).
_SUMMARY: List[str] = []


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


def pytest_terminal_summary(terminalreporter):
    if _SUMMARY:
        terminalreporter.section("end-to-end delivery (zero loss, duplicates counted)")
        for line in _SUMMARY:
            terminalreporter.write_line(line)


def _failed(request) -> bool:
    rep = getattr(request.node, "rep_call", None)
    return rep is None or rep.failed


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def bridge_bin() -> Path:
    path = bridge_binary()
    if not path.exists():
        pytest.fail(f"bridge binary {path} does not exist: run `make test` (or `swift build`), or set BRIDGE_BIN",
                    pytrace=False)
    if not (RDKAFKA_LIB_DIR / "librdkafka.so.1").exists():
        pytest.fail(f"{RDKAFKA_LIB_DIR}/librdkafka.so.1 is missing: run `make deps`", pytrace=False)
    return path


@pytest.fixture(scope="module")
def broker(tmp_path_factory) -> Broker:
    """One Tansu broker per test module; tests use their own topics and groups on it."""
    b = Broker(log_path=tmp_path_factory.mktemp("broker") / "tansu.log").start()
    yield b
    b.stop()


@pytest.fixture
def loki(tmp_path, request) -> LokiStandin:
    """A fresh Loki stand-in per test (no data, no faults)."""
    s = LokiStandin(log_path=tmp_path / "loki-standin.log").start()
    yield s
    s.stop()
    if _failed(request):
        pushes = [line for line in tail(s.log_path, 2000).splitlines() if "port=control" not in line]
        print(f"\n--- Loki stand-in log ({s.log_path}), last lines without the control port ---\n"
              + "\n".join(pushes[-25:]))


_seq = itertools.count(1)


class Names:
    """Unique topic and group names for one test (the broker is shared by a module)."""

    def __init__(self, broker: Broker, test_name: str):
        self.broker = broker
        self.base = re.sub(r"[^a-zA-Z0-9]+", "-", test_name).strip("-")[:40] + f"-{os.getpid()}-{next(_seq)}"

    def topic(self, suffix: str = "logs", partitions: int = 6) -> str:
        """Creates the topic on the broker and returns its name."""
        name = f"{self.base}-{suffix}"
        self.broker.create_topic(name, partitions)
        return name

    def group(self, suffix: str = "bridge") -> str:
        return f"{self.base}-{suffix}"


@pytest.fixture
def names(broker, request) -> Names:
    return Names(broker, request.node.name)


class BridgeFactory:
    """Starts bridge processes for a test and makes sure none outlives it."""

    def __init__(self, broker: Broker, loki: LokiStandin, binary: Path, logdir: Path):
        self.broker, self.loki, self.binary, self.logdir = broker, loki, binary, logdir
        self.started: List[Bridge] = []

    def create(self, topics: Sequence[str], group: str, *, name: Optional[str] = None, tenant: Optional[str] = None,
               extra_env: Optional[Mapping[str, str]] = None) -> Bridge:
        name = name or f"bridge{len(self.started) + 1}"
        b = Bridge(brokers=self.broker.bootstrap, topics=topics, group=group, loki_url=self.loki.push_url,
                   tenant=tenant, log_path=self.logdir / f"{name}.log", extra_env=extra_env, binary=self.binary,
                   name=name)
        self.started.append(b)
        return b

    def start(self, topics: Sequence[str], group: str, *, ready_timeout: float = 60.0, **kwargs) -> Bridge:
        """create() + start() + wait_ready()."""
        return self.create(topics, group, **kwargs).start().wait_ready(ready_timeout)

    def close(self, failed: bool) -> None:
        for b in self.started:
            if b.alive():
                b.kill()
        if failed:
            for b in self.started:
                print(f"\n--- {b.name} log ({b.log_path}), last lines ---\n{b.log_tail(40)}")


@pytest.fixture
def bridges(broker, loki, bridge_bin, tmp_path, request) -> BridgeFactory:
    f = BridgeFactory(broker, loki, bridge_bin, tmp_path)
    yield f
    f.close(_failed(request))


@dataclass
class ZeroLoss:
    report: DeliveryReport
    offsets: Dict[str, Dict[int, tuple]]


@pytest.fixture
def zero_loss(broker, loki, request):
    """zero_loss(produced, group, topics, timeout=...) asserts the invariant of the project:

    1. every produced line (unique id) is in the stand-in, under the tenant and the exact label
       set it was produced with, with its timestamp and structured metadata;
    2. the group's committed offsets reach the log end on every partition of `topics`.
    Duplicates are allowed (redelivery) and counted; the count goes into the run's summary.
    Both conditions are polled with a deadline.
    """
    started = time.monotonic()

    def check(produced: Sequence[ProducedEntry], group: str, topics: Sequence[str], timeout: float = 120.0,
              tenants=None, note: str = "") -> ZeroLoss:
        assert produced, "nothing was produced"
        report = wait_for_delivery(loki, produced, timeout, tenants=tenants)
        print(report.details())
        assert report.ok, report.details()
        offsets = wait_committed_to_end(broker, group, topics, timeout=max(30.0, timeout / 2))
        print("committed/log end:\n" + format_offsets(offsets))
        records = len({(e.topic, e.partition, e.offset) for e in produced})
        parts = sum(len(p) for p in offsets.values())
        _SUMMARY.append(
            f"{request.node.name}: {report.expected} lines in {records} records, 0 missing, "
            f"{report.duplicates + report.deduplicated} duplicates; committed == log end on {parts} partitions "
            f"({time.monotonic() - started:.0f}s){' ' + note if note else ''}")
        return ZeroLoss(report, offsets)

    return check
