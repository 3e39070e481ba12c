"""Tests of the Loki stand-in (testbed/loki_standin.py) itself.

The stand-in runs as a subprocess on free ports, as the end-to-end tests use it. This file needs
nothing but pytest and cramjam, and works without a conftest.py.
"""

from __future__ import annotations

import gzip
import http.client
import json
import selectors
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import cramjam
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
STANDIN = REPO_ROOT / "testbed" / "loki_standin.py"
NS = 1_000_000_000
START_DEADLINE = 15.0


# ------------------------------------------------------------------------------------------
# Protobuf encoding of logproto.PushRequest, independent from the stand-in's decoder.
# ------------------------------------------------------------------------------------------
def _varint(n: int) -> bytes:
    if n < 0:
        n += 1 << 64
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _field(number: int, payload) -> bytes:
    if isinstance(payload, int):
        return _varint(number << 3) + _varint(payload)
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def encode_push(streams) -> bytes:
    """streams: [(labels_string, [(ts_ns, line, {metadata} | None), ...]), ...] -> snappy block bytes."""
    body = b""
    for labels, entries in streams:
        stream = _field(1, labels.encode())
        for entry in entries:
            ts, line = entry[0], entry[1]
            md = entry[2] if len(entry) > 2 else None
            sec, nanos = divmod(ts, NS)  # proto3 leaves zero fields out
            e = _field(1, (_field(1, sec) if sec else b"") + (_field(2, nanos) if nanos else b"")) + _field(2, line.encode())
            for name, value in (md or {}).items():
                e += _field(3, _field(1, name.encode()) + _field(2, value.encode()))
            stream += _field(2, e)
        body += _field(1, stream)
    return bytes(cramjam.snappy.compress_raw(body))


def json_push(streams) -> bytes:
    """streams: [({labels}, [(ts_ns, line, {metadata} | None), ...]), ...] -> Loki v1 JSON."""
    out = []
    for labels, entries in streams:
        values = []
        for entry in entries:
            v = [str(entry[0]), entry[1]]
            if len(entry) > 2 and entry[2]:
                v.append(entry[2])
            values.append(v)
        out.append({"stream": labels, "values": values})
    return json.dumps({"streams": out}).encode()


# ------------------------------------------------------------------------------------------
# Process and HTTP helpers.
# ------------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Response:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    def json(self):
        return json.loads(self.body)


def http_request(port, method, path, body=None, headers=None, timeout=10.0) -> Response:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return Response(resp.status, resp.headers, resp.read())
    finally:
        conn.close()


