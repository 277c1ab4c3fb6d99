-- When the customer first pressed Pay on the page: the sweep watches PaymentIntents from then on
-- (a fallback's PaymentIntent exists before that, and charge-service reconciles it itself).
ALTER TABLE links ADD COLUMN payment_started_at timestamptz;
