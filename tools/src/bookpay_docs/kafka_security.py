"""docs/kafka-security.md: the Kafka principals and the ACLs the brokers enforce, as a page for
people, made from `bookpay_shared.kafka_acls` (itself derived from the contract's flows)."""

from __future__ import annotations

from bookpay_shared.kafka_acls import ADMIN, INTERNAL_PUBLISHER, grants

_GENERATED = (
    "<!-- Generated from bookpay_shared.kafka_acls by "
    "`python -m bookpay_docs.contract_docs --write docs/`. Do not edit. -->"
)


def render_markdown() -> str:
    rows = [
        "| principal | writes | reads (consumer group `<principal>.<topic>`) |",
        "|---|---|---|",
    ]
    for g in grants():
        writes = ", ".join(f"`{t}`" for t in g.writes) or "nothing"
        reads = ", ".join(f"`{t}`" for t in g.reads) or "nothing"
        rows.append(f"| `{g.principal}` | {writes} | {reads} |")
    rows.append(f"| `{ADMIN}` | everything (super user) | everything |")
    table = "\n".join(rows)
    return f"""{_GENERATED}

# Kafka: principals and ACLs

Every client authenticates to Kafka with SASL (mechanism PLAIN in the local stack and in
docker-compose; SCRAM-SHA-512 or mTLS in a deployment, over TLS) as its own principal, and the
brokers authorize every request with Kafka's standard authorizer
(`org.apache.kafka.metadata.authorizer.StandardAuthorizer`) and
`allow.everyone.if.no.acl.found=false`: what is not granted below is refused
(`TopicAuthorizationFailed`, `GroupAuthorizationFailed`).

The table is derived in code (`bookpay_shared.kafka_acls`) from the contract's producers and
consumers ([events.md](events.md)), so a new event or subscription changes the ACLs with it:

- a service writes the topics of the events it owns, and the dead-letter topic (`<topic>.dlq`)
  of each topic it consumes;
- a service reads the topics it consumes, each in its own consumer group `<service>.<topic>`;
- `{INTERNAL_PUBLISHER}` is for internal services that ask for charges over Kafka: it writes
  `charge-requested` only (charge-service checks every request against its records before
  anything is charged or a payment link is made);
- `{ADMIN}` is the super user: the brokers' own (inter-broker and controller) connections,
  creating topics and ACLs, and the local stack's tools and tests. No service runs as it.

{table}

Writing a topic also allows describing it and, for an idempotent producer, the producer id
(`IdempotentWrite` is implied by `Write` on a topic); reading a topic or a group allows
describing it.

## Credentials

Each service reads its principal from its settings: `<PREFIX>_KAFKA_SECURITY_PROTOCOL`
(`SASL_PLAINTEXT`, or `SASL_SSL` with TLS), `<PREFIX>_KAFKA_SASL_MECHANISM` (`PLAIN`,
`SCRAM-SHA-256` or `SCRAM-SHA-512`), `<PREFIX>_KAFKA_USERNAME` and `<PREFIX>_KAFKA_PASSWORD`
(a secret, never logged). The local stack (`bookpay_devstack`) starts its broker with a SASL
PLAIN listener that knows every principal above (development passwords), creates these ACLs
when it starts, and passes each service its own credentials; its tests and tools connect as
`{ADMIN}`, or as `{INTERNAL_PUBLISHER}` where they stand for an internal service publishing
ChargeRequested. docker-compose.yml does the same with the official Kafka image. With
`<PREFIX>_ENVIRONMENT=production` a service refuses to start on `PLAINTEXT` (no credentials)
or with a password that looks like a placeholder (the development ones, any text such as
`dev` or `changeme`, or one shorter than 16 characters).

Consumers also check what they read: an event dated in the future (`occurred_at` more than
5 minutes ahead) is dead-lettered by every consumer; link-service makes payment links only from
charge-service's ChargeAccepted (and PaymentFailed with `next_action: payment_link`), never
from a raw ChargeRequested; notification-service emails only links on bookpay's own payment
page origin.
"""
