#!/usr/bin/env python3
"""A Grafana Loki stand-in for the kafka-loki-bridge test bed (a test double, not product code).

It speaks Loki's push API the way a real single-binary Loki does, keeps what it accepts in
memory, answers log queries, and can be told to misbehave through a separate control port.

Data port (what the bridge talks to):
  POST /loki/api/v1/push, /api/prom/push
      Content-Type application/x-protobuf (or none): snappy *block* compressed logproto.PushRequest.
      Content-Type application/json: {"streams":[{"stream":{..},"values":[["<ns>","line",{sm}]]}]}
      (/api/prom/push also takes the legacy {"streams":[{"labels":"{..}","entries":[{"ts","line"}]}]}).
      Content-Encoding: gzip, deflate (raw flate, as Loki reads it), snappy (ignored) or none.
      Auth (default): X-Scope-OrgID is the tenant, 401 "no org id" without it. --no-auth: tenant "fake".
      204 when everything was accepted; 400 naming rejected entries (the valid ones are kept, as in
      Loki); 415 for a content type other than JSON/protobuf; 422 for a request with no streams.
  GET  /ready -> "ready"
  GET  /loki/api/v1/query_range  (log queries: stream selector with =, !=, =~, !~ and line filters
       |= != |~ !~; start/end as unix s/ns, float seconds or RFC3339; limit, direction)
  GET  /loki/api/v1/query        (400 for log queries, as Loki 3 answers)
  GET  /loki/api/v1/labels, /loki/api/v1/label/<name>/values

Control port (JSON, for tests):
  GET  /stub/health
  GET  /stub/stats     {"tenants":{T:{"entries","streams","deduplicated","bytes","rejected"}},
                        "pushes":{"<status>":N}, "requests":N (data port), "fault":{...}|null}
  GET  /stub/entries?tenant=T   {"streams":[{"labels":{..},"entries":[[ts_ns,"line",{sm}],..]}]}, ts order
  GET  /stub/faults    {"fault": {...} | null}
  POST /stub/faults    one fault at a time (a new one replaces the old); faults apply to pushes only:
       {"mode":"status","status":503, "count":N | "seconds":S (neither: until cleared),
        "retry_after":7 (adds Retry-After), "tenant":"T" (only that tenant's pushes)}  -> nothing stored
       {"mode":"delay","seconds":S, "for_seconds":D (absent: until cleared), "tenant":"T"}
            -> the push is answered (and stored) S seconds late, even if the client gave up
       {"mode":"refuse","seconds":S} -> the data listener is closed (ECONNREFUSED), open keep-alive
            connections are shut down, and it listens again on the same port after S seconds
       {"mode":"none"}
  POST /stub/reset     clears stored data, counters and the fault

Loki behaviour mirrored (defaults as Loki 3's): reject_old_samples 168h, creation_grace_period 10m,
max_line_size 256KB, 15 label names per stream, label name/value length 1024/2048, structured
metadata 64KB/128 entries (names normalized as Loki does), per-stream "too far behind" window of
max_chunk_age/2 = 1h, duplicate (timestamp, line) entries dropped silently, query limit <= 5000.

Standard library only, plus `cramjam` for snappy. Run with --help for the flags.
"""

from __future__ import annotations

import argparse
import bisect
import calendar
import gzip
import heapq
import json
import re
import signal
import socket
import socketserver
import sys
import threading
import time
import zlib
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

try:
    import cramjam
except ImportError:  # pragma: no cover - reported at start-up
    cramjam = None

NS = 1_000_000_000
PUSH_PATHS = ("/loki/api/v1/push", "/api/prom/push")

# --------------------------------------------------------------------------------------------
# Loki's messages (pkg/validation/validate.go, pkg/distributor, pkg/ingester/stream.go).
# --------------------------------------------------------------------------------------------
MSG_MISSING_STREAMS = "error at least one valid stream is required for ingestion"
MSG_MISSING_LABELS = "error at least one label pair is required per stream"
MSG_INVALID_LABELS = "Error parsing labels '{labels}' with error: {err}"
MSG_LINE_TOO_LONG = "Max entry size '{max}' bytes exceeded for stream '{labels}' while adding an entry with length '{size}' bytes"
MSG_TOO_OLD = "entry for stream '{labels}' has timestamp too old: {ts}, oldest acceptable timestamp is: {oldest}"
MSG_TOO_NEW = "entry for stream '{labels}' has timestamp too new: {ts}"
MSG_MAX_LABEL_NAMES = "entry for stream '{labels}' has {n} label names; limit {max}"
MSG_LABEL_NAME_TOO_LONG = "stream '{labels}' has label name too long: '{name}'"
MSG_LABEL_VALUE_TOO_LONG = "stream '{labels}' has label value too long: '{value}'"
MSG_DUPLICATE_LABEL = "stream '{labels}' has duplicate label name: '{name}'"
MSG_SM_DISALLOWED = ("stream '{labels}' includes structured metadata, but this feature is disallowed. Please see "
                     "`limits_config.allow_structured_metadata` or contact your Loki administrator to enable it.")
MSG_SM_TOO_LARGE = ("stream '{labels}' has structured metadata too large: '{size}' bytes, limit: '{max}' bytes. Please see "
                    "`limits_config.max_structured_metadata_size` or contact your Loki administrator to increase it.")
MSG_SM_TOO_MANY = ("stream '{labels}' has too many structured metadata labels: '{n}', limit: '{max}'. Please see "
                   "`limits_config.max_structured_metadata_entries_count` or contact your Loki administrator to increase it.")
MSG_TOO_FAR_BEHIND = "entry too far behind, entry timestamp is: {ts}, oldest acceptable timestamp is: {cutoff}"
MSG_RATE_LIMITED = ("Ingestion rate limit exceeded for user {tenant} (limit: 4194304 bytes/sec) while attempting to ingest "
                    "'{lines}' lines totaling '{bytes}' bytes, reduce log volume or contact your Loki administrator to see "
                    "if the limit can be increased")
MSG_MAX_ENTRIES = "max entries limit per query exceeded, limit > max_entries_limit_per_query ({limit} > {max})"
MSG_INSTANT_LOG_QUERY = "log queries are not supported as an instant query type, please change your query to a range query type"
MSG_EMPTY_COMPATIBLE = ("parse error : queries require at least one regexp or equality matcher that does not have an "
                        "empty-compatible value. For instance, app=~\".*\" does not meet this requirement, but app=~\".+\" will")
MAX_RETURNED_INGESTER_ERRORS = 10   # ingester.max-ignored-stream-errors... Loki's MaxReturnedErrors default
MAX_GROUPED_ERRORS = 20             # the stand-in's own cap on distinct messages in one 400 body

# --------------------------------------------------------------------------------------------
# Small parsers and Go-style formatting.
# --------------------------------------------------------------------------------------------
_DURATION_RE = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h|d|w|y)")
_DURATION_UNITS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": NS, "m": 60 * NS, "h": 3600 * NS,
                   "d": 86400 * NS, "w": 7 * 86400 * NS, "y": 365 * 86400 * NS}


def parse_duration_ns(text: str) -> int:
    """Go / Prometheus duration ("168h", "10m", "7d", "1h30m", "0") in nanoseconds."""
    text = text.strip()
    if text in ("0", ""):
        return 0
    pos, total = 0, 0
    for m in _DURATION_RE.finditer(text):
        if m.start() != pos:
            break
        total += int(float(m.group(1)) * _DURATION_UNITS[m.group(2)])
        pos = m.end()
    if pos != len(text) or pos == 0:
        raise argparse.ArgumentTypeError(f"invalid duration {text!r}")
    return total


def parse_size(text: str) -> int:
    """Bytes as an integer or with a base-2 unit as Loki's flags take them ("256KB", "1MB")."""
    m = re.fullmatch(r"\s*(\d+)\s*([kKmMgG]?)([iI]?[bB])?\s*", text)
    if not m:
        raise argparse.ArgumentTypeError(f"invalid size {text!r}")
    return int(m.group(1)) * {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}[m.group(2).lower()]


_GO_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v",
               '"': '\\"', "\\": "\\\\"}
_PLAIN_RE = re.compile(r'[ !#-\[\]-~]*')  # printable ASCII without '"' and '\'


def go_quote(s: str) -> str:
    """strconv.Quote, closely enough for label strings and messages."""
    if _PLAIN_RE.fullmatch(s):
        return '"' + s + '"'
    out = ['"']
    for ch in s:
        esc = _GO_ESCAPES.get(ch)
        if esc is not None:
            out.append(esc)
        elif ch.isprintable():
            out.append(ch)
        else:
            c = ord(ch)
            out.append(f"\\x{c:02x}" if c < 0x80 else (f"\\u{c:04x}" if c < 0x10000 else f"\\U{c:08x}"))
    out.append('"')
    return "".join(out)


