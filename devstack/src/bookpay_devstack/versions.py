"""The versions of the infrastructure, read from the repository's `.env`: the file docker
compose reads for the `${...}` of docker-compose.yml, so that `make run`, the tests and
`docker compose up` run the same Kafka and the same PostgreSQL major. A variable set in the
environment wins, as it does for docker compose."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

VERSIONS_FILE = ".env"


def read_env_file(path: Path) -> dict[str, str]:
    """`KEY=VALUE` lines; blank lines and `#` comments skipped, quotes around a value removed."""
    found: dict[str, str] = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        key, sep, value = text.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"{path}:{number}: not KEY=VALUE: {line!r}")
        found[key.strip()] = value.strip().strip("'\"")
    return found


def version(name: str, root: Path, environ: Mapping[str, str] = os.environ) -> str:
    """`name`'s value: from the environment, else from `root`'s `.env`."""
    if environ.get(name):
        return environ[name]
    path = root / VERSIONS_FILE
    values = read_env_file(path)
    if name not in values:
        raise KeyError(f"{name} is not set in {path}")
    return values[name]
