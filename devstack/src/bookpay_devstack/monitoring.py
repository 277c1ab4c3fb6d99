"""Checks of the monitoring in deploy/ against the code, without Prometheus or Grafana (neither
runs here, and promtool is not available): Prometheus scrapes every service's staff port, the
alert rules are well formed, and every series and label that the rules and the dashboard use
is one the services export (`bookpay_shared.metrics.METRIC_SERIES`), so a renamed metric
cannot silently empty a panel or disarm an alert."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml
from bookpay_shared.metrics import METRIC_SERIES

from bookpay_devstack.system import SystemConfig

PROMETHEUS_CONFIG = "deploy/prometheus/prometheus.yml"
ALERT_RULES = "deploy/prometheus/alerts.yml"
DASHBOARD = "deploy/grafana/dashboards/bookpay.json"
DATASOURCES = "deploy/grafana/provisioning/datasources/prometheus.yml"
DASHBOARD_PROVIDERS = "deploy/grafana/provisioning/dashboards/bookpay.yml"
SEVERITIES = frozenset({"warning", "critical"})

# Prometheus' own series, with their labels (what the rules may use besides ours).
_PROMETHEUS_SERIES = {"up": frozenset({"job", "instance"})}
_DURATION = re.compile(r"^([0-9]+(ms|s|m|h|d|w|y))+$")
_SELECTOR = re.compile(r"\b(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{(?P<matchers>[^}]*)\}")
_MATCHER_LABEL = re.compile(r"(?P<label>[a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)")
_GROUPING = re.compile(r"\b(?:by|without)\s*\((?P<labels>[^)]*)\)")
_SERIES_NAME = re.compile(r"\bbookpay_[a-zA-Z0-9_:]*")


def expression_problems(expr: str, where: str) -> list[str]:
    """A PromQL expression uses only exported series, and only their labels (in selectors and
    in `by (...)`/`without (...)`)."""
    known = {**METRIC_SERIES, **_PROMETHEUS_SERIES}
    problems = [
        f"{where}: {name} is not a series bookpay exports"
        for name in sorted(set(_SERIES_NAME.findall(expr)) - set(known))
    ]
    for selector in _SELECTOR.finditer(expr):
        labels = known.get(selector["name"])
        for matcher in _MATCHER_LABEL.finditer(selector["matchers"]):
            if labels is not None and matcher["label"] not in labels:
                problems.append(f"{where}: {selector['name']} has no label {matcher['label']}")
    used = [known[name] for name in set(_SERIES_NAME.findall(expr)) if name in known]
    common = frozenset.intersection(*used) if used else frozenset()
    for grouping in _GROUPING.finditer(expr):
        for label in (part.strip() for part in grouping["labels"].split(",")):
            if used and label and label not in common:
                problems.append(f"{where}: groups by {label}, a label its series do not all have")
    return problems


def alert_problems(rules: Mapping[str, Any]) -> list[str]:
    """Every rule of every group is an alert with a valid expression, a severity, a summary
    and, if it has one, a valid `for` duration; alert names are unique."""
    problems: list[str] = []
    groups = rules.get("groups") if isinstance(rules, Mapping) else None
    if not isinstance(groups, list) or not groups:
        return [f"{ALERT_RULES}: no rule groups"]
    seen: set[str] = set()
    for group in groups:
        for rule in group.get("rules") or []:
            name = rule.get("alert")
            if not isinstance(name, str) or not re.fullmatch(r"[A-Z][A-Za-z0-9]+", name):
                problems.append(f"{ALERT_RULES}: a rule has no alert name (CamelCase): {rule}")
                continue
            if name in seen:
                problems.append(f"{name}: the alert name is used twice")
            seen.add(name)
            expr = rule.get("expr")
            if not isinstance(expr, str) or not expr.strip():
                problems.append(f"{name}: no expr")
            else:
                problems += expression_problems(expr, name)
            if "for" in rule and not _DURATION.match(str(rule["for"])):
                problems.append(f"{name}: for {rule['for']!r} is not a duration")
            if (rule.get("labels") or {}).get("severity") not in SEVERITIES:
                problems.append(f"{name}: severity must be one of {sorted(SEVERITIES)}")
            if not (rule.get("annotations") or {}).get("summary"):
                problems.append(f"{name}: no summary annotation")
            problems += [
                f"{name}: unknown rule field {key}"
                for key in sorted(set(rule) - {"alert", "expr", "for", "labels", "annotations"})
            ]
    return problems


def dashboard_problems(dashboard: Mapping[str, Any], datasource_uids: Iterable[str]) -> list[str]:
    """Every panel queries a provisioned data source with valid expressions."""
    uids = set(datasource_uids)
    panels = dashboard.get("panels") or []
    problems = [] if panels else [f"{DASHBOARD}: no panels"]
    for panel in panels:
        title = f"panel {panel.get('title')!r}"
        targets = panel.get("targets") or []
        if not targets:
            problems.append(f"{title}: no query")
        for source in [panel.get("datasource"), *(t.get("datasource") for t in targets)]:
            if source is not None and source.get("uid") not in uids:
                problems.append(f"{title}: data source {source.get('uid')!r} is not provisioned")
        for target in targets:
            problems += expression_problems(str(target.get("expr", "")), title)
    return problems


def scrape_problems(prometheus: Mapping[str, Any], compose: Mapping[str, Any]) -> list[str]:
    """Prometheus scrapes `/metrics` of every service on its staff port (where the runtime
    serves it), by its compose service name, and loads the alert rules."""
    services = compose.get("services", {})
    targets = {
        (job.get("metrics_path", "/metrics"), target)
        for job in prometheus.get("scrape_configs") or []
        for static in job.get("static_configs") or []
        for target in static.get("targets") or []
    }
    problems = []
    for spec in SystemConfig().specs():
        env = services.get(spec.name, {}).get("environment") or {}
        port = env.get(f"{spec.env_prefix}_HTTP_PORT")
        if ("/metrics", f"{spec.name}:{port}") not in targets:
            problems.append(f"{PROMETHEUS_CONFIG}: no scrape of {spec.name}:{port}/metrics")
    mounted = _mounts(services.get("prometheus", {}))
    for rule_file in prometheus.get("rule_files") or []:
        if rule_file not in mounted.values():
            problems.append(f"{PROMETHEUS_CONFIG}: rule file {rule_file} is not mounted")
    if mounted.get(f"./{ALERT_RULES}") not in (prometheus.get("rule_files") or []):
        problems.append(f"{PROMETHEUS_CONFIG}: {ALERT_RULES} is not loaded")
    return problems


def compose_problems(compose: Mapping[str, Any], root: Path) -> list[str]:
    """prometheus and grafana are compose services whose mounted files exist, Prometheus reads
    the config of deploy/, and Grafana its provisioning and dashboards where the provider
    looks for them."""
    services = compose.get("services", {})
    problems = []
    for name in ("prometheus", "grafana"):
        if name not in services:
            problems.append(f"docker-compose.yml has no {name} service")
            continue
        for source in _mounts(services[name]):
            if source.startswith(".") and not (root / source).exists():
                problems.append(f"{name}: mounted {source} does not exist")
    prometheus = _mounts(services.get("prometheus", {}))
    if prometheus.get(f"./{PROMETHEUS_CONFIG}") != "/etc/prometheus/prometheus.yml":
        problems.append(f"prometheus: {PROMETHEUS_CONFIG} is not its configuration")
    grafana = _mounts(services.get("grafana", {}))
    providers = yaml.safe_load((root / DASHBOARD_PROVIDERS).read_text())
    paths = {p["options"]["path"] for p in providers.get("providers") or []}
    if grafana.get(f"./{Path(DASHBOARD).parent}") not in paths:
        problems.append(f"grafana: {Path(DASHBOARD).parent} is not where its provider looks")
    if grafana.get("./deploy/grafana/provisioning") != "/etc/grafana/provisioning":
        problems.append("grafana: deploy/grafana/provisioning is not its provisioning")
    return problems


def _mounts(service: Mapping[str, Any]) -> dict[str, str]:
    """A service's bind mounts: host path -> container path."""
    found = {}
    for volume in service.get("volumes") or []:
        parts = str(volume).split(":")
        if len(parts) >= 2 and parts[0].startswith((".", "/")):
            found[parts[0]] = parts[1]
    return found


def datasource_uids(root: Path) -> list[str]:
    provisioned = yaml.safe_load((root / DATASOURCES).read_text())
    return [str(d.get("uid")) for d in provisioned.get("datasources") or []]


def all_problems(compose: Mapping[str, Any], root: Path) -> list[str]:
    prometheus = yaml.safe_load((root / PROMETHEUS_CONFIG).read_text())
    rules = yaml.safe_load((root / ALERT_RULES).read_text())
    dashboard = json.loads((root / DASHBOARD).read_text())
    return (
        compose_problems(compose, root)
        + scrape_problems(prometheus, compose)
        + alert_problems(rules)
        + dashboard_problems(dashboard, datasource_uids(root))
    )