def labels_string(pairs) -> str:
    """Prometheus labels.Labels.String(): {a="1", b="2"}."""
    return "{" + ", ".join(f"{n}={go_quote(v)}" for n, v in pairs) + "}"


def _utc(ns: int):
    return datetime.fromtimestamp(ns // NS, tz=timezone.utc)


def go_rfc3339(ns: int) -> str:
    """time.Time.Format(time.RFC3339) of a UTC time."""
    try:
        return _utc(ns).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, ValueError, OSError):
        return str(ns)


def go_time_string(ns: int) -> str:
    """time.Time.String() of a UTC time: 2006-01-02 15:04:05.999999999 +0000 UTC."""
    try:
        text = _utc(ns).strftime("%Y-%m-%d %H:%M:%S")
    except (OverflowError, ValueError, OSError):
        return str(ns)
    frac = ns % NS
    if frac:
        text += "." + f"{frac:09d}".rstrip("0")
    return text + " +0000 UTC"


_RFC3339_RE = re.compile(r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})")


def parse_rfc3339_ns(text: str) -> int:
    m = _RFC3339_RE.fullmatch(text.strip())
    if not m:
        raise ValueError(f'parsing time "{text}" as RFC3339: cannot parse')
    y, mo, d, h, mi, s = (int(m.group(i)) for i in range(1, 7))
    secs = calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0))
    frac = int((m.group(7) or "0").ljust(9, "0"))
    tz = m.group(8)
    if tz not in ("Z", "z"):
        sign = 1 if tz[0] == "+" else -1
        secs -= sign * (int(tz[1:3]) * 3600 + int(tz[4:6]) * 60)
    return secs * NS + frac


def parse_loki_time(value: str | None, default_ns: int) -> int:
    """loghttp.parseTimestamp: float seconds, <=10 digits seconds, else ns, else RFC3339Nano."""
    if value is None or value == "":
        return default_ns
    if "." in value:
        try:
            f = float(value)
            sec = int(f)
            return sec * NS + int(round((f - sec) * 1000)) * 1_000_000
        except ValueError:
            pass
    try:
        n = int(value, 10)
    except ValueError:
        return parse_rfc3339_ns(value)
    return n * NS if len(value) <= 10 else n


def sanitize_text(s: str) -> str:
    """Lone surrogates (from JSON \\ud800 escapes) become U+FFFD, as Go's JSON decoder does."""
    try:
        s.encode("utf-8")
        return s
    except UnicodeEncodeError:
        return s.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


# --------------------------------------------------------------------------------------------
# Protobuf wire format: logproto.PushRequest (pkg/push/push.proto).
# --------------------------------------------------------------------------------------------
class DecodeError(ValueError):
    pass


def _varint(buf: bytes, pos: int):
    try:
        b = buf[pos]
        if b < 0x80:
            return b, pos + 1
        result, shift = b & 0x7F, 7
        pos += 1
        while True:
            b = buf[pos]
            pos += 1
            result |= (b & 0x7F) << shift
            if b < 0x80:
                return result, pos
            shift += 7
            if shift >= 70:
                raise DecodeError("proto: integer overflow")
    except IndexError:
        raise DecodeError("unexpected EOF") from None


def _skip_field(buf: bytes, pos: int, wt: int, end: int, msg: str) -> int:
    if wt == 0:
        _, pos = _varint(buf, pos)
    elif wt == 1:
        pos += 8
    elif wt == 2:
        ln, pos = _varint(buf, pos)
        pos += ln
    elif wt == 5:
        pos += 4
    else:
        raise DecodeError(f"proto: {msg}: illegal wireType {wt}")
    if pos > end:
        raise DecodeError("unexpected EOF")
    return pos


def _len_field(buf, pos, end, wt, field, msg):
    if wt != 2:
        raise DecodeError(f"proto: wrong wireType = {wt} for field {field}")
    ln, pos = _varint(buf, pos)
    stop = pos + ln
    if stop > end:
        raise DecodeError("unexpected EOF")
    return pos, stop


def _decode_timestamp(buf, pos, end) -> int:
    seconds = nanos = 0
    while pos < end:
        key, pos = _varint(buf, pos)
        fn, wt = key >> 3, key & 7
        if fn == 1 and wt == 0:
            seconds, pos = _varint(buf, pos)
            if seconds >= 1 << 63:
                seconds -= 1 << 64
        elif fn == 2 and wt == 0:
            nanos, pos = _varint(buf, pos)
            if nanos >= 1 << 63:
                nanos -= 1 << 64
        else:
            if fn == 0:
                raise DecodeError(f"proto: Timestamp: illegal tag 0 (wire type {wt})")
            pos = _skip_field(buf, pos, wt, end, "Timestamp")
    return seconds * NS + nanos


def _decode_label_pair(buf, pos, end):
    name = value = ""
    while pos < end:
        key, pos = _varint(buf, pos)
        fn, wt = key >> 3, key & 7
        if fn == 1:
            s, pos = _len_field(buf, pos, end, wt, "Name", "LabelPairAdapter")
            name = buf[s:pos].decode("utf-8", "replace")
        elif fn == 2:
            s, pos = _len_field(buf, pos, end, wt, "Value", "LabelPairAdapter")
            value = buf[s:pos].decode("utf-8", "replace")
        else:
            if fn == 0:
                raise DecodeError(f"proto: LabelPairAdapter: illegal tag 0 (wire type {wt})")
            pos = _skip_field(buf, pos, wt, end, "LabelPairAdapter")
    return (name, value)


def _decode_entry(buf, pos, end):
    ts, line, nbytes, md = 0, "", 0, None
    while pos < end:
        key = buf[pos]
        if key < 0x80:
            pos += 1
        else:
            key, pos = _varint(buf, pos)
        fn, wt = key >> 3, key & 7
        if fn == 2:
            s, pos = _len_field(buf, pos, end, wt, "Line", "EntryAdapter")
            nbytes = pos - s
            line = buf[s:pos].decode("utf-8", "replace")
        elif fn == 1:
            s, pos = _len_field(buf, pos, end, wt, "Timestamp", "EntryAdapter")
            ts = _decode_timestamp(buf, s, pos)
        elif fn == 3:
            s, pos = _len_field(buf, pos, end, wt, "StructuredMetadata", "EntryAdapter")
            if md is None:
                md = []
            md.append(_decode_label_pair(buf, s, pos))
        else:
            if fn == 0:
                raise DecodeError(f"proto: EntryAdapter: illegal tag 0 (wire type {wt})")
            pos = _skip_field(buf, pos, wt, end, "EntryAdapter")
    return (ts, line, nbytes, tuple(md) if md else None)


def _decode_stream(buf, pos, end):
    labels: str | bytes = ""
    entries = []
    append = entries.append
    while pos < end:
        key, pos = _varint(buf, pos)
        fn, wt = key >> 3, key & 7
        if fn == 2:
            s, pos = _len_field(buf, pos, end, wt, "Entries", "StreamAdapter")
            append(_decode_entry(buf, s, pos))
        elif fn == 1:
            s, pos = _len_field(buf, pos, end, wt, "Labels", "StreamAdapter")
            raw = buf[s:pos]
            try:
                labels = raw.decode("utf-8")
            except UnicodeDecodeError:
                labels = raw  # reported as a label parse error later, like Loki
        else:
            if fn == 0:
                raise DecodeError(f"proto: StreamAdapter: illegal tag 0 (wire type {wt})")
            pos = _skip_field(buf, pos, wt, end, "StreamAdapter")
    return (labels, entries)


def decode_push_proto(buf: bytes):
    streams = []
    pos, end = 0, len(buf)
    while pos < end:
        key, pos = _varint(buf, pos)
        fn, wt = key >> 3, key & 7
        if fn == 1:
            s, pos = _len_field(buf, pos, end, wt, "Streams", "PushRequest")
            streams.append(_decode_stream(buf, s, pos))
        else:
            if fn == 0:
                raise DecodeError(f"proto: PushRequest: illegal tag 0 (wire type {wt})")
            pos = _skip_field(buf, pos, wt, end, "PushRequest")
    return streams


def _enc_varint(n: int) -> bytes:
    if n < 0:
        n += 1 << 64
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _enc_len(number: int, payload: bytes) -> bytes:
    return _enc_varint(number << 3 | 2) + _enc_varint(len(payload)) + payload


