"""link-service's talk with the outside: its SQL on PostgreSQL (`repository`) and the Stripe API
(`stripe_gateway`, an implementation of `usecases.ports.StripeGateway`). Adapters never import
the entry points or `main`."""
