-- Each account's connected Stripe account (sent as the Stripe-Account header).
CREATE TABLE stripe_connections (
    account_id        uuid PRIMARY KEY,
    stripe_account_id text        NOT NULL,
    connected_at      timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);

-- The Stripe customer of one of our customers on one connected Stripe account.
CREATE TABLE stripe_customers (
    customer_id        uuid NOT NULL,
    stripe_account_id  text NOT NULL,
    stripe_customer_id text NOT NULL,
    created_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (customer_id, stripe_account_id)
);

-- Saved cards: never the number, only what Stripe tells us about it.
CREATE TABLE payment_methods (
    payment_method_id text PRIMARY KEY,
    account_id        uuid    NOT NULL,
    customer_id       uuid    NOT NULL,
    stripe_account_id text    NOT NULL,
    brand             text    NOT NULL,
    last4             text    NOT NULL,
    exp_month         integer NOT NULL,
    exp_year          integer NOT NULL,
    fingerprint       text,
    is_default        boolean NOT NULL DEFAULT false,
    created_at        timestamptz NOT NULL DEFAULT now(),
    removed_at        timestamptz
);
CREATE INDEX payment_methods_customer ON payment_methods (customer_id, stripe_account_id);
CREATE UNIQUE INDEX payment_methods_one_default ON payment_methods (customer_id, stripe_account_id)
    WHERE is_default AND removed_at IS NULL;

-- The money ledger: one row per charge_id, whose state machine allows one PaymentIntent.
CREATE TABLE charges (
    charge_id      uuid PRIMARY KEY,
    account_id     uuid    NOT NULL,
    customer_id    uuid    NOT NULL,
    booking_ids    uuid[]  NOT NULL,
    amount         bigint  NOT NULL CHECK (amount > 0),
    currency       text    NOT NULL,
    method         text    NOT NULL,
    payment_method_id text,
    save_card      boolean NOT NULL DEFAULT false,
    message        text,
    requested_by   text    NOT NULL,
    status         text    NOT NULL,
    attempts       integer NOT NULL DEFAULT 0,
    stripe_account_id text,
    stripe_payment_intent_id text UNIQUE,
    card_brand     text,
    card_last4     text,
    failure_reason text,
    failure_message text,
    decline_code   text,
    paid_at        timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX charges_account ON charges (account_id, created_at);

-- Every step of a charge, for people tracing it.
CREATE TABLE charge_history (
    id        bigserial PRIMARY KEY,
    charge_id uuid        NOT NULL REFERENCES charges (charge_id),
    at        timestamptz NOT NULL DEFAULT now(),
    status    text        NOT NULL,
    note      text        NOT NULL,
    detail    jsonb       NOT NULL DEFAULT '{}'
);
CREATE INDEX charge_history_charge ON charge_history (charge_id, id);