def encode_push_proto(streams, compress: bool = True) -> bytes:
    """Build a Loki push body, as Promtail/Alloy send it (a helper for tests and the demo).

    streams: [(labels_string, [(ts_ns, line) or (ts_ns, line, {structured metadata})...]), ...]
    Returns snappy block compressed protobuf (or the bare protobuf with compress=False).
    """
    out = bytearray()
    for labels, entries in streams:
        stream = bytearray(_enc_len(1, labels.encode("utf-8")))
        for entry in entries:
            ts, line = entry[0], entry[1]
            md = entry[2] if len(entry) > 2 else None
            sec, nanos = divmod(ts, NS)
            tsb = (b"\x08" + _enc_varint(sec) if sec else b"") + (b"\x10" + _enc_varint(nanos) if nanos else b"")
            e = _enc_len(1, tsb) + _enc_len(2, line.encode("utf-8") if isinstance(line, str) else line)
            for name, value in (md.items() if isinstance(md, dict) else (md or ())):
                e += _enc_len(3, _enc_len(1, name.encode("utf-8")) + _enc_len(2, value.encode("utf-8")))
            stream += _enc_len(2, e)
        out += _enc_len(1, bytes(stream))
    return bytes(cramjam.snappy.compress_raw(bytes(out))) if compress else bytes(out)


# --------------------------------------------------------------------------------------------
# JSON push bodies (pkg/loghttp/push, pkg/util/unmarshal and its legacy sibling).
# --------------------------------------------------------------------------------------------
def _json_labels_string(obj) -> str:
    if not isinstance(obj, dict):
        raise DecodeError("loghttp.PushRequest.Streams: stream: expect object")
    for k, v in obj.items():
        if not isinstance(v, str):
            raise DecodeError(f"loghttp.PushRequest.Streams: stream: label {k!r}: expect string")
    return "{" + ", ".join(f"{sanitize_text(k)}={go_quote(sanitize_text(obj[k]))}" for k in sorted(obj)) + "}"


def decode_push_json(body: bytes, legacy: bool):
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise DecodeError(f"loghttp.PushRequest: ReadObject: {exc}") from None
    if not isinstance(doc, dict):
        raise DecodeError("loghttp.PushRequest: ReadObjectCB: expect { or n")
    raw_streams = doc.get("streams") or []
    if not isinstance(raw_streams, list):
        raise DecodeError("loghttp.PushRequest.Streams: expect [ or n")
    streams = []
    for rs in raw_streams:
        if not isinstance(rs, dict):
            raise DecodeError("loghttp.PushRequest.Streams: expect { or n")
        entries = []
        if legacy and "labels" in rs:
            labels = rs.get("labels")
            if not isinstance(labels, str):
                raise DecodeError("logproto.Stream.Labels: expect string")
            for e in rs.get("entries") or []:
                if not isinstance(e, dict) or not isinstance(e.get("line", ""), str):
                    raise DecodeError("logproto.Entry: expect {\"ts\": ..., \"line\": ...}")
                try:
                    ts = parse_rfc3339_ns(str(e.get("ts", "")))
                except ValueError as exc:
                    raise DecodeError(f"logproto.Entry.Timestamp: {exc}") from None
                line = sanitize_text(e.get("line", ""))
                entries.append((ts, line, len(line.encode("utf-8")), None))
            streams.append((labels, entries))
            continue
        labels = _json_labels_string(rs.get("stream") or {})
        values = rs.get("values") or []
        if not isinstance(values, list):
            raise DecodeError("loghttp.PushRequest.Streams: values: expect [")
        for v in values:
            if not isinstance(v, list) or len(v) < 2 or len(v) > 3:
                raise DecodeError("error reading entry: array must contains 2 values")
            if not isinstance(v[0], str):
                raise DecodeError("error reading entry timestamp: expect string")
            try:
                ts = int(v[0], 10)
            except ValueError:
                raise DecodeError(f'error reading entry timestamp: strconv.ParseInt: parsing "{v[0]}": invalid syntax') from None
            if not isinstance(v[1], str):
                raise DecodeError("error reading entry: ReadString: expects \" or n")
            line = sanitize_text(v[1])
            md = None
            if len(v) == 3 and v[2] is not None:
                if not isinstance(v[2], dict) or not all(isinstance(x, str) for x in v[2].values()):
                    raise DecodeError("error reading entry: structured metadata must be an object of strings")
                if v[2]:
                    md = tuple((sanitize_text(k), sanitize_text(x)) for k, x in v[2].items())
            entries.append((ts, line, len(line.encode("utf-8")), md))
        streams.append((labels, entries))
    return streams


# --------------------------------------------------------------------------------------------
# Stream label strings: promql ParseMetric + Loki's ValidateLabels.
# --------------------------------------------------------------------------------------------
class LabelParseError(ValueError):
    pass


_IDENT_START = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_")
_IDENT_CHARS = _IDENT_START | set("0123456789")
_SIMPLE_ESC = {"a": b"\a", "b": b"\b", "f": b"\f", "n": b"\n", "r": b"\r", "t": b"\t", "v": b"\v",
               "\\": b"\\", "'": b"'", '"': b'"', "`": b"`"}
_HEX = set("0123456789abcdefABCDEF")


def _perr(pos: int, msg: str):
    return LabelParseError(f"1:{pos + 1}: parse error: {msg}")


def read_quoted(s: str, pos: int):
    """Read a Go/PromQL string literal ("..", '..' or `..`) starting at s[pos]; return (value, next)."""
    q = s[pos]
    n = len(s)
    i = pos + 1
    if q == "`":
        j = s.find("`", i)
        if j < 0:
            raise _perr(pos, "unterminated raw string")
        return s[i:j], j + 1
    out = bytearray()
    while True:
        if i >= n:
            raise _perr(pos, "unterminated quoted string")
        c = s[i]
        if c == q:
            break
        if c == "\n":
            raise _perr(i, "unterminated quoted string")
        if c != "\\":
            j = i
            while j < n and s[j] not in ("\\", q, "\n"):
                j += 1
            out += s[i:j].encode("utf-8", "surrogatepass")
            i = j
            continue
        if i + 1 >= n:
            raise _perr(pos, "unterminated quoted string")
        e = s[i + 1]
        if e in _SIMPLE_ESC:
            out += _SIMPLE_ESC[e]
            i += 2
        elif e == "x":
            h = s[i + 2:i + 4]
            if len(h) != 2 or not set(h) <= _HEX:
                raise _perr(i, "invalid escape sequence")
            out.append(int(h, 16))
            i += 4
        elif e in "01234567":
            o = s[i + 1:i + 4]
            if len(o) != 3 or not set(o) <= set("01234567") or int(o, 8) > 255:
                raise _perr(i, "invalid escape sequence")
            out.append(int(o, 8))
            i += 4
        elif e in "uU":
            width = 4 if e == "u" else 8
            h = s[i + 2:i + 2 + width]
            if len(h) != width or not set(h) <= _HEX:
                raise _perr(i, "invalid escape sequence")
            cp = int(h, 16)
            if cp > 0x10FFFF or 0xD800 <= cp <= 0xDFFF:
                raise _perr(i, "invalid escape sequence")
            out += chr(cp).encode("utf-8")
            i += 2 + width
        else:
            raise _perr(i, f"unknown escape sequence {e!r}")
    try:
        return out.decode("utf-8"), i + 1
    except UnicodeDecodeError:
        raise _perr(pos, "invalid UTF-8 rune") from None


def _skip_ws(s: str, i: int) -> int:
    n = len(s)
    while i < n and s[i] in " \t\r\n":
        i += 1
    return i


def _ident(s: str, i: int, extra: str = ""):
    n = len(s)
    if i >= n or not (s[i] in _IDENT_START or s[i] in extra):
        return None, i
    j = i + 1
    while j < n and (s[j] in _IDENT_CHARS or s[j] in extra):
        j += 1
    return s[i:j], j


def _describe(s: str, i: int) -> str:
    if i >= len(s):
        return "end of input"
    return repr(s[i])


