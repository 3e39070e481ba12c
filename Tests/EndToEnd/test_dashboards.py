"""The Grafana dashboard: valid JSON of the expected shape, queries that promtool parses, and only
metrics the bridge exports (README.md's metrics table), so the dashboard cannot drift from the
product. No broker, no Loki, no Grafana needed.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Dict, List, Tuple

import yaml

from test_alerts import METRIC_NAME, REPO, exported_metrics, exported_name, promtool, run

DASHBOARD = REPO / "dashboards" / "kafka-loki-bridge.json"
DATASOURCE_UID = "${datasource}"
# Grafana's variables, replaced by plausible values before promtool parses a query.
VARIABLES = {"$__rate_interval": "1m", "$__interval": "30s", "$__range": "1h", "$job": "kafka-loki-bridge",
             "$topic": ".*"}


def dashboard() -> Dict[str, Any]:
    with open(DASHBOARD, encoding="utf-8") as f:
        return json.load(f)


def panels() -> List[Dict[str, Any]]:
    return dashboard()["panels"]


def queries() -> List[Tuple[str, str]]:
    """(panel title, expr) for every panel target and query variable."""
    out = [(p["title"], t["expr"]) for p in panels() for t in p.get("targets", [])]
    for var in dashboard()["templating"]["list"]:
        if var["type"] == "query":
            m = re.fullmatch(r"label_values\((.*), *[a-z_]+\)", var["query"])
            assert m, f"variable {var['name']}: unexpected query {var['query']!r}"
            out.append((f"variable {var['name']}", m.group(1)))
    return out


def test_dashboard_is_valid_json_of_the_expected_shape():
    d = dashboard()
    assert d["schemaVersion"] == 39
    assert d["uid"] == "kafka-loki-bridge" and d["title"]
    variables = {v["name"]: v for v in d["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    assert variables["job"]["type"] == "query" and variables["topic"]["type"] == "query"
    assert variables["topic"]["includeAll"] and variables["topic"]["multi"]
    for var in d["templating"]["list"]:
        if var["type"] == "query":
            assert var["datasource"] == {"type": "prometheus", "uid": DATASOURCE_UID}, var["name"]


def test_dashboard_rows_and_panels():
    rows = [p["title"] for p in panels() if p["type"] == "row"]
    assert rows == ["Overview", "Loki", "Kafka"], rows
    ids = [p["id"] for p in panels()]
    assert len(ids) == len(set(ids)), "duplicate panel ids"

    # Which row each metric is shown in.
    shown: Dict[str, set] = {}
    row = None
    for p in panels():
        if p["type"] == "row":
            row = p["title"]
            continue
        assert row, f"panel {p['title']!r} before the first row"
        assert p["datasource"] == {"type": "prometheus", "uid": DATASOURCE_UID}, p["title"]
        assert p["targets"], f"panel {p['title']!r} has no query"
        for t in p["targets"]:
            assert t["datasource"]["uid"] == DATASOURCE_UID, p["title"]
            assert t["expr"].strip(), p["title"]
            for name in METRIC_NAME.findall(t["expr"]) + re.findall(r"\bup(?=\{)", t["expr"]):
                shown.setdefault(name, set()).add(row)
    expected = {
        "Overview": ["kafka_loki_bridge_consumer_lag_records", "kafka_loki_bridge_records_consumed_total",
                     "kafka_loki_bridge_entries_consumed_total", "kafka_loki_bridge_entries_pushed_total", "up",
                     "kafka_loki_bridge_assigned_partitions"],
        "Loki": ["kafka_loki_bridge_pushes_total", "kafka_loki_bridge_push_duration_seconds_bucket",
                 "kafka_loki_bridge_push_retries_total", "kafka_loki_bridge_entries_pushed_total"],
        "Kafka": ["kafka_loki_bridge_commits_total", "kafka_loki_bridge_records_failed_total",
                  "kafka_loki_bridge_in_flight_bytes", "kafka_loki_bridge_in_flight_records",
                  "kafka_loki_bridge_intake_paused", "kafka_loki_bridge_intake_holds_total",
                  "kafka_loki_bridge_intake_partition_pauses_total"],
    }
    missing = [(r, m) for r, names in expected.items() for m in names if r not in shown.get(m, set())]
    assert not missing, f"metrics missing from their row: {missing}"
    quantiles = {q for p in panels() for t in p.get("targets", [])
                 for q in re.findall(r"histogram_quantile\((0\.\d+)", t["expr"])}
    assert {"0.5", "0.99"} <= quantiles


def test_dashboard_layout_does_not_overlap():
    cells = set()
    for p in panels():
        g = p["gridPos"]
        assert 0 <= g["x"] and g["x"] + g["w"] <= 24, p["title"]
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, f"panel {p['title']!r} overlaps another at {(x, y)}"
                cells.add((x, y))


def test_dashboard_uses_only_exported_metrics():
    metrics = exported_metrics()
    unknown = []
    for title, expr in queries():
        for name in METRIC_NAME.findall(expr):
            if exported_name(name, metrics) not in metrics:
                unknown.append((title, name))
        # Any other series selector may only be `up`.
        for name in re.findall(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{", expr):
            if not name.startswith("kafka_loki_bridge_") and name != "up":
                unknown.append((title, name))
    assert not unknown, f"dashboard queries use metrics the bridge does not export (README.md): {unknown}"


# Metrics with a `topic` label: their panels follow the $topic variable.
TOPIC_METRICS = {"kafka_loki_bridge_consumer_lag_records", "kafka_loki_bridge_records_consumed_total",
                 "kafka_loki_bridge_record_bytes_consumed_total", "kafka_loki_bridge_entries_consumed_total",
                 "kafka_loki_bridge_records_failed_total"}


def test_dashboard_queries_filter_by_job_and_topic():
    for title, expr in queries():
        for name, matchers in re.findall(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{([^}]*)\}", expr):
            assert 'job=~"$job"' in matchers, f"{title}: {name} without the $job filter"
            if name in TOPIC_METRICS and not title.startswith("variable "):
                assert 'topic=~"$topic"' in matchers, f"{title}: {name} without the $topic filter"


def test_dashboard_queries_parse_with_promtool(tmp_path):
    """Every query, with Grafana's variables filled in, is valid PromQL (promtool parses it)."""
    rules = []
    for i, (title, expr) in enumerate(queries()):
        for var, value in sorted(VARIABLES.items(), key=lambda kv: -len(kv[0])):
            expr = expr.replace(var, value)
        assert "$" not in expr, f"{title}: unknown variable in {expr!r}"
        rules.append({"record": f"dashboard:query_{i}:check", "expr": expr})
    path = tmp_path / "dashboard-queries.rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}), encoding="utf-8")
    proc = run([promtool(), "check", "rules", str(path)])
    assert proc.returncode == 0, f"promtool rejected dashboard queries:\n{proc.stdout}{proc.stderr}"
