"""A service's settings with placeholders for what it requires, to build its app without its
environment: the HTTP API docs, and the tests that compare what an app wires (its routes, its
Kafka subscriptions) with what is documented. Building an app connects nothing."""

from __future__ import annotations

from bookpay_shared.settings import ServiceSettings

from bookpay_devstack.compose import settings_class
from bookpay_devstack.system import ServiceSpec

PLACEHOLDERS: dict[str, str] = {
    "database_url": "postgresql://docs@127.0.0.1:5432/docs",
    "stripe_secret_key": "sk_test_docs_only",
    "stripe_publishable_key": "pk_test_docs_only",
}
"""Values for the settings a service requires: building its app reads them but connects nothing."""


def placeholder_settings(spec: ServiceSpec) -> ServiceSettings:
    """The service's settings with placeholders for what it requires; the environment is not
    read, so what is built from them does not depend on where it is made."""
    cls = settings_class(spec)
    required = [name for name, info in cls.model_fields.items() if info.is_required()]
    missing = [name for name in required if name not in PLACEHOLDERS]
    if missing:
        raise LookupError(f"add placeholders for {cls.__name__}.{missing} to {__name__}")
    return cls.model_validate({name: PLACEHOLDERS[name] for name in required})
