"""docs/http-api.md and docs/openapi/*.json are what the services' apps serve."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import pytest
from bookpay_devstack.config import find_repo_root
from bookpay_devstack.system import SystemConfig
from bookpay_docs import http_api
from bookpay_shared.http import Conflict, NotFound

DOCS = find_repo_root() / "docs"
REGENERATE = "python -m bookpay_docs.http_api --write docs/"


@pytest.fixture(scope="module")
def services() -> list[http_api.ServiceApi]:
    return http_api.describe_services()


@pytest.fixture(scope="module")
def files(services: list[http_api.ServiceApi]) -> dict[str, str]:
    return http_api.render_files(services)


def test_committed_docs_are_what_the_apps_serve(files: dict[str, str]) -> None:
    for name, text in files.items():
        committed = DOCS / name
        assert committed.is_file(), f"docs/{name} is missing: run `{REGENERATE}`"
        assert committed.read_text() == text, f"docs/{name} is out of date: run `{REGENERATE}`"
    assert http_api.stale_files(DOCS) == []


def test_every_service_is_documented(services: list[http_api.ServiceApi]) -> None:
    assert [s.spec.name for s in services] == [s.name for s in SystemConfig().specs()]
    for service in services:
        paths = {e.path for e in service.endpoints}
        assert "/healthz" in paths
        assert paths == set(service.openapi["paths"])


def test_every_endpoint_has_a_row(
    services: list[http_api.ServiceApi], files: dict[str, str]
) -> None:
    page = files[http_api.HTTP_API_FILE]
    for service in services:
        assert f"\n## {service.spec.name}\n" in page
        for e in service.endpoints:
            assert f"| {e.method} | `{e.path}` | {e.summary} | {e.success} |" in page


def test_openapi_files_are_the_apps_documents(services: list[http_api.ServiceApi]) -> None:
    for service in services:
        committed = DOCS / http_api.OPENAPI_DIR / f"{service.spec.name}.json"
        assert json.loads(committed.read_text()) == service.openapi


def test_errors_raised_by_routes_are_listed() -> None:
    async def route(found: bool) -> None:
        if not found:
            raise NotFound("no such thing")
        raise Conflict("taken", code="already_taken")

    source = inspect.getsource(route)
    assert http_api.raised_errors(source, globals()) == ["404 not_found", "409 already_taken"]


def test_each_service_lists_its_error_codes(services: list[http_api.ServiceApi]) -> None:
    booking = next(s for s in services if s.spec.name == "booking-service")
    assert "404 not_found" in booking.errors


def test_check_mode_reports_stale_docs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert http_api.main(["--check", str(tmp_path)]) == 1
    assert http_api.main(["--write", str(tmp_path)]) == 0
    assert http_api.main(["--check", str(tmp_path)]) == 0
    (tmp_path / http_api.OPENAPI_DIR / "retired-service.json").write_text("{}\n")
    assert http_api.main(["--check", str(tmp_path)]) == 1
    assert "retired-service.json is out of date" in capsys.readouterr().err
    assert http_api.main(["--write", str(tmp_path)]) == 0
    assert not (tmp_path / http_api.OPENAPI_DIR / "retired-service.json").exists()
