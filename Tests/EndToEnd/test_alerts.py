"""Alert rules and deployment manifests: checked with the real promtool and the real binary.

- `promtool check rules` / `promtool test rules` on alerts/ (promtool comes from the Debian package
  `prometheus`, installed by `make test`; a missing promtool fails, it never skips);
- every alert has a unit test where it fires and one where it stays quiet;
- the rules use only metrics the bridge exports (README.md's metrics table) and the job they
  document, so they cannot drift from the product;
- deploy/kubernetes/prometheusrule.yaml is exactly the source rules, wrapped;
- every YAML file parses, the manifests agree with each other and with README.md's operations
  guidance, the ConfigMap passes `kafka-loki-bridge check-config`, and the Dockerfile's runtime
  packages provide every shared library the binary links.

No broker, no Loki: these tests use none of conftest.py's fixtures except `bridge_bin`.
test_dashboards.py imports the README helpers from here.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any, Dict, Iterator, List, Set, Tuple

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
RULES = REPO / "alerts" / "kafka-loki-bridge.rules.yml"
RULE_TESTS = REPO / "alerts" / "kafka-loki-bridge.rules.test.yml"
KUBE = REPO / "deploy" / "kubernetes"
DOCKERFILE = REPO / "deploy" / "Dockerfile"
RENDER_SCRIPT = REPO / "scripts" / "render-prometheusrule.py"
JOB = "kafka-loki-bridge"
JOB_MATCHER = f'job="{JOB}"'

METRIC_NAME = re.compile(r"kafka_loki_bridge_[a-z_]+")
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


# ------------------------------------------------------------------------------------ helpers


def promtool() -> str:
    path = shutil.which("promtool") or ("/usr/bin/promtool" if Path("/usr/bin/promtool").exists() else None)
    if path is None:
        pytest.fail("promtool not found: install the Debian package `prometheus` (make deps / make test do)",
                    pytrace=False)
    return path


def run(cmd: List[str], **kwargs) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120, **kwargs)
    print(f"$ {' '.join(cmd)}  -> exit {proc.returncode}\n{proc.stdout}{proc.stderr}")
    return proc


def readme_section(title: str) -> str:
    text = README.read_text(encoding="utf-8")
    m = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    assert m, f"README.md has no '## {title}' section"
    return m.group(1)


def exported_metrics() -> Dict[str, str]:
    """Metric name -> type, from README.md's metrics table (the product's documented contract).

    A cell like "`kafka_loki_bridge_in_flight_bytes` / `_in_flight_records`" names two metrics.
    """
    metrics: Dict[str, str] = {}
    for line in readme_section("HTTP endpoints and metrics").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 3 or "kafka_loki_bridge_" not in cells[0]:
            continue
        for name in re.findall(r"`([a-z_]+)`", cells[0]):
            metrics["kafka_loki_bridge" + name if name.startswith("_") else name] = cells[1]
    assert len(metrics) >= 10, f"could not read README.md's metrics table: {metrics}"
    return metrics


def exported_name(name: str, metrics: Dict[str, str]) -> str:
    """The documented metric behind a series name (histogram series carry a suffix)."""
    for suffix in HISTOGRAM_SUFFIXES:
        base = name[: -len(suffix)]
        if name.endswith(suffix) and metrics.get(base) == "histogram":
            return base
    return name


def load_yaml(path: Path) -> Any:
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


def rules() -> Iterator[Dict[str, Any]]:
    for group in load_yaml(RULES)["groups"]:
        yield from group["rules"]


def alerts() -> List[Dict[str, Any]]:
    return [r for r in rules() if "alert" in r]


def kube(name: str) -> List[Dict[str, Any]]:
    with open(KUBE / name, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def kube_one(name: str) -> Dict[str, Any]:
    docs = kube(name)
    assert len(docs) == 1, f"{name}: expected one document, found {len(docs)}"
    return docs[0]


def render_module():
    spec = importlib.util.spec_from_file_location("render_prometheusrule", RENDER_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}


def duration_seconds(text: str) -> float:
    """Go-style durations as the bridge reads them: 500ms, 30s, 1m30s."""
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", text)
    assert parts and "".join(n + u for n, u in parts) == text, f"not a duration: {text!r}"
    return sum(float(n) * _UNITS[u] for n, u in parts)


_SIZE_UNITS = {"": 1, "Ki": 1 << 10, "KiB": 1 << 10, "Mi": 1 << 20, "MiB": 1 << 20, "Gi": 1 << 30, "GiB": 1 << 30,
               "k": 10**3, "KB": 10**3, "M": 10**6, "MB": 10**6, "G": 10**9, "GB": 10**9}


def size_bytes(text: str) -> int:
    """Sizes as the bridge (128MiB, 1MB, 1048576) and Kubernetes (512Mi) write them."""
    m = re.fullmatch(r"(\d+)\s*([A-Za-z]*)", str(text))
    assert m and m.group(2) in _SIZE_UNITS, f"not a size: {text!r}"
    return int(m.group(1)) * _SIZE_UNITS[m.group(2)]


def bridge_config() -> Dict[str, Any]:
    return yaml.safe_load(kube_one("configmap.yaml")["data"]["config.yaml"])


def pod_spec() -> Dict[str, Any]:
    return kube_one("deployment.yaml")["spec"]["template"]["spec"]


def container() -> Dict[str, Any]:
    (c,) = pod_spec()["containers"]
    return c


# ------------------------------------------------------------------------------------ promtool


def test_promtool_check_rules():
    proc = run([promtool(), "check", "rules", str(RULES.relative_to(REPO))])
    assert proc.returncode == 0, f"promtool check rules failed:\n{proc.stdout}{proc.stderr}"


def test_promtool_rule_unit_tests():
    proc = run([promtool(), "test", "rules", str(RULE_TESTS.relative_to(REPO))])
    assert proc.returncode == 0, f"promtool test rules failed:\n{proc.stdout}{proc.stderr}"


def test_every_alert_has_a_firing_and_a_quiet_unit_test():
    firing: Set[str] = set()
    quiet: Set[str] = set()
    for case in load_yaml(RULE_TESTS)["tests"]:
        for check in case.get("alert_rule_test", []):
            (firing if check.get("exp_alerts") else quiet).add(check["alertname"])
    names = {a["alert"] for a in alerts()}
    assert names - firing == set(), f"alerts without a test where they fire: {sorted(names - firing)}"
    assert names - quiet == set(), f"alerts without a test where they stay quiet: {sorted(names - quiet)}"
    assert (firing | quiet) - names == set(), f"tests for alerts that do not exist: {sorted((firing | quiet) - names)}"


def test_alerts_have_severity_and_annotations():
    assert "## Operations" in README.read_text(encoding="utf-8")
    names = [a["alert"] for a in alerts()]
    assert len(names) == len(set(names)), f"duplicate alert names: {names}"
    for alert in alerts():
        name = alert["alert"]
        assert name.startswith("KafkaLokiBridge"), name
        assert alert.get("labels", {}).get("severity") in ("critical", "warning", "info"), name
        annotations = alert.get("annotations", {})
        for key in ("summary", "description", "runbook_url"):
            assert annotations.get(key), f"{name}: annotation {key} missing"
        assert annotations["runbook_url"].endswith("README.md#operations"), name


# ------------------------------------------------------------------------------------ drift


def test_rules_use_only_metrics_the_bridge_exports():
    """Every kafka_loki_bridge_* series in an expr is in README.md's metrics table; recorded series
    (names with a colon) are defined in the file."""
    metrics = exported_metrics()
    recorded = {r["record"] for r in rules() if "record" in r}
    unknown = []
    for rule in rules():
        expr = rule["expr"]
        for name in re.findall(r"[a-zA-Z_]*:[a-zA-Z_:]+", expr):
            if name not in recorded:
                unknown.append((rule.get("alert") or rule.get("record"), name))
        without_recorded = re.sub(r"[a-zA-Z_]*:[a-zA-Z_:]+", " ", expr)
        for name in METRIC_NAME.findall(without_recorded):
            if exported_name(name, metrics) not in metrics:
                unknown.append((rule.get("alert") or rule.get("record"), name))
    assert not unknown, f"rules use metrics the bridge does not export (README.md metrics table): {unknown}"


def test_rules_select_the_documented_job():
    """Every series selector carries job="kafka-loki-bridge" (the documented, renderable assumption)."""
    missing = []
    for rule in rules():
        expr = rule["expr"]
        for name, matchers in re.findall(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{([^}]*)\}", expr):
            if JOB_MATCHER not in matchers:
                missing.append((rule.get("alert") or rule.get("record"), name, matchers))
        unquoted = re.sub(r'"[^"]*"', '""', expr)
        for m in re.finditer(r"[a-zA-Z_:][a-zA-Z0-9_:]*", unquoted):
            if "kafka_loki_bridge" in m.group(0) or m.group(0) == "up":
                assert unquoted[m.end():].lstrip().startswith("{"), (
                    f"{rule.get('alert') or rule.get('record')}: {m.group(0)} without a job matcher in {expr!r}")
        assert re.findall(r'job\s*[!=~]+\s*"([^"]*)"', expr) and set(
            re.findall(r'job\s*[!=~]+\s*"([^"]*)"', expr)) == {JOB}, expr
    assert not missing, f"selectors without {JOB_MATCHER}: {missing}"


# ------------------------------------------------------------------------------------ PrometheusRule


def test_prometheusrule_wraps_exactly_the_source_rules():
    rule = kube_one("prometheusrule.yaml")
    assert rule["apiVersion"] == "monitoring.coreos.com/v1" and rule["kind"] == "PrometheusRule"
    assert rule["spec"]["groups"] == load_yaml(RULES)["groups"], (
        "deploy/kubernetes/prometheusrule.yaml differs from alerts/kafka-loki-bridge.rules.yml: run "
        ".venv/bin/python scripts/render-prometheusrule.py -o deploy/kubernetes/prometheusrule.yaml")
    render = render_module()
    assert (KUBE / "prometheusrule.yaml").read_text(encoding="utf-8") == render.render(), (
        "prometheusrule.yaml is not what the script renders now: regenerate it")


def test_rules_rendered_for_another_job_pass_promtool(tmp_path):
    render = render_module()
    text = render.render(job="logging/bridge", runbook_base="https://git.example.com/bridge/blob/main/", plain=True)
    assert JOB_MATCHER not in text and 'job="logging/bridge"' in text
    assert "https://git.example.com/bridge/blob/main/README.md#operations" in text
    path = tmp_path / "custom.rules.yml"
    path.write_text(text, encoding="utf-8")
    proc = run([promtool(), "check", "rules", str(path)])
    assert proc.returncode == 0, f"promtool check rules failed on the rendered copy:\n{proc.stdout}{proc.stderr}"
    assert len(load_yaml(path)["groups"]) == len(load_yaml(RULES)["groups"])


# ------------------------------------------------------------------------------------ manifests


def yaml_files() -> List[Path]:
    files = [p for d in ("alerts", "deploy", "dashboards") for p in sorted((REPO / d).rglob("*"))
             if p.suffix in (".yml", ".yaml")]
    assert len(files) >= 11, files
    return files


def test_every_yaml_file_parses():
    for path in yaml_files():
        with open(path, encoding="utf-8") as f:
            docs = [d for d in yaml.safe_load_all(f) if d is not None]
        assert docs, f"{path.relative_to(REPO)} is empty"
        if path.parent == KUBE:
            for doc in docs:
                assert doc.get("apiVersion") and doc.get("kind"), f"{path.name}: apiVersion/kind missing"
                if doc["kind"] != "Kustomization":
                    assert doc["metadata"]["name"].startswith("kafka-loki-bridge"), path.name


def test_kustomization_lists_the_manifests():
    k = kube_one("kustomization.yaml")
    resources = k["resources"]
    for name in resources:
        assert (KUBE / name).is_file(), f"kustomization.yaml lists {name}, which does not exist"
    expected = {"configmap.yaml", "deployment.yaml", "service.yaml", "poddisruptionbudget.yaml", "prometheusrule.yaml"}
    assert expected <= set(resources), expected - set(resources)
    # One scrape config, not two (double series); the example Secret must never be applied.
    assert ("servicemonitor.yaml" in resources) != ("podmonitor.yaml" in resources)
    assert "secret.example.yaml" not in resources
    listed_or_documented = set(resources) | {"podmonitor.yaml", "servicemonitor.yaml", "secret.example.yaml",
                                             "kustomization.yaml"}
    on_disk = {p.name for p in KUBE.glob("*.yaml")}
    assert on_disk <= listed_or_documented, f"manifests neither listed nor documented: {on_disk - listed_or_documented}"


def test_deployment_follows_the_operations_guidance():
    deployment = kube_one("deployment.yaml")
    spec, pod, c = deployment["spec"], pod_spec(), container()
    config = bridge_config()

    assert spec["replicas"] == 3
    assert c["image"] == "kafka-loki-bridge:0.1.0"
    assert c["command"] + c["args"] == ["kafka-loki-bridge", "run", "--config", "/etc/kafka-loki-bridge/config.yaml"]
    # KAFKA_* service-link variables would be read as librdkafka properties.
    assert pod["enableServiceLinks"] is False

    # README "Stopping": terminationGracePeriodSeconds >= SHUTDOWN_TIMEOUT + LOKI_TIMEOUT + 15 s.
    needed = duration_seconds(config.get("shutdown_timeout", "20s")) + duration_seconds(
        config.get("loki", {}).get("timeout", "10s")) + 15
    assert pod["terminationGracePeriodSeconds"] >= needed, (pod["terminationGracePeriodSeconds"], needed)

    env = {e["name"]: e for e in c["env"]}
    assert env["KAFKA_BROKERS"]["value"] and env["LOKI_URL"]["value"].endswith("/loki/api/v1/push")
    secret_ref = env["KAFKA_SASL_PASSWORD"]["valueFrom"]["secretKeyRef"]
    example = {d["metadata"]["name"]: d for d in kube("secret.example.yaml")}
    assert secret_ref["key"] in example[secret_ref["name"]]["stringData"]
    for source in c.get("envFrom", []):
        ref = source["secretRef"]
        assert ref["name"] in example
        keys = example[ref["name"]]["stringData"]
        assert all(k.startswith("LOKI_") for k in keys), f"envFrom secret {ref['name']} may only hold LOKI_* keys"

    # Admin port: the one config.yaml's http.address listens on, named http-metrics, probed.
    port = int(config["http"]["address"].rsplit(":", 1)[1])
    assert {"name": "http-metrics", "containerPort": port, "protocol": "TCP"} in c["ports"]
    assert c["livenessProbe"]["httpGet"] == {"path": "/live", "port": "http-metrics"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "http-metrics"}

    # Memory limit comfortably above the in-flight budget.
    budget = size_bytes(config["memory"]["max_in_flight_bytes"])
    limit = size_bytes(c["resources"]["limits"]["memory"])
    assert limit >= 2 * budget + (64 << 20), (limit, budget)
    assert c["resources"]["requests"]["memory"] and c["resources"]["requests"]["cpu"]

    assert pod["securityContext"]["runAsNonRoot"] is True
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert c["securityContext"]["allowPrivilegeEscalation"] is False
    preferred = pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert preferred and preferred[0]["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"


def test_selectors_and_ports_agree():
    labels = kube_one("deployment.yaml")["spec"]["template"]["metadata"]["labels"]

    def selects(match: Dict[str, str]) -> bool:
        return bool(match) and all(labels.get(k) == v for k, v in match.items())

    deployment = kube_one("deployment.yaml")
    assert selects(deployment["spec"]["selector"]["matchLabels"])
    service = kube_one("service.yaml")
    assert selects(service["spec"]["selector"])
    assert [p["name"] for p in service["spec"]["ports"]] == ["http-metrics"]
    assert selects(kube_one("poddisruptionbudget.yaml")["spec"]["selector"]["matchLabels"])
    assert kube_one("poddisruptionbudget.yaml")["spec"]["maxUnavailable"] == 1
    anti = pod_spec()["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert selects(anti[0]["podAffinityTerm"]["labelSelector"]["matchLabels"])

    service_monitor = kube_one("servicemonitor.yaml")
    assert all(service["metadata"]["labels"].get(k) == v
               for k, v in service_monitor["spec"]["selector"]["matchLabels"].items())
    assert [e["port"] for e in service_monitor["spec"]["endpoints"]] == ["http-metrics"]
    pod_monitor = kube_one("podmonitor.yaml")
    assert selects(pod_monitor["spec"]["selector"]["matchLabels"])
    assert [e["port"] for e in pod_monitor["spec"]["podMetricsEndpoints"]] == ["http-metrics"]
    # The rules assume job="kafka-loki-bridge": both monitors take the job from that label.
    assert service["metadata"]["labels"][service_monitor["spec"]["jobLabel"]] == JOB
    assert labels[pod_monitor["spec"]["jobLabel"]] == JOB


def test_configmap_uses_documented_keys():
    documented = set()
    for line in readme_section("Configuration reference").splitlines():
        m = re.match(r"\|\s*(`[^|]+`)\s*\|", line)
        if m:
            documented |= set(re.findall(r"`([a-z_.<>]+)`", m.group(1)))
    assert "kafka.brokers" in documented and "shutdown_timeout" in documented, documented

    def flatten(prefix: str, value: Any) -> Iterator[str]:
        if isinstance(value, dict) and prefix != "kafka.properties":
            for k, v in value.items():
                yield from flatten(f"{prefix}.{k}" if prefix else k, v)
        else:
            yield prefix

    unknown = [k for k in flatten("", bridge_config()) if k not in documented and k != "kafka.properties"]
    assert not unknown, f"config.yaml keys not in README.md's configuration reference: {unknown}"


def test_configmap_and_deployment_env_pass_check_config(bridge_bin, tmp_path):
    """The real binary validates the ConfigMap's config.yaml with the Deployment's environment."""
    config = tmp_path / "config.yaml"
    config.write_text(kube_one("configmap.yaml")["data"]["config.yaml"], encoding="utf-8")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
           "LD_LIBRARY_PATH": str(REPO / ".venv" / "rdkafka-lib")}
    for e in container()["env"]:
        env[e["name"]] = e.get("value", "placeholder-secret")
    proc = run([str(bridge_bin), "check-config", "--config", str(config)], env=env)
    assert proc.returncode == 0, f"check-config refused the ConfigMap:\n{proc.stdout}{proc.stderr}"
    assert "placeholder-secret" not in proc.stdout, "check-config printed a secret"
    assert re.search(rf"^kafka\.brokers\s+= {re.escape(env['KAFKA_BROKERS'])}\s", proc.stdout, re.M), proc.stdout


def dockerfile_runtime_packages() -> Tuple[Set[str], str]:
    text = DOCKERFILE.read_text(encoding="utf-8")
    stages = re.split(r"^FROM ", text, flags=re.M)
    runtime = stages[-1]
    installs = re.findall(r"apt-get install[^&]*", runtime.replace("\\\n", " "))
    assert installs, "no apt-get install in the Dockerfile's runtime stage"
    packages = {w for cmd in installs for w in cmd.split()[2:] if not w.startswith("-")}
    return packages, text


def test_dockerfile_matches_the_binary_and_the_deployment(bridge_bin):
    packages, text = dockerfile_runtime_packages()
    assert {"librdkafka1", "libcurl4", "libprotobuf-c1", "libsnappy1v5"} <= packages, packages
    assert re.search(r"^FROM \$\{SWIFT_IMAGE\} AS build", text, re.M) and "swift:6." in text and "bookworm" in text
    assert "--static-swift-stdlib" in text and "debian:bookworm-slim" in text

    # Every shared library the binary needs, except the Swift runtime (linked statically in the
    # release build) and glibc, comes from a package the runtime stage installs.
    readelf = shutil.which("readelf")
    assert readelf, "readelf (binutils) is needed to read the binary's dependencies"
    dynamic = run([readelf, "-d", str(bridge_bin)])
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", dynamic.stdout)
    assert needed, dynamic.stdout
    swift_runtime = re.compile(r"lib(swift|_?Foundation|dispatch|BlocksRuntime)")
    glibc = {"libc.so.6", "libm.so.6", "libpthread.so.0", "libdl.so.2", "librt.so.1", "ld-linux-x86-64.so.2",
             "ld-linux-aarch64.so.1", "libstdc++.so.6", "libgcc_s.so.1"}
    missing = {}
    for lib in needed:
        if swift_runtime.match(lib) or lib in glibc:
            continue
        owner = run(["dpkg", "-S", f"*/{lib}"])
        pkgs = {line.split(":")[0] for line in owner.stdout.splitlines() if line}
        if not pkgs & packages:
            missing[lib] = sorted(pkgs) or "no Debian package"
    assert not missing, f"libraries the binary links that the Dockerfile's runtime stage lacks: {missing}"

    # The image's user and entrypoint are what the Deployment expects.
    assert re.search(r"^USER 10001:10001$", text, re.M)
    assert pod_spec()["securityContext"]["runAsUser"] == 10001
    assert 'ENTRYPOINT ["kafka-loki-bridge"]' in text and container()["command"] == ["kafka-loki-bridge"]
    assert f"EXPOSE {container()['ports'][0]['containerPort']}" in text
