"""Templates escape what they insert (except plain text), insert Markup as is, and refuse a
value they were not given."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from bookpay_shared.templating import Markup, Templates
from jinja2 import UndefinedError


@pytest.fixture
def templates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Templates:
    package = f"templates_{uuid.uuid4().hex[:8]}"
    folder = tmp_path / package / "templates"
    folder.mkdir(parents=True)
    (tmp_path / package / "__init__.py").write_text("")
    (folder / "greeting.html").write_text("<p>Hello {{ name }}, {{ note }}</p>\n")
    (folder / "greeting.txt").write_text("Hello {{ name }} & {{ amount | money }}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    return Templates(package, filters={"money": lambda cents: f"${cents / 100:.2f}"})


def test_html_escapes_values_and_keeps_markup(templates: Templates) -> None:
    html = templates.render("greeting.html", name="<Ada & Co>", note=Markup("<b>paid</b>"))

    assert html == "<p>Hello &lt;Ada &amp; Co&gt;, <b>paid</b></p>\n"
    assert isinstance(html, Markup)


def test_plain_text_is_not_escaped_and_filters_apply(templates: Templates) -> None:
    text = templates.render_text("greeting.txt", name="Ada & Co", amount=12500)

    assert text == "Hello Ada & Co & $125.00\n"


def test_a_value_the_template_was_not_given_is_an_error(templates: Templates) -> None:
    with pytest.raises(UndefinedError, match="note"):
        templates.render("greeting.html", name="Ada")


def test_only_txt_templates_render_as_plain_text(templates: Templates) -> None:
    with pytest.raises(ValueError, match=r"greeting\.html: plain-text templates end in \.txt"):
        templates.render_text("greeting.html", name="Ada", note="x")
