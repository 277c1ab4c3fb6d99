"""What booking-service does: one module per group of use cases (accounts, customers and bookings
with the payments applied to them; API keys). Each runs in one transaction on the pool it is
given and writes the events that follow from it to the outbox in that same transaction. Never
imports the entrypoints or main."""
