"""Faults: Loki errors, setup errors, the circuit breaker, SIGTERM and a second signal, the
memory budget with replicas moving, static membership. (SIGKILL rounds, replicas joining and
leaving, long outages and a stalled broker are in test_fault_suite.py.) Each test asserts zero
loss (every line in the stand-in under the right tenant and stream; committed == log end) and
reports the duplicates that redelivery caused."""

from __future__ import annotations

import os
import signal
import time

from testbed.producers import FORMATS, BackgroundProducer, LogGenerator, produce_lines
from testbed.util import Deadline, wait_until
from testbed.verify import assert_committed_lines_delivered, check_delivery, count_received

TENANTS = ("team-a", "team-b")
VARIANTS = dict(formats=FORMATS, content_headers=(True, False))


def non_2xx_pushes(metrics) -> float:
    return sum(v for labels, v in metrics.get("kafka_loki_bridge_pushes_total")
               if not labels.get("status_code", "").startswith("2"))


def assert_nothing_committed_during(outage, broker, loki, group, topic):
    """While Loki refuses everything, nothing is accepted, so nothing may be committed:
    samples the invariant over the outage window (not a wait for an event)."""
    while outage.remaining() > 1.0:
        assert count_received(loki, TENANTS) == 0
        committed = broker.committed(group, topic)
        assert all((c or 0) == 0 for c in committed.values()), f"committed during the outage: {committed}"
        time.sleep(0.5)


def test_loki_503_for_10s_then_recovers(broker, loki, bridges, names, zero_loss):
    """Loki answers 503 for ~10 s: nothing may be committed meanwhile; afterwards everything
    arrives, and /metrics counted the failed pushes."""
    topic = names.topic(partitions=6)
    group = names.group()
    bridge = bridges.start([topic], group)
    loki.fault(mode="status", status=503, seconds=10)
    outage = Deadline(10)
    produced = produce_lines(broker.bootstrap, topic, LogGenerator(TENANTS), 20000, **VARIANTS)

    wait_until(lambda: non_2xx_pushes(bridge.metrics()) > 0, outage.remaining() + 5, "a failed push")
    assert_nothing_committed_during(outage, broker, loki, group, topic)

    zero_loss(produced, group, [topic], timeout=120)
    m = bridge.metrics()
    assert m.sum("kafka_loki_bridge_pushes_total", status_code="503") > 0, m.get("kafka_loki_bridge_pushes_total")
    assert loki.stats()["pushes"].get("503", 0) > 0


def test_loki_429_with_retry_after(broker, loki, bridges, names, zero_loss):
    """Rate limiting: 429 with Retry-After for a few pushes, then accepted."""
    topic = names.topic(partitions=3)
    group = names.group()
    loki.fault(mode="status", status=429, count=4, retry_after=1)
    bridge = bridges.start([topic], group)
    produced = produce_lines(broker.bootstrap, topic, LogGenerator(TENANTS), 5000, **VARIANTS)
    zero_loss(produced, group, [topic], timeout=90)
    assert loki.stats()["pushes"].get("429", 0) == 4
    assert bridge.metrics().sum("kafka_loki_bridge_pushes_total", status_code="429") >= 1


def test_sigterm_exits_0_and_commits_only_delivered(broker, loki, bridges, names, zero_loss):
    """SIGTERM mid-stream: exit code 0, and every line below the committed offsets is in Loki.
    A restart then delivers the rest."""
    topic = names.topic(partitions=6)
    group = names.group()
    bridge = bridges.start([topic], group)
    bg = BackgroundProducer(broker.bootstrap, topic, LogGenerator(TENANTS), lines_per_second=3000,
                            **VARIANTS).start()
    try:
        wait_until(lambda: count_received(loki, TENANTS) >= 4000, 60, "4000 lines in the stand-in")
        code = bridge.terminate(timeout=60)
        assert code == 0, f"exit code {code} after SIGTERM"
        produced_at_stop = bg.snapshot()
        committed, checked = assert_committed_lines_delivered(broker, loki, group, topic, produced_at_stop, TENANTS)
        assert checked > 0, f"nothing committed on shutdown: {committed}"
        # ... and the other way round: a graceful stop commits everything it delivered, so no
        # line of a record at or above the committed offset is in Loki yet.
        above = [e for e in produced_at_stop if e.offset >= (committed.get(e.partition) or 0)]
        early = check_delivery(loki, above, tenants=TENANTS).delivered if above else 0
        print(f"after SIGTERM: committed {committed} covers {checked} lines, all delivered; "
              f"{early} of {len(above)} lines above the committed offsets already in Loki")
        assert early == 0, f"{early} delivered lines above the offsets committed on shutdown {committed}"
        bridge.start().wait_ready()
    finally:
        produced = bg.stop()
    zero_loss(produced, group, [topic], timeout=120)