def parse_metric(s: str):
    """Parse `{a="b", c="d"}` (optionally `name{...}`) into a list of (name, value) pairs."""
    i = _skip_ws(s, 0)
    pairs = []
    name, j = _ident(s, i, ":")
    if name is not None:
        pairs.append(("__name__", name))
        i = _skip_ws(s, j)
        if i >= len(s):
            return pairs
    if i >= len(s) or s[i] != "{":
        raise _perr(i, f"unexpected {_describe(s, i)}, expected label set")
    i += 1
    while True:
        i = _skip_ws(s, i)
        if i < len(s) and s[i] == "}":
            i += 1
            break
        lname, j = _ident(s, i)
        if lname is None:
            if i < len(s) and s[i] == '"':
                raise _perr(i, "quoted label names are not supported by the stand-in")
            raise _perr(i, f"unexpected character inside braces: {_describe(s, i)}")
        i = _skip_ws(s, j)
        op = s[i:i + 2]
        if op in ("!=", "=~", "!~"):
            raise _perr(i, f'unexpected "{op}" in label set, expected "="')
        if i >= len(s) or s[i] != "=":
            raise _perr(i, f'unexpected {_describe(s, i)} in label set, expected "="')
        i = _skip_ws(s, i + 1)
        if i >= len(s) or s[i] not in "\"'`":
            raise _perr(i, f"unexpected {_describe(s, i)} in label set, expected string")
        value, i = read_quoted(s, i)
        pairs.append((lname, value))
        i = _skip_ws(s, i)
        if i < len(s) and s[i] == ",":
            i += 1
            continue
        if i < len(s) and s[i] == "}":
            i += 1
            break
        raise _perr(i, f'unexpected {_describe(s, i)} in label set, expected "," or "}}"')
    i = _skip_ws(s, i)
    if i != len(s):
        raise _perr(i, f"unexpected {_describe(s, i)} after label set")
    return pairs


class ParsedLabels:
    __slots__ = ("key", "canonical", "as_dict")

    def __init__(self, pairs):
        self.key = tuple(pairs)
        self.canonical = labels_string(pairs)
        self.as_dict = dict(pairs)


def _utf8_len(s: str) -> int:
    return len(s) if s.isascii() else len(s.encode("utf-8"))


def _normalize_sm_name(name: str, cache: dict) -> str:
    """otlptranslator.NormalizeLabel, applied by Loki's distributor to structured metadata names."""
    got = cache.get(name)
    if got is not None:
        return got
    out = re.sub(r"[^a-zA-Z0-9_]", "_", name)
    if out and out[0].isdigit():
        out = "key_" + out
    elif out.startswith("_") and not out.startswith("__"):
        out = "key" + out
    if len(cache) < 10000:
        cache[name] = out
    return out


# --------------------------------------------------------------------------------------------
# Configuration, store and faults.
# --------------------------------------------------------------------------------------------
class Config:
    def __init__(self, a):
        self.auth_enabled = a.auth_enabled
        self.max_line_size = a.max_line_size
        self.reject_old_samples = a.reject_old_samples
        self.reject_old_samples_max_age = a.reject_old_samples_max_age
        self.creation_grace_period = a.creation_grace_period
        self.max_label_names_per_series = a.max_label_names_per_series
        self.max_label_name_length = a.max_label_name_length
        self.max_label_value_length = a.max_label_value_length
        self.allow_structured_metadata = a.allow_structured_metadata
        self.max_structured_metadata_size = a.max_structured_metadata_size
        self.max_structured_metadata_entries = a.max_structured_metadata_entries
        self.max_chunk_age = a.max_chunk_age
        self.max_entries_limit_per_query = a.max_entries_limit_per_query


class StreamData:
    __slots__ = ("key", "canonical", "labels", "entries", "seen", "dirty", "highest", "last_ts", "last_line")

    def __init__(self, parsed: ParsedLabels):
        self.key = parsed.key
        self.canonical = parsed.canonical
        self.labels = parsed.as_dict
        self.entries = []  # (ts, seq, line, md-tuple-or-None), sorted lazily
        self.seen = set()  # (ts, line) stored, for Loki's duplicate drop
        self.dirty = False
        self.highest = None
        self.last_ts = None
        self.last_line = None

    def sorted_entries(self):
        if self.dirty:
            self.entries.sort(key=lambda e: (e[0], e[1]))
            self.dirty = False
        return self.entries


class TenantData:
    __slots__ = ("streams", "entries", "deduplicated", "bytes", "rejected")

    def __init__(self):
        self.streams = {}
        self.entries = 0
        self.deduplicated = 0
        self.bytes = 0
        self.rejected = 0


class PushResult:
    __slots__ = ("status", "message", "accepted", "rejected", "deduplicated")

    def __init__(self, status, message="", accepted=0, rejected=0, deduplicated=0):
        self.status, self.message = status, message
        self.accepted, self.rejected, self.deduplicated = accepted, rejected, deduplicated


