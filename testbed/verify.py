"""Zero-loss checks: every produced line is in the Loki stand-in under the right tenant and
stream, and the consumer group's committed offsets reach the log end."""

from __future__ import annotations

import logging
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from .broker import Broker
from .loki_client import LokiStandin, flatten_entries
from .producers import ProducedEntry
from .util import TimeoutExpired, wait_until

log = logging.getLogger("testbed.verify")


@dataclass
class DeliveryReport:
    expected: int = 0
    received: int = 0  # entries in the stand-in for the tenants looked at
    missing: List[ProducedEntry] = field(default_factory=list)
    misrouted: List[Tuple[ProducedEntry, list]] = field(default_factory=list)  # found, but other tenant/labels
    duplicates: int = 0  # extra copies of produced lines stored (redelivery; allowed, counted)
    deduplicated: int = 0  # entries the stand-in dropped as exact duplicates (same stream, ts, line), as Loki does
    wrong_timestamp: List[ProducedEntry] = field(default_factory=list)
    wrong_metadata: List[ProducedEntry] = field(default_factory=list)
    foreign: int = 0  # entries that were never produced

    @property
    def delivered(self) -> int:
        return self.expected - len(self.missing)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.misrouted or self.wrong_timestamp or self.wrong_metadata or self.foreign)

    def summary(self) -> str:
        s = (f"{self.delivered}/{self.expected} lines delivered, {len(self.missing)} missing, "
             f"{self.duplicates + self.deduplicated} duplicates ({self.deduplicated} deduplicated by Loki, "
             f"{self.duplicates} stored twice), {len(self.misrouted)} under the wrong tenant/labels, "
             f"{len(self.wrong_timestamp)} wrong timestamps, {len(self.wrong_metadata)} wrong metadata, "
             f"{self.foreign} foreign entries ({self.received} entries in the stand-in)")
        return s

    def details(self, n: int = 5) -> str:
        out = [self.summary()]
        for e in self.missing[:n]:
            out.append(f"  missing: tenant={e.tenant} {dict(e.labels)} {e.topic}[{e.partition}]@{e.offset} "
                       f"{e.fmt}: {e.line[:100]!r}")
        for e, found in self.misrouted[:n]:
            out.append(f"  misrouted: want tenant={e.tenant} {dict(e.labels)}, got {found[:2]}: {e.line[:80]!r}")
        for e in self.wrong_timestamp[:n]:
            out.append(f"  wrong timestamp (want {e.ts_ns}): {e.line[:80]!r}")
        for e in self.wrong_metadata[:n]:
            out.append(f"  wrong metadata (want {dict(e.metadata)}): {e.line[:80]!r}")
        return "\n".join(out)


def received_entries(loki: LokiStandin, tenants: Iterable[Optional[str]]) -> list:
    out = []
    for t in sorted(set(tenants), key=lambda x: x or ""):
        out.extend(flatten_entries(loki.entries(t), t))
    return out


def check_delivery(loki: LokiStandin, produced: Sequence[ProducedEntry],
                   tenants: Optional[Iterable[Optional[str]]] = None, check_metadata: bool = True) -> DeliveryReport:
    """Compares what the stand-in holds with what was produced (lines are unique)."""
    tenants = set(tenants) if tenants is not None else {e.tenant for e in produced}
    got = received_entries(loki, tenants)
    by_line: Dict[str, list] = defaultdict(list)
    for tenant, labels, ts, line, meta in got:
        by_line[line].append((tenant, labels, ts, meta))
    r = DeliveryReport(expected=len(produced), received=len(got))
    stats = loki.stats().get("tenants", {})
    r.deduplicated = sum(int(stats.get(t, {}).get("deduplicated", 0)) for t in tenants if t is not None)
    wanted = Counter(e.line for e in produced)
    r.foreign = sum(len(v) for line, v in by_line.items() if line not in wanted)
    for e in produced:
        found = by_line.get(e.line)
        if not found:
            r.missing.append(e)
            continue
        same = [f for f in found if f[0] == e.tenant and f[1] == e.labels]
        if not same:
            r.misrouted.append((e, [(f[0], dict(f[1])) for f in found]))
            continue
        r.duplicates += len(found) - 1  # generated lines are unique: every extra copy is a redelivery
        if not any(f[2] == e.ts_ns for f in same):
            r.wrong_timestamp.append(e)
        if check_metadata and not any(f[3] == e.metadata for f in same):
            r.wrong_metadata.append(e)
    return r