def test_loki_401_is_a_setup_error_retried_not_dropped(broker, loki, bridges, names, zero_loss):
    """401 (wrong tenant or credentials) would come back for every batch: treating it as a
    permanent rejection would mark the whole topic done with nothing in Loki. The bridge must
    retry it, commit nothing meanwhile, log why, and deliver everything once it is fixed."""
    topic = names.topic(partitions=3)
    group = names.group()
    bridge = bridges.start([topic], group)
    loki.fault(mode="status", status=401, seconds=8)
    outage = Deadline(8)
    produced = produce_lines(broker.bootstrap, topic, LogGenerator(TENANTS), 5000, **VARIANTS)
    wait_until(lambda: bridge.metrics().sum("kafka_loki_bridge_pushes_total", status_code="401") > 0,
               outage.remaining() + 5, "a push answered 401")
    assert_nothing_committed_during(outage, broker, loki, group, topic)
    zero_loss(produced, group, [topic], timeout=120)
    assert bridge.metrics().sum("kafka_loki_bridge_entries_pushed_total", outcome="rejected") == 0
    assert "configuration problem" in bridge.log_tail(400)


def test_memory_budget_pauses_intake_and_partitions_come_back(broker, loki, bridges, names, zero_loss):
    """A small memory budget and a Loki outage: intake pauses (the consumer stays in the group),
    a second replica takes half the partitions while the first is paused, Loki recovers, the
    second replica leaves and its partitions return to the first. Paused partitions that left
    and came back must be fetched again: zero loss, committed == log end."""
    topic = names.topic(partitions=6)
    group = names.group()
    small = {"MAX_IN_FLIGHT_BYTES": "1MiB", "BATCH_MAX_BYTES": "128KiB"}
    first = bridges.start([topic], group, name="replica1", extra_env=small)
    loki.fault(mode="status", status=503)  # until cleared
    gen = LogGenerator(TENANTS)
    produced = produce_lines(broker.bootstrap, topic, gen, 20000, **VARIANTS)
    wait_until(lambda: first.metrics().value("kafka_loki_bridge_intake_paused", 0) == 1, 60,
               "replica1 to stop intake over its memory budget")
    # The stop begins as a hold; the partitions themselves are paused once it lasts 1 s. The
    # rebalance below must meet paused partitions (librdkafka keeps their pause flag).
    wait_until(lambda: first.metrics().value("kafka_loki_bridge_intake_partition_pauses_total", 0) >= 1, 30,
               "replica1's hold to become a pause of its partitions")
    in_flight = first.metrics().value("kafka_loki_bridge_in_flight_bytes", 0)
    assert in_flight < 4 * 1024 * 1024, f"in-flight bytes {in_flight} far over the 1 MiB budget"

    second = bridges.start([topic], group, name="replica2", extra_env=small)
    wait_until(lambda: second.metrics().value("kafka_loki_bridge_assigned_partitions", 0) > 0, 60,
               "replica2 to get partitions while replica1 is paused")
    loki.clear_faults()
    wait_until(lambda: second.metrics().sum("kafka_loki_bridge_records_consumed_total") > 0, 60,
               "replica2 to consume")
    assert second.terminate() == 0
    wait_until(lambda: first.metrics().value("kafka_loki_bridge_assigned_partitions", 0) == 6, 60,
               "replica1 to own all partitions again")
    produced += produce_lines(broker.bootstrap, topic, gen, 3000, **VARIANTS)
    zero_loss(produced, group, [topic], timeout=180)


