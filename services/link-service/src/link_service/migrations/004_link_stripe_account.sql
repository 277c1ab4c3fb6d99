-- The connected Stripe account a link's PaymentIntent is made on, pinned when the link is made
-- (the account's connection then; a fallback: its charge's own Stripe account). Reconnecting
-- the account to another Stripe account does not move a link. Links made before this column
-- existed, or before any connection was known here, are pinned at their next payment or
-- check, to the connection then (what they used until now).
ALTER TABLE links ADD COLUMN stripe_account_id text;
