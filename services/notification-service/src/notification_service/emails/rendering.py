"""The one `Templates` every email is rendered with, and a rendered email's two bodies.

The templates are the files of `notification_service/templates/` (`<email>.html` and
`<email>.txt`, both extending `email.html` / `email.txt`). The HTML ones escape every value they
insert; the plain-text ones insert values as typed. Amounts, times and one-line values are
formatted here, in Python (`formats`), and reach the templates as filters and values.
"""

from __future__ import annotations

from typing import Any

from bookpay_shared.templating import Templates

from notification_service.domain.notifications import RenderedEmail
from notification_service.emails.formats import PALETTE, lines, money, one_line, tel

TEMPLATES = Templates(
    "notification_service",
    filters={"lines": lines, "money": money, "one_line": one_line, "tel": tel},
    globals=PALETTE,
)


def compile_templates() -> list[str]:
    """Compile every template now, at start: a broken template stops the service before it
    consumes anything, and the first email of each kind is no slower than the next. Returns
    their names."""
    names = TEMPLATES.environment.list_templates()
    for name in names:
        TEMPLATES.environment.get_template(name)
    return names


def render_email(name: str, *, subject: str, **values: Any) -> RenderedEmail:
    """The email `name` (`name.html` and `name.txt`) filled with `values` under `subject`."""
    html = TEMPLATES.render(f"{name}.html", subject=subject, **values)
    text = TEMPLATES.render_text(f"{name}.txt", subject=subject, **values)
    return RenderedEmail(subject=subject, html=str(html), text=text)
