"""charge-service talking to the outside: the unit of work on PostgreSQL and its SQL, the Stripe
gateway, the charge-outcome metrics, and in-memory stand-ins of them (`fake_*`, the benchmarks'
memory Stripe, and the unit tests' `testing.World` that wires the use cases to the fakes). Never
imports the entrypoints or main."""