def assert_committed_lines_delivered(broker: Broker, loki: LokiStandin, group: str, topic: str,
                                     produced_so_far: Sequence[ProducedEntry],
                                     tenants: Iterable[Optional[str]]) -> Tuple[Dict[int, Optional[int]], int]:
    """The invariant at one moment: every line of every record below the group's committed
    offsets is in the stand-in. Returns (committed offsets, number of lines checked)."""
    committed = broker.committed(group, topic)
    below = [e for e in produced_so_far if e.offset < (committed.get(e.partition) or 0)]
    report = check_delivery(loki, below, tenants=tenants)
    assert not report.missing and not report.misrouted, \
        "committed past records whose lines are not in Loki:\n" + report.details()
    return committed, len(below)


def count_received(loki: LokiStandin, tenants: Iterable[Optional[str]]) -> int:
    """How many entries the stand-in holds for these tenants (from /stub/stats: cheap)."""
    stats = loki.stats().get("tenants", {})
    return sum(int(stats.get(t if t is not None else "fake", {}).get("entries", 0)) for t in set(tenants))


def wait_for_delivery(loki: LokiStandin, produced: Sequence[ProducedEntry], timeout: float,
                      tenants: Optional[Iterable[Optional[str]]] = None, check_metadata: bool = True,
                      stall_timeout: float = 60.0) -> DeliveryReport:
    """Polls until every produced line is in the stand-in; returns the final report.
    Raises (with the report) when lines are still missing at the deadline, or earlier when
    the stand-in received nothing new for `stall_timeout` seconds (lost lines never come)."""
    tenants = set(tenants) if tenants is not None else {e.tenant for e in produced}
    last: List[DeliveryReport] = []
    progress = {"count": -1, "at": time.monotonic()}

    def done() -> bool:
        # Cheap count first: the full comparison only once enough entries are there.
        count = count_received(loki, tenants)
        now = time.monotonic()
        if count != progress["count"]:
            progress.update(count=count, at=now)
        elif now - progress["at"] > stall_timeout:
            rep = check_delivery(loki, produced, tenants, check_metadata)
            raise TimeoutExpired(f"no new lines in the stand-in for {stall_timeout:.0f}s: {rep.details()}")
        if last and count < len(produced):
            return False
        rep = check_delivery(loki, produced, tenants, check_metadata)
        last[:] = [rep]
        return not rep.missing

    wait_until(done, timeout, "every produced line in the Loki stand-in", interval=0.5, max_interval=3.0,
               describe=lambda: last[0].details() if last else "no report yet")
    return last[0]


def wait_committed_to_end(broker: Broker, group: str, topics: Sequence[str], timeout: float) -> Dict[str, Dict[int, Tuple[Optional[int], int]]]:
    """Polls until the group's committed offset == log end for every partition of `topics`.
    Returns {topic: {partition: (committed, log_end)}}."""
    state: Dict[str, Dict[int, Tuple[Optional[int], int]]] = {}

    def reached() -> bool:
        state.clear()
        for t in topics:
            ends = broker.log_end(t)
            committed = broker.committed(group, t)
            state[t] = {p: (committed.get(p), end) for p, end in ends.items()}
        return all((c or 0) == end for parts in state.values() for c, end in parts.values())

    def describe() -> str:
        return "; ".join(f"{t}: " + ", ".join(f"p{p} {c}/{e}" for p, (c, e) in parts.items() if (c or 0) != e)
                         for t, parts in state.items())

    wait_until(reached, timeout, f"group {group} committed offsets == log end", interval=0.5, max_interval=2.0,
               describe=describe)
    return state


def format_offsets(state: Dict[str, Dict[int, Tuple[Optional[int], int]]]) -> str:
    lines = []
    for t, parts in state.items():
        lines.append(f"  {t}: " + "  ".join(f"p{p}={'-' if c is None else c}/{e}" for p, (c, e) in parts.items()))
    return "\n".join(lines)