class Store:
    def __init__(self, cfg: Config):
        self.cfg = cfg
        self.lock = threading.Lock()
        self.tenants: dict[str, TenantData] = {}
        self.pushes: dict[str, int] = {}
        self.requests = 0
        self.seq = 0
        self._label_cache: dict = {}
        self._label_cache_lock = threading.Lock()
        self._sm_names: dict = {}

    # ---- counters -------------------------------------------------------------------------
    def count_request(self):
        with self.lock:
            self.requests += 1

    def count_push(self, status: int):
        with self.lock:
            k = str(status)
            self.pushes[k] = self.pushes.get(k, 0) + 1

    def reset(self):
        with self.lock:
            self.tenants.clear()
            self.pushes.clear()
            self.requests = 0

    # ---- labels ---------------------------------------------------------------------------
    def parse_labels(self, raw):
        """ParsedLabels, or an error message; cached per distinct labels string."""
        cache = self._label_cache
        got = cache.get(raw)
        if got is not None:
            return got
        got = self._parse_labels_uncached(raw)
        with self._label_cache_lock:
            if len(cache) > 100_000:
                cache.clear()
            cache[raw] = got
        return got

    def _parse_labels_uncached(self, raw):
        if isinstance(raw, bytes):
            text = raw.decode("utf-8", "replace")
            return MSG_INVALID_LABELS.format(labels=text, err="1:1: parse error: invalid UTF-8 rune")
        try:
            pairs = parse_metric(raw)
        except LabelParseError as exc:
            return MSG_INVALID_LABELS.format(labels=raw, err=str(exc))
        pairs = sorted((p for p in pairs if p[1] != ""), key=lambda p: p[0])  # empty value == absent
        cfg = self.cfg
        if not pairs:
            return MSG_MISSING_LABELS
        n = len(pairs) - (1 if any(p[0] == "service_name" for p in pairs) else 0)
        if n > cfg.max_label_names_per_series:
            return MSG_MAX_LABEL_NAMES.format(labels=raw, n=n, max=cfg.max_label_names_per_series)
        last = ""
        for name, value in pairs:
            if len(name) > cfg.max_label_name_length:
                return MSG_LABEL_NAME_TOO_LONG.format(labels=raw, name=name)
            if _utf8_len(value) > cfg.max_label_value_length:
                return MSG_LABEL_VALUE_TOO_LONG.format(labels=raw, value=value)
            if name == last:
                return MSG_DUPLICATE_LABEL.format(labels=raw, name=name)
            last = name
        return ParsedLabels(pairs)

    # ---- push -----------------------------------------------------------------------------
    def push(self, tenant: str, streams) -> PushResult:
        cfg = self.cfg
        if not streams:
            return PushResult(422, MSG_MISSING_STREAMS)
        now = time.time_ns()
        oldest = now - cfg.reject_old_samples_max_age if cfg.reject_old_samples else None
        newest = now + cfg.creation_grace_period
        max_line = cfg.max_line_size
        errors: list[str] = []
        rejected = 0
        accepted = []  # (ParsedLabels, [entries])

        # Distributor: labels, then each entry (too old, too new, too long, structured metadata).
        for raw_labels, entries in streams:
            if not entries:
                continue
            parsed = self.parse_labels(raw_labels)
            if isinstance(parsed, str):
                errors.append(parsed)
                rejected += len(entries)
                continue
            # `good` stays the decoded list itself until an entry is dropped or rewritten.
            good = entries
            copied = False
            for idx, e in enumerate(entries):
                ts, line, nbytes, md = e
                msg = None
                if oldest is not None and ts < oldest:
                    msg = MSG_TOO_OLD.format(labels=parsed.canonical, ts=go_rfc3339(ts), oldest=go_rfc3339(oldest))
                elif ts > newest:
                    msg = MSG_TOO_NEW.format(labels=parsed.canonical, ts=go_rfc3339(ts))
                elif max_line and nbytes > max_line:
                    msg = MSG_LINE_TOO_LONG.format(max=max_line, labels=parsed.canonical, size=nbytes)
                elif md is not None:
                    msg, md2 = self._check_metadata(parsed, md)
                    if msg is None and md2 is not md:
                        e = (ts, line, nbytes, md2)  # normalized structured metadata names
                        if not copied:
                            good, copied = list(entries[:idx]), True
                if msg is not None:
                    errors.append(msg)
                    rejected += 1
                    if not copied:
                        good, copied = list(entries[:idx]), True
                    continue
                if copied:
                    good.append(e)
            if good:
                accepted.append((parsed, good))

        # Ingester: per stream, Loki's last-line and headblock duplicate drop, too-far-behind window.
        window = cfg.max_chunk_age // 2 if cfg.max_chunk_age else 0
        ingester_error = None
        stored = dedup = nbytes_total = 0
        with self.lock:
            td = self.tenants.get(tenant)
            if td is None:
                td = self.tenants[tenant] = TenantData()
            seq = self.seq
            for parsed, entries in accepted:
                st = td.streams.get(parsed.key)
                if st is None:
                    st = td.streams[parsed.key] = StreamData(parsed)
                seen, ents = st.seen, st.entries
                highest, last_ts, last_line = st.highest, st.last_ts, st.last_line
                tail = ents[-1][0] if ents else None
                failed = None
                for e in entries:
                    ts, line = e[0], e[1]
                    if ts == last_ts and line == last_line:
                        dedup += 1
                        continue
                    if window and highest is not None and ts < highest - window:
                        if failed is None:
                            failed = []
                        failed.append((ts, MSG_TOO_FAR_BEHIND.format(ts=go_rfc3339(ts), cutoff=go_rfc3339(highest - window))))
                        continue
                    last_ts, last_line = ts, line
                    if highest is None or ts > highest:
                        highest = ts
                    k = (ts, line)
                    if k in seen:
                        dedup += 1
                        continue
                    seen.add(k)
                    seq += 1
                    if tail is not None and ts < tail:
                        st.dirty = True
                    else:
                        tail = ts
                    ents.append((ts, seq, line, e[3]))
                    stored += 1
                    nbytes_total += e[2]
                st.highest, st.last_ts, st.last_line = highest, last_ts, last_line
                if failed:
                    rejected += len(failed)
                    if ingester_error is None:
                        lines = [f"entry with timestamp {go_time_string(ts)} ignored, reason: '{m}',\n"
                                 for ts, m in failed[:MAX_RETURNED_INGESTER_ERRORS]]
                        lines.append(f"user '{tenant}', total ignored: {len(failed)} out of {len(entries)} "
                                     f"for stream: {st.canonical}")
                        ingester_error = "".join(lines)
            self.seq = seq
            td.entries += stored
            td.bytes += nbytes_total
            td.deduplicated += dedup
            td.rejected += rejected

        if ingester_error is not None:
            return PushResult(400, ingester_error, stored, rejected, dedup)
        if errors:
            return PushResult(400, group_errors(errors), stored, rejected, dedup)
        return PushResult(204, "", stored, rejected, dedup)

    def _check_metadata(self, parsed: ParsedLabels, md):
        cfg = self.cfg
        if not cfg.allow_structured_metadata:
            return MSG_SM_DISALLOWED.format(labels=parsed.canonical), md
        size = sum(_utf8_len(n) + _utf8_len(v) for n, v in md)
        if cfg.max_structured_metadata_size and size > cfg.max_structured_metadata_size:
            return MSG_SM_TOO_LARGE.format(labels=parsed.canonical, size=size, max=cfg.max_structured_metadata_size), md
        if cfg.max_structured_metadata_entries and len(md) > cfg.max_structured_metadata_entries:
            return MSG_SM_TOO_MANY.format(labels=parsed.canonical, n=len(md), max=cfg.max_structured_metadata_entries), md
        out, changed = [], False
        for n, v in md:
            n2 = _normalize_sm_name(n, self._sm_names)
            v2 = v.replace("\ufffd", "") if "\ufffd" in v else v
            changed |= (n2 is not n and n2 != n) or v2 is not v
            out.append((n2, v2))
        return None, (tuple(out) if changed else md)

    # ---- reads ----------------------------------------------------------------------------
    def stats(self):
        with self.lock:
            return {
                "tenants": {t: {"entries": d.entries, "streams": len(d.streams), "deduplicated": d.deduplicated,
                                "bytes": d.bytes, "rejected": d.rejected} for t, d in sorted(self.tenants.items())},
                "pushes": dict(sorted(self.pushes.items())),
                "requests": self.requests,
            }

    def dump(self, tenant: str):
        with self.lock:
            td = self.tenants.get(tenant)
            if td is None:
                return {"streams": []}
            out = []
            for st in sorted(td.streams.values(), key=lambda s: s.canonical):
                out.append({"labels": dict(st.labels),
                            "entries": [[e[0], e[2], dict(e[3]) if e[3] else {}] for e in st.sorted_entries()]})
            return {"streams": out}

    def select(self, tenant, matchers, filters, start, end, limit, backward):
        """Entries of the matching streams with start <= ts < end, at most `limit`, newest or oldest first."""
        candidates = []
        with self.lock:
            td = self.tenants.get(tenant)
            if td is None:
                return []
            for st in td.streams.values():
                if not all(m.matches(st.labels) for m in matchers):
                    continue
                ents = st.sorted_entries()
                lo = bisect.bisect_left(ents, start, key=lambda e: e[0])
                hi = bisect.bisect_left(ents, end, key=lambda e: e[0])
                idxs = range(hi - 1, lo - 1, -1) if backward else range(lo, hi)
                taken = 0
                for i in idxs:
                    e = ents[i]
                    if filters and not all(f(e[2]) for f in filters):
                        continue
                    candidates.append((e[0], e[1], st, e[2], e[3]))
                    taken += 1
                    if taken >= limit:
                        break
        pick = heapq.nlargest if backward else heapq.nsmallest
        return pick(limit, candidates, key=lambda c: (c[0], c[1]))

    def label_names(self, tenant, start, end, name=None):
        out = set()
        with self.lock:
            td = self.tenants.get(tenant)
            if td is None:
                return []
            for st in td.streams.values():
                ents = st.sorted_entries()
                lo = bisect.bisect_left(ents, start, key=lambda e: e[0])
                if lo >= len(ents) or ents[lo][0] >= end:
                    continue
                if name is None:
                    out.update(st.labels)
                elif name in st.labels:
                    out.add(st.labels[name])
        return sorted(out)


def group_errors(errors: list[str]) -> str:
    """util.GroupedErrors.Error(): "N errors like: msg; ..." (the stand-in caps the distinct messages)."""
    counts: dict[str, int] = {}
    for e in errors:
        counts[e] = counts.get(e, 0) + 1
    parts = []
    multi = len(counts) > 1
    for i, (msg, n) in enumerate(counts.items()):
        if i == MAX_GROUPED_ERRORS:
            parts.append(f"and {len(counts) - i} more distinct errors")
            break
        parts.append(f"{n} errors like: {msg}" if multi or n > 1 else msg)
    return "; ".join(parts)


