#!/usr/bin/env python3
"""`make demo`: the whole pipeline on this machine, for a human to watch.

  Tansu broker (topic logging-events, 6 partitions)
    <- sample Loki push requests for tenants team-a and team-b (protobuf+snappy, JSON, gzip JSON)
  kafka-loki-bridge (the real binary, consumer group kafka-loki-bridge-demo)
    -> Loki stand-in (real push and query API)

It waits until every produced line is in the stand-in, shows what arrived (per tenant and
stream, a few lines read back through /loki/api/v1/query_range, committed offsets vs log end),
then keeps a trickle of new lines flowing and prints a status line every few seconds until
Ctrl-C. Everything it started is stopped on the way out (the bridge with SIGTERM).

Logs: .state/demo/{tansu,loki-standin,bridge}.log
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `python testbed/demo.py` from anywhere

from testbed.bridge import Bridge, bridge_binary  # noqa: E402
from testbed.broker import Broker  # noqa: E402
from testbed.loki_client import LokiStandin  # noqa: E402
from testbed.producers import BackgroundProducer, LogGenerator, produce  # noqa: E402
from testbed.util import REPO, STATE_DIR, TimeoutExpired, wait_until  # noqa: E402
from testbed.verify import check_delivery, count_received, wait_committed_to_end  # noqa: E402

TOPIC = "logging-events"
GROUP = "kafka-loki-bridge-demo"
TENANTS = ("team-a", "team-b")

BOLD = "\033[1m" if sys.stdout.isatty() else ""
DIM = "\033[2m" if sys.stdout.isatty() else ""
RESET = "\033[0m" if sys.stdout.isatty() else ""


def say(text: str) -> None:
    """print() that survives a closed stdout (`make demo | head`, a killed tee): the clean-up
    after Ctrl-C must run to the end."""
    try:
        print(text, flush=True)
    except (BrokenPipeError, OSError):
        pass


def section(title: str) -> None:
    say(f"\n{BOLD}== {title} {'=' * max(0, 70 - len(title))}{RESET}")


def step(text: str) -> None:
    say(f"  - {text}")


def labels_text(labels: dict) -> str:
    return "{" + ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"


def offsets_table(broker: Broker) -> tuple[int, int]:
    ends = broker.log_end(TOPIC)
    committed = broker.committed(GROUP, TOPIC)
    say(f"    {'partition':>9} {'committed':>10} {'log end':>8} {'lag':>5}")
    for p, end in ends.items():
        c = committed.get(p)
        say(f"    {p:>9} {('-' if c is None else c):>10} {end:>8} {end - (c or 0):>5}")
    total_c = sum(c or 0 for c in committed.values())
    total_e = sum(ends.values())
    say(f"    {'total':>9} {total_c:>10} {total_e:>8} {total_e - total_c:>5}")
    return total_c, total_e


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lines", type=int, default=4000, help="lines in the initial backlog (default 4000)")
    ap.add_argument("--partitions", type=int, default=6)
    ap.add_argument("--rate", type=float, default=100, help="lines per second while running live (default 100)")
    ap.add_argument("--interval", type=float, default=5, help="seconds between status lines (default 5)")
    ap.add_argument("--duration", type=float, default=None, help="stop after this many live seconds (default: Ctrl-C)")
    args = ap.parse_args()

    binary = bridge_binary()
    if not binary.exists():
        print(f"demo: the bridge binary {binary} does not exist; build it first (make build)", file=sys.stderr)
        return 2

    logs = STATE_DIR / "demo"
    logs.mkdir(parents=True, exist_ok=True)
    for f in logs.glob("*.log"):
        f.unlink()

    def on_sigterm(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_sigterm)  # SIGTERM ends the demo like Ctrl-C does

    broker = Broker(log_path=logs / "tansu.log")
    loki = LokiStandin(log_path=logs / "loki-standin.log")
    bridge = None
    bg = None
    produced = []
    return_code = 0
    try:
        section("Starting the test bed")
        broker.start()
        broker.create_topic(TOPIC, args.partitions)
        step(f"Kafka (Tansu) on {broker.bootstrap}: topic {TOPIC} with {args.partitions} partitions")
        loki.start()
        step(f"Loki stand-in on {loki.base_url} (control API {loki.control_url})")

        section("Producing sample logs (as the alloy-distributor writes them)")
        t0 = time.monotonic()
        gen = LogGenerator(TENANTS)
        records = gen.records(args.lines, lines_per_record=50, formats=("proto", "json", "json-gzip"))
        produced = produce(broker.bootstrap, TOPIC, records)
        kinds = Counter(r.fmt for r in records)
        step(f"{len(produced)} lines in {len(records)} records in {time.monotonic() - t0:.1f}s: "
             + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())))
        step("per tenant: " + ", ".join(f"{t} {n} lines" for t, n in sorted(Counter(e.tenant for e in produced).items())))

        section("Starting kafka-loki-bridge")
        bridge = Bridge(brokers=broker.bootstrap, topics=[TOPIC], group=GROUP, loki_url=loki.push_url,
                        log_path=logs / "bridge.log", name="bridge")
        t0 = time.monotonic()
        bridge.start().wait_ready(60)
        step(f"{os.path.relpath(binary, REPO)} run, pid {bridge.pid}, "
             f"ready after {time.monotonic() - t0:.1f}s; admin {bridge.base_url}/metrics")
        step(f"LD_LIBRARY_PATH={bridge.process_env()['LD_LIBRARY_PATH'].split(':')[0]} (librdkafka 2.16)")

        section("Waiting until every produced line is in Loki")
        t0 = time.monotonic()
        wait_until(lambda: count_received(loki, TENANTS) >= len(produced), 120, "all lines in the stand-in",
                   interval=0.3, describe=lambda: f"{count_received(loki, TENANTS)}/{len(produced)}")
        report = check_delivery(loki, produced, TENANTS)
        step(f"{report.summary()}")
        step(f"took {time.monotonic() - t0:.1f}s after the bridge was ready")

        section("What Loki holds, per tenant and stream")
        for tenant in TENANTS:
            doc = loki.entries(tenant)
            streams = sorted(doc["streams"], key=lambda s: labels_text(s["labels"]))
            total = sum(len(s["entries"]) for s in streams)
            say(f"  {BOLD}{tenant}{RESET}: {len(streams)} streams, {total} lines")
            for s in streams:
                say(f"    {len(s['entries']):>6}  {labels_text(s['labels'])}")

        section("A few lines read back through /loki/api/v1/query_range")
        for tenant, query in (("team-a", '{app="checkout", env="prod"} |= "ERROR"'),
                              ("team-b", '{app="search"}')):
            answer = loki.query_range(tenant, query, limit=3)
            say(f"  {DIM}X-Scope-OrgID: {tenant}   query: {query}   limit 3{RESET}")
            for stream in answer["data"]["result"]:
                for ts, line, *_ in stream["values"]:
                    first = line.splitlines()[0] if line else ""
                    more = " ..." if len(first) > 110 or "\n" in line else ""
                    say(f"    {ts}  {first[:110]}{more}")

        section("Consumer group offsets (committed only after Loki accepted the lines)")
        try:
            wait_committed_to_end(broker, GROUP, [TOPIC], timeout=30)
        except TimeoutExpired as e:
            step(f"not yet: {e}")
        offsets_table(broker)

        m = bridge.metrics()
        pushes = ", ".join(f"{l.get('status_code', '?')}: {v:.0f}" for l, v in m.get("kafka_loki_bridge_pushes_total"))
        step(f"bridge metrics: records consumed {m.sum('kafka_loki_bridge_records_consumed_total'):.0f}, "
             f"entries {m.sum('kafka_loki_bridge_entries_consumed_total'):.0f}, pushes by status {{{pushes}}}, "
             f"commits {m.sum('kafka_loki_bridge_commits_total'):.0f}")

        section(f"Live: ~{args.rate:.0f} new lines/s; a status line every {args.interval:.0f}s (Ctrl-C stops)")
        bg = BackgroundProducer(broker.bootstrap, TOPIC, gen, lines_per_second=args.rate,
                                lines_per_record=max(1, int(args.rate // 10)),
                                formats=("proto", "json", "json-gzip")).start()
        started = time.monotonic()
        while args.duration is None or time.monotonic() - started < args.duration:
            time.sleep(args.interval)
            m = bridge.metrics() if bridge.alive() else None
            total_produced = len(produced) + bg.delivered_lines()
            in_loki = count_received(loki, TENANTS)
            ends = broker.log_end(TOPIC)
            committed = broker.committed(GROUP, TOPIC)
            lag = sum(e - (committed.get(p) or 0) for p, e in ends.items())
            status = (f"  {time.strftime('%H:%M:%S')}  produced {total_produced:>7}  in Loki {in_loki:>7}  "
                      f"group lag {lag:>4} records")
            if m is not None:
                status += (f"  pushes {sum(v for _, v in m.get('kafka_loki_bridge_pushes_total')):>5.0f}"
                           f"  commits {m.sum('kafka_loki_bridge_commits_total'):>5.0f}")
            else:
                status += "  (bridge not running!)"
            say(status)
    except (KeyboardInterrupt, BrokenPipeError):
        say("\n  (interrupted)")
    except (TimeoutExpired, RuntimeError, FileNotFoundError) as e:
        print(f"\ndemo: {e}", file=sys.stderr)
        if bridge is not None:
            print(f"--- bridge log tail ({bridge.log_path}) ---\n{bridge.log_tail(20)}", file=sys.stderr)
        return_code = 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not skip the clean-up
        section("Stopping")
        if bg is not None:
            produced = produced + bg.stop()
            step(f"producer stopped ({len(produced)} lines produced in all)")
        if bridge is not None and bridge.alive():
            if bg is not None:
                try:
                    wait_until(lambda: count_received(loki, TENANTS) >= len(produced), 30, "the last lines")
                except TimeoutExpired:
                    pass
            code = bridge.terminate(60)
            step(f"bridge stopped with SIGTERM, exit code {code}")
        if bg is not None and loki.alive():
            report = check_delivery(loki, produced, TENANTS)
            step(f"final check: {report.summary()}")
            total_c, total_e = sum(c or 0 for c in broker.committed(GROUP, TOPIC).values()), \
                sum(broker.log_end(TOPIC).values())
            step(f"committed {total_c} of {total_e} records in {TOPIC}")
        loki.stop()
        broker.stop()
        step(f"stand-in and broker stopped; logs in {os.path.relpath(logs)}")
    return return_code


if __name__ == "__main__":
    sys.exit(main())
