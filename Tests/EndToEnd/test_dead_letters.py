"""Dead-letter topic: records that can never reach Loki (undecodable, or rejected by Loki for
their data) are written to `<topic>-dlq` with headers saying why, and only then count as done.
Zero loss here means: every produced line is in the stand-in or its record is in the
dead-letter topic, byte for byte, with the reason; committed == log end."""

from __future__ import annotations

import os
import time
import uuid

from confluent_kafka import Consumer, Producer

from testbed.producers import FORMATS, LogGenerator, producer_config, produce_lines
from testbed.util import Deadline, wait_until
from testbed.verify import count_received

TENANTS = ("team-a", "team-b")
VARIANTS = dict(formats=FORMATS, content_headers=(True, False))

MALFORMED = [
    # (value, headers, expected reason)
    (b"", [("Content-Type", b"application/x-protobuf"), ("X-Scope-OrgID", b"team-a")], "empty_value"),
    # Binary junk whose snappy length header is invalid (random bytes could decode as a block
    # or declare a huge length, which would make the reason vary).
    (b"\xff" * 6 + os.urandom(300), [("Content-Type", b"application/x-protobuf"), ("X-Scope-OrgID", b"team-a")],
     "snappy"),
    (b'{"not": "a push body"}', [("Content-Type", b"application/json"), ("X-Scope-OrgID", b"team-b")], "json"),
    (b"plain text line", [("Content-Type", b"text/plain"), ("X-Scope-OrgID", b"team-b")], "unsupported_content_type"),
    # snappy block (literal only) of the protobuf bytes 0x0B 0x01: field 1 with wire type 3 (group).
    (bytes([2, 4, 0x0B, 0x01]), [("Content-Type", b"application/x-protobuf"), ("X-Scope-OrgID", b"team-a")], "protobuf"),
]


def produce_raw(bootstrap, topic, items, partitions):
    """Produces (value, headers, reason) records round-robin; returns, in the order of `items`,
    [(partition, offset, value, headers)]."""
    p = Producer(producer_config(bootstrap))
    out = [None] * len(items)

    def report(index):
        def cb(err, msg):
            assert err is None, err
            out[index] = (msg.partition(), msg.offset(), msg.value() or b"", msg.headers() or [])
        return cb

    for i, (value, headers, _) in enumerate(items):
        p.produce(topic, value=value, headers=headers, partition=i % partitions, on_delivery=report(i))
    assert p.flush(30) == 0
    assert all(out), "missing delivery reports"
    return out


