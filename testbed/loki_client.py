"""Starts the project's Loki stand-in (testbed/loki_standin.py) and talks to it.

The stand-in serves the real Loki API on --listen (push, query_range, ready) and a control API
on --control-listen:
  GET  /stub/stats                 counters (requests, status codes, entries, ...)
  GET  /stub/entries?tenant=T      {"streams":[{"labels":{..},"entries":[[ts_ns,"line",{meta}]]}]}
  POST /stub/faults                {"mode": "status"|"delay"|"refuse"|"none", ...}
It prints a line starting with READY once both listeners are up.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Dict, Iterable, Optional, Sequence, Tuple

from .util import REPO, free_port, stop_process, tail, track, wait_until

log = logging.getLogger("testbed.loki")

STANDIN = REPO / "testbed" / "loki_standin.py"


class HTTPStatusError(RuntimeError):
    def __init__(self, method: str, url: str, status: int, body: bytes):
        super().__init__(f"{method} {url} -> {status}: {body[:300]!r}")
        self.status = status
        self.body = body


def _request(method: str, url: str, body: Optional[bytes] = None, headers: Optional[Dict[str, str]] = None,
             timeout: float = 30.0) -> Tuple[int, bytes]:
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def _json(method: str, url: str, payload: Any = None, headers: Optional[Dict[str, str]] = None,
          timeout: float = 30.0) -> Any:
    body = None
    hdrs = dict(headers or {})
    if payload is not None:
        body = json.dumps(payload).encode()
        hdrs["Content-Type"] = "application/json"
    status, data = _request(method, url, body, hdrs, timeout)
    if status // 100 != 2:
        raise HTTPStatusError(method, url, status, data)
    return json.loads(data) if data.strip() else None


class LokiStandin:
    """A running stand-in process and a client for both of its APIs."""

    def __init__(self, log_path: Optional[Path] = None, port: Optional[int] = None,
                 control_port: Optional[int] = None, script: Path = STANDIN, python: str = sys.executable,
                 extra_args: Sequence[str] = ()):
        self.port = port or free_port()
        self.control_port = control_port or free_port()
        self.script = Path(script)
        self.python = python
        self.extra_args = list(extra_args)
        self.log_path = Path(log_path) if log_path else Path(tempfile.mkstemp(prefix="loki-standin-", suffix=".log")[1])
        self.proc: Optional[subprocess.Popen] = None

    # -- addresses -----------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def push_url(self) -> str:
        """LOKI_URL for the bridge."""
        return self.base_url + "/loki/api/v1/push"

    @property
    def control_url(self) -> str:
        return f"http://127.0.0.1:{self.control_port}"

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self, timeout: float = 20.0) -> "LokiStandin":
        if not self.script.exists():
            raise FileNotFoundError(f"Loki stand-in {self.script} not found")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        logf = open(self.log_path, "ab")
        start_at = logf.tell()
        cmd = [self.python, "-u", str(self.script), "--listen", f"127.0.0.1:{self.port}",
               "--control-listen", f"127.0.0.1:{self.control_port}", *self.extra_args]
        self.proc = track(subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                           cwd=str(REPO), start_new_session=True))
        logf.close()

        def ready() -> bool:
            if self.proc.poll() is not None:
                raise RuntimeError(f"Loki stand-in exited ({self.proc.returncode}):\n{tail(self.log_path)}")
            with open(self.log_path, "rb") as f:
                f.seek(start_at)
                return any(line.startswith(b"READY") for line in f)

        wait_until(ready, timeout, "Loki stand-in READY line", interval=0.05,
                   describe=lambda: tail(self.log_path, 5))
        log.info("Loki stand-in up: %s (control %s), log %s", self.base_url, self.control_url, self.log_path)
        return self

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, timeout=10)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def __enter__(self) -> "LokiStandin":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- control API ---------------------------------------------------------------------------

    def stats(self) -> Dict[str, Any]:
        return _json("GET", self.control_url + "/stub/stats")

    def entries(self, tenant: Optional[str] = None) -> Dict[str, Any]:
        """Everything accepted for `tenant`:
        {"streams":[{"labels":{..},"entries":[[ts_ns,"line",{meta}], ...]}]}."""
        q = "" if tenant is None else "?" + urllib.parse.urlencode({"tenant": tenant})
        return _json("GET", self.control_url + "/stub/entries" + q, timeout=120)

    def fault(self, **spec: Any) -> Any:
        """Sets the fault mode, e.g. fault(mode="status", status=503, seconds=10),
        fault(mode="status", status=429, count=5, retry_after=1), fault(mode="delay", seconds=2),
        fault(mode="refuse", seconds=5), fault(mode="none")."""
        return _json("POST", self.control_url + "/stub/faults", spec)

    def clear_faults(self) -> Any:
        return self.fault(mode="none")

    # -- Loki API ------------------------------------------------------------------------------

    def ready(self) -> bool:
        try:
            return _request("GET", self.base_url + "/ready", timeout=2)[0] == 200
        except (urllib.error.URLError, OSError):
            return False

    def push(self, body: bytes, content_type: str, tenant: Optional[str] = None,
             content_encoding: Optional[str] = None) -> Tuple[int, bytes]:
        """A raw push, as a Loki client sends it (for checking the test bed itself)."""
        headers = {"Content-Type": content_type}
        if tenant is not None:
            headers["X-Scope-OrgID"] = tenant
        if content_encoding:
            headers["Content-Encoding"] = content_encoding
        return _request("POST", self.push_url, body, headers)

    def query_range(self, tenant: Optional[str], query: str, start_ns: Optional[int] = None,
                    end_ns: Optional[int] = None, limit: int = 100, direction: str = "backward") -> Dict[str, Any]:
        """GET /loki/api/v1/query_range as Grafana would ask it; returns the parsed answer
        ({"status":"success","data":{"resultType":"streams","result":[...]}})."""
        end_ns = end_ns if end_ns is not None else time.time_ns() + 60 * 1_000_000_000
        start_ns = start_ns if start_ns is not None else end_ns - 3600 * 1_000_000_000
        params = {"query": query, "start": str(start_ns), "end": str(end_ns), "limit": str(limit),
                  "direction": direction}
        headers = {"X-Scope-OrgID": tenant} if tenant is not None else {}
        return _json("GET", self.base_url + "/loki/api/v1/query_range?" + urllib.parse.urlencode(params),
                     headers=headers)


def flatten_entries(doc: Dict[str, Any], tenant: Optional[str]) -> Iterable[Tuple[Optional[str], Tuple[Tuple[str, str], ...], int, str, Tuple[Tuple[str, str], ...]]]:
    """(tenant, labels, ts_ns, line, metadata) for every entry of an entries() answer."""
    for stream in doc.get("streams", []):
        labels = tuple(sorted((stream.get("labels") or {}).items()))
        for e in stream.get("entries", []):
            meta = e[2] if len(e) > 2 and e[2] else {}
            yield tenant, labels, int(e[0]), e[1], tuple(sorted(meta.items()))
