"""link-service's domain: pure rules with no I/O. A payment link's state machine, expiry and the
events and Stripe metadata it makes (`links`), and the link and CSRF tokens (`tokens`). Nothing
here touches the database, Kafka, HTTP or Stripe; the use cases and the pages build on it."""
