import pytest
from bookpay_shared.csp import API_CSP, render, security_headers, stripe_page_csp


def directives(policy: str) -> dict[str, list[str]]:
    parsed = {}
    for part in policy.split("; "):
        name, *sources = part.split(" ")
        assert name not in parsed, f"{name} given twice"
        parsed[name] = sources
    return parsed


def test_a_stripe_page_loads_nothing_but_our_origin_and_stripe() -> None:
    policy = directives(stripe_page_csp(["https://js.stripe.com"]))
    assert policy["default-src"] == ["'none'"]
    assert policy["script-src"] == ["'self'", "https://js.stripe.com"]
    assert policy["frame-src"] == ["https://js.stripe.com"]
    assert policy["connect-src"] == ["'self'", "https://js.stripe.com"]
    assert policy["img-src"] == ["'self'", "data:"]
    assert policy["style-src"] == ["'self'"]


def test_a_stripe_page_can_be_framed_nowhere_and_posts_to_our_origin_only() -> None:
    policy = directives(stripe_page_csp(["http://127.0.0.1:8420"]))
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["base-uri"] == ["'none'"]
    assert policy["form-action"] == ["'self'"]
    assert not any("unsafe" in source for sources in policy.values() for source in sources)


def test_connect_and_image_sources_are_added_to_their_own_directives_only() -> None:
    policy = directives(
        stripe_page_csp(
            ["https://js.stripe.com"],
            connect=["https://api.stripe.com"],
            images=["https:"],
        )
    )
    assert policy["connect-src"] == ["'self'", "https://js.stripe.com", "https://api.stripe.com"]
    assert policy["img-src"] == ["'self'", "data:", "https:"]
    assert "https://api.stripe.com" not in policy["script-src"]
    assert "https:" not in policy["script-src"]


def test_each_source_is_named_once_in_the_order_first_given() -> None:
    stripe = ["https://js.stripe.com", "https://api.stripe.com", "https://js.stripe.com"]
    policy = directives(stripe_page_csp(stripe, images=stripe))
    assert policy["script-src"] == ["'self'", "https://js.stripe.com", "https://api.stripe.com"]
    assert policy["img-src"] == [
        "'self'",
        "data:",
        "https://js.stripe.com",
        "https://api.stripe.com",
    ]


@pytest.mark.parametrize(
    "origin",
    ["https://js.stripe.com; script-src *", "https://a.example https://b.example", "", "a,b"],
)
def test_a_source_that_would_add_a_directive_or_another_source_is_refused(origin: str) -> None:
    with pytest.raises(ValueError, match="not a single source"):
        stripe_page_csp(["https://js.stripe.com", origin])


def test_a_page_without_a_stripe_origin_is_refused() -> None:
    with pytest.raises(ValueError, match=r"Stripe\.js's origin"):
        stripe_page_csp([])


def test_render_keeps_the_directives_in_the_order_given() -> None:
    assert render({"img-src": ["'self'"], "default-src": ["'none'"]}) == (
        "img-src 'self'; default-src 'none'"
    )


@pytest.mark.parametrize(
    ("directive_set", "complaint"),
    [
        ({"script src": ["'self'"]}, "not a Content-Security-Policy directive"),
        ({"Script-Src": ["'self'"]}, "not a Content-Security-Policy directive"),
        ({"script-src": []}, "needs at least one source"),
    ],
)
def test_render_refuses_a_malformed_directive(
    directive_set: dict[str, list[str]], complaint: str
) -> None:
    with pytest.raises(ValueError, match=complaint):
        render(directive_set)


def test_other_responses_load_nothing_and_are_framed_nowhere() -> None:
    assert directives(API_CSP) == {"default-src": ["'none'"], "frame-ancestors": ["'none'"]}


def test_a_page_is_never_cached_and_https_adds_hsts() -> None:
    page = security_headers("default-src 'none'", page=True, https=True)
    assert page == {
        "Content-Security-Policy": "default-src 'none'",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-store",
        "Strict-Transport-Security": "max-age=31536000",
    }
    api = security_headers(API_CSP, page=False)
    assert "Cache-Control" not in api and "Strict-Transport-Security" not in api
    assert api["X-Frame-Options"] == "DENY"