class Faults:
    """One active fault at a time; a new one replaces the old."""

    def __init__(self):
        self.lock = threading.Lock()
        self.fault = None
        self.generation = 0
        self.plane = None  # DataPlane, for "refuse"

    @staticmethod
    def _num(spec, key, kind=float, minimum=0.0, required=False):
        if key not in spec or spec[key] is None:
            if required:
                raise ValueError(f"'{key}' is required")
            return None
        v = spec[key]
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ValueError(f"'{key}' must be a number")
        if kind is int and v != int(v):
            raise ValueError(f"'{key}' must be an integer")
        if v < minimum:
            raise ValueError(f"'{key}' must be >= {minimum}")
        return kind(v)

    def set(self, spec: dict) -> dict:
        if not isinstance(spec, dict):
            raise ValueError("expected a JSON object")
        mode = spec.get("mode")
        tenant = spec.get("tenant")
        if tenant is not None and not isinstance(tenant, str):
            raise ValueError("'tenant' must be a string")
        now = time.monotonic()
        if mode == "none":
            fault = None
        elif mode == "status":
            status = self._num(spec, "status", int, 100, required=True)
            if status > 599:
                raise ValueError("'status' must be an HTTP status code")
            count = self._num(spec, "count", int, 1)
            seconds = self._num(spec, "seconds", float, 0)
            if count is not None and seconds is not None:
                raise ValueError("give 'count' or 'seconds', not both")
            ra = spec.get("retry_after")
            if ra is not None:
                if isinstance(ra, bool) or not isinstance(ra, (int, str)) or (isinstance(ra, int) and ra < 0):
                    raise ValueError("'retry_after' must be a non-negative integer (seconds) or an HTTP date")
            fault = {"mode": "status", "status": status, "count": count, "seconds": seconds,
                     "retry_after": ra, "tenant": tenant, "until": None if seconds is None else now + seconds,
                     "faulted": 0}
        elif mode == "delay":
            seconds = self._num(spec, "seconds", float, 0, required=True)
            for_seconds = self._num(spec, "for_seconds", float, 0)
            fault = {"mode": "delay", "seconds": seconds, "for_seconds": for_seconds, "tenant": tenant,
                     "until": None if for_seconds is None else now + for_seconds, "faulted": 0}
        elif mode == "refuse":
            seconds = self._num(spec, "seconds", float, 0, required=True)
            fault = {"mode": "refuse", "seconds": seconds, "until": now + seconds}
        else:
            raise ValueError("'mode' must be one of status, delay, refuse, none")
        with self.lock:
            self.generation += 1
            gen = self.generation
            previous = self.fault
            self.fault = fault
        if previous is not None and previous["mode"] == "refuse" and (fault is None or fault["mode"] != "refuse"):
            self.plane.reopen()
        if fault is not None and fault["mode"] == "refuse":
            self.plane.refuse(fault["seconds"], lambda: self._expire(gen))
        return self.describe()

    def _expire(self, gen):
        with self.lock:
            if self.generation == gen:
                self.fault = None

    def clear(self):
        self.set({"mode": "none"})

    def describe(self):
        with self.lock:
            f = self.fault
            if f is None:
                return None
            out = {k: v for k, v in f.items() if k != "until" and v is not None}
            if f.get("until") is not None:
                out["remaining_seconds"] = round(max(0.0, f["until"] - time.monotonic()), 3)
            return out

    def for_push(self, tenant: str):
        """None, ("status", code, retry_after) or ("delay", seconds) for a push of `tenant`."""
        with self.lock:
            f = self.fault
            if f is None or f["mode"] == "refuse":
                return None
            if f["until"] is not None and time.monotonic() >= f["until"]:
                self.fault = None
                return None
            if f.get("tenant") is not None and f["tenant"] != tenant:
                return None
            f["faulted"] += 1
            if f["mode"] == "delay":
                return ("delay", f["seconds"])
            if f["count"] is not None:
                f["count"] -= 1
                if f["count"] <= 0:
                    self.fault = None
            return ("status", f["status"], f["retry_after"])


# --------------------------------------------------------------------------------------------
# LogQL subset for queries.
# --------------------------------------------------------------------------------------------
class QueryError(ValueError):
    pass


class Matcher:
    __slots__ = ("name", "op", "value", "regex")

    def __init__(self, name, op, value):
        self.name, self.op, self.value = name, op, value
        self.regex = None
        if op in ("=~", "!~"):
            try:
                self.regex = re.compile("(?s:" + value + ")")
            except re.error as exc:
                raise QueryError(f"parse error : error parsing regexp: {exc}") from None

    def matches(self, labels: dict) -> bool:
        v = labels.get(self.name, "")
        op = self.op
        if op == "=":
            return v == self.value
        if op == "!=":
            return v != self.value
        hit = self.regex.fullmatch(v) is not None
        return hit if op == "=~" else not hit


def _qerr(pos: int, msg: str):
    return QueryError(f"parse error at line 1, col {pos + 1}: syntax error: {msg}")


def parse_logql(q: str):
    """`{matchers} [|= "x"] [!= "x"] [|~ "re"] [!~ "re"]` -> (matchers, filters)."""
    i = _skip_ws(q, 0)
    if i >= len(q) or q[i] != "{":
        if re.match(r"\s*[a-z_]+\s*\(", q):
            raise QueryError("the Loki stand-in answers log queries only (a stream selector and line filters)")
        raise _qerr(i, f"unexpected {_describe(q, i)}, expecting {{")
    i += 1
    matchers = []
    while True:
        i = _skip_ws(q, i)
        if i < len(q) and q[i] == "}":
            i += 1
            break
        name, j = _ident(q, i)
        if name is None:
            raise _qerr(i, f"unexpected {_describe(q, i)}, expecting IDENTIFIER")
        i = _skip_ws(q, j)
        op = q[i:i + 2]
        if op not in ("!=", "=~", "!~"):
            op = q[i:i + 1]
            if op != "=":
                raise _qerr(i, f"unexpected {_describe(q, i)}, expecting = or != or =~ or !~")
        i = _skip_ws(q, i + len(op))
        if i >= len(q) or q[i] not in "\"`":
            raise _qerr(i, f"unexpected {_describe(q, i)}, expecting STRING")
        try:
            value, i = read_quoted(q, i)
        except LabelParseError as exc:
            raise _qerr(i, str(exc)) from None
        matchers.append(Matcher(name, op, value))
        i = _skip_ws(q, i)
        if i < len(q) and q[i] == ",":
            i += 1
            continue
        if i < len(q) and q[i] == "}":
            i += 1
            break
        raise _qerr(i, f"unexpected {_describe(q, i)}, expecting , or }}")
    if not matchers:
        raise _qerr(i - 1, "unexpected }")
    if all(m.matches({}) for m in matchers):
        raise QueryError(MSG_EMPTY_COMPATIBLE)
    filters = []
    while True:
        i = _skip_ws(q, i)
        if i >= len(q):
            break
        op = q[i:i + 2]
        if op not in ("|=", "!=", "|~", "!~"):
            raise QueryError(f"parse error at line 1, col {i + 1}: the Loki stand-in supports only the line filters "
                             f"|= != |~ !~ after the selector")
        i = _skip_ws(q, i + 2)
        if i >= len(q) or q[i] not in "\"`":
            raise _qerr(i, f"unexpected {_describe(q, i)}, expecting STRING")
        try:
            value, i = read_quoted(q, i)
        except LabelParseError as exc:
            raise _qerr(i, str(exc)) from None
        if op == "|=":
            filters.append(lambda line, v=value: v in line)
        elif op == "!=":
            filters.append(lambda line, v=value: v not in line)
        else:
            try:
                rx = re.compile(value)
            except re.error as exc:
                raise QueryError(f"parse error : error parsing regexp: {exc}") from None
            if op == "|~":
                filters.append(lambda line, r=rx: r.search(line) is not None)
            else:
                filters.append(lambda line, r=rx: r.search(line) is None)
    return matchers, filters


# --------------------------------------------------------------------------------------------
# HTTP plumbing.
# --------------------------------------------------------------------------------------------
class Logger:
    def __init__(self, path: str | None):
        self.lock = threading.Lock()
        self.fh = open(path, "a", encoding="utf-8", buffering=1) if path else sys.stderr

    def log(self, **fields):
        ts = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        parts = [f"ts={ts}"]
        for k, v in fields.items():
            if v is None:
                continue
            v = str(v)
            if v == "" or any(c in v for c in ' "='):
                v = json.dumps(v)
            parts.append(f"{k}={v}")
        line = " ".join(parts) + "\n"
        with self.lock:
            try:
                self.fh.write(line)
                self.fh.flush()
            except (OSError, ValueError):
                pass


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 256

    def server_bind(self):
        # HTTPServer.server_bind would call socket.getfqdn(), a DNS lookup: skip it.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = host, port

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError, OSError)):
            return
        super().handle_error(request, client_address)


class BaseHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "loki-standin"
    sys_version = ""
    disable_nagle_algorithm = True
    timeout = 600  # an idle keep-alive connection is dropped after this
    max_body = 512 << 20

    ctx: "Context"  # set on the subclass

    def log_message(self, format, *args):  # noqa: A002 - BaseHTTPRequestHandler's signature
        pass

    def version_string(self):
        return self.server_version

    def log_request(self, code="-", size="-"):
        pass

    def read_body(self) -> bytes:
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            chunks, total = [], 0
            while True:
                size_line = self.rfile.readline(65537)
                if not size_line:
                    raise ConnectionError("EOF in chunked body")
                size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                total += size
                if total > self.max_body:
                    raise ValueError("request body too large")
                chunks.append(self._read_exact(size))
                self.rfile.readline(3)
        length = self.headers.get("Content-Length")
        if not length:
            return b""
        n = int(length)
        if n < 0 or n > self.max_body:
            raise ValueError("bad Content-Length")
        return self._read_exact(n)

    def _read_exact(self, n: int) -> bytes:
        data = self.rfile.read(n)
        if len(data) != n:
            raise ConnectionError("EOF before the end of the request body")
        return data

    def reply(self, status: int, body: bytes | str = b"", content_type="text/plain; charset=utf-8", headers=None):
        if isinstance(body, str):
            body = body.encode("utf-8")
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if status == 204 or status == 304 or status < 200:
            body = b""  # no body and no Content-Length on 204, as net/http (RFC 9110 8.6)
        else:
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)
        self._status = status

    def reply_json(self, status: int, obj):
        self.reply(status, json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "replace"),
                   "application/json; charset=utf-8")

    def reply_error(self, status: int, msg: str):
        self.reply(status, msg + "\n")  # http.Error appends a newline

    def _dispatch(self):
        t0 = time.monotonic()
        self._status = None
        self._fields = {}
        url = urlsplit(self.path)
        self._url = url
        try:
            try:
                self._body = self.read_body()
            except (ValueError, ConnectionError) as exc:
                self.close_connection = True
                if isinstance(exc, ConnectionError):
                    return
                self.reply_error(400, str(exc))
                return
            self.route(url.path, parse_qs(url.query, keep_blank_values=True))
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as exc:  # keep serving; say what broke
            self.close_connection = True
            try:
                self.reply_error(500, f"loki stand-in internal error: {exc!r}")
            except OSError:
                pass
        finally:
            self.ctx.logger.log(port=self.port_name, method=self.command, path=url.path, status=self._status,
                                ms=f"{(time.monotonic() - t0) * 1000:.1f}", **self._fields)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _dispatch

    port_name = "?"

    def route(self, path, query):
        raise NotImplementedError


