"""HTML and email templates: Jinja2 with every value escaped unless it is `Markup`.

Each service keeps its templates as files in its package (`<package>/templates/`) and renders
them through one `Templates`, built once:

    pages = Templates("link_service")
    html = pages.render("pay.html", page=page)

Every template escapes what it inserts, except plain-text ones (`.txt`: an email's text
body, where `&amp;` would be wrong). A variable a template uses but was not given is an error
(StrictUndefined), not an empty string: a page never silently loses a line. `Markup`
(markupsafe's, the one Jinja2 uses) marks HTML built by code, inserted as is.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape

__all__ = ["Markup", "Templates", "escape"]


class Templates:
    """The templates of one package's `templates/` folder (or `folder`)."""

    def __init__(
        self,
        package: str,
        folder: str = "templates",
        *,
        filters: Mapping[str, Callable[..., Any]] | None = None,
        globals: Mapping[str, Any] | None = None,
    ) -> None:
        self.environment = Environment(
            loader=PackageLoader(package, folder),
            autoescape=select_autoescape(
                enabled_extensions=("html", "htm", "xml"),
                disabled_extensions=("txt",),
                default_for_string=True,
                default=True,
            ),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )
        self.environment.filters.update(filters or {})
        self.environment.globals.update(globals or {})

    def render(self, name: str, /, **values: Any) -> Markup:
        """The template `name` filled with `values`: HTML, escaped as it went."""
        return Markup(self.environment.get_template(name).render(**values))

    def render_text(self, name: str, /, **values: Any) -> str:
        """A plain-text template (`.txt`, not escaped): an email's text body."""
        if not name.endswith(".txt"):
            raise ValueError(f"{name}: plain-text templates end in .txt")
        return self.environment.get_template(name).render(**values)
