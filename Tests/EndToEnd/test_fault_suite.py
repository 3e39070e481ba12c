"""The fault-injection suite of issue 3, for what the bridge does today: retries of 429/5xx,
timeouts and refused connections (forever, with backoff, honouring Retry-After), the memory
budget that pauses intake, cooperative rebalances, and commits of done offsets only. The
dead-letter topic and the circuit breaker are not tested here (the malformed-record case passes
with and without the dead-letter topic; testbed.producers.malformed_records() is there to extend
it).

Every case runs the real binary against the real broker and the Loki stand-in and ends with
the `zero_loss` check: every produced line is in the stand-in under its tenant and stream, and
the group's committed offsets == log end. Duplicates (redelivery) are allowed, counted and
printed; the run's summary lists them per case.

Waits poll conditions with deadlines (testbed.util.wait_until / Deadline). Where a loop does
sleep, it samples an invariant over a fault window of fixed length (the fault *is* the time),
or it is the randomised moment of a SIGKILL; each such place says so.
"""

from __future__ import annotations

import os
import random
import re
import time
from datetime import datetime
from typing import Dict, List, Optional, Sequence, Tuple

from testbed.producers import (FORMATS, MALFORMED_KINDS, LogGenerator, MalformedRecord, BackgroundProducer,
                               build_record, encode_push_request, format_labels, malformed_records, mix_records,
                               placed_entries, produce, produce_lines, produce_placed)
from testbed.util import Deadline, wait_until
from testbed.verify import assert_committed_lines_delivered, count_received

TENANTS = ("team-a", "team-b")
VARIANTS = dict(formats=FORMATS, content_headers=(True, False))
MiB = 1024 * 1024

# A retry after a long outage may otherwise be up to 30 s (the default cap, +20 % jitter) late;
# a smaller cap keeps the cases short without changing what they check.
SHORT_BACKOFF_CAP = {"LOKI_MAX_BACKOFF": "3s"}

# Seed of the random SIGKILL moments (printed; FAULT_SEED=<n> replays a run).
SEED = int(os.environ.get("FAULT_SEED", "20261121"))


# -- helpers ----------------------------------------------------------------------------------

def received(loki) -> int:
    return count_received(loki, TENANTS)


def redelivered(loki) -> int:
    """Entries the stand-in dropped as exact duplicates (Loki's behaviour): redeliveries."""
    stats = loki.stats().get("tenants", {})
    return sum(int(stats.get(t, {}).get("deduplicated", 0)) for t in TENANTS)


def wait_flowing(loki, more: int, timeout: float, what: str) -> int:
    """Waits until the stand-in holds `more` entries more than now; returns the new count."""
    base = received(loki)
    return wait_until(lambda: (lambda n: n if n >= base + more else None)(received(loki)), timeout,
                      f"{more} more lines in the stand-in {what}", describe=lambda: f"{received(loki) - base} so far")


def fault_over(loki) -> bool:
    """The stand-in's timed fault has run out (it is dropped lazily, at the next push)."""
    f = loki.stats()["fault"]
    return f is None or f.get("remaining_seconds", 1) <= 0


def consumed(bridge) -> float:
    return bridge.metrics().sum("kafka_loki_bridge_records_consumed_total")


def assigned(bridge) -> float:
    return bridge.metrics().value("kafka_loki_bridge_assigned_partitions", 0)


_LOGFIELD = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S*)')