def _first(query: dict, key: str):
    v = query.get(key)
    return v[0] if v else None


_TENANT_OK = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!-_.*'()")


class DataHandler(BaseHandler):
    port_name = "data"

    def setup(self):
        super().setup()
        self.ctx.plane.track(self.connection, True)

    def finish(self):
        try:
            super().finish()
        finally:
            self.ctx.plane.track(self.connection, False)

    def tenant(self):
        """(tenant, None) or (None, (status, message)), as dskit's auth middleware and tenant package."""
        if not self.ctx.cfg.auth_enabled:
            return "fake", None
        org = self.headers.get("X-Scope-OrgID")
        if not org:
            return None, (401, "no org id")
        if "|" in org:
            return None, (400, "multiple org IDs present")
        for ch in org:
            if ch not in _TENANT_OK:
                return None, (400, f"tenant ID '{org}' contains unsupported character '{ch}'")
        if len(org) > 150:
            return None, (400, "tenant ID is too long: max 150 characters")
        if org in (".", ".."):
            return None, (400, "tenant ID is '.' or '..'")
        return org, None

    def route(self, path, query):
        ctx = self.ctx
        ctx.store.count_request()
        if path in PUSH_PATHS:
            if self.command != "POST":
                self.reply_error(405, "method not allowed")
                return
            self.handle_push(path)
            return
        if self.command not in ("GET", "HEAD", "POST"):
            self.reply_error(405, "method not allowed")
            return
        if path == "/ready":
            self.reply(200, "ready\n")
        elif path in ("/loki/api/v1/query_range", "/loki/api/v1/query"):
            self.handle_query(path, self._params(query))
        elif path == "/loki/api/v1/labels":
            self.handle_labels(self._params(query), None)
        elif path.startswith("/loki/api/v1/label/") and path.endswith("/values"):
            name = unquote(path[len("/loki/api/v1/label/"):-len("/values")])
            self.handle_labels(self._params(query), name)
        else:
            self.reply_error(404, "404 page not found")

    def _params(self, query):
        params = {k: v[-1] for k, v in query.items()}
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if self.command == "POST" and ctype == "application/x-www-form-urlencoded" and self._body:
            for k, v in parse_qs(self._body.decode("utf-8", "replace"), keep_blank_values=True).items():
                params[k] = v[-1]
        return params

    # ---- push -----------------------------------------------------------------------------
    def handle_push(self, path):
        ctx = self.ctx
        tenant, err = self.tenant()
        self._fields["tenant"] = tenant
        if err is not None:
            self._finish_push(err[0], err[1])
            return
        action = ctx.faults.for_push(tenant)
        if action is not None:
            if action[0] == "status":
                _, code, retry_after = action
                headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
                self._fields["fault"] = "status"
                if code == 429:
                    msg = MSG_RATE_LIMITED.format(tenant=tenant, lines=0, bytes=len(self._body))
                else:
                    msg = f"loki stand-in: injected fault, answering {code}"
                self._finish_push(code, msg, headers)
                return
            self._fields["fault"] = "delay"
            time.sleep(action[1])

        enc = (self.headers.get("Content-Encoding") or "").strip().lower()
        body = self._body
        try:
            if enc == "gzip":
                body = gzip.decompress(body)
            elif enc == "deflate":
                body = zlib.decompress(body, -15)
            elif enc not in ("", "snappy", "identity"):
                self._finish_push(400, f'Content-Encoding "{enc}" not supported')
                return
        except (OSError, EOFError, zlib.error) as exc:
            self._finish_push(400, f"{enc}: invalid body: {exc}")
            return

        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        try:
            if ctype == "application/json":
                streams = decode_push_json(body, legacy=(path == "/api/prom/push"))
            elif ctype in ("application/x-protobuf", "application/protobuf", ""):
                try:
                    raw = bytes(cramjam.snappy.decompress_raw(body))
                except Exception:  # cramjam raises its own DecompressionError
                    raise DecodeError("snappy: corrupt input") from None
                streams = decode_push_proto(raw)
            else:
                self._finish_push(415, f"unsupported Content-Type {ctype!r}: the push API takes "
                                       f"application/x-protobuf (snappy) or application/json")
                return
        except DecodeError as exc:
            self._finish_push(400, str(exc))
            return

        result = ctx.store.push(tenant, streams)
        self._fields.update(accepted=result.accepted, rejected=result.rejected, deduplicated=result.deduplicated)
        self._finish_push(result.status, result.message)

    def _finish_push(self, status, message, headers=None):
        self.ctx.store.count_push(status)
        if status == 204:
            self.reply(204)
        else:
            self.reply(status, message + "\n", headers=headers)

    # ---- queries --------------------------------------------------------------------------
    def _query_tenant(self):
        tenant, err = self.tenant()
        self._fields["tenant"] = tenant
        if err is not None:
            self.reply_error(*err)
            return None
        return tenant

    def handle_query(self, path, params):
        tenant = self._query_tenant()
        if tenant is None:
            return
        cfg = self.ctx.cfg
        q = params.get("query", "")
        try:
            matchers, filters = parse_logql(q)
        except QueryError as exc:
            self.reply_error(400, str(exc))
            return
        if path.endswith("/query"):
            self.reply_error(400, MSG_INSTANT_LOG_QUERY)
            return
        try:
            limit = int(params.get("limit") or 100)
            if limit <= 0:
                raise QueryError("limit must be a positive value")
            now = time.time_ns()
            end = parse_loki_time(params.get("end"), now)
            since = params.get("since")
            default_start = end - (parse_duration_ns(since) if since else 3600 * NS)
            start = parse_loki_time(params.get("start"), default_start)
            direction = (params.get("direction") or "backward").lower()
            if direction not in ("backward", "forward"):
                raise QueryError(f"invalid direction '{params.get('direction')}'")
        except (ValueError, argparse.ArgumentTypeError) as exc:
            self.reply_error(400, str(exc))
            return
        if end < start:
            self.reply_error(400, "end timestamp must not be before or equal to start time")
            return
        if cfg.max_entries_limit_per_query and limit > cfg.max_entries_limit_per_query:
            self.reply_error(400, MSG_MAX_ENTRIES.format(limit=limit, max=cfg.max_entries_limit_per_query))
            return
        backward = direction == "backward"
        if end == start:
            end += 1  # an instant range still holds the entry at that instant
        chosen = self.ctx.store.select(tenant, matchers, filters, start, end, limit, backward)
        flags = [f.strip() for f in (self.headers.get("X-Loki-Response-Encoding-Flags") or "").split(",") if f.strip()]
        categorize = "categorize-labels" in flags
        groups: dict = {}
        for ts, _seq, st, line, md in chosen:
            if categorize or not md:
                key, labels = st.canonical, st.labels
                value = [str(ts), line, {"structuredMetadata": dict(md)}] if (categorize and md) else [str(ts), line]
            else:
                # Loki's default encoding folds structured metadata into the stream labels.
                labels = dict(st.labels)
                for n, v in md:
                    labels[n + "_extracted" if n in st.labels else n] = v
                key = labels_string(sorted(labels.items()))
                value = [str(ts), line]
            g = groups.get(key)
            if g is None:
                g = groups[key] = {"stream": dict(labels), "values": []}
            g["values"].append(value)
        data = {"resultType": "streams", "result": [groups[k] for k in sorted(groups)], "stats": {}}
        if flags:
            data["encodingFlags"] = flags
        self._fields["returned"] = len(chosen)
        self.reply_json(200, {"status": "success", "data": data})

    def handle_labels(self, params, name):
        tenant = self._query_tenant()
        if tenant is None:
            return
        try:
            now = time.time_ns()
            end = parse_loki_time(params.get("end"), now)
            since = params.get("since")
            start = parse_loki_time(params.get("start"), end - (parse_duration_ns(since) if since else 6 * 3600 * NS))
        except (ValueError, argparse.ArgumentTypeError) as exc:
            self.reply_error(400, str(exc))
            return
        values = self.ctx.store.label_names(tenant, start, end + 1, name)
        self.reply_json(200, {"status": "success", "data": values})


