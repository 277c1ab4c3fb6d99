"""How the world reaches link-service: the staff HTTP API (`routes`, with its ERROR_ANSWERS),
the hosted payment page (`pages`), its HTML (`views`, which fills the Jinja2 templates/; those and
assets/ read as package data), the pages' security headers, rate limit and CSRF check (`security`),
the Kafka consumers (`consumers`) and the periodic sweep (`tasks`). Thin: validate, call one
use case, shape the answer."""
