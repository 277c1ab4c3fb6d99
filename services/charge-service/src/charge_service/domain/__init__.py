"""charge-service's domain: the charge and its state machine, saved cards and Stripe connections,
the choice of card, the failures a charge can end in and the events a charge produces. Pure logic
and values only: no database, Kafka, HTTP or Stripe, so every rule here is tested without them."""
