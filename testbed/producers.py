"""Kafka records shaped like the alloy-distributor's: the value is the unparsed body of a Loki
push request (shared/seeds/alloy-distributor.README.ru.md).

Formats (`fmt`):
  "proto"      logproto.PushRequest, snappy *block* format (cramjam.snappy.compress_raw),
               Content-Type: application/x-protobuf
  "json"       {"streams":[{"stream":{..},"values":[["<ns>","line",{meta}]]}]},
               Content-Type: application/json
  "json-gzip"  the same JSON, gzip-compressed, plus Content-Encoding: gzip

`content_headers=False` leaves Content-Type / Content-Encoding out (the bridge must sniff).
`tenant_in`: "header" (X-Scope-OrgID), "key" (record key only), "both", or "none".

Every generated line carries a unique id (`lid=<run>-<n>`, see `line_id`), so a test can find
each produced line exactly once on the Loki side and count duplicates.

The protobuf encoder is hand-rolled (no `protobuf` package); field numbers follow Loki's
pkg/push/push.proto (and proto/push.proto in this repo):
  PushRequest   { repeated StreamAdapter streams = 1; }
  StreamAdapter { string labels = 1; repeated EntryAdapter entries = 2; }
  EntryAdapter  { Timestamp timestamp = 1; string line = 2; repeated LabelPairAdapter structuredMetadata = 3; }
  LabelPairAdapter { string name = 1; string value = 2; }
  Timestamp     { int64 seconds = 1; int32 nanos = 2; }
"""

from __future__ import annotations

import gzip
import itertools
import json
import logging
import random
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Mapping, NamedTuple, Optional, Sequence, Tuple

import cramjam
from confluent_kafka import Producer

from .util import Deadline, TimeoutExpired, kafka_logger

log = logging.getLogger("testbed.producers")

FORMATS = ("proto", "json", "json-gzip")
Labels = Tuple[Tuple[str, str], ...]  # sorted (name, value) pairs: hashable, comparable
Metadata = Tuple[Tuple[str, str], ...]


def labels_key(labels: Mapping[str, str]) -> Labels:
    return tuple(sorted(labels.items()))


def metadata_key(meta: Optional[Mapping[str, str]]) -> Metadata:
    return tuple(sorted((meta or {}).items()))


class ProducedEntry(NamedTuple):
    """One log line as produced; the first four fields are (tenant, labels, ts_ns, line)."""

    tenant: Optional[str]
    labels: Labels
    ts_ns: int
    line: str
    metadata: Metadata = ()
    fmt: str = ""
    topic: str = ""
    partition: int = -1
    offset: int = -1


@dataclass
class Stream:
    labels: Dict[str, str]
    entries: List[Tuple[int, str, Dict[str, str]]] = field(default_factory=list)  # (ts_ns, line, metadata)


@dataclass
class Record:
    """A Kafka record to produce, with what the bridge should make of it."""

    value: bytes
    headers: List[Tuple[str, bytes]]
    key: Optional[bytes]
    tenant: Optional[str]  # the tenant the bridge must push these lines as
    streams: List[Stream]
    fmt: str
    partition: Optional[int] = None

    def entries(self) -> List[ProducedEntry]:
        return [ProducedEntry(self.tenant, labels_key(s.labels), ts, line, metadata_key(meta), self.fmt)
                for s in self.streams for ts, line, meta in s.entries]


# ---------------------------------------------------------------------------------------------
# Encoders
# ---------------------------------------------------------------------------------------------

def _varint(n: int) -> bytes:
    if n < 0:
        n &= (1 << 64) - 1  # negative int64/int32 are encoded as 10-byte two's complement
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _len_field(num: int, payload: bytes) -> bytes:
    return _varint((num << 3) | 2) + _varint(len(payload)) + payload


def _varint_field(num: int, value: int) -> bytes:
    return _varint(num << 3) + _varint(value) if value else b""  # proto3: zero is not written


def _string_field(num: int, value: str) -> bytes:
    return _len_field(num, value.encode("utf-8")) if value else b""


