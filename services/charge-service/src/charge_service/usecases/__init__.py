"""What charge-service does: one module per group of use cases (accepting a charge, charging a
card, recording outcomes, link payments, the reconciliation sweep, over-collection, saved cards and
Stripe connections, Stripe's webhook), each taking a unit of work and the adapters it needs. The
ports they are written against live here too: the `UnitOfWork` (unit_of_work), the Stripe gateway
protocol with its results and errors (stripe_types) and the `Deps` bundle (deps). Never imports
the entrypoints or main."""
