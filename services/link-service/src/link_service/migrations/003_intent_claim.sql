-- A request that creates a link's PaymentIntent claims the link until this moment, outside any
-- transaction (no row lock or connection is held while Stripe answers); a concurrent request
-- for the same link waits for the PaymentIntent to be recorded instead of creating another
-- (Stripe's idempotency key would return the same one, but localstripe ignores those keys).
ALTER TABLE links ADD COLUMN intent_claimed_until timestamptz;