def format_labels(labels: Mapping[str, str]) -> str:
    """Prometheus label-set text as Loki writes it: {a="1", b="x\\"y"} (sorted, Go %q escaping)."""
    def esc(v: str) -> str:
        return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return "{" + ", ".join(f'{k}="{esc(v)}"' for k, v in sorted(labels.items())) + "}"


def encode_push_request(streams: Sequence[Stream]) -> bytes:
    """logproto.PushRequest, uncompressed protobuf bytes."""
    out = bytearray()
    for s in streams:
        body = bytearray(_string_field(1, format_labels(s.labels)))
        for ts, line, meta in s.entries:
            tsmsg = _varint_field(1, ts // 1_000_000_000) + _varint_field(2, ts % 1_000_000_000)
            entry = bytearray(_len_field(1, tsmsg))
            entry += _string_field(2, line)
            for name, value in meta.items():
                entry += _len_field(3, _string_field(1, name) + _string_field(2, value))
            body += _len_field(2, bytes(entry))
        out += _len_field(1, bytes(body))
    return bytes(out)


def encode_push_json(streams: Sequence[Stream]) -> bytes:
    """Loki's JSON push body; structured metadata as the third element of a value."""
    doc = {"streams": [{"stream": dict(s.labels),
                        "values": [[str(ts), line, meta] if meta else [str(ts), line] for ts, line, meta in s.entries]}
                       for s in streams]}
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def snappy_block(data: bytes) -> bytes:
    """Snappy block format (not the framed/stream format), as Loki clients send."""
    return bytes(cramjam.snappy.compress_raw(data))


def build_record(tenant: Optional[str], streams: Sequence[Stream], fmt: str = "proto", *,
                 content_headers: bool = True, tenant_in: str = "header", key: Optional[bytes] = None,
                 partition: Optional[int] = None) -> Record:
    """A Kafka record carrying one push request for `tenant` with these streams."""
    if fmt == "proto":
        value = snappy_block(encode_push_request(streams))
        ctype, cenc = "application/x-protobuf", None
    elif fmt == "json":
        value = encode_push_json(streams)
        ctype, cenc = "application/json", None
    elif fmt == "json-gzip":
        value = gzip.compress(encode_push_json(streams), compresslevel=1)
        ctype, cenc = "application/json", "gzip"
    else:
        raise ValueError(f"unknown format {fmt!r}; one of {FORMATS}")
    headers: List[Tuple[str, bytes]] = []
    if content_headers:
        headers.append(("Content-Type", ctype.encode()))
        if cenc:
            headers.append(("Content-Encoding", cenc.encode()))
    if tenant is not None and tenant_in in ("header", "both"):
        headers.append(("X-Scope-OrgID", tenant.encode()))
    if tenant is not None and tenant_in in ("key", "both"):
        key = tenant.encode()
    elif tenant_in not in ("header", "key", "both", "none"):
        raise ValueError(f"tenant_in={tenant_in!r}")
    fmt_name = fmt + ("" if content_headers else "/sniffed") + ("" if tenant_in == "header" else f"/tenant-{tenant_in}")
    return Record(value=value, headers=headers, key=key, tenant=tenant, streams=list(streams), fmt=fmt_name,
                  partition=partition)


# ---------------------------------------------------------------------------------------------
# Realistic log lines, each with a unique id
# ---------------------------------------------------------------------------------------------

LINE_ID_RE = re.compile(r'\blid[=": ]+([0-9a-f]{8}-\d+)')


def line_id(line: str) -> Optional[str]:
    """The unique id a generated line carries (None for foreign lines)."""
    m = LINE_ID_RE.search(line)
    return m.group(1) if m else None


_APPS = {
    "team-a": ("checkout", "payments", "gateway"),
    "team-b": ("search", "indexer", "ingest"),
}
_PATHS = ("/api/v1/orders", "/api/v1/cart", "/api/v1/users/me", "/healthz", "/api/v2/search", "/login")
_MESSAGES = {
    "debug": ("cache lookup", "loaded config section", "connection pool stats"),
    "info": ("request completed", "job finished", "user signed in", "message acknowledged"),
    "warn": ("slow query", "retrying upstream call", "deprecated API used"),
    "error": ("upstream timeout", "card declined", "failed to write to queue", "panic recovered"),
}
_USERS = ("alice", "bob", "Jürgen", "Zoë", "李雷", "o'brien")


class LogGenerator:
    """Makes streams and records of realistic log lines for a set of tenants.

    Timestamps: each stream has its own clock starting a few minutes in the past and moving
    forward 1 µs per line, so every entry is inside Loki's accepted window (not older than the
    reject-old-samples age, not in the future) and streams never go backwards on the producer
    side. The bridge may still interleave records of one stream from different partitions;
    real Loki accepts such out-of-order entries within max_chunk_age / 2 (1 h), and all entries
    here lie within a few minutes of each other.
    """

    def __init__(self, tenants: Sequence[str] = ("team-a", "team-b"), *, seed: Optional[int] = None,
                 envs: Sequence[str] = ("prod", "staging"), pods_per_app: int = 2, metadata_every: int = 3):
        self._rotation = 0
        self.run_id = uuid.uuid4().hex[:8]
        self.rng = random.Random(seed if seed is not None else self.run_id)
        self.tenants = list(tenants)
        self.metadata_every = metadata_every
        self._seq = itertools.count(1)
        start = time.time_ns() - 5 * 60 * 1_000_000_000
        self.streams: Dict[str, List[Dict[str, str]]] = {}
        self._clock: Dict[Labels, int] = {}
        for t in self.tenants:
            apps = _APPS.get(t, (f"{t}-api", f"{t}-worker"))
            sets = []
            for app in apps:
                for env in envs:
                    for i in range(pods_per_app):
                        pod = f"{app}-{self.rng.choice('6789abcdef')}{self.rng.randrange(16**4):04x}-{i}"
                        sets.append({"app": app, "env": env, "namespace": t, "pod": pod})
            # One stream with a Windows path: backslashes must survive label escaping.
            sets[-1] = dict(sets[-1], filename="C:\\logs\\" + sets[-1]["app"] + ".log")
            self.streams[t] = sets
            for s in sets:
                self._clock[labels_key(s)] = start
        self.produced_lines = 0

    # -- lines ---------------------------------------------------------------------------------

    def line(self, labels: Mapping[str, str], ts_ns: int) -> str:
        n = next(self._seq)
        lid = f"{self.run_id}-{n}"
        rng = self.rng
        level = rng.choices(("debug", "info", "warn", "error"), (2, 12, 3, 1))[0]
        msg = rng.choice(_MESSAGES[level])
        when = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts_ns // 1_000_000_000)) + \
            f".{(ts_ns // 1000) % 1_000_000:06d}Z"
        req = f"req-{rng.randrange(16**8):08x}"
        trace = f"{rng.getrandbits(128):032x}"
        style = n % 4
        if style == 0:
            return (f'ts={when} level={level} caller=http.go:{rng.randrange(40, 400)} msg="{msg}" '
                    f'method={rng.choice(("GET", "POST", "PUT"))} path={rng.choice(_PATHS)} '
                    f'status={rng.choice((200, 200, 201, 204, 400, 404, 500))} '
                    f'duration_ms={rng.uniform(0.2, 900):.1f} request_id={req} trace_id={trace} lid={lid}')
        if style == 1:
            return json.dumps({"time": when, "level": level, "logger": labels.get("app", "app"), "message": msg,
                               "user": rng.choice(_USERS), "request_id": req, "trace_id": trace, "lid": lid},
                              ensure_ascii=False)
        if style == 2:
            return (f'{when.replace("T", " ")[:23]} {level.upper():5} [worker-{rng.randrange(8)}] '
                    f'com.acme.{labels.get("app", "app").title()}Service - {msg} '
                    f'(user="{rng.choice(_USERS)}", attempt {rng.randrange(1, 4)}) lid={lid}')
        if level == "error":
            # A multi-line entry: a stack trace in one log line, with a tab and a backslash.
            return (f"{when} ERROR {msg} lid={lid}\nTraceback (most recent call last):\n"
                    f'\tFile "C:\\srv\\app\\handler.py", line {rng.randrange(10, 300)}, in handle\n'
                    f"RuntimeError: {msg} (request_id={req})")
        return f"{when} {level.upper()} {msg} request_id={req} trace_id={trace} lid={lid}"

    def metadata(self, n: int) -> Dict[str, str]:
        if self.metadata_every and n % self.metadata_every == 0:
            return {"trace_id": f"{self.rng.getrandbits(64):016x}", "user_id": str(self.rng.randrange(10_000))}
        return {}

    def stream(self, tenant: str, labels: Mapping[str, str], lines: int) -> Stream:
        key = labels_key(labels)
        s = Stream(dict(labels))
        for _ in range(lines):
            self._clock[key] += 1000
            ts = self._clock[key]
            s.entries.append((ts, self.line(labels, ts), self.metadata(self.produced_lines)))
            self.produced_lines += 1
        return s

    # -- records -------------------------------------------------------------------------------

    def records(self, n_lines: int, *, lines_per_record: int = 100, streams_per_record: int = 4,
                formats: Sequence[str] = FORMATS, content_headers: Sequence[bool] = (True,),
                tenant_in: Sequence[str] = ("header",), tenants: Optional[Sequence[str]] = None) -> List[Record]:
        """Records holding `n_lines` lines in total, cycling through tenants, formats, header
        variants and tenant placements so that every combination appears."""
        tenants = list(tenants or self.tenants)
        variants = list(itertools.product(formats, content_headers, tenant_in))
        out: List[Record] = []
        left = n_lines
        # The rotation goes on across calls: a caller asking for one record at a time (the
        # background producer) still gets every tenant and format in turn.
        i = self._rotation
        while left > 0:
            tenant = tenants[i % len(tenants)]
            fmt, with_headers, tin = variants[(i // len(tenants)) % len(variants)]
            count = min(lines_per_record, left)
            k = min(streams_per_record, len(self.streams[tenant]), count)
            chosen = self.rng.sample(self.streams[tenant], k)
            per = [count // k + (1 if j < count % k else 0) for j in range(k)]
            streams = [self.stream(tenant, labels, m) for labels, m in zip(chosen, per)]
            out.append(build_record(tenant, streams, fmt, content_headers=with_headers, tenant_in=tin))
            left -= count
            i += 1
        self._rotation = i
        return out


# ---------------------------------------------------------------------------------------------
# Producing
# ---------------------------------------------------------------------------------------------

def producer_config(bootstrap: str, one_record_per_batch: bool = True, **extra) -> dict:
    conf = {"bootstrap.servers": bootstrap, "acks": "all", "logger": kafka_logger(),
            "message.timeout.ms": 30000, "queue.buffering.max.kbytes": 256 * 1024}
    if one_record_per_batch:
        # One record per produce batch: Tansu's ListOffsets(latest) is then the true log end
        # (see testbed/broker.py). Costs throughput, which the tests do not need.
        conf.update({"linger.ms": 0, "batch.num.messages": 1})
    conf.update(extra)
    return conf


def produce(bootstrap: str, topic: str, records: Iterable[Record], *, timeout: float = 120.0,
            one_record_per_batch: bool = True, producer: Optional[Producer] = None,
            partitions: Optional[int] = None) -> List[ProducedEntry]:
    """Produces the records (acks=all) and waits for every delivery report, at most `timeout`
    seconds in all. Records without a partition go round-robin over the topic's partitions.
    Returns every produced line with its tenant, labels, timestamp, topic, partition, offset.
    Raises on any delivery error or when the deadline passes."""
    deadline = Deadline(timeout)
    p = producer or Producer(producer_config(bootstrap, one_record_per_batch))
    if partitions is None:
        md = p.list_topics(topic, timeout=max(1.0, deadline.remaining()))
        partitions = len(md.topics[topic].partitions)
        if partitions == 0:
            raise RuntimeError(f"topic {topic} has no partitions (does it exist?)")
    results: List[ProducedEntry] = []
    errors: List[str] = []

    def report(rec: Record):
        def cb(err, msg):
            if err is not None:
                errors.append(f"{msg.topic()}[{msg.partition()}]: {err}")
                return
            results.extend(e._replace(topic=msg.topic(), partition=msg.partition(), offset=msg.offset())
                           for e in rec.entries())
        return cb

    sent = 0
    for i, rec in enumerate(records):
        part = rec.partition if rec.partition is not None else i % partitions
        while True:
            try:
                p.produce(topic, value=rec.value, key=rec.key, headers=rec.headers, partition=part,
                          on_delivery=report(rec))
                break
            except BufferError:
                if deadline.expired():
                    raise TimeoutExpired(f"produce to {topic}: local queue full until the deadline")
                p.poll(0.05)
        sent += 1
        p.poll(0)
    while True:
        left = p.flush(min(1.0, deadline.remaining()))
        if left == 0:
            break
        if deadline.expired():
            raise TimeoutExpired(f"produce to {topic}: {left} of {sent} records undelivered after {timeout:.0f}s")
    if errors:
        raise RuntimeError(f"{len(errors)} delivery errors, first: {errors[:3]}")
    log.info("produced %d records / %d lines to %s", sent, len(results), topic)
    return results


def produce_lines(bootstrap: str, topic: str, gen: LogGenerator, n_lines: int, **kwargs) -> List[ProducedEntry]:
    """gen.records(n_lines, **record options) and produce() them. Keyword arguments that
    LogGenerator.records() knows go there, the rest to produce()."""
    rec_keys = {"lines_per_record", "streams_per_record", "formats", "content_headers", "tenant_in", "tenants"}
    rec_kwargs = {k: v for k, v in kwargs.items() if k in rec_keys}
    prod_kwargs = {k: v for k, v in kwargs.items() if k not in rec_keys}
    return produce(bootstrap, topic, gen.records(n_lines, **rec_kwargs), **prod_kwargs)


class BackgroundProducer:
    """Produces a steady trickle of records from a thread until stop(): "mid-stream" for the
    fault tests and the live part of the demo.

    >>> bg = BackgroundProducer(bootstrap, topic, gen, lines_per_second=2000).start()
    >>> ...  # kill / add / remove bridges meanwhile
    >>> produced = bg.stop()  # waits for every delivery report
    """

    def __init__(self, bootstrap: str, topic: str, gen: LogGenerator, *, lines_per_second: float = 2000,
                 lines_per_record: int = 50, max_lines: Optional[int] = None, **record_kwargs):
        import threading

        self.bootstrap, self.topic, self.gen = bootstrap, topic, gen
        self.lines_per_second = lines_per_second
        self.lines_per_record = lines_per_record
        self.max_lines = max_lines
        self.record_kwargs = record_kwargs
        self.produced: List[ProducedEntry] = []
        self.errors: List[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"producer-{topic}", daemon=True)
        self._producer = Producer(producer_config(bootstrap))
        self.records_sent = 0

    def start(self) -> "BackgroundProducer":
        self._thread.start()
        return self

    def _run(self) -> None:
        md = self._producer.list_topics(self.topic, timeout=10)
        partitions = len(md.topics[self.topic].partitions)
        interval = self.lines_per_record / self.lines_per_second
        next_at = time.monotonic()
        lines = 0
        while not self._stop.is_set() and (self.max_lines is None or lines < self.max_lines):
            for rec in self.gen.records(self.lines_per_record, lines_per_record=self.lines_per_record,
                                        **self.record_kwargs):
                self._send(rec, partitions)
                lines += self.lines_per_record
            self._producer.poll(0)
            next_at += interval
            self._stop.wait(max(0.0, next_at - time.monotonic()))

    def _send(self, rec: Record, partitions: int) -> None:
        """Produces `rec` round-robin over the partitions (waiting out a full local queue); its
        entries count as produced once the broker acknowledged it."""
        def cb(err, msg):
            with self._lock:
                if err is not None:
                    self.errors.append(str(err))
                else:
                    self.produced.extend(e._replace(topic=msg.topic(), partition=msg.partition(),
                                                    offset=msg.offset()) for e in rec.entries())
        while True:
            try:
                self._producer.produce(self.topic, value=rec.value, key=rec.key, headers=rec.headers,
                                       partition=self.records_sent % partitions, on_delivery=cb)
                break
            except BufferError:
                self._producer.poll(0.05)
        self.records_sent += 1

    def delivered_lines(self) -> int:
        with self._lock:
            return len(self.produced)

    def snapshot(self) -> List[ProducedEntry]:
        """The lines whose records were acknowledged so far (production goes on)."""
        with self._lock:
            return list(self.produced)

    def stop(self, timeout: float = 60.0) -> List[ProducedEntry]:
        """Stops producing, waits for all delivery reports; returns every produced line."""
        self._stop.set()
        self._thread.join(timeout)
        deadline = Deadline(timeout)
        while self._producer.flush(min(1.0, deadline.remaining())) > 0:
            if deadline.expired():
                raise TimeoutExpired(f"background producer to {self.topic}: undelivered records after {timeout}s")
        if self.errors:
            raise RuntimeError(f"{len(self.errors)} delivery errors, first: {self.errors[:3]}")
        with self._lock:
            return list(self.produced)


# ---------------------------------------------------------------------------------------------
# Malformed records mixed into good traffic (fault tests; reusable for the dead-letter topic)
# ---------------------------------------------------------------------------------------------

@dataclass
class MalformedRecord(Record):
    """A record the bridge can never deliver. `streams` is empty (no line to find in Loki);
    `kind` names the defect and `reasons` the values of the bridge's
    records_failed_total{reason} label (RecordDecodeError.Reason) it may be counted under."""

    kind: str = ""
    reasons: Tuple[str, ...] = ()


#: kind -> (what it is, acceptable failure reasons)
MALFORMED_KINDS: Dict[str, Tuple[str, Tuple[str, ...]]] = {
    "empty": ("empty value (b'')", ("empty_value",)),
    "null": ("no value at all (a tombstone)", ("empty_value",)),
    "binary": ("random bytes without Content-Type (sniffed as snappy protobuf)", ("snappy", "protobuf", "too_large")),
    "truncated_snappy": ("a valid snappy protobuf push cut in half", ("snappy",)),
    "json_not_push": ("a JSON log line, not a push body", ("json",)),
    "protobuf_bad_wire_type": ("snappy protobuf whose PushRequest.streams field is a varint", ("protobuf",)),
}


def malformed_record(kind: str, *, tenant: str = "team-a", rng: Optional[random.Random] = None,
                     gen: Optional[LogGenerator] = None) -> MalformedRecord:
    """One malformed record of `kind` (see MALFORMED_KINDS), with a valid X-Scope-OrgID header
    so that only its value is wrong."""
    if kind not in MALFORMED_KINDS:
        raise ValueError(f"unknown malformed kind {kind!r}; one of {sorted(MALFORMED_KINDS)}")
    rng = rng or random.Random(kind)
    headers: List[Tuple[str, bytes]] = []
    if kind == "empty":
        value: Optional[bytes] = b""
    elif kind == "null":
        value = None
    elif kind == "binary":
        # Not '{', not whitespace, not the gzip magic: the bridge sniffs it as snappy protobuf.
        first = rng.choice([b for b in range(256) if b not in (0x7B, 0x1F, 0x20, 0x09, 0x0A, 0x0D)])
        value = bytes([first]) + rng.randbytes(rng.randrange(16, 512))
    elif kind == "truncated_snappy":
        g = gen or LogGenerator((tenant,), seed=rng.random())
        whole = build_record(tenant, [g.stream(tenant, g.streams[tenant][0], 20)], "proto").value
        value = whole[: len(whole) // 2]
        headers.append(("Content-Type", b"application/x-protobuf"))
    elif kind == "json_not_push":
        value = json.dumps({"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "level": "info",
                            "message": "a plain JSON log line, not a Loki push body",
                            "n": rng.randrange(1 << 30)}).encode()
        headers.append(("Content-Type", b"application/json"))
    else:  # protobuf_bad_wire_type: field 1 (streams) with wire type 0 instead of 2
        value = snappy_block(_varint((1 << 3) | 0) + _varint(rng.randrange(1, 1 << 20)))
        headers.append(("Content-Type", b"application/x-protobuf"))
    headers.append(("X-Scope-OrgID", tenant.encode()))
    return MalformedRecord(value=value, headers=headers, key=None, tenant=tenant, streams=[],
                           fmt=f"malformed/{kind}", kind=kind, reasons=MALFORMED_KINDS[kind][1])


def malformed_records(per_kind: int = 1, kinds: Iterable[str] = tuple(MALFORMED_KINDS), *, tenant: str = "team-a",
                      seed: int = 0) -> List[MalformedRecord]:
    """`per_kind` malformed records of each kind (deterministic for a seed)."""
    rng = random.Random(seed)
    return [malformed_record(k, tenant=tenant, rng=rng) for k in kinds for _ in range(per_kind)]


def mix_records(good: Sequence[Record], bad: Sequence[Record], *, seed: int = 0) -> List[Record]:
    """`bad` inserted at random places among `good` (whose order is kept)."""
    rng = random.Random(seed)
    out = list(good)
    for rec in bad:
        out.insert(rng.randrange(len(out) + 1), rec)
    return out


class PlacedRecord(NamedTuple):
    """A produced record and where it landed."""

    record: Record
    topic: str
    partition: int
    offset: int


def produce_placed(bootstrap: str, topic: str, records: Iterable[Record], *, timeout: float = 120.0,
                   partitions: Optional[int] = None) -> List[PlacedRecord]:
    """Like produce(), but returns every record (malformed ones included, which carry no lines)
    with its partition and offset, in produce order. One record per batch (see producer_config)."""
    deadline = Deadline(timeout)
    p = Producer(producer_config(bootstrap))
    if partitions is None:
        partitions = len(p.list_topics(topic, timeout=max(1.0, deadline.remaining())).topics[topic].partitions)
        if partitions == 0:
            raise RuntimeError(f"topic {topic} has no partitions (does it exist?)")
    records = list(records)
    placed: List[Optional[PlacedRecord]] = [None] * len(records)
    errors: List[str] = []

    def report(i: int, rec: Record):
        def cb(err, msg):
            if err is not None:
                errors.append(f"{msg.topic()}[{msg.partition()}]: {err}")
            else:
                placed[i] = PlacedRecord(rec, msg.topic(), msg.partition(), msg.offset())
        return cb

    for i, rec in enumerate(records):
        part = rec.partition if rec.partition is not None else i % partitions
        while True:
            try:
                p.produce(topic, value=rec.value, key=rec.key, headers=rec.headers, partition=part,
                          on_delivery=report(i, rec))
                break
            except BufferError:
                if deadline.expired():
                    raise TimeoutExpired(f"produce to {topic}: local queue full until the deadline")
                p.poll(0.05)
        p.poll(0)
    while p.flush(min(1.0, deadline.remaining())) > 0:
        if deadline.expired():
            raise TimeoutExpired(f"produce to {topic}: records undelivered after {timeout:.0f}s")
    if errors:
        raise RuntimeError(f"{len(errors)} delivery errors, first: {errors[:3]}")
    missing = [i for i, x in enumerate(placed) if x is None]
    if missing:
        raise RuntimeError(f"no delivery report for {len(missing)} records")
    log.info("produced %d records to %s", len(records), topic)
    return [x for x in placed if x is not None]


def placed_entries(placed: Iterable[PlacedRecord]) -> List[ProducedEntry]:
    """The lines of the placed records (malformed records have none), with topic/partition/offset."""
    return [e._replace(topic=pr.topic, partition=pr.partition, offset=pr.offset)
            for pr in placed for e in pr.record.entries()]