class Standin:
    def __init__(self, tmp_dir: Path, *extra: str):
        self.tmp_dir = tmp_dir
        self.extra = extra
        self.proc = None
        for _attempt in range(3):  # a free port can be taken between the probe and the bind
            self.data_port, self.control_port = free_port(), free_port()
            if self.data_port != self.control_port and self._start():
                return
        raise RuntimeError(f"the stand-in did not start: {self.stderr()}")

    def _start(self) -> bool:
        self.log_file = self.tmp_dir / f"standin-{self.data_port}.log"
        self.stderr_file = self.tmp_dir / f"standin-{self.data_port}.stderr"
        self.proc = subprocess.Popen(
            [sys.executable, str(STANDIN), "--listen", f"127.0.0.1:{self.data_port}",
             "--control-listen", f"127.0.0.1:{self.control_port}", "--log-file", str(self.log_file), *self.extra],
            stdout=subprocess.PIPE, stderr=self.stderr_file.open("w"), text=True)
        deadline = time.monotonic() + START_DEADLINE
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        line = ""
        try:
            while time.monotonic() < deadline and not line.endswith("\n"):
                if self.proc.poll() is not None:
                    return False
                if sel.select(timeout=0.1):
                    chunk = self.proc.stdout.readline()
                    if not chunk:
                        return False
                    line += chunk
        finally:
            sel.close()
        assert line == f"READY 127.0.0.1:{self.data_port} 127.0.0.1:{self.control_port}\n", line
        # The READY line comes after the bind; still poll both ports until they answer.
        while time.monotonic() < deadline:
            try:
                if (http_request(self.data_port, "GET", "/ready", timeout=1).status == 200
                        and http_request(self.control_port, "GET", "/stub/health", timeout=1).status == 200):
                    return True
            except OSError:
                pass
            time.sleep(0.02)
        self.stop()
        return False

    def stderr(self) -> str:
        try:
            return self.stderr_file.read_text()
        except OSError:
            return ""

    def stop(self) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None
        finally:
            self.proc.stdout.close()

    # ---- data port ------------------------------------------------------------------------
    def push_proto(self, streams, tenant="t1", extra_headers=None) -> Response:
        headers = {"Content-Type": "application/x-protobuf"}
        if tenant is not None:
            headers["X-Scope-OrgID"] = tenant
        headers.update(extra_headers or {})
        return http_request(self.data_port, "POST", "/loki/api/v1/push", encode_push(streams), headers)

    def push_json(self, streams, tenant="t1", gzipped=False) -> Response:
        body = json_push(streams)
        headers = {"Content-Type": "application/json"}
        if gzipped:
            body = gzip.compress(body)
            headers["Content-Encoding"] = "gzip"
        if tenant is not None:
            headers["X-Scope-OrgID"] = tenant
        return http_request(self.data_port, "POST", "/loki/api/v1/push", body, headers)

    def query_range(self, query, tenant="t1", headers=None, **params) -> Response:
        params["query"] = query
        h = {"X-Scope-OrgID": tenant} if tenant is not None else {}
        h.update(headers or {})
        path = "/loki/api/v1/query_range?" + urllib.parse.urlencode(params)
        return http_request(self.data_port, "GET", path, headers=h)

    # ---- control port ---------------------------------------------------------------------
    def control(self, method, path, obj=None) -> Response:
        body = json.dumps(obj).encode() if obj is not None else None
        headers = {"Content-Type": "application/json"} if body is not None else {}
        return http_request(self.control_port, method, path, body, headers)

    def stats(self) -> dict:
        return self.control("GET", "/stub/stats").json()

    def entries(self, tenant="t1") -> dict:
        return self.control("GET", "/stub/entries?" + urllib.parse.urlencode({"tenant": tenant})).json()

    def lines(self, tenant="t1") -> list[str]:
        return [e[1] for s in self.entries(tenant)["streams"] for e in s["entries"]]

    def fault(self, spec) -> dict:
        r = self.control("POST", "/stub/faults", spec)
        assert r.status == 200, r.text
        return r.json()


@pytest.fixture(scope="module")
def standin(tmp_path_factory):
    s = Standin(tmp_path_factory.mktemp("loki-standin"))
    yield s
    assert s.stop() == 0, s.stderr()


@pytest.fixture
def loki(standin):
    r = standin.control("POST", "/stub/reset", {})
    assert r.status == 200
    return standin


def now_ns() -> int:
    return time.time_ns()


def result_values(resp: Response):
    """{(labels as sorted tuple): [values...]} from a query_range answer."""
    assert resp.status == 200, resp.text
    doc = resp.json()
    assert doc["status"] == "success" and doc["data"]["resultType"] == "streams"
    return {tuple(sorted(r["stream"].items())): r["values"] for r in doc["data"]["result"]}


# ------------------------------------------------------------------------------------------
# Push formats.
# ------------------------------------------------------------------------------------------
def test_protobuf_snappy_push_is_stored_and_queryable(loki):
    t = now_ns()
    r = loki.push_proto([
        ('{app="api", env="prod"}', [(t, "first"), (t + 1, "second", {"trace_id": "abc"}), (t + 2, "third")]),
        ('{app="db"}', [(t + 5, "db line")]),
    ])
    assert r.status == 204 and r.body == b""

    streams = loki.entries()["streams"]
    assert streams == [
        {"labels": {"app": "api", "env": "prod"},
         "entries": [[t, "first", {}], [t + 1, "second", {"trace_id": "abc"}], [t + 2, "third", {}]]},
        {"labels": {"app": "db"}, "entries": [[t + 5, "db line", {}]]},
    ]
    stats = loki.stats()
    assert stats["tenants"]["t1"] == {"entries": 4, "streams": 2, "deduplicated": 0, "bytes": 23, "rejected": 0}
    assert stats["pushes"] == {"204": 1}

    # Loki's default answer folds structured metadata into the stream labels ...
    got = result_values(loki.query_range('{app="api"}', start=t - NS, end=t + NS))
    assert got == {
        (("app", "api"), ("env", "prod")): [[str(t + 2), "third"], [str(t), "first"]],
        (("app", "api"), ("env", "prod"), ("trace_id", "abc")): [[str(t + 1), "second"]],
    }
    # ... and categorize-labels gives it as a third element.
    r = loki.query_range('{app="api"}', headers={"X-Loki-Response-Encoding-Flags": "categorize-labels"},
                         start=t - NS, end=t + NS)
    assert r.json()["data"]["encodingFlags"] == ["categorize-labels"]
    assert result_values(r) == {(("app", "api"), ("env", "prod")): [
        [str(t + 2), "third"], [str(t + 1), "second", {"structuredMetadata": {"trace_id": "abc"}}], [str(t), "first"]]}


