"""The real kafka-loki-bridge binary as a child process, configured through its environment.

Binary: $BRIDGE_BIN, else <repo>/.build/debug/kafka-loki-bridge. It runs with
LD_LIBRARY_PATH=<repo>/.venv/rdkafka-lib first, so it loads librdkafka 2.16 from the
confluent-kafka wheel instead of Debian's 2.0.2 (which cannot talk to Tansu; DESIGN.md).
"""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Dict, Iterable, List, Mapping, Optional, Tuple

from .util import RDKAFKA_LIB_DIR, REPO, free_port, stop_process, tail, track, untrack, wait_until

log = logging.getLogger("testbed.bridge")

# Variables of the parent environment that must not leak into the bridge's configuration.
_CONFIG_PREFIXES = ("KAFKA_", "LOKI_", "HTTP_", "BATCH_", "COMMIT_", "LOG_", "BRIDGE_", "DLQ_", "TENANT_",
                    "MAX_IN_FLIGHT", "SHUTDOWN_", "MEMORY_")


def bridge_binary() -> Path:
    env = os.environ.get("BRIDGE_BIN")
    path = Path(env) if env else REPO / ".build" / "debug" / "kafka-loki-bridge"
    if not path.is_absolute():
        path = REPO / path
    return path


def _unescape(v: str) -> str:
    """Prometheus label value escaping: \\\\, \\" and \\n."""
    if "\\" not in v:
        return v
    return re.sub(r'\\(.)', lambda m: "\n" if m.group(1) == "n" else m.group(1), v)


class Metrics:
    """A parsed Prometheus text exposition: {name: [(labels, value), ...]}."""

    _LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\S+)?$')
    _LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*,?\s*')

    def __init__(self, text: str):
        self.text = text
        self.samples: Dict[str, List[Tuple[Dict[str, str], float]]] = {}
        for raw in text.splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            m = self._LINE.match(line)
            if not m:
                continue
            name, labels_text, value = m.groups()
            labels = {k: _unescape(v) for k, v in self._LABEL.findall(labels_text or "")}
            try:
                val = float(value)
            except ValueError:
                continue
            self.samples.setdefault(name, []).append((labels, val))

    def __contains__(self, name: str) -> bool:
        return name in self.samples

    def get(self, name: str, **labels: str) -> List[Tuple[Dict[str, str], float]]:
        """Samples of `name` whose labels include the given ones."""
        return [(l, v) for l, v in self.samples.get(name, []) if all(l.get(k) == str(x) for k, x in labels.items())]

    def sum(self, name: str, **labels: str) -> float:
        return sum(v for _, v in self.get(name, **labels))

    def value(self, name: str, default: Optional[float] = None, **labels: str) -> Optional[float]:
        """The single sample's value (default when there is none)."""
        found = self.get(name, **labels)
        if not found:
            return default
        if len(found) > 1:
            raise ValueError(f"{name}{labels} matches {len(found)} samples")
        return found[0][1]

    def as_dict(self) -> Dict[str, float]:
        """{'name{a="1",b="2"}': value}: handy for printing."""
        out = {}
        for name, samples in self.samples.items():
            for labels, v in samples:
                lt = ",".join(f'{k}="{x}"' for k, x in sorted(labels.items()))
                out[f"{name}{{{lt}}}" if lt else name] = v
        return out


