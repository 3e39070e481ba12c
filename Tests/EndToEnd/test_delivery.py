"""Happy-path delivery through the real binary: every format the alloy-distributor writes,
several partitions and topics, several tenants; zero loss and committed == log end."""

from __future__ import annotations

import json
import os

import pytest
from confluent_kafka import Producer

from testbed.producers import FORMATS, LogGenerator, build_record, produce, produce_lines, producer_config
from testbed.util import wait_until

# Total lines of the big mixed test (E2E_LINES=20000 for a quicker local run).
LINES = int(os.environ.get("E2E_LINES", "100000"))

# Bridge setting that makes the record key the tenant when a record has no X-Scope-OrgID
# header (RecordDecoder.Options.tenantFromKey). Keep in step with the bridge's configuration.
TENANT_FROM_KEY_ENV = {"KAFKA_TENANT_FROM_KEY": "true"}

METRICS = (
    "kafka_loki_bridge_records_consumed_total",
    "kafka_loki_bridge_entries_consumed_total",
    "kafka_loki_bridge_pushes_total",
    "kafka_loki_bridge_commits_total",
    "kafka_loki_bridge_consumer_lag_records",
    "kafka_loki_bridge_assigned_partitions",
)


def test_mixed_formats_two_tenants_many_partitions(broker, loki, bridges, names, zero_loss):
    """>= 100k lines for two tenants over 6 + 2 partitions of two topics; protobuf+snappy,
    JSON and gzip JSON, each with and without Content-Type/Content-Encoding headers (sniffing);
    tenant from X-Scope-OrgID. Part of it is a backlog before the bridge starts, the rest is
    produced while it runs."""
    main = names.topic("events", partitions=6)
    other = names.topic("events-b", partitions=2)
    group = names.group()
    gen = LogGenerator(("team-a", "team-b"))
    variants = dict(formats=FORMATS, content_headers=(True, False), tenant_in=("header",))

    produced = produce_lines(broker.bootstrap, main, gen, LINES * 6 // 10, **variants)
    bridge = bridges.start([main, other], group)
    produced += produce_lines(broker.bootstrap, main, gen, LINES * 3 // 10, **variants)
    produced += produce_lines(broker.bootstrap, other, gen, LINES - len(produced), **variants)

    assert len(produced) == LINES
    fmts = {e.fmt for e in produced}
    assert fmts == {f + s for f in FORMATS for s in ("", "/sniffed")}, fmts
    assert {e.partition for e in produced if e.topic == main} == set(range(6))

    zero_loss(produced, group, [main, other], timeout=240)

    m = bridge.metrics()
    missing = [name for name in METRICS if name not in m]
    if not any(n in m for n in ("kafka_loki_bridge_push_duration_seconds_bucket",
                                "kafka_loki_bridge_push_duration_seconds_count")):
        missing.append("kafka_loki_bridge_push_duration_seconds (histogram)")
    assert not missing, f"metrics missing from /metrics: {missing}"
    records = len({(e.topic, e.partition, e.offset) for e in produced})
    assert m.sum("kafka_loki_bridge_records_consumed_total") >= records
    assert m.sum("kafka_loki_bridge_records_consumed_total", topic=main) > 0
    assert m.sum("kafka_loki_bridge_entries_consumed_total") >= len(produced)
    ok_pushes = sum(v for labels, v in m.get("kafka_loki_bridge_pushes_total")
                    if labels.get("status_code", "").startswith("2"))
    assert ok_pushes > 0
    assert m.sum("kafka_loki_bridge_commits_total") > 0
    assert m.value("kafka_loki_bridge_assigned_partitions") == 8
    assert bridge.terminate() == 0


def test_tenant_from_key_header_precedence_and_default_tenant(broker, loki, bridges, names, zero_loss):
    """Tenant resolution: X-Scope-OrgID wins over the key; the key is the tenant when there is
    no header (tenant-from-key on); LOKI_TENANT_ID is the tenant of records with neither."""
    topic = names.topic("tenants", partitions=3)
    group = names.group()
    gen = LogGenerator(("team-a", "team-b"))
    records = gen.records(3000, formats=FORMATS, content_headers=(True, False), tenant_in=("key",))
    # Header and a different key: the header wins.
    for r in gen.records(1500, formats=FORMATS, tenant_in=("header",)):
        records.append(build_record(r.tenant, r.streams, r.fmt.split("/")[0], key=b"not-a-tenant"))
    # No tenant anywhere: LOKI_TENANT_ID.
    fallback = []
    for r in gen.records(1500, formats=FORMATS, content_headers=(True, False), tenant_in=("none",)):
        rec = build_record("fallback", r.streams, r.fmt.split("/")[0], content_headers="/sniffed" not in r.fmt,
                           tenant_in="none")
        rec.tenant = "fallback"
        fallback.append(rec)
    records += fallback

    produced = produce(broker.bootstrap, topic, records)
    bridges.start([topic], group, tenant="fallback", extra_env=TENANT_FROM_KEY_ENV)
    zero_loss(produced, group, [topic], timeout=120, tenants={"team-a", "team-b", "fallback"})
    assert loki.stats()["tenants"].get("not-a-tenant") is None


def test_restart_resumes_from_committed_offsets(broker, loki, bridges, names, zero_loss):
    """A clean stop and a new start of the bridge continue where the group left off: the second
    run does not push again what the first one committed (no duplicates from a clean restart)."""
    topic = names.topic("restart", partitions=4)
    group = names.group()
    gen = LogGenerator(("team-a",))
    first = produce_lines(broker.bootstrap, topic, gen, 5000)
    bridge = bridges.start([topic], group)
    zero_loss(first, group, [topic], timeout=90)
    assert bridge.terminate() == 0

    second = produce_lines(broker.bootstrap, topic, gen, 5000)
    bridge.start().wait_ready()
    result = zero_loss(first + second, group, [topic], timeout=90)
    assert result.report.duplicates + result.report.deduplicated == 0, result.report.summary()
    # It consumed only the new records.
    records_second = len({(e.partition, e.offset) for e in second})
    wait_until(lambda: bridge.metrics().sum("kafka_loki_bridge_records_consumed_total") >= records_second, 10,
               "records_consumed_total of the second run")
    assert bridge.metrics().sum("kafka_loki_bridge_records_consumed_total") == records_second


def test_backlog_tail_is_pushed_when_caught_up_not_after_batch_wait(broker, loki, bridges, names, zero_loss):
    """With BATCH_WAIT of 10 minutes, a backlog of many batches still arrives completely and is
    committed to the log end within a minute: once the consumer catches up, the partial last
    batch of each tenant that filled batches is pushed at once. Without that rule the last
    batches would wait out the 10 minutes and this test would time out."""
    topic = names.topic("tail", partitions=3)
    group = names.group()
    gen = LogGenerator(("team-a", "team-b"))
    produced = produce_lines(broker.bootstrap, topic, gen, 6000, formats=FORMATS, tenant_in=("header",))
    bridge = bridges.start([topic], group, extra_env={"BATCH_WAIT": "10m", "BATCH_MAX_BYTES": "64KiB"})
    zero_loss(produced, group, [topic], timeout=60)
    pushes = bridge.metrics().sum("kafka_loki_bridge_pushes_total")
    assert pushes > 4, "the backlog must fill several batches for the rule to apply"
    assert bridge.terminate() == 0


def test_records_larger_than_a_batch_are_split_and_delivered_whole(broker, loki, bridges, names, zero_loss):
    """Records of ~300 KB decoded (1500 lines over 4 streams) against 64 KiB batches: each
    record is split at stream boundaries into pieces pushed in different batches (a stream
    larger than a batch travels alone), and the record is done only when every piece is in
    Loki. Every line arrives and the group commits to the log end."""
    topic = names.topic("split", partitions=2)
    group = names.group()
    gen = LogGenerator(("team-a", "team-b"))
    produced = produce_lines(broker.bootstrap, topic, gen, 12000, lines_per_record=1500, streams_per_record=4,
                             formats=FORMATS, tenant_in=("header",))
    assert len({(e.topic, e.partition, e.offset) for e in produced}) == 8
    bridge = bridges.start([topic], group, extra_env={"BATCH_MAX_BYTES": "64KiB"})
    zero_loss(produced, group, [topic], timeout=90)
    pushes = bridge.metrics().sum("kafka_loki_bridge_pushes_total")
    assert pushes >= 8 * 4, f"each of the 8 records should take at least 4 pushes, saw {pushes}"
    assert bridge.terminate() == 0


@pytest.mark.parametrize("codec", ["snappy", "lz4", "zstd", "gzip"])
def test_kafka_compressed_batches(broker, loki, bridges, names, zero_loss, codec):
    """Producers upstream compress their Kafka batches (Promtail's `compression: snappy`, the
    Kafka sinks' default): librdkafka inflates each batch before the bridge sees its records.
    Batches of many records of every format, compressed with each codec Kafka knows, arrive
    whole and are committed to the log end. The producer's own statistics show the batches
    were compressed: it sent fewer bytes than the records hold."""
    topic = names.topic(f"compressed-{codec}", partitions=2)
    group = names.group()
    gen = LogGenerator(("team-a", "team-b"))
    stats = []
    producer = Producer(producer_config(broker.bootstrap, one_record_per_batch=False, **{
        "compression.type": codec, "linger.ms": 100, "statistics.interval.ms": 100,
        "stats_cb": lambda text: stats.append(json.loads(text))}))
    records = list(gen.records(6000, lines_per_record=50, formats=FORMATS, tenant_in=("header",)))
    produced = produce(broker.bootstrap, topic, records, producer=producer, one_record_per_batch=False)
    def stats_after_last_delivery() -> bool:
        producer.poll(0.1)  # statistics are delivered by the producer's poll
        return bool(stats) and stats[-1]["txmsgs"] >= len(records)

    wait_until(stats_after_last_delivery, 20, "producer statistics after the last delivery")
    value_bytes = sum(len(r.value) for r in records)
    sent_bytes = stats[-1]["tx_bytes"]  # everything sent to the brokers, requests and all
    assert sent_bytes < 0.8 * value_bytes, f"{codec}: sent {sent_bytes} bytes for {value_bytes} bytes of records"
    offsets = {(e.partition, e.offset) for e in produced}
    assert len(offsets) == len(records)
    bridge = bridges.start([topic], group)
    zero_loss(produced, group, [topic], timeout=120)
    assert bridge.metrics().sum("kafka_loki_bridge_records_consumed_total") >= len(records)
    assert bridge.terminate() == 0
