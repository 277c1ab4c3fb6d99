"""HTML with every value escaped: `render("page.html", title=...)` fills a string.Template
whose values are escaped unless they are `Markup` (HTML this code built itself)."""

from __future__ import annotations

import html
from functools import cache
from importlib import resources
from string import Template


class Markup(str):
    """Text that is HTML already: inserted as is."""


def escape(value: object) -> Markup:
    if isinstance(value, Markup):
        return value
    return Markup(html.escape(str(value), quote=True))


def join(parts: list[Markup]) -> Markup:
    return Markup("".join(parts))


@cache
def _template(name: str) -> Template:
    text = (resources.files("link_service") / "templates" / name).read_text(encoding="utf-8")
    return Template(text)


def render(name: str, **values: object) -> Markup:
    """The template `name` with `values` escaped; a missing value is an error."""
    return Markup(_template(name).substitute({k: escape(v) for k, v in values.items()}))