class ControlHandler(BaseHandler):
    port_name = "control"

    def route(self, path, query):
        ctx = self.ctx
        get = self.command in ("GET", "HEAD")
        post = self.command == "POST"
        if path == "/stub/health" and get:
            self.reply_json(200, {"status": "ok"})
        elif path == "/stub/stats" and get:
            stats = ctx.store.stats()
            stats["fault"] = ctx.faults.describe()
            self.reply_json(200, stats)
        elif path == "/stub/entries" and get:
            tenant = _first(query, "tenant")
            if tenant is None:
                if ctx.cfg.auth_enabled:
                    self.reply_json(400, {"error": "give ?tenant=T"})
                    return
                tenant = "fake"
            self._fields["tenant"] = tenant
            self.reply_json(200, ctx.store.dump(tenant))
        elif path == "/stub/faults" and get:
            self.reply_json(200, {"fault": ctx.faults.describe()})
        elif path == "/stub/faults" and post:
            try:
                spec = json.loads(self._body or b"{}")
                self._fields["fault"] = spec.get("mode") if isinstance(spec, dict) else None
                fault = ctx.faults.set(spec)
            except (ValueError, OSError) as exc:
                self.reply_json(400, {"error": str(exc)})
                return
            self.reply_json(200, {"ok": True, "fault": fault})
        elif path == "/stub/reset" and post:
            ctx.faults.clear()
            ctx.store.reset()
            self.reply_json(200, {"ok": True})
        elif path.startswith("/stub/"):
            self.reply_json(405 if path in ("/stub/health", "/stub/stats", "/stub/entries", "/stub/faults",
                                            "/stub/reset") else 404, {"error": f"{self.command} {path} not supported"})
        else:
            self.reply_json(404, {"error": "not found"})


class DataPlane:
    """The data listener, which the "refuse" fault closes and reopens on the same port."""

    def __init__(self, host: str, port: int, handler, logger: Logger):
        self.host, self.port, self.handler, self.logger = host, port, handler, logger
        self.lock = threading.RLock()
        self.server = None
        self.timer = None
        self.conns = set()
        self.conns_lock = threading.Lock()

    def track(self, conn, add: bool):
        with self.conns_lock:
            (self.conns.add if add else self.conns.discard)(conn)

    def open(self, attempts: int = 1):
        with self.lock:
            if self.server is not None:
                return
            last = None
            for i in range(attempts):
                try:
                    srv = make_server(self.host, self.port, self.handler)
                    break
                except OSError as exc:
                    last = exc
                    time.sleep(0.05)
            else:
                raise last
            self.port = srv.server_address[1]
            self.server = srv
            threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, name="data-server",
                             daemon=True).start()

    def close(self):
        with self.lock:
            srv, self.server = self.server, None
            if srv is not None:
                srv.shutdown()
                srv.server_close()
            with self.conns_lock:
                conns = list(self.conns)
            for c in conns:  # kept-alive connections go too: a down Loki answers nothing
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def refuse(self, seconds: float, on_reopen):
        with self.lock:
            self._cancel_timer()
            self.close()
            self.logger.log(port="data", event="refusing", seconds=seconds)

            def later():
                with self.lock:
                    if self.timer is not t:
                        return
                    self.timer = None
                    on_reopen()
                    self._reopen_locked()

            t = threading.Timer(seconds, later)
            t.daemon = True
            self.timer = t
            t.start()

    def reopen(self):
        with self.lock:
            self._cancel_timer()
            self._reopen_locked()

    def _reopen_locked(self):
        try:
            self.open(attempts=100)
            self.logger.log(port="data", event="listening-again", addr=f"{self.host}:{self.port}")
        except OSError as exc:
            self.logger.log(port="data", event="reopen-failed", error=str(exc))

    def _cancel_timer(self):
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None


class Context:
    def __init__(self, cfg, store, faults, plane, logger):
        self.cfg, self.store, self.faults, self.plane, self.logger = cfg, store, faults, plane, logger


def split_hostport(text: str):
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host.strip("[]") or "0.0.0.0", int(port)


def make_server(host: str, port: int, handler):
    cls = QuietServer
    if ":" in host:
        cls = type("QuietServer6", (QuietServer,), {"address_family": socket.AF_INET6})
    return cls((host, port), handler)


def fmt_addr(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def build_arg_parser():
    p = argparse.ArgumentParser(description="Loki stand-in for the kafka-loki-bridge test bed.")
    p.add_argument("--listen", type=split_hostport, default=("127.0.0.1", 3100), help="data address HOST:PORT (Loki API)")
    p.add_argument("--control-listen", type=split_hostport, default=("127.0.0.1", 3101), help="control address HOST:PORT")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--auth-enabled", dest="auth_enabled", action="store_true", default=True,
                   help="multi-tenant: X-Scope-OrgID required (default)")
    g.add_argument("--no-auth", dest="auth_enabled", action="store_false", help="single tenant 'fake'")
    p.add_argument("--max-line-size", type=parse_size, default=262144, help="bytes, 0 = no limit (256KB)")
    p.add_argument("--reject-old-samples", dest="reject_old_samples", action="store_true", default=True)
    p.add_argument("--no-reject-old-samples", dest="reject_old_samples", action="store_false")
    p.add_argument("--reject-old-samples-max-age", type=parse_duration_ns, default=parse_duration_ns("168h"))
    p.add_argument("--creation-grace-period", type=parse_duration_ns, default=parse_duration_ns("10m"))
    p.add_argument("--max-chunk-age", type=parse_duration_ns, default=parse_duration_ns("2h"),
                   help="entries older than the stream's newest minus half of this are 'too far behind'; 0 disables")
    p.add_argument("--max-label-names-per-series", type=int, default=15)
    p.add_argument("--max-label-name-length", type=int, default=1024)
    p.add_argument("--max-label-value-length", type=int, default=2048)
    p.add_argument("--allow-structured-metadata", dest="allow_structured_metadata", action="store_true", default=True)
    p.add_argument("--disallow-structured-metadata", dest="allow_structured_metadata", action="store_false")
    p.add_argument("--max-structured-metadata-size", type=parse_size, default=65536)
    p.add_argument("--max-structured-metadata-entries", type=int, default=128)
    p.add_argument("--max-entries-limit-per-query", type=int, default=5000, help="0 = no limit")
    p.add_argument("--log-file", default=None, help="one line per request (default: stderr)")
    return p


def main(argv=None) -> int:
    args = build_arg_parser().parse_args(argv)
    if cramjam is None:
        print("loki_standin: the 'cramjam' package is required (pip install cramjam)", file=sys.stderr)
        return 2
    cfg = Config(args)
    logger = Logger(args.log_file)
    store = Store(cfg)
    faults = Faults()
    (dhost, dport), (chost, cport) = args.listen, args.control_listen
    plane = DataPlane(dhost, dport, None, logger)
    ctx = Context(cfg, store, faults, plane, logger)
    plane.handler = type("BoundDataHandler", (DataHandler,), {"ctx": ctx})
    faults.plane = plane
    control_handler = type("BoundControlHandler", (ControlHandler,), {"ctx": ctx})
    try:
        plane.open()
        control = make_server(chost, cport, control_handler)
    except OSError as exc:
        print(f"loki_standin: cannot listen: {exc}", file=sys.stderr)
        return 2
    threading.Thread(target=control.serve_forever, kwargs={"poll_interval": 0.1}, name="control-server",
                     daemon=True).start()

    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    data_addr = fmt_addr(dhost, plane.port)
    control_addr = fmt_addr(chost, control.server_address[1])
    logger.log(event="ready", data=data_addr, control=control_addr, auth=cfg.auth_enabled)
    print(f"READY {data_addr} {control_addr}", flush=True)
    while not stop.wait(0.5):
        pass
    logger.log(event="stopping")
    plane._cancel_timer()
    plane.close()
    control.shutdown()
    control.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