class Bridge:
    """One `kafka-loki-bridge run` process.

    >>> b = Bridge(brokers=broker.bootstrap, topics=["a"], group="g", loki_url=loki.push_url, log_path=p)
    >>> b.start().wait_ready()
    >>> b.metrics().sum("kafka_loki_bridge_pushes_total", status_code="204")
    >>> b.terminate()  # SIGTERM, returns the exit code
    """

    def __init__(self, *, brokers: str, topics: Iterable[str], group: str, loki_url: str,
                 tenant: Optional[str] = None, log_path: Optional[Path] = None, http_port: Optional[int] = None,
                 extra_env: Optional[Mapping[str, str]] = None, binary: Optional[Path] = None, name: str = "bridge",
                 args: Iterable[str] = ("run",)):
        self.name = name
        self.binary = Path(binary) if binary else bridge_binary()
        self.http_port = http_port or free_port()
        self.log_path = Path(log_path) if log_path else Path(tempfile.mkstemp(prefix=f"{name}-", suffix=".log")[1])
        self.args = list(args)
        self.env: Dict[str, str] = {
            "KAFKA_BROKERS": brokers,
            "KAFKA_TOPICS": ",".join(topics),
            "KAFKA_GROUP_ID": group,
            "KAFKA_AUTO_OFFSET_RESET": "earliest",
            "KAFKA_SESSION_TIMEOUT_MS": "6000",  # Tansu's join waits ~session.timeout/2
            "LOKI_URL": loki_url,
            "HTTP_ADDRESS": f"127.0.0.1:{self.http_port}",
            "BATCH_WAIT": "200ms",
            "KAFKA_COMMIT_INTERVAL": "500ms",
            "LOG_LEVEL": "info",
        }
        if tenant is not None:
            self.env["LOKI_TENANT_ID"] = tenant
        self.env.update(extra_env or {})
        self.proc: Optional[subprocess.Popen] = None
        self.starts = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def pid(self) -> Optional[int]:
        return self.proc.pid if self.proc else None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def process_env(self) -> Dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(_CONFIG_PREFIXES)}
        lib = str(RDKAFKA_LIB_DIR)
        env["LD_LIBRARY_PATH"] = lib + (":" + os.environ["LD_LIBRARY_PATH"] if os.environ.get("LD_LIBRARY_PATH") else "")
        env.update(self.env)
        return env

    def start(self) -> "Bridge":
        """Starts the process (again, after kill()/terminate(): same config and log file)."""
        if not self.binary.exists():
            raise FileNotFoundError(f"bridge binary {self.binary} not found: run `swift build` (or set BRIDGE_BIN)")
        if not (RDKAFKA_LIB_DIR / "librdkafka.so.1").exists():
            raise FileNotFoundError(f"{RDKAFKA_LIB_DIR}/librdkafka.so.1 missing: run `make deps`")
        if self.alive():
            raise RuntimeError(f"{self.name} is already running (pid {self.pid})")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        logf = open(self.log_path, "ab")
        self.starts += 1
        logf.write(f"\n===== testbed: start #{self.starts} of {self.name} =====\n".encode())
        logf.flush()
        self.proc = track(subprocess.Popen([str(self.binary), *self.args], env=self.process_env(), stdout=logf,
                                           stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                           start_new_session=True))
        logf.close()
        log.info("%s started: pid %d, http %s, log %s", self.name, self.proc.pid, self.base_url, self.log_path)
        return self

    def _check_alive(self) -> None:
        if not self.alive():
            code = self.proc.returncode if self.proc else None
            raise RuntimeError(f"{self.name} exited (code {code}); log tail:\n{tail(self.log_path, 30)}")

    def http_get(self, path: str, timeout: float = 5.0) -> Tuple[int, bytes]:
        req = urllib.request.Request(self.base_url + path)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def wait_ready(self, timeout: float = 60.0) -> "Bridge":
        """Polls GET /ready until 200. Fails at once if the process exits."""
        def ready() -> bool:
            self._check_alive()
            try:
                return self.http_get("/ready", timeout=2)[0] == 200
            except (urllib.error.URLError, ConnectionError, OSError):
                return False

        wait_until(ready, timeout, f"{self.name} /ready", describe=lambda: tail(self.log_path, 10))
        return self

    def metrics(self) -> Metrics:
        status, body = self.http_get("/metrics")
        if status != 200:
            raise RuntimeError(f"{self.name} GET /metrics -> {status}")
        return Metrics(body.decode("utf-8", "replace"))

    def terminate(self, timeout: float = 60.0) -> Optional[int]:
        """SIGTERM (graceful: flush, commit, exit) and wait; SIGKILL after `timeout`.
        Returns the exit code."""
        if self.proc is None:
            return None
        code = stop_process(self.proc, timeout=timeout, sig=signal.SIGTERM)
        log.info("%s stopped with exit code %s", self.name, code)
        return code

    def kill(self) -> Optional[int]:
        """SIGKILL: no flush, no commit."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        untrack(self.proc)
        log.info("%s killed (SIGKILL)", self.name)
        return self.proc.returncode

    def pause(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGCONT)

    def log_text(self) -> str:
        return self.log_path.read_text("utf-8", "replace") if self.log_path.exists() else ""

    def log_tail(self, lines: int = 40) -> str:
        return tail(self.log_path, lines)
