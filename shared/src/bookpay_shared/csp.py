"""The Content-Security-Policy of our pages, written once.

Two services serve pages that take a card through Stripe.js: link-service's hosted payment page
and charge-service's staff card-entry page. Both need the same protections, and a protection
forgotten on one page is a hole in it: nothing loads unless named (`default-src 'none'`), no
inline script or style, no framing of the page (`frame-ancestors 'none'`), no `<base>` tag,
forms posted to our origin only. What differs between pages is only which Stripe origins the
page talks to and where its images come from, so that is all a page passes in.

A source with a `;`, a `,` or white space would end its directive and start another (a policy
injected through a setting); such a source is refused with a ValueError naming it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

_DIRECTIVE = re.compile(r"[a-z]+(-[a-z]+)*")
_UNSAFE_IN_SOURCE = re.compile(r"[\s;,]")


def render(directives: Mapping[str, Iterable[str]]) -> str:
    """The header value for `directives` (in the order given), each source once."""
    parts = []
    for name, sources in directives.items():
        if not _DIRECTIVE.fullmatch(name):
            raise ValueError(f"{name!r} is not a Content-Security-Policy directive name")
        unique = list(dict.fromkeys(sources))
        if not unique:
            raise ValueError(f"the {name} directive needs at least one source")
        for source in unique:
            if not source or _UNSAFE_IN_SOURCE.search(source):
                raise ValueError(f"{source!r} is not a single source (in {name})")
        parts.append(" ".join((name, *unique)))
    return "; ".join(parts)


API_CSP = render({"default-src": ["'none'"], "frame-ancestors": ["'none'"]})
"""For responses that are not pages (JSON, text): they may load nothing and be framed nowhere."""


def stripe_page_csp(
    stripe: Iterable[str], *, connect: Iterable[str] = (), images: Iterable[str] = ()
) -> str:
    """The policy of a page of ours that mounts Stripe.js: our origin ('self') and `stripe`'s
    origins for scripts, frames and requests; `connect` adds origins the page's requests may go
    to, `images` sources its images may come from (besides 'self' and data: URLs)."""
    stripe = tuple(stripe)
    if not stripe:
        raise ValueError("a page that mounts Stripe.js needs Stripe.js's origin")
    return render(
        {
            "default-src": ["'none'"],
            "script-src": ["'self'", *stripe],
            "style-src": ["'self'"],
            "img-src": ["'self'", "data:", *images],
            "connect-src": ["'self'", *stripe, *connect],
            "frame-src": stripe,
            "font-src": ["'self'"],
            "form-action": ["'self'"],
            "base-uri": ["'none'"],
            "frame-ancestors": ["'none'"],
        }
    )


HSTS = "max-age=31536000"
"""A year of HTTPS only, once a client has seen the site over HTTPS."""


def security_headers(csp: str, *, page: bool, https: bool = False) -> dict[str, str]:
    """The headers every response of ours carries, with `csp` as its policy: no referrer sent
    on (a payment page's URL holds its token), no framing, no content-type sniffing; a page
    (`page`) is never stored by a cache (it shows a customer's details); over HTTPS, HSTS."""
    headers = {
        "Content-Security-Policy": csp,
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
    }
    if page:
        headers["Cache-Control"] = "no-store"
    if https:
        headers["Strict-Transport-Security"] = HSTS
    return headers