def test_json_push_plain_and_gzip(loki):
    t = now_ns()
    assert loki.push_json([({"app": "j"}, [(t, "plain json", {"user": "u1"})])]).status == 204
    assert loki.push_json([({"app": "g"}, [(t + 1, "gzipped json")])], gzipped=True).status == 204
    legacy = json.dumps({"streams": [{"labels": '{app="legacy"}', "entries": [
        {"ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t // NS)) + ".000000123Z", "line": "legacy json"}]}]})
    r = http_request(loki.data_port, "POST", "/api/prom/push", legacy.encode(),
                     {"Content-Type": "application/json", "X-Scope-OrgID": "t1"})
    assert r.status == 204, r.text
    streams = {s["labels"]["app"]: s["entries"] for s in loki.entries()["streams"]}
    assert streams == {"g": [[t + 1, "gzipped json", {}]], "j": [[t, "plain json", {"user": "u1"}]],
                       "legacy": [[(t // NS) * NS + 123, "legacy json", {}]]}


def test_unsupported_or_broken_bodies_are_refused(loki):
    headers = {"X-Scope-OrgID": "t1"}
    r = http_request(loki.data_port, "POST", "/loki/api/v1/push", b"hello", {**headers, "Content-Type": "text/plain"})
    assert r.status == 415
    r = http_request(loki.data_port, "POST", "/loki/api/v1/push", b"\xff\xff\xff\xff garbage",
                     {**headers, "Content-Type": "application/x-protobuf"})
    assert r.status == 400 and "snappy: corrupt input" in r.text
    r = http_request(loki.data_port, "POST", "/loki/api/v1/push", b'{"streams": [',
                     {**headers, "Content-Type": "application/json"})
    assert r.status == 400
    r = http_request(loki.data_port, "POST", "/loki/api/v1/push", b'{"streams":[{"stream":{"a":"b"},"values":[[1,"x"]]}]}',
                     {**headers, "Content-Type": "application/json"})
    assert r.status == 400 and "timestamp" in r.text  # Loki wants the timestamp as a string
    r = http_request(loki.data_port, "POST", "/loki/api/v1/push", b'{"streams":[]}',
                     {**headers, "Content-Type": "application/json"})
    assert r.status == 422 and "at least one valid stream" in r.text
    assert loki.stats()["tenants"].get("t1", {}).get("entries", 0) == 0
    assert loki.stats()["pushes"] == {"415": 1, "400": 3, "422": 1}


# ------------------------------------------------------------------------------------------
# Tenants.
# ------------------------------------------------------------------------------------------
def test_push_and_query_without_tenant_are_401(loki):
    r = loki.push_proto([('{app="x"}', [(now_ns(), "line")])], tenant=None)
    assert r.status == 401 and r.text == "no org id\n"
    assert loki.stats()["tenants"] == {} and loki.stats()["pushes"] == {"401": 1}
    assert loki.query_range('{app="x"}', tenant=None).status == 401
    r = loki.push_proto([('{app="x"}', [(now_ns(), "line")])], tenant="a b")
    assert r.status == 400 and "unsupported character ' '" in r.text


def test_tenants_are_kept_apart(loki):
    t = now_ns()
    assert loki.push_proto([('{app="x"}', [(t, "for a")])], tenant="a").status == 204
    assert loki.push_proto([('{app="x"}', [(t, "for b")])], tenant="b").status == 204
    assert loki.lines("a") == ["for a"] and loki.lines("b") == ["for b"]
    assert result_values(loki.query_range('{app="x"}', tenant="b")) == {(("app", "x"),): [[str(t), "for b"]]}


def test_no_auth_mode_uses_tenant_fake_and_stops_cleanly(tmp_path):
    s = Standin(tmp_path, "--no-auth")
    try:
        t = now_ns()
        assert s.push_proto([('{app="x"}', [(t, "single tenant")])], tenant=None).status == 204
        assert list(s.stats()["tenants"]) == ["fake"]
        assert s.control("GET", "/stub/entries").json()["streams"][0]["entries"] == [[t, "single tenant", {}]]
        assert result_values(s.query_range('{app="x"}', tenant=None)) == {(("app", "x"),): [[str(t), "single tenant"]]}
    finally:
        code = s.stop()
    assert code == 0, s.stderr()
    log = s.log_file.read_text()
    assert "path=/loki/api/v1/push status=204" in log and "tenant=fake accepted=1 rejected=0" in log


# ------------------------------------------------------------------------------------------
# Streams, duplicates and validation.
# ------------------------------------------------------------------------------------------
def test_label_order_does_not_make_a_new_stream(loki):
    t = now_ns()
    assert loki.push_proto([('{b="2",a="1"}', [(t, "one")])]).status == 204
    assert loki.push_proto([('{ a = "1" , b="2", }', [(t + 1, "two")])]).status == 204
    assert loki.push_json([({"b": "2", "a": "1"}, [(t + 2, "three")])]).status == 204
    assert loki.push_proto([('{a="1", b="2", c=""}', [(t + 3, "four")])]).status == 204  # empty value == absent
    assert loki.entries()["streams"] == [{"labels": {"a": "1", "b": "2"}, "entries": [
        [t, "one", {}], [t + 1, "two", {}], [t + 2, "three", {}], [t + 3, "four", {}]]}]
    assert loki.stats()["tenants"]["t1"]["streams"] == 1


def test_identical_entries_are_dropped_and_counted(loki):
    t = now_ns()
    batch = [('{app="d"}', [(t, "same"), (t + 1, "other")])]
    assert loki.push_proto(batch).status == 204
    assert loki.push_proto(batch).status == 204          # a redelivered batch
    assert loki.push_proto([('{app="d"}', [(t, "same but different line")])]).status == 204
    assert loki.entries()["streams"][0]["entries"] == [
        [t, "same", {}], [t, "same but different line", {}], [t + 1, "other", {}]]
    tenant = loki.stats()["tenants"]["t1"]
    assert tenant["entries"] == 3 and tenant["deduplicated"] == 2


def test_too_old_and_too_new_entries_are_rejected_and_the_valid_ones_kept(loki):
    t = now_ns()
    old, new = t - 8 * 24 * 3600 * NS, t + 3600 * NS
    r = loki.push_proto([('{app="x"}', [(old, "too old"), (t, "fine"), (new, "too new")])])
    assert r.status == 400
    assert "entry for stream '{app=\"x\"}' has timestamp too old: " in r.text
    assert "oldest acceptable timestamp is: " in r.text
    assert "entry for stream '{app=\"x\"}' has timestamp too new: " in r.text
    assert loki.lines() == ["fine"]
    assert loki.stats()["tenants"]["t1"]["rejected"] == 2


def test_entries_too_far_behind_the_stream_are_rejected(loki):
    t = now_ns()
    assert loki.push_proto([('{app="x"}', [(t, "newest")])]).status == 204
    r = loki.push_proto([('{app="x"}', [(t - 2 * 3600 * NS, "two hours behind"), (t - 60 * NS, "a minute behind")])])
    assert r.status == 400
    assert "ignored, reason: 'entry too far behind" in r.text and "total ignored: 1 out of 2" in r.text
    assert sorted(loki.lines()) == ["a minute behind", "newest"]


def test_line_too_long(loki):
    t = now_ns()
    r = loki.push_proto([('{app="big"}', [(t, "a" * 262144), (t + 1, "b" * 262145)])])
    assert r.status == 400
    assert ("Max entry size '262144' bytes exceeded for stream '{app=\"big\"}' while adding an entry with length "
            "'262145' bytes") in r.text
    assert [len(line) for line in loki.lines()] == [262144]


def test_invalid_stream_labels_reject_the_whole_stream(loki):
    t = now_ns()
    r = loki.push_proto([
        ('{app="x"', [(t, "unterminated")]),
        ('{1app="x"}', [(t, "bad name")]),
        ('{app="x", app="y"}', [(t, "duplicate")]),
        ("{}", [(t, "no labels")]),
        ('{app!="x"}', [(t, "matcher, not a label")]),
        ('{app="ok", \tenv="ok"}', [(t, "valid"), (t + 1, "valid too")]),
    ])
    assert r.status == 400
    assert "Error parsing labels '{app=\"x\"' with error: " in r.text
    assert "Error parsing labels '{1app=\"x\"}' with error: " in r.text
    assert "has duplicate label name: 'app'" in r.text
    assert "error at least one label pair is required per stream" in r.text
    assert "Error parsing labels '{app!=\"x\"}'" in r.text
    assert loki.entries()["streams"] == [
        {"labels": {"app": "ok", "env": "ok"}, "entries": [[t, "valid", {}], [t + 1, "valid too", {}]]}]
    assert loki.stats()["tenants"]["t1"]["rejected"] == 5


# ------------------------------------------------------------------------------------------
# Faults.
# ------------------------------------------------------------------------------------------
def test_status_fault_with_count_and_retry_after_stores_nothing(loki):
    loki.fault({"mode": "status", "status": 503, "count": 2, "retry_after": 7})
    t = now_ns()
    for i in range(2):
        r = loki.push_proto([('{app="f"}', [(t + i, f"faulted {i}")])])
        assert r.status == 503 and r.headers["Retry-After"] == "7"
    assert loki.lines() == []
    r = loki.push_proto([('{app="f"}', [(t + 5, "after the fault")])])
    assert r.status == 204 and "Retry-After" not in r.headers
    assert loki.lines() == ["after the fault"]
    assert loki.stats()["pushes"] == {"204": 1, "503": 2}
    assert loki.control("GET", "/stub/faults").json() == {"fault": None}


def test_status_fault_for_some_seconds(loki):
    loki.fault({"mode": "status", "status": 429, "seconds": 0.8})
    t = now_ns()
    r = loki.push_proto([('{app="f"}', [(t, "rate limited")])])
    assert r.status == 429 and "Ingestion rate limit exceeded for user t1" in r.text
    assert "Retry-After" not in r.headers
    deadline = time.monotonic() + 10
    statuses = []
    while time.monotonic() < deadline:
        r = loki.push_proto([('{app="f"}', [(t, "rate limited")])])
        statuses.append(r.status)
        if r.status == 204:
            break
        time.sleep(0.05)
    assert statuses[-1] == 204 and set(statuses[:-1]) <= {429}
    assert loki.lines() == ["rate limited"]


def test_fault_for_one_tenant_only(loki):
    loki.fault({"mode": "status", "status": 500, "tenant": "a"})
    t = now_ns()
    assert loki.push_proto([('{app="x"}', [(t, "a1")])], tenant="a").status == 500
    assert loki.push_proto([('{app="x"}', [(t, "b1")])], tenant="b").status == 204
    assert loki.push_proto([('{app="x"}', [(t, "a1")])], tenant="a").status == 500  # until cleared
    loki.fault({"mode": "none"})
    assert loki.push_proto([('{app="x"}', [(t, "a1")])], tenant="a").status == 204
    assert loki.lines("a") == ["a1"] and loki.lines("b") == ["b1"]


def test_delay_fault_slows_pushes_down(loki):
    loki.fault({"mode": "delay", "seconds": 1.0, "for_seconds": 30})
    t = now_ns()
    began = time.monotonic()
    r = loki.push_proto([('{app="slow"}', [(t, "slow push")])])
    assert r.status == 204 and time.monotonic() - began >= 0.95
    assert loki.lines() == ["slow push"]  # a slow Loki still stores
    # Queries are not delayed, and clearing the fault ends the delay for pushes.
    began = time.monotonic()
    assert loki.query_range('{app="slow"}').status == 200
    assert time.monotonic() - began < 0.95
    loki.fault({"mode": "none"})
    began = time.monotonic()
    assert loki.push_proto([('{app="slow"}', [(t + 1, "fast push")])]).status == 204
    assert time.monotonic() - began < 0.95


def test_refuse_fault_refuses_connections_then_recovers(loki):
    kept = http.client.HTTPConnection("127.0.0.1", loki.data_port, timeout=5)
    kept.request("GET", "/ready")
    assert kept.getresponse().read() == b"ready\n"

    assert loki.fault({"mode": "refuse", "seconds": 1.0})["fault"]["mode"] == "refuse"
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", loki.data_port), timeout=2).close()
    # An open keep-alive connection does not get answers either.
    with pytest.raises((OSError, http.client.HTTPException)):
        kept.request("GET", "/ready")
        kept.getresponse().read()
    kept.close()
    assert loki.control("GET", "/stub/health").status == 200  # the control port stays up

    deadline = time.monotonic() + 10
    while True:
        try:
            r = http_request(loki.data_port, "GET", "/ready", timeout=1)
            break
        except ConnectionRefusedError:
            assert time.monotonic() < deadline, "the data port did not come back"
            time.sleep(0.05)
    assert r.status == 200
    assert loki.push_proto([('{app="r"}', [(now_ns(), "after refuse")])]).status == 204
    assert loki.lines() == ["after refuse"]
    assert loki.control("GET", "/stub/faults").json() == {"fault": None}


def test_fault_requests_are_validated(loki):
    for spec in ({"mode": "explode"}, {"mode": "status"}, {"mode": "status", "status": 503, "count": 0},
                 {"mode": "delay"}, {"mode": "refuse"}):
        assert loki.control("POST", "/stub/faults", spec).status == 400, spec


# ------------------------------------------------------------------------------------------
# Queries.
# ------------------------------------------------------------------------------------------
def test_query_range_matchers_filters_limit_and_direction(loki):
    t0 = now_ns() - 60 * NS
    streams = [({"app": "api", "env": "prod"}, 0), ({"app": "api", "env": "dev"}, 1), ({"app": "web", "env": "prod"}, 2)]
    for labels, k in streams:
        name = f'{labels["app"]}-{labels["env"]}'
        assert loki.push_json([(labels, [(t0 + i * 1000 + k, f"{name} line {i}") for i in range(5)])]).status == 204
    span = {"start": t0 - NS, "end": t0 + NS}

    def lines(query, **params):
        vals = result_values(loki.query_range(query, **{**span, **params}))
        return sorted(v[1] for values in vals.values() for v in values)

    assert len(lines('{app="api"}')) == 10
    assert lines('{app="api", env!="dev"}') == [f"api-prod line {i}" for i in range(5)]
    assert lines('{app=~"ap"}') == []                      # regex matchers are anchored
    assert len(lines('{app=~"ap.*|we."}')) == 15
    assert lines('{env="prod", app!~"a.*"}') == [f"web-prod line {i}" for i in range(5)]
    assert lines('{env=~".+"} |= "line 3" != "dev"') == ["api-prod line 3", "web-prod line 3"]
    assert lines('{env=~".+"} |~ "line [01]$" !~ "^api"') == ["web-prod line 0", "web-prod line 1"]

    # limit applies across streams; backward gives the newest, forward the oldest, in that order.
    def ordered(**params):
        vals = result_values(loki.query_range('{env=~".+"}', **{**span, **params}))
        return sorted(((int(v[0]), v[1]) for values in vals.values() for v in values),
                      reverse=params.get("direction") != "forward")

    assert [line for _, line in ordered(limit=4)] == [
        "web-prod line 4", "api-dev line 4", "api-prod line 4", "web-prod line 3"]
    assert [line for _, line in ordered(limit=4, direction="forward")] == [
        "api-prod line 0", "api-dev line 0", "web-prod line 0", "api-prod line 1"]
    got = result_values(loki.query_range('{app="api", env="prod"}', limit=2, direction="backward", **span))
    assert got == {(("app", "api"), ("env", "prod")): [[str(t0 + 4000), "api-prod line 4"], [str(t0 + 3000), "api-prod line 3"]]}
    # start is inclusive, end exclusive; RFC3339 and unix-seconds forms are accepted.
    assert lines('{app="web"}', start=t0 + 1002, end=t0 + 3002) == ["web-prod line 1", "web-prod line 2"]
    rfc = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t0 // NS - 5))
    assert len(lines('{app="web"}', start=rfc, end=str(t0 // NS + 5))) == 5
    # the default range is the last hour
    assert len(result_values(loki.query_range('{app="web"}'))[(("app", "web"), ("env", "prod"))]) == 5


def test_query_errors_like_loki(loki):
    r = loki.query_range('{app=~".*"}')
    assert r.status == 400 and "empty-compatible value" in r.text
    r = loki.query_range('{app="x"}', limit=5001)
    assert r.status == 400 and "max entries limit per query exceeded" in r.text
    r = loki.query_range('{app="x"', limit=10)
    assert r.status == 400 and "parse error" in r.text
    r = loki.query_range('{app="x"}', direction="sideways")
    assert r.status == 400
    r = http_request(loki.data_port, "GET", "/loki/api/v1/query?query=" + urllib.parse.quote('{app="x"}'),
                     headers={"X-Scope-OrgID": "t1"})
    assert r.status == 400 and "log queries are not supported as an instant query type" in r.text


def test_label_endpoints(loki):
    t = now_ns()
    assert loki.push_proto([('{app="a", env="prod"}', [(t, "x")]), ('{app="b"}', [(t, "y")])]).status == 204
    h = {"X-Scope-OrgID": "t1"}
    assert http_request(loki.data_port, "GET", "/loki/api/v1/labels", headers=h).json() == {
        "status": "success", "data": ["app", "env"]}
    assert http_request(loki.data_port, "GET", "/loki/api/v1/label/app/values", headers=h).json() == {
        "status": "success", "data": ["a", "b"]}


# ------------------------------------------------------------------------------------------
# HTTP behaviour and the control API.
# ------------------------------------------------------------------------------------------
def test_keep_alive_connection_and_chunked_bodies(loki):
    conn = http.client.HTTPConnection("127.0.0.1", loki.data_port, timeout=5)
    t = now_ns()
    good = encode_push([('{app="k"}', [(t, "kept alive")])])
    bad = encode_push([('{app="k"}', [(t - 30 * 24 * 3600 * NS, "too old")])])
    headers = {"Content-Type": "application/x-protobuf", "X-Scope-OrgID": "t1"}
    conn.request("POST", "/loki/api/v1/push", good, headers)
    first = conn.getresponse()
    assert first.status == 204 and first.read() == b""
    sock = conn.sock
    conn.request("POST", "/loki/api/v1/push", bad, headers)
    second = conn.getresponse()
    assert second.status == 400 and b"too old" in second.read()
    conn.request("POST", "/loki/api/v1/push", iter([good[:5], good[5:]]), headers, encode_chunked=True)
    third = conn.getresponse()
    assert third.status == 204 and third.read() == b""
    conn.request("GET", "/ready")
    assert conn.getresponse().read() == b"ready\n"
    assert conn.sock is sock  # the same connection served all four
    conn.close()
    assert loki.lines() == ["kept alive"]
    assert loki.stats()["tenants"]["t1"]["deduplicated"] == 1


def test_reset_clears_data_counters_and_faults(loki):
    assert loki.push_proto([('{app="x"}', [(now_ns(), "x")])]).status == 204
    loki.fault({"mode": "status", "status": 503})
    assert loki.control("POST", "/stub/reset", {}).status == 200
    stats = loki.stats()
    assert stats["tenants"] == {} and stats["pushes"] == {} and stats["requests"] == 0 and stats["fault"] is None
    assert loki.push_proto([('{app="x"}', [(now_ns(), "x")])]).status == 204
    assert loki.stats()["requests"] == 1


def test_large_push_of_many_lines(loki):
    t = now_ns()
    entries = [(t + i, f"line {i:05d} " + "x" * 240, {"seq": str(i)}) for i in range(4000)]
    body = encode_push([('{app="bulk"}', entries)])
    r = http_request(loki.data_port, "POST", "/loki/api/v1/push", body,
                     {"Content-Type": "application/x-protobuf", "X-Scope-OrgID": "t1"})
    assert r.status == 204
    stored = loki.entries()["streams"][0]["entries"]
    assert len(stored) == 4000 and stored[-1] == [t + 3999, entries[-1][1], {"seq": "3999"}]


def test_encoder_helper_builds_pushes_the_stand_in_accepts(loki):
    sys.path.insert(0, str(STANDIN.parent))
    try:
        import loki_standin
    finally:
        sys.path.remove(str(STANDIN.parent))
    t = now_ns()
    streams = [('{app="helper"}', [(t, "from the helper", {"k": "v"}), (t + NS, "second")])]
    raw = loki_standin.encode_push_proto(streams, compress=False)
    assert loki_standin.encode_push_proto(streams) == bytes(cramjam.snappy.compress_raw(raw))
    assert raw == bytes(cramjam.snappy.decompress_raw(encode_push(streams)))  # same bytes as this file's encoder
    r = http_request(loki.data_port, "POST", "/loki/api/v1/push", loki_standin.encode_push_proto(streams),
                     {"Content-Type": "application/x-protobuf", "X-Scope-OrgID": "t1"})
    assert r.status == 204
    assert loki.entries()["streams"][0]["entries"] == [[t, "from the helper", {"k": "v"}], [t + NS, "second", {}]]