def test_second_signal_exits_at_once_without_committing_undone_records(broker, loki, bridges, names, zero_loss):
    """SIGTERM while Loki is down starts a graceful shutdown that would wait SHUTDOWN_TIMEOUT
    for pushes that cannot succeed; a second SIGTERM exits at once with 130. Nothing Loki did
    not accept may have been committed, and a restarted bridge delivers everything."""
    topic = names.topic(partitions=3)
    group = names.group()
    bridge = bridges.start([topic], group, extra_env={"SHUTDOWN_TIMEOUT": "120s"})
    loki.fault(mode="status", status=503)  # until cleared
    produced = produce_lines(broker.bootstrap, topic, LogGenerator(TENANTS), 3000, **VARIANTS)
    wait_until(lambda: non_2xx_pushes(bridge.metrics()) > 0, 60, "a failed push")
    os.kill(bridge.proc.pid, signal.SIGTERM)
    wait_until(lambda: "shutdown: intake stopped" in bridge.log_text(), 30, "the graceful shutdown to start")
    os.kill(bridge.proc.pid, signal.SIGTERM)
    code = bridge.proc.wait(30)  # far below SHUTDOWN_TIMEOUT: only the second signal ends it this early
    assert code == 130, f"exit code {code}\n{bridge.log_tail(20)}"
    assert "second signal" in bridge.log_text()
    committed = broker.committed(group, topic)
    assert all((c or 0) == 0 for c in committed.values()), f"committed records Loki never accepted: {committed}"
    loki.clear_faults()
    bridge.start().wait_ready()
    zero_loss(produced, group, [topic], timeout=120)


def test_static_membership_from_pod_name(broker, loki, bridges, names, zero_loss):
    """POD_NAME becomes group.instance.id (static membership). A replica SIGKILLed and
    restarted under the same name within session.timeout.ms resumes its partitions: zero loss."""
    topic = names.topic(partitions=3)
    group = names.group()
    pod = {"POD_NAME": f"{group}-0"}
    bridge = bridges.start([topic], group, extra_env=pod)
    assert "group.instance.id = POD_NAME" in bridge.log_text()
    gen = LogGenerator(TENANTS)
    produced = produce_lines(broker.bootstrap, topic, gen, 3000, **VARIANTS)
    wait_until(lambda: count_received(loki, TENANTS) >= 1000, 60, "lines flowing")
    bridge.kill()
    produced += produce_lines(broker.bootstrap, topic, gen, 2000, **VARIANTS)
    bridge.start().wait_ready()
    zero_loss(produced, group, [topic], timeout=120)


def test_circuit_opens_during_an_outage_and_closes_after(broker, loki, bridges, names, zero_loss):
    """Loki answers 503: after a few failures the circuit opens — /ready says so, intake
    pauses, pushes stop hammering — and a probe closes it once Loki is back: zero loss."""
    topic = names.topic(partitions=3)
    group = names.group()
    bridge = bridges.start([topic], group, extra_env={"LOKI_CIRCUIT_OPEN_DURATION": "1s",
                                                      "LOKI_CIRCUIT_MAX_OPEN_DURATION": "2s"})
    loki.fault(mode="status", status=503)  # until cleared
    produced = produce_lines(broker.bootstrap, topic, LogGenerator(TENANTS), 4000, **VARIANTS)
    wait_until(lambda: bridge.metrics().value("kafka_loki_bridge_loki_circuit_state", 0) >= 1, 60,
               "the circuit to open")
    status, body = bridge.http_get("/ready")
    assert status == 503 and b"circuit" in body, (status, body)
    wait_until(lambda: bridge.metrics().value("kafka_loki_bridge_intake_paused", 0) == 1, 30,
               "intake to pause while the circuit is open")
    # Open periods of 1-2 s with one probe each: far fewer attempts than lanes retrying freely.
    before = loki.stats()["pushes"].get("503", 0)
    window = Deadline(6)
    while window.remaining() > 0:  # sampling the attempt rate over a window, not waiting
        time.sleep(0.5)
    attempts = loki.stats()["pushes"].get("503", 0) - before
    assert attempts <= 8, f"{attempts} pushes in 6 s while the circuit was open"
    loki.clear_faults()
    wait_until(lambda: bridge.metrics().value("kafka_loki_bridge_loki_circuit_state", 1) == 0, 30,
               "a probe to close the circuit")
    zero_loss(produced, group, [topic], timeout=120)
    status, _ = bridge.http_get("/ready")
    assert status == 200