def read_all(bootstrap, topic, expected, timeout=60.0):
    """Every record of `topic` (from the beginning), waiting until `expected` arrived."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"dlq-reader-{uuid.uuid4().hex[:8]}",
                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
    c.subscribe([topic])
    got = []
    deadline = Deadline(timeout)
    try:
        while len(got) < expected and deadline.remaining() > 0:
            m = c.poll(0.5)
            if m is not None and m.error() is None:
                got.append(m)
        # Anything beyond `expected` would be a bug too: drain briefly.
        end = time.monotonic() + 2
        while time.monotonic() < end:
            m = c.poll(0.2)
            if m is not None and m.error() is None:
                got.append(m)
    finally:
        c.close()
    return got


def headers_of(message):
    return {k: (v or b"").decode() for k, v in (message.headers() or [])}


def test_undecodable_records_go_to_the_dead_letter_topic(broker, loki, bridges, names, zero_loss):
    topic = names.topic(partitions=3)
    dlq = f"{topic}-dlq"
    broker.create_topic(dlq, 1)
    group = names.group()
    gen = LogGenerator(TENANTS)
    produced = produce_lines(broker.bootstrap, topic, gen, 3000, **VARIANTS)
    bad = produce_raw(broker.bootstrap, topic, MALFORMED, partitions=3)
    produced += produce_lines(broker.bootstrap, topic, gen, 3000, **VARIANTS)
    bridge = bridges.start([topic], group)

    zero_loss(produced, group, [topic], timeout=120)  # committed == log end: the bad ones are done too
    letters = read_all(broker.bootstrap, dlq, expected=len(MALFORMED))
    assert len(letters) == len(MALFORMED), [headers_of(m) for m in letters]
    by_source = {(int(headers_of(m)["x-dlq-source-partition"]), int(headers_of(m)["x-dlq-source-offset"])): m
                 for m in letters}
    for (partition, offset, value, headers), (_, _, reason) in zip(bad, MALFORMED):
        letter = by_source[(partition, offset)]
        h = headers_of(letter)
        assert h["x-dlq-source-topic"] == topic
        assert h["x-dlq-reason"] == reason, h
        assert h["x-dlq-detail"]
        assert h["x-dlq-first-failure"].endswith("Z")
        assert (letter.value() or b"") == value, "the dead letter must keep the record byte for byte"
        for k, v in headers:
            assert h[k] == v.decode(), f"source header {k} not kept"
    m = bridge.metrics()
    assert m.sum("kafka_loki_bridge_dead_letters_total") == len(MALFORMED)
    assert m.sum("kafka_loki_bridge_records_failed_total") == len(MALFORMED)


def test_tenant_that_loki_rejects_goes_to_the_dead_letter_topic_while_others_flow(
        broker, loki, bridges, names, zero_loss):
    """Loki answers 400 to every push of team-b (permanent, data error); team-a keeps flowing.
    team-b's records land in the dead-letter topic with Loki's status and message."""
    topic = names.topic(partitions=3)
    dlq = f"{topic}-dlq"
    broker.create_topic(dlq, 1)
    group = names.group()
    loki.fault(mode="status", status=400, tenant="team-b")  # until cleared
    bridge = bridges.start([topic], group)
    produced = produce_lines(broker.bootstrap, topic, LogGenerator(TENANTS), 6000, **VARIANTS)
    good = [e for e in produced if e.tenant == "team-a"]
    rejected_records = {(e.partition, e.offset) for e in produced if e.tenant == "team-b"}
    assert good and rejected_records

    zero_loss(good, group, [topic], timeout=120, tenants=["team-a"])
    assert count_received(loki, ["team-b"]) == 0
    letters = read_all(broker.bootstrap, dlq, expected=len(rejected_records))
    got = {(int(headers_of(m)["x-dlq-source-partition"]), int(headers_of(m)["x-dlq-source-offset"])) for m in letters}
    assert got >= rejected_records, f"{len(rejected_records - got)} rejected records missing from the dead-letter topic"
    h = headers_of(letters[0])
    assert h["x-dlq-reason"] == "loki_rejected"
    assert h["x-dlq-loki-status"] == "400"
    assert h["x-dlq-tenant"] == "team-b"
    assert h["x-dlq-loki-message"]
    assert bridge.metrics().sum("kafka_loki_bridge_dead_letters_total", reason="loki_rejected") >= len(rejected_records)


def test_a_failing_dead_letter_topic_holds_the_commit(broker, loki, bridges, names):
    """If the dead-letter produce fails, the record is not done: the commit of its partition
    must stop right below it while later good records of the partition are delivered."""
    topic = names.topic(partitions=1)
    group = names.group()
    gen = LogGenerator(TENANTS)
    before = produce_lines(broker.bootstrap, topic, gen, 1000, **VARIANTS)
    (partition, bad_offset, _, _), = produce_raw(broker.bootstrap, topic, MALFORMED[1:2], partitions=1)
    after = produce_lines(broker.bootstrap, topic, gen, 1000, **VARIANTS)
    # An invalid topic name: every dead-letter produce fails.
    bridge = bridges.start([topic], group, extra_env={"DLQ_TOPIC": "bad topic name {topic}"})
    wait_until(lambda: count_received(loki, TENANTS) >= len(before) + len(after), 90, "the good lines in Loki")
    wait_until(lambda: bridge.metrics().sum("kafka_loki_bridge_dead_letter_errors_total") >= 2, 60,
               "dead-letter produce to fail and be retried")
    wait_until(lambda: broker.committed(group, topic).get(partition) == bad_offset, 30,
               f"the commit to reach the failing record's offset {bad_offset}")
    deadline = Deadline(5)
    while deadline.remaining() > 0:  # sampling the invariant for a while, not waiting for an event
        assert broker.committed(group, topic).get(partition) == bad_offset, "committed past a record not done"
        time.sleep(0.5)
    assert "dead-letter produce failed" in bridge.log_text()


def test_entries_loki_would_refuse_are_handled_before_the_push(broker, loki, bridges, names):
    """One record mixes good entries, an entry 8 days old, one 1 h in the future, and a line
    over Loki's 256 KiB limit. Nothing is pushed that Loki would refuse: the good entries and
    the truncated line arrive (no 400 at all), and the record also goes to the dead-letter
    topic with the reason, so the refused entries can be replayed once limits change."""
    from testbed.producers import Stream, build_record, produce

    topic = names.topic(partitions=1)
    dlq = f"{topic}-dlq"
    broker.create_topic(dlq, 1)
    group = names.group()
    now = time.time_ns()
    day = 86_400 * 10**9
    long_line = "x" * 300_000
    labels = {"app": "validation", "env": "test"}
    for fmt in ("proto", "json"):
        stream = Stream(labels=dict(labels, fmt=fmt), entries=[
            (now - 1000, f"good one {fmt}", {}),
            (now - 8 * day, f"eight days old {fmt}", {}),
            (now + 3600 * 10**9, f"an hour ahead {fmt}", {}),
            (now - 500, long_line, {}),
            (now - 100, f"good two {fmt}", {}),
        ])
        produce(broker.bootstrap, topic, [build_record("team-a", [stream], fmt)])
    bridge = bridges.start([topic], group)

    def lines():
        return [e[1] for s in loki.entries("team-a")["streams"] for e in s["entries"]]

    wait_until(lambda: len(lines()) >= 6, 60, "the accepted entries in Loki", describe=lambda: f"{len(lines())}")
    got = lines()
    for fmt in ("proto", "json"):
        assert f"good one {fmt}" in got and f"good two {fmt}" in got
        assert f"eight days old {fmt}" not in got and f"an hour ahead {fmt}" not in got
    truncated = [line for line in got if line.startswith("xxx")]
    assert len(truncated) == 2 and all(len(line) == 262_144 for line in truncated), [len(x) for x in truncated]
    assert loki.stats()["pushes"].get("400", 0) == 0, "the bridge sent entries Loki refused"

    letters = read_all(broker.bootstrap, dlq, expected=2)
    assert len(letters) == 2
    reasons = {headers_of(m)["x-dlq-reason"] for m in letters}
    assert reasons <= {"greater_than_max_sample_age", "too_far_in_future"}, reasons
    assert all("entries refused before the push" in headers_of(m)["x-dlq-detail"] for m in letters)
    wait_until(lambda: broker.committed(group, topic).get(0) == 2, 30, "both records committed (done)")
    m = bridge.metrics()
    assert m.sum("kafka_loki_bridge_entries_truncated_total") == 2
    assert m.sum("kafka_loki_bridge_entries_refused_total") == 4


def test_dlq_replay_dry_run_then_execute(broker, loki, bridges, names, zero_loss):
    """team-b's pushes are rejected (400) and dead-lettered; once 'fixed', `dlq replay` shows
    what it would push (dry run: nothing pushed or committed), then pushes exactly team-b's
    lines with --execute and commits its own group to the dead-letter topic's end."""
    import subprocess

    topic = names.topic(partitions=2)
    dlq = f"{topic}-dlq"
    broker.create_topic(dlq, 1)
    group = names.group()
    loki.fault(mode="status", status=400, tenant="team-b")
    bridge = bridges.start([topic], group)
    produced = produce_lines(broker.bootstrap, topic, LogGenerator(TENANTS), 4000, **VARIANTS)
    team_a = [e for e in produced if e.tenant == "team-a"]
    team_b = [e for e in produced if e.tenant == "team-b"]
    team_b_records = {(e.partition, e.offset) for e in team_b}
    zero_loss(team_a, group, [topic], timeout=120, tenants=["team-a"])
    wait_until(lambda: bridge.metrics().sum("kafka_loki_bridge_dead_letters_total") >= len(team_b_records), 60,
               "team-b's records in the dead-letter topic")
    assert bridge.terminate() == 0
    loki.clear_faults()

    def replay(*args):
        cmd = [str(bridge.binary), "dlq", "replay", *args]
        return subprocess.run(cmd, env=bridge.process_env(), capture_output=True, text=True, timeout=180)

    dry = replay("--tenant", "team-b")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert f"{len(team_b_records)} selected" in dry.stdout, dry.stdout
    assert "nothing pushed" in dry.stdout
    assert count_received(loki, ["team-b"]) == 0, "a dry run pushed"

    other = replay("--tenant", "team-c", "--execute", "--group", f"{group}-other")
    assert other.returncode == 0, other.stdout + other.stderr
    assert count_received(loki, ["team-b"]) == 0, "a replay of another tenant pushed team-b"

    done = replay("--tenant", "team-b", "--reason", "loki_rejected", "--execute")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "replay finished" in done.stdout
    zero_loss(team_b, f"{group}-dlq-replay", [dlq], timeout=60, tenants=["team-b"])
