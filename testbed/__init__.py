"""Test bed for kafka-loki-bridge: a real Kafka-compatible broker (Tansu), the project's Loki
stand-in, Loki push-payload producers and a handle on the bridge binary.

Used by the end-to-end tests (Tests/EndToEnd) and by `make demo` (testbed/demo.py). Everything
here runs on loopback only, starts its processes itself and stops them again (also at exit).
Needs the packages of scripts/requirements-testbed.txt (`make deps` puts them into .venv/).
"""

from .util import REPO, Deadline, TimeoutExpired, free_port, wait_until

__all__ = ["REPO", "Deadline", "TimeoutExpired", "free_port", "wait_until"]
