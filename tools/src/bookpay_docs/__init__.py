"""bookpay's documentation generators: docs/ made from the code, never written by hand.

`contract_docs` writes the event contract (asyncapi.yaml, events.md, kafka-security.md) and
`http_api` the HTTP APIs (openapi/*.json, http-api.md); `make docs` runs both. They live apart
from the shared library so that the services' runtime carries none of them.
"""