def standin_pushes(loki) -> List[Dict[str, str]]:
    """The stand-in's request log (one line per request), push requests only, oldest first;
    each with its fields and `at` (wall-clock seconds when it was answered)."""
    out = []
    for line in loki.log_path.read_text("utf-8", "replace").splitlines():
        if "port=data" not in line or "/push" not in line:
            continue
        fields = {k: v.strip('"') for k, v in _LOGFIELD.findall(line)}
        if "ts" not in fields or "status" not in fields:
            continue
        fields["at"] = datetime.strptime(fields["ts"], "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()
        out.append(fields)
    return out


def rss_kib(pid: int, field: str = "VmRSS") -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def footprint_bytes(rec) -> int:
    """The bridge's KafkaRecord.footprintBytes: value, key and header bytes."""
    return (len(rec.value or b"") + len(rec.key or b"")
            + sum(len(k.encode()) + len(v or b"") for k, v in rec.headers))


def held_bytes_upper_bound(rec) -> int:
    """What the bridge counts against its memory budget for one record, at most: the decoded
    size (protobuf wire size, or for JSON labels + 8 and line + 24 bytes per entry, as
    RecordDecoder measures it) plus the record itself (kept while not done, for the
    dead-letter topic)."""
    proto = len(encode_push_request(rec.streams))
    js = sum(len(format_labels(s.labels).encode()) + 8 + sum(len(line.encode()) + 24 for _, line, _ in s.entries)
             for s in rec.streams)
    return max(proto, js) + footprint_bytes(rec)


def test_one_record_at_a_time_still_cycles_tenants_and_variants():
    """The background producer asks the generator for one record per call; the cases below
    count on those records covering every tenant, format and header variant (no broker)."""
    gen = LogGenerator(TENANTS)
    variants = {(tenant, fmt, with_headers) for tenant in TENANTS for fmt in FORMATS for with_headers in (True, False)}
    seen = set()
    for _ in range(len(variants)):
        (rec,) = gen.records(5, lines_per_record=5, **VARIANTS)
        seen.add((rec.tenant, rec.fmt.split("/")[0], any(k.lower() == "content-type" for k, _ in rec.headers)))
    assert seen == variants, f"missing {sorted(variants - seen)}"


# -- 1. Loki 500 for 30 s ---------------------------------------------------------------------

def test_loki_500_for_30s_mid_stream(broker, loki, bridges, names, zero_loss):
    """Loki answers 500 for 30 s while a producer keeps writing: the bridge retries (nothing
    committed past what Loki holds), then catches up by itself after the outage."""
    topic = names.topic(partitions=6)
    group = names.group()
    bridge = bridges.start([topic], group, extra_env=SHORT_BACKOFF_CAP)
    bg = BackgroundProducer(broker.bootstrap, topic, LogGenerator(TENANTS), lines_per_second=800,
                            **VARIANTS).start()
    try:
        wait_flowing(loki, 1500, 60, "before the outage")
        loki.fault(mode="status", status=500, seconds=30)
        outage = Deadline(30)
        wait_until(lambda: bridge.metrics().sum("kafka_loki_bridge_pushes_total", status_code="500") > 0,
                   15, "a push answered 500")
        # Sampling over the fixed 30 s fault window: the bridge must simply stay up meanwhile.
        while outage.remaining() > 1.5:
            assert bridge.alive(), "bridge exited during the 500s:\n" + bridge.log_tail()
            time.sleep(0.5)
        committed, checked = assert_committed_lines_delivered(broker, loki, group, topic, bg.snapshot(), TENANTS)
        answered_500 = loki.stats()["pushes"].get("500", 0)
        print(f"end of the outage: {answered_500} pushes answered 500; committed {committed} covers {checked} "
              f"lines, all in Loki; {bg.delivered_lines()} lines produced so far")
        wait_until(lambda: fault_over(loki), outage.remaining() + 5, "the fault to expire")
        wait_flowing(loki, 3000, 60, "after the outage")
    finally:
        produced = bg.stop()
    m = bridge.metrics()
    assert answered_500 >= 2, f"only {answered_500} pushes in a 30 s outage: the bridge stopped retrying?"
    assert m.sum("kafka_loki_bridge_push_retries_total") >= 2
    assert m.sum("kafka_loki_bridge_entries_pushed_total", outcome="rejected") == 0
    zero_loss(produced, group, [topic], timeout=120, note=f"({answered_500} pushes answered 500)")


# -- 2. 429 storm with Retry-After ------------------------------------------------------------

def test_429_storm_honours_retry_after(broker, loki, bridges, names, zero_loss):
    """Every push is answered 429 with Retry-After: 1 for 15 s. The backoff is set far below
    1 s (50-200 ms), so only Retry-After can keep a lane's attempts >= 1 s apart: consecutive
    429s of one lane (one lane per tenant) must be >= Retry-After apart, and their number at most
    ~window / Retry-After per lane (without Retry-After: ~75 per lane). Then everything arrives."""
    retry_after, window = 1, 15.0
    topic = names.topic(partitions=3)
    group = names.group()
    bridge = bridges.start([topic], group, extra_env={"LOKI_MIN_BACKOFF": "50ms", "LOKI_MAX_BACKOFF": "200ms"})
    loki.fault(mode="status", status=429, seconds=window, retry_after=retry_after)
    storm = Deadline(window)
    gen = LogGenerator(TENANTS)
    produced = produce_lines(broker.bootstrap, topic, gen, 4000, **VARIANTS)
    # Sampling over the fixed storm window: keep both lanes busy with fresh records.
    while storm.remaining() > 2:
        assert bridge.alive(), bridge.log_tail()
        time.sleep(0.5)
    produced += produce_lines(broker.bootstrap, topic, gen, 2000, **VARIANTS)
    wait_until(lambda: fault_over(loki), storm.remaining() + 5, "the 429 storm to end")

    log = standin_pushes(loki)
    storm_429 = [p for p in log if p["status"] == "429"]
    lanes = sorted({p.get("tenant") for p in storm_429})
    gaps: Dict[str, List[float]] = {}
    for lane in lanes:
        at = [p["at"] for p in storm_429 if p.get("tenant") == lane]
        gaps[lane] = [b - a for a, b in zip(at, at[1:])]
    bound = int(len(lanes) * (window / retry_after + 1) * 1.5)
    print(f"429 storm: {len(storm_429)} answers 429 over {window:.0f}s on lanes {lanes} "
          f"(per lane {[len(g) + 1 for g in gaps.values()]}); upper bound {bound}; "
          f"smallest gap per lane {[round(min(g), 3) if g else None for g in gaps.values()]} s")
    assert lanes == list(TENANTS), f"expected both tenants' lanes to be rate limited, got {lanes}"
    # At least one retry per lane (so there is a gap to measure); a circuit breaker may make it few.
    assert all(len(g) >= 1 for g in gaps.values()), f"a lane did not retry during the storm: {gaps}"
    assert len(storm_429) <= bound, \
        f"{len(storm_429)} pushes answered 429 in {window:.0f}s with Retry-After: {retry_after}: Retry-After ignored?"
    for lane, g in gaps.items():
        assert g and min(g) >= 0.85 * retry_after, f"lane {lane} retried {min(g):.3f}s after a 429 with " \
                                                   f"Retry-After: {retry_after}: {sorted(g)[:5]}"
    m = bridge.metrics()
    assert m.sum("kafka_loki_bridge_pushes_total", status_code="429") == len(storm_429)
    zero_loss(produced, group, [topic], timeout=90, note=f"({len(storm_429)} answers 429)")


# -- 3. Loki slower than the batch interval ---------------------------------------------------

def test_loki_slower_than_batch_interval(broker, loki, bridges, names, zero_loss):
    """Every push takes 2 s (BATCH_WAIT is 200 ms) for 15 s while records keep coming: pushes
    keep completing during the slow period (no timeout, no stall), nothing is lost."""
    slow, window = 2.0, 15.0
    topic = names.topic(partitions=3)
    group = names.group()
    bridge = bridges.start([topic], group, extra_env={"BATCH_WAIT": "200ms"})
    bg = BackgroundProducer(broker.bootstrap, topic, LogGenerator(TENANTS), lines_per_second=800,
                            **VARIANTS).start()
    try:
        wait_flowing(loki, 1000, 60, "before Loki slows down")
        loki.fault(mode="delay", seconds=slow, for_seconds=window)
        slow_period = Deadline(window)
        start_count = received(loki)
        # Sampling over the fixed slow window.
        while slow_period.remaining() > 0.5:
            assert bridge.alive(), bridge.log_tail()
            time.sleep(0.5)
        during = received(loki) - start_count
        wait_until(lambda: fault_over(loki), slow_period.remaining() + 5, "the slow period to end")
        wait_flowing(loki, 2000, 60, "after the slow period")
    finally:
        produced = bg.stop()
    slow_ok = [p for p in standin_pushes(loki) if p.get("fault") == "delay" and p["status"] == "204"]
    per_push = [int(p.get("accepted", 0)) for p in slow_ok]
    m = bridge.metrics()
    print(f"slow Loki ({slow:.0f}s per push for {window:.0f}s): {len(slow_ok)} pushes accepted late, "
          f"{during} lines stored during the window, entries per slow push {per_push}; "
          f"push timeouts {m.sum('kafka_loki_bridge_pushes_total', status_code='timeout'):.0f}")
    assert len(slow_ok) >= 4, f"only {len(slow_ok)} pushes completed in {window:.0f}s of a slow Loki"
    lanes = {t: sum(1 for p in slow_ok if p.get("tenant") == t) for t in TENANTS}
    assert all(n >= 2 for n in lanes.values()), f"pushes per tenant lane during the slow period: {lanes}"
    assert during > 0, "no line reached Loki during the slow period"
    assert m.sum("kafka_loki_bridge_pushes_total", status_code="timeout") == 0, \
        "a 2 s answer timed out with LOKI_TIMEOUT=10s"
    zero_loss(produced, group, [topic], timeout=120, note=f"({len(slow_ok)} slow pushes)")


# -- 4. Loki refusing connections for a minute ------------------------------------------------

def test_loki_refuses_connections_for_60s(broker, loki, bridges, names, zero_loss):
    """Loki's port is closed (ECONNREFUSED) for 60 s while production goes on: the bridge keeps
    retrying, commits nothing it did not deliver, and delivers everything once Loki is back."""
    window = 60.0
    topic = names.topic(partitions=3)
    group = names.group()
    bridge = bridges.start([topic], group, extra_env=SHORT_BACKOFF_CAP)
    bg = BackgroundProducer(broker.bootstrap, topic, LogGenerator(TENANTS), lines_per_second=500,
                            **VARIANTS).start()
    try:
        wait_flowing(loki, 1000, 60, "before the outage")
        loki.fault(mode="refuse", seconds=window)
        outage = Deadline(window)
        wait_until(lambda: bridge.metrics().sum("kafka_loki_bridge_pushes_total", status_code="connect") > 0, 15,
                   "a push failing to connect")
        # Sampling over the fixed 60 s outage.
        while outage.remaining() > 1.5:
            assert bridge.alive(), "bridge exited while Loki was down:\n" + bridge.log_tail()
            time.sleep(0.5)
        committed, checked = assert_committed_lines_delivered(broker, loki, group, topic, bg.snapshot(), TENANTS)
        refused = bridge.metrics().sum("kafka_loki_bridge_pushes_total", status_code="connect")
        print(f"end of the outage: {refused:.0f} pushes could not connect; committed {committed} covers "
              f"{checked} lines, all in Loki; {bg.delivered_lines()} lines produced so far")
        wait_until(loki.ready, outage.remaining() + 10, "the stand-in to accept connections again")
        wait_flowing(loki, 3000, 60, "after the outage")
    finally:
        produced = bg.stop()
    assert refused >= 2, f"only {refused} connection attempts in a {window:.0f}s outage"
    zero_loss(produced, group, [topic], timeout=150, note=f"({refused:.0f} refused pushes)")


# -- 5. SIGKILL at random points --------------------------------------------------------------

def test_sigkill_at_random_points_three_rounds(broker, loki, bridges, names, zero_loss):
    """The bridge is SIGKILLed at a random moment mid-stream, 3 times (seeded), and restarted
    each time while the producer keeps going. At each kill every line below the committed
    offsets is in Loki; after each restart the records of the killed run are redelivered
    (duplicates, counted per round); at the end nothing is missing."""
    rng = random.Random(SEED)
    topic = names.topic(partitions=6)
    group = names.group()
    bridge = bridges.create([topic], group)
    bg = BackgroundProducer(broker.bootstrap, topic, LogGenerator(TENANTS), lines_per_second=1500,
                            **VARIANTS).start()
    rounds: List[str] = []
    pending: Optional[Tuple[int, Dict[int, int], int]] = None  # (round, log end at the kill, duplicates then)

    def account_previous_round() -> None:
        """After a restart: once the group committed everything that existed at the last kill,
        the duplicates since that kill are that kill's redeliveries."""
        if pending is None:
            return
        n, ends, dups_then = pending
        wait_until(lambda: all((c or 0) >= ends[p] for p, c in broker.committed(group, topic).items()), 60,
                   f"round {n}: the restarted bridge to commit past the log end at the kill",
                   describe=lambda: f"committed {broker.committed(group, topic)}, log end at kill {ends}")
        rounds[n - 1] += f", {redelivered(loki) - dups_then} lines redelivered after the restart"

    try:
        for n in (1, 2, 3):
            bridge.start().wait_ready()
            account_previous_round()
            wait_flowing(loki, 500, 60, f"round {n}: via the bridge")
            delay = rng.uniform(0.0, 3.0)
            time.sleep(delay)  # the random moment of the kill (fault injection, not synchronisation)
            bridge.kill()
            at_kill = bg.snapshot()
            committed, checked = assert_committed_lines_delivered(broker, loki, group, topic, at_kill, TENANTS)
            ends = broker.log_end(topic)
            pending = (n, ends, redelivered(loki))
            rounds.append(f"round {n}: SIGKILL {delay:.2f}s after lines flowed, {received(loki)} lines in Loki of "
                          f"{len(at_kill)} produced; committed {sum((c or 0) for c in committed.values())} of "
                          f"{sum(ends.values())} records ({checked} lines, all in Loki)")
            # Production goes on while the bridge is down.
            wait_until(lambda: bg.delivered_lines() >= len(at_kill) + 750, 30, "750 lines produced while down")
        bridge.start().wait_ready()
        account_previous_round()
        wait_flowing(loki, 1000, 60, "after the last restart")
    finally:
        produced = bg.stop()
    print(f"seed {SEED} (FAULT_SEED):\n  " + "\n  ".join(rounds))
    result = zero_loss(produced, group, [topic], timeout=120, note=f"(3 SIGKILLs, seed {SEED})")
    print(f"total duplicates: {result.report.duplicates + result.report.deduplicated}")


# -- 6. Three replicas joining and leaving ----------------------------------------------------

def test_three_replicas_join_and_leave_mid_stream(broker, loki, bridges, names, zero_loss):
    """One replica, then two more join mid-stream; one leaves with SIGTERM, another is
    SIGKILLed, a new one joins. Every replica consumes while it is a member; zero loss."""
    topic = names.topic(partitions=6)
    group = names.group()
    bg = BackgroundProducer(broker.bootstrap, topic, LogGenerator(TENANTS), lines_per_second=1500,
                            **VARIANTS).start()
    members: Dict[str, object] = {}
    history: List[str] = []

    def wait_split(names_in: Sequence[str], what: str) -> Dict[str, float]:
        def split():
            s = {n: assigned(members[n]) for n in names_in}
            return s if all(v > 0 for v in s.values()) and sum(s.values()) == 6 else None
        s = wait_until(split, 90, what, describe=lambda: str({n: assigned(members[n]) for n in names_in}))
        history.append(f"{what}: " + ", ".join(f"{n} {v:.0f}" for n, v in s.items()))
        return s

    def wait_consumes(name: str) -> float:
        b = members[name]
        base = consumed(b)
        wait_until(lambda: consumed(b) > base, 60, f"{name} to consume records while it is a member")
        return consumed(b)

    try:
        members["r1"] = bridges.start([topic], group, name="r1")
        wait_flowing(loki, 1500, 60, "via r1")
        members["r2"] = bridges.create([topic], group, name="r2").start()
        members["r3"] = bridges.create([topic], group, name="r3").start()
        members["r2"].wait_ready()
        members["r3"].wait_ready()
        wait_split(["r1", "r2", "r3"], "r2 and r3 joined")
        for n in ("r1", "r2", "r3"):
            wait_consumes(n)
        wait_flowing(loki, 1500, 60, "with three replicas")

        code = members["r2"].terminate()
        assert code == 0, f"r2 exited with {code} after SIGTERM"
        wait_split(["r1", "r3"], "r2 left (SIGTERM)")
        wait_consumes("r3")
        r3_consumed = consumed(members["r3"])
        members["r3"].kill()
        wait_until(lambda: assigned(members["r1"]) == 6, 60, "r1 to own all partitions after r3's SIGKILL",
                   describe=lambda: f"r1 owns {assigned(members['r1'])}")
        history.append("r3 SIGKILLed (had consumed %d records): r1 6" % r3_consumed)
        wait_flowing(loki, 1500, 60, "after r3 was killed")

        members["r4"] = bridges.start([topic], group, name="r4")
        wait_split(["r1", "r4"], "r4 joined")
        wait_consumes("r4")
        wait_consumes("r1")
        wait_flowing(loki, 1500, 60, "after r4 joined")
    finally:
        produced = bg.stop()
    print("membership:\n  " + "\n  ".join(history))
    zero_loss(produced, group, [topic], timeout=120, note="(r1 + r2 + r3, r2 SIGTERM, r3 SIGKILL, + r4)")


# -- 7. Broker stalled with SIGSTOP -----------------------------------------------------------

def test_broker_stalled_longer_than_session_timeout(broker, loki, bridges, names, zero_loss):
    """The broker is SIGSTOPped for 15 s (session.timeout.ms is 6000 here) with a producer
    running, then SIGCONTed: the bridge survives, rejoins, and nothing is lost."""
    window = 15.0
    topic = names.topic(partitions=3)
    group = names.group()
    bridge = bridges.start([topic], group)
    bg = BackgroundProducer(broker.bootstrap, topic, LogGenerator(TENANTS), lines_per_second=800,
                            **VARIANTS).start()
    try:
        wait_flowing(loki, 1500, 60, "before the broker stalls")
        broker.pause()
        try:
            stall = Deadline(window)
            # Sampling over the fixed stall: the bridge must simply stay up.
            while not stall.expired():
                assert bridge.alive(), "bridge exited while the broker was stalled:\n" + bridge.log_tail()
                time.sleep(0.5)
        finally:
            broker.resume()
        wait_flowing(loki, 3000, 90, "after the broker resumed")
    finally:
        produced = bg.stop()
    m = bridge.metrics()
    failed_commits = m.sum("kafka_loki_bridge_commits_total", outcome="failure")
    print(f"after the stall: commits failed {failed_commits:.0f}, consumer errors "
          f"{ {l.get('code'): v for l, v in m.get('kafka_loki_bridge_consumer_errors_total')} }")
    zero_loss(produced, group, [topic], timeout=120, note=f"(broker stalled {window:.0f}s)")
    assert bridge.alive()


# -- 8. Memory budget while Loki is down ------------------------------------------------------

def _memory_outage_bridge(bridges, topic, group):
    bridge = bridges.start([topic], group, extra_env={"MAX_IN_FLIGHT_BYTES": "8MiB", "LOKI_MAX_BACKOFF": "2s"})
    return bridge, bridge.proc.pid


def _sample_in_flight(bridge, pid, seconds, rss_limit_kib):
    """Samples (in-flight bytes, intake_paused, RSS KiB) every 0.5 s for `seconds` while Loki is
    down -- sampling an invariant over a fault window, not waiting for an event. Intake must stay
    paused and RSS under `rss_limit_kib` throughout."""
    samples: List[Tuple[float, float, int]] = []
    window = Deadline(seconds)
    while not window.expired():
        assert bridge.alive(), bridge.log_tail()
        m = bridge.metrics()
        sample = (m.value("kafka_loki_bridge_in_flight_bytes", 0), m.value("kafka_loki_bridge_intake_paused", 0),
                  rss_kib(pid))
        samples.append(sample)
        assert sample[1] == 1, f"intake resumed while Loki is still down (in flight {sample[0]:.0f} B)"
        assert sample[2] <= rss_limit_kib, f"RSS {sample[2] / 1024:.1f} MiB > {rss_limit_kib / 1024:.0f} MiB"
        time.sleep(0.5)
    return samples


def test_memory_bounded_while_loki_down_and_lag_grows(broker, loki, bridges, names, zero_loss):
    """MAX_IN_FLIGHT_BYTES=8MiB, Loki answers 503 until cleared, 80k lines (~3x the budget)
    are produced: intake pauses and stays paused, in-flight bytes stay within the budget plus one
    poll round, resident memory stays bounded; once Loki is back everything arrives.

    One poll round is bounded by MAX_IN_FLIGHT_BYTES/8 of *record* bytes (compressed), while the
    budget counts what the bridge holds per record (decoded bytes, plus the raw record where it
    keeps it): the bound here is one such round at the records' largest held/raw ratio.
    test_memory_budget_overshoot_is_at_most_one_poll_round checks the README's tighter promise."""
    budget = 8 * MiB
    topic = names.topic(partitions=6)
    group = names.group()
    bridge, pid = _memory_outage_bridge(bridges, topic, group)
    baseline = rss_kib(pid)
    loki.fault(mode="status", status=503)  # until cleared
    records = LogGenerator(TENANTS).records(80_000, formats=FORMATS, content_headers=(True, False))
    held = [held_bytes_upper_bound(r) for r in records]
    ratio = max(h / footprint_bytes(r) for h, r in zip(held, records))
    largest_raw = max(footprint_bytes(r) for r in records)
    limit = budget + int(ratio * (budget // 8 + largest_raw))
    rss_limit_kib = (150 + 8 + 64) * 1024
    produced = produce(broker.bootstrap, topic, records)
    print(f"produced {len(produced)} lines, <= {sum(held) / MiB:.1f} MiB held if all consumed (budget "
          f"{budget / MiB:.0f} MiB; held/raw <= {ratio:.2f}, in-flight limit {limit / MiB:.2f} MiB); "
          f"baseline RSS {baseline / 1024:.1f} MiB")
    assert sum(held) > 1.5 * limit, "the test must produce well beyond the budget"

    wait_until(lambda: bridge.metrics().value("kafka_loki_bridge_intake_paused", 0) == 1, 60,
               "intake to pause over the memory budget",
               describe=lambda: f"in flight {bridge.metrics().value('kafka_loki_bridge_in_flight_bytes', 0):.0f} B")
    samples = _sample_in_flight(bridge, pid, 20, rss_limit_kib)
    peak = rss_kib(pid, "VmHWM")
    # A stop that lasts starts as a hold and becomes a pause of the partitions after the 1 s
    # hold limit (so the consumer polls again: rebalances, max.poll.interval.ms).
    m = bridge.metrics()
    assert m.value("kafka_loki_bridge_intake_holds_total", 0) >= 1, "intake was never held"
    assert m.value("kafka_loki_bridge_intake_partition_pauses_total", 0) >= 1, \
        "a hold of 20 s was never turned into a pause of the partitions"
    consumed_records = consumed(bridge)
    max_in_flight = max(s[0] for s in samples)
    print(f"Loki down, {len(samples)} samples: in flight max {max_in_flight / MiB:.2f} MiB (limit {limit / MiB:.2f}), "
          f"RSS max {max(s[2] for s in samples) / 1024:.1f} MiB, peak (VmHWM) {peak / 1024:.1f} MiB, baseline "
          f"{baseline / 1024:.1f} MiB; {consumed_records:.0f} of {len(records)} records consumed")
    assert max_in_flight <= limit, f"in-flight bytes {max_in_flight:.0f} > budget + one poll round ({limit})"
    assert max_in_flight >= budget * 3 // 4, "in-flight bytes never approached the budget: test not meaningful"
    assert consumed_records < len(records), "everything was consumed: the budget did not hold intake back"
    assert peak <= rss_limit_kib, f"peak RSS {peak / 1024:.1f} MiB over {rss_limit_kib / 1024:.0f} MiB"

    loki.clear_faults()
    zero_loss(produced, group, [topic], timeout=180,
              note=f"(max in flight {max_in_flight / MiB:.1f} MiB, peak RSS {peak / 1024:.0f} MiB)")
    wait_until(lambda: bridge.metrics().value("kafka_loki_bridge_intake_paused", 0) == 0, 30, "intake to resume")


def test_memory_budget_overshoot_is_at_most_one_poll_round(broker, loki, bridges, names, zero_loss):
    """README: "A poll round takes at most ... MAX_IN_FLIGHT_BYTES / 8 record bytes, so one round
    cannot overshoot the budget by much." Highly compressible records (gzip JSON, ~4 KB lines
    that repeat themselves, as real logs do) make the difference between record bytes and held
    bytes large: a backlog of ~20 MiB of lines in well under 1 MiB of records. In-flight bytes
    must stay within budget + MAX_IN_FLIGHT_BYTES/8 + the largest record while Loki is down."""
    budget = 8 * MiB
    topic = names.topic(partitions=3)
    group = names.group()
    loki.fault(mode="status", status=503)  # until cleared
    gen = LogGenerator(TENANTS)
    pad = " ".join(["GET /api/v1/orders 200 upstream=checkout-7f9c cache=miss"] * 70)  # ~4 KB
    records = []
    for i in range(100):
        tenant = TENANTS[i % len(TENANTS)]
        stream = gen.stream(tenant, gen.streams[tenant][i % len(gen.streams[tenant])], 50)
        stream.entries = [(ts, f"{line} {pad}", meta) for ts, line, meta in stream.entries]
        records.append(build_record(tenant, [stream], "json-gzip"))
    held = [held_bytes_upper_bound(r) for r in records]
    raw = sum(footprint_bytes(r) for r in records)
    limit = budget + budget // 8 + max(held)
    produced = produce(broker.bootstrap, topic, records)
    print(f"backlog: {len(produced)} lines, {raw / MiB:.2f} MiB of records, <= {sum(held) / MiB:.1f} MiB held "
          f"if all consumed; in-flight limit {limit / MiB:.2f} MiB")
    assert sum(held) > 2 * limit

    bridge, pid = _memory_outage_bridge(bridges, topic, group)
    wait_until(lambda: bridge.metrics().value("kafka_loki_bridge_intake_paused", 0) == 1, 60,
               "intake to pause over the memory budget",
               describe=lambda: f"in flight {bridge.metrics().value('kafka_loki_bridge_in_flight_bytes', 0):.0f} B")
    samples = _sample_in_flight(bridge, pid, 4, (150 + 8 + 64) * 1024)
    max_in_flight = max(s[0] for s in samples)
    consumed_records = consumed(bridge)
    print(f"Loki down: in flight max {max_in_flight / MiB:.2f} MiB (limit {limit / MiB:.2f}); "
          f"{consumed_records:.0f} of {len(records)} records consumed; peak RSS {rss_kib(pid, 'VmHWM') / 1024:.1f} MiB")
    loki.clear_faults()
    zero_loss(produced, group, [topic], timeout=120, note=f"(max in flight {max_in_flight / MiB:.1f} MiB)")
    assert max_in_flight <= limit, (
        f"in-flight bytes reached {max_in_flight / MiB:.2f} MiB: more than the budget + one poll round "
        f"({limit / MiB:.2f} MiB = {budget / MiB:.0f} MiB + MAX_IN_FLIGHT_BYTES/8 + largest record). A poll round "
        f"is bounded by MAX_IN_FLIGHT_BYTES/8 of record (compressed) bytes, {raw / MiB:.2f} MiB of records here "
        f"hold {sum(held) / MiB:.1f} MiB: {consumed_records:.0f} of {len(records)} records were taken in before "
        f"intake paused.")


def test_slow_loki_and_small_budget_hold_intake_without_loss(broker, loki, bridges, names, zero_loss):
    """A backlog read through a Loki that takes 200 ms per push, with a 2 MiB budget and
    256 KiB batches: the budget fills again and again, and each time intake is *held* (the
    poll thread stops taking messages and leaves the partitions alone, so librdkafka keeps its
    prefetch) until finished pushes free a quarter of it -- about one Loki round trip, well
    under the 1 s hold limit after which the partitions would be paused. Holds must be
    counted, most must end as holds, and nothing may be lost or skipped across them: every
    line arrives and the committed offsets reach the log end."""
    topic = names.topic(partitions=6)
    group = names.group()
    loki.fault(mode="delay", seconds=0.2)  # until cleared
    records = LogGenerator(TENANTS).records(60_000, formats=FORMATS, content_headers=(True, False))
    held = sum(held_bytes_upper_bound(r) for r in records)
    produced = produce(broker.bootstrap, topic, records)
    assert held > 4 * 2 * MiB, f"the backlog ({held / MiB:.1f} MiB held) must fill the budget several times"
    bridge = bridges.start([topic], group, extra_env={"MAX_IN_FLIGHT_BYTES": "2MiB", "BATCH_MAX_BYTES": "256KiB"})
    zero_loss(produced, group, [topic], timeout=180, note="(slow Loki, 2 MiB budget)")
    m = bridge.metrics()
    holds = m.value("kafka_loki_bridge_intake_holds_total", 0)
    pauses = m.value("kafka_loki_bridge_intake_partition_pauses_total", 0)
    slow_pushes = sum(1 for p in standin_pushes(loki) if p.get("fault") == "delay")
    print(f"{len(produced)} lines ({held / MiB:.1f} MiB held) through {slow_pushes} slow pushes: intake held "
          f"{holds:.0f} times, partitions paused {pauses:.0f} times")
    assert holds >= 4, f"intake was held {holds:.0f} times for a backlog of {held / MiB:.1f} MiB over a 2 MiB budget"
    assert pauses < holds / 2, f"{pauses:.0f} of {holds:.0f} holds outlasted the 1 s limit (each push takes 200 ms)"
    loki.clear_faults()


def test_open_batches_of_many_tenants_do_not_stall_a_full_budget(broker, loki, bridges, names, zero_loss):
    """Eight tenants, BATCH_WAIT=20s, a 2 MiB budget: the tenants' open batches fill the budget
    before any of them reaches BATCH_MAX_BYTES, so intake stops with nothing sealed. The open
    batches must go to Loki at once (nothing else can free the budget); waiting out BATCH_WAIT
    would deliver the backlog in 20 s steps, one per budget's worth (the backlog is several),
    so everything must arrive, and be committed, within 45 s. (20 s, not longer: on a slow
    machine the very tail may still wait out one BATCH_WAIT, when a poll that finds nothing
    in the middle of the backlog counts as a catch-up; that costs one wait, never a line.)"""
    tenants = [f"tenant-{i}" for i in range(8)]
    topic = names.topic(partitions=4)
    group = names.group()
    records = LogGenerator(tenants).records(40_000, formats=FORMATS, content_headers=(True, False))
    held = sum(held_bytes_upper_bound(r) for r in records)
    produced = produce(broker.bootstrap, topic, records)
    assert held > 3 * 2 * MiB, f"the backlog ({held / MiB:.1f} MiB held) must fill the budget several times"
    bridge = bridges.start([topic], group, extra_env={"MAX_IN_FLIGHT_BYTES": "2MiB", "BATCH_MAX_BYTES": "1MiB",
                                                     "BATCH_WAIT": "20s"})
    zero_loss(produced, group, [topic], timeout=45, tenants=tenants, note="(8 tenants, 2 MiB budget, 20 s batch wait)")
    holds = bridge.metrics().value("kafka_loki_bridge_intake_holds_total", 0)
    print(f"{len(produced)} lines of {len(tenants)} tenants ({held / MiB:.1f} MiB held): intake held {holds:.0f} times")
    assert holds >= 1, "the budget never stopped intake: the case was not exercised"


# -- 9. Malformed records mixed into good traffic ---------------------------------------------

LOG_OFFSET = re.compile(r"kafka\.offset=(\d+)")
LOG_PARTITION = re.compile(r"kafka\.partition=(\d+)")


def test_malformed_records_are_counted_and_skipped(broker, loki, bridges, names, zero_loss):
    """Empty, null, random binary, truncated snappy, non-push JSON and bad-wire-type protobuf
    records among good ones: every good line arrives, each bad record is logged (with its
    offset) and counted once in records_failed_total{reason}, and the group commits past them."""
    topic = names.topic(partitions=3)
    group = names.group()
    gen = LogGenerator(TENANTS)
    good = gen.records(4000, formats=FORMATS, content_headers=(True, False))
    bad = malformed_records(2, seed=SEED)
    placed = produce_placed(broker.bootstrap, topic, mix_records(good, bad, seed=SEED))
    produced = placed_entries(placed)
    bad_placed = [p for p in placed if isinstance(p.record, MalformedRecord)]
    assert len(bad_placed) == len(bad) and len(produced) == 4000

    bridge = bridges.start([topic], group)
    zero_loss(produced, group, [topic], timeout=90, note=f"({len(bad)} malformed records skipped)")

    m = bridge.metrics()
    failed = {labels.get("reason"): v for labels, v in m.get("kafka_loki_bridge_records_failed_total", topic=topic)}
    print(f"records_failed_total by reason: {failed}")
    assert sum(failed.values()) == len(bad), f"{sum(failed.values())} failed records counted, {len(bad)} produced"
    for reason in {r for rec in bad for r in rec.reasons}:
        surely = sum(1 for rec in bad if rec.reasons == (reason,))
        maybe = sum(1 for rec in bad if reason in rec.reasons)
        assert surely <= failed.get(reason, 0) <= maybe, f"reason {reason}: {failed.get(reason, 0)} counted"
    assert m.sum("kafka_loki_bridge_entries_pushed_total", outcome="rejected") == 0

    skipped = set()
    for line in bridge.log_text().splitlines():
        # "undecodable record skipped" (or, with the dead-letter topic, "..., sending it to the
        # dead-letter topic"): logged at error with topic/partition/offset (README).
        if " error " in line and "undecodable record" in line and f"kafka.topic={topic} " in line:
            o, p = LOG_OFFSET.search(line), LOG_PARTITION.search(line)
            if o and p:
                skipped.add((int(p.group(1)), int(o.group(1))))
    unlogged = [(p.record.kind, p.partition, p.offset) for p in bad_placed if (p.partition, p.offset) not in skipped]
    assert not unlogged, f"malformed records not logged with their partition/offset: {unlogged}"
    good_offsets = {(e.partition, e.offset) for e in produced}
    assert not (skipped & good_offsets), f"good records logged as undecodable: {sorted(skipped & good_offsets)}"
    print("malformed: " + ", ".join(f"{p.record.kind}@p{p.partition}/{p.offset}" for p in bad_placed)
          + f"; kinds: {', '.join(f'{k} = {v[0]}' for k, v in MALFORMED_KINDS.items())}")
