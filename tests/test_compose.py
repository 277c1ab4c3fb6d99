"""docker-compose.yml describes the system as it is, checked without Docker (no engine here)."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from typing import Any

import pytest
import yaml
from bookpay_devstack import compose as c
from bookpay_devstack import monitoring as m
from bookpay_devstack.config import StackConfig, find_repo_root
from bookpay_devstack.system import ServiceSpec, SystemConfig
from bookpay_shared.topics import ALL_TOPICS

ROOT = find_repo_root()
SPECS = SystemConfig().specs()
by_service = pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return c.load_compose(ROOT)


def test_every_service_of_the_system_has_a_compose_service(compose: dict[str, Any]) -> None:
    assert c.missing_service_problems(compose, ROOT) == []
    assert {s.name for s in SPECS} <= set(compose["services"])


@by_service
def test_environment_provides_every_required_setting(
    compose: dict[str, Any], spec: ServiceSpec
) -> None:
    assert c.settings_problems(compose, spec) == []


@by_service
def test_service_waits_for_its_database_and_topics(
    compose: dict[str, Any], spec: ServiceSpec
) -> None:
    waits = c.depends_on(compose["services"][spec.name])
    assert waits["postgres"] == "service_healthy"
    assert waits[c.KAFKA_INIT] == "service_completed_successfully"


def test_emails_and_webhooks_reach_the_public_apps(compose: dict[str, Any]) -> None:
    assert c.public_url_problems(compose) == []
    broken = copy.deepcopy(compose)
    notification = broken["services"]["notification-service"]["environment"]
    notification["NOTIFICATION_PAYMENT_PAGE_BASE_URL"] = "http://localhost:8003"
    broken["services"]["localstripe-webhooks"]["environment"]["WEBHOOK_URL"] = (
        "http://charge-service:8002/v1/stripe/webhooks"
    )
    problems = "\n".join(c.public_url_problems(broken))
    assert "NOTIFICATION_PAYMENT_PAGE_BASE_URL" in problems and "WEBHOOK_URL" in problems


def test_kafka_init_creates_exactly_the_topic_list(compose: dict[str, Any]) -> None:
    assert c.topic_problems(compose, ROOT) == []
    script = (ROOT / c.TOPICS_SCRIPT).read_text()
    assert c.parse_topics_script(script) == list(ALL_TOPICS)
    assert "--if-not-exists" in script


def test_kafka_never_creates_topics_on_its_own(compose: dict[str, Any]) -> None:
    kafka = c.environment(compose["services"]["kafka"], {})
    assert kafka["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    assert kafka["KAFKA_PROCESS_ROLES"] == "broker,controller"


def test_init_sql_creates_the_four_databases(compose: dict[str, Any]) -> None:
    assert c.database_problems(compose, ROOT) == []


def test_depends_on_targets_exist_and_can_be_waited_for(compose: dict[str, Any]) -> None:
    assert c.dependency_problems(compose) == []


def test_build_contexts_and_dockerfiles_exist(compose: dict[str, Any]) -> None:
    assert c.build_problems(compose, ROOT) == []


def test_dockerignore_keeps_local_state_out_of_images() -> None:
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".venv", ".cache", "var", "**/__pycache__", ".git"} <= set(ignored)


def test_the_checks_catch_mistakes(compose: dict[str, Any]) -> None:
    broken = copy.deepcopy(compose)
    charge = broken["services"]["charge-service"]
    del charge["environment"]["CHARGE_STRIPE_SECRET_KEY"]
    charge["environment"]["CHARGE_STRIPE_APIBASE"] = "http://localstripe:8420"
    charge["environment"]["CHARGE_HTTP_PORT"] = "9999"
    charge["depends_on"]["stripe"] = {"condition": "service_healthy"}
    spec = next(s for s in SPECS if s.name == "charge-service")
    problems = "\n".join(c.settings_problems(broken, spec) + c.dependency_problems(broken))
    assert "required setting CHARGE_STRIPE_SECRET_KEY is not set" in problems
    assert "CHARGE_STRIPE_APIBASE is not a setting" in problems
    assert "depends on stripe, which is not a service" in problems

    charge["environment"]["CHARGE_STRIPE_SECRET_KEY"] = "sk_test_x"
    assert "port 9999 is not published" in "\n".join(c.settings_problems(broken, spec))

    charge["environment"]["CHARGE_STRIPE_STAND_IN"] = "stripe-mock"
    refused = "\n".join(c.settings_problems(broken, spec))
    assert "its settings refuse its environment" in refused
    assert "stripe_stand_in" in refused

    fewer = "\n".join(c.render_topics_script().splitlines()[:-2]) + "\n"
    assert c.parse_topics_script(fewer) == list(ALL_TOPICS)[:-1]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("${A:-x}", "x"),
        ("${A-x}", "x"),
        ("${B:-x}", "set"),
        ("${E:-x}", "x"),
        ("${E-x}", ""),
        ("$B/$$B", "set/$B"),
        ("pre${B}post", "presetpost"),
    ],
)
def test_interpolation_follows_compose(text: str, expected: str) -> None:
    assert c.interpolate(text, {"B": "set", "E": ""}) == expected


def test_interpolation_refuses_a_missing_required_variable() -> None:
    with pytest.raises(ValueError, match="must be set"):
        c.interpolate("${KEY:?set KEY}", {})


def test_docker_compose_accepts_the_file() -> None:
    """Docker's own reading of the file, where the compose plugin is installed (no engine is
    needed for `config`)."""
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("no docker CLI")
    version = subprocess.run([docker, "compose", "version"], capture_output=True, check=False)
    if version.returncode != 0:
        pytest.skip("the docker compose plugin is not installed")
    result = subprocess.run(
        [docker, "compose", "-f", str(ROOT / c.COMPOSE_FILE), "config", "--quiet"],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr


def test_kafka_authenticates_and_authorizes_each_service_as_its_own_principal(
    compose: dict[str, Any],
) -> None:
    assert c.kafka_security_problems(compose, ROOT) == []


def test_kafka_security_check_catches_an_open_broker_and_a_shared_login(
    compose: dict[str, Any],
) -> None:
    broken = copy.deepcopy(compose)
    kafka = broken["services"]["kafka"]["environment"]
    kafka["KAFKA_ALLOW_EVERYONE_IF_NO_ACL_FOUND"] = "true"
    kafka["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"] += ",OPEN:PLAINTEXT"
    broken["services"]["link-service"]["environment"]["LINK_KAFKA_USERNAME"] = "charge-service"
    problems = "\n".join(c.kafka_security_problems(broken, ROOT))
    assert "ALLOW_EVERYONE" in problems
    assert "OPEN is PLAINTEXT" in problems
    assert "link-service: LINK_KAFKA_USERNAME must be its own principal" in problems


# --- monitoring: Prometheus, its alert rules and Grafana ---------------------------------


def load(path: str) -> Any:
    text = (ROOT / path).read_text()
    return json.loads(text) if path.endswith(".json") else yaml.safe_load(text)


def test_prometheus_and_grafana_are_wired_to_the_files_of_deploy(compose: dict[str, Any]) -> None:
    assert m.compose_problems(compose, ROOT) == []
    assert c.dependency_problems(compose) == []
    assert c.depends_on(compose["services"]["grafana"]) == {"prometheus": "service_healthy"}


def test_prometheus_scrapes_every_service_on_its_staff_port(compose: dict[str, Any]) -> None:
    prometheus = load(m.PROMETHEUS_CONFIG)
    assert m.scrape_problems(prometheus, compose) == []
    jobs = {job["job_name"] for job in prometheus["scrape_configs"]}
    assert jobs == {s.name for s in SPECS}


def test_every_alert_rule_is_well_formed_and_uses_exported_series() -> None:
    rules = load(m.ALERT_RULES)
    assert m.alert_problems(rules) == []
    alerts = {r["alert"]: r for g in rules["groups"] for r in g["rules"]}
    assert "bookpay_messages_dead_lettered_total" in alerts["BookpayDeadLetters"]["expr"]
    assert (
        "deriv(bookpay_consumer_lag_messages[10m])" in alerts["BookpayConsumerLagGrowing"]["expr"]
    )
    assert "bookpay_outbox_oldest_unpublished_age_seconds" in alerts["BookpayOutboxStuck"]["expr"]
    assert "> 0.05" in alerts["BookpayStripeErrors"]["expr"]
    assert alerts["BookpayServiceDown"]["expr"].startswith("up{")


def test_every_dashboard_query_uses_exported_series_and_the_provisioned_source() -> None:
    dashboard = load(m.DASHBOARD)
    assert m.dashboard_problems(dashboard, m.datasource_uids(ROOT)) == []
    queried = " ".join(t["expr"] for p in dashboard["panels"] for t in p["targets"])
    for series in (
        "bookpay_messages_consumed_total",
        "bookpay_consumer_lag_messages",
        "bookpay_messages_dead_lettered_total",
        "bookpay_outbox_unpublished_events",
        "bookpay_outbox_oldest_unpublished_age_seconds",
        "bookpay_stripe_request_seconds_bucket",
        "bookpay_stripe_errors_total",
        "bookpay_charges_total",
        "bookpay_http_requests_total",
    ):
        assert series in queried


def test_the_monitoring_checks_catch_mistakes(compose: dict[str, Any]) -> None:
    rules = load(m.ALERT_RULES)
    rule = rules["groups"][0]["rules"][0]
    rule["expr"] = 'sum by (service, stage) (bookpay_message_dead_lettered_total{kind="x"}) > 0'
    rule["for"] = "ten minutes"
    del rule["labels"]["severity"]
    problems = "\n".join(m.alert_problems(rules))
    assert "bookpay_message_dead_lettered_total is not a series bookpay exports" in problems
    assert "for 'ten minutes' is not a duration" in problems
    assert "severity must be one of" in problems
    rule["expr"] = 'sum by (service, stage) (bookpay_charges_total{kind="x"})'
    problems = "\n".join(m.alert_problems(rules))
    assert "bookpay_charges_total has no label kind" in problems
    assert "groups by stage" in problems

    dashboard = load(m.DASHBOARD)
    dashboard["panels"][0]["targets"][0]["expr"] = "rate(bookpay_messages_consumed[5m])"
    dashboard["panels"][1]["datasource"] = {"type": "prometheus", "uid": "elsewhere"}
    problems = "\n".join(m.dashboard_problems(dashboard, m.datasource_uids(ROOT)))
    assert "bookpay_messages_consumed is not a series" in problems
    assert "data source 'elsewhere' is not provisioned" in problems

    prometheus = load(m.PROMETHEUS_CONFIG)
    prometheus["scrape_configs"][1]["static_configs"][0]["targets"] = ["charge-service:8102"]
    prometheus["rule_files"] = []
    problems = "\n".join(m.scrape_problems(prometheus, compose))
    assert "no scrape of charge-service:8002/metrics" in problems
    assert "alerts.yml is not loaded" in problems

    broken = copy.deepcopy(compose)
    broken["services"]["grafana"]["volumes"][1] = "./deploy/grafana/boards:/var/lib/grafana/x:ro"
    problems = "\n".join(m.compose_problems(broken, ROOT))
    assert "mounted ./deploy/grafana/boards does not exist" in problems
    assert "is not where its provider looks" in problems


def test_kafka_and_postgres_run_the_versions_of_dot_env(compose: dict[str, Any]) -> None:
    """One place for the versions: docker compose and make run take them from .env."""
    assert c.version_problems(compose, ROOT) == []
    versions = c.read_env_file(ROOT / ".env")
    assert StackConfig().kafka_version == versions["KAFKA_VERSION"]


def test_the_version_check_catches_a_pinned_or_different_image(compose: dict[str, Any]) -> None:
    pinned = copy.deepcopy(compose)
    pinned["services"]["kafka"]["image"] = "apache/kafka:4.1.0"
    assert c.version_problems(pinned, ROOT) == [
        "kafka: image apache/kafka:4.1.0 must take its tag from ${KAFKA_VERSION}"
    ]
    other = copy.deepcopy(compose)
    other["services"]["postgres"]["image"] = "postgres:${POSTGRES_VERSION:?x}-alpine"
    assert len(c.version_problems(other, ROOT)) == 1
