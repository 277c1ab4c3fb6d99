ALTER TABLE charges ADD COLUMN save_card_consent text;
ALTER TABLE charges ADD COLUMN fallback_to_link boolean NOT NULL DEFAULT true;
ALTER TABLE charges ADD COLUMN saved_payment_method_id text;
CREATE INDEX charges_open ON charges (status, updated_at)
    WHERE status IN ('processing', 'awaiting_customer');

ALTER TABLE stripe_connections ADD COLUMN version integer NOT NULL DEFAULT 1;

-- The customer's consent to keep a card for future off-session charges.
CREATE TABLE card_consents (
    payment_method_id text PRIMARY KEY,
    charge_id         uuid        NOT NULL,
    customer_id       uuid        NOT NULL,
    consent_text      text        NOT NULL,
    given_by          text        NOT NULL,
    given_at          timestamptz NOT NULL
);

-- Stripe webhook events received (deduplicated by Stripe's event id).
CREATE TABLE stripe_webhook_events (
    event_id     text PRIMARY KEY,
    event_type   text        NOT NULL,
    payment_intent_id text,
    received_at  timestamptz NOT NULL DEFAULT now()
);
